/* Bernoulli output distribution on the GPU: see kernels/cpu/bernoulli.h (formulas:
 * om_bernoulli_* in ops_math.h). logp [N, H, W] or [N, 1, H, W] sums the channels per pixel. */
#include "kernels/cuda/ops_common.cuh"

/* [N, H, W], or [N, 1, H, W] for callers that keep 4-d views. */
static void expect_pixel_map(const tensor *t, const char *what, int64_t n, int64_t h, int64_t w) {
  if (t->ndim == 4)
    OPS_EXPECT_AT(t, what, 4, n, 1, h, w);
  else
    OPS_EXPECT_AT(t, what, 3, n, h, w);
}

__global__ void bern_logp_kernel(const float *l, const float *x, int64_t N, int64_t C, int64_t hw,
                                 float *out) {
  OPS_FOR(t, N * hw) {
    int64_t n = t / hw, i = t % hw;
    float acc = 0;
    for (int64_t c = 0; c < C; c++) {
      int64_t k = (n * C + c) * hw + i;
      acc += om_bernoulli_logpf(l[k], x[k]);
    }
    out[t] = acc;
  }
}

__global__ void bern_grad_kernel(const float *l, const float *x, const float *g, int64_t C,
                                 int64_t hw, float *dl, int64_t total) {
  OPS_FOR(k, total) {
    int64_t n = k / (C * hw), i = k % hw;
    dl[k] += g[n * hw + i] * om_bernoulli_gradf(l[k], x[k]);
  }
}

__global__ void bern_mean_kernel(const float *l, float *p, int64_t n) {
  OPS_FOR(i, n) p[i] = om_sigmoid_stablef(l[i]);
}

void cuda_bernoulli_log_likelihood_forward(op_ctx *ctx, const tensor *logits, const tensor *x,
                                           tensor *logp) {
  OPS_EXPECT_4D(logits, -1, -1, -1, -1);
  TENSOR_EXPECT_SAME(x, logits);
  int64_t N = logits->shape[0], C = logits->shape[1], hw = logits->shape[2] * logits->shape[3];
  expect_pixel_map(logp, "logp", N, logits->shape[2], logits->shape[3]);
  if (N * hw == 0) return;
  bern_logp_kernel<<<ops_blocks(N * hw), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(logits), tensor_f32(x), N, C, hw, tensor_f32(logp));
  CUDA_CHECK_LAUNCH();
}

void cuda_bernoulli_log_likelihood_backward(op_ctx *ctx, const tensor *logits, const tensor *x,
                                            const tensor *dlogp, tensor *dlogits) {
  OPS_EXPECT_4D(logits, -1, -1, -1, -1);
  TENSOR_EXPECT_SAME(x, logits);
  TENSOR_EXPECT_SAME(dlogits, logits);
  int64_t N = logits->shape[0], C = logits->shape[1], hw = logits->shape[2] * logits->shape[3];
  expect_pixel_map(dlogp, "dlogp", N, logits->shape[2], logits->shape[3]);
  int64_t total = N * C * hw;
  if (total == 0) return;
  bern_grad_kernel<<<ops_blocks(total), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(logits), tensor_f32(x), tensor_f32(dlogp), C, hw, tensor_f32(dlogits), total);
  CUDA_CHECK_LAUNCH();
}

void cuda_bernoulli_mean(op_ctx *ctx, const tensor *logits, tensor *probs) {
  TENSOR_EXPECT_SAME(probs, logits);
  int64_t n = tensor_numel(logits);
  if (n == 0) return;
  bern_mean_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(tensor_f32(logits),
                                                                            tensor_f32(probs), n);
  CUDA_CHECK_LAUNCH();
}
