/* What the training loop reports (rank 0): the progress line, metrics.jsonl rows, TensorBoard
 * scalars, per-group KL rows, sample and reconstruction grids. Prefix train_log_. */
#ifndef NVAE_TRAINER_TRAIN_LOG_H
#define NVAE_TRAINER_TRAIN_LOG_H

#include "trainer/evaluate.h"
#include "trainer/model.h"
#include "trainer/run_dir.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One logging interval's averages (over the steps of the interval and the ranks). */
typedef struct train_log_stats {
  int64_t step, total; /* steps done, of total */
  int64_t epoch;
  double loss, recon, kl, nelbo, bpd, sr, bnreg;
  double lr, beta, lambda, grad_norm;
  double images_per_s, step_ms, eta_s;
  int64_t skipped; /* non-finite steps skipped so far */
  int binary;      /* Bernoulli decoder: report nats, not bits/dim */
} train_log_stats;

int train_log_progress(run_dir *rd, const train_log_stats *s, nvae_err *e);
/* Per-group KL, balancing coefficients and active units of the last step. */
int train_log_groups(run_dir *rd, int64_t step, const model_losses *l, nvae_err *e);
int train_log_validation(run_dir *rd, int64_t step, int64_t epoch, const evaluate_result *r,
                         int binary, nvae_err *e);

/* Sample grids at t = 0.7, 0.8, 0.9, 1.0 (n images each) and the reconstruction of x [n, C, H, W]
 * (nullable): samples/step_XXXXXXX_tT.png, recon/step_XXXXXXX.png, TensorBoard images. */
int train_log_images(run_dir *rd, model *m, op_ctx *ctx, const model_geometry *g, uint64_t seed,
                     int64_t step, const float *x, const uint32_t *keys, int n, nvae_err *e);

#ifdef __cplusplus
}
#endif

#endif
