/* Op cases for the regularisers, reductions and optimizer steps: kernels/cpu/spectral.c,
 * reduce.c, optim.c. References in double precision with plain loops, from NVAE.md §3.4, §3.5,
 * §4.1 and torch.optim.Adam's documented update.
 *
 * Tolerances: forward 1e-5 and backward 1e-4 (the harness defaults) except the 40-iteration power
 * iteration (forward 1e-4: float32 rounding of 80 normalisations accumulates along the iterates).
 * Optimizer steps, power iterations and the statistics have no backward: forward-only cases that
 * run the in-place op on copies of the inputs and compare the results with the reference, so that
 * the CUDA-vs-CPU check and the benchmark get them from this table too.
 */
#include "kernels/cpu/optim.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/spectral.h"
#include "tests/ops/op_case.h"

#include <math.h>
#include <string.h>

static void copy_in(op_ctx *ctx, const opcase_io *io, int i, float *dst, float *const *in) {
  ctx->ops->copy(ctx, dst, in[i], (size_t)opcase_numel(&io->in[i]) * sizeof(float));
}

/* ================= spectral_sigma: ip = {rows, cols}; sigma = u^T W v ================= */

static void sigma_describe(const op_case *c, opcase_io *io) {
  opcase_add_in(io, "W", 2, OPCASE_SHAPE(c->ip[0], c->ip[1]), 1, -1, 1);
  /* |u v^T| well above the 3e-8 rounding of the harness's accumulate into din (values ~0.5), even
   * when the random dsigma is small */
  opcase_add_in(io, "u", 1, OPCASE_SHAPE(c->ip[0]), 0, -3, 3);
  opcase_add_in(io, "v", 1, OPCASE_SHAPE(c->ip[1]), 0, -3, 3);
  opcase_add_out(io, "sigma", 1, OPCASE_SHAPE(1));
}
static void sigma_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                      float *const *out) {
  tensor W = opcase_view(ctx, &io->in[0], in[0]), u = opcase_view(ctx, &io->in[1], in[1]),
         v = opcase_view(ctx, &io->in[2], in[2]);
  tensor s = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->spectral_sigma_forward(ctx, &W, &u, &v, &s);
}
static void sigma_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                      float *const *out, float *const *dout, float *const *din) {
  tensor u = opcase_view(ctx, &io->in[1], in[1]), v = opcase_view(ctx, &io->in[2], in[2]);
  tensor g = opcase_view(ctx, &io->out[0], dout[0]), dW = opcase_view(ctx, &io->in[0], din[0]);
  ctx->ops->spectral_sigma_backward(ctx, &u, &v, &g, &dW);
}
static void sigma_ref(const op_case *c, const opcase_io *io, double *const *in,
                      double *const *out) {
  int64_t R = c->ip[0], C = c->ip[1];
  double s = 0;
  for (int64_t r = 0; r < R; r++)
    for (int64_t k = 0; k < C; k++) s += in[1][r] * in[0][r * C + k] * in[2][k];
  out[0][0] = s;
}

/* ====== power_iteration: ip = {rows, cols, iters}; fp[0] = scale of W (small: the floor) ====== */

static void power_describe(const op_case *c, opcase_io *io) {
  float a = (float)c->fp[0];
  opcase_add_in(io, "W", 2, OPCASE_SHAPE(c->ip[0], c->ip[1]), 0, -a, a);
  opcase_add_in(io, "u", 1, OPCASE_SHAPE(c->ip[0]), 0, -1, 1);
  opcase_add_in(io, "v", 1, OPCASE_SHAPE(c->ip[1]), 0, -1, 1);
  opcase_add_out(io, "u_out", 1, OPCASE_SHAPE(c->ip[0]));
  opcase_add_out(io, "v_out", 1, OPCASE_SHAPE(c->ip[1]));
  if (c->ip[2] > 10) io->tol_fwd = 1e-4;
}
static void power_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                      float *const *out) {
  copy_in(ctx, io, 1, out[0], in);
  copy_in(ctx, io, 2, out[1], in);
  tensor W = opcase_view(ctx, &io->in[0], in[0]), u = opcase_view(ctx, &io->out[0], out[0]),
         v = opcase_view(ctx, &io->out[1], out[1]);
  ctx->ops->spectral_power_iteration(ctx, &W, &u, &v, c->ip[2]);
}
static void normalize_ref(double *a, int64_t n) {
  double ss = 0;
  for (int64_t i = 0; i < n; i++) ss += a[i] * a[i];
  double d = fmax(sqrt(ss), 1e-3);
  for (int64_t i = 0; i < n; i++) a[i] /= d;
}
static void power_ref(const op_case *c, const opcase_io *io, double *const *in,
                      double *const *out) {
  int64_t R = c->ip[0], C = c->ip[1];
  double *u = out[0], *v = out[1];
  memcpy(u, in[1], (size_t)R * sizeof(double));
  memcpy(v, in[2], (size_t)C * sizeof(double));
  for (int it = 0; it < c->ip[2]; it++) {
    for (int64_t k = 0; k < C; k++) {
      v[k] = 0;
      for (int64_t r = 0; r < R; r++) v[k] += in[0][r * C + k] * u[r];
    }
    normalize_ref(v, C);
    for (int64_t r = 0; r < R; r++) {
      u[r] = 0;
      for (int64_t k = 0; k < C; k++) u[r] += in[0][r * C + k] * v[k];
    }
    normalize_ref(u, R);
  }
}

