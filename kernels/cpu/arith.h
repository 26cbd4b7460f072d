/* Element-wise arithmetic on the CPU: the residual sum of every NVAE cell (skip + 0.1 * branch)
 * and plain scaling. All tensors have the same shape; y may alias a or x. */
#ifndef NVAE_KERNELS_CPU_ARITH_H
#define NVAE_KERNELS_CPU_ARITH_H

#include "kernels/op_ctx.h"

/* y = a + s * b */
void add_scaled_forward_cpu(op_ctx *ctx, const tensor *a, float s, const tensor *b, tensor *y);
/* da += dy; db += s * dy   (da, db nullable) */
void add_scaled_backward_cpu(op_ctx *ctx, float s, const tensor *dy, tensor *da, tensor *db);

/* y = s * x */
void scale_forward_cpu(op_ctx *ctx, float s, const tensor *x, tensor *y);
/* dx += s * dy */
void scale_backward_cpu(op_ctx *ctx, float s, const tensor *dy, tensor *dx);

#endif
