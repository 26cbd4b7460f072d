/* The regularisers and the KL balancing of the objective (NVAE.md §3.3-3.5):
 *   SR    = Σ over every conv layer of σ̂ = uᵀ W v, W the effective weight as [Cout, Cin/g·k·k],
 *           u, v persistent and refreshed by power iterations (40 on the first call, then 4);
 *   BNreg = Σ over BN layers of max_k |γ_k|;
 *   γ_g   = r_g / mean(r), r_g = (mean_b |KL_bg| + 0.01) / α_g, α by the 'square' rule.
 * Their gradients (λ·u vᵀ into the effective weight, λ·sign at the arg-max γ) are added here; the
 * effective-weight gradient then flows through weight normalisation into V and log g.
 */
#include "trainer/model_internal.h"

#include <math.h>
#include <stdlib.h>

static int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

/* Offsets into m->scal: σ̂ per conv, then max|γ| per BN, then the scalar λ. */
static int64_t scal_bn(const model *m) { return round16(m->reg.n_convs); }
static int64_t scal_lambda(const model *m) { return scal_bn(m) + round16(m->reg.n_bns); }

typedef struct sr_views {
  tensor W, dW, u, v;
} sr_views;

static sr_views sr_get(model *m, int conv, int64_t off) {
  const reg_conv *c = &m->reg.convs[conv];
  sr_views s;
  tensor w = model_conv_weight(m, conv), dw = model_conv_dweight(m, conv);
  s.W = tensor_on(tensor_2d(w.data, c->sr_rows, c->sr_cols), m->device);
  s.dW = tensor_on(tensor_2d(dw.data, c->sr_rows, c->sr_cols), m->device);
  s.u = tensor_on(tensor_1d(m->sr + off, c->sr_rows), m->device);
  s.v = tensor_on(tensor_1d(m->sr + off + c->sr_rows, c->sr_cols), m->device);
  return s;
}

void model_regularisers_forward(model *m, op_ctx *ctx, int iterations, double *sr, double *bnreg) {
  const registry *r = &m->reg;
  int64_t off = 0;
  for (int i = 0; i < r->n_convs; i++) {
    sr_views s = sr_get(m, i, off);
    tensor sig = tensor_on(tensor_1d(m->scal + i, 1), m->device);
    if (iterations > 0) m->ops->spectral_power_iteration(ctx, &s.W, &s.u, &s.v, iterations);
    m->ops->spectral_sigma_forward(ctx, &s.W, &s.u, &s.v, &sig);
    off += r->convs[i].sr_rows + r->convs[i].sr_cols;
  }
  for (int j = 0; j < r->n_bns; j++) {
    tensor g = model_param(m, r->bns[j].weight);
    tensor out = tensor_on(tensor_1d(m->scal + scal_bn(m) + j, 1), m->device);
    m->ops->bn_max_abs_forward(ctx, &g, &out);
  }
  float *h = nvae_malloc((size_t)m->scal_numel * sizeof(float));
  m->ops->to_host(ctx, h, m->scal, (size_t)m->scal_numel * sizeof(float));
  double s = 0, b = 0;
  for (int i = 0; i < r->n_convs; i++)
    s += h[i];
  for (int j = 0; j < r->n_bns; j++)
    b += h[scal_bn(m) + j];
  free(h);
  *sr = s;
  *bnreg = b;
}

void model_regularisers_backward(model *m, op_ctx *ctx, double lambda) {
  const registry *r = &m->reg;
  float lam = (float)lambda;
  m->ops->from_host(ctx, m->scal + scal_lambda(m), &lam, sizeof lam);
  tensor dlam = tensor_on(tensor_1d(m->scal + scal_lambda(m), 1), m->device);
  int64_t off = 0;
  for (int i = 0; i < r->n_convs; i++) {
    sr_views s = sr_get(m, i, off);
    m->ops->spectral_sigma_backward(ctx, &s.u, &s.v, &dlam, &s.dW);
    off += r->convs[i].sr_rows + r->convs[i].sr_cols;
  }
  for (int j = 0; j < r->n_bns; j++) {
    tensor g = model_param(m, r->bns[j].weight), dg = model_grad(m, r->bns[j].weight);
    m->ops->bn_max_abs_backward(ctx, &g, &dlam, &dg);
  }
}

void model_kl_alpha(const model_arch *a, double *alpha) {
  int gps[MODEL_ARCH_MAX_SCALES];
  model_arch_groups_per_scale(a, gps);
  int S = a->num_latent_scales, k = 0;
  double mn = INFINITY;
  for (int i = 0; i < S; i++) { /* decoder scale i (coarsest first) has gps[S−1−i] groups */
    int n = gps[S - 1 - i];
    for (int g = 0; g < n; g++, k++) {
      alpha[k] = pow(4.0, i) / n;
      if (alpha[k] < mn) mn = alpha[k];
    }
  }
  for (int g = 0; g < k; g++)
    alpha[g] /= mn;
}

void model_kl_gamma(model *m, const double *kl, int batch, double *gamma) {
  int N = m->reg.n_groups;
  double *sum = nvae_calloc((size_t)N + 1, sizeof(double)); /* Σ_b |KL_bg|, then the count */
  for (int b = 0; b < batch; b++)
    for (int g = 0; g < N; g++)
      sum[g] += fabs(kl[(int64_t)b * N + g]);
  sum[N] = batch;
  /* the global scope: every rank's γ from the whole global batch */
  if (m->opt.kl_balance_global && m->opt.hooks.allreduce_sum)
    m->opt.hooks.allreduce_sum(m->opt.hooks.arg, sum, N + 1);
  double mean_r = 0;
  for (int g = 0; g < N; g++) {
    gamma[g] = (sum[g] / sum[N] + 0.01) / m->kl_alpha[g];
    mean_r += gamma[g] / N;
  }
  for (int g = 0; g < N; g++)
    gamma[g] /= mean_r;
  free(sum);
}
