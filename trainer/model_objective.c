/* The regularisers and the KL balancing of the objective (NVAE.md §3.3-3.5):
 *   SR    = Σ over every conv layer of σ̂ = uᵀ W v, W the effective weight as [Cout, Cin/g·k·k],
 *           u, v persistent and refreshed by power iterations (40 on the first call, then 4);
 *   BNreg = Σ over BN layers of max_k |γ_k|;
 *   γ_g   = r_g / mean(r), r_g = (mean_b |KL_bg| + 0.01) / α_g, α by the 'square' rule.
 * Their gradients (λ·u vᵀ into the effective weight, λ·sign at the arg-max γ) are added here; the
 * effective-weight gradient then flows through weight normalisation into V and log g. The γ_g
 * themselves are computed on the device by the objective_combine op (kernels/cpu/objective.h)
 * from the α_g below (model_step.c).
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

void model_regularisers_forward(model *m, op_ctx *ctx, int iterations) {
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
  /* the sums in conv then BN order, as one double each, on the device */
  tensor sig = tensor_on(tensor_1d(m->scal, r->n_convs), m->device);
  tensor bn = tensor_on(tensor_1d(m->scal + scal_bn(m), r->n_bns), m->device);
  m->ops->reduce_to_scalar(ctx, &sig, SCALAR_SUM, 1.0, m->stepv + STEPV_SR);
  m->ops->reduce_to_scalar(ctx, &bn, SCALAR_SUM, 1.0, m->stepv + STEPV_BNREG);
}

void model_regularisers_backward(model *m, op_ctx *ctx, double lambda) {
  const registry *r = &m->reg;
  tensor dlam = tensor_on(tensor_1d(m->scal + scal_lambda(m), 1), m->device);
  m->ops->fill_from_scalar(ctx, NULL, lambda, &dlam); /* (float)λ, queued: no host wait */
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
