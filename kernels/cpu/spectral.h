/* Spectral regularisation and the BN weight regulariser on the CPU (NVAE.md §3.4, §3.5).
 *
 * W [rows, cols] is a conv layer's EFFECTIVE weight (after weight normalisation; AR convs after
 * masking) viewed as [Cout, Cin/groups * k * k]: OIHW memory is already that matrix, row-major.
 * u [rows] and v [cols] are the persistent power-iteration vectors of the layer (saved in our
 * checkpoints so that a resume is bit-exact). The regulariser is sigma^ = u^T W v with u, v held
 * constant, so its gradient is u v^T.
 */
#ifndef NVAE_KERNELS_CPU_SPECTRAL_H
#define NVAE_KERNELS_CPU_SPECTRAL_H

#include "kernels/op_ctx.h"

/* Below this norm a vector is divided by the floor instead (official normalize(): max(|a|, 1e-3)),
 * so a zero or tiny W gives small vectors, never a division by zero. */
#define SPECTRAL_NORM_FLOOR 1e-3f

/* a <- a / max(||a||, 1e-3); for the N(0, 1) initialisation of u and v. */
void spectral_normalize_cpu(op_ctx *ctx, tensor *a);

/* iters times: v <- normalize(W^T u), u <- normalize(W v). No gradient (4 per step, 40 on the first
 * step in the official schedule). u, v updated in place. */
void spectral_power_iteration_cpu(op_ctx *ctx, const tensor *W, tensor *u, tensor *v, int iters);

/* sigma [1] = u^T W v */
void spectral_sigma_forward_cpu(op_ctx *ctx, const tensor *W, const tensor *u, const tensor *v,
                                tensor *sigma);
/* dW += dsigma[0] * u v^T */
void spectral_sigma_backward_cpu(op_ctx *ctx, const tensor *u, const tensor *v,
                                 const tensor *dsigma, tensor *dW);

/* out [1] = max_k |gamma_k| over a BN layer's scales gamma [C]. */
void bn_max_abs_forward_cpu(op_ctx *ctx, const tensor *gamma, tensor *out);
/* dgamma_k += sign(gamma_k) * dout[0] / T for each of the T channels where |gamma_k| is maximal:
 * ties (every gamma is 1 at initialisation) share the gradient evenly, as PyTorch's full max()
 * reduction does since 1.7. */
void bn_max_abs_backward_cpu(op_ctx *ctx, const tensor *gamma, const tensor *dout, tensor *dgamma);

#endif
