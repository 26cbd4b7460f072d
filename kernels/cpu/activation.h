/* Element-wise activations on the CPU (NVAE.md §1.1): Swish everywhere, ELU (α = 1) in front of
 * the samplers, enc0 and the output head, ReLU and sigmoid inside SE, and the soft clamp
 * 5·tanh(x/5) of every latent Normal's parameters (§2.1).
 *
 * Any shape; x, y, dy, dx all have the same shape. Forward: y may alias x. Backward takes the
 * saved INPUT x (like the official memory-efficient Swish, which keeps only the input) and
 * accumulates dx += f'(x) * dy; except sigmoid, whose backward takes its OUTPUT y, because
 * σ'(x) = y(1 - y) and SE keeps the gate, not its logits. dx must not alias dy. */
#ifndef NVAE_KERNELS_CPU_ACTIVATION_H
#define NVAE_KERNELS_CPU_ACTIVATION_H

#include "kernels/op_ctx.h"

#include <math.h>

/* σ(x) = 1/(1 + e^-x): for x → -∞ e^-x overflows to inf and σ → 0 cleanly, no NaN. */
static inline float act_sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }
/* d/dx x·σ(x) = σ(x)(1 + x(1 - σ(x))) */
static inline float act_swish_gradf(float x) {
  float s = act_sigmoidf(x);
  return s * (1.0f + x * (1.0f - s));
}

void swish_forward_cpu(op_ctx *ctx, const tensor *x, tensor *y);
void swish_backward_cpu(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx);

/* ELU with α = 1: x > 0 ? x : e^x - 1 */
void elu_forward_cpu(op_ctx *ctx, const tensor *x, tensor *y);
void elu_backward_cpu(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx);

/* max(x, 0); the gradient at exactly 0 is 0 (as PyTorch) */
void relu_forward_cpu(op_ctx *ctx, const tensor *x, tensor *y);
void relu_backward_cpu(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx);

/* σ(x); backward from the output y */
void sigmoid_forward_cpu(op_ctx *ctx, const tensor *x, tensor *y);
void sigmoid_backward_cpu(op_ctx *ctx, const tensor *y, const tensor *dy, tensor *dx);

/* 5·tanh(x/5): keeps μ and log σ of the latent Normals in (-5, 5) */
void soft_clamp_forward_cpu(op_ctx *ctx, const tensor *x, tensor *y);
void soft_clamp_backward_cpu(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx);

#endif
