/* Per-sample reductions on the CPU: see reduce.h. */
#include "kernels/cpu/reduce.h"

/* Elements per sample of x [N, ...]. */
static int64_t per_sample(const tensor *x) {
  NVAE_ASSERT(x->ndim >= 1 && x->shape[0] > 0, "reduction over an empty batch");
  return tensor_numel(x) / x->shape[0];
}

void sum_per_sample_forward_cpu(op_ctx *ctx, const tensor *x, tensor *y) {
  int64_t N = x->shape[0], k = per_sample(x);
  TENSOR_EXPECT_1D(y, N);
  const float *px = tensor_f32(x);
  float *py = tensor_f32(y);
#pragma omp parallel for if (N * k > 65536)
  for (int64_t n = 0; n < N; n++) {
    double s = 0;
    for (int64_t i = 0; i < k; i++) s += px[n * k + i];
    py[n] = (float)s;
  }
}

void sum_per_sample_backward_cpu(op_ctx *ctx, const tensor *dy, tensor *dx) {
  int64_t N = dx->shape[0], k = per_sample(dx);
  TENSOR_EXPECT_1D(dy, N);
  const float *g = tensor_f32(dy);
  float *p = tensor_f32(dx);
#pragma omp parallel for if (N * k > 65536)
  for (int64_t n = 0; n < N; n++)
    for (int64_t i = 0; i < k; i++) p[n * k + i] += g[n];
}

typedef struct region_geom {
  int64_t N, C, H, W; /* C = 1 for [N, H, W] */
} region_geom;

static region_geom region_check(const tensor *x, int y0, int x0, int h, int w) {
  NVAE_ASSERT(x->ndim == 3 || x->ndim == 4,
              "sum_region_per_sample: x must be [N, C, H, W] or [N, H, W], got %d dims", x->ndim);
  region_geom g = {x->shape[0], x->ndim == 4 ? x->shape[1] : 1, x->shape[x->ndim - 2],
                   x->shape[x->ndim - 1]};
  NVAE_ASSERT(y0 >= 0 && x0 >= 0 && h >= 0 && w >= 0 && y0 + h <= g.H && x0 + w <= g.W,
              "sum_region_per_sample: window (y0 %d, x0 %d, h %d, w %d) outside a %lldx%lld image",
              y0, x0, h, w, (long long)g.H, (long long)g.W);
  return g;
}

void sum_region_per_sample_forward_cpu(op_ctx *ctx, const tensor *x, int y0, int x0, int h, int w,
                                       tensor *y) {
  region_geom g = region_check(x, y0, x0, h, w);
  TENSOR_EXPECT_1D(y, g.N);
  const float *px = tensor_f32(x);
  float *py = tensor_f32(y);
#pragma omp parallel for if (g.N * g.C * h * w > 65536)
  for (int64_t n = 0; n < g.N; n++) {
    double s = 0;
    for (int64_t c = 0; c < g.C; c++)
      for (int64_t r = y0; r < y0 + h; r++) {
        const float *row = px + ((n * g.C + c) * g.H + r) * g.W;
        for (int64_t q = x0; q < x0 + w; q++) s += row[q];
      }
    py[n] = (float)s;
  }
}

void sum_region_per_sample_backward_cpu(op_ctx *ctx, int y0, int x0, int h, int w, const tensor *dy,
                                        tensor *dx) {
  region_geom g = region_check(dx, y0, x0, h, w);
  TENSOR_EXPECT_1D(dy, g.N);
  const float *pg = tensor_f32(dy);
  float *p = tensor_f32(dx);
#pragma omp parallel for if (g.N * g.C * h * w > 65536)
  for (int64_t n = 0; n < g.N; n++)
    for (int64_t c = 0; c < g.C; c++)
      for (int64_t r = y0; r < y0 + h; r++) {
        float *row = p + ((n * g.C + c) * g.H + r) * g.W;
        for (int64_t q = x0; q < x0 + w; q++) row[q] += pg[n];
      }
}

void mean_over_batch_forward_cpu(op_ctx *ctx, const tensor *x, tensor *y) {
  TENSOR_EXPECT_1D(x, -1);
  TENSOR_EXPECT_1D(y, 1);
  NVAE_ASSERT(x->shape[0] > 0, "mean over an empty batch");
  const float *px = tensor_f32(x);
  double s = 0;
  for (int64_t n = 0; n < x->shape[0]; n++) s += px[n];
  tensor_f32(y)[0] = (float)(s / (double)x->shape[0]);
}

void mean_over_batch_backward_cpu(op_ctx *ctx, const tensor *dy, tensor *dx) {
  TENSOR_EXPECT_1D(dy, 1);
  TENSOR_EXPECT_1D(dx, -1);
  float g = tensor_f32(dy)[0] / (float)dx->shape[0];
  float *p = tensor_f32(dx);
  for (int64_t n = 0; n < dx->shape[0]; n++) p[n] += g;
}
