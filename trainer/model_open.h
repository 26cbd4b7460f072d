/* A model from a model.h5 (nvae-sample, nvae-eval): the path may be the file or a run directory
 * (<run>/final/model.h5). The file's own config and geometry build the model; then its tensors
 * are loaded. Prefix model_open_. */
#ifndef NVAE_TRAINER_MODEL_OPEN_H
#define NVAE_TRAINER_MODEL_OPEN_H

#include "trainer/model_io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The model.h5 a --checkpoint argument names. Returns 0 or NVAE_EXIT_USAGE naming the path. */
int model_open_resolve(const char *arg, char *out, size_t n, nvae_err *e);

/* Builds the model of the file for per-call batches up to max_batch and loads it. cfg and info
 * receive the file's config and info. Returns 0 or NVAE_EXIT_USAGE (bad file). */
int model_open(const char *path, int max_batch, op_ctx *ctx, model **m, nvae_config *cfg,
               model_io_info *info, nvae_err *e);

#ifdef __cplusplus
}
#endif

#endif
