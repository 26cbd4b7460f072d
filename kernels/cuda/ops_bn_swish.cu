/* Fused BatchNorm + Swish on the GPU: see kernels/cpu/bn_swish.h. Forward keeps only what BN
 * keeps (save_mean, save_invstd); backward RECOMPUTES z = BN(x) inside the BN backward's
 * reduction pass (ops_batchnorm.cuh), which writes dz = dy·swish'(z) once for the dx pass. Sync,
 * host-side sums of the halves and gradient semantics are those of ops_batchnorm.cu. */
#include "kernels/cuda/ops_batchnorm.cuh"

static void bns_expect(const tensor *x, const tensor *gamma, const tensor *beta, const tensor *mean,
                       const tensor *var) {
  OPS_EXPECT_4D(x, -1, -1, -1, -1);
  int64_t c = x->shape[1];
  OPS_EXPECT_1D(gamma, c);
  OPS_EXPECT_1D(beta, c);
  OPS_EXPECT_1D(mean, c);
  OPS_EXPECT_1D(var, c);
}

void cuda_bn_swish_normalize(op_ctx *ctx, const batchnorm_params *p, const double *sums,
                             const tensor *x, const tensor *gamma, const tensor *beta,
                             tensor *running_mean, tensor *running_var, tensor *y,
                             tensor *save_mean, tensor *save_invstd) {
  cudaStream_t s = cuda_ctx_stream(ctx);
  bn_dims d = bn_dims_of(x);
  OpsScratch sc(ctx, bn_sums_bytes(d));
  double *dsums = sc.take<double>(2 * d.c + 1);
  ops_copy_h2d(s, dsums, sums, (size_t)(2 * d.c + 1) * sizeof(double)); /* host [2C + 1] */
  bn_normalize_dev(s, p, sums[2 * d.c], dsums, x, gamma, beta, running_mean, running_var, y,
                   save_mean, save_invstd, 1);
}

void cuda_bn_swish_forward_train(op_ctx *ctx, const batchnorm_params *p, const bn_sync *sync,
                                 const tensor *x, const tensor *gamma, const tensor *beta,
                                 tensor *running_mean, tensor *running_var, tensor *y,
                                 tensor *save_mean, tensor *save_invstd) {
  NVAE_ASSERT(y->data != x->data, "bn_swish: y must not alias x (backward recomputes from x)");
  cudaStream_t s = cuda_ctx_stream(ctx);
  bn_dims d = bn_dims_of(x);
  OpsScratch sc(ctx, bn_sums_bytes(d) + bn_part_bytes(d));
  double *dsums = sc.take<double>(2 * d.c + 1), *part = sc.take<double>(bn_part_len(d));
  bn_local_sums_dev(s, x, part, dsums);
  double count = bn_reduce(s, sync, dsums, d.c, (double)(d.n * d.hw));
  bn_normalize_dev(s, p, count, dsums, x, gamma, beta, running_mean, running_var, y, save_mean,
                   save_invstd, 1);
}

void cuda_bn_swish_backward_dz(op_ctx *ctx, const tensor *x, const tensor *gamma,
                               const tensor *beta, const tensor *save_mean,
                               const tensor *save_invstd, const tensor *dy, tensor *dz) {
  bns_expect(x, gamma, beta, save_mean, save_invstd);
  bn_swish_dz_dev(cuda_ctx_stream(ctx), x, gamma, beta, save_mean, save_invstd, dy, dz);
}

void cuda_bn_swish_backward_train(op_ctx *ctx, const bn_sync *sync, const tensor *x,
                                  const tensor *gamma, const tensor *beta, const tensor *save_mean,
                                  const tensor *save_invstd, const tensor *dy, tensor *dx,
                                  tensor *dgamma, tensor *dbeta) {
  bns_expect(x, gamma, beta, save_mean, save_invstd);
  cudaStream_t s = cuda_ctx_stream(ctx);
  bn_dims d = bn_dims_of(x);
  int64_t numel = tensor_numel(x);
  OpsScratch sc(ctx, bn_sums_bytes(d) + bn_part_bytes(d) + ops_pad((size_t)numel * sizeof(float)));
  double *dsums = sc.take<double>(2 * d.c + 1);   /* [2C + 1] */
  double *part = sc.take<double>(bn_part_len(d)); /* [N*C, 2] */
  float *dz = sc.take<float>(numel);              /* [N, C, H, W] */
  bn_backward_sums_dev(s, x, gamma, beta, save_mean, save_invstd, dy, dz, part, dsums, dgamma,
                       dbeta);
  /* every rank joins the reduction, dx wanted or not */
  bn_reduce(s, sync, dsums, d.c, (double)(d.n * d.hw));
  if (dx) bn_backward_input_dev(s, dsums, x, gamma, save_mean, save_invstd, dz, dx);
}

void cuda_bn_swish_forward_eval(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                const tensor *gamma, const tensor *beta, const tensor *running_mean,
                                const tensor *running_var, tensor *y) {
  bn_forward_eval_dev(cuda_ctx_stream(ctx), p, x, gamma, beta, running_mean, running_var, y, 1);
}

void cuda_bn_swish_backward_eval(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                 const tensor *gamma, const tensor *beta,
                                 const tensor *running_mean, const tensor *running_var,
                                 const tensor *dy, tensor *dx, tensor *dgamma, tensor *dbeta) {
  bns_expect(x, gamma, beta, running_mean, running_var);
  bn_dims d = bn_dims_of(x);
  OpsScratch sc(ctx, bn_part_bytes(d));
  bn_backward_eval_dev(cuda_ctx_stream(ctx), p, x, gamma, beta, running_mean, running_var, dy,
                       sc.take<double>(bn_part_len(d)), dx, dgamma, dbeta);
}
