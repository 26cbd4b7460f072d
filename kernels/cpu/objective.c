/* Step values on the CPU: see objective.h. */
#include "kernels/cpu/objective.h"

#include <math.h>

#define SCALAR_BLOCK 8192 /* the blocks of grad_norm_sq_cpu (optim.c) */

static double reduce_elem(scalar_reduce f, float x) {
  switch (f) {
  case SCALAR_ABS: return fabs((double)x);
  case SCALAR_SQUARE: return (double)x * x;
  case SCALAR_NONFINITE: return isfinite(x) ? 0.0 : 1.0;
  case SCALAR_COUNT: return 1.0;
  default: return (double)x;
  }
}

void reduce_to_scalar_cpu(op_ctx *ctx, const tensor *x, scalar_reduce f, double scale,
                          double *out) {
  const float *p = tensor_f32(x);
  int64_t n = tensor_numel(x), nb = (n + SCALAR_BLOCK - 1) / SCALAR_BLOCK;
  if (nb == 0) return;
  double *part = op_ctx_scratch(ctx, (size_t)nb * sizeof(double));
#pragma omp parallel for if (nb > 8)
  for (int64_t b = 0; b < nb; b++) {
    int64_t lo = b * SCALAR_BLOCK, hi = lo + SCALAR_BLOCK < n ? lo + SCALAR_BLOCK : n;
    double s = 0;
    for (int64_t i = lo; i < hi; i++) s += reduce_elem(f, p[i]);
    part[b] = s;
  }
  double total = 0;
  for (int64_t b = 0; b < nb; b++) total += part[b];
  out[0] += scale * total;
}

void fill_from_scalar_cpu(op_ctx *ctx, const double *s, double scale, tensor *y) {
  float v = (float)(scale * (s ? s[0] : 1.0));
  float *p = tensor_f32(y);
  int64_t n = tensor_numel(y);
  for (int64_t i = 0; i < n; i++) p[i] = v;
}

void objective_combine_cpu(op_ctx *ctx, const objective_params *p, double *v) {
  const int N = p->n_groups;
  NVAE_ASSERT(N >= 1, "objective_combine: %d groups", N);
  if (p->balance) {
    double mean_r = 0;
    for (int g = 0; g < N; g++) {
      v[STEPV_GAMMA(N, g)] = (v[STEPV_KL_ABS(N, g)] / v[STEPV_COUNT(N)] + 0.01) /
                             v[STEPV_ALPHA(N, g)];
      mean_r += v[STEPV_GAMMA(N, g)] / N;
    }
    for (int g = 0; g < N; g++) v[STEPV_GAMMA(N, g)] /= mean_r;
  } else {
    for (int g = 0; g < N; g++) v[STEPV_GAMMA(N, g)] = 1.0;
  }
  double kl = 0, klw = 0;
  for (int g = 0; g < N; g++) {
    kl += v[STEPV_KL_MEAN(N, g)];
    klw += v[STEPV_GAMMA(N, g)] * v[STEPV_KL_MEAN(N, g)];
  }
  v[STEPV_KL] = kl;
  v[STEPV_NELBO] = v[STEPV_RECON] + kl;
  v[STEPV_BPD] = v[STEPV_NELBO] / (p->num_output * log(2.0));
  v[STEPV_LOSS] = v[STEPV_RECON] + p->beta * klw + p->lambda * (v[STEPV_SR] + v[STEPV_BNREG]);
}

void optim_gate_cpu(op_ctx *ctx, double grad_clip, double *v) {
  double norm = sqrt(v[STEPV_GNORM_SQ]);
  v[STEPV_GNORM] = norm;
  v[STEPV_SCALE] = grad_clip > 0 && norm > grad_clip ? (double)(float)(grad_clip / (norm + 1e-6))
                                                     : 1.0;
}
