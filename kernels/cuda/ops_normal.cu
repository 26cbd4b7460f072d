/* The latent Normal distributions on the GPU: see kernels/cpu/normal.h. Every op is element-wise
 * (formulas: om_normal_* in ops_math.h); gradient outputs and the marked incoming gradients are
 * nullable, backward ops accumulate. */
#include "kernels/cuda/ops_common.cuh"

/* Data of an optional tensor after a shape check against ref; NULL stays NULL. */
static float *opt_f32(const tensor *t, const tensor *ref, const char *what) {
  if (!t) return nullptr;
  tensor_expect_same_at(t, ref, what, __FILE__, __LINE__);
  return tensor_f32(t);
}

__global__ void normal_params_fwd_kernel(const float *mr, const float *lr, float t, float *mu,
                                         float *sigma, int64_t n) {
  OPS_FOR(i, n) {
    mu[i] = om_normal_muf(mr[i]);
    sigma[i] = om_normal_sigmaf(lr[i], t);
  }
}

__global__ void normal_params_bwd_kernel(const float *mr, const float *lr, float t, const float *gm,
                                         const float *gs, float *dm, float *dl, int64_t n) {
  OPS_FOR(i, n) {
    if (gm && dm) dm[i] += om_normal_dmu_rawf(mr[i], gm[i]);
    if (gs && dl) dl[i] += om_normal_dls_rawf(lr[i], t, gs[i]);
  }
}

__global__ void normal_sample_fwd_kernel(const float *mu, const float *sigma, const float *eps,
                                         float *z, int64_t n) {
  OPS_FOR(i, n) z[i] = mu[i] + sigma[i] * eps[i];
}

__global__ void normal_sample_bwd_kernel(const float *eps, const float *dz, float *dmu,
                                         float *dsigma, int64_t n) {
  OPS_FOR(i, n) {
    if (dmu) dmu[i] += dz[i];
    if (dsigma) dsigma[i] += dz[i] * eps[i];
  }
}

__global__ void normal_logp_fwd_kernel(const float *z, const float *mu, const float *sigma,
                                       float *logp, int64_t n) {
  OPS_FOR(i, n) logp[i] = om_normal_log_densityf(z[i], mu[i], sigma[i]);
}

__global__ void normal_logp_bwd_kernel(const float *z, const float *mu, const float *sigma,
                                       const float *g, float *dz, float *dmu, float *dsigma,
                                       int64_t n) {
  OPS_FOR(i, n) {
    float ds, gu = om_normal_log_density_grad(z[i], mu[i], sigma[i], g[i], &ds);
    if (dz) dz[i] -= gu;
    if (dmu) dmu[i] += gu;
    if (dsigma) dsigma[i] += ds;
  }
}

__global__ void normal_kl_fwd_kernel(const float *mq, const float *sq, const float *mp,
                                     const float *sp, float *kl, int64_t n) {
  OPS_FOR(i, n) kl[i] = om_normal_klf(mq[i], sq[i], mp[i], sp[i]);
}

__global__ void normal_kl_bwd_kernel(const float *mq, const float *sq, const float *mp,
                                     const float *sp, const float *g, float *dmq, float *dsq,
                                     float *dmp, float *dsp, int64_t n) {
  OPS_FOR(i, n) {
    float gsq, gsp, gd = om_normal_kl_grad(mq[i], sq[i], mp[i], sp[i], g[i], &gsq, &gsp);
    if (dmq) dmq[i] += gd;
    if (dmp) dmp[i] -= gd;
    if (dsq) dsq[i] += gsq;
    if (dsp) dsp[i] += gsp;
  }
}

void cuda_normal_params_forward(op_ctx *ctx, const tensor *mu_raw, const tensor *ls_raw, float t,
                                tensor *mu, tensor *sigma) {
  TENSOR_EXPECT_SAME(ls_raw, mu_raw);
  TENSOR_EXPECT_SAME(mu, mu_raw);
  TENSOR_EXPECT_SAME(sigma, mu_raw);
  int64_t n = tensor_numel(mu_raw);
  if (n == 0) return;
  normal_params_fwd_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(mu_raw), tensor_f32(ls_raw), t, tensor_f32(mu), tensor_f32(sigma), n);
  CUDA_CHECK_LAUNCH();
}

void cuda_normal_params_backward(op_ctx *ctx, const tensor *mu_raw, const tensor *ls_raw, float t,
                                 const tensor *dmu, const tensor *dsigma, tensor *dmu_raw,
                                 tensor *dls_raw) {
  TENSOR_EXPECT_SAME(ls_raw, mu_raw);
  const float *gm = opt_f32(dmu, mu_raw, "dmu"), *gs = opt_f32(dsigma, mu_raw, "dsigma");
  float *dm = opt_f32(dmu_raw, mu_raw, "dmu_raw"), *dl = opt_f32(dls_raw, mu_raw, "dls_raw");
  int64_t n = tensor_numel(mu_raw);
  if (n == 0 || (!(gm && dm) && !(gs && dl))) return;
  normal_params_bwd_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(mu_raw), tensor_f32(ls_raw), t, gm, gs, dm, dl, n);
  CUDA_CHECK_LAUNCH();
}

