/* Batch normalisation on the GPU: see kernels/cpu/batchnorm.h for the semantics (train with the
 * bn_sync hook between the local sums and the normalisation, eval with the running statistics)
 * and ops_batchnorm.cuh for the passes. Accumulation precision is the CPU's: per-channel sums in
 * double, per-channel statistics in double, per-element arithmetic in float with the same
 * expressions.
 *
 * The `double *sums` of the halves (local_sums, normalize, backward_sums, backward_input) are HOST
 * buffers, as on the CPU, so that the caller can all-reduce them over MPI between the halves; the
 * whole-op *_train entries keep the sums on the device and hand them to the bn_sync hook's
 * allreduce_sum_dev (NCCL, queued on the stream) or, without it, copy them to the host around
 * allreduce_sum (the MPI-transport path). */
#include "kernels/cuda/ops_batchnorm.cuh"

enum { BN_SUM_X = 0, BN_SUM_BWD = 1, BN_SUM_EVAL_BWD = 2 };

typedef struct bn_plane_args {
  const float *x, *dy; /* [N, C, H, W] */
  const float *gamma;  /* [C] */
  const float *beta;   /* [C], swish recompute only */
  const float *mean;   /* [C]: save_mean (train) or running_mean (eval) */
  const float *invstd; /* [C]: save_invstd (train) */
  const float *rvar;   /* [C]: running_var (eval) */
  float eps;           /* eval */
  float *dz;           /* train backward with swish: dz written [N, C, H, W] */
  float *dx;           /* eval backward: dx += k·g (nullable) */
  int64_t c, hw;
  double *part; /* [N·C, splits, 2] partial sums */
} bn_plane_args;

/* One block per (n, c) plane and BN_SPLIT piece of it (blockIdx.y): the two sums of the mode over
 * its elements, in double.
 *   BN_SUM_X:        Σx, Σx²
 *   BN_SUM_BWD:      Σg, Σg·(x - save_mean),       g = dy or (SWISH) dy·swish'(z_train)
 *   BN_SUM_EVAL_BWD: Σg, Σg·(x - running_mean),    g = dy or (SWISH) dy·swish'(z_eval); and
 *                    dx += (gamma / sqrt(running_var + eps))·g in the same pass */
template <int MODE, bool SWISH> __global__ void bn_plane_sums_kernel(bn_plane_args a) {
  int64_t plane = blockIdx.x, c = plane % a.c;
  int64_t lo = (int64_t)blockIdx.y * BN_SPLIT, hi = lo + BN_SPLIT < a.hw ? lo + BN_SPLIT : a.hw;
  const float *xp = a.x + plane * a.hw; /* [H*W] */
  double s = 0, s2 = 0;
  if (MODE == BN_SUM_X) {
    for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
      double v = xp[i];
      s += v;
      s2 += v * v;
    }
  } else {
    const float *gp = a.dy + plane * a.hw;
    float mean_f = a.mean[c], zk = 0, zb = 0, kdx = 0;
    if (MODE == BN_SUM_BWD) {
      if (SWISH) zk = a.gamma[c] * a.invstd[c], zb = a.beta[c];
    } else {
      double inv = 1.0 / sqrt((double)a.rvar[c] + (double)a.eps);
      kdx = (float)(a.gamma[c] * inv);
      if (SWISH) zk = (float)(a.gamma[c] / sqrt((double)a.rvar[c] + (double)a.eps)), zb = a.beta[c];
    }
    double mean = mean_f;
    for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
      float g = gp[i], xv = xp[i];
      if (SWISH) {
        g = g * om_swish_gradf(om_bn_affinef(xv, mean_f, zk, zb));
        if (MODE == BN_SUM_BWD) a.dz[plane * a.hw + i] = g;
      }
      s += g;
      s2 += g * ((double)xv - mean);
      if (MODE == BN_SUM_EVAL_BWD && a.dx) a.dx[plane * a.hw + i] += kdx * g;
    }
  }
  s = ops_block_sum(s);
  s2 = ops_block_sum(s2);
  if (threadIdx.x == 0) {
    int64_t k = plane * gridDim.y + blockIdx.y;
    a.part[2 * k] = s;
    a.part[2 * k + 1] = s2;
  }
}

