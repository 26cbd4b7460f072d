/* Op cases for the output and latent distributions: kernels/cpu/normal.c, dmol.c, bernoulli.c.
 * References are written from NVAE.md §1.8 and §2 in double precision with plain loops (DMOL with
 * the naive sigma(plus) - sigma(minus) of the spec, not the kernel's factored form).
 *
 * Tolerances: forward 1e-5 and backward 1e-4 (the harness defaults) unless a case says otherwise.
 *
 * Making finite differences reliable for DMOL, whose log-likelihood is piecewise:
 *  - the edge branches depend only on x, which is not differentiated; x is drawn on the 1/K grid
 *    (integer levels scaled in the fixup) and always includes 0, 1/K, (K-1)/K and 1;
 *  - the cdf_delta > 1e-5 switch depends on the logits: the fixup moves every (pixel, colour,
 *    component) whose log(cdf_delta) lies within 0.05 of log(1e-5) away from it (raising its
 *    log-scale in small steps), so neither a step of 1e-6 * max(1, |logit|) nor float32 rounding
 *    can cross it, whatever the seed;
 *  - the log-scale clamp at -7 is kept 1e-3 away from any log-scale.
 * The fixup also stamps pixels that exercise each branch: log-scale 8 (density branch), log-scales
 * -7.5 (clamped, no gradient) and -6.9 next to a sharp component centred near x, and sharp
 * components with cdf_delta just above and just below 1e-5 (so that moving the switch fails).
 */
#include "kernels/cpu/bernoulli.h"
#include "kernels/cpu/dmol.h"
#include "kernels/cpu/normal.h"
#include "tests/ops/op_case.h"

#include <math.h>

static double softplus(double v) { return fmax(v, 0.0) + log1p(exp(-fabs(v))); }
static double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

/* ======================= Normal: ip = {N, C, H, W}; fp[0] = t (params) ======================= */

#define NCHW(c) OPCASE_SHAPE((c)->ip[0], (c)->ip[1], (c)->ip[2], (c)->ip[3])

static void params_describe(const op_case *c, opcase_io *io) {
  opcase_add_in(io, "mu_raw", 4, NCHW(c), 1, -8, 8); /* wide: reaches the soft clamp's tails */
  opcase_add_in(io, "ls_raw", 4, NCHW(c), 1, -8, 8);
  opcase_add_out(io, "mu", 4, NCHW(c));
  opcase_add_out(io, "sigma", 4, NCHW(c));
}
static void params_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                       float *const *out) {
  tensor mr = opcase_view(ctx, &io->in[0], in[0]), lr = opcase_view(ctx, &io->in[1], in[1]);
  tensor mu = opcase_view(ctx, &io->out[0], out[0]), sg = opcase_view(ctx, &io->out[1], out[1]);
  ctx->ops->normal_params_forward(ctx, &mr, &lr, (float)c->fp[0], &mu, &sg);
}
static void params_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                       float *const *out, float *const *dout, float *const *din) {
  tensor mr = opcase_view(ctx, &io->in[0], in[0]), lr = opcase_view(ctx, &io->in[1], in[1]);
  tensor gm = opcase_view(ctx, &io->out[0], dout[0]), gs = opcase_view(ctx, &io->out[1], dout[1]);
  tensor dm = opcase_view(ctx, &io->in[0], din[0]), dl = opcase_view(ctx, &io->in[1], din[1]);
  ctx->ops->normal_params_backward(ctx, &mr, &lr, (float)c->fp[0], &gm, &gs, &dm, &dl);
}
static void params_ref(const op_case *c, const opcase_io *io, double *const *in,
                       double *const *out) {
  int64_t n = opcase_numel(&io->in[0]);
  for (int64_t i = 0; i < n; i++) {
    out[0][i] = 5.0 * tanh(in[0][i] / 5.0);
    out[1][i] = (exp(5.0 * tanh(in[1][i] / 5.0)) + 0.01) * c->fp[0];
  }
}

