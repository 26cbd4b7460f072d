/* Element-wise arithmetic on the GPU: see kernels/cpu/arith.h. y may alias a or x. */
#include "kernels/cuda/ops_common.cuh"

/* y = a + s * b */
__global__ void add_scaled_kernel(const float *a, float s, const float *b, float *y, int64_t n) {
  OPS_FOR(i, n) y[i] = a[i] + s * b[i];
}

/* acc += s * g */
__global__ void axpy_acc_kernel(float s, const float *g, float *acc, int64_t n) {
  OPS_FOR(i, n) acc[i] += s * g[i];
}

/* acc += g (no multiply, so the result is bit-identical to the CPU's da += dy) */
__global__ void add_acc_kernel(const float *g, float *acc, int64_t n) {
  OPS_FOR(i, n) acc[i] += g[i];
}

__global__ void scale_kernel(float s, const float *x, float *y, int64_t n) {
  OPS_FOR(i, n) y[i] = s * x[i];
}

void cuda_add_scaled_forward(op_ctx *ctx, const tensor *a, float s, const tensor *b, tensor *y) {
  TENSOR_EXPECT_SAME(b, a);
  TENSOR_EXPECT_SAME(y, a);
  int64_t n = tensor_numel(a);
  if (n == 0) return;
  add_scaled_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(a), s, tensor_f32(b), tensor_f32(y), n);
  CUDA_CHECK_LAUNCH();
}

void cuda_add_scaled_backward(op_ctx *ctx, float s, const tensor *dy, tensor *da, tensor *db) {
  int64_t n = tensor_numel(dy);
  if (n == 0) return;
  cudaStream_t st = cuda_ctx_stream(ctx);
  if (da) {
    TENSOR_EXPECT_SAME(da, dy);
    add_acc_kernel<<<ops_blocks(n), OPS_THREADS, 0, st>>>(tensor_f32(dy), tensor_f32(da), n);
    CUDA_CHECK_LAUNCH();
  }
  if (db) {
    TENSOR_EXPECT_SAME(db, dy);
    axpy_acc_kernel<<<ops_blocks(n), OPS_THREADS, 0, st>>>(s, tensor_f32(dy), tensor_f32(db), n);
    CUDA_CHECK_LAUNCH();
  }
}

void cuda_scale_forward(op_ctx *ctx, float s, const tensor *x, tensor *y) {
  TENSOR_EXPECT_SAME(y, x);
  int64_t n = tensor_numel(x);
  if (n == 0) return;
  scale_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(s, tensor_f32(x),
                                                                        tensor_f32(y), n);
  CUDA_CHECK_LAUNCH();
}

void cuda_scale_backward(op_ctx *ctx, float s, const tensor *dy, tensor *dx) {
  TENSOR_EXPECT_SAME(dx, dy);
  int64_t n = tensor_numel(dy);
  if (n == 0) return;
  axpy_acc_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(s, tensor_f32(dy),
                                                                           tensor_f32(dx), n);
  CUDA_CHECK_LAUNCH();
}
