/* Channel concatenation and split on the CPU (NCHW): the decoder combiner's concat[d, z], the
 * split of a sampler's 2L channels into μ and log σ, FactorizedReduce's concat of its 4 convs.
 * The whole is [N, ΣC_i, H, W], piece i is [N, C_i, H, W], pieces in order along C.
 *
 * Gradient lists (concat backward's dxs, split backward's dys) may hold ONE NULL entry (no
 * gradient for that piece / nothing flows from it): its extent is what the other pieces leave of
 * the whole's channels, so the offsets of the pieces after it stay known. */
#ifndef NVAE_KERNELS_CPU_CHANNELS_H
#define NVAE_KERNELS_CPU_CHANNELS_H

#include "kernels/op_ctx.h"

/* y [N, ΣC_i, H, W] = concat(xs[0], ..., xs[n-1]) along channels. */
void concat_channels_forward_cpu(op_ctx *ctx, int n, const tensor *const *xs, tensor *y);
/* dxs[i] += the matching channel slice of dy; at most one entry NULL. */
void concat_channels_backward_cpu(op_ctx *ctx, int n, const tensor *dy, tensor *const *dxs);

/* ys[i] = consecutive channel slices of x [N, ΣC_i, H, W]; C_i from each ys[i]'s shape. */
void split_channels_forward_cpu(op_ctx *ctx, const tensor *x, int n, tensor *const *ys);
/* dx += concat(dys); at most one entry NULL (that slice of dx is left as it is). */
void split_channels_backward_cpu(op_ctx *ctx, int n, const tensor *const *dys, tensor *dx);

#endif
