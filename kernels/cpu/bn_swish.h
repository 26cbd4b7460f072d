/* Fused BatchNorm + Swish on the CPU: y = swish(BN(x)) (NVAE.md §1.1, §7.3; every res_bnswish op
 * and the two inner activations of each MBConv).
 *
 * The point of the official fused op is memory: forward keeps only what BN keeps (save_mean,
 * save_invstd; x stays the caller's), and backward RECOMPUTES z = BN(x) to apply
 * swish'(z) = σ(z)(1 + z(1 - σ(z))) before the BN backward. Statistics, sync hook and gradient
 * semantics are those of batchnorm.h; the halves for an explicit reduction are
 *   forward:  batchnorm_local_sums_cpu  -> all-reduce -> bn_swish_normalize_cpu
 *   backward: bn_swish_backward_dz_cpu -> batchnorm_backward_sums_cpu -> all-reduce
 *             -> batchnorm_backward_input_cpu   (both on dz)
 */
#ifndef NVAE_KERNELS_CPU_BN_SWISH_H
#define NVAE_KERNELS_CPU_BN_SWISH_H

#include "kernels/cpu/batchnorm.h"

/* x, y [N, C, H, W]; gamma, beta, running_mean, running_var, save_mean, save_invstd [C] as in
 * batchnorm_forward_train_cpu. y must not alias x (backward needs x). */
void bn_swish_forward_train_cpu(op_ctx *ctx, const batchnorm_params *p, const bn_sync *sync,
                                const tensor *x, const tensor *gamma, const tensor *beta,
                                tensor *running_mean, tensor *running_var, tensor *y,
                                tensor *save_mean, tensor *save_invstd);
/* dx, dgamma, dbeta nullable, accumulated; dgamma, dbeta local. Uses ctx scratch for dz. */
void bn_swish_backward_train_cpu(op_ctx *ctx, const bn_sync *sync, const tensor *x,
                                 const tensor *gamma, const tensor *beta, const tensor *save_mean,
                                 const tensor *save_invstd, const tensor *dy, tensor *dx,
                                 tensor *dgamma, tensor *dbeta);

/* Halves: batchnorm_normalize_cpu followed by swish on y. */
void bn_swish_normalize_cpu(op_ctx *ctx, const batchnorm_params *p, const double *sums,
                            const tensor *x, const tensor *gamma, const tensor *beta,
                            tensor *running_mean, tensor *running_var, tensor *y, tensor *save_mean,
                            tensor *save_invstd);
/* dz = dy * swish'(z), z = gamma * (x - save_mean) * save_invstd + beta recomputed.
 * dz [N, C, H, W] is OVERWRITTEN (it is a temporary, not a gradient output). */
void bn_swish_backward_dz_cpu(op_ctx *ctx, const tensor *x, const tensor *gamma, const tensor *beta,
                              const tensor *save_mean, const tensor *save_invstd, const tensor *dy,
                              tensor *dz);

/* Eval: y = swish(BN_eval(x)); backward recomputes BN_eval(x). dx, dgamma, dbeta nullable,
 * accumulated. */
void bn_swish_forward_eval_cpu(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                               const tensor *gamma, const tensor *beta, const tensor *running_mean,
                               const tensor *running_var, tensor *y);
void bn_swish_backward_eval_cpu(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                const tensor *gamma, const tensor *beta, const tensor *running_mean,
                                const tensor *running_var, const tensor *dy, tensor *dx,
                                tensor *dgamma, tensor *dbeta);

#endif
