/* From the config and the dataset to the model: the model_arch (image channels from the data,
 * image size after padding), the model_options (loss crop, decoder settings, batch) and the
 * padding the loader applies. Prefix config_model_. */
#ifndef NVAE_TRAINER_CONFIG_MODEL_H
#define NVAE_TRAINER_CONFIG_MODEL_H

#include "kernels/base/error.h"
#include "trainer/config.h"
#include "trainer/model.h"
#include "trainer/model_arch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Shape of the stored images of a dataset (before padding). */
typedef struct data_shape {
  int channels, height, width;
} data_shape;

/* What a model needs besides its config: the image shape it sees and where the loss looks. */
typedef struct model_geometry {
  int channels;
  int size;                       /* H = W after padding */
  int crop_y0, crop_x0, crop_h, crop_w; /* the stored image inside the padded one */
} model_geometry;

/* Padding: data.pad_to auto = 28×28 → 32×32 (the official MNIST pipeline), else the stored size;
 * an explicit pad_to must be >= the image. The stored image sits centred ((P − H)/2, as the
 * loader places it); the loss covers only that region. Non-square results are refused (the model
 * needs H = W). Returns 0 or NVAE_EXIT_USAGE with one line naming the key. */
int config_model_geometry(const nvae_config *cfg, const data_shape *d, model_geometry *g,
                          nvae_err *e);

/* model_arch from the config's model section and the geometry; validated (model_arch_validate,
 * e.g. the image size must be divisible by 2^(P+S−1)). Returns 0 or NVAE_EXIT_USAGE. */
int config_model_arch(const nvae_config *cfg, const model_geometry *g, model_arch *a, nvae_err *e);

/* model_options for a per-rank batch of max_batch: sync-BN, KL-balance scope, DMOL settings, the
 * crop; hooks are left empty (world size 1) for the caller to set. */
void config_model_options(const nvae_config *cfg, const model_geometry *g, int max_batch,
                          model_options *o);

/* The loader's pad_to for this config (LOADER_PAD_AUTO or a size). */
int config_model_loader_pad(const nvae_config *cfg);
/* The image shape the model section implies when no dataset is opened (--dry-run, nvae-bench):
 * Bernoulli → 1×28×28 (MNIST-like), otherwise 3×S×S with S = data.pad_to or 64. */
data_shape config_model_assumed_shape(const nvae_config *cfg);

/* Whether training images are flipped: data.flip, auto = RGB data only. */
int config_model_flip(const nvae_config *cfg, int channels);

#ifdef __cplusplus
}
#endif

#endif