/* ==== spectral_normalize: ip = {n}; fp[0] = scale of a (small: the 1e-3 floor) ==== */

static void snorm_describe(const op_case *c, opcase_io *io) {
  float a = (float)c->fp[0];
  opcase_add_in(io, "a", 1, OPCASE_SHAPE(c->ip[0]), 0, -a, a);
  opcase_add_out(io, "a_out", 1, OPCASE_SHAPE(c->ip[0]));
}
static void snorm_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                      float *const *out) {
  copy_in(ctx, io, 0, out[0], in); /* in place */
  tensor a = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->spectral_normalize(ctx, &a);
}
static void snorm_ref(const op_case *c, const opcase_io *io, double *const *in,
                      double *const *out) {
  memcpy(out[0], in[0], (size_t)c->ip[0] * sizeof(double));
  normalize_ref(out[0], c->ip[0]);
}

/* ============ bn_max_abs: ip = {C, make the largest |gamma| negative}; no ties ============ */

/* A clear winner (FD steps of 1e-6 must not change the arg-max), positive or negative. */
static void bnmax_fixup(const opcase_io *io, float *const *in, float sign) {
  int64_t n = opcase_numel(&io->in[0]);
  float *g = in[0];
  int64_t best = 0;
  for (int64_t k = 1; k < n; k++)
    if (fabsf(g[k]) > fabsf(g[best])) best = k;
  g[best] = sign * (fabsf(g[best]) + 0.05f);
}
static void bnmax_fixup_pos(const opcase_io *io, float *const *in) { bnmax_fixup(io, in, 1); }
static void bnmax_fixup_neg(const opcase_io *io, float *const *in) { bnmax_fixup(io, in, -1); }
static void bnmax_describe(const op_case *c, opcase_io *io) {
  opcase_add_in(io, "gamma", 1, OPCASE_SHAPE(c->ip[0]), 1, -2, 2);
  opcase_add_out(io, "max_abs", 1, OPCASE_SHAPE(1));
  io->fixup_f32 = c->ip[1] ? bnmax_fixup_neg : bnmax_fixup_pos;
}
static void bnmax_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                      float *const *out) {
  tensor g = opcase_view(ctx, &io->in[0], in[0]), o = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->bn_max_abs_forward(ctx, &g, &o);
}
static void bnmax_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                      float *const *out, float *const *dout, float *const *din) {
  tensor g = opcase_view(ctx, &io->in[0], in[0]), d = opcase_view(ctx, &io->out[0], dout[0]),
         dg = opcase_view(ctx, &io->in[0], din[0]);
  ctx->ops->bn_max_abs_backward(ctx, &g, &d, &dg);
}
static void bnmax_ref(const op_case *c, const opcase_io *io, double *const *in,
                      double *const *out) {
  double m = 0;
  for (int64_t k = 0; k < c->ip[0]; k++) m = fmax(m, fabs(in[0][k]));
  out[0][0] = m;
}

/* ============ sum_per_sample: ip = {N, C, H, W}; y[n] = sum of x[n] ============ */

static void sps_describe(const op_case *c, opcase_io *io) {
  opcase_add_in(io, "x", 4, OPCASE_SHAPE(c->ip[0], c->ip[1], c->ip[2], c->ip[3]), 1, -1, 1);
  opcase_add_out(io, "y", 1, OPCASE_SHAPE(c->ip[0]));
}
static void sps_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                    float *const *out) {
  tensor x = opcase_view(ctx, &io->in[0], in[0]), y = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->sum_per_sample_forward(ctx, &x, &y);
}
static void sps_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                    float *const *out, float *const *dout, float *const *din) {
  tensor g = opcase_view(ctx, &io->out[0], dout[0]), dx = opcase_view(ctx, &io->in[0], din[0]);
  ctx->ops->sum_per_sample_backward(ctx, &g, &dx);
}
static void sps_ref(const op_case *c, const opcase_io *io, double *const *in, double *const *out) {
  int64_t N = c->ip[0], k = opcase_numel(&io->in[0]) / N;
  for (int64_t n = 0; n < N; n++) {
    out[0][n] = 0;
    for (int64_t i = 0; i < k; i++) out[0][n] += in[0][n * k + i];
  }
}