static void sample_describe(const op_case *c, opcase_io *io) {
  opcase_add_in(io, "mu", 4, NCHW(c), 1, -3, 3);
  opcase_add_in(io, "sigma", 4, NCHW(c), 1, 0.01f, 2);
  opcase_add_in(io, "eps", 4, NCHW(c), 0, -3, 3);
  opcase_add_out(io, "z", 4, NCHW(c));
}
static void sample_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                       float *const *out) {
  tensor mu = opcase_view(ctx, &io->in[0], in[0]), sg = opcase_view(ctx, &io->in[1], in[1]),
         ep = opcase_view(ctx, &io->in[2], in[2]);
  tensor z = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->normal_sample_forward(ctx, &mu, &sg, &ep, &z);
}
static void sample_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                       float *const *out, float *const *dout, float *const *din) {
  tensor ep = opcase_view(ctx, &io->in[2], in[2]), gz = opcase_view(ctx, &io->out[0], dout[0]);
  tensor dm = opcase_view(ctx, &io->in[0], din[0]), ds = opcase_view(ctx, &io->in[1], din[1]);
  ctx->ops->normal_sample_backward(ctx, &ep, &gz, &dm, &ds);
}
static void sample_ref(const op_case *c, const opcase_io *io, double *const *in,
                       double *const *out) {
  int64_t n = opcase_numel(&io->in[0]);
  for (int64_t i = 0; i < n; i++) out[0][i] = in[0][i] + in[1][i] * in[2][i];
}

static void logp_describe(const op_case *c, opcase_io *io) {
  opcase_add_in(io, "z", 4, NCHW(c), 1, -3, 3);
  opcase_add_in(io, "mu", 4, NCHW(c), 1, -2, 2);
  opcase_add_in(io, "sigma", 4, NCHW(c), 1, 0.05f, 2);
  opcase_add_out(io, "logp", 4, NCHW(c));
}
static void logp_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                     float *const *out) {
  tensor z = opcase_view(ctx, &io->in[0], in[0]), mu = opcase_view(ctx, &io->in[1], in[1]),
         sg = opcase_view(ctx, &io->in[2], in[2]);
  tensor lp = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->normal_log_density_forward(ctx, &z, &mu, &sg, &lp);
}
static void logp_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                     float *const *out, float *const *dout, float *const *din) {
  tensor z = opcase_view(ctx, &io->in[0], in[0]), mu = opcase_view(ctx, &io->in[1], in[1]),
         sg = opcase_view(ctx, &io->in[2], in[2]);
  tensor g = opcase_view(ctx, &io->out[0], dout[0]);
  tensor dz = opcase_view(ctx, &io->in[0], din[0]), dm = opcase_view(ctx, &io->in[1], din[1]),
         ds = opcase_view(ctx, &io->in[2], din[2]);
  ctx->ops->normal_log_density_backward(ctx, &z, &mu, &sg, &g, &dz, &dm, &ds);
}
static void logp_ref(const op_case *c, const opcase_io *io, double *const *in, double *const *out) {
  int64_t n = opcase_numel(&io->in[0]);
  for (int64_t i = 0; i < n; i++) {
    double u = (in[0][i] - in[1][i]) / in[2][i];
    out[0][i] = -0.5 * u * u - 0.5 * log(2.0 * 3.14159265358979323846) - log(in[2][i]);
  }
}

static void kl_describe(const op_case *c, opcase_io *io) {
  opcase_add_in(io, "mu_q", 4, NCHW(c), 1, -3, 3);
  opcase_add_in(io, "sigma_q", 4, NCHW(c), 1, 0.02f, 3);
  opcase_add_in(io, "mu_p", 4, NCHW(c), 1, -3, 3);
  opcase_add_in(io, "sigma_p", 4, NCHW(c), 1, 0.05f, 3);
  opcase_add_out(io, "kl", 4, NCHW(c));
}
static void kl_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                   float *const *out) {
  tensor a = opcase_view(ctx, &io->in[0], in[0]), b = opcase_view(ctx, &io->in[1], in[1]),
         d = opcase_view(ctx, &io->in[2], in[2]), e = opcase_view(ctx, &io->in[3], in[3]),
         kl = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->normal_kl_forward(ctx, &a, &b, &d, &e, &kl);
}
static void kl_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                   float *const *out, float *const *dout, float *const *din) {
  tensor a = opcase_view(ctx, &io->in[0], in[0]), b = opcase_view(ctx, &io->in[1], in[1]),
         d = opcase_view(ctx, &io->in[2], in[2]), e = opcase_view(ctx, &io->in[3], in[3]),
         g = opcase_view(ctx, &io->out[0], dout[0]);
  tensor da = opcase_view(ctx, &io->in[0], din[0]), db = opcase_view(ctx, &io->in[1], din[1]),
         dd = opcase_view(ctx, &io->in[2], din[2]), de = opcase_view(ctx, &io->in[3], din[3]);
  ctx->ops->normal_kl_backward(ctx, &a, &b, &d, &e, &g, &da, &db, &dd, &de);
}
static void kl_ref(const op_case *c, const opcase_io *io, double *const *in, double *const *out) {
  int64_t n = opcase_numel(&io->in[0]);
  for (int64_t i = 0; i < n; i++) {
    double d = (in[0][i] - in[2][i]) / in[3][i], r = in[1][i] / in[3][i];
    out[0][i] = 0.5 * (d * d + r * r) - 0.5 - log(r);
  }
}

