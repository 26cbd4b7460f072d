/* Batch normalisation on the CPU: see batchnorm.h. Every loop runs over channels (the unit of the
 * statistics); inside a channel the N planes of H·W elements are walked in order, with double
 * accumulators so that the sums do not depend on float rounding order. */
#include "kernels/cpu/batchnorm.h"

#include <math.h>

#define BN_PARALLEL_MIN 65536 /* elements below which threads cost more than they save */

typedef struct bn_dims {
  int64_t n, c, hw;
} bn_dims;

static bn_dims bn_dims_of(const tensor *x) {
  TENSOR_EXPECT_4D(x, -1, -1, -1, -1);
  bn_dims d = {x->shape[0], x->shape[1], x->shape[2] * x->shape[3]};
  return d;
}

static void bn_allreduce(const bn_sync *sync, double *sums, int n) {
  if (sync && sync->allreduce_sum) sync->allreduce_sum(sync->arg, sums, n);
}

/* ---- training: forward halves ---- */

void batchnorm_local_sums_cpu(op_ctx *ctx, const tensor *x, double *sums) {
  bn_dims d = bn_dims_of(x);
  const float *px = tensor_f32(x);
#pragma omp parallel for if (d.n * d.c * d.hw > BN_PARALLEL_MIN)
  for (int64_t c = 0; c < d.c; c++) {
    double s = 0, s2 = 0;
    for (int64_t n = 0; n < d.n; n++) {
      const float *row = px + (n * d.c + c) * d.hw; /* [H*W] */
      for (int64_t i = 0; i < d.hw; i++) {
        double v = row[i];
        s += v;
        s2 += v * v;
      }
    }
    sums[c] = s;
    sums[d.c + c] = s2;
  }
  sums[2 * d.c] = (double)(d.n * d.hw);
}

void batchnorm_normalize_cpu(op_ctx *ctx, const batchnorm_params *p, const double *sums,
                             const tensor *x, const tensor *gamma, const tensor *beta,
                             tensor *running_mean, tensor *running_var, tensor *y,
                             tensor *save_mean, tensor *save_invstd) {
  bn_dims d = bn_dims_of(x);
  TENSOR_EXPECT_SAME(y, x);
  TENSOR_EXPECT_1D(gamma, d.c);
  TENSOR_EXPECT_1D(beta, d.c);
  TENSOR_EXPECT_1D(save_mean, d.c);
  TENSOR_EXPECT_1D(save_invstd, d.c);
  double count = sums[2 * d.c];
  /* PyTorch refuses this too: the unbiased variance of one value is undefined. */
  NVAE_ASSERT(count > 1, "batchnorm: %g value(s) per channel in training mode, need more than 1",
              count);
  const float *px = tensor_f32(x), *pg = tensor_f32(gamma), *pb = tensor_f32(beta);
  float *py = tensor_f32(y), *pm = tensor_f32(save_mean), *pis = tensor_f32(save_invstd);
  float *prm = NULL, *prv = NULL;
  if (running_mean) {
    TENSOR_EXPECT_1D(running_mean, d.c);
    prm = tensor_f32(running_mean);
  }
  if (running_var) {
    TENSOR_EXPECT_1D(running_var, d.c);
    prv = tensor_f32(running_var);
  }
  double m = p->momentum;
#pragma omp parallel for if (d.n * d.c * d.hw > BN_PARALLEL_MIN)
  for (int64_t c = 0; c < d.c; c++) {
    double mean = sums[c] / count;
    double var = fmax(sums[d.c + c] / count - mean * mean, 0.0); /* biased: used to normalise */
    double invstd = 1.0 / sqrt(var + (double)p->eps);
    pm[c] = (float)mean;
    pis[c] = (float)invstd;
    if (prm) prm[c] = (float)((1 - m) * prm[c] + m * mean);
    if (prv) prv[c] = (float)((1 - m) * prv[c] + m * var * count / (count - 1)); /* unbiased */
    /* scale from the SAVED float invstd, so that bn_swish's backward recomputes z bit-exactly */
    float mean_f = pm[c], scale = pg[c] * pis[c], shift = pb[c];
    for (int64_t n = 0; n < d.n; n++) {
      const float *xr = px + (n * d.c + c) * d.hw; /* [H*W] */
      float *yr = py + (n * d.c + c) * d.hw;
      for (int64_t i = 0; i < d.hw; i++)
        yr[i] = (xr[i] - mean_f) * scale + shift;
    }
  }
}

