/* Element-wise arithmetic on the CPU: see arith.h. */
#include "kernels/cpu/arith.h"

void add_scaled_forward_cpu(op_ctx *ctx, const tensor *a, float s, const tensor *b, tensor *y) {
  TENSOR_EXPECT_SAME(b, a);
  TENSOR_EXPECT_SAME(y, a);
  const float *pa = tensor_f32(a), *pb = tensor_f32(b);
  float *py = tensor_f32(y);
  int64_t n = tensor_numel(a);
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; i++) py[i] = pa[i] + s * pb[i];
}

void add_scaled_backward_cpu(op_ctx *ctx, float s, const tensor *dy, tensor *da, tensor *db) {
  const float *g = tensor_f32(dy);
  int64_t n = tensor_numel(dy);
  if (da) {
    TENSOR_EXPECT_SAME(da, dy);
    float *p = tensor_f32(da);
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; i++) p[i] += g[i];
  }
  if (db) {
    TENSOR_EXPECT_SAME(db, dy);
    float *p = tensor_f32(db);
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; i++) p[i] += s * g[i];
  }
}

void scale_forward_cpu(op_ctx *ctx, float s, const tensor *x, tensor *y) {
  TENSOR_EXPECT_SAME(y, x);
  const float *px = tensor_f32(x);
  float *py = tensor_f32(y);
  int64_t n = tensor_numel(x);
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; i++) py[i] = s * px[i];
}

void scale_backward_cpu(op_ctx *ctx, float s, const tensor *dy, tensor *dx) {
  TENSOR_EXPECT_SAME(dx, dy);
  const float *g = tensor_f32(dy);
  float *p = tensor_f32(dx);
  int64_t n = tensor_numel(dy);
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; i++) p[i] += s * g[i];
}
