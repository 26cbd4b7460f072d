/* Weight normalisation as NVAE uses it (NVAE.md §1.1, §1.7): the effective weight of every WN-conv
 * and AR conv,
 *   w[o] = exp(log_g[o]) · (v⊙mask)[o] / (‖(v⊙mask)[o]‖₂ + 1e-5),
 * the norm taken over all non-output dims. NVAE stores g as a log-scale ("log_weight_norm"), so
 * the gradient flows to log_g. The result is what conv2d and the spectral regulariser read.
 */
#ifndef NVAE_KERNELS_CPU_WEIGHT_NORM_H
#define NVAE_KERNELS_CPU_WEIGHT_NORM_H

#include "kernels/op_ctx.h"

#define WEIGHT_NORM_EPS 1e-5

/* v [Cout, K...] (any ndim; row o = every element of output channel o), log_g [Cout] (any shape
 * with Cout elements, e.g. [Cout, 1, 1, 1]), mask nullable (same shape as v), w out (same shape as
 * v), norm_saved [Cout] = ‖(v⊙mask)[o]‖ for the backward pass. */
void weight_norm_forward_cpu(op_ctx *ctx, const tensor *v, const tensor *log_g, const tensor *mask,
                             tensor *w, tensor *norm_saved);

/* dv (same shape as v) and dlog_g [Cout]: nullable, ACCUMULATED (+=). dv is w.r.t. the raw v,
 * so it is zero where the mask is. */
void weight_norm_backward_cpu(op_ctx *ctx, const tensor *v, const tensor *log_g, const tensor *mask,
                              const tensor *norm_saved, const tensor *dw, tensor *dv,
                              tensor *dlog_g);

#endif
