/* Op cases for kernels/cpu/batchnorm.c and kernels/cpu/bn_swish.c: BatchNorm and fused
 * BN+Swish, training and eval mode, local (no sync; the sync hook has its own test,
 * tests/unit/test_syncbn_hook.c).
 *
 * ip[] = {N, C, H, W, train, swish}; fp[] = {x_lo, x_hi} (the input range: an offset range
 * checks that the double sums survive Σx² - M·mean² cancellation).
 * Inputs: x, gamma, beta (differentiable), running_mean, running_var (constants).
 * Outputs: y (in the loss); in training also running_mean, running_var after the update,
 * save_mean, save_invstd: compared in the forward check, left out of the loss (diff = 0).
 * Tolerances: the defaults (forward 1e-5, backward 1e-4); the offset case has |mean|/std ≈ 17,
 * which costs float32 about 1e-6 relative in x - mean, still inside 1e-5.
 */
#include "kernels/cpu/batchnorm.h"
#include "kernels/cpu/bn_swish.h"
#include "tests/ops/op_case.h"

#include <math.h>
#include <string.h>

#define REF_EPS 1e-5
#define REF_MOMENTUM 0.05

enum { IN_X, IN_GAMMA, IN_BETA, IN_RMEAN, IN_RVAR };
enum { OUT_Y, OUT_RMEAN, OUT_RVAR, OUT_SMEAN, OUT_SINVSTD };

static void bn_describe(const op_case *c, opcase_io *io) {
  const int64_t *s = OPCASE_SHAPE(c->ip[0], c->ip[1], c->ip[2], c->ip[3]);
  const int64_t *ch = OPCASE_SHAPE(c->ip[1]);
  opcase_add_in(io, "x", 4, s, 1, (float)c->fp[0], (float)c->fp[1]);
  opcase_add_in(io, "gamma", 1, ch, 1, 0.5f, 1.5f);
  opcase_add_in(io, "beta", 1, ch, 1, -0.5f, 0.5f);
  opcase_add_in(io, "running_mean", 1, ch, 0, -0.5f, 0.5f);
  opcase_add_in(io, "running_var", 1, ch, 0, 0.5f, 2.0f);
  opcase_add_out(io, "y", 4, s);
  if (c->ip[4]) { /* training: the statistics outputs */
    opcase_add_out(io, "running_mean", 1, ch);
    opcase_add_out(io, "running_var", 1, ch);
    opcase_add_out(io, "save_mean", 1, ch);
    opcase_add_out(io, "save_invstd", 1, ch);
    for (int o = OUT_RMEAN; o <= OUT_SINVSTD; o++)
      io->out[o].diff = 0;
  }
}

static void bn_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                   float *const *out) {
  batchnorm_params p = batchnorm_params_default();
  tensor x = opcase_view(ctx, &io->in[IN_X], in[IN_X]),
         y = opcase_view(ctx, &io->out[OUT_Y], out[OUT_Y]);
  tensor g = opcase_view(ctx, &io->in[IN_GAMMA], in[IN_GAMMA]),
         b = opcase_view(ctx, &io->in[IN_BETA], in[IN_BETA]);
  int swish = c->ip[5];
  if (!c->ip[4]) {
    tensor rm = opcase_view(ctx, &io->in[IN_RMEAN], in[IN_RMEAN]);
    tensor rv = opcase_view(ctx, &io->in[IN_RVAR], in[IN_RVAR]);
    (swish ? ctx->ops->bn_swish_forward_eval : ctx->ops->batchnorm_forward_eval)(ctx, &p, &x, &g,
                                                                                 &b, &rm, &rv, &y);
    return;
  }
  /* the running statistics are updated in place: start the outputs from the inputs */
  size_t bytes = (size_t)c->ip[1] * sizeof(float);
  ctx->ops->copy(ctx, out[OUT_RMEAN], in[IN_RMEAN], bytes);
  ctx->ops->copy(ctx, out[OUT_RVAR], in[IN_RVAR], bytes);
  tensor rm = opcase_view(ctx, &io->out[OUT_RMEAN], out[OUT_RMEAN]);
  tensor rv = opcase_view(ctx, &io->out[OUT_RVAR], out[OUT_RVAR]);
  tensor sm = opcase_view(ctx, &io->out[OUT_SMEAN], out[OUT_SMEAN]);
  tensor si = opcase_view(ctx, &io->out[OUT_SINVSTD], out[OUT_SINVSTD]);
  (swish ? ctx->ops->bn_swish_forward_train
         : ctx->ops->batchnorm_forward_train)(ctx, &p, NULL, &x, &g, &b, &rm, &rv, &y, &sm, &si);
}