/* One thread per channel: the N·splits partial sums in order, then what the mode makes of them. */
template <int MODE>
__global__ void bn_combine_kernel(const double *part, int64_t n, int64_t C, int64_t splits,
                                  double count, const float *invstd, const float *rvar, float eps,
                                  double *dsums, float *dgamma, float *dbeta) {
  OPS_FOR(c, C) {
    double s = 0, s2 = 0;
    for (int64_t k = 0; k < n; k++)
      for (int64_t sp = 0; sp < splits; sp++) {
        int64_t j = (k * C + c) * splits + sp;
        s += part[2 * j];
        s2 += part[2 * j + 1];
      }
    if (MODE == BN_SUM_X) {
      dsums[c] = s;
      dsums[C + c] = s2;
    } else {
      double inv =
          MODE == BN_SUM_BWD ? (double)invstd[c] : 1.0 / sqrt((double)rvar[c] + (double)eps);
      if (dsums) {
        dsums[c] = s;
        dsums[C + c] = s2 * inv;
      }
      if (dgamma) dgamma[c] += (float)(s2 * inv);
      if (dbeta) dbeta[c] += (float)s;
    }
  }
  if (dsums && blockIdx.x == 0 && threadIdx.x == 0) dsums[2 * C] = count;
}

/* Per channel from the (reduced) sums: batch mean, biased variance for the normalisation,
 * unbiased for the running variance (PyTorch's convention). */
__global__ void bn_stats_kernel(const double *dsums, int64_t C, double eps, double m,
                                float *save_mean, float *save_invstd, float *rm, float *rv) {
  double count = dsums[2 * C];
  OPS_FOR(c, C) {
    double mean = dsums[c] / count;
    double var = fmax(dsums[C + c] / count - mean * mean, 0.0);
    double invstd = 1.0 / sqrt(var + eps);
    save_mean[c] = (float)mean;
    save_invstd[c] = (float)invstd;
    if (rm) rm[c] = (float)((1 - m) * rm[c] + m * mean);
    if (rv) rv[c] = (float)((1 - m) * rv[c] + m * var * count / (count - 1));
  }
}

/* y = (x - mean)·scale + shift (then swish), per plane. Train: scale = gamma·save_invstd from the
 * SAVED float invstd (what the backward recomputes); eval: gamma / sqrt(running_var + eps). */
template <bool SWISH, bool EVAL>
__global__ void bn_apply_kernel(const float *x, const float *gamma, const float *beta,
                                const float *mean, const float *invstd, const float *rvar,
                                float eps, int64_t C, int64_t hw, float *y) {
  int64_t plane = blockIdx.x, c = plane % C;
  float m = mean[c], shift = beta[c];
  float scale =
      EVAL ? (float)(gamma[c] / sqrt((double)rvar[c] + (double)eps)) : gamma[c] * invstd[c];
  const float *xp = x + plane * hw; /* [H*W] */
  float *yp = y + plane * hw;
  OPS_FOR_PLANE(i, hw) {
    float v = om_bn_affinef(xp[i], m, scale, shift);
    yp[i] = SWISH ? om_swishf(v) : v;
  }
}

/* dx += gamma·invstd·(g - mean(g) - x̂·mean(g·x̂)) with the GLOBAL means from the reduced sums. */
__global__ void bn_backward_input_kernel(const double *dsums, const float *x, const float *gamma,
                                         const float *mean, const float *invstd, const float *g,
                                         int64_t C, int64_t hw, float *dx) {
  int64_t plane = blockIdx.x, c = plane % C;
  double count = dsums[2 * C];
  float mean_g = (float)(dsums[c] / count), mean_gxh = (float)(dsums[C + c] / count);
  float m = mean[c], is = invstd[c], k = gamma[c] * is;
  const float *xp = x + plane * hw, *gp = g + plane * hw; /* [H*W] */
  float *dp = dx + plane * hw;
  OPS_FOR_PLANE(i, hw) {
    float xhat = (xp[i] - m) * is;
    dp[i] += k * (gp[i] - mean_g - xhat * mean_gxh);
  }
}

/* dz = dy·swish'(z), z = (x - save_mean)·gamma·save_invstd + beta (overwritten). */
__global__ void bn_swish_dz_kernel(const float *x, const float *gamma, const float *beta,
                                   const float *mean, const float *invstd, const float *dy,
                                   int64_t C, int64_t hw, float *dz) {
  int64_t plane = blockIdx.x, c = plane % C;
  float m = mean[c], k = gamma[c] * invstd[c], b = beta[c];
  const float *xp = x + plane * hw, *gp = dy + plane * hw; /* [H*W] */
  float *zp = dz + plane * hw;
  OPS_FOR_PLANE(i, hw) zp[i] = gp[i] * om_swish_gradf(om_bn_affinef(xp[i], m, k, b));
}

