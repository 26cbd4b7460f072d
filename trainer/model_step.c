/* One training step (NVAE.md §3): forward over the plan, the objective
 *   loss = mean_b(recon_b + β·Σ_g γ_g·KL_bg) + λ·(SR + BNreg),
 * and the backward walk that writes ∂loss/∂θ into the gradient arena. */
#include "trainer/model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Uploads x and x̃ = 2x − 1 (the stem's and the Normal decoder's input) for a plan. */
void model_upload_input(model *m, op_ctx *ctx, const plan *p, const float *x, int batch) {
  tensor tx = model_slot(m, p, p->x_in, batch), tt = model_slot(m, p, p->xt, batch);
  int64_t n = tensor_numel(&tx);
  float *h = nvae_malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++)
    h[i] = 2.0f * x[i] - 1.0f;
  m->ops->from_host(ctx, tx.data, x, (size_t)n * sizeof(float));
  m->ops->from_host(ctx, tt.data, h, (size_t)n * sizeof(float));
  free(h);
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

/* Seeds ∂loss/∂(Σ log p) = −1/B per image and ∂loss/∂KL_bg = β·γ_g/B. */
static void seed_gradients(model *m, op_ctx *ctx, int batch, double beta, const double *gamma) {
  const plan *p = &m->train;
  float *h = nvae_malloc((size_t)batch * sizeof(float));
  for (int b = 0; b < batch; b++)
    h[b] = (float)(-1.0 / batch);
  tensor d = model_dslot(m, p, p->logp_sum, batch);
  m->ops->from_host(ctx, d.data, h, (size_t)batch * sizeof(float));
  for (int g = 0; g < p->n_groups; g++) {
    for (int b = 0; b < batch; b++)
      h[b] = (float)(beta * gamma[g] / batch);
    d = model_dslot(m, p, p->kl_b[g], batch);
    m->ops->from_host(ctx, d.data, h, (size_t)batch * sizeof(float));
  }
  free(h);
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

  /* objective */
  double sr, bnreg;
  int iters = m->sr_initialized ? o->sr_iterations : 40; /* 40 on the first call (§3.4) */
  model_regularisers_forward(m, ctx, iters, &sr, &bnreg);
  m->sr_initialized = 1;

  double *recon = nvae_malloc((size_t)B * sizeof(double));
  double *kl = nvae_malloc((size_t)B * N * sizeof(double));
  double gamma[MODEL_MAX_GROUPS];
  model_read_terms(m, ctx, p, B, recon, kl);
  int balance = o->kl_balance && o->kl_beta < 1.0;
  if (balance)
    model_kl_gamma(m, kl, B, gamma);
  else
    for (int g = 0; g < N; g++)
      gamma[g] = 1.0;

  memset(out, 0, sizeof *out);
  double main_term = 0, rec = 0, kl_tot = 0;
  for (int bi = 0; bi < B; bi++) {
    double klw = 0;
    for (int g = 0; g < N; g++) {
      double v = kl[(int64_t)bi * N + g];
      klw += gamma[g] * v;
      kl_tot += v;
      out->kl_group[g] += v / B;
    }
    main_term += recon[bi] + o->kl_beta * klw;
    rec += recon[bi];
  }
  out->recon = rec / B;
  out->kl = kl_tot / B;
  out->nelbo = out->recon + out->kl;
  out->bpd = out->nelbo / (model_num_output(m) * log(2.0));
  out->sr = sr;
  out->bnreg = bnreg;
  out->loss = main_term / B + o->lambda * (sr + bnreg);
  out->n_groups = N;
  for (int g = 0; g < N; g++) {
    out->kl_coeff[g] = gamma[g];
    out->active_units[g] = o->skip_active_units ? 0 : active_units(m, ctx, g, B);
  }

  /* backward */
  /* The regularisers depend on the parameters alone: their gradients go in first, so that a
   * parameter's gradient is final at its last backward node and the trainer can all-reduce it
   * while backward goes on (model_grad_ready.c). */
  if (m->opt.hooks.phase) m->opt.hooks.phase(m->opt.hooks.phase_arg, MODEL_PHASE_BACKWARD);
  zero_gradients(m, ctx);
  seed_gradients(m, ctx, B, o->kl_beta, gamma);
  model_regularisers_backward(m, ctx, o->lambda);
  model_grad_ready_at(m, ctx, p->n_nodes);
  model_plan_backward(m, ctx, p, B); /* + weight-norm backward per conv, grad_ready hooks */
  free(recon);
  free(kl);
}
