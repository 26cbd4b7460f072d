/* Fused BatchNorm + Swish on the CPU: see bn_swish.h. */
#include "kernels/cpu/bn_swish.h"

#include "kernels/cpu/activation.h"

#define BNS_PARALLEL_MIN 65536

/* The BN multiplier of channel c exactly as the forward computed it, so that the recomputed z is
 * bit-identical: train (invstd given) gamma * save_invstd, eval gamma / sqrt(running_var + eps). */
static float bns_scale(const float *gamma, const float *invstd, const float *running_var, float eps,
                       int64_t c) {
  return invstd ? gamma[c] * invstd[c] : batchnorm_eval_scale(gamma[c], running_var[c], eps);
}

/* dz = dy * swish'(z), z = (x - mean[c]) * scale + beta[c] */
static void bns_dz(const tensor *x, const float *mean, const float *gamma, const float *invstd,
                   const float *running_var, float eps, const float *beta, const tensor *dy,
                   tensor *dz) {
  TENSOR_EXPECT_SAME(dy, x);
  TENSOR_EXPECT_SAME(dz, x);
  int64_t nn = x->shape[0], cc = x->shape[1], hw = x->shape[2] * x->shape[3];
  const float *px = tensor_f32(x), *pdy = tensor_f32(dy);
  float *pdz = tensor_f32(dz);
#pragma omp parallel for collapse(2) if (nn * cc * hw > BNS_PARALLEL_MIN)
  for (int64_t n = 0; n < nn; n++)
    for (int64_t c = 0; c < cc; c++) {
      int64_t off = (n * cc + c) * hw; /* plane [H*W] */
      float m = mean[c], k = bns_scale(gamma, invstd, running_var, eps, c), b = beta[c];
      for (int64_t i = 0; i < hw; i++) {
        float z = (px[off + i] - m) * k + b;
        pdz[off + i] = pdy[off + i] * act_swish_gradf(z);
      }
    }
}

static void bns_expect(const tensor *x, const tensor *gamma, const tensor *beta, const tensor *mean,
                       const tensor *var) {
  TENSOR_EXPECT_4D(x, -1, -1, -1, -1);
  int64_t c = x->shape[1];
  TENSOR_EXPECT_1D(gamma, c);
  TENSOR_EXPECT_1D(beta, c);
  TENSOR_EXPECT_1D(mean, c);
  TENSOR_EXPECT_1D(var, c);
}

/* scratch: the BN sums [2C + 1] doubles, then dz [N, C, H, W] floats */
static double *bns_scratch(op_ctx *ctx, const tensor *x, tensor *dz) {
  int64_t c = x->shape[1];
  size_t sums_bytes = ((size_t)batchnorm_sums_len(c) * sizeof(double) + 63) & ~(size_t)63;
  char *base = op_ctx_scratch(ctx, sums_bytes + (size_t)tensor_numel(x) * sizeof(float));
  *dz = tensor_4d((float *)(base + sums_bytes), x->shape[0], c, x->shape[2], x->shape[3]);
  return (double *)base;
}

void bn_swish_normalize_cpu(op_ctx *ctx, const batchnorm_params *p, const double *sums,
                            const tensor *x, const tensor *gamma, const tensor *beta,
                            tensor *running_mean, tensor *running_var, tensor *y, tensor *save_mean,
                            tensor *save_invstd) {
  batchnorm_normalize_cpu(ctx, p, sums, x, gamma, beta, running_mean, running_var, y, save_mean,
                          save_invstd);
  swish_forward_cpu(ctx, y, y);
}

void bn_swish_forward_train_cpu(op_ctx *ctx, const batchnorm_params *p, const bn_sync *sync,
                                const tensor *x, const tensor *gamma, const tensor *beta,
                                tensor *running_mean, tensor *running_var, tensor *y,
                                tensor *save_mean, tensor *save_invstd) {
  NVAE_ASSERT(y->data != x->data, "bn_swish: y must not alias x (backward recomputes from x)");
  batchnorm_forward_train_cpu(ctx, p, sync, x, gamma, beta, running_mean, running_var, y, save_mean,
                              save_invstd);
  swish_forward_cpu(ctx, y, y);
}

void bn_swish_backward_dz_cpu(op_ctx *ctx, const tensor *x, const tensor *gamma, const tensor *beta,
                              const tensor *save_mean, const tensor *save_invstd, const tensor *dy,
                              tensor *dz) {
  bns_expect(x, gamma, beta, save_mean, save_invstd);
  bns_dz(x, tensor_f32(save_mean), tensor_f32(gamma), tensor_f32(save_invstd), NULL, 0,
         tensor_f32(beta), dy, dz);
}

void bn_swish_backward_train_cpu(op_ctx *ctx, const bn_sync *sync, const tensor *x,
                                 const tensor *gamma, const tensor *beta, const tensor *save_mean,
                                 const tensor *save_invstd, const tensor *dy, tensor *dx,
                                 tensor *dgamma, tensor *dbeta) {
  bns_expect(x, gamma, beta, save_mean, save_invstd);
  tensor dz;                               /* [N, C, H, W] */
  double *sums = bns_scratch(ctx, x, &dz); /* [2C + 1] */
  bn_swish_backward_dz_cpu(ctx, x, gamma, beta, save_mean, save_invstd, dy, &dz);
  batchnorm_backward_sums_cpu(ctx, x, save_mean, save_invstd, &dz, sums, dgamma, dbeta);
  /* every rank joins the reduction, dx wanted or not */
  if (sync && sync->allreduce_sum)
    sync->allreduce_sum(sync->arg, sums, batchnorm_sums_len(x->shape[1]));
  if (dx) batchnorm_backward_input_cpu(ctx, sums, x, gamma, save_mean, save_invstd, &dz, dx);
}

void bn_swish_forward_eval_cpu(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                               const tensor *gamma, const tensor *beta, const tensor *running_mean,
                               const tensor *running_var, tensor *y) {
  batchnorm_forward_eval_cpu(ctx, p, x, gamma, beta, running_mean, running_var, y);
  swish_forward_cpu(ctx, y, y);
}

void bn_swish_backward_eval_cpu(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                const tensor *gamma, const tensor *beta, const tensor *running_mean,
                                const tensor *running_var, const tensor *dy, tensor *dx,
                                tensor *dgamma, tensor *dbeta) {
  bns_expect(x, gamma, beta, running_mean, running_var);
  tensor dz; /* [N, C, H, W] */
  bns_scratch(ctx, x, &dz);
  bns_dz(x, tensor_f32(running_mean), tensor_f32(gamma), NULL, tensor_f32(running_var), p->eps,
         tensor_f32(beta), dy, &dz);
  batchnorm_backward_eval_cpu(ctx, p, x, gamma, running_mean, running_var, &dz, dx, dgamma, dbeta);
}