/* ==== sum_region: ip = {N, C (0: x is [N, H, W]), H, W, y0, x0, h, w} ==== */

static void region_describe(const op_case *c, opcase_io *io) {
  if (c->ip[1])
    opcase_add_in(io, "x", 4, OPCASE_SHAPE(c->ip[0], c->ip[1], c->ip[2], c->ip[3]), 1, -1, 1);
  else
    opcase_add_in(io, "x", 3, OPCASE_SHAPE(c->ip[0], c->ip[2], c->ip[3]), 1, -1, 1);
  opcase_add_out(io, "y", 1, OPCASE_SHAPE(c->ip[0]));
}
static void region_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                       float *const *out) {
  tensor x = opcase_view(ctx, &io->in[0], in[0]), y = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->sum_region_per_sample_forward(ctx, &x, c->ip[4], c->ip[5], c->ip[6], c->ip[7], &y);
}
static void region_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                       float *const *out, float *const *dout, float *const *din) {
  tensor g = opcase_view(ctx, &io->out[0], dout[0]), dx = opcase_view(ctx, &io->in[0], din[0]);
  ctx->ops->sum_region_per_sample_backward(ctx, c->ip[4], c->ip[5], c->ip[6], c->ip[7], &g, &dx);
}
static void region_ref(const op_case *c, const opcase_io *io, double *const *in,
                       double *const *out) {
  int64_t N = c->ip[0], C = c->ip[1] ? c->ip[1] : 1, H = c->ip[2], W = c->ip[3];
  for (int64_t n = 0; n < N; n++) {
    double s = 0;
    for (int64_t ch = 0; ch < C; ch++)
      for (int64_t r = 0; r < H; r++)
        for (int64_t q = 0; q < W; q++) {
          int inside =
              r >= c->ip[4] && r < c->ip[4] + c->ip[6] && q >= c->ip[5] && q < c->ip[5] + c->ip[7];
          if (inside) s += in[0][((n * C + ch) * H + r) * W + q];
        }
    out[0][n] = s;
  }
}

/* ============ mean_over_batch: ip = {N} ============ */

static void mean_describe(const op_case *c, opcase_io *io) {
  opcase_add_in(io, "x", 1, OPCASE_SHAPE(c->ip[0]), 1, -3, 3);
  opcase_add_out(io, "y", 1, OPCASE_SHAPE(1));
}
static void mean_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                     float *const *out) {
  tensor x = opcase_view(ctx, &io->in[0], in[0]), y = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->mean_over_batch_forward(ctx, &x, &y);
}
static void mean_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                     float *const *out, float *const *dout, float *const *din) {
  tensor g = opcase_view(ctx, &io->out[0], dout[0]), dx = opcase_view(ctx, &io->in[0], din[0]);
  ctx->ops->mean_over_batch_backward(ctx, &g, &dx);
}
static void mean_ref(const op_case *c, const opcase_io *io, double *const *in, double *const *out) {
  double s = 0;
  for (int64_t n = 0; n < c->ip[0]; n++) s += in[0][n];
  out[0][0] = s / c->ip[0];
}

/* ==== adamax / adam: ip = {n, step}; fp = {lr, weight_decay, eps}; betas 0.9, 0.999 ==== */

