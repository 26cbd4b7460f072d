/* The hyperparameters that shape the NVAE network (NVAE.md §1, official flag names), as a plain
 * struct: no YAML here, the config system fills one of these. Everything that depends only on the
 * architecture (groups per scale, head channels, the built-in presets) lives beside it.
 *
 * Only the default cell recipe `res_mbconv` exists (NVAE.md §1.2); it is not a field.
 */
#ifndef NVAE_TRAINER_MODEL_ARCH_H
#define NVAE_TRAINER_MODEL_ARCH_H

#include "kernels/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Upper bound on num_latent_scales: arrays sized by it live on the stack. */
#define MODEL_ARCH_MAX_SCALES 16

typedef enum model_decoder {
  MODEL_DECODER_DMOL = 0, /* discretised mixture of logistics (RGB; 1 channel: our extension) */
  MODEL_DECODER_BERNOULLI = 1, /* one logit per channel (MNIST) */
  MODEL_DECODER_NORMAL = 2     /* continuous Normal: mean and log-scale per channel */
} model_decoder;

typedef struct model_arch {
  int num_channels_enc;       /* C_e: encoder channels at full resolution */
  int num_channels_dec;       /* C_d: decoder channels at full resolution */
  int num_preprocess_blocks;  /* P: each block ends with a down cell (×½ spatial, ×2 channels) */
  int num_preprocess_cells;   /* cells per preprocess block (the last one is the down cell) */
  int num_postprocess_blocks; /* each block starts with an up cell; must equal P */
  int num_postprocess_cells;  /* cells per postprocess block (the first one is the up cell) */
  int num_latent_scales;      /* S */
  int num_groups_per_scale;   /* G: groups at the finest scale */
  int ada_groups;             /* 1: halve the group count at each coarser scale (NVAE.md §1.4) */
  int min_groups_per_scale;   /* floor for ada_groups */
  int num_latent_per_group;   /* L: channels of one latent group */
  int num_cell_per_cond_enc;  /* normal_enc cells per group */
  int num_cell_per_cond_dec;  /* normal_dec cells per group (none before the top group) */
  int num_nf;                 /* paired AR flow cells per group (0 = no flows) */
  int use_se;                 /* squeeze-excitation in every cell */
  int res_dist;               /* residual posterior (no tensors depend on it) */
  model_decoder decoder;
  int num_mixture_dec; /* M, DMOL components */
  int image_channels;  /* 1 or 3 */
  int image_size;      /* H = W after padding (32 for MNIST, 64 for CelebA-64) */
} model_arch;

/* Latent groups per scale in ENCODER order (finest first), exactly as NVAE.md §1.4:
 * start with n = G, append n per scale, with ada_groups n = max(min, n / 2) before the next scale.
 * out has num_latent_scales entries. Returns the total number of groups. */
int model_arch_groups_per_scale(const model_arch *a, int *out);

/* Total number of latent groups (Σ groups_per_scale). */
int model_arch_num_groups(const model_arch *a);

/* Channel multiplier at the coarsest scale: 2^(P+S−1). The spatial size there is
 * image_size / model_arch_top_mult(a). */
int model_arch_top_mult(const model_arch *a);

/* Output channels of the image head (NVAE.md §1.2, §1.8):
 * DMOL 3 ch: 10·M; DMOL 1 ch: 3·M (our extension: M logits, M means, M log-scales);
 * Bernoulli: one logit per image channel (1 for MNIST); Normal: 2·C (mean, log-scale). */
int model_arch_head_channels(const model_arch *a);

/* Checks every field and the combinations the network needs (e.g. image_size divisible by
 * 2^(P+S−1), num_postprocess_blocks == num_preprocess_blocks). Returns 0 or NVAE_EXIT_USAGE with
 * a message naming the official flag and what to change. */
int model_arch_validate(const model_arch *a, nvae_err *err);

/* Built-in architectures: "celeba64", "mnist", "tiny", "tiny-nf" (the configurations of
 * tests/data/state_dict/). Returns 0, or NVAE_EXIT_USAGE for an unknown name. */
int model_arch_preset(const char *name, model_arch *out, nvae_err *err);
/* NULL-terminated list of the preset names, for help texts. */
extern const char *const model_arch_preset_names[];

const char *model_decoder_name(model_decoder d); /* "dmol", "bernoulli", "normal" */
/* Parses a decoder name; returns 0 or NVAE_EXIT_USAGE. */
int model_decoder_parse(const char *s, model_decoder *out, nvae_err *err);

#ifdef __cplusplus
}
#endif

#endif