/* ===== DMOL: ip = {N, C, H, W, M, num_bits, upper edge 0.999?, noise_times_t}; fp[0] = t ===== */

static dmol_params dmol_of(const op_case *c) {
  dmol_params p = dmol_params_default(c->ip[1], c->ip[4], c->ip[5]);
  if (c->ip[6]) p.upper_edge = 0.999f;
  p.noise_times_t = c->ip[7];
  return p;
}

/* What the fixup can read back from io: x is input 1 with integer levels in [0, K]. */
typedef struct dmol_geom {
  int64_t N, C, P, M, HW;
  double K;
} dmol_geom;

static dmol_geom geom_of(const opcase_io *io) {
  dmol_geom g;
  g.N = io->in[0].shape[0];
  g.P = io->in[0].shape[1];
  g.HW = io->in[0].shape[2] * io->in[0].shape[3];
  g.C = io->in[1].shape[1];
  g.M = g.C == 3 ? g.P / 10 : g.P / 3;
  g.K = io->in[1].hi;
  return g;
}

/* Channel of (colour c, slot k = 0 mean / 1 log-scale / 2 coefficient, component m). */
static int64_t chan(const dmol_geom *g, int64_t c, int k, int64_t m) {
  return g->M + c * 3 * g->M + k * g->M + m;
}

/* Logit of channel ch at pixel i of sample n. */
#define LG(l, g, n, ch, i) ((l)[((n) * (g)->P + (ch)) * (g)->HW + (i)])

static double coupled_mean_ref(const dmol_geom *g, const double *l, const double *xt, int64_t n,
                               int64_t c, int64_t m, int64_t i) {
  double mu = LG(l, g, n, chan(g, c, 0, m), i);
  if (c == 1) mu += tanh(LG(l, g, n, chan(g, 0, 2, m), i)) * xt[0];
  if (c == 2)
    mu += tanh(LG(l, g, n, chan(g, 1, 2, m), i)) * xt[0] +
          tanh(LG(l, g, n, chan(g, 2, 2, m), i)) * xt[1];
  return mu;
}

/* NVAE.md §1.8, literally. */
static double bin_log_prob_ref(double xt, double mu, double s_raw, double K, double edge,
                               double *cdf_delta_out) {
  double s = fmax(s_raw, -7.0);
  double cen = xt - mu, inv = exp(-s);
  double plus = inv * (cen + 1.0 / K), minus = inv * (cen - 1.0 / K), mid = inv * cen;
  double log_cdf_plus = plus - softplus(plus);
  double log_one_minus_cdf = -softplus(minus);
  double cdf_delta = sigmoid(plus) - sigmoid(minus);
  double log_pdf_mid = mid - s - 2.0 * softplus(mid);
  double inner = cdf_delta > 1e-5 ? log(fmax(cdf_delta, 1e-10)) : log_pdf_mid - log(K / 2.0);
  if (cdf_delta_out) *cdf_delta_out = cdf_delta;
  return xt < -0.999 ? log_cdf_plus : (xt > edge ? log_one_minus_cdf : inner);
}

static void dmol_x_tilde(const dmol_geom *g, const double *x, int64_t n, int64_t i, double *xt) {
  for (int64_t c = 0; c < g->C; c++) xt[c] = 2.0 * x[(n * g->C + c) * g->HW + i] - 1.0;
}

static void dmol_ll_ref(const op_case *c, const opcase_io *io, double *const *in,
                        double *const *out) {
  dmol_geom g = geom_of(io);
  double edge = c->ip[6] ? 0.999 : 0.99;
  for (int64_t n = 0; n < g.N; n++)
    for (int64_t i = 0; i < g.HW; i++) {
      double xt[3], a[64], pmax = -INFINITY, z = 0, amax = -INFINITY, sum = 0;
      dmol_x_tilde(&g, in[1], n, i, xt);
      for (int64_t m = 0; m < g.M; m++) pmax = fmax(pmax, LG(in[0], &g, n, m, i));
      for (int64_t m = 0; m < g.M; m++) z += exp(LG(in[0], &g, n, m, i) - pmax);
      for (int64_t m = 0; m < g.M; m++) {
        a[m] = LG(in[0], &g, n, m, i) - pmax - log(z);
        for (int64_t cc = 0; cc < g.C; cc++)
          a[m] += bin_log_prob_ref(xt[cc], coupled_mean_ref(&g, in[0], xt, n, cc, m, i),
                                   LG(in[0], &g, n, chan(&g, cc, 1, m), i), g.K, edge, NULL);
        amax = fmax(amax, a[m]);
      }
      for (int64_t m = 0; m < g.M; m++) sum += exp(a[m] - amax);
      out[0][n * g.HW + i] = amax + log(sum);
    }
}

