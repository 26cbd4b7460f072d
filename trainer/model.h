/* The NVAE model at run time: the plan built from a model_arch and its registry, the arenas
 * (parameters, gradients with the same offsets, buffers, counters, spectral-regularisation
 * vectors, activations) and the passes over it — a training step (forward, objective of NVAE.md
 * §3, backward), evaluation with importance weighting, reconstruction and sampling.
 *
 * Model code calls the op API only (kernels/backend.h through op_ctx), never a backend directly.
 * Cross-rank reductions (sync-BN, global KL balancing, metric averages) go through model_hooks,
 * so the model never includes MPI: NULL hooks = one process.
 *
 * Randomness: every draw is Philox keyed by (seed, purpose, step, sample key): the latent ε of
 * sample i of a batch uses key sample_key[i] (its GLOBAL position, DESIGN.md §2), so a global batch
 * gives the same numbers however it is split across ranks. One stream per image covers all
 * groups: the ε of group g (decoder order) are elements [Σ_{h<g} n_h, Σ_{h≤g} n_h) of
 * philox_fill_normal(purpose PHILOX_LATENT_EPS, step, key) with n_h = L·h_h·w_h.
 *
 * Memory: the arenas returned by model_params/grads/buffers/sr_vectors live on the backend's
 * device (host memory for the CPU backend); counters are host memory. Batches (model_batch.x) and
 * image outputs (x_out) are HOST memory: the model copies them.
 */
#ifndef NVAE_TRAINER_MODEL_H
#define NVAE_TRAINER_MODEL_H

#include <stdint.h>
#include <stdio.h>

#include "kernels/base/error.h"
#include "kernels/op_ctx.h"
#include "trainer/model_arch.h"
#include "trainer/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MODEL_MAX_GROUPS 256

typedef struct model model;

/* Cross-rank reductions; allreduce_sum == NULL means world size 1. */
typedef struct model_hooks {
  void (*allreduce_sum)(void *arg, double *buf, int n); /* in place, across ranks */
  void *arg;
  /* Nullable: the same on device memory, queued on `stream` (CUDA: NCCL), for sync-BN and the
   * global KL balancing without host round trips. Same arg. */
  void (*allreduce_sum_dev)(void *arg, double *dev_buf, int n, void *stream);
  /* Called during model_train_step's backward once the gradient of the parameter tensor at
   * [offset, offset + numel) of the gradient arena (elements) is final, in an order that is the
   * same on every rank; every parameter tensor is reported once per step. NULL: not called. */
  void (*grad_ready)(void *arg, int64_t offset, int64_t numel);
  void *grad_ready_arg;
  /* Called by model_train_step between the forward pass with the objective and the backward pass
   * (phase MODEL_PHASE_BACKWARD), so a benchmark can split the step's time. NULL: not called. */
  void (*phase)(void *arg, int phase);
  void *phase_arg;
} model_hooks;

enum { MODEL_PHASE_BACKWARD = 1 };

typedef struct model_options {
  int max_batch;         /* per-rank batch the activation arena is sized for */
  int sync_bn;           /* BN statistics through hooks (train.sync_bn) */
  int kl_balance_global; /* balancing coefficients from the global batch (kl_balance_scope) */
  float dmol_upper_edge; /* 0.99 official, 0.999 PixelCNN++ */
  int num_x_bits;        /* DMOL levels K = 2^bits − 1 */
  /* Region of the image the reconstruction loss covers (the official MNIST crop: 28×28 data padded
   * to 32×32 → y0 = x0 = 2, h = w = 28). h = w = 0: the whole image. */
  int crop_y0, crop_x0, crop_h, crop_w;
  model_hooks hooks;
} model_options;

/* One step's objective settings (schedules live in the trainer). */
typedef struct model_objective {
  double kl_beta;    /* β: KL warm-up coefficient or the constant train.kl_beta */
  int kl_balance;    /* apply KL balancing while β < 1 (NVAE.md §3.3) */
  double lambda;     /* weight of spectral + BN regularisation (NVAE.md §3.6) */
  int sr_iterations; /* power iterations this step: 4; the model uses 40 on its first call */
  /* 1: leave model_losses.active_units at 0 (counting them copies every group's KL map to the
   * host); the trainer sets it except at the steps that log per-group statistics. */
  int skip_active_units;
} model_objective;

typedef struct model_batch {
  const float *x;             /* [B, C, H, W] in [0,1]: padded, bit-reduced, binarised */
  int batch;                  /* B ≤ max_batch */
  const uint32_t *sample_key; /* [B]: global sample keys for Philox */
  uint64_t seed;
  uint32_t step; /* Philox counter word (the optimizer step) */
} model_batch;

typedef struct model_losses {
  double loss;   /* what is minimised: mean_b(recon + β·KL_balanced) + λ(SR + BNreg) */
  double recon;  /* mean over the batch, nats per image */
  double kl;     /* mean over the batch of Σ_g KL_g (unweighted) */
  double nelbo;  /* recon + kl, nats per image */
  double bpd;    /* nelbo / (D ln 2), D = C·crop_h·crop_w */
  double sr;     /* Σ_layers σ̂ */
  double bnreg;  /* Σ_layers max|γ| */
  int n_groups;  /* decoder order */
  double kl_group[MODEL_MAX_GROUPS];   /* mean over the batch, per group */
  double kl_coeff[MODEL_MAX_GROUPS];   /* balancing γ_g used (1 when not balancing) */
  int active_units[MODEL_MAX_GROUPS];  /* latent channels with batch-mean spatial KL > 0.1 */
} model_losses;