/* ---- host side ---- */

bn_dims bn_dims_of(const tensor *x) {
  OPS_EXPECT_4D(x, -1, -1, -1, -1);
  bn_dims d = {x->shape[0], x->shape[1], x->shape[2] * x->shape[3]};
  NVAE_ASSERT(d.n * d.c >= 1, "batchnorm: empty input");
  return d;
}

/* [C] data of a nullable per-channel tensor */
static float *bn_vec(const tensor *t, int64_t c, const char *what) {
  if (!t) return nullptr;
  OPS_EXPECT_AT(t, what, 1, c);
  return tensor_f32(t);
}

/* ... of a required one */
static float *bn_req(const tensor *t, int64_t c, const char *what) {
  NVAE_ASSERT(t, "batchnorm: %s is NULL", what);
  return bn_vec(t, c, what);
}

static dim3 bn_plane_sum_grid(bn_dims d) {
  NVAE_ASSERT(d.n * d.c < (1ll << 31) && bn_splits(d) <= OPS_MAX_GRID_Y,
              "batchnorm: %lld planes of %lld elements", (long long)(d.n * d.c), (long long)d.hw);
  return dim3((unsigned)(d.n * d.c), (unsigned)bn_splits(d), 1);
}
static int bn_plane_sum_threads(bn_dims d) {
  return ops_row_threads(d.hw < BN_SPLIT ? d.hw : BN_SPLIT);
}

void bn_local_sums_dev(cudaStream_t s, const tensor *x, double *part, double *dsums) {
  bn_dims d = bn_dims_of(x);
  bn_plane_args a = {};
  a.x = tensor_f32(x), a.c = d.c, a.hw = d.hw, a.part = part;
  bn_plane_sums_kernel<BN_SUM_X, false><<<bn_plane_sum_grid(d), bn_plane_sum_threads(d), 0, s>>>(a);
  CUDA_CHECK_LAUNCH();
  bn_combine_kernel<BN_SUM_X>
      <<<ops_blocks(d.c), OPS_THREADS, 0, s>>>(part, d.n, d.c, bn_splits(d), (double)(d.n * d.hw),
                                               nullptr, nullptr, 0.0f, dsums, nullptr, nullptr);
  CUDA_CHECK_LAUNCH();
}

void bn_normalize_dev(cudaStream_t s, const batchnorm_params *p, double count, const double *dsums,
                      const tensor *x, const tensor *gamma, const tensor *beta,
                      tensor *running_mean, tensor *running_var, tensor *y, tensor *save_mean,
                      tensor *save_invstd, int swish) {
  bn_dims d = bn_dims_of(x);
  TENSOR_EXPECT_SAME(y, x);
  /* PyTorch refuses this too: the unbiased variance of one value is undefined. */
  NVAE_ASSERT(count > 1, "batchnorm: %g value(s) per channel in training mode, need more than 1",
              count);
  const float *pg = bn_req(gamma, d.c, "gamma"), *pb = bn_req(beta, d.c, "beta");
  float *pm = bn_req(save_mean, d.c, "save_mean"), *pis = bn_req(save_invstd, d.c, "save_invstd");
  float *prm = bn_vec(running_mean, d.c, "running_mean");
  float *prv = bn_vec(running_var, d.c, "running_var");
  bn_stats_kernel<<<ops_blocks(d.c), OPS_THREADS, 0, s>>>(dsums, d.c, (double)p->eps,
                                                          (double)p->momentum, pm, pis, prm, prv);
  CUDA_CHECK_LAUNCH();
  dim3 grid = ops_plane_grid(d.n * d.c, d.hw);
  if (swish)
    bn_apply_kernel<true, false><<<grid, OPS_THREADS, 0, s>>>(
        tensor_f32(x), pg, pb, pm, pis, nullptr, 0.0f, d.c, d.hw, tensor_f32(y));
  else
    bn_apply_kernel<false, false><<<grid, OPS_THREADS, 0, s>>>(
        tensor_f32(x), pg, pb, pm, pis, nullptr, 0.0f, d.c, d.hw, tensor_f32(y));
  CUDA_CHECK_LAUNCH();
}

