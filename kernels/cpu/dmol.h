/* Discretised mixture of logistics (DMOL), the RGB output distribution of NVAE (NVAE.md §1.8), on
 * the CPU: log-likelihood with its gradient, sampling with temperature, and the mean.
 *
 * Channel layout of the head output P [N, Cp, H, W] (M = num_mix):
 *   channels = 3 (the official layout, Cp = 10 M):
 *     [0, M)                 mixture logits pi_m
 *     M + c*3M + [0, M)      means mu_{c,m}         of colour c = 0 (R), 1 (G), 2 (B)
 *     M + c*3M + [M, 2M)     raw log-scales s_{c,m}  (clamped to >= -7)
 *     M + c*3M + [2M, 3M)    raw coupling coefficients (through tanh) a_{c,m}
 *   Coupling uses the OBSERVED lower colours: mu~_G = mu_G + a_{0,m} x~_R,
 *   mu~_B = mu_B + a_{1,m} x~_R + a_{2,m} x~_G (the coefficient of slot c is used by colour c+1 or
 *   c+2 as written; this is the official slot mapping).
 *   channels = 1 (our extension for grey-scale data, Cp = 3 M): [0, M) logits, [M, 2M) means,
 *     [2M, 3M) raw log-scales; no coupling coefficients.
 *
 * Per colour and component, with x~ = 2x - 1, K = 2^num_bits - 1 and half-bin 1/K, the log
 * probability of the bin is log sigma(plus) at the lower edge (x~ < -0.999), log(1 - sigma(minus))
 * at the upper edge (x~ > upper_edge), else log(cdf_delta) when cdf_delta > 1e-5, else the
 * log-density at the bin centre minus log(K/2). upper_edge is 0.99 in the official code (so 8-bit
 * value 254 also counts as the open top bin: a quirk that is part of the reported bpd); 0.999 is
 * the PixelCNN++ value. cdf_delta = sigma(plus) - sigma(minus) is evaluated as sigma(plus)
 * sigma(-minus) (1 - exp(minus - plus)), which is the same number without the cancellation of two
 * probabilities close to 1.
 */
#ifndef NVAE_KERNELS_CPU_DMOL_H
#define NVAE_KERNELS_CPU_DMOL_H

#include "kernels/op_ctx.h"
#include "kernels/op_types.h"

#define DMOL_MAX_MIX 64 /* per-pixel work arrays live on the stack */


/* The official settings: upper_edge 0.99, noise scaled by 1/t. */
dmol_params dmol_params_default(int channels, int num_mix, int num_bits);
/* Cp for the params: 10 M for 3 channels, 3 M for 1 channel. */
int dmol_param_channels(const dmol_params *p);

/* logits [N, Cp, H, W]; x [N, C, H, W] in [0, 1] (multiples of 1/K); logp [N, H, W] (or
 * [N, 1, H, W]) = per-pixel log-likelihood, colours summed inside the mixture. */
void dmol_log_likelihood_forward_cpu(op_ctx *ctx, const dmol_params *p, const tensor *logits,
                                     const tensor *x, tensor *logp);
/* dlogits += d logp / d logits * dlogp (dlogp [N, H, W]). The branch selects are piecewise; the
 * log-scale clamp passes the gradient at exactly -7 and blocks it below, as torch.clamp does. */
void dmol_log_likelihood_backward_cpu(op_ctx *ctx, const dmol_params *p, const tensor *logits,
                                      const tensor *x, const tensor *dlogp, tensor *dlogits);

/* Sample with temperature t > 0. u_mix [N, M, H, W] uniforms for the Gumbel-max choice of the
 * component (argmax_m pi_m / t - log(-log u)); u_logistic [N, C, H, W] uniforms for the logistic
 * noise log u - log(1 - u); both are clipped to [1e-5, 1 - 1e-5] as in the official code. Colours
 * are then coupled and clamped to [-1, 1] in order R, G, B; x [N, C, H, W] in [0, 1]. */
void dmol_sample_cpu(op_ctx *ctx, const dmol_params *p, float t, const tensor *logits,
                     const tensor *u_mix, const tensor *u_logistic, tensor *x);
/* Softmax(pi)-weighted means and coupling coefficients, then the same coupling and clamping; no
 * noise (what the official code uses for FID). x [N, C, H, W] in [0, 1]. */
void dmol_mean_cpu(op_ctx *ctx, const dmol_params *p, const tensor *logits, tensor *x);

#endif
