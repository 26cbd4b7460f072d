/* Batch normalisation (NCHW, statistics per channel over N, H, W) on the CPU, train and eval.
 *
 * NVAE.md §1.1/§7.3: eps 1e-5, momentum 0.05 in PyTorch's convention
 * (running = (1 - m) * running + m * batch_stat), running variance updated with the UNBIASED batch
 * variance, normalisation with the biased one. Every BN in training is synchronised across ranks.
 *
 * Sync-BN: each training pass is split in two halves with a reduction between them:
 *   forward:  batchnorm_local_sums_cpu    -> all-reduce [Σx, Σx², count]
 *             -> batchnorm_normalize_cpu
 *   backward: batchnorm_backward_sums_cpu -> all-reduce [Σdy, Σdy·x̂, count]
 *             -> batchnorm_backward_input_cpu
 * The sums are doubles: Σx² - M·mean² in float would lose the variance to cancellation, and the
 * element counts travel with the sums so that uneven per-rank batches give exactly what one
 * process gives on the concatenated batch. The *_train_cpu wrappers compose the halves and call
 * the all-reduce through a bn_sync (NULL = local BN).
 *
 * Gradient semantics with sync on (world size W): dy on each rank is ∂L/∂y of L = Σ_r L_r, so the
 * all-reduced sums are the global ones and dx is what one process on the concatenated batch gives
 * for L. dgamma and dbeta stay LOCAL (Σ over this rank's elements); the generic gradient
 * all-reduce of the trainer combines them like every other parameter gradient, and its average
 * over W makes every parameter's gradient that of mean_r L_r, as in the official code (§7.3).
 */
#ifndef NVAE_KERNELS_CPU_BATCHNORM_H
#define NVAE_KERNELS_CPU_BATCHNORM_H

#include "kernels/op_ctx.h"
#include "kernels/op_types.h"

#include <math.h>




/* Length of the sums buffer of a BN over C channels: C sums, C sums of squares (or the backward's
 * two per-channel sums) and one element count. */
static inline int batchnorm_sums_len(int64_t channels) { return (int)(2 * channels + 1); }

/* ---- training mode: the whole op ---- */

/* x, y [N, C, H, W]; gamma, beta [C]; running_mean, running_var [C] updated in place;
 * save_mean, save_invstd [C] written for backward (global batch mean and 1/sqrt(var + eps)).
 * Forward all-reduces [Σx (C), Σx² (C), count (1)] through sync. y may alias x. */
void batchnorm_forward_train_cpu(op_ctx *ctx, const batchnorm_params *p, const bn_sync *sync,
                                 const tensor *x, const tensor *gamma, const tensor *beta,
                                 tensor *running_mean, tensor *running_var, tensor *y,
                                 tensor *save_mean, tensor *save_invstd);
/* All-reduces [Σdy (C), Σdy·x̂ (C), count (1)] through sync. dx, dgamma, dbeta nullable and
 * accumulated (+=); dgamma, dbeta local (see the top of this file). */
void batchnorm_backward_train_cpu(op_ctx *ctx, const bn_sync *sync, const tensor *x,
                                  const tensor *gamma, const tensor *save_mean,
                                  const tensor *save_invstd, const tensor *dy, tensor *dx,
                                  tensor *dgamma, tensor *dbeta);

/* ---- training mode: the halves around the reduction ---- */

/* sums [2C + 1] (overwritten): Σx per channel, Σx² per channel, N·H·W. */
void batchnorm_local_sums_cpu(op_ctx *ctx, const tensor *x, double *sums);
/* From the reduced sums: save_mean, save_invstd, the running statistics update, and
 * y = gamma * (x - mean) * invstd + beta. */
void batchnorm_normalize_cpu(op_ctx *ctx, const batchnorm_params *p, const double *sums,
                             const tensor *x, const tensor *gamma, const tensor *beta,
                             tensor *running_mean, tensor *running_var, tensor *y,
                             tensor *save_mean, tensor *save_invstd);
/* sums [2C + 1] (overwritten): Σdy per channel, Σdy·x̂ per channel with x̂ = (x - mean) * invstd,
 * N·H·W. Also dgamma += Σdy·x̂ and dbeta += Σdy from these LOCAL sums (nullable). */
void batchnorm_backward_sums_cpu(op_ctx *ctx, const tensor *x, const tensor *save_mean,
                                 const tensor *save_invstd, const tensor *dy, double *sums,
                                 tensor *dgamma, tensor *dbeta);
/* From the reduced sums (M = total count):
 * dx += gamma * invstd * (dy - Σdy / M - x̂ * Σdy·x̂ / M). */
void batchnorm_backward_input_cpu(op_ctx *ctx, const double *sums, const tensor *x,
                                  const tensor *gamma, const tensor *save_mean,
                                  const tensor *save_invstd, const tensor *dy, tensor *dx);

/* ---- eval mode: running statistics are constants ---- */

/* y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta. y may alias x. */
void batchnorm_forward_eval_cpu(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                const tensor *gamma, const tensor *beta, const tensor *running_mean,
                                const tensor *running_var, tensor *y);
/* gamma / sqrt(running_var + eps): the eval-mode multiplier, one expression for every user so
 * that a recomputation (bn_swish backward) matches the forward bit for bit */
static inline float batchnorm_eval_scale(float gamma, float running_var, float eps) {
  return (float)(gamma / sqrt((double)running_var + (double)eps));
}
/* dx, dgamma, dbeta nullable and accumulated. */
void batchnorm_backward_eval_cpu(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                 const tensor *gamma, const tensor *running_mean,
                                 const tensor *running_var, const tensor *dy, tensor *dx,
                                 tensor *dgamma, tensor *dbeta);

#endif