int model_create(const model_arch *arch, const model_options *opt, op_ctx *ctx, model **out,
                 nvae_err *e);
void model_free(model *m);

const registry *model_registry(const model *m);
const model_arch *model_get_arch(const model *m);
float *model_params(model *m);      /* [registry.param_arena_numel] */
float *model_grads(model *m);       /* same layout as params */
float *model_buffers(model *m);     /* [registry.buffer_arena_numel]: BN running statistics */
int64_t *model_counters(model *m);  /* [registry.counter_arena_numel]: num_batches_tracked */
float *model_sr_vectors(model *m);  /* [registry.sr_vector_numel]: u then v of each conv layer */
int model_sr_initialized(const model *m); /* 0 until the first power iteration (40 steps) */
void model_set_sr_initialized(model *m, int on); /* after loading u, v from a checkpoint */
size_t model_activation_bytes(const model *m);   /* the activation arena for max_batch (with the
                                                    same-sized arena of activation gradients) */
/* Every byte the model holds on its device: parameters, gradients, buffers, layer arenas,
 * activations and their gradients (all allocated once, at model_create). */
size_t model_device_bytes(const model *m);
/* Conv FLOPs of one training step per image (model_flops.c): forward, and backward (input and
 * weight gradients; no input gradient for convs that read the image). Other ops are not counted
 * (PERF.md §6: < 3 %). */
void model_flops_per_image(const model *m, double *forward, double *backward);
/* The same from an architecture, without allocating (nvae-train --dry-run). 0, or -1 when the
 * architecture is invalid. */
int model_estimate_flops(const model_arch *arch, double *forward, double *backward);
/* What model_activation_bytes would be for an architecture and batch, without allocating
 * anything (nvae-train --dry-run). 0 for an invalid architecture. */
size_t model_estimate_activation_bytes(const model_arch *arch, int max_batch);

/* Parameter initialisation of NVAE.md §1.9 from Philox (PHILOX_PARAM_INIT), BN γ=1 β=0, running
 * mean 0 var 1, prior_ftr0 U(0,1), WN log-scales log(‖V‖+0.01) (+log 0.1 for the AR μ conv).
 * Also initialises the SR vectors (model_init_sr_vectors). Its copies to the device run on the
 * op_ctx given to model_create. */
void model_init_params(model *m, uint64_t seed);

/* Training step: BN in training mode (running statistics updated), gradients of `loss` written
 * to model_grads() (zeroed first). The objective stays on the device, in the step values
 * (model_step_values); the step is queued without waiting for the device unless `out` is
 * non-NULL: then it waits and fills the losses (means over the LOCAL batch; the trainer averages
 * across ranks for logging), with active units unless o->skip_active_units. The non-finite
 * check and the optimizer are the trainer's. */
void model_train_step(model *m, op_ctx *ctx, const model_batch *b, const model_objective *o,
                      model_losses *out);
/* The step values of the last training step on the model's device: STEPV_LEN(n_groups) doubles
 * in the layout of kernels/cpu/objective.h (the trainer adds its non-finite count, gradient
 * norm and clipping factor to the head). */
double *model_step_values(model *m);
int model_step_values_len(const model *m);
/* Losses from a HOST copy of the step values (active units left 0). */
void model_losses_from_values(const model *m, const double *v, model_losses *out);

/* Evaluation (BN in eval mode, no gradients): per image, the NELBO (recon + Σ KL, nats) and the
 * importance-weighted log p(x) with iw_samples samples (NVAE.md §8.1). With iw_samples = 1,
 * log p̂ is the single-sample bound −recon − log q + log p, which equals −NELBO only when the KL
 * is the same single-sample estimate (flows on); without flows the NELBO uses the analytic KL and
 * the two differ by the KL's sampling noise. Arrays have b->batch entries. */
void model_eval_batch(model *m, op_ctx *ctx, const model_batch *b, int iw_samples,
                      double *nelbo, double *log_px);

/* Reconstruction (eval-mode BN): x_out [B, C, H, W] in [0,1] = decoder mean/sample of q(z|x). */
void model_reconstruct(model *m, op_ctx *ctx, const model_batch *b, float *x_out);

/* Prior samples at temperature t (NVAE.md §1.6), eval-mode BN unless readjusted: n images
 * [n, C, H, W] in [0,1] (DMOL: sample(t=1) as evaluate.py; Bernoulli: the mean σ(ℓ)). */
void model_sample(model *m, op_ctx *ctx, int n, float t, uint64_t seed, uint32_t step,
                  float *x_out);
/* BN re-adjustment (NVAE.md §8.2): `iterations` prior-sampling passes in training mode so the
 * decoder's running statistics adapt to temperature t. */
void model_readjust_bn(model *m, op_ctx *ctx, int iterations, int n, float t, uint64_t seed);

/* Testing and diagnostics: the latent ε of group g (decoder order) used by the last training or
 * evaluation forward pass, [B, L, h, w] copied to host memory. */
void model_get_eps(model *m, op_ctx *ctx, int group, float *host);

/* SR vectors u, v ~ N(0,1) per conv layer, normalised (PHILOX_SPECTRAL_INIT); the next training
 * step runs 40 power iterations. model_init_params calls it; a resume from a checkpoint without
 * vectors calls it alone. */
void model_init_sr_vectors(model *m, op_ctx *ctx, uint64_t seed);

/* Start-up table: registry summary plus activation MiB (total, per image). */
void model_print_summary(const model *m, FILE *f);

#ifdef __cplusplus
}
#endif

#endif