void bn_backward_sums_dev(cudaStream_t s, const tensor *x, const tensor *gamma,
                          const tensor *swish_beta, const tensor *save_mean,
                          const tensor *save_invstd, const tensor *dy, float *dz, double *part,
                          double *dsums, tensor *dgamma, tensor *dbeta) {
  bn_dims d = bn_dims_of(x);
  TENSOR_EXPECT_SAME(dy, x);
  bn_plane_args a = {};
  a.x = tensor_f32(x), a.dy = tensor_f32(dy), a.c = d.c, a.hw = d.hw, a.part = part;
  a.mean = bn_req(save_mean, d.c, "save_mean");
  a.invstd = bn_req(save_invstd, d.c, "save_invstd");
  dim3 planes = bn_plane_sum_grid(d);
  int threads = bn_plane_sum_threads(d);
  if (swish_beta) {
    NVAE_ASSERT(dz, "bn_swish backward: no dz buffer");
    a.gamma = bn_req(gamma, d.c, "gamma"), a.beta = bn_req(swish_beta, d.c, "beta"), a.dz = dz;
    bn_plane_sums_kernel<BN_SUM_BWD, true><<<planes, threads, 0, s>>>(a);
  } else {
    bn_plane_sums_kernel<BN_SUM_BWD, false><<<planes, threads, 0, s>>>(a);
  }
  CUDA_CHECK_LAUNCH();
  bn_combine_kernel<BN_SUM_BWD><<<ops_blocks(d.c), OPS_THREADS, 0, s>>>(
      part, d.n, d.c, bn_splits(d), (double)(d.n * d.hw), a.invstd, nullptr, 0.0f, dsums,
      bn_vec(dgamma, d.c, "dgamma"), bn_vec(dbeta, d.c, "dbeta"));
  CUDA_CHECK_LAUNCH();
}

void bn_backward_input_dev(cudaStream_t s, const double *dsums, const tensor *x,
                           const tensor *gamma, const tensor *save_mean, const tensor *save_invstd,
                           const float *g, tensor *dx) {
  bn_dims d = bn_dims_of(x);
  TENSOR_EXPECT_SAME(dx, x);
  bn_backward_input_kernel<<<ops_plane_grid(d.n * d.c, d.hw), OPS_THREADS, 0, s>>>(
      dsums, tensor_f32(x), bn_req(gamma, d.c, "gamma"), bn_req(save_mean, d.c, "save_mean"),
      bn_req(save_invstd, d.c, "save_invstd"), g, d.c, d.hw, tensor_f32(dx));
  CUDA_CHECK_LAUNCH();
}

void bn_forward_eval_dev(cudaStream_t s, const batchnorm_params *p, const tensor *x,
                         const tensor *gamma, const tensor *beta, const tensor *running_mean,
                         const tensor *running_var, tensor *y, int swish) {
  bn_dims d = bn_dims_of(x);
  TENSOR_EXPECT_SAME(y, x);
  const float *pg = bn_req(gamma, d.c, "gamma"), *pb = bn_req(beta, d.c, "beta");
  const float *prm = bn_req(running_mean, d.c, "running_mean");
  const float *prv = bn_req(running_var, d.c, "running_var");
  dim3 grid = ops_plane_grid(d.n * d.c, d.hw);
  if (swish)
    bn_apply_kernel<true, true><<<grid, OPS_THREADS, 0, s>>>(tensor_f32(x), pg, pb, prm, nullptr,
                                                             prv, p->eps, d.c, d.hw, tensor_f32(y));
  else
    bn_apply_kernel<false, true><<<grid, OPS_THREADS, 0, s>>>(
        tensor_f32(x), pg, pb, prm, nullptr, prv, p->eps, d.c, d.hw, tensor_f32(y));
  CUDA_CHECK_LAUNCH();
}