static void bn_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                   float *const *out, float *const *dout, float *const *din) {
  batchnorm_params p = batchnorm_params_default();
  tensor x = opcase_view(ctx, &io->in[IN_X], in[IN_X]),
         dy = opcase_view(ctx, &io->out[OUT_Y], dout[OUT_Y]);
  tensor g = opcase_view(ctx, &io->in[IN_GAMMA], in[IN_GAMMA]),
         b = opcase_view(ctx, &io->in[IN_BETA], in[IN_BETA]);
  tensor dx = opcase_view(ctx, &io->in[IN_X], din[IN_X]);
  tensor dg = opcase_view(ctx, &io->in[IN_GAMMA], din[IN_GAMMA]),
         db = opcase_view(ctx, &io->in[IN_BETA], din[IN_BETA]);
  int swish = c->ip[5];
  if (!c->ip[4]) {
    tensor rm = opcase_view(ctx, &io->in[IN_RMEAN], in[IN_RMEAN]);
    tensor rv = opcase_view(ctx, &io->in[IN_RVAR], in[IN_RVAR]);
    if (swish)
      ctx->ops->bn_swish_backward_eval(ctx, &p, &x, &g, &b, &rm, &rv, &dy, &dx, &dg, &db);
    else
      ctx->ops->batchnorm_backward_eval(ctx, &p, &x, &g, &rm, &rv, &dy, &dx, &dg, &db);
    return;
  }
  tensor sm = opcase_view(ctx, &io->out[OUT_SMEAN], out[OUT_SMEAN]);
  tensor si = opcase_view(ctx, &io->out[OUT_SINVSTD], out[OUT_SINVSTD]);
  if (swish)
    ctx->ops->bn_swish_backward_train(ctx, NULL, &x, &g, &b, &sm, &si, &dy, &dx, &dg, &db);
  else
    ctx->ops->batchnorm_backward_train(ctx, NULL, &x, &g, &sm, &si, &dy, &dx, &dg, &db);
}

/* The same training op through its halves (batchnorm.h, bn_swish.h), as the trainer calls them
 * around an explicit cross-rank reduction (none here: world size 1). The sums buffers are HOST
 * doubles on every backend (the contract of the halves). */
static void halves_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                       float *const *out) {
  batchnorm_params p = batchnorm_params_default();
  tensor x = opcase_view(ctx, &io->in[IN_X], in[IN_X]),
         y = opcase_view(ctx, &io->out[OUT_Y], out[OUT_Y]);
  tensor g = opcase_view(ctx, &io->in[IN_GAMMA], in[IN_GAMMA]),
         b = opcase_view(ctx, &io->in[IN_BETA], in[IN_BETA]);
  size_t bytes = (size_t)c->ip[1] * sizeof(float);
  ctx->ops->copy(ctx, out[OUT_RMEAN], in[IN_RMEAN], bytes);
  ctx->ops->copy(ctx, out[OUT_RVAR], in[IN_RVAR], bytes);
  tensor rm = opcase_view(ctx, &io->out[OUT_RMEAN], out[OUT_RMEAN]);
  tensor rv = opcase_view(ctx, &io->out[OUT_RVAR], out[OUT_RVAR]);
  tensor sm = opcase_view(ctx, &io->out[OUT_SMEAN], out[OUT_SMEAN]);
  tensor si = opcase_view(ctx, &io->out[OUT_SINVSTD], out[OUT_SINVSTD]);
  double *sums = nvae_malloc((size_t)batchnorm_sums_len(c->ip[1]) * sizeof(double));
  ctx->ops->batchnorm_local_sums(ctx, &x, sums);
  /* (the all-reduce of the sums across ranks goes here) */
  (c->ip[5] ? ctx->ops->bn_swish_normalize
            : ctx->ops->batchnorm_normalize)(ctx, &p, sums, &x, &g, &b, &rm, &rv, &y, &sm, &si);
  nvae_free(sums);
}

static void halves_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                       float *const *out, float *const *dout, float *const *din) {
  tensor x = opcase_view(ctx, &io->in[IN_X], in[IN_X]),
         dy = opcase_view(ctx, &io->out[OUT_Y], dout[OUT_Y]);
  tensor g = opcase_view(ctx, &io->in[IN_GAMMA], in[IN_GAMMA]),
         b = opcase_view(ctx, &io->in[IN_BETA], in[IN_BETA]);
  tensor dx = opcase_view(ctx, &io->in[IN_X], din[IN_X]);
  tensor dg = opcase_view(ctx, &io->in[IN_GAMMA], din[IN_GAMMA]),
         db = opcase_view(ctx, &io->in[IN_BETA], din[IN_BETA]);
  tensor sm = opcase_view(ctx, &io->out[OUT_SMEAN], out[OUT_SMEAN]);
  tensor si = opcase_view(ctx, &io->out[OUT_SINVSTD], out[OUT_SINVSTD]);
  double *sums = nvae_malloc((size_t)batchnorm_sums_len(c->ip[1]) * sizeof(double));
  float *dz_mem = NULL;
  tensor src = dy; /* BN+Swish: the BN halves run on dz = dy * swish'(z) */
  if (c->ip[5]) {
    dz_mem = ctx->ops->alloc(tensor_bytes(&dy));
    src = opcase_view(ctx, &io->out[OUT_Y], dz_mem);
    ctx->ops->bn_swish_backward_dz(ctx, &x, &g, &b, &sm, &si, &dy, &src);
  }
  ctx->ops->batchnorm_backward_sums(ctx, &x, &sm, &si, &src, sums, &dg, &db);
  /* (the all-reduce of the sums across ranks goes here) */
  ctx->ops->batchnorm_backward_input(ctx, sums, &x, &g, &sm, &si, &src, &dx);
  if (dz_mem) ctx->ops->free(dz_mem);
  nvae_free(sums);
}

