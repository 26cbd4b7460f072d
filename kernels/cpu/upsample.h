/* ×2 upsampling on the CPU (NCHW): nearest (the leading upsample of every up cell's MBConv branch)
 * and bilinear with align_corners = True (the up-skip path, NVAE.md §1.1), i.e. PyTorch's
 * F.interpolate(x, scale_factor=2, mode='nearest' / 'bilinear', align_corners=True).
 * x [N, C, H, W] -> y [N, C, 2H, 2W]. Backward accumulates into dx and is deterministic: each
 * (n, c) plane is gathered (nearest) or scattered (bilinear) by one thread in a fixed order. */
#ifndef NVAE_KERNELS_CPU_UPSAMPLE_H
#define NVAE_KERNELS_CPU_UPSAMPLE_H

#include "kernels/op_ctx.h"

/* y[i, j] = x[i / 2, j / 2] */
void upsample_nearest2x_forward_cpu(op_ctx *ctx, const tensor *x, tensor *y);
/* dx[i, j] += the sum of dy over its 2×2 block */
void upsample_nearest2x_backward_cpu(op_ctx *ctx, const tensor *dy, tensor *dx);

/* Output row i reads source row s = i·(H - 1)/(2H - 1) (0 when H = 1), interpolating between
 * floor(s) and floor(s) + 1 (clamped); the same along W. */
void upsample_bilinear2x_forward_cpu(op_ctx *ctx, const tensor *x, tensor *y);
void upsample_bilinear2x_backward_cpu(op_ctx *ctx, const tensor *dy, tensor *dx);

#endif
