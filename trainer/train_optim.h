/* The optimizer side of a step (NVAE.md §4.1, §3.7): state arenas with the parameter layout
 * (Adamax: m, u; Adam: m, v), the non-finite check, gradient-norm clipping and the update. The
 * state lives on the backend's device; a rank will later own a 1/W slice of it (offset
 * arithmetic, DESIGN.md §5). Prefix train_optim_. */
#ifndef NVAE_TRAINER_TRAIN_OPTIM_H
#define NVAE_TRAINER_TRAIN_OPTIM_H

#include "kernels/backend.h"
#include "trainer/config_model.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct train_optim {
  nvae_optim_name name;
  double beta1, beta2, eps, weight_decay, grad_clip;
  int64_t numel;  /* elements of the parameter arena */
  float *m, *v;   /* [numel] each: first moment; Adamax u / Adam v */
  int64_t t;      /* updates applied (the shared step count of Adamax/Adam) */
} train_optim;

void train_optim_init(train_optim *o, const nvae_config *cfg, op_ctx *ctx, int64_t numel);
void train_optim_free(train_optim *o, op_ctx *ctx);
/* Bytes of optimizer state. */
size_t train_optim_bytes(int64_t numel);

/* The update decision, queued on the device into the step values v (kernels/cpu/objective.h),
 * so the host never waits for it:
 *   train_optim_count_nonfinite: v[STEPV_BAD] += non-finite gradient elements (the trainer then
 *     sums v[STEPV_BAD] across ranks: every rank takes the same decision);
 *   train_optim_gate: v[STEPV_GNORM] = ‖g‖₂ (fixed-order double sum, the same on every rank) and
 *     v[STEPV_SCALE] = grad_clip / (‖g‖ + 1e−6) when grad_clip > 0 and the norm is larger, else 1;
 *   train_optim_step: update number t + 1 with learning rate lr, applied with gradients times
 *     gate[1] unless gate[0] > 0 (gate = v + STEPV_BAD; NULL: unconditional, unscaled). It does not
 *     advance t: train_optim_commit does, once the host has read that the update was applied. */
void train_optim_count_nonfinite(op_ctx *ctx, const float *grads, int64_t numel, double *v);
void train_optim_gate(const train_optim *o, op_ctx *ctx, const float *grads, double *v);
void train_optim_step(const train_optim *o, op_ctx *ctx, float *params, float *grads, double lr,
                      const double *gate);
void train_optim_commit(train_optim *o);

#ifdef __cplusplus
}
#endif

#endif