/* x levels -> [0, 1] with the grid's special values; branch stamps; keep FD off the switches. */
static void dmol_ll_fixup(const opcase_io *io, float *const *in) {
  dmol_geom g = geom_of(io);
  float *l = in[0], *x = in[1];
  float K = (float)g.K;
  /* pixels 0..3 of sample 0: all 0, all K, all K-1, then 1 / K-1 / K mixed over colours */
  const float special[4][3] = {{0, 0, 0}, {K, K, K}, {K - 1, K - 1, K - 1}, {1, K - 1, K}};
  for (int64_t i = 0; i < 4 && i < g.HW; i++)
    for (int64_t c = 0; c < g.C; c++) x[c * g.HW + i] = special[i][c];
  int64_t nx = g.N * g.C * g.HW;
  for (int64_t j = 0; j < nx; j++) x[j] /= K;
  /* pixel 4: very wide components (density-at-centre branch unless at an edge) */
  if (g.HW > 4)
    for (int64_t c = 0; c < g.C; c++)
      for (int64_t m = 0; m < g.M; m++) LG(l, &g, 0, chan(&g, c, 1, m), 4) = 8.0f;
  /* pixel 5: sharp components centred near x, half of them below the clamp */
  if (g.HW > 5)
    for (int64_t c = 0; c < g.C; c++)
      for (int64_t m = 0; m < g.M; m++) {
        float xt = 2.0f * x[c * g.HW + 5] - 1.0f;
        LG(l, &g, 0, chan(&g, c, 0, m), 5) = xt + 0.003f * (float)(m + 1) * (m % 2 ? 1 : -1);
        LG(l, &g, 0, chan(&g, c, 1, m), 5) = m % 2 ? -6.9f : -7.5f;
        if (g.C == 3) LG(l, &g, 0, chan(&g, c, 2, m), 5) = 0.0f;
      }
  /* pixels 6, 7: sharp components (inv ~ 100) in the tail, so cdf_delta ~ 3.5e-5 and ~ 3e-6: just
   * above and below the switch, where log(cdf_delta) and the centre density differ by percents */
  for (int64_t i = 6; i < 8 && i < g.HW; i++)
    for (int64_t c = 0; c < g.C; c++)
      for (int64_t m = 0; m < g.M; m++) {
        float xt = 2.0f * x[c * g.HW + i] - 1.0f;
        LG(l, &g, 0, chan(&g, c, 0, m), i) = xt - (i == 6 ? 0.1f : 0.125f) - 0.002f * (float)m;
        LG(l, &g, 0, chan(&g, c, 1, m), i) = -4.6f;
        if (g.C == 3) LG(l, &g, 0, chan(&g, c, 2, m), i) = 0.0f;
      }
  /* guards, on the values the double reference will see (it reads the float inputs) */
  double *ld = nvae_malloc((size_t)opcase_numel(&io->in[0]) * sizeof(double));
  for (int64_t j = 0; j < opcase_numel(&io->in[0]); j++) ld[j] = l[j];
  for (int64_t n = 0; n < g.N; n++)
    for (int64_t i = 0; i < g.HW; i++) {
      double xt[3];
      for (int64_t c = 0; c < g.C; c++) xt[c] = 2.0 * (double)x[(n * g.C + c) * g.HW + i] - 1.0;
      for (int64_t c = 0; c < g.C; c++)
        for (int64_t m = 0; m < g.M; m++) {
          int64_t k = (n * g.P + chan(&g, c, 1, m)) * g.HW + i;
          if (fabsf(l[k] + 7.0f) < 1e-3f) l[k] = -7.01f;
          double mu = coupled_mean_ref(&g, ld, xt, n, c, m, i), cdf;
          for (int tries = 0; tries < 10000; tries++) {
            bin_log_prob_ref(xt[c], mu, (double)l[k], g.K, 0.99, &cdf);
            if (!(fabs(log(cdf) - log(1e-5)) < 0.05)) break;
            l[k] += 0.01f; /* a wider logistic moves cdf_delta across and away from the switch */
          }
        }
    }
  nvae_free(ld);
}

