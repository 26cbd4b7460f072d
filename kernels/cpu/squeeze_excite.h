/* Squeeze-excitation on the CPU (NVAE.md §1.1; the last op of every cell's residual branch):
 *   pool[n,c] = mean over H, W of x              [N, C]
 *   hid       = pool · w1ᵀ + b1                  [N, h]   (pre-ReLU, kept)
 *   gate      = σ(relu(hid) · w2ᵀ + b2)          [N, C]
 *   y[n,c]    = x[n,c] · gate[n,c]
 * with h = max(C / 16, 4) (squeeze_excite_hidden), taken from the weight shapes. The two Linear
 * layers are plain (no weight norm, no spectral regularisation). */
#ifndef NVAE_KERNELS_CPU_SQUEEZE_EXCITE_H
#define NVAE_KERNELS_CPU_SQUEEZE_EXCITE_H

#include "kernels/op_ctx.h"

/* The SE bottleneck width for C channels: max(C // 16, 4). */
static inline int64_t squeeze_excite_hidden(int64_t channels) {
  return channels / 16 > 4 ? channels / 16 : 4;
}

/* x, y [N, C, H, W] (y may alias x); w1 [h, C], b1 [h], w2 [C, h], b2 [C];
 * saved [N, 2C + h] = per sample [pool (C) | hid (h, pre-ReLU) | gate (C)], kept for backward. */
void squeeze_excite_forward_cpu(op_ctx *ctx, const tensor *x, const tensor *w1, const tensor *b1,
                                const tensor *w2, const tensor *b2, tensor *y, tensor *saved);
/* dx, dw1, db1, dw2, db2 nullable, accumulated (+=). x is the forward's input. */
void squeeze_excite_backward_cpu(op_ctx *ctx, const tensor *x, const tensor *w1, const tensor *w2,
                                 const tensor *saved, const tensor *dy, tensor *dx, tensor *dw1,
                                 tensor *db1, tensor *dw2, tensor *db2);

#endif
