/* 2-D convolution on the CPU (NVAE.md §1.1): every WN-conv, plain conv and masked AR conv of the
 * model runs through here, with the effective weight (after weight_norm.h) as `w`.
 *
 * Layout: activations NCHW, weights OIHW [Cout, Cin/groups, kh, kw]. Zero padding `pad` on all
 * four sides; Ho = (H + 2 pad - kh) / stride + 1 (and likewise Wo).
 *
 * How it runs (DESIGN.md §2): dense and grouped convolutions as im2col + cblas_sgemm per image and
 * group (a 1x1 stride-1 unpadded conv needs no im2col: the image already is the column matrix);
 * depthwise convolutions (groups == Cin == Cout) by a direct loop over padded planes. sgemm is
 * threaded by OpenBLAS, the loops around it by OpenMP (never both at once).
 */
#ifndef NVAE_KERNELS_CPU_CONV_H
#define NVAE_KERNELS_CPU_CONV_H

#include "kernels/op_ctx.h"
#include "kernels/op_types.h"


/* y[N,Cout,Ho,Wo] = conv(x[N,Cin,H,W], w⊙mask [Cout,Cin/groups,kh,kw]) + b[Cout].
 * mask (same shape as w; the AR masks of NVAE.md §1.7) and b are nullable. */
void conv2d_forward_cpu(op_ctx *ctx, const conv2d_params *p, const tensor *x, const tensor *w,
                        const tensor *mask, const tensor *b, tensor *y);

/* dx [N,Cin,H,W], dw [Cout,Cin/groups,kh,kw], db [Cout]: nullable, ACCUMULATED (+=).
 * dw is the gradient w.r.t. the raw w, so it is multiplied by the mask when there is one. */
void conv2d_backward_cpu(op_ctx *ctx, const conv2d_params *p, const tensor *x, const tensor *w,
                         const tensor *mask, const tensor *dy, tensor *dx, tensor *dw, tensor *db);

#endif
