/* FactorizedReduce, the skip path of every stride-2 cell (NVAE.md §1.1), C -> Cout at half
 * resolution. The caller has already applied swish. Four 1x1 stride-2 convolutions with bias, no
 * padding, read the four pixel phases (row, col) = (0,0), (1,1), (0,1), (1,0) of x (x, x shifted
 * by one row and one column, by one column only, by one row only); their outputs are concatenated
 * along channels in that order. Conv k has Ck = Cout/4 outputs, the last Cout - 3·(Cout/4).
 */
#ifndef NVAE_KERNELS_CPU_FACTORIZED_REDUCE_H
#define NVAE_KERNELS_CPU_FACTORIZED_REDUCE_H

#include "kernels/op_ctx.h"

/* Output channels of conv k (0..3) for Cout outputs in all. */
static inline int64_t factorized_reduce_channels(int64_t cout, int k) {
  return k < 3 ? cout / 4 : cout - 3 * (cout / 4);
}

/* x [N,C,H,W] (H, W even), w[k] [Ck, C, 1, 1], b[k] [Ck], y [N, Cout, H/2, W/2] */
void factorized_reduce_forward_cpu(op_ctx *ctx, const tensor *x, const tensor *const w[4],
                                   const tensor *const b[4], tensor *y);
/* dx [N,C,H,W], dw[k], db[k]: ACCUMULATED (+=); dx, the dw and db arrays, and each of their
 * entries are nullable. */
void factorized_reduce_backward_cpu(op_ctx *ctx, const tensor *x, const tensor *const w[4],
                                    const tensor *dy, tensor *dx, tensor *const dw[4],
                                    tensor *const db[4]);

#endif
