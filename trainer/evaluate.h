/* Validation and evaluation (NVAE.md §8.1): NELBO and the importance-weighted log p(x) over (at
 * most max_images of) a split, with eval-mode BN, averaged over images across ranks. Used by the
 * training loop (eval.iw_samples, eval.max_images) and by nvae-eval (1000 samples, all images).
 * Prefix evaluate_. */
#ifndef NVAE_TRAINER_EVALUATE_H
#define NVAE_TRAINER_EVALUATE_H

#include "trainer/config_model.h"
#include "trainer/model.h"
#include "trainer/train_comm.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evaluate_opts {
  const char *data_path;
  const char *split;  /* asked-for split; "valid" falls back to "test" when absent */
  int batch;          /* per rank */
  int iw_samples;
  int64_t max_images; /* 0 = all */
  uint64_t seed;
  uint32_t step;      /* Philox step word for this pass (binarisation, latent noise) */
  int pad_to;         /* loader padding (config_model_loader_pad) */
  int num_x_bits, binarize;
} evaluate_opts;

typedef struct evaluate_result {
  char split[64];   /* the split used */
  int64_t images;
  double nelbo;     /* nats per image */
  double log_px;    /* nats per image */
  double bpd_elbo;  /* nelbo / (D ln 2), D = C · crop_h · crop_w */
  double bpd_log_px;
  double seconds;
} evaluate_result;

/* The split to evaluate: `split` when the dataset has it, else "test" when `split` is "valid"
 * (DESIGN.md §4). Returns 0 or NVAE_EXIT_USAGE naming the dataset and the split. */
int evaluate_pick_split(const char *data_path, const char *split, char *out, size_t n,
                        nvae_err *e);

int evaluate_run(model *m, op_ctx *ctx, const evaluate_opts *o, const model_geometry *g,
                 const train_comm *comm, evaluate_result *r, nvae_err *e);

#ifdef __cplusplus
}
#endif

#endif
