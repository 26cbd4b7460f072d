/* Spectral regularisation and BN regulariser on the CPU: see spectral.h.
 * Matrix-vector products accumulate in double in a fixed order: the power iteration must give the
 * same bits on every run (u, v are checkpointed state), whatever the thread count. */
#include "kernels/cpu/spectral.h"

#include <math.h>
#include <string.h>

static void normalize_f32(float *a, int64_t n) {
  double ss = 0;
  for (int64_t i = 0; i < n; i++) ss += (double)a[i] * a[i];
  float inv = (float)(1.0 / fmax(sqrt(ss), (double)SPECTRAL_NORM_FLOOR));
  for (int64_t i = 0; i < n; i++) a[i] *= inv;
}

void spectral_normalize_cpu(op_ctx *ctx, tensor *a) {
  normalize_f32(tensor_f32(a), tensor_numel(a));
}

void spectral_power_iteration_cpu(op_ctx *ctx, const tensor *W, tensor *u, tensor *v, int iters) {
  TENSOR_EXPECT_2D(W, -1, -1);
  int64_t rows = W->shape[0], cols = W->shape[1];
  TENSOR_EXPECT_1D(u, rows);
  TENSOR_EXPECT_1D(v, cols);
  const float *w = tensor_f32(W);
  float *pu = tensor_f32(u), *pv = tensor_f32(v);
  double *acc = op_ctx_scratch(ctx, (size_t)cols * sizeof(double));
  for (int it = 0; it < iters; it++) {
    /* v <- W^T u: walk W by rows (contiguous) and accumulate into every column */
    memset(acc, 0, (size_t)cols * sizeof(double));
    for (int64_t r = 0; r < rows; r++) {
      const float *wr = w + r * cols;
      double ur = pu[r];
      for (int64_t c = 0; c < cols; c++) acc[c] += ur * wr[c];
    }
    for (int64_t c = 0; c < cols; c++) pv[c] = (float)acc[c];
    normalize_f32(pv, cols);
    /* u <- W v: one independent dot product per row */
#pragma omp parallel for if (rows * cols > 262144)
    for (int64_t r = 0; r < rows; r++) {
      const float *wr = w + r * cols;
      double d = 0;
      for (int64_t c = 0; c < cols; c++) d += (double)wr[c] * pv[c];
      pu[r] = (float)d;
    }
    normalize_f32(pu, rows);
  }
}

void spectral_sigma_forward_cpu(op_ctx *ctx, const tensor *W, const tensor *u, const tensor *v,
                                tensor *sigma) {
  TENSOR_EXPECT_2D(W, -1, -1);
  int64_t rows = W->shape[0], cols = W->shape[1];
  TENSOR_EXPECT_1D(u, rows);
  TENSOR_EXPECT_1D(v, cols);
  TENSOR_EXPECT_1D(sigma, 1);
  const float *w = tensor_f32(W), *pu = tensor_f32(u), *pv = tensor_f32(v);
  double s = 0;
  for (int64_t r = 0; r < rows; r++) {
    double d = 0;
    for (int64_t c = 0; c < cols; c++) d += (double)w[r * cols + c] * pv[c];
    s += (double)pu[r] * d;
  }
  tensor_f32(sigma)[0] = (float)s;
}

void spectral_sigma_backward_cpu(op_ctx *ctx, const tensor *u, const tensor *v,
                                 const tensor *dsigma, tensor *dW) {
  TENSOR_EXPECT_1D(u, -1);
  TENSOR_EXPECT_1D(v, -1);
  int64_t rows = u->shape[0], cols = v->shape[0];
  TENSOR_EXPECT_2D(dW, rows, cols);
  TENSOR_EXPECT_1D(dsigma, 1);
  const float *pu = tensor_f32(u), *pv = tensor_f32(v);
  float g = tensor_f32(dsigma)[0];
  float *dw = tensor_f32(dW);
#pragma omp parallel for if (rows * cols > 262144)
  for (int64_t r = 0; r < rows; r++) {
    float gu = g * pu[r];
    for (int64_t c = 0; c < cols; c++) dw[r * cols + c] += gu * pv[c];
  }
}

static float max_abs(const float *g, int64_t n) {
  float m = 0;
  for (int64_t k = 0; k < n; k++) m = fmaxf(m, fabsf(g[k]));
  return m;
}

void bn_max_abs_forward_cpu(op_ctx *ctx, const tensor *gamma, tensor *out) {
  TENSOR_EXPECT_1D(gamma, -1);
  TENSOR_EXPECT_1D(out, 1);
  tensor_f32(out)[0] = max_abs(tensor_f32(gamma), gamma->shape[0]);
}

void bn_max_abs_backward_cpu(op_ctx *ctx, const tensor *gamma, const tensor *dout, tensor *dgamma) {
  TENSOR_EXPECT_1D(gamma, -1);
  TENSOR_EXPECT_1D(dout, 1);
  TENSOR_EXPECT_SAME(dgamma, gamma);
  const float *g = tensor_f32(gamma);
  float *dg = tensor_f32(dgamma);
  int64_t n = gamma->shape[0];
  float m = max_abs(g, n);
  int64_t ties = 0;
  for (int64_t k = 0; k < n; k++) ties += fabsf(g[k]) == m;
  float share = tensor_f32(dout)[0] / (float)ties;
  for (int64_t k = 0; k < n; k++)
    if (fabsf(g[k]) == m) dg[k] += g[k] > 0 ? share : (g[k] < 0 ? -share : 0.0f);
}