/* Double reference from NVAE.md §1.1: two-pass batch statistics (biased variance to normalise,
 * unbiased for the running update), then swish when fused. */
static void bn_ref(const op_case *c, const opcase_io *io, double *const *in, double *const *out) {
  int64_t nn = c->ip[0], cc = c->ip[1], hw = (int64_t)c->ip[2] * c->ip[3], m = nn * hw;
  int train = c->ip[4], swish = c->ip[5];
  const double *x = in[IN_X], *g = in[IN_GAMMA], *b = in[IN_BETA];
  for (int64_t ch = 0; ch < cc; ch++) {
    double mean = in[IN_RMEAN][ch], var = in[IN_RVAR][ch];
    if (train) {
      double s = 0, s2 = 0;
      for (int64_t n = 0; n < nn; n++)
        for (int64_t i = 0; i < hw; i++)
          s += x[(n * cc + ch) * hw + i];
      mean = s / (double)m;
      for (int64_t n = 0; n < nn; n++)
        for (int64_t i = 0; i < hw; i++) {
          double d = x[(n * cc + ch) * hw + i] - mean;
          s2 += d * d;
        }
      var = s2 / (double)m;
      out[OUT_RMEAN][ch] = (1 - REF_MOMENTUM) * in[IN_RMEAN][ch] + REF_MOMENTUM * mean;
      out[OUT_RVAR][ch] =
          (1 - REF_MOMENTUM) * in[IN_RVAR][ch] + REF_MOMENTUM * s2 / (double)(m - 1);
      out[OUT_SMEAN][ch] = mean;
      out[OUT_SINVSTD][ch] = 1 / sqrt(var + REF_EPS);
    }
    for (int64_t n = 0; n < nn; n++)
      for (int64_t i = 0; i < hw; i++) {
        int64_t k = (n * cc + ch) * hw + i;
        double z = g[ch] * (x[k] - mean) / sqrt(var + REF_EPS) + b[ch];
        out[OUT_Y][k] = swish ? z / (1 + exp(-z)) : z;
      }
  }
}

#define BN_CASE(family, label, n, c, h, w, train, swish, lo, hi)                                   \
  { family, label, 0, {n, c, h, w, train, swish}, {lo, hi}, bn_describe, bn_fwd, bn_bwd, bn_ref }

#define HALVES_CASE(family, label, n, c, h, w, swish, lo, hi)                                       \
  { family, label, 0, {n, c, h, w, 1, swish}, {lo, hi}, bn_describe, halves_fwd, halves_bwd, bn_ref }

static const op_case cases[] = {
    BN_CASE("batchnorm", "train 3x5x7x9", 3, 5, 7, 9, 1, 0, -2.0, 3.0),
    BN_CASE("batchnorm", "train 2x3x5x3 x in [9,11]", 2, 3, 5, 3, 1, 0, 9.0, 11.0),
    BN_CASE("batchnorm", "train 7x4x1x1", 7, 4, 1, 1, 1, 0, -1.0, 1.0),
    BN_CASE("batchnorm", "eval 3x5x7x9", 3, 5, 7, 9, 0, 0, -2.0, 3.0),
    BN_CASE("bn_swish", "train 3x5x7x9", 3, 5, 7, 9, 1, 1, -2.0, 3.0),
    BN_CASE("bn_swish", "train 2x7x3x5 x in [4,6]", 2, 7, 3, 5, 1, 1, 4.0, 6.0),
    BN_CASE("bn_swish", "eval 3x5x7x9", 3, 5, 7, 9, 0, 1, -2.0, 3.0),
    /* the halves around the sync-BN reduction, one op at a time */
    HALVES_CASE("batchnorm_halves", "train 3x5x7x9", 3, 5, 7, 9, 0, -2.0, 3.0),
    HALVES_CASE("bn_swish_halves", "train 2x7x3x5 x in [4,6]", 2, 7, 3, 5, 1, 4.0, 6.0),
    /* above the kernels' OpenMP threshold (65536 elements): the threaded paths */
    BN_CASE("batchnorm", "train 4x17x32x32 (threads)", 4, 17, 32, 32, 1, 0, -2.0, 3.0),
    BN_CASE("batchnorm", "eval 4x17x32x32 (threads)", 4, 17, 32, 32, 0, 0, -2.0, 3.0),
    BN_CASE("bn_swish", "train 4x17x32x32 (threads)", 4, 17, 32, 32, 1, 1, -2.0, 3.0),
    BN_CASE("bn_swish", "eval 4x17x32x32 (threads)", 4, 17, 32, 32, 0, 1, -2.0, 3.0),
};

const op_case *op_cases_norm(int *count) {
  *count = (int)(sizeof cases / sizeof cases[0]);
  return cases;
}
