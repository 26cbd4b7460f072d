/* One training step (NVAE.md §3): forward over the plan, the objective
 *   loss = mean_b(recon_b + β·Σ_g γ_g·KL_bg) + λ·(SR + BNreg),
 * and the backward walk that writes ∂loss/∂θ into the gradient arena. */
#include "trainer/model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Uploads x and x̃ = 2x − 1 (the stem's and the Normal decoder's input) for a plan, through one
 * of two pinned stages in turn and the backend's copy stream: the host returns at once. The
 * copy for the training plan starts when the previous training backward has finished reading the
 * input slots (inputs_free), so it overlaps that step's gradient average and optimizer; after
 * any other forward it waits for everything queued. */
void model_upload_input(model *m, op_ctx *ctx, const plan *p, const float *x, int batch) {
  tensor tx = model_slot(m, p, p->x_in, batch), tt = model_slot(m, p, p->xt, batch);
  int64_t n = tensor_numel(&tx);
  const int k = m->stage_next;
  m->stage_next ^= 1;
  m->ops->fence_sync(ctx, m->stage_fence[k]); /* the copies from this stage two uploads ago */
  float *hx = m->stage[k], *ht = m->stage[k] + n; /* [n] x, then [n] x̃ */
  memcpy(hx, x, (size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++)
    ht[i] = 2.0f * x[i] - 1.0f;
  op_fence *after = p == &m->train && m->inputs_free_valid ? m->inputs_free : NULL;
  m->ops->from_host_async(ctx, tx.data, hx, (size_t)n * sizeof(float), after);
  m->ops->from_host_async(ctx, tt.data, ht, (size_t)n * sizeof(float), after);
  m->ops->fence_record(ctx, m->stage_fence[k]);
}

/* Pixels (times channels) the reconstruction loss covers: D of bits/dim. */
double model_num_output(const model *m) {
  const model_options *o = &m->opt;
  int h = o->crop_h > 0 ? o->crop_h : m->arch.image_size;
  int w = o->crop_w > 0 ? o->crop_w : m->arch.image_size;
  return (double)m->arch.image_channels * h * w;
}

/* Per-image recon (−log p(x|z)) and KL per group kl[b·N + g] of the last forward. */
void model_read_terms(model *m, op_ctx *ctx, const plan *p, int batch, double *recon, double *kl) {
  int N = p->n_groups;
  float *h = nvae_malloc((size_t)batch * sizeof(float));
  model_slot_to_host(m, ctx, p, p->logp_sum, batch, h);
  for (int b = 0; b < batch; b++)
    recon[b] = -(double)h[b];
  for (int g = 0; g < N; g++) {
    model_slot_to_host(m, ctx, p, p->kl_b[g], batch, h);
    for (int b = 0; b < batch; b++)
      kl[(int64_t)b * N + g] = h[b];
  }
  free(h);
}

/* Active units (NVAE.md §7.5): latent channels whose batch-mean spatially summed KL > 0.1. */
static int active_units(model *m, op_ctx *ctx, int g, int batch) {
  const plan *p = &m->train;
  const act_slot *s = &p->slots[p->kl_map[g]];
  int64_t hw = (int64_t)s->h * s->w, n = (int64_t)batch * s->c * hw;
  float *h = nvae_malloc((size_t)n * sizeof(float));
  model_slot_to_host(m, ctx, p, p->kl_map[g], batch, h);
  int active = 0;
  for (int c = 0; c < s->c; c++) {
    double sum = 0;
    for (int b = 0; b < batch; b++)
      for (int64_t i = 0; i < hw; i++)
        sum += h[((int64_t)b * s->c + c) * hw + i];
    if (sum / batch > 0.1) active++;
  }
  free(h);
  return active;
}

/* Seeds ∂loss/∂(Σ log p) = −1/B per image and ∂loss/∂KL_bg = β·γ_g/B, γ_g from the step values. */
static void seed_gradients(model *m, op_ctx *ctx, int batch, double beta) {
  const plan *p = &m->train;
  const int N = p->n_groups;
  tensor d = model_dslot(m, p, p->logp_sum, batch);
  m->ops->fill_from_scalar(ctx, NULL, -1.0 / batch, &d);
  for (int g = 0; g < N; g++) {
    d = model_dslot(m, p, p->kl_b[g], batch);
    m->ops->fill_from_scalar(ctx, m->stepv + STEPV_GAMMA(N, g), beta / batch, &d);
  }
}

/* The objective's terms on the device (kernels/cpu/objective.h): per-image sums reduced into the
 * step values, the KL sums all-reduced for the global balancing scope, then γ and the loss. */
static void objective_forward(model *m, op_ctx *ctx, int batch, const model_objective *o) {
  const plan *p = &m->train;
  const op_backend *ops = m->ops;
  const int N = p->n_groups;
  double *v = m->stepv;
  tensor lp = model_slot(m, p, p->logp_sum, batch); /* [B] Σ log p(x|z) */
  ops->reduce_to_scalar(ctx, &lp, SCALAR_SUM, -1.0 / batch, v + STEPV_RECON);
  for (int g = 0; g < N; g++) {
    tensor kl = model_slot(m, p, p->kl_b[g], batch); /* [B] KL of group g */
    ops->reduce_to_scalar(ctx, &kl, SCALAR_SUM, 1.0 / batch, v + STEPV_KL_MEAN(N, g));
    ops->reduce_to_scalar(ctx, &kl, SCALAR_ABS, 1.0, v + STEPV_KL_ABS(N, g));
  }
  ops->reduce_to_scalar(ctx, &lp, SCALAR_COUNT, 1.0, v + STEPV_COUNT(N));
  int balance = o->kl_balance && o->kl_beta < 1.0;
  /* the global scope: every rank's γ from the whole global batch */
  if (balance && m->opt.kl_balance_global)
    model_allreduce_dev(m, ctx, v + STEPV_KL_ABS(N, 0), N + 1);
  objective_params op = {N, balance, o->kl_beta, o->lambda, model_num_output(m)};
  ops->objective_combine(ctx, &op, v);
}

void model_allreduce_dev(model *m, op_ctx *ctx, double *dev, int n) {
  const model_hooks *h = &m->opt.hooks;
  if (h->allreduce_sum_dev) {
    h->allreduce_sum_dev(h->arg, dev, n, ctx->stream);
  } else if (h->allreduce_sum && m->device == DEVICE_CPU) {
    h->allreduce_sum(h->arg, dev, n); /* CPU device memory is host memory */
  } else if (h->allreduce_sum) {
    double *t = nvae_malloc((size_t)n * sizeof(double));
    m->ops->to_host(ctx, t, dev, (size_t)n * sizeof(double));
    h->allreduce_sum(h->arg, t, n);
    m->ops->from_host(ctx, dev, t, (size_t)n * sizeof(double));
    free(t);
  }
}

double *model_step_values(model *m) { return m->stepv; }
int model_step_values_len(const model *m) { return m->stepv_len; }

void model_losses_from_values(const model *m, const double *v, model_losses *out) {
  const int N = m->train.n_groups;
  memset(out, 0, sizeof *out);
  out->loss = v[STEPV_LOSS];
  out->recon = v[STEPV_RECON];
  out->kl = v[STEPV_KL];
  out->nelbo = v[STEPV_NELBO];
  out->bpd = v[STEPV_BPD];
  out->sr = v[STEPV_SR];
  out->bnreg = v[STEPV_BNREG];
  out->n_groups = N;
  for (int g = 0; g < N; g++) {
    out->kl_group[g] = v[STEPV_KL_MEAN(N, g)];
    out->kl_coeff[g] = v[STEPV_GAMMA(N, g)];
  }
}

static void zero_gradients(model *m, op_ctx *ctx) {
  const op_backend *o = m->ops;
  o->zero(ctx, m->grads, (size_t)m->reg.param_arena_numel * sizeof(float));
  o->zero(ctx, m->dweff, (size_t)(m->weff_numel ? m->weff_numel : 1) * sizeof(float));
  /* activation gradients are zeroed slot by slot during the walk (model_plan_backward); the
   * seeds here, before seed_gradients sets them */
  const plan *p = &m->train;
  for (int k = 0; k < p->n_seeds; k++) {
    tensor g = model_dslot(m, p, p->seeds[k], m->last_batch);
    o->zero(ctx, g.data, tensor_bytes(&g));
  }
}

void model_train_step(model *m, op_ctx *ctx, const model_batch *b, const model_objective *o,
                      model_losses *out) {
  const plan *p = &m->train;
  int B = b->batch, N = p->n_groups;
  NVAE_ASSERT(B >= 1 && B <= m->opt.max_batch, "batch %d, model built for at most %d", B,
              m->opt.max_batch);
  m->bn_train = 1;
  m->temperature = 1.0f;
  m->last_batch = B;

  /* forward */
  model_upload_input(m, ctx, p, b->x, B);
  model_fill_eps(m, ctx, p, B, b->sample_key, b->seed, b->step);
  model_weight_norm_forward(m, ctx);
  model_plan_forward(m, ctx, p, B, 0);

  /* objective, on the device: every step value but α starts at zero */
  m->ops->zero(ctx, m->stepv, (size_t)STEPV_ALPHA(N, 0) * sizeof(double));
  int iters = m->sr_initialized ? o->sr_iterations : 40; /* 40 on the first call (§3.4) */
  model_regularisers_forward(m, ctx, iters);
  m->sr_initialized = 1;
  objective_forward(m, ctx, B, o);
  if (out) {
    double *h = nvae_malloc((size_t)m->stepv_len * sizeof(double));
    m->ops->to_host(ctx, h, m->stepv, (size_t)m->stepv_len * sizeof(double));
    model_losses_from_values(m, h, out);
    free(h);
    for (int g = 0; g < N; g++)
      out->active_units[g] = o->skip_active_units ? 0 : active_units(m, ctx, g, B);
  }

  /* backward */
  /* The regularisers depend on the parameters alone: their gradients go in first, so that a
   * parameter's gradient is final at its last backward node and the trainer can all-reduce it
   * while backward goes on (model_grad_ready.c). */
  if (m->opt.hooks.phase) m->opt.hooks.phase(m->opt.hooks.phase_arg, MODEL_PHASE_BACKWARD);
  zero_gradients(m, ctx);
  seed_gradients(m, ctx, B, o->kl_beta);
  model_regularisers_backward(m, ctx, o->lambda);
  model_grad_ready_at(m, ctx, p->n_nodes);
  model_plan_backward(m, ctx, p, B); /* + weight-norm backward per conv, grad_ready hooks */
  m->ops->fence_record(ctx, m->inputs_free); /* the input slots are read for the last time */
  m->inputs_free_valid = 1;
}
