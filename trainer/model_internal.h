/* Inside the model (trainer/model_*.c only): the plan, its nodes and activation slots, and the
 * model struct with its arenas.
 *
 * The network is static, so it is built once as a PLAN: an ordered list of nodes, each one op of
 * the op API (kernels/backend.h) on activation SLOTS. A slot is a region of the activation arena
 * sized for max_batch samples; the gradient arena of the activations has the same layout. The
 * forward pass walks the nodes in order, the backward pass walks them in reverse and calls each
 * op's backward, which ACCUMULATES into the input slots' gradients (so a tensor read by several
 * nodes, e.g. the decoder state d feeding the prior sampler, the encoder combiner and the next
 * cell, needs no explicit sum).
 *
 * Two plans share the arenas: the training/evaluation plan (encoder, decoder, latent groups,
 * output likelihood) and the sampling plan (decoder only, z from the prior with temperature). The
 * activation arena is sized for the larger one; they never run at the same time.
 */
#ifndef NVAE_TRAINER_MODEL_INTERNAL_H
#define NVAE_TRAINER_MODEL_INTERNAL_H

#include "kernels/backend.h"
#include "trainer/model.h"

/* ------------------------------------------------------------------------------------------ */
/* Plan */

typedef enum slot_kind {
  SLOT_4D = 0, /* [B, c, h, w] */
  SLOT_2D = 1, /* [B, c] (SE saved statistics) */
  SLOT_VEC = 2 /* [B] (per-image sums) */
} slot_kind;

typedef struct act_slot {
  int64_t off; /* floats into the activation arena (and its gradient arena) */
  slot_kind kind;
  int c, h, w; /* per sample */
} act_slot;

typedef enum node_op {
  NODE_INPUT,         /* out0 = 2·x − 1 (x = in0; ones in in1) — no gradient */
  NODE_CONV,          /* out0 = conv(in0) with layer's effective weight (+ bias) */
  NODE_BN,            /* out0 = BN(in0) (layer = BN index) */
  NODE_BN_SWISH,      /* out0 = swish(BN(in0)) */
  NODE_SWISH,         /* out0 = swish(in0) */
  NODE_ELU,           /* out0 = elu(in0) */
  NODE_SE,            /* out0 = SE(in0); aux = w1 b1 w2 b2 tensor indices; save = saved slot */
  NODE_ADD,           /* out0 = in0 + s·in1 */
  NODE_UP_NEAREST,    /* out0 = nearest ×2 (in0) */
  NODE_UP_BILINEAR,   /* out0 = bilinear ×2 align_corners (in0) */
  NODE_FACT_REDUCE,   /* out0 = FactorizedReduce(in0) (in0 already swished); aux = 4 conv indices */
  NODE_CONCAT,        /* out0 = concat(in0, in1) along channels */
  NODE_SPLIT,         /* (out0, out1) = split(in0) along channels */
  NODE_BROADCAST,     /* out0[b] = prior_ftr0 for every b (tensor index in aux[0]) */
  NODE_NORMAL_PARAMS, /* (out0 μ, out1 σ) = normal_params(in0 μ_raw, in1 ℓ_raw; t) */
  NODE_NORMAL_SAMPLE, /* out0 = in0 μ + in1 σ · in2 ε */
  NODE_LOG_DENSITY,   /* out0 = log N(in0 z; in1 μ, in2 σ) */
  NODE_KL,            /* out0 = KL(N(in0, in1) ‖ N(in2, in3)) */
  NODE_SUM_SAMPLE,    /* out0 [B] = Σ over a sample of in0 */
  NODE_SUM_REGION,    /* out0 [B] = Σ over the crop window (all channels) of in0 */
  NODE_DMOL,          /* out0 [B,1,H,W] = DMOL log-likelihood(logits in0, x in1) */
  NODE_BERNOULLI,     /* out0 [B,1,H,W] = Bernoulli log-likelihood(logits in0, x in1) */
  NODE_COUNT
} node_op;

enum {
  NODE_F_IW = 1u << 0,   /* only needed for log-weights (log q, log p totals): eval only */
  NODE_F_TEMP = 1u << 1, /* NORMAL_PARAMS: uses the run's temperature instead of 1 */
  NODE_F_CONST = 1u << 2 /* inputs are constants: no backward */
};