void bn_backward_eval_dev(cudaStream_t s, const batchnorm_params *p, const tensor *x,
                          const tensor *gamma, const tensor *swish_beta, const tensor *running_mean,
                          const tensor *running_var, const tensor *dy, double *part, tensor *dx,
                          tensor *dgamma, tensor *dbeta) {
  bn_dims d = bn_dims_of(x);
  TENSOR_EXPECT_SAME(dy, x);
  if (dx) TENSOR_EXPECT_SAME(dx, x);
  float *pdg = bn_vec(dgamma, d.c, "dgamma"), *pdb = bn_vec(dbeta, d.c, "dbeta");
  bn_plane_args a = {};
  a.x = tensor_f32(x), a.dy = tensor_f32(dy), a.c = d.c, a.hw = d.hw, a.part = part;
  a.gamma = bn_req(gamma, d.c, "gamma");
  a.mean = bn_req(running_mean, d.c, "running_mean");
  a.rvar = bn_req(running_var, d.c, "running_var");
  a.eps = p->eps;
  a.dx = ops_opt_f32(dx);
  dim3 planes = bn_plane_sum_grid(d);
  int threads = bn_plane_sum_threads(d);
  if (swish_beta) {
    a.beta = bn_req(swish_beta, d.c, "beta");
    bn_plane_sums_kernel<BN_SUM_EVAL_BWD, true><<<planes, threads, 0, s>>>(a);
  } else {
    bn_plane_sums_kernel<BN_SUM_EVAL_BWD, false><<<planes, threads, 0, s>>>(a);
  }
  CUDA_CHECK_LAUNCH();
  if (pdg || pdb) {
    bn_combine_kernel<BN_SUM_EVAL_BWD><<<ops_blocks(d.c), OPS_THREADS, 0, s>>>(
        part, d.n, d.c, bn_splits(d), 0.0, nullptr, a.rvar, p->eps, nullptr, pdg, pdb);
    CUDA_CHECK_LAUNCH();
  }
}

void bn_swish_dz_dev(cudaStream_t s, const tensor *x, const tensor *gamma, const tensor *beta,
                     const tensor *save_mean, const tensor *save_invstd, const tensor *dy,
                     tensor *dz) {
  bn_dims d = bn_dims_of(x);
  TENSOR_EXPECT_SAME(dy, x);
  TENSOR_EXPECT_SAME(dz, x);
  bn_swish_dz_kernel<<<ops_plane_grid(d.n * d.c, d.hw), OPS_THREADS, 0, s>>>(
      tensor_f32(x), bn_req(gamma, d.c, "gamma"), bn_req(beta, d.c, "beta"),
      bn_req(save_mean, d.c, "save_mean"), bn_req(save_invstd, d.c, "save_invstd"), tensor_f32(dy),
      d.c, d.hw, tensor_f32(dz));
  CUDA_CHECK_LAUNCH();
}

/* ---- the op table's entries ---- */

/* The all-reduce of the sums through the hook; returns the element count for the host's
 * count > 1 check (the kernels read the count from dsums[2C]). */
double bn_reduce(cudaStream_t s, const bn_sync *sync, double *dsums, int64_t c,
                 double local_count) {
  if (!sync || (!sync->allreduce_sum && !sync->allreduce_sum_dev)) return local_count;
  ops_bn_allreduce(s, sync, dsums, batchnorm_sums_len(c));
  /* Device path: every rank adds a count >= 0, so the local count is a lower bound of the
   * global one and passes the check without a host wait on every BN layer; only a rank that
   * holds at most one value per channel reads the global count back. */
  if (sync->allreduce_sum_dev && local_count > 1) return local_count;
  double count;
  ops_copy_d2h(s, &count, dsums + 2 * c, sizeof count);
  return count;
}

void cuda_batchnorm_local_sums(op_ctx *ctx, const tensor *x, double *sums) {
  cudaStream_t s = cuda_ctx_stream(ctx);
  bn_dims d = bn_dims_of(x);
  OpsScratch sc(ctx, bn_sums_bytes(d) + bn_part_bytes(d));
  double *dsums = sc.take<double>(2 * d.c + 1), *part = sc.take<double>(bn_part_len(d));
  bn_local_sums_dev(s, x, part, dsums);
  ops_copy_d2h(s, sums, dsums, (size_t)(2 * d.c + 1) * sizeof(double)); /* host [2C + 1] */
}

void cuda_batchnorm_normalize(op_ctx *ctx, const batchnorm_params *p, const double *sums,
                              const tensor *x, const tensor *gamma, const tensor *beta,
                              tensor *running_mean, tensor *running_var, tensor *y,
                              tensor *save_mean, tensor *save_invstd) {
  cudaStream_t s = cuda_ctx_stream(ctx);
  bn_dims d = bn_dims_of(x);
  OpsScratch sc(ctx, bn_sums_bytes(d));
  double *dsums = sc.take<double>(2 * d.c + 1);
  ops_copy_h2d(s, dsums, sums, (size_t)(2 * d.c + 1) * sizeof(double)); /* host [2C + 1] */
  bn_normalize_dev(s, p, sums[2 * d.c], dsums, x, gamma, beta, running_mean, running_var, y,
                   save_mean, save_invstd, 0);
}