static void dmol_ll_describe(const op_case *c, opcase_io *io) {
  dmol_params p = dmol_of(c);
  int64_t N = c->ip[0], C = c->ip[1], H = c->ip[2], W = c->ip[3];
  opcase_add_in(io, "logits", 4, OPCASE_SHAPE(N, dmol_param_channels(&p), H, W), 1,
                (float)-c->fp[0], (float)c->fp[0]);
  opcase_add_in(io, "x", 4, OPCASE_SHAPE(N, C, H, W), 0, 0, (float)((1 << p.num_bits) - 1));
  io->in[1].integer = 1;
  opcase_add_out(io, "logp", 3, OPCASE_SHAPE(N, H, W));
  io->fixup_f32 = dmol_ll_fixup;
}
static void dmol_ll_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                        float *const *out) {
  dmol_params p = dmol_of(c);
  tensor l = opcase_view(ctx, &io->in[0], in[0]), x = opcase_view(ctx, &io->in[1], in[1]),
         lp = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->dmol_log_likelihood_forward(ctx, &p, &l, &x, &lp);
}
static void dmol_ll_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                        float *const *out, float *const *dout, float *const *din) {
  dmol_params p = dmol_of(c);
  tensor l = opcase_view(ctx, &io->in[0], in[0]), x = opcase_view(ctx, &io->in[1], in[1]);
  tensor g = opcase_view(ctx, &io->out[0], dout[0]), dl = opcase_view(ctx, &io->in[0], din[0]);
  ctx->ops->dmol_log_likelihood_backward(ctx, &p, &l, &x, &g, &dl);
}

/* ---- sample and mean (forward only; the same uniforms go to both precisions) ---- */

/* The clip bounds as float32 values, as the float32 official code (and our op) sees them:
 * 1 - 1e-5 rounds to 0.99998999, which moves log(1 - u) by 1e-3 at the bound. */
static double clip_u(double u) { return fmin(fmax(u, (double)1e-5f), (double)(1.0f - 1e-5f)); }

/* Gumbel-max choice in double; *gap = distance between the best and the runner-up. */
static int64_t gumbel_choice(const dmol_geom *g, const double *l, const double *um, double t,
                             int64_t n, int64_t i, double *gap) {
  int64_t best = 0;
  double bv = -INFINITY, second = -INFINITY;
  for (int64_t m = 0; m < g->M; m++) {
    double v = LG(l, g, n, m, i) / t - log(-log(clip_u(um[(n * g->M + m) * g->HW + i])));
    if (v > bv)
      second = bv, bv = v, best = m;
    else if (v > second)
      second = v;
  }
  if (gap) *gap = bv - second;
  return best;
}

static void couple_ref(double *x, const double *coef, int64_t C, double *out, int64_t stride) {
  x[0] = fmin(fmax(x[0], -1.0), 1.0);
  if (C == 3) {
    x[1] = fmin(fmax(x[1] + coef[0] * x[0], -1.0), 1.0);
    x[2] = fmin(fmax(x[2] + coef[1] * x[0] + coef[2] * x[1], -1.0), 1.0);
  }
  for (int64_t c = 0; c < C; c++) out[c * stride] = (x[c] + 1.0) / 2.0;
}

/* Sample and mean: logits are input 0, x is output 0. */
static dmol_geom sample_geom(const opcase_io *io) {
  dmol_geom g;
  g.N = io->in[0].shape[0];
  g.P = io->in[0].shape[1];
  g.HW = io->in[0].shape[2] * io->in[0].shape[3];
  g.C = io->out[0].shape[1];
  g.M = g.C == 3 ? g.P / 10 : g.P / 3;
  g.K = 0;
  return g;
}

