/* Weight normalisation on the GPU: see kernels/cpu/weight_norm.h (and weight_norm.c for the
 * backward formulas). One block per output row o: its norm / dot product is a double tree sum
 * over the row (deterministic), then the same block writes the row. */
#include "kernels/cpu/weight_norm.h"
#include "kernels/cuda/ops_common.cuh"

/* norm[o] = ‖u‖, u = v⊙mask; w = exp(log_g[o]) / (‖u‖ + eps) · u */
__global__ void wn_forward_kernel(const float *v, const float *log_g, const float *mask,
                                  int64_t cols, float *w, float *norm) {
  int64_t o = blockIdx.x;
  const float *vo = v + o * cols, *mo = mask ? mask + o * cols : nullptr;
  float *wo = w + o * cols;
  double ss = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    double u = mo ? (double)vo[j] * mo[j] : vo[j];
    ss += u * u;
  }
  ss = ops_block_sum_all(ss);
  double n = sqrt(ss);
  if (threadIdx.x == 0) norm[o] = (float)n;
  float scale = (float)(exp((double)log_g[o]) / (n + WEIGHT_NORM_EPS));
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
    wo[j] = scale * (mo ? vo[j] * mo[j] : vo[j]);
}

/* dlog_g += s·(dw·u);  dv += mask·(s·dw - eg/(n + eps)²·(dw·u)/n · u) */
__global__ void wn_backward_kernel(const float *v, const float *log_g, const float *mask,
                                   const float *norm, const float *dw, int64_t cols, float *dv,
                                   float *dlog_g) {
  int64_t o = blockIdx.x;
  const float *vo = v + o * cols, *mo = mask ? mask + o * cols : nullptr, *dwo = dw + o * cols;
  double dot = 0; /* dw · u */
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
    dot += (double)dwo[j] * (mo ? vo[j] * mo[j] : vo[j]);
  dot = ops_block_sum_all(dot);
  double n = norm[o], eg = exp((double)log_g[o]);
  double s = eg / (n + WEIGHT_NORM_EPS);
  if (dlog_g && threadIdx.x == 0) dlog_g[o] += (float)(s * dot);
  if (!dv) return;
  /* an all-masked row has u = 0: the norm term vanishes with it (and n = 0 must not divide) */
  double c = n > 0 ? eg / ((n + WEIGHT_NORM_EPS) * (n + WEIGHT_NORM_EPS)) * dot / n : 0.0;
  float *dvo = dv + o * cols;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    double u = mo ? (double)vo[j] * mo[j] : vo[j];
    double du = s * dwo[j] - c * u;
    dvo[j] += (float)(mo ? du * mo[j] : du);
  }
}

/* Rows = v's first extent; columns = every other element of a row. */
static void wn_shapes(const tensor *v, const tensor *log_g, const tensor *mask, const tensor *norm,
                      int64_t *rows, int64_t *cols) {
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

void cuda_weight_norm_forward(op_ctx *ctx, const tensor *v, const tensor *log_g, const tensor *mask,
                              tensor *w, tensor *norm_saved) {
  int64_t rows, cols;
  wn_shapes(v, log_g, mask, norm_saved, &rows, &cols);
  TENSOR_EXPECT_SAME(w, v);
  if (rows == 0) return;
  wn_forward_kernel<<<(unsigned)rows, ops_row_threads(cols), 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(v), tensor_f32(log_g), ops_opt_f32(mask), cols, tensor_f32(w),
      tensor_f32(norm_saved));
  CUDA_CHECK_LAUNCH();
}

void cuda_weight_norm_backward(op_ctx *ctx, const tensor *v, const tensor *log_g,
                               const tensor *mask, const tensor *norm_saved, const tensor *dw,
                               tensor *dv, tensor *dlog_g) {
  int64_t rows, cols;
  wn_shapes(v, log_g, mask, norm_saved, &rows, &cols);
  TENSOR_EXPECT_SAME(dw, v);
  if (dv) TENSOR_EXPECT_SAME(dv, v);
  if (dlog_g)
    NVAE_ASSERT(tensor_numel(dlog_g) == rows, "weight_norm: dlog_g has %lld elements, want %lld",
                (long long)tensor_numel(dlog_g), (long long)rows);
  if (rows == 0 || (!dv && !dlog_g)) return;
  wn_backward_kernel<<<(unsigned)rows, ops_row_threads(cols), 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(v), tensor_f32(log_g), ops_opt_f32(mask), tensor_f32(norm_saved), tensor_f32(dw),
      cols, ops_opt_f32(dv), ops_opt_f32(dlog_g));
  CUDA_CHECK_LAUNCH();
}