static void opt_describe(const op_case *c, opcase_io *io) {
  int64_t n = c->ip[0];
  opcase_add_in(io, "param", 1, OPCASE_SHAPE(n), 0, -1, 1);
  opcase_add_in(io, "grad", 1, OPCASE_SHAPE(n), 0, -0.05f, 0.05f);
  opcase_add_in(io, "m", 1, OPCASE_SHAPE(n), 0, -0.02f, 0.02f);
  opcase_add_in(io, "s", 1, OPCASE_SHAPE(n), 0, 0, 0.03f); /* u (Adamax) or v (Adam): >= 0 */
  opcase_add_out(io, "param", 1, OPCASE_SHAPE(n));
  opcase_add_out(io, "m", 1, OPCASE_SHAPE(n));
  opcase_add_out(io, "s", 1, OPCASE_SHAPE(n));
}
static void adamax_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                       float *const *out) {
  for (int i = 0; i < 3; i++)
    copy_in(ctx, io, i == 0 ? 0 : i + 1, out[i], in);
  tensor th = opcase_view(ctx, &io->out[0], out[0]), g = opcase_view(ctx, &io->in[1], in[1]),
         m = opcase_view(ctx, &io->out[1], out[1]), u = opcase_view(ctx, &io->out[2], out[2]);
  adamax_params p = {c->fp[0], 0.9, 0.999, c->fp[2], c->fp[1], c->ip[1], NULL};
  ctx->ops->adamax_step(ctx, &p, &th, &g, &m, &u);
}
static void adamax_ref(const op_case *c, const opcase_io *io, double *const *in,
                       double *const *out) {
  double b1 = 0.9, b2 = 0.999, lr = c->fp[0], wd = c->fp[1], eps = c->fp[2];
  double clr = lr / (1 - pow(b1, c->ip[1]));
  for (int64_t i = 0; i < c->ip[0]; i++) {
    double g = in[1][i] + wd * in[0][i];
    out[1][i] = b1 * in[2][i] + (1 - b1) * g;
    out[2][i] = fmax(b2 * in[3][i], fabs(g) + eps);
    out[0][i] = in[0][i] - clr * out[1][i] / out[2][i];
  }
}
static void adam_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                     float *const *out) {
  for (int i = 0; i < 3; i++)
    copy_in(ctx, io, i == 0 ? 0 : i + 1, out[i], in);
  tensor th = opcase_view(ctx, &io->out[0], out[0]), g = opcase_view(ctx, &io->in[1], in[1]),
         m = opcase_view(ctx, &io->out[1], out[1]), v = opcase_view(ctx, &io->out[2], out[2]);
  adam_params p = {c->fp[0], 0.9, 0.999, c->fp[2], c->fp[1], c->ip[1], NULL};
  ctx->ops->adam_step(ctx, &p, &th, &g, &m, &v);
}
static void adam_ref(const op_case *c, const opcase_io *io, double *const *in, double *const *out) {
  double b1 = 0.9, b2 = 0.999, lr = c->fp[0], wd = c->fp[1], eps = c->fp[2];
  int t = c->ip[1];
  for (int64_t i = 0; i < c->ip[0]; i++) {
    double g = in[1][i] + wd * in[0][i];
    out[1][i] = b1 * in[2][i] + (1 - b1) * g;
    out[2][i] = b2 * in[3][i] + (1 - b2) * g * g;
    double mhat = out[1][i] / (1 - pow(b1, t)), vhat = out[2][i] / (1 - pow(b2, t));
    out[0][i] = in[0][i] - lr * mhat / (sqrt(vhat) + eps);
  }
}

/* ==== grad statistics: ip = {n, inject NaN/Inf (NONFINITE_INJECT of them)} ==== */

#define NONFINITE_INJECT 5

static void stat_inject(const opcase_io *io, float *const *in) {
  int64_t n = opcase_numel(&io->in[0]);
  for (int64_t j = 0; j < NONFINITE_INJECT; j++) /* distinct positions: 7919 is prime, n is not */
    in[0][(j * 7919 + 3) % n] = j % 3 == 0 ? NAN : (j % 3 == 1 ? INFINITY : -INFINITY);
}
static void stat_describe(const op_case *c, opcase_io *io) {
  opcase_add_in(io, "x", 1, OPCASE_SHAPE(c->ip[0]), 0, -2, 2);
  opcase_add_out(io, "y", 1, OPCASE_SHAPE(1));
  if (c->ip[1]) io->fixup_f32 = stat_inject;
}
static void normsq_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                       float *const *out) {
  tensor x = opcase_view(ctx, &io->in[0], in[0]);
  float v = (float)ctx->ops->grad_norm_sq(ctx, &x);
  ctx->ops->from_host(ctx, out[0], &v, sizeof v); /* out is on ctx's device */
}
static void normsq_ref(const op_case *c, const opcase_io *io, double *const *in,
                       double *const *out) {
  double s = 0;
  for (int64_t i = 0; i < c->ip[0]; i++) s += in[0][i] * in[0][i];
  out[0][0] = s;
}
static void nonfinite_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                          float *const *out) {
  tensor x = opcase_view(ctx, &io->in[0], in[0]);
  float v = (float)ctx->ops->nonfinite_count(ctx, &x);
  ctx->ops->from_host(ctx, out[0], &v, sizeof v);
}
static void nonfinite_ref(const op_case *c, const opcase_io *io, double *const *in,
                          double *const *out) {
  double k = 0;
  for (int64_t i = 0; i < c->ip[0]; i++) k += !isfinite(in[0][i]);
  out[0][0] = k;
}