static void dmol_sample_ref(const op_case *c, const opcase_io *io, double *const *in,
                            double *const *out) {
  dmol_geom g = sample_geom(io);
  double t = c->fp[0], scale = c->ip[7] ? t : 1.0 / t;
  for (int64_t n = 0; n < g.N; n++)
    for (int64_t i = 0; i < g.HW; i++) {
      int64_t m = gumbel_choice(&g, in[0], in[1], t, n, i, NULL);
      double x[3], coef[3] = {0, 0, 0};
      for (int64_t cc = 0; cc < g.C; cc++) {
        double u = clip_u(in[2][(n * g.C + cc) * g.HW + i]);
        double s = fmax(LG(in[0], &g, n, chan(&g, cc, 1, m), i), -7.0);
        x[cc] = LG(in[0], &g, n, chan(&g, cc, 0, m), i) + exp(s) * scale * (log(u) - log(1 - u));
        if (g.C == 3) coef[cc] = tanh(LG(in[0], &g, n, chan(&g, cc, 2, m), i));
      }
      couple_ref(x, coef, g.C, out[0] + n * g.C * g.HW + i, g.HW);
    }
}

/* The fixup cannot see the case, so it guards every temperature the sample cases use. */
static const double SAMPLE_TEMPS[] = {0.6, 0.7, 1.0};

/* Uniforms outside the clip range; and no near-tie in the Gumbel-max choice (float32 and double
 * could pick different components). */
static void dmol_sample_fixup(const opcase_io *io, float *const *in) {
  dmol_geom g = sample_geom(io);
  in[1][0] = 0.0f, in[1][1] = 1.0f, in[2][0] = 1e-9f, in[2][1] = 1.0f;
  double *l = nvae_malloc((size_t)opcase_numel(&io->in[0]) * sizeof(double));
  double *um = nvae_malloc((size_t)opcase_numel(&io->in[1]) * sizeof(double));
  for (int64_t j = 0; j < opcase_numel(&io->in[0]); j++) l[j] = in[0][j];
  for (int64_t n = 0; n < g.N; n++)
    for (int64_t i = 0; i < g.HW; i++)
      for (int k = 0; k < 3; k++)
        for (int tries = 0; tries < 100; tries++) {
          for (int64_t j = 0; j < opcase_numel(&io->in[1]); j++) um[j] = in[1][j];
          double gap;
          int64_t m = gumbel_choice(&g, l, um, SAMPLE_TEMPS[k], n, i, &gap);
          if (gap > 1e-3) break;
          in[1][(n * g.M + m) * g.HW + i] *= 0.5f; /* lowers the leader's Gumbel noise */
        }
  nvae_free(l);
  nvae_free(um);
}

static void dmol_sample_describe(const op_case *c, opcase_io *io) {
  dmol_params p = dmol_of(c);
  int known = 0;
  for (int k = 0; k < 3; k++) known |= c->fp[0] == SAMPLE_TEMPS[k];
  NVAE_ASSERT(known, "dmol_sample case [%s]: add t = %g to SAMPLE_TEMPS", c->label, c->fp[0]);
  int64_t N = c->ip[0], C = c->ip[1], H = c->ip[2], W = c->ip[3];
  opcase_add_in(io, "logits", 4, OPCASE_SHAPE(N, dmol_param_channels(&p), H, W), 0, -3, 3);
  opcase_add_in(io, "u_mix", 4, OPCASE_SHAPE(N, p.num_mix, H, W), 0, 0, 1);
  opcase_add_in(io, "u_logistic", 4, OPCASE_SHAPE(N, C, H, W), 0, 0, 1);
  opcase_add_out(io, "x", 4, OPCASE_SHAPE(N, C, H, W));
  io->fixup_f32 = dmol_sample_fixup;
}
static void dmol_sample_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                            float *const *out) {
  dmol_params p = dmol_of(c);
  tensor l = opcase_view(ctx, &io->in[0], in[0]), um = opcase_view(ctx, &io->in[1], in[1]),
         ul = opcase_view(ctx, &io->in[2], in[2]);
  tensor x = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->dmol_sample(ctx, &p, (float)c->fp[0], &l, &um, &ul, &x);
}

static void dmol_mean_describe(const op_case *c, opcase_io *io) {
  dmol_params p = dmol_of(c);
  int64_t N = c->ip[0], C = c->ip[1], H = c->ip[2], W = c->ip[3];
  opcase_add_in(io, "logits", 4, OPCASE_SHAPE(N, dmol_param_channels(&p), H, W), 0, -2, 2);
  opcase_add_out(io, "x", 4, OPCASE_SHAPE(N, C, H, W));
}
static void dmol_mean_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                          float *const *out) {
  dmol_params p = dmol_of(c);
  tensor l = opcase_view(ctx, &io->in[0], in[0]), x = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->dmol_mean(ctx, &p, &l, &x);
}
static void dmol_mean_ref(const op_case *c, const opcase_io *io, double *const *in,
                          double *const *out) {
  dmol_geom g = sample_geom(io);
  for (int64_t n = 0; n < g.N; n++)
    for (int64_t i = 0; i < g.HW; i++) {
      double z = 0, x[3] = {0, 0, 0}, coef[3] = {0, 0, 0};
      for (int64_t m = 0; m < g.M; m++) z += exp(LG(in[0], &g, n, m, i));
      for (int64_t m = 0; m < g.M; m++) {
        double w = exp(LG(in[0], &g, n, m, i)) / z;
        for (int64_t cc = 0; cc < g.C; cc++) {
          x[cc] += w * LG(in[0], &g, n, chan(&g, cc, 0, m), i);
          if (g.C == 3) coef[cc] += w * tanh(LG(in[0], &g, n, chan(&g, cc, 2, m), i));
        }
      }
      couple_ref(x, coef, g.C, out[0] + n * g.C * g.HW + i, g.HW);
    }
}

