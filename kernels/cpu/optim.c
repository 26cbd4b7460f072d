/* Optimizer steps and gradient statistics on the CPU: see optim.h. */
#include "kernels/cpu/optim.h"

#include <math.h>

#define PAR_MIN 65536
#define NORM_BLOCK 8192 /* grad_norm_sq: partial sums per block, then summed in block order */

static int64_t check_flat(const tensor *param, const tensor *grad, const tensor *s1,
                          const tensor *s2) {
  int64_t n = tensor_numel(param);
  NVAE_ASSERT(tensor_numel(grad) == n && tensor_numel(s1) == n && tensor_numel(s2) == n,
              "optimizer: param has %lld elements, grad %lld, state %lld and %lld", (long long)n,
              (long long)tensor_numel(grad), (long long)tensor_numel(s1),
              (long long)tensor_numel(s2));
  return n;
}

void adamax_step_cpu(op_ctx *ctx, const adamax_params *p, tensor *param, const tensor *grad,
                     tensor *m, tensor *u) {
  NVAE_ASSERT(p->step >= 1, "adamax: step is 1-based, got %d", p->step);
  int64_t n = check_flat(param, grad, m, u);
  float *th = tensor_f32(param), *pm = tensor_f32(m), *pu = tensor_f32(u);
  const float *g = tensor_f32(grad);
  float b1 = (float)p->beta1, b2 = (float)p->beta2, eps = (float)p->eps;
  float c1 = (float)(1.0 - p->beta1); /* complements in double: 1 - 0.999f is 1.3e-5 off */
  float wd = (float)p->weight_decay;
  float clr = (float)(p->lr / (1.0 - pow(p->beta1, p->step)));
  if (p->gate && p->gate[0] > 0) return;
  const float gs = p->gate ? (float)p->gate[1] : 1.0f;
#pragma omp parallel for if (n > PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    float gi = g[i] * gs + wd * th[i];
    pm[i] = b1 * pm[i] + c1 * gi;
    pu[i] = fmaxf(b2 * pu[i], fabsf(gi) + eps);
    th[i] -= clr * (pm[i] / pu[i]);
  }
}

void adam_step_cpu(op_ctx *ctx, const adam_params *p, tensor *param, const tensor *grad, tensor *m,
                   tensor *v) {
  NVAE_ASSERT(p->step >= 1, "adam: step is 1-based, got %d", p->step);
  int64_t n = check_flat(param, grad, m, v);
  float *th = tensor_f32(param), *pm = tensor_f32(m), *pv = tensor_f32(v);
  const float *g = tensor_f32(grad);
  float b1 = (float)p->beta1, b2 = (float)p->beta2, eps = (float)p->eps;
  float c1 = (float)(1.0 - p->beta1), c2 = (float)(1.0 - p->beta2);
  float wd = (float)p->weight_decay;
  float step_size = (float)(p->lr / (1.0 - pow(p->beta1, p->step)));
  float bc2_sqrt = (float)sqrt(1.0 - pow(p->beta2, p->step));
  if (p->gate && p->gate[0] > 0) return;
  const float gs = p->gate ? (float)p->gate[1] : 1.0f;
#pragma omp parallel for if (n > PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    float gi = g[i] * gs + wd * th[i];
    pm[i] = b1 * pm[i] + c1 * gi;
    pv[i] = b2 * pv[i] + c2 * gi * gi;
    float denom = sqrtf(pv[i]) / bc2_sqrt + eps;
    th[i] -= step_size * (pm[i] / denom);
  }
}

double grad_norm_sq_cpu(op_ctx *ctx, const tensor *g) {
  const float *x = tensor_f32(g);
  int64_t n = tensor_numel(g);
  int64_t nb = (n + NORM_BLOCK - 1) / NORM_BLOCK;
  if (nb == 0) return 0.0;
  double *part = op_ctx_scratch(ctx, (size_t)nb * sizeof(double));
#pragma omp parallel for if (nb > 8)
  for (int64_t b = 0; b < nb; b++) {
    int64_t lo = b * NORM_BLOCK, hi = lo + NORM_BLOCK < n ? lo + NORM_BLOCK : n;
    double s = 0;
    for (int64_t i = lo; i < hi; i++) s += (double)x[i] * x[i];
    part[b] = s;
  }
  double total = 0;
  for (int64_t b = 0; b < nb; b++) total += part[b];
  return total;
}

int64_t nonfinite_count_cpu(op_ctx *ctx, const tensor *x) {
  const float *p = tensor_f32(x);
  int64_t n = tensor_numel(x), bad = 0;
#pragma omp parallel for reduction(+ : bad) if (n > PAR_MIN)
  for (int64_t i = 0; i < n; i++) bad += !isfinite(p[i]);
  return bad;
}