typedef struct node {
  node_op op;
  int in[4];  /* slot indices, -1 unused */
  int out[2]; /* slot indices, -1 unused */
  int layer;  /* conv index (CONV) or BN index (BN, BN_SWISH); -1 otherwise */
  int aux[4]; /* SE: tensor indices (w1, b1, w2, b2); FACT_REDUCE: conv indices; BROADCAST */
  int save;   /* SE: slot of the saved statistics */
  float s;    /* ADD: scale of in1 */
  unsigned flags;
} node;

typedef struct plan {
  node *nodes;
  int n_nodes, cap_nodes;
  act_slot *slots;
  int n_slots, cap_slots;
  int64_t arena_floats; /* activation floats for max_batch samples */
  int max_batch;

  /* Gradients of the activations (plan_assign_gradients). A slot's gradient lives only from the
   * backward of its last consumer (which zeroes it, then accumulates) to the backward of its
   * producer, so slots whose lifetimes do not overlap share memory: goff[slot] is its offset in
   * the gradient arena of grad_floats floats. Slots without a producer (input, ε, constants)
   * share a scratch region nobody reads. zero_at[zero_start[i] .. zero_start[i+1]) lists the slots
   * whose gradient is first written by node i's backward. */
  int64_t *goff;
  int64_t grad_floats;
  int64_t grad_dump; /* floats of the scratch region at offset 0 */
  int *zero_start, *zero_at;
  int *seeds; /* slots seeded before the walk (per-image loss terms) */
  int n_seeds;

  /* Named slots (-1 where the plan has none). */
  int x_in, ones, xt;             /* input [B,C,H,W], constant ones, 2x − 1 */
  int logits, logp_map, logp_sum; /* head output, per-pixel log-likelihood, Σ over the window */
  int eps_all;   /* [B, Σ_g latents]: one Philox call per sample, scattered to groups */
  int zeros_top; /* raw μ = ℓ = 0 of the top prior (constant) */
  int n_groups;
  int64_t eps_off[MODEL_MAX_GROUPS]; /* offset of group g inside a sample's eps_all row */
  int eps[MODEL_MAX_GROUPS];         /* [B, L, h, w] per group */
  int kl_map[MODEL_MAX_GROUPS];      /* element-wise KL */
  int kl_b[MODEL_MAX_GROUPS];        /* [B] KL per image */
  int logq_b[MODEL_MAX_GROUPS], logp_b[MODEL_MAX_GROUPS]; /* [B] (NODE_F_IW) */
  int z_out[MODEL_MAX_GROUPS]; /* z after the flows (what the combiner reads) */
} plan;

/* ------------------------------------------------------------------------------------------ */
/* Model */

struct model {
  model_arch arch;
  model_options opt;
  registry reg;
  const op_backend *ops;
  nvae_device device;
  op_ctx *ctx; /* the context given to model_create: model_init_params runs its copies on it */

  /* Arenas on the backend's device (counters on the host). */
  float *params, *grads, *buffers, *sr;
  int64_t *counters;
  float *weff, *dweff; /* effective weights of the WN / AR convs and their gradients */
  int64_t *weff_off;   /* per conv: offset into weff (-1: plain conv, weight is the param) */
  int64_t weff_numel;
  float *wnorm; /* per WN/AR conv: ‖V‖ per output channel (norm_saved) */
  int64_t *wnorm_off;
  float *masks; /* AR masks (same layout as weff; -1 offset for non-AR convs) */
  int64_t *mask_off;
  float *bn_save; /* per BN layer: save_mean [C], save_invstd [C] */
  int64_t *bn_save_off;
  float *scal; /* small device scratch: σ̂ per conv, max|γ| per BN, λ */
  int64_t scal_numel;
  /* The step values (kernels/cpu/objective.h) [STEPV_LEN(N)] on the device: the objective's
   * terms, γ, α (uploaded once), and the trainer's non-finite count and clipping factor. */
  double *stepv;
  int stepv_len;
  /* Input upload (model_upload_input): two pinned host stages of x and x̃ [2, max_batch·C·H·W]
   * used in turn, each free again once its fence has passed; inputs_free marks the end of the
   * last training backward (the last reader of the training plan's input slots), valid until
   * the next forward of any plan. */
  float *stage[2];
  op_fence *stage_fence[2], *inputs_free;
  int stage_next, inputs_free_valid;
  float *act, *dact; /* activation arena and the activation-gradient arena (plan.goff) */
  int64_t act_floats, dact_floats;