void cuda_batchnorm_forward_train(op_ctx *ctx, const batchnorm_params *p, const bn_sync *sync,
                                  const tensor *x, const tensor *gamma, const tensor *beta,
                                  tensor *running_mean, tensor *running_var, tensor *y,
                                  tensor *save_mean, tensor *save_invstd) {
  cudaStream_t s = cuda_ctx_stream(ctx);
  bn_dims d = bn_dims_of(x);
  OpsScratch sc(ctx, bn_sums_bytes(d) + bn_part_bytes(d));
  double *dsums = sc.take<double>(2 * d.c + 1), *part = sc.take<double>(bn_part_len(d));
  bn_local_sums_dev(s, x, part, dsums);
  double count = bn_reduce(s, sync, dsums, d.c, (double)(d.n * d.hw));
  bn_normalize_dev(s, p, count, dsums, x, gamma, beta, running_mean, running_var, y, save_mean,
                   save_invstd, 0);
}

void cuda_batchnorm_backward_sums(op_ctx *ctx, const tensor *x, const tensor *save_mean,
                                  const tensor *save_invstd, const tensor *dy, double *sums,
                                  tensor *dgamma, tensor *dbeta) {
  cudaStream_t s = cuda_ctx_stream(ctx);
  bn_dims d = bn_dims_of(x);
  OpsScratch sc(ctx, bn_sums_bytes(d) + bn_part_bytes(d));
  double *dsums = sc.take<double>(2 * d.c + 1), *part = sc.take<double>(bn_part_len(d));
  bn_backward_sums_dev(s, x, nullptr, nullptr, save_mean, save_invstd, dy, nullptr, part, dsums,
                       dgamma, dbeta);
  ops_copy_d2h(s, sums, dsums, (size_t)(2 * d.c + 1) * sizeof(double)); /* host [2C + 1] */
}

void cuda_batchnorm_backward_input(op_ctx *ctx, const double *sums, const tensor *x,
                                   const tensor *gamma, const tensor *save_mean,
                                   const tensor *save_invstd, const tensor *dy, tensor *dx) {
  cudaStream_t s = cuda_ctx_stream(ctx);
  bn_dims d = bn_dims_of(x);
  TENSOR_EXPECT_SAME(dy, x);
  OpsScratch sc(ctx, bn_sums_bytes(d));
  double *dsums = sc.take<double>(2 * d.c + 1);
  ops_copy_h2d(s, dsums, sums, (size_t)(2 * d.c + 1) * sizeof(double)); /* host [2C + 1] */
  bn_backward_input_dev(s, dsums, x, gamma, save_mean, save_invstd, tensor_f32(dy), dx);
}

void cuda_batchnorm_backward_train(op_ctx *ctx, const bn_sync *sync, const tensor *x,
                                   const tensor *gamma, const tensor *save_mean,
                                   const tensor *save_invstd, const tensor *dy, tensor *dx,
                                   tensor *dgamma, tensor *dbeta) {
  cudaStream_t s = cuda_ctx_stream(ctx);
  bn_dims d = bn_dims_of(x);
  OpsScratch sc(ctx, bn_sums_bytes(d) + bn_part_bytes(d));
  double *dsums = sc.take<double>(2 * d.c + 1), *part = sc.take<double>(bn_part_len(d));
  bn_backward_sums_dev(s, x, nullptr, nullptr, save_mean, save_invstd, dy, nullptr, part, dsums,
                       dgamma, dbeta);
  /* Every rank joins the reduction even when it needs no dx, or the others would wait forever. */
  bn_reduce(s, sync, dsums, d.c, (double)(d.n * d.hw));
  if (dx) bn_backward_input_dev(s, dsums, x, gamma, save_mean, save_invstd, tensor_f32(dy), dx);
}

void cuda_batchnorm_forward_eval(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                 const tensor *gamma, const tensor *beta,
                                 const tensor *running_mean, const tensor *running_var, tensor *y) {
  bn_forward_eval_dev(cuda_ctx_stream(ctx), p, x, gamma, beta, running_mean, running_var, y, 0);
}

void cuda_batchnorm_backward_eval(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                  const tensor *gamma, const tensor *running_mean,
                                  const tensor *running_var, const tensor *dy, tensor *dx,
                                  tensor *dgamma, tensor *dbeta) {
  bn_dims d = bn_dims_of(x);
  OpsScratch sc(ctx, bn_part_bytes(d));
  bn_backward_eval_dev(cuda_ctx_stream(ctx), p, x, gamma, nullptr, running_mean, running_var, dy,
                       sc.take<double>(bn_part_len(d)), dx, dgamma, dbeta);
}
