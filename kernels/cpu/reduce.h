/* Reductions that turn per-pixel / per-latent maps into per-image scalars on the CPU: the
 * reconstruction and KL terms of NVAE.md §3 are sums per image, the loss a mean over the batch.
 * Sums accumulate in double in a fixed order (deterministic whatever the thread count).
 */
#ifndef NVAE_KERNELS_CPU_REDUCE_H
#define NVAE_KERNELS_CPU_REDUCE_H

#include "kernels/op_ctx.h"

/* y[n] = sum of x[n, ...] over every other dimension. x [N, ...] (any ndim >= 1), y [N]. */
void sum_per_sample_forward_cpu(op_ctx *ctx, const tensor *x, tensor *y);
/* dx[n, ...] += dy[n] */
void sum_per_sample_backward_cpu(op_ctx *ctx, const tensor *dy, tensor *dx);

/* y[n] = sum over rows [y0, y0 + h) and columns [x0, x0 + w) (and all channels) of x [N, C, H, W]
 * or [N, H, W]; y [N]. The MNIST loss covers the central 28x28 of the 32x32 padded image:
 * (y0, x0, h, w) = (2, 2, 28, 28). The window must lie inside the image. */
void sum_region_per_sample_forward_cpu(op_ctx *ctx, const tensor *x, int y0, int x0, int h, int w,
                                       tensor *y);
/* dx += dy[n] inside the window; outside it nothing is added (the gradient there is zero). */
void sum_region_per_sample_backward_cpu(op_ctx *ctx, int y0, int x0, int h, int w, const tensor *dy,
                                        tensor *dx);

/* y [1] = mean of x [N] (the per-rank batch mean of the loss). */
void mean_over_batch_forward_cpu(op_ctx *ctx, const tensor *x, tensor *y);
/* dx[n] += dy[0] / N */
void mean_over_batch_backward_cpu(op_ctx *ctx, const tensor *dy, tensor *dx);

#endif
