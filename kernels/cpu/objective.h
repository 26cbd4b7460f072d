/* Step values on the device: the training objective's reductions, the KL balancing coefficients,
 * the non-finite count and the clipping factor, kept in one double vector on the backend's device
 * so that a training step queues without a host round trip (the host reads the vector when it
 * logs; docs/gpu.md "One step on the device").
 *
 * The vector v (double, STEPV_LEN(N) entries for N latent groups):
 *   v[STEPV_LOSS .. STEPV_COUNT-1]  the head below;
 *   v[STEPV_KL_MEAN(N, g)]          mean over the local batch of KL_bg (nats);
 *   v[STEPV_KL_ABS(N, g)]           Σ_b |KL_bg| (summed over the ranks with global balancing),
 *   v[STEPV_COUNT(N)]               the number of images in those sums (right after them, so one
 *                                   all-reduce covers both);
 *   v[STEPV_GAMMA(N, g)]            the balancing coefficient γ_g (1 without balancing);
 *   v[STEPV_ALPHA(N, g)]            α_g of the 'square' rule (set once, NVAE.md §3.3).
 * Every op below runs on the context's stream and returns at once (CPU: at once, done). */
#ifndef NVAE_KERNELS_CPU_OBJECTIVE_H
#define NVAE_KERNELS_CPU_OBJECTIVE_H

#include "kernels/op_ctx.h"

#include <stdint.h>

enum step_value {
  STEPV_LOSS = 0, /* mean_b(recon_b + β Σ_g γ_g KL_bg) + λ (SR + BNreg) */
  STEPV_RECON,    /* mean_b −log p(x_b | z) */
  STEPV_KL,       /* mean_b Σ_g KL_bg */
  STEPV_NELBO,    /* recon + kl */
  STEPV_BPD,      /* nelbo / (D ln 2) */
  STEPV_SR,       /* Σ over convs of σ̂ */
  STEPV_BNREG,    /* Σ over BN layers of max_k |γ_k| */
  STEPV_GNORM,    /* ‖g‖ of the averaged gradient, before clipping */
  STEPV_BAD,      /* non-finite values in the averaged gradients + non-finite losses (all ranks) */
  STEPV_SCALE,    /* the clipping factor applied to the gradients (1: none); right after BAD:
                     {BAD, SCALE} is the optimizers' gate (op_types.h) */
  STEPV_GNORM_SQ, /* Σ g² */
  STEPV_HEAD = 16
};
#define STEPV_KL_MEAN(N, g) (STEPV_HEAD + (g))
#define STEPV_KL_ABS(N, g) (STEPV_HEAD + (N) + (g))
#define STEPV_COUNT(N) (STEPV_HEAD + 2 * (N))
#define STEPV_GAMMA(N, g) (STEPV_HEAD + 2 * (N) + 1 + (g))
#define STEPV_ALPHA(N, g) (STEPV_HEAD + 3 * (N) + 1 + (g))
#define STEPV_LEN(N) (STEPV_HEAD + 4 * (N) + 1)

typedef enum scalar_reduce {
  SCALAR_SUM = 0,      /* x */
  SCALAR_ABS = 1,      /* |x| */
  SCALAR_SQUARE = 2,   /* x² */
  SCALAR_NONFINITE = 3, /* 1 where x is NaN or ±Inf, else 0 */
  SCALAR_COUNT = 4      /* 1: the element count (the batch size behind a per-image term) */
} scalar_reduce;

/* out[0] += scale · Σ_i f(x_i), f by `f`. The sum is in double over blocks of 8192 elements
 * summed in block order (the same bits for any thread count, and the same as grad_norm_sq for
 * SCALAR_SQUARE), then multiplied by scale. x: any shape, float32; out: 1 double on the device. */
void reduce_to_scalar_cpu(op_ctx *ctx, const tensor *x, scalar_reduce f, double scale,
                          double *out);

/* y[i] = (float)(scale · s[0]) for every element of y; s nullable (then s[0] = 1). s: 1 double on
 * the device. The loss seeds of backward: ∂loss/∂KL_bg = β γ_g / B with γ_g on the device. */
void fill_from_scalar_cpu(op_ctx *ctx, const double *s, double scale, tensor *y);

typedef struct objective_params {
  int n_groups;      /* N */
  int balance;       /* 1: γ from the KL sums (KL balancing); 0: γ = 1 */
  double beta;       /* β */
  double lambda;     /* λ */
  double num_output; /* D of bits/dim: channels · height · width the loss covers */
} objective_params;

/* Reads v[RECON], v[SR], v[BNREG], v[KL_MEAN], v[KL_ABS], v[COUNT], v[ALPHA]; writes v[GAMMA]
 * (balance: r_g = (v[KL_ABS]/v[COUNT] + 0.01)/α_g, γ_g = r_g / mean(r); else 1) and v[LOSS],
 * v[KL], v[NELBO], v[BPD]. One thread of double arithmetic (a few hundred flops). */
void objective_combine_cpu(op_ctx *ctx, const objective_params *p, double *v);

/* After v[GNORM_SQ] and v[BAD] are final: v[GNORM] = sqrt(v[GNORM_SQ]); v[SCALE] =
 * grad_clip / (v[GNORM] + 1e-6) when grad_clip > 0 and v[GNORM] > grad_clip (the factor of
 * torch.nn.utils.clip_grad_norm_), else 1. */
void optim_gate_cpu(op_ctx *ctx, double grad_clip, double *v);

#endif
