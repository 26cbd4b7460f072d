/* Discretised mixture of logistics on the GPU: see kernels/cpu/dmol.h. One thread per pixel (all
 * colours, all components), the CPU's per-pixel code shared through ops_math.h
 * (om_dmol_pixel_log_prob, om_dmol_pixel_backward, om_dmol_sample_pixel, om_dmol_mean_pixel).
 * Pixels are independent and a pixel's logits are written by its own thread only, so the
 * backward's accumulation needs no atomics. */
#include "kernels/cpu/dmol.h"
#include "kernels/cuda/ops_common.cuh"

static_assert(OM_DMOL_MAX_MIX == DMOL_MAX_MIX, "ops_math.h and dmol.h disagree on the mixture cap");

static void check_params(const dmol_params *p) {
  NVAE_ASSERT(p->channels == 1 || p->channels == 3, "dmol: channels must be 1 or 3, got %d",
              p->channels);
  NVAE_ASSERT(p->num_mix >= 1 && p->num_mix <= DMOL_MAX_MIX, "dmol: num_mix %d not in [1, %d]",
              p->num_mix, DMOL_MAX_MIX);
  NVAE_ASSERT(p->num_bits >= 1 && p->num_bits <= 16, "dmol: num_bits %d", p->num_bits);
}

/* Cp: 10 M for 3 channels, 3 M for 1: dmol_param_channels() again (dmol.h declares it without
 * extern "C", so C++ cannot link to the C definition). */
static int64_t param_channels(const dmol_params *p) {
  return p->channels == 3 ? 10 * p->num_mix : 3 * p->num_mix;
}

/* [N, H, W], or [N, 1, H, W] for callers that keep 4-d views. */
static void expect_pixel_map(const tensor *t, const char *what, int64_t n, int64_t h, int64_t w) {
  if (t->ndim == 4)
    OPS_EXPECT_AT(t, what, 4, n, 1, h, w);
  else
    OPS_EXPECT_AT(t, what, 3, n, h, w);
}

typedef struct dmol_shape {
  int64_t n, h, w, hw, cp;
} dmol_shape;

static dmol_shape check_shapes(const dmol_params *p, const tensor *logits, const tensor *x) {
  check_params(p);
  OPS_EXPECT_4D(logits, -1, param_channels(p), -1, -1);
  OPS_EXPECT_4D(x, logits->shape[0], p->channels, logits->shape[2], logits->shape[3]);
  dmol_shape s = {logits->shape[0], logits->shape[2], logits->shape[3],
                  logits->shape[2] * logits->shape[3], logits->shape[1]};
  return s;
}

static om_bin_geom make_geom(const dmol_params *p) {
  float k = (float)((1 << p->num_bits) - 1);
  om_bin_geom g = {1.0f / k, logf(k / 2.0f), p->upper_edge};
  return g;
}

__device__ __forceinline__ om_pixel load_pixel(const float *lg, const float *xs, int64_t cp,
                                               int64_t hw, int C, int64_t n, int64_t i) {
  om_pixel px;
  px.l = lg + n * cp * hw + i;
  px.hw = hw;
  for (int c = 0; c < 3; c++)
    px.xt[c] = c < C ? 2.0f * xs[(n * C + c) * hw + i] - 1.0f : 0.0f;
  return px;
}

__global__ void dmol_logp_kernel(om_bin_geom g, const float *lg, const float *xs, int64_t N,
                                 int64_t cp, int64_t hw, int M, int C, float *out) {
  OPS_FOR(t, N * hw) {
    int64_t n = t / hw, i = t % hw;
    float a[OM_DMOL_MAX_MIX], log_pi[OM_DMOL_MAX_MIX];
    om_pixel px = load_pixel(lg, xs, cp, hw, C, n, i);
    out[t] = om_dmol_pixel_log_prob(&g, &px, M, C, a, log_pi);
  }
}

__global__ void dmol_grad_kernel(om_bin_geom g, const float *lg, const float *xs, const float *gp,
                                 int64_t N, int64_t cp, int64_t hw, int M, int C, float *dl) {
  OPS_FOR(t, N * hw) {
    int64_t n = t / hw, i = t % hw;
    om_pixel px = load_pixel(lg, xs, cp, hw, C, n, i);
    om_dmol_pixel_backward(&g, &px, M, C, gp[t], dl + n * cp * hw + i);
  }
}

