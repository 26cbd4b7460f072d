/* Weight normalisation on the CPU: see weight_norm.h.
 *
 * Backward, per row o with u = v⊙mask, n = ‖u‖, s = exp(log_g)/(n + eps), w = s·u:
 *   dlog_g   = Σ_j dw_j w_j = s · (dw·u)
 *   dL/du_j  = s · dw_j − exp(log_g)/(n + eps)² · (dw·u) · u_j / n
 *   dv_j    += mask_j · dL/du_j
 * Norms and dot products are summed in double: a row has up to Cin·k·k ≈ 10^4 terms.
 */
#include "kernels/cpu/weight_norm.h"

#include <math.h>

/* Rows = v's first extent; columns = every other element of a row. */
static void check_shapes(const tensor *v, const tensor *log_g, const tensor *mask,
                         const tensor *norm, int64_t *rows, int64_t *cols) {
  NVAE_ASSERT(v->ndim >= 1, "weight_norm: v has no dims");
  *rows = v->shape[0];
  *cols = *rows > 0 ? tensor_numel(v) / *rows : 0;
  NVAE_ASSERT(tensor_numel(log_g) == *rows, "weight_norm: log_g has %lld elements, v has %lld rows",
              (long long)tensor_numel(log_g), (long long)*rows);
  NVAE_ASSERT(tensor_numel(norm) == *rows,
              "weight_norm: norm_saved has %lld elements, v has %lld rows",
              (long long)tensor_numel(norm), (long long)*rows);
  if (mask) TENSOR_EXPECT_SAME(mask, v);
}

void weight_norm_forward_cpu(op_ctx *ctx, const tensor *v, const tensor *log_g, const tensor *mask,
                             tensor *w, tensor *norm_saved) {
  int64_t rows, cols;
  check_shapes(v, log_g, mask, norm_saved, &rows, &cols);
  TENSOR_EXPECT_SAME(w, v);
  const float *vv = tensor_f32(v), *g = tensor_f32(log_g);
  const float *m = mask ? tensor_f32(mask) : NULL;
  float *wv = tensor_f32(w), *norm = tensor_f32(norm_saved);
  for (int64_t o = 0; o < rows; o++) {
    const float *vo = vv + o * cols, *mo = m ? m + o * cols : NULL;
    float *wo = wv + o * cols;
    double ss = 0;
    for (int64_t j = 0; j < cols; j++) {
      double u = mo ? (double)vo[j] * mo[j] : vo[j];
      ss += u * u;
    }
    double n = sqrt(ss);
    norm[o] = (float)n;
    float scale = (float)(exp((double)g[o]) / (n + WEIGHT_NORM_EPS));
    for (int64_t j = 0; j < cols; j++)
      wo[j] = scale * (mo ? vo[j] * mo[j] : vo[j]);
  }
}

void weight_norm_backward_cpu(op_ctx *ctx, const tensor *v, const tensor *log_g, const tensor *mask,
                              const tensor *norm_saved, const tensor *dw, tensor *dv,
                              tensor *dlog_g) {
  int64_t rows, cols;
  check_shapes(v, log_g, mask, norm_saved, &rows, &cols);
  TENSOR_EXPECT_SAME(dw, v);
  if (dv) TENSOR_EXPECT_SAME(dv, v);
  if (dlog_g)
    NVAE_ASSERT(tensor_numel(dlog_g) == rows, "weight_norm: dlog_g has %lld elements, want %lld",
                (long long)tensor_numel(dlog_g), (long long)rows);
  const float *vv = tensor_f32(v), *g = tensor_f32(log_g), *norm = tensor_f32(norm_saved);
  const float *m = mask ? tensor_f32(mask) : NULL, *dwv = tensor_f32(dw);
  float *dvv = dv ? tensor_f32(dv) : NULL, *dg = dlog_g ? tensor_f32(dlog_g) : NULL;
  for (int64_t o = 0; o < rows; o++) {
    const float *vo = vv + o * cols, *mo = m ? m + o * cols : NULL, *dwo = dwv + o * cols;
    double dot = 0; /* dw · u */
    for (int64_t j = 0; j < cols; j++)
      dot += (double)dwo[j] * (mo ? vo[j] * mo[j] : vo[j]);
    double n = norm[o], eg = exp((double)g[o]);
    double s = eg / (n + WEIGHT_NORM_EPS);
    if (dg) dg[o] += (float)(s * dot);
    if (!dvv) continue;
    /* an all-masked row has u = 0: the norm term vanishes with it (and n = 0 must not divide) */
    double c = n > 0 ? eg / ((n + WEIGHT_NORM_EPS) * (n + WEIGHT_NORM_EPS)) * dot / n : 0.0;
    float *dvo = dvv + o * cols;
    for (int64_t j = 0; j < cols; j++) {
      double u = mo ? (double)vo[j] * mo[j] : vo[j];
      double du = s * dwo[j] - c * u;
      dvo[j] += (float)(mo ? du * mo[j] : du);
    }
  }
}
