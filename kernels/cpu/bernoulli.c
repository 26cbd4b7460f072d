/* Bernoulli output distribution on the CPU: see bernoulli.h. */
#include "kernels/cpu/bernoulli.h"

#include <math.h>

/* [N, H, W], or [N, 1, H, W] for callers that keep 4-d views. */
static void expect_pixel_map(const tensor *t, const char *what, int64_t n, int64_t h, int64_t w) {
  if (t->ndim == 4)
    tensor_expect_at(t, what, 4, (const int64_t[]){n, 1, h, w}, __FILE__, __LINE__);
  else
    tensor_expect_at(t, what, 3, (const int64_t[]){n, h, w}, __FILE__, __LINE__);
}

static inline float softplusf(float v) { return fmaxf(v, 0.0f) + log1pf(expf(-fabsf(v))); }
static inline float sigmoidf(float v) {
  if (v >= 0) return 1.0f / (1.0f + expf(-v));
  float e = expf(v);
  return e / (1.0f + e);
}

void bernoulli_log_likelihood_forward_cpu(op_ctx *ctx, const tensor *logits, const tensor *x,
                                          tensor *logp) {
  TENSOR_EXPECT_4D(logits, -1, -1, -1, -1);
  TENSOR_EXPECT_SAME(x, logits);
  int64_t N = logits->shape[0], C = logits->shape[1], hw = logits->shape[2] * logits->shape[3];
  expect_pixel_map(logp, "logp", N, logits->shape[2], logits->shape[3]);
  const float *l = tensor_f32(logits), *xs = tensor_f32(x);
  float *out = tensor_f32(logp);
#pragma omp parallel for collapse(2) if (N * hw > 65536)
  for (int64_t n = 0; n < N; n++)
    for (int64_t i = 0; i < hw; i++) {
      float acc = 0;
      for (int64_t c = 0; c < C; c++) {
        int64_t k = (n * C + c) * hw + i;
        acc += xs[k] * l[k] - softplusf(l[k]);
      }
      out[n * hw + i] = acc;
    }
}

void bernoulli_log_likelihood_backward_cpu(op_ctx *ctx, const tensor *logits, const tensor *x,
                                           const tensor *dlogp, tensor *dlogits) {
  TENSOR_EXPECT_4D(logits, -1, -1, -1, -1);
  TENSOR_EXPECT_SAME(x, logits);
  TENSOR_EXPECT_SAME(dlogits, logits);
  int64_t N = logits->shape[0], C = logits->shape[1], hw = logits->shape[2] * logits->shape[3];
  expect_pixel_map(dlogp, "dlogp", N, logits->shape[2], logits->shape[3]);
  const float *l = tensor_f32(logits), *xs = tensor_f32(x), *g = tensor_f32(dlogp);
  float *dl = tensor_f32(dlogits);
#pragma omp parallel for collapse(2) if (N * hw > 65536)
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t i = 0; i < hw; i++) {
        int64_t k = (n * C + c) * hw + i;
        dl[k] += g[n * hw + i] * (xs[k] - sigmoidf(l[k]));
      }
}

void bernoulli_mean_cpu(op_ctx *ctx, const tensor *logits, tensor *probs) {
  TENSOR_EXPECT_SAME(probs, logits);
  const float *l = tensor_f32(logits);
  float *p = tensor_f32(probs);
  int64_t n = tensor_numel(logits);
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; i++) p[i] = sigmoidf(l[i]);
}