/* ============== Bernoulli: ip = {N, C, H, W, soft x (values in [0, 1], not 0/1)} ============== */

static void bern_describe(const op_case *c, opcase_io *io) {
  int64_t N = c->ip[0], C = c->ip[1], H = c->ip[2], W = c->ip[3];
  opcase_add_in(io, "logits", 4, OPCASE_SHAPE(N, C, H, W), 1, -6, 6);
  opcase_add_in(io, "x", 4, OPCASE_SHAPE(N, C, H, W), 0, 0, 1);
  io->in[1].integer = !c->ip[4];
  opcase_add_out(io, "logp", 3, OPCASE_SHAPE(N, H, W));
}
static void bern_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                     float *const *out) {
  tensor l = opcase_view(ctx, &io->in[0], in[0]), x = opcase_view(ctx, &io->in[1], in[1]),
         lp = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->bernoulli_log_likelihood_forward(ctx, &l, &x, &lp);
}
static void bern_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                     float *const *out, float *const *dout, float *const *din) {
  tensor l = opcase_view(ctx, &io->in[0], in[0]), x = opcase_view(ctx, &io->in[1], in[1]);
  tensor g = opcase_view(ctx, &io->out[0], dout[0]), dl = opcase_view(ctx, &io->in[0], din[0]);
  ctx->ops->bernoulli_log_likelihood_backward(ctx, &l, &x, &g, &dl);
}
static void bern_ref(const op_case *c, const opcase_io *io, double *const *in, double *const *out) {
  int64_t N = c->ip[0], C = c->ip[1], HW = (int64_t)c->ip[2] * c->ip[3];
  for (int64_t n = 0; n < N; n++)
    for (int64_t i = 0; i < HW; i++) {
      double s = 0;
      for (int64_t ch = 0; ch < C; ch++) {
        double l = in[0][(n * C + ch) * HW + i], x = in[1][(n * C + ch) * HW + i];
        s += x * log(sigmoid(l)) + (1 - x) * log(sigmoid(-l)); /* |l| <= 6: no underflow */
      }
      out[0][n * HW + i] = s;
    }
}

static void bern_mean_describe(const op_case *c, opcase_io *io) {
  int64_t N = c->ip[0], C = c->ip[1], H = c->ip[2], W = c->ip[3];
  opcase_add_in(io, "logits", 4, OPCASE_SHAPE(N, C, H, W), 0, -20, 20);
  opcase_add_out(io, "probs", 4, OPCASE_SHAPE(N, C, H, W));
}
static void bern_mean_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                          float *const *out) {
  tensor l = opcase_view(ctx, &io->in[0], in[0]), p = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->bernoulli_mean(ctx, &l, &p);
}
static void bern_mean_ref(const op_case *c, const opcase_io *io, double *const *in,
                          double *const *out) {
  for (int64_t i = 0; i < opcase_numel(&io->in[0]); i++) out[0][i] = sigmoid(in[0][i]);
}

/* ip layout: Normal {N, C, H, W}; DMOL {N, C, H, W, M, bits, edge999, noise_times_t};
 * Bernoulli {N, C, H, W, soft}. fp: Normal params {t}; DMOL log-likelihood {logit range};
 * DMOL sample {t}, one of SAMPLE_TEMPS. */
