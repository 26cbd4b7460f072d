/* Optimizer steps and gradient statistics on the CPU (NVAE.md §4.1, §3.7).
 *
 * Every tensor is a flat array of n floats (any shape with the same element count): the trainer
 * passes whole arenas (parameters, gradients and optimizer state share one layout) or a rank's
 * contiguous slice of them. Updates are in place. Weight decay is COUPLED (L2): g <- g + wd * theta
 * before the moments, as torch.optim.Adamax/Adam and the official code do; the gradient buffer
 * itself is not modified.
 *
 * Scalars are double (config values; bias corrections computed in double like Python floats); the
 * per-element arithmetic is float32, in the order the PyTorch optimizers use.
 */
#ifndef NVAE_KERNELS_CPU_OPTIM_H
#define NVAE_KERNELS_CPU_OPTIM_H

#include "kernels/op_ctx.h"
#include "kernels/op_types.h"

#include <stdint.h>


/* With p->gate (op_types.h): nothing when gate[0] > 0, else g is gate[1] * grad below.
 * m <- b1 m + (1 - b1) g;  u <- max(b2 u, |g| + eps);  theta <- theta - lr / (1 - b1^t) * m / u */
void adamax_step_cpu(op_ctx *ctx, const adamax_params *p, tensor *param, const tensor *grad,
                     tensor *m, tensor *u);


/* torch.optim.Adam: m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
 * theta <- theta - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps) */
void adam_step_cpu(op_ctx *ctx, const adam_params *p, tensor *param, const tensor *grad, tensor *m,
                   tensor *v);

/* Sum of squares, accumulated in double over fixed blocks summed in a fixed order: the same bits
 * for any thread count (the non-finite decision and the logged grad norm must agree everywhere).
 * NaN or Inf in g make the result non-finite. */
double grad_norm_sq_cpu(op_ctx *ctx, const tensor *g);
/* Number of NaN and +-Inf elements. */
int64_t nonfinite_count_cpu(op_ctx *ctx, const tensor *x);

#endif
