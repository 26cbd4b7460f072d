/* ×2 upsampling on the GPU: see kernels/cpu/upsample.h (nearest; bilinear with
 * align_corners = True). Forward: one thread per output element. Backward: one thread per INPUT
 * element that gathers from the outputs reading it (ops_math.h: om_bilinear2x_grad_at), so the
 * accumulation into dx is deterministic without atomics. */
#include "kernels/cuda/ops_common.cuh"

typedef struct up_dims {
  int64_t planes, h, w; /* input plane; the output plane is 2h × 2w */
} up_dims;

static up_dims up_dims_of(const tensor *small, const tensor *big) {
  OPS_EXPECT_4D(small, -1, -1, -1, -1);
  OPS_EXPECT_4D(big, small->shape[0], small->shape[1], 2 * small->shape[2], 2 * small->shape[3]);
  up_dims d = {small->shape[0] * small->shape[1], small->shape[2], small->shape[3]};
  return d;
}

__global__ void up_nearest_fwd_kernel(const float *x, int64_t planes, int64_t h, int64_t w,
                                      float *y) {
  int64_t ow = 2 * w, osz = 4 * h * w;
  OPS_FOR(t, planes * osz) {
    int64_t p = t / osz, r = t % osz, oi = r / ow, oj = r % ow;
    y[t] = x[p * h * w + (oi / 2) * w + oj / 2];
  }
}

__global__ void up_nearest_bwd_kernel(const float *dy, int64_t planes, int64_t h, int64_t w,
                                      float *dx) {
  int64_t ow = 2 * w;
  OPS_FOR(t, planes * h * w) {
    int64_t p = t / (h * w), r = t % (h * w), i = r / w, j = r % w;
    const float *g = dy + p * 4 * h * w + 2 * i * ow + 2 * j;
    dx[t] += (g[0] + g[1]) + (g[ow] + g[ow + 1]);
  }
}

__global__ void up_bilinear_fwd_kernel(const float *x, int64_t planes, int64_t h, int64_t w,
                                       float *y) {
  int64_t ow = 2 * w, osz = 4 * h * w;
  OPS_FOR(t, planes * osz) {
    int64_t p = t / osz, r = t % osz, oi = r / ow, oj = r % ow;
    y[t] = om_bilinear2x_at(x + p * h * w, h, w, oi, oj);
  }
}

__global__ void up_bilinear_bwd_kernel(const float *dy, int64_t planes, int64_t h, int64_t w,
                                       float *dx) {
  OPS_FOR(t, planes * h * w) {
    int64_t p = t / (h * w), r = t % (h * w), i = r / w, j = r % w;
    dx[t] += om_bilinear2x_grad_at(dy + p * 4 * h * w, h, w, i, j);
  }
}

void cuda_upsample_nearest2x_forward(op_ctx *ctx, const tensor *x, tensor *y) {
  up_dims d = up_dims_of(x, y);
  int64_t n = d.planes * 4 * d.h * d.w;
  if (n == 0) return;
  up_nearest_fwd_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(x), d.planes, d.h, d.w, tensor_f32(y));
  CUDA_CHECK_LAUNCH();
}

void cuda_upsample_nearest2x_backward(op_ctx *ctx, const tensor *dy, tensor *dx) {
  up_dims d = up_dims_of(dx, dy);
  int64_t n = d.planes * d.h * d.w;
  if (n == 0) return;
  up_nearest_bwd_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(dy), d.planes, d.h, d.w, tensor_f32(dx));
  CUDA_CHECK_LAUNCH();
}

void cuda_upsample_bilinear2x_forward(op_ctx *ctx, const tensor *x, tensor *y) {
  up_dims d = up_dims_of(x, y);
  int64_t n = d.planes * 4 * d.h * d.w;
  if (n == 0) return;
  up_bilinear_fwd_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(x), d.planes, d.h, d.w, tensor_f32(y));
  CUDA_CHECK_LAUNCH();
}

void cuda_upsample_bilinear2x_backward(op_ctx *ctx, const tensor *dy, tensor *dx) {
  up_dims d = up_dims_of(dx, dy);
  int64_t n = d.planes * d.h * d.w;
  if (n == 0) return;
  up_bilinear_bwd_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(dy), d.planes, d.h, d.w, tensor_f32(dx));
  CUDA_CHECK_LAUNCH();
}