void cuda_normal_sample_forward(op_ctx *ctx, const tensor *mu, const tensor *sigma,
                                const tensor *eps, tensor *z) {
  TENSOR_EXPECT_SAME(sigma, mu);
  TENSOR_EXPECT_SAME(eps, mu);
  TENSOR_EXPECT_SAME(z, mu);
  int64_t n = tensor_numel(mu);
  if (n == 0) return;
  normal_sample_fwd_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(mu), tensor_f32(sigma), tensor_f32(eps), tensor_f32(z), n);
  CUDA_CHECK_LAUNCH();
}

void cuda_normal_sample_backward(op_ctx *ctx, const tensor *eps, const tensor *dz, tensor *dmu,
                                 tensor *dsigma) {
  TENSOR_EXPECT_SAME(dz, eps);
  float *dm = opt_f32(dmu, eps, "dmu"), *ds = opt_f32(dsigma, eps, "dsigma");
  int64_t n = tensor_numel(eps);
  if (n == 0 || (!dm && !ds)) return;
  normal_sample_bwd_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(eps), tensor_f32(dz), dm, ds, n);
  CUDA_CHECK_LAUNCH();
}

void cuda_normal_log_density_forward(op_ctx *ctx, const tensor *z, const tensor *mu,
                                     const tensor *sigma, tensor *logp) {
  TENSOR_EXPECT_SAME(mu, z);
  TENSOR_EXPECT_SAME(sigma, z);
  TENSOR_EXPECT_SAME(logp, z);
  int64_t n = tensor_numel(z);
  if (n == 0) return;
  normal_logp_fwd_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(z), tensor_f32(mu), tensor_f32(sigma), tensor_f32(logp), n);
  CUDA_CHECK_LAUNCH();
}

void cuda_normal_log_density_backward(op_ctx *ctx, const tensor *z, const tensor *mu,
                                      const tensor *sigma, const tensor *dlogp, tensor *dz,
                                      tensor *dmu, tensor *dsigma) {
  TENSOR_EXPECT_SAME(mu, z);
  TENSOR_EXPECT_SAME(sigma, z);
  TENSOR_EXPECT_SAME(dlogp, z);
  float *dzp = opt_f32(dz, z, "dz"), *dmp = opt_f32(dmu, z, "dmu");
  float *dsp = opt_f32(dsigma, z, "dsigma");
  int64_t n = tensor_numel(z);
  if (n == 0 || (!dzp && !dmp && !dsp)) return;
  normal_logp_bwd_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(z), tensor_f32(mu), tensor_f32(sigma), tensor_f32(dlogp), dzp, dmp, dsp, n);
  CUDA_CHECK_LAUNCH();
}

void cuda_normal_kl_forward(op_ctx *ctx, const tensor *mu_q, const tensor *sigma_q,
                            const tensor *mu_p, const tensor *sigma_p, tensor *kl) {
  TENSOR_EXPECT_SAME(sigma_q, mu_q);
  TENSOR_EXPECT_SAME(mu_p, mu_q);
  TENSOR_EXPECT_SAME(sigma_p, mu_q);
  TENSOR_EXPECT_SAME(kl, mu_q);
  int64_t n = tensor_numel(mu_q);
  if (n == 0) return;
  normal_kl_fwd_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(mu_q), tensor_f32(sigma_q), tensor_f32(mu_p), tensor_f32(sigma_p), tensor_f32(kl),
      n);
  CUDA_CHECK_LAUNCH();
}

void cuda_normal_kl_backward(op_ctx *ctx, const tensor *mu_q, const tensor *sigma_q,
                             const tensor *mu_p, const tensor *sigma_p, const tensor *dkl,
                             tensor *dmu_q, tensor *dsigma_q, tensor *dmu_p, tensor *dsigma_p) {
  TENSOR_EXPECT_SAME(sigma_q, mu_q);
  TENSOR_EXPECT_SAME(mu_p, mu_q);
  TENSOR_EXPECT_SAME(sigma_p, mu_q);
  TENSOR_EXPECT_SAME(dkl, mu_q);
  float *dmq = opt_f32(dmu_q, mu_q, "dmu_q"), *dsq = opt_f32(dsigma_q, mu_q, "dsigma_q");
  float *dmp = opt_f32(dmu_p, mu_q, "dmu_p"), *dsp = opt_f32(dsigma_p, mu_q, "dsigma_p");
  int64_t n = tensor_numel(mu_q);
  if (n == 0 || (!dmq && !dsq && !dmp && !dsp)) return;
  normal_kl_bwd_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(mu_q), tensor_f32(sigma_q), tensor_f32(mu_p), tensor_f32(sigma_p), tensor_f32(dkl),
      dmq, dsq, dmp, dsp, n);
  CUDA_CHECK_LAUNCH();
}
