/* Evaluation (NVAE.md §8.1) and reconstruction: eval-mode BN, no gradients.
 *   nelbo_k = recon + Σ_g KL_g;  log w_k = −recon − log q(z|x) + log p(z)  (all groups, flows'
 *   log det 0, the top prior N(0, 1.01²) included);  log p̂(x) = logsumexp_k log w_k − log K.
 * The IW sample k draws its ε with Philox step b->step + k. */
#include "trainer/model_internal.h"

#include <math.h>
#include <stdlib.h>

static void eval_forward(model *m, op_ctx *ctx, const model_batch *b, uint32_t step, int with_iw) {
  const plan *p = &m->train;
  m->bn_train = 0;
  m->temperature = 1.0f;
  m->last_batch = b->batch;
  model_upload_input(m, ctx, p, b->x, b->batch);
  model_fill_eps(m, ctx, p, b->batch, b->sample_key, b->seed, step);
  model_weight_norm_forward(m, ctx);
  model_plan_forward(m, ctx, p, b->batch, with_iw);
}

/* Σ over groups of a per-image [B] term (log q or log p) into acc. */
static void add_group_sums(model *m, op_ctx *ctx, const int *slots, int B, float *tmp,
                           double *acc) {
  for (int g = 0; g < m->train.n_groups; g++) {
    model_slot_to_host(m, ctx, &m->train, slots[g], B, tmp);
    for (int b = 0; b < B; b++)
      acc[b] += tmp[b];
  }
}

void model_eval_batch(model *m, op_ctx *ctx, const model_batch *b, int iw_samples, double *nelbo,
                      double *log_px) {
  int B = b->batch, N = m->train.n_groups, K = iw_samples > 0 ? iw_samples : 1;
  NVAE_ASSERT(B >= 1 && B <= m->opt.max_batch, "batch %d, model built for at most %d", B,
              m->opt.max_batch);
  double *recon = nvae_malloc((size_t)B * sizeof(double));
  double *kl = nvae_malloc((size_t)B * N * sizeof(double));
  double *lw = nvae_malloc((size_t)B * K * sizeof(double)); /* log w [b, k] */
  double *lq = nvae_malloc((size_t)B * sizeof(double)),
         *lp = nvae_malloc((size_t)B * sizeof(double));
  float *tmp = nvae_malloc((size_t)B * sizeof(float));
  for (int bi = 0; bi < B; bi++)
    nelbo[bi] = 0;
  for (int k = 0; k < K; k++) {
    eval_forward(m, ctx, b, b->step + (uint32_t)k, 1);
    model_read_terms(m, ctx, &m->train, B, recon, kl);
    for (int bi = 0; bi < B; bi++)
      lq[bi] = lp[bi] = 0;
    add_group_sums(m, ctx, m->train.logq_b, B, tmp, lq);
    add_group_sums(m, ctx, m->train.logp_b, B, tmp, lp);
    for (int bi = 0; bi < B; bi++) {
      double s = 0;
      for (int g = 0; g < N; g++)
        s += kl[(int64_t)bi * N + g];
      nelbo[bi] += (recon[bi] + s) / K;
      lw[(int64_t)bi * K + k] = -recon[bi] - lq[bi] + lp[bi];
    }
  }
  for (int bi = 0; bi < B; bi++) { /* logsumexp over k, minus log K */
    const double *w = lw + (int64_t)bi * K;
    double mx = w[0];
    for (int k = 1; k < K; k++)
      mx = w[k] > mx ? w[k] : mx;
    double s = 0;
    for (int k = 0; k < K; k++)
      s += exp(w[k] - mx);
    log_px[bi] = mx + log(s) - log((double)K);
  }
  free(recon);
  free(kl);
  free(lw);
  free(lq);
  free(lp);
  free(tmp);
}

void model_reconstruct(model *m, op_ctx *ctx, const model_batch *b, float *x_out) {
  eval_forward(m, ctx, b, b->step, 0);
  model_decode_mean(m, ctx, &m->train, b->batch, x_out);
}