void batchnorm_forward_train_cpu(op_ctx *ctx, const batchnorm_params *p, const bn_sync *sync,
                                 const tensor *x, const tensor *gamma, const tensor *beta,
                                 tensor *running_mean, tensor *running_var, tensor *y,
                                 tensor *save_mean, tensor *save_invstd) {
  bn_dims d = bn_dims_of(x);
  int len = batchnorm_sums_len(d.c);
  double *sums = op_ctx_scratch(ctx, (size_t)len * sizeof(double)); /* [2C + 1] */
  batchnorm_local_sums_cpu(ctx, x, sums);
  bn_allreduce(sync, sums, len);
  batchnorm_normalize_cpu(ctx, p, sums, x, gamma, beta, running_mean, running_var, y, save_mean,
                          save_invstd);
}

/* ---- training: backward halves ---- */

void batchnorm_backward_sums_cpu(op_ctx *ctx, const tensor *x, const tensor *save_mean,
                                 const tensor *save_invstd, const tensor *dy, double *sums,
                                 tensor *dgamma, tensor *dbeta) {
  bn_dims d = bn_dims_of(x);
  TENSOR_EXPECT_SAME(dy, x);
  TENSOR_EXPECT_1D(save_mean, d.c);
  TENSOR_EXPECT_1D(save_invstd, d.c);
  const float *px = tensor_f32(x), *pdy = tensor_f32(dy);
  const float *pm = tensor_f32(save_mean), *pis = tensor_f32(save_invstd);
  float *pdg = NULL, *pdb = NULL;
  if (dgamma) {
    TENSOR_EXPECT_1D(dgamma, d.c);
    pdg = tensor_f32(dgamma);
  }
  if (dbeta) {
    TENSOR_EXPECT_1D(dbeta, d.c);
    pdb = tensor_f32(dbeta);
  }
#pragma omp parallel for if (d.n * d.c * d.hw > BN_PARALLEL_MIN)
  for (int64_t c = 0; c < d.c; c++) {
    double mean = pm[c], invstd = pis[c], s = 0, sx = 0;
    for (int64_t n = 0; n < d.n; n++) {
      const float *xr = px + (n * d.c + c) * d.hw; /* [H*W] */
      const float *gr = pdy + (n * d.c + c) * d.hw;
      for (int64_t i = 0; i < d.hw; i++) {
        s += gr[i];
        sx += gr[i] * (xr[i] - mean);
      }
    }
    sums[c] = s;
    sums[d.c + c] = sx * invstd;
    if (pdg) pdg[c] += (float)(sx * invstd);
    if (pdb) pdb[c] += (float)s;
  }
  sums[2 * d.c] = (double)(d.n * d.hw);
}

void batchnorm_backward_input_cpu(op_ctx *ctx, const double *sums, const tensor *x,
                                  const tensor *gamma, const tensor *save_mean,
                                  const tensor *save_invstd, const tensor *dy, tensor *dx) {
  bn_dims d = bn_dims_of(x);
  TENSOR_EXPECT_SAME(dy, x);
  TENSOR_EXPECT_SAME(dx, x);
  TENSOR_EXPECT_1D(gamma, d.c);
  const float *px = tensor_f32(x), *pdy = tensor_f32(dy), *pg = tensor_f32(gamma);
  const float *pm = tensor_f32(save_mean), *pis = tensor_f32(save_invstd);
  float *pdx = tensor_f32(dx);
  double count = sums[2 * d.c];
#pragma omp parallel for if (d.n * d.c * d.hw > BN_PARALLEL_MIN)
  for (int64_t c = 0; c < d.c; c++) {
    /* the mean of dy and of dy·x̂ over the GLOBAL batch: the two directions the batch
     * statistics take out of the gradient */
    float mean_dy = (float)(sums[c] / count), mean_dyxh = (float)(sums[d.c + c] / count);
    float mean = pm[c], invstd = pis[c], k = pg[c] * invstd;
    for (int64_t n = 0; n < d.n; n++) {
      const float *xr = px + (n * d.c + c) * d.hw; /* [H*W] */
      const float *gr = pdy + (n * d.c + c) * d.hw;
      float *dr = pdx + (n * d.c + c) * d.hw;
      for (int64_t i = 0; i < d.hw; i++) {
        float xhat = (xr[i] - mean) * invstd;
        dr[i] += k * (gr[i] - mean_dy - xhat * mean_dyxh);
      }
    }
  }
}

