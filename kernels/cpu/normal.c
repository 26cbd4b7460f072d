/* Latent Normal distributions on the CPU: see normal.h. */
#include "kernels/cpu/normal.h"

#include <math.h>

#define PAR_MIN 65536 /* below this many elements threads cost more than they save */

/* Data of an optional tensor after a shape check against ref; NULL stays NULL. */
static float *opt_f32(const tensor *t, const tensor *ref, const char *what) {
  if (!t) return NULL;
  tensor_expect_same_at(t, ref, what, __FILE__, __LINE__);
  return tensor_f32(t);
}

void normal_params_forward_cpu(op_ctx *ctx, const tensor *mu_raw, const tensor *ls_raw, float t,
                               tensor *mu, tensor *sigma) {
  TENSOR_EXPECT_SAME(ls_raw, mu_raw);
  TENSOR_EXPECT_SAME(mu, mu_raw);
  TENSOR_EXPECT_SAME(sigma, mu_raw);
  const float *mr = tensor_f32(mu_raw), *lr = tensor_f32(ls_raw);
  float *pm = tensor_f32(mu), *ps = tensor_f32(sigma);
  int64_t n = tensor_numel(mu_raw);
#pragma omp parallel for if (n > PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    pm[i] = 5.0f * tanhf(mr[i] / 5.0f);
    /* exp, not softplus; the 0.01 floor is added before the temperature (NVAE.md §2.1) */
    ps[i] = (expf(5.0f * tanhf(lr[i] / 5.0f)) + 0.01f) * t;
  }
}

void normal_params_backward_cpu(op_ctx *ctx, const tensor *mu_raw, const tensor *ls_raw, float t,
                                const tensor *dmu, const tensor *dsigma, tensor *dmu_raw,
                                tensor *dls_raw) {
  TENSOR_EXPECT_SAME(ls_raw, mu_raw);
  const float *mr = tensor_f32(mu_raw), *lr = tensor_f32(ls_raw);
  const float *gm = opt_f32(dmu, mu_raw, "dmu"), *gs = opt_f32(dsigma, mu_raw, "dsigma");
  float *dm = opt_f32(dmu_raw, mu_raw, "dmu_raw"), *dl = opt_f32(dls_raw, mu_raw, "dls_raw");
  int64_t n = tensor_numel(mu_raw);
  if (gm && dm) {
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
      float th = tanhf(mr[i] / 5.0f);
      dm[i] += gm[i] * (1.0f - th * th);
    }
  }
  if (gs && dl) {
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
      float th = tanhf(lr[i] / 5.0f);
      dl[i] += gs[i] * t * expf(5.0f * th) * (1.0f - th * th);
    }
  }
}

void normal_sample_forward_cpu(op_ctx *ctx, const tensor *mu, const tensor *sigma,
                               const tensor *eps, tensor *z) {
  TENSOR_EXPECT_SAME(sigma, mu);
  TENSOR_EXPECT_SAME(eps, mu);
  TENSOR_EXPECT_SAME(z, mu);
  const float *pm = tensor_f32(mu), *ps = tensor_f32(sigma), *pe = tensor_f32(eps);
  float *pz = tensor_f32(z);
  int64_t n = tensor_numel(mu);
#pragma omp parallel for simd if (n > PAR_MIN)
  for (int64_t i = 0; i < n; i++) pz[i] = pm[i] + ps[i] * pe[i];
}

void normal_sample_backward_cpu(op_ctx *ctx, const tensor *eps, const tensor *dz, tensor *dmu,
                                tensor *dsigma) {
  TENSOR_EXPECT_SAME(dz, eps);
  const float *pe = tensor_f32(eps), *g = tensor_f32(dz);
  float *dm = opt_f32(dmu, eps, "dmu"), *ds = opt_f32(dsigma, eps, "dsigma");
  int64_t n = tensor_numel(eps);
  if (dm) {
#pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) dm[i] += g[i];
  }
  if (ds) {
#pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) ds[i] += g[i] * pe[i];
  }
}

#define HALF_LOG_2PI 0.91893853320467274178f

void normal_log_density_forward_cpu(op_ctx *ctx, const tensor *z, const tensor *mu,
                                    const tensor *sigma, tensor *logp) {
  TENSOR_EXPECT_SAME(mu, z);
  TENSOR_EXPECT_SAME(sigma, z);
  TENSOR_EXPECT_SAME(logp, z);
  const float *pz = tensor_f32(z), *pm = tensor_f32(mu), *ps = tensor_f32(sigma);
  float *out = tensor_f32(logp);
  int64_t n = tensor_numel(z);
#pragma omp parallel for if (n > PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    float u = (pz[i] - pm[i]) / ps[i];
    out[i] = -0.5f * u * u - HALF_LOG_2PI - logf(ps[i]);
  }
}