  plan train, sample;
  int sr_initialized;
  float temperature; /* NORMAL_PARAMS with NODE_F_TEMP */
  int bn_train;      /* BN mode of the current pass */
  int last_batch;    /* B of the last train-plan forward (for model_get_eps) */
  double kl_alpha[MODEL_MAX_GROUPS];
  bn_sync sync; /* from the hooks when opt.sync_bn */

  /* Gradient readiness (model_grad_ready.c), CSR lists over backward positions 0..n_nodes of the
   * train plan (n_nodes = before the walk): after position i the weight-norm backward of
   * ready_convs[ready_conv_start[i] ..) runs and the parameter tensors
   * ready_tensors[ready_start[i] .. ready_start[i+1]) are final. */
  int *ready_conv_start, *ready_convs, *ready_start, *ready_tensors;
  size_t device_bytes; /* everything dev_alloc gave this model */
};

/* model_plan.c */
void plan_build_train(plan *p, const model_arch *a, const registry *r, int max_batch);
void plan_build_sample(plan *p, const model_arch *a, const registry *r, int max_batch);
/* The gradient layout (see plan.goff); seeds = slots whose gradient the objective sets. Called
 * once the train plan is built. */
void plan_assign_gradients(plan *p, const int *seeds, int n_seeds);
void plan_free(plan *p);

/* model_exec.c: views and the walks */
tensor model_slot(model *m, const plan *p, int slot, int batch);
tensor model_dslot(model *m, const plan *p, int slot, int batch);
tensor model_param(model *m, int tensor_index);
tensor model_grad(model *m, int tensor_index);
tensor model_conv_weight(model *m, int conv);  /* effective weight (weff or the plain param) */
tensor model_conv_dweight(model *m, int conv); /* its gradient (dweff or the plain grad) */
void model_weight_norm_forward(model *m, op_ctx *ctx);
/* Effective-weight gradient of conv i → V and log g (accumulated); no-op for plain convs. */
void model_weight_norm_backward_conv(model *m, op_ctx *ctx, int i);
/* Forward over the plan's nodes (skips NODE_F_IW nodes unless with_iw). */
void model_plan_forward(model *m, op_ctx *ctx, const plan *p, int batch, int with_iw);
/* Backward in reverse order; the activation gradients must be seeded first. */
void model_plan_backward(model *m, op_ctx *ctx, const plan *p, int batch);
/* ε of every group from Philox (purpose PHILOX_LATENT_EPS), keyed by each image's sample key. */
void model_fill_eps(model *m, op_ctx *ctx, const plan *p, int batch, const uint32_t *keys,
                    uint64_t seed, uint32_t step);

/* model_grad_ready.c */
void model_grad_ready_build(model *m); /* once the train plan exists */
void model_grad_ready_free(model *m);
/* Weight-norm backward of the convs final at position pos, then hooks.grad_ready per tensor. */
void model_grad_ready_at(model *m, op_ctx *ctx, int pos);

/* model_objective.c */
/* SR (power iterations then σ̂ per conv) and BNreg; sums on the host. */
/* σ̂ and max|γ| into m->scal, their sums into the step values v[STEPV_SR], v[STEPV_BNREG]. */
void model_regularisers_forward(model *m, op_ctx *ctx, int iterations);
/* An in-place sum across ranks of n doubles in DEVICE memory (the hooks; staged through the
 * host only when a CUDA model has no device hook). */
void model_allreduce_dev(model *m, op_ctx *ctx, double *dev, int n);
/* λ·∂(SR + BNreg) into dweff (WN/AR convs) / grads (plain convs, BN γ). */
void model_regularisers_backward(model *m, op_ctx *ctx, double lambda);
/* The fixed α of the 'square' rule, decoder order. */
void model_kl_alpha(const model_arch *a, double *alpha);

/* model_step.c */
void model_upload_input(model *m, op_ctx *ctx, const plan *p, const float *x, int batch);
double model_num_output(const model *m);
void model_read_terms(model *m, op_ctx *ctx, const plan *p, int batch, double *recon, double *kl);

/* model_sample.c: images in [0,1] on the host from a plan's logits (the distribution's mean) */
void model_decode_mean(model *m, op_ctx *ctx, const plan *p, int batch, float *x_out);

/* Host copy helpers */
void model_slot_to_host(model *m, op_ctx *ctx, const plan *p, int slot, int batch, float *host);

#endif
