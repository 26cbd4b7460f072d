/* Element-wise activations on the GPU: see kernels/cpu/activation.h. The formulas are the
 * om_* functions of ops_math.h, shared with the unit test that checks them against the CPU ops.
 * Forward: y may alias x. Backward: dx += f'(saved) * dy with saved = the input x (sigmoid: the
 * output y); dx must not alias dy. */
#include "kernels/cuda/ops_common.cuh"

enum act_kind { ACT_SWISH, ACT_ELU, ACT_RELU, ACT_SIGMOID, ACT_SOFT_CLAMP };

template <int K> __device__ __forceinline__ float act_f(float x) {
  if (K == ACT_SWISH) return om_swishf(x);
  if (K == ACT_ELU) return om_eluf(x);
  if (K == ACT_RELU) return om_reluf(x);
  if (K == ACT_SIGMOID) return om_sigmoidf(x);
  return om_soft_clampf(x);
}

/* derivative from the saved tensor's element (sigmoid: from the output) */
template <int K> __device__ __forceinline__ float act_grad(float v) {
  if (K == ACT_SWISH) return om_swish_gradf(v);
  if (K == ACT_ELU) return om_elu_gradf(v);
  if (K == ACT_RELU) return om_relu_gradf(v);
  if (K == ACT_SIGMOID) return om_sigmoid_grad_from_yf(v);
  return om_soft_clamp_gradf(v);
}

template <int K> __global__ void act_forward_kernel(const float *x, float *y, int64_t n) {
  OPS_FOR(i, n) y[i] = act_f<K>(x[i]);
}

template <int K>
__global__ void act_backward_kernel(const float *saved, const float *dy, float *dx, int64_t n) {
  OPS_FOR(i, n) dx[i] += act_grad<K>(saved[i]) * dy[i];
}

template <int K> static void act_forward(op_ctx *ctx, const tensor *x, tensor *y) {
  TENSOR_EXPECT_SAME(y, x);
  int64_t n = tensor_numel(x);
  if (n == 0) return;
  act_forward_kernel<K>
      <<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(tensor_f32(x), tensor_f32(y), n);
  CUDA_CHECK_LAUNCH();
}

template <int K>
static void act_backward(op_ctx *ctx, const tensor *saved, const tensor *dy, tensor *dx) {
  TENSOR_EXPECT_SAME(dy, saved);
  TENSOR_EXPECT_SAME(dx, saved);
  int64_t n = tensor_numel(saved);
  if (n == 0) return;
  act_backward_kernel<K><<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(saved), tensor_f32(dy), tensor_f32(dx), n);
  CUDA_CHECK_LAUNCH();
}

void cuda_swish_forward(op_ctx *ctx, const tensor *x, tensor *y) {
  act_forward<ACT_SWISH>(ctx, x, y);
}
void cuda_swish_backward(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx) {
  act_backward<ACT_SWISH>(ctx, x, dy, dx);
}
void cuda_elu_forward(op_ctx *ctx, const tensor *x, tensor *y) { act_forward<ACT_ELU>(ctx, x, y); }
void cuda_elu_backward(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx) {
  act_backward<ACT_ELU>(ctx, x, dy, dx);
}
void cuda_relu_forward(op_ctx *ctx, const tensor *x, tensor *y) {
  act_forward<ACT_RELU>(ctx, x, y);
}
void cuda_relu_backward(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx) {
  act_backward<ACT_RELU>(ctx, x, dy, dx);
}
void cuda_sigmoid_forward(op_ctx *ctx, const tensor *x, tensor *y) {
  act_forward<ACT_SIGMOID>(ctx, x, y);
}
/* the saved tensor is the OUTPUT y */
void cuda_sigmoid_backward(op_ctx *ctx, const tensor *y, const tensor *dy, tensor *dx) {
  act_backward<ACT_SIGMOID>(ctx, y, dy, dx);
}
void cuda_soft_clamp_forward(op_ctx *ctx, const tensor *x, tensor *y) {
  act_forward<ACT_SOFT_CLAMP>(ctx, x, y);
}
void cuda_soft_clamp_backward(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx) {
  act_backward<ACT_SOFT_CLAMP>(ctx, x, dy, dx);
}