void normal_log_density_backward_cpu(op_ctx *ctx, const tensor *z, const tensor *mu,
                                     const tensor *sigma, const tensor *dlogp, tensor *dz,
                                     tensor *dmu, tensor *dsigma) {
  TENSOR_EXPECT_SAME(mu, z);
  TENSOR_EXPECT_SAME(sigma, z);
  TENSOR_EXPECT_SAME(dlogp, z);
  const float *pz = tensor_f32(z), *pm = tensor_f32(mu), *ps = tensor_f32(sigma);
  const float *g = tensor_f32(dlogp);
  float *dzp = opt_f32(dz, z, "dz"), *dmp = opt_f32(dmu, z, "dmu");
  float *dsp = opt_f32(dsigma, z, "dsigma");
  int64_t n = tensor_numel(z);
#pragma omp parallel for if (n > PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    float inv = 1.0f / ps[i];
    float u = (pz[i] - pm[i]) * inv;
    float gu = g[i] * u * inv; /* d logp / d mu = u / sigma = -d logp / d z */
    if (dzp) dzp[i] -= gu;
    if (dmp) dmp[i] += gu;
    if (dsp) dsp[i] += g[i] * (u * u - 1.0f) * inv;
  }
}

void normal_kl_forward_cpu(op_ctx *ctx, const tensor *mu_q, const tensor *sigma_q,
                           const tensor *mu_p, const tensor *sigma_p, tensor *kl) {
  TENSOR_EXPECT_SAME(sigma_q, mu_q);
  TENSOR_EXPECT_SAME(mu_p, mu_q);
  TENSOR_EXPECT_SAME(sigma_p, mu_q);
  TENSOR_EXPECT_SAME(kl, mu_q);
  const float *mq = tensor_f32(mu_q), *sq = tensor_f32(sigma_q);
  const float *mp = tensor_f32(mu_p), *sp = tensor_f32(sigma_p);
  float *out = tensor_f32(kl);
  int64_t n = tensor_numel(mu_q);
#pragma omp parallel for if (n > PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    float inv = 1.0f / sp[i];
    float d = (mq[i] - mp[i]) * inv, r = sq[i] * inv;
    /* log of each sigma separately: the ratio can be far from 1 when one sigma sits at 0.01 */
    out[i] = 0.5f * (d * d + r * r) - 0.5f - (logf(sq[i]) - logf(sp[i]));
  }
}

void normal_kl_backward_cpu(op_ctx *ctx, const tensor *mu_q, const tensor *sigma_q,
                            const tensor *mu_p, const tensor *sigma_p, const tensor *dkl,
                            tensor *dmu_q, tensor *dsigma_q, tensor *dmu_p, tensor *dsigma_p) {
  TENSOR_EXPECT_SAME(sigma_q, mu_q);
  TENSOR_EXPECT_SAME(mu_p, mu_q);
  TENSOR_EXPECT_SAME(sigma_p, mu_q);
  TENSOR_EXPECT_SAME(dkl, mu_q);
  const float *mq = tensor_f32(mu_q), *sq = tensor_f32(sigma_q);
  const float *mp = tensor_f32(mu_p), *sp = tensor_f32(sigma_p);
  const float *g = tensor_f32(dkl);
  float *dmq = opt_f32(dmu_q, mu_q, "dmu_q"), *dsq = opt_f32(dsigma_q, mu_q, "dsigma_q");
  float *dmp = opt_f32(dmu_p, mu_q, "dmu_p"), *dsp = opt_f32(dsigma_p, mu_q, "dsigma_p");
  int64_t n = tensor_numel(mu_q);
#pragma omp parallel for if (n > PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    float inv = 1.0f / sp[i];
    float d = (mq[i] - mp[i]) * inv, r = sq[i] * inv;
    float gd = g[i] * d * inv; /* d KL / d mu_q = (mu_q - mu_p) / sigma_p^2 */
    if (dmq) dmq[i] += gd;
    if (dmp) dmp[i] -= gd;
    if (dsq) dsq[i] += g[i] * (r * inv - 1.0f / sq[i]);
    /* d KL / d sigma_p = (1 - d^2 - r^2) / sigma_p */
    if (dsp) dsp[i] += g[i] * (1.0f - d * d - r * r) * inv;
  }
}
