/* Bernoulli output distribution (binary images: MNIST, OMNIGLOT; NVAE.md §1.8) on the CPU.
 *
 * logits [N, C, H, W] (C = 1 for MNIST); x [N, C, H, W] in {0, 1} (values in [0, 1] are accepted:
 * the same formula is then the negative binary cross-entropy); logp [N, H, W] (or [N, 1, H, W]) is
 * the per-pixel log-likelihood summed over channels, like the DMOL op, so that the reconstruction
 * term of either decoder is a sum over the pixel map (cropped for MNIST, see reduce.h).
 *
 *   log p = x log sigma(l) + (1 - x) log sigma(-l) = x l - softplus(l)   (no log of 0 anywhere)
 *
 * The Normal decoder (x~ = 2x - 1, NVAE.md §1.8, unused by the README configs) needs no op of its
 * own: the model composes normal_params + normal_log_density and sums over channels.
 */
#ifndef NVAE_KERNELS_CPU_BERNOULLI_H
#define NVAE_KERNELS_CPU_BERNOULLI_H

#include "kernels/op_ctx.h"

void bernoulli_log_likelihood_forward_cpu(op_ctx *ctx, const tensor *logits, const tensor *x,
                                          tensor *logp);
/* dlogits += (x - sigma(l)) * dlogp */
void bernoulli_log_likelihood_backward_cpu(op_ctx *ctx, const tensor *logits, const tensor *x,
                                           const tensor *dlogp, tensor *dlogits);
/* The Bernoulli means sigma(l) that are displayed as samples: probs [N, C, H, W]. */
void bernoulli_mean_cpu(op_ctx *ctx, const tensor *logits, tensor *probs);

#endif
