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

/* Non-finite elements in the gradient arena. */
int64_t train_optim_nonfinite(op_ctx *ctx, float *grads, int64_t numel);
/* ‖g‖₂ (fixed-order double sum: the same on every rank); with grad_clip > 0 and a larger norm,
 * the gradients are scaled by grad_clip / (‖g‖ + 1e−6) in place. Returns the norm before
 * clipping. */
double train_optim_clip(const train_optim *o, op_ctx *ctx, float *grads);
/* One update with learning rate lr (t advances first: the update is number t). */
void train_optim_step(train_optim *o, op_ctx *ctx, float *params, float *grads, double lr);

#ifdef __cplusplus
}
#endif

#endif