__global__ void dmol_sample_kernel(const float *lg, const float *um, const float *ul, int64_t N,
                                   int64_t cp, int64_t hw, int M, int C, float t, float noise_scale,
                                   float *out) {
  OPS_FOR(k, N * hw) {
    int64_t n = k / hw, i = k % hw;
    om_dmol_sample_pixel(lg + n * cp * hw + i, um + n * M * hw + i, ul + n * C * hw + i, hw, M, C,
                         t, noise_scale, out + n * C * hw + i);
  }
}

__global__ void dmol_mean_kernel(const float *lg, int64_t N, int64_t cp, int64_t hw, int M, int C,
                                 float *out) {
  OPS_FOR(k, N * hw) {
    int64_t n = k / hw, i = k % hw;
    om_dmol_mean_pixel(lg + n * cp * hw + i, hw, M, C, out + n * C * hw + i);
  }
}

void cuda_dmol_log_likelihood_forward(op_ctx *ctx, const dmol_params *p, const tensor *logits,
                                      const tensor *x, tensor *logp) {
  dmol_shape sh = check_shapes(p, logits, x);
  expect_pixel_map(logp, "logp", sh.n, sh.h, sh.w);
  if (sh.n * sh.hw == 0) return;
  dmol_logp_kernel<<<ops_blocks(sh.n * sh.hw, 128), 128, 0, cuda_ctx_stream(ctx)>>>(
      make_geom(p), tensor_f32(logits), tensor_f32(x), sh.n, sh.cp, sh.hw, p->num_mix, p->channels,
      tensor_f32(logp));
  CUDA_CHECK_LAUNCH();
}

void cuda_dmol_log_likelihood_backward(op_ctx *ctx, const dmol_params *p, const tensor *logits,
                                       const tensor *x, const tensor *dlogp, tensor *dlogits) {
  dmol_shape sh = check_shapes(p, logits, x);
  expect_pixel_map(dlogp, "dlogp", sh.n, sh.h, sh.w);
  TENSOR_EXPECT_SAME(dlogits, logits);
  if (sh.n * sh.hw == 0) return;
  dmol_grad_kernel<<<ops_blocks(sh.n * sh.hw, 128), 128, 0, cuda_ctx_stream(ctx)>>>(
      make_geom(p), tensor_f32(logits), tensor_f32(x), tensor_f32(dlogp), sh.n, sh.cp, sh.hw,
      p->num_mix, p->channels, tensor_f32(dlogits));
  CUDA_CHECK_LAUNCH();
}

void cuda_dmol_sample(op_ctx *ctx, const dmol_params *p, float t, const tensor *logits,
                      const tensor *u_mix, const tensor *u_logistic, tensor *x) {
  dmol_shape sh = check_shapes(p, logits, x);
  NVAE_ASSERT(t > 0, "dmol_sample: temperature must be > 0, got %g", t);
  int M = p->num_mix, C = p->channels;
  OPS_EXPECT_4D(u_mix, sh.n, M, sh.h, sh.w);
  TENSOR_EXPECT_SAME(u_logistic, x);
  if (sh.n * sh.hw == 0) return;
  float noise_scale = p->noise_times_t ? t : 1.0f / t;
  dmol_sample_kernel<<<ops_blocks(sh.n * sh.hw, 128), 128, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(logits), tensor_f32(u_mix), tensor_f32(u_logistic), sh.n, sh.cp, sh.hw, M, C, t,
      noise_scale, tensor_f32(x));
  CUDA_CHECK_LAUNCH();
}

void cuda_dmol_mean(op_ctx *ctx, const dmol_params *p, const tensor *logits, tensor *x) {
  dmol_shape sh = check_shapes(p, logits, x);
  if (sh.n * sh.hw == 0) return;
  dmol_mean_kernel<<<ops_blocks(sh.n * sh.hw, 128), 128, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(logits), sh.n, sh.cp, sh.hw, p->num_mix, p->channels, tensor_f32(x));
  CUDA_CHECK_LAUNCH();
}