/* One case per entry reads better than one field per line. */
// clang-format off
static const op_case cases[] = {
    {"spectral_sigma", "7x13", 0, {7, 13}, {0}, sigma_describe, sigma_fwd, sigma_bwd, sigma_ref},
    {"spectral_sigma", "16x25 (depthwise 5x5)", 0, {16, 25}, {0}, sigma_describe, sigma_fwd,
     sigma_bwd, sigma_ref},
    {"spectral_sigma", "5x1", 0, {5, 1}, {0}, sigma_describe, sigma_fwd, sigma_bwd, sigma_ref},
    {"power_iteration", "9x14 4 iters", 0, {9, 14, 4}, {1.0}, power_describe, power_fwd, NULL,
     power_ref},
    {"power_iteration", "6x25 40 iters", 0, {6, 25, 40}, {1.0}, power_describe, power_fwd, NULL,
     power_ref},
    {"power_iteration", "11x7 tiny W (floor)", 0, {11, 7, 2}, {1e-5}, power_describe, power_fwd,
     NULL, power_ref},
    {"spectral_normalize", "n37", 0, {37}, {1.0}, snorm_describe, snorm_fwd, NULL, snorm_ref},
    {"spectral_normalize", "n9 tiny (floor)", 0, {9}, {1e-5}, snorm_describe, snorm_fwd, NULL,
     snorm_ref},
    {"bn_max_abs", "C13 positive max", 0, {13, 0}, {0}, bnmax_describe, bnmax_fwd, bnmax_bwd,
     bnmax_ref},
    {"bn_max_abs", "C7 negative max", 0, {7, 1}, {0}, bnmax_describe, bnmax_fwd, bnmax_bwd,
     bnmax_ref},
    {"sum_per_sample", "3x2x5x7", 0, {3, 2, 5, 7}, {0}, sps_describe, sps_fwd, sps_bwd, sps_ref},
    {"sum_region", "2x1x8x9 crop 2,1 5x6", 0, {2, 1, 8, 9, 2, 1, 5, 6}, {0}, region_describe,
     region_fwd, region_bwd, region_ref},
    {"sum_region", "3x[6x5] crop 1,0 4x5", 0, {3, 0, 6, 5, 1, 0, 4, 5}, {0}, region_describe,
     region_fwd, region_bwd, region_ref},
    {"sum_region", "1x2x32x32 MNIST crop", OPCASE_BENCH, {1, 2, 32, 32, 2, 2, 28, 28}, {0},
     region_describe, region_fwd, region_bwd, region_ref},
    {"mean_over_batch", "N5", 0, {5}, {0}, mean_describe, mean_fwd, mean_bwd, mean_ref},
    {"adamax", "n1000 t1 wd3e-4", OPCASE_BENCH, {1000, 1}, {1e-2, 3e-4, 1e-3}, opt_describe,
     adamax_fwd, NULL, adamax_ref},
    {"adamax", "n777 t9 wd0", 0, {777, 9}, {8e-3, 0, 1e-3}, opt_describe, adamax_fwd, NULL,
     adamax_ref},
    {"adam", "n1000 t1 wd3e-4", OPCASE_BENCH, {1000, 1}, {1e-3, 3e-4, 1e-8}, opt_describe,
     adam_fwd, NULL, adam_ref},
    {"adam", "n333 t12 wd0", 0, {333, 12}, {2e-3, 0, 1e-8}, opt_describe, adam_fwd, NULL,
     adam_ref},
    /* a large eps makes its place (outside the sqrt, after the bias correction) visible */
    {"adam", "n500 t3 eps1e-3", 0, {500, 3}, {1e-2, 1e-4, 1e-3}, opt_describe, adam_fwd, NULL,
     adam_ref},
    {"grad_norm_sq", "n20011", OPCASE_BENCH, {20011, 0}, {0}, stat_describe, normsq_fwd, NULL,
     normsq_ref},
    {"nonfinite_count", "n5003 with 5 NaN/Inf", 0, {5003, 1}, {0}, stat_describe, nonfinite_fwd,
     NULL, nonfinite_ref},
    {"nonfinite_count", "n64 all finite", 0, {64, 0}, {0}, stat_describe, nonfinite_fwd, NULL,
     nonfinite_ref},
};
// clang-format on

const op_case *op_cases_optim(int *count) {
  *count = (int)(sizeof cases / sizeof cases[0]);
  return cases;
}