void batchnorm_backward_train_cpu(op_ctx *ctx, const bn_sync *sync, const tensor *x,
                                  const tensor *gamma, const tensor *save_mean,
                                  const tensor *save_invstd, const tensor *dy, tensor *dx,
                                  tensor *dgamma, tensor *dbeta) {
  bn_dims d = bn_dims_of(x);
  int len = batchnorm_sums_len(d.c);
  double *sums = op_ctx_scratch(ctx, (size_t)len * sizeof(double)); /* [2C + 1] */
  batchnorm_backward_sums_cpu(ctx, x, save_mean, save_invstd, dy, sums, dgamma, dbeta);
  /* Every rank joins the reduction even when it needs no dx, or the others would wait forever. */
  bn_allreduce(sync, sums, len);
  if (dx) batchnorm_backward_input_cpu(ctx, sums, x, gamma, save_mean, save_invstd, dy, dx);
}

/* ---- eval ---- */

void batchnorm_forward_eval_cpu(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                const tensor *gamma, const tensor *beta, const tensor *running_mean,
                                const tensor *running_var, tensor *y) {
  bn_dims d = bn_dims_of(x);
  TENSOR_EXPECT_SAME(y, x);
  TENSOR_EXPECT_1D(gamma, d.c);
  TENSOR_EXPECT_1D(beta, d.c);
  TENSOR_EXPECT_1D(running_mean, d.c);
  TENSOR_EXPECT_1D(running_var, d.c);
  const float *px = tensor_f32(x), *pg = tensor_f32(gamma), *pb = tensor_f32(beta);
  const float *prm = tensor_f32(running_mean), *prv = tensor_f32(running_var);
  float *py = tensor_f32(y);
#pragma omp parallel for if (d.n * d.c * d.hw > BN_PARALLEL_MIN)
  for (int64_t c = 0; c < d.c; c++) {
    float mean = prm[c], scale = batchnorm_eval_scale(pg[c], prv[c], p->eps), shift = pb[c];
    for (int64_t n = 0; n < d.n; n++) {
      const float *xr = px + (n * d.c + c) * d.hw; /* [H*W] */
      float *yr = py + (n * d.c + c) * d.hw;
      for (int64_t i = 0; i < d.hw; i++)
        yr[i] = (xr[i] - mean) * scale + shift;
    }
  }
}

void batchnorm_backward_eval_cpu(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                 const tensor *gamma, const tensor *running_mean,
                                 const tensor *running_var, const tensor *dy, tensor *dx,
                                 tensor *dgamma, tensor *dbeta) {
  bn_dims d = bn_dims_of(x);
  TENSOR_EXPECT_SAME(dy, x);
  TENSOR_EXPECT_1D(gamma, d.c);
  TENSOR_EXPECT_1D(running_mean, d.c);
  TENSOR_EXPECT_1D(running_var, d.c);
  const float *px = tensor_f32(x), *pdy = tensor_f32(dy), *pg = tensor_f32(gamma);
  const float *prm = tensor_f32(running_mean), *prv = tensor_f32(running_var);
  float *pdx = NULL, *pdg = NULL, *pdb = NULL;
  if (dx) {
    TENSOR_EXPECT_SAME(dx, x);
    pdx = tensor_f32(dx);
  }
  if (dgamma) {
    TENSOR_EXPECT_1D(dgamma, d.c);
    pdg = tensor_f32(dgamma);
  }
  if (dbeta) {
    TENSOR_EXPECT_1D(dbeta, d.c);
    pdb = tensor_f32(dbeta);
  }
#pragma omp parallel for if (d.n * d.c * d.hw > BN_PARALLEL_MIN)
  for (int64_t c = 0; c < d.c; c++) {
    double invstd = 1.0 / sqrt((double)prv[c] + (double)p->eps);
    double mean = prm[c], s = 0, sx = 0;
    float k = (float)(pg[c] * invstd);
    for (int64_t n = 0; n < d.n; n++) {
      const float *xr = px + (n * d.c + c) * d.hw; /* [H*W] */
      const float *gr = pdy + (n * d.c + c) * d.hw;
      for (int64_t i = 0; i < d.hw; i++) {
        s += gr[i];
        sx += gr[i] * (xr[i] - mean);
      }
      if (pdx) {
        float *dr = pdx + (n * d.c + c) * d.hw;
        for (int64_t i = 0; i < d.hw; i++)
          dr[i] += k * gr[i];
      }
    }
    if (pdg) pdg[c] += (float)(sx * invstd);
    if (pdb) pdb[c] += (float)s;
  }
}