/* One case per entry reads better than one field per line. */
// clang-format off
static const op_case cases[] = {
    {"normal_params", "2x3x5x7 t1", 0, {2, 3, 5, 7}, {1.0}, params_describe, params_fwd,
     params_bwd, params_ref},
    {"normal_params", "1x5x3x3 t0.7", 0, {1, 5, 3, 3}, {0.7}, params_describe, params_fwd,
     params_bwd, params_ref},
    {"normal_sample", "2x3x4x5", 0, {2, 3, 4, 5}, {0}, sample_describe, sample_fwd, sample_bwd,
     sample_ref},
    {"normal_logp", "2x3x5x3", 0, {2, 3, 5, 3}, {0}, logp_describe, logp_fwd, logp_bwd, logp_ref},
    {"normal_kl", "3x2x3x5", 0, {3, 2, 3, 5}, {0}, kl_describe, kl_fwd, kl_bwd, kl_ref},
    {"dmol", "rgb M3 8bit edge.99 2x3x5", 0, {2, 3, 3, 5, 3, 8, 0}, {3}, dmol_ll_describe,
     dmol_ll_fwd, dmol_ll_bwd, dmol_ll_ref},
    {"dmol", "rgb M10 8bit edge.99 1x3x3", 0, {1, 3, 3, 3, 10, 8, 0}, {3}, dmol_ll_describe,
     dmol_ll_fwd, dmol_ll_bwd, dmol_ll_ref},
    {"dmol", "rgb M3 8bit edge.999 2x2x4", 0, {2, 3, 2, 4, 3, 8, 1}, {3}, dmol_ll_describe,
     dmol_ll_fwd, dmol_ll_bwd, dmol_ll_ref},
    {"dmol", "rgb M3 5bit edge.99 1x3x3", 0, {1, 3, 3, 3, 3, 5, 0}, {3}, dmol_ll_describe,
     dmol_ll_fwd, dmol_ll_bwd, dmol_ll_ref},
    {"dmol", "grey M3 8bit edge.99 2x4x5", 0, {2, 1, 4, 5, 3, 8, 0}, {3}, dmol_ll_describe,
     dmol_ll_fwd, dmol_ll_bwd, dmol_ll_ref},
    {"dmol", "grey M10 8bit edge.999 2x3x3", 0, {2, 1, 3, 3, 10, 8, 1}, {3},
     dmol_ll_describe, dmol_ll_fwd, dmol_ll_bwd, dmol_ll_ref},
    {"dmol", "grey M10 5bit edge.99 1x3x4", 0, {1, 1, 3, 4, 10, 5, 0}, {3}, dmol_ll_describe,
     dmol_ll_fwd, dmol_ll_bwd, dmol_ll_ref},
    {"dmol_sample", "rgb M10 t1 2x3x5", 0, {2, 3, 3, 5, 10, 8, 0, 0}, {1.0},
     dmol_sample_describe, dmol_sample_fwd, NULL, dmol_sample_ref},
    {"dmol_sample", "rgb M3 t0.7 noise/t 2x4x3", 0, {2, 3, 4, 3, 3, 8, 0, 0}, {0.7},
     dmol_sample_describe, dmol_sample_fwd, NULL, dmol_sample_ref},
    {"dmol_sample", "rgb M3 t0.7 noise*t 2x4x3", 0, {2, 3, 4, 3, 3, 8, 0, 1}, {0.7},
     dmol_sample_describe, dmol_sample_fwd, NULL, dmol_sample_ref},
    {"dmol_sample", "grey M4 t0.6 3x3x5", 0, {3, 1, 3, 5, 4, 8, 0, 0}, {0.6},
     dmol_sample_describe, dmol_sample_fwd, NULL, dmol_sample_ref},
    {"dmol_mean", "rgb M10 2x3x5", 0, {2, 3, 3, 5, 10, 8}, {0}, dmol_mean_describe,
     dmol_mean_fwd, NULL, dmol_mean_ref},
    {"dmol_mean", "grey M3 2x4x3", 0, {2, 1, 4, 3, 3, 8}, {0}, dmol_mean_describe, dmol_mean_fwd,
     NULL, dmol_mean_ref},
    {"bernoulli", "binary 2x1x5x7", 0, {2, 1, 5, 7, 0}, {0}, bern_describe, bern_fwd, bern_bwd,
     bern_ref},
    {"bernoulli", "soft x 1x2x3x4", 0, {1, 2, 3, 4, 1}, {0}, bern_describe, bern_fwd, bern_bwd,
     bern_ref},
    {"bernoulli_mean", "2x1x4x6", 0, {2, 1, 4, 6}, {0}, bern_mean_describe, bern_mean_fwd, NULL,
     bern_mean_ref},
};
// clang-format on

const op_case *op_cases_dist(int *count) {
  *count = (int)(sizeof cases / sizeof cases[0]);
  return cases;
}
