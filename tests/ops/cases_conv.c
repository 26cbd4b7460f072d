/* Op cases for the convolution family: conv2d (kernels/cpu/conv.c), weight_norm
 * (kernels/cpu/weight_norm.c) and factorized_reduce (kernels/cpu/factorized_reduce.c).
 *
 * Tolerances (relative L2, see op_case.h): forward 1e-5 against the double reference (sums of up
 * to ~1e3 float32 products stay near 1e-7), backward 1e-4 against central differences of that
 * reference.
 * The double references below are plain loops written from NVAE.md §1.1 / §1.7 with a bounds
 * check per tap: nothing shared with the im2col and padded-plane code they check.
 */
#include "kernels/cpu/conv.h"
#include "kernels/cpu/factorized_reduce.h"
#include "kernels/cpu/weight_norm.h"
#include "tests/ops/op_case.h"

#include <math.h>

#define TOL_FWD 1e-5
#define TOL_BWD 1e-4

/* ================= conv2d =================
 * ip = {N, Cin, H, W, Cout, k, stride, pad, groups, bias, mask}
 * inputs: x [N,Cin,H,W], w [Cout,Cin/groups,k,k], then b [Cout] if bias, then mask (0/1, same
 * shape as w, not differentiable) if mask. */
enum { CV_N, CV_CIN, CV_H, CV_W, CV_COUT, CV_K, CV_S, CV_P, CV_G, CV_BIAS, CV_MASK };

static int64_t conv_out_size(int64_t h, int k, int s, int p) { return (h + 2 * p - k) / s + 1; }
static int conv_bias_at(const op_case *c) { return c->ip[CV_BIAS] ? 2 : -1; }
static int conv_mask_at(const op_case *c) { return c->ip[CV_MASK] ? 2 + !!c->ip[CV_BIAS] : -1; }

static void conv2d_describe(const op_case *c, opcase_io *io) {
  const int *ip = c->ip;
  int64_t ho = conv_out_size(ip[CV_H], ip[CV_K], ip[CV_S], ip[CV_P]);
  int64_t wo = conv_out_size(ip[CV_W], ip[CV_K], ip[CV_S], ip[CV_P]);
  const int64_t *wshape = OPCASE_SHAPE(ip[CV_COUT], ip[CV_CIN] / ip[CV_G], ip[CV_K], ip[CV_K]);
  opcase_add_in(io, "x", 4, OPCASE_SHAPE(ip[CV_N], ip[CV_CIN], ip[CV_H], ip[CV_W]), 1, -1, 1);
  opcase_add_in(io, "w", 4, wshape, 1, -1, 1);
  if (ip[CV_BIAS]) opcase_add_in(io, "b", 1, OPCASE_SHAPE(ip[CV_COUT]), 1, -1, 1);
  if (ip[CV_MASK]) {
    opcase_add_in(io, "mask", 4, wshape, 0, 0, 1);
    io->in[io->n_in - 1].integer = 1; /* random 0/1 taps */
  }
  opcase_add_out(io, "y", 4, OPCASE_SHAPE(ip[CV_N], ip[CV_COUT], ho, wo));
  io->tol_fwd = TOL_FWD;
  io->tol_bwd = TOL_BWD;
}

static conv2d_params conv_params(const op_case *c) {
  conv2d_params p = {c->ip[CV_S], c->ip[CV_P], c->ip[CV_G]};
  return p;
}

static void conv2d_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                       float *const *out) {
  int bi = conv_bias_at(c), mi = conv_mask_at(c);
  tensor x = opcase_view(ctx, &io->in[0], in[0]), w = opcase_view(ctx, &io->in[1], in[1]),
         y = opcase_view(ctx, &io->out[0], out[0]);
  tensor b = bi >= 0 ? opcase_view(ctx, &io->in[bi], in[bi]) : x;
  tensor m = mi >= 0 ? opcase_view(ctx, &io->in[mi], in[mi]) : x;
  conv2d_params p = conv_params(c);
  ctx->ops->conv2d_forward(ctx, &p, &x, &w, mi >= 0 ? &m : NULL, bi >= 0 ? &b : NULL, &y);
}

static void conv2d_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                       float *const *out, float *const *dout, float *const *din) {
  int bi = conv_bias_at(c), mi = conv_mask_at(c);
  tensor x = opcase_view(ctx, &io->in[0], in[0]), w = opcase_view(ctx, &io->in[1], in[1]);
  tensor m = mi >= 0 ? opcase_view(ctx, &io->in[mi], in[mi]) : x;
  tensor dy = opcase_view(ctx, &io->out[0], dout[0]);
  tensor dx = opcase_view(ctx, &io->in[0], din[0]), dw = opcase_view(ctx, &io->in[1], din[1]);
  tensor db = bi >= 0 ? opcase_view(ctx, &io->in[bi], din[bi]) : x;
  conv2d_params p = conv_params(c);
  ctx->ops->conv2d_backward(ctx, &p, &x, &w, mi >= 0 ? &m : NULL, &dy, &dx, &dw,
                            bi >= 0 ? &db : NULL);
}

/* y[n,o,oh,ow] = b[o] + Σ_{ci in o's group, i, j} w[o,ci,i,j]·mask[o,ci,i,j]·x[n,ci,ih,iw],
 * ih = oh·s − p + i, iw = ow·s − p + j, taps outside the image contribute 0. */
static void conv2d_ref(const op_case *c, const opcase_io *io, double *const *in,
                       double *const *out) {
  const int *ip = c->ip;
  const int64_t n_img = ip[CV_N], cin = ip[CV_CIN], h = ip[CV_H], w = ip[CV_W];
  const int64_t cout = ip[CV_COUT], k = ip[CV_K], s = ip[CV_S], p = ip[CV_P], groups = ip[CV_G];
  const int64_t cg = cin / groups, og = cout / groups;
  const int64_t ho = io->out[0].shape[2], wo = io->out[0].shape[3];
  int bi = conv_bias_at(c), mi = conv_mask_at(c);
  const double *x = in[0], *wt = in[1], *b = bi >= 0 ? in[bi] : NULL, *m = mi >= 0 ? in[mi] : NULL;
  for (int64_t n = 0; n < n_img; n++) {
    for (int64_t o = 0; o < cout; o++) {
      double *y = out[0] + (n * cout + o) * ho * wo;
      for (int64_t q = 0; q < ho * wo; q++)
        y[q] = b ? b[o] : 0.0;
      for (int64_t ci = 0; ci < cg; ci++) {
        const double *xc = x + (n * cin + (o / og) * cg + ci) * h * w;
        for (int64_t i = 0; i < k; i++) {
          for (int64_t j = 0; j < k; j++) {
            int64_t t = ((o * cg + ci) * k + i) * k + j;
            double wv = m ? wt[t] * m[t] : wt[t];
            for (int64_t oh = 0; oh < ho; oh++) {
              int64_t ih = oh * s - p + i;
              if (ih < 0 || ih >= h) continue;
              for (int64_t ow = 0; ow < wo; ow++) {
                int64_t iw = ow * s - p + j;
                if (iw >= 0 && iw < w) y[oh * wo + ow] += wv * xc[ih * w + iw];
              }
            }
          }
        }
      }
    }
  }
}

/* ================= weight_norm =================
 * ip = {Cout, Cin, kh, kw, mask}; kh == 0 means a 2-D v [Cout, Cin].
 * inputs: v, log_g [Cout], then mask (0/1, same shape as v) if mask; outputs: w, norm [Cout]. */
enum { WN_COUT, WN_CIN, WN_KH, WN_KW, WN_MASK };

static void wn_describe(const op_case *c, opcase_io *io) {
  const int *ip = c->ip;
  int nd = ip[WN_KH] ? 4 : 2;
  const int64_t *vshape = OPCASE_SHAPE(ip[WN_COUT], ip[WN_CIN], ip[WN_KH], ip[WN_KW]);
  opcase_add_in(io, "v", nd, vshape, 1, -1, 1);
  opcase_add_in(io, "log_g", 1, OPCASE_SHAPE(ip[WN_COUT]), 1, -0.5f, 0.5f);
  if (ip[WN_MASK]) {
    opcase_add_in(io, "mask", nd, vshape, 0, 0, 1);
    io->in[2].integer = 1;
  }
  opcase_add_out(io, "w", nd, vshape);
  opcase_add_out(io, "norm", 1, OPCASE_SHAPE(ip[WN_COUT]));
  io->out[1].diff = 0; /* saved for backward, not part of the loss */
  io->tol_fwd = TOL_FWD;
  io->tol_bwd = TOL_BWD;
}

/* Masked cases: row 0 entirely masked out (a zero_diag AR row can be), so ‖u‖ = 0 is covered. */
static void wn_fixup(const opcase_io *io, float *const *in) {
  if (io->n_in < 3) return;
  int64_t cols = opcase_numel(&io->in[2]) / io->in[2].shape[0];
  for (int64_t j = 0; j < cols; j++)
    in[2][j] = 0;
}

static void wn_describe_fix(const op_case *c, opcase_io *io) {
  wn_describe(c, io);
  io->fixup_f32 = wn_fixup;
}

static void wn_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                   float *const *out) {
  tensor v = opcase_view(ctx, &io->in[0], in[0]), g = opcase_view(ctx, &io->in[1], in[1]);
  tensor m = c->ip[WN_MASK] ? opcase_view(ctx, &io->in[2], in[2]) : v;
  tensor w = opcase_view(ctx, &io->out[0], out[0]), norm = opcase_view(ctx, &io->out[1], out[1]);
  ctx->ops->weight_norm_forward(ctx, &v, &g, c->ip[WN_MASK] ? &m : NULL, &w, &norm);
}

static void wn_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                   float *const *out, float *const *dout, float *const *din) {
  tensor v = opcase_view(ctx, &io->in[0], in[0]), g = opcase_view(ctx, &io->in[1], in[1]);
  tensor m = c->ip[WN_MASK] ? opcase_view(ctx, &io->in[2], in[2]) : v;
  tensor norm = opcase_view(ctx, &io->out[1], out[1]), dw = opcase_view(ctx, &io->out[0], dout[0]);
  tensor dv = opcase_view(ctx, &io->in[0], din[0]), dg = opcase_view(ctx, &io->in[1], din[1]);
  ctx->ops->weight_norm_backward(ctx, &v, &g, c->ip[WN_MASK] ? &m : NULL, &norm, &dw, &dv, &dg);
}

/* w[o] = exp(g[o]) · u[o] / (‖u[o]‖ + 1e-5), u = v⊙mask */
static void wn_ref(const op_case *c, const opcase_io *io, double *const *in, double *const *out) {
  const int64_t rows = io->in[0].shape[0], cols = opcase_numel(&io->in[0]) / rows;
  const double *m = c->ip[WN_MASK] ? in[2] : NULL;
  for (int64_t o = 0; o < rows; o++) {
    double ss = 0;
    for (int64_t j = 0; j < cols; j++) {
      double u = in[0][o * cols + j] * (m ? m[o * cols + j] : 1.0);
      ss += u * u;
    }
    double norm = sqrt(ss);
    out[1][o] = norm;
    for (int64_t j = 0; j < cols; j++)
      out[0][o * cols + j] =
          exp(in[1][o]) * in[0][o * cols + j] * (m ? m[o * cols + j] : 1.0) / (norm + 1e-5);
  }
}

/* ================= factorized_reduce =================
 * ip = {N, C, H, W, Cout}; inputs: x [N,C,H,W], w [Cout, C] and b [Cout] holding the four convs'
 * weights and biases one after the other (conv k: rows first_k .. first_k + Ck - 1). */
enum { FR_N, FR_C, FR_H, FR_W, FR_COUT };

static void fr_describe(const op_case *c, opcase_io *io) {
  const int *ip = c->ip;
  opcase_add_in(io, "x", 4, OPCASE_SHAPE(ip[FR_N], ip[FR_C], ip[FR_H], ip[FR_W]), 1, -1, 1);
  opcase_add_in(io, "w", 2, OPCASE_SHAPE(ip[FR_COUT], ip[FR_C]), 1, -1, 1);
  opcase_add_in(io, "b", 1, OPCASE_SHAPE(ip[FR_COUT]), 1, -1, 1);
  opcase_add_out(io, "y", 4, OPCASE_SHAPE(ip[FR_N], ip[FR_COUT], ip[FR_H] / 2, ip[FR_W] / 2));
  io->tol_fwd = TOL_FWD;
  io->tol_bwd = TOL_BWD;
}

/* Views of conv k's rows of the packed w [Cout, C] and b [Cout]. */
static void fr_split(const op_case *c, const op_ctx *ctx, float *w, float *b, tensor wk[4],
                     tensor bk[4]) {
  int64_t first = 0, cin = c->ip[FR_C];
  for (int k = 0; k < 4; k++) {
    int64_t ck = factorized_reduce_channels(c->ip[FR_COUT], k);
    wk[k] = tensor_on(tensor_4d(w + first * cin, ck, cin, 1, 1), ctx->device);
    bk[k] = tensor_on(tensor_1d(b + first, ck), ctx->device);
    first += ck;
  }
}

static void fr_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                   float *const *out) {
  tensor x = opcase_view(ctx, &io->in[0], in[0]), y = opcase_view(ctx, &io->out[0], out[0]), wk[4],
         bk[4];
  fr_split(c, ctx, in[1], in[2], wk, bk);
  const tensor *w[4] = {&wk[0], &wk[1], &wk[2], &wk[3]}, *b[4] = {&bk[0], &bk[1], &bk[2], &bk[3]};
  ctx->ops->factorized_reduce_forward(ctx, &x, w, b, &y);
}

static void fr_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                   float *const *out, float *const *dout, float *const *din) {
  tensor x = opcase_view(ctx, &io->in[0], in[0]), dy = opcase_view(ctx, &io->out[0], dout[0]);
  tensor dx = opcase_view(ctx, &io->in[0], din[0]), wk[4], bk[4], dwk[4], dbk[4];
  fr_split(c, ctx, in[1], in[2], wk, bk);
  fr_split(c, ctx, din[1], din[2], dwk, dbk);
  const tensor *w[4] = {&wk[0], &wk[1], &wk[2], &wk[3]};
  tensor *dw[4] = {&dwk[0], &dwk[1], &dwk[2], &dwk[3]},
         *db[4] = {&dbk[0], &dbk[1], &dbk[2], &dbk[3]};
  ctx->ops->factorized_reduce_backward(ctx, &x, w, &dy, &dx, dw, db);
}

/* y[n, o, i, j] = b[o] + Σ_ci w[o, ci] · x[n, ci, 2i + r_k, 2j + c_k] for the conv k that owns
 * output channel o, with (r_k, c_k) = (0,0), (1,1), (0,1), (1,0) (NVAE.md §1.1). */
static void fr_ref(const op_case *c, const opcase_io *io, double *const *in, double *const *out) {
  static const int row[4] = {0, 1, 0, 1}, col[4] = {0, 1, 1, 0};
  const int64_t n_img = c->ip[FR_N], cin = c->ip[FR_C], h = c->ip[FR_H], w = c->ip[FR_W];
  const int64_t cout = c->ip[FR_COUT], h2 = h / 2, w2 = w / 2, quarter = cout / 4;
  for (int64_t n = 0; n < n_img; n++)
    for (int64_t o = 0; o < cout; o++) {
      int k = quarter > 0 && o / quarter < 3 ? (int)(o / quarter) : 3;
      for (int64_t i = 0; i < h2; i++)
        for (int64_t j = 0; j < w2; j++) {
          double acc = in[2][o];
          for (int64_t ci = 0; ci < cin; ci++)
            acc += in[1][o * cin + ci] *
                   in[0][((n * cin + ci) * h + 2 * i + row[k]) * w + 2 * j + col[k]];
          out[0][((n * cout + o) * h2 + i) * w2 + j] = acc;
        }
    }
}

/* clang-format off */
#define CONV(label, flags, ...) \
  {"conv2d", label, flags, {__VA_ARGS__}, {0}, conv2d_describe, conv2d_fwd, conv2d_bwd, conv2d_ref}
#define WN(label, describe, ...) \
  {"weight_norm", label, 0, {__VA_ARGS__}, {0}, describe, wn_fwd, wn_bwd, wn_ref}
#define FR(label, ...) \
  {"factorized_reduce", label, 0, {__VA_ARGS__}, {0}, fr_describe, fr_fwd, fr_bwd, fr_ref}
/* clang-format on */
#define BENCH (OPCASE_BENCH | OPCASE_NO_FD)

static const op_case cases[] = {
    /*   label                     flags  N  Cin H  W  Cout k  s  p  g  bias mask */
    CONV("3x3 s1 p1 3->4 7x9", 0, 2, 3, 7, 9, 4, 3, 1, 1, 1, 1, 0),
    CONV("3x3 s2 p1 3->5 7x9", 0, 2, 3, 7, 9, 5, 3, 2, 1, 1, 1, 0),
    CONV("3x3 s2 p1 4->4 8x6", 0, 1, 4, 8, 6, 4, 3, 2, 1, 1, 1, 0),
    CONV("3x3 s1 p0 2->3 6x5", 0, 2, 2, 6, 5, 3, 3, 1, 0, 1, 1, 0),
    CONV("1x1 5->3 5x7", 0, 2, 5, 5, 7, 3, 1, 1, 0, 1, 1, 0),
    CONV("1x1 s2 4->6 7x6", 0, 2, 4, 7, 6, 6, 1, 2, 0, 1, 1, 0),
    CONV("1x1 g2 4->6 3x5", 0, 2, 4, 3, 5, 6, 1, 1, 0, 2, 1, 0),
    CONV("5x5 s2 p2 3->2 9x7", 0, 1, 3, 9, 7, 2, 5, 2, 2, 1, 1, 0),
    CONV("dw 5x5 p2 6 7x9", 0, 2, 6, 7, 9, 6, 5, 1, 2, 6, 1, 0),
    CONV("dw 3x3 s2 p1 3 7x8", 0, 2, 3, 7, 8, 3, 3, 2, 1, 3, 1, 0),
    /* wide enough for the 16-column register blocks of conv_depthwise.c, plus a tail */
    CONV("dw 3x3 p1 2 4x19", 0, 2, 2, 4, 19, 2, 3, 1, 1, 2, 1, 0),
    CONV("dw 5x5 s2 p2 2 5x37", 0, 1, 2, 5, 37, 2, 5, 2, 2, 2, 1, 0),
    CONV("dw 3x3 p0 2 5x20", 0, 1, 2, 5, 20, 2, 3, 1, 0, 2, 0, 0),
    CONV("dw 1x1 p1 3 3x4", 0, 2, 3, 3, 4, 3, 1, 1, 1, 3, 1, 0),
    CONV("3x3 g2 p1 4->6 5x7", 0, 2, 4, 5, 7, 6, 3, 1, 1, 2, 1, 0),
    CONV("3x3 p1 no bias 3->4 7x5", 0, 2, 3, 7, 5, 4, 3, 1, 1, 1, 0, 0),
    CONV("masked 3x3 p1 3->6 6x7", 0, 2, 3, 6, 7, 6, 3, 1, 1, 1, 0, 1),
    CONV("masked 1x1 6->3 +b 5x5", 0, 2, 6, 5, 5, 3, 1, 1, 0, 1, 1, 1),
    CONV("masked dw 5x5 p2 4 6x7", 0, 2, 4, 6, 7, 4, 5, 1, 2, 4, 0, 1),
    WN("4x3x3x3", wn_describe, 4, 3, 3, 3, 0),
    WN("5x7 (2-D)", wn_describe, 5, 7, 0, 0, 0),
    WN("masked 6x3x3x3 row0=0", wn_describe_fix, 6, 3, 3, 3, 1),
    WN("masked dw 4x1x5x5 row0=0", wn_describe_fix, 4, 1, 5, 5, 1),
    /*  label           N  C  H  W  Cout */
    FR("3->7 6x8", 2, 3, 6, 8, 7),
    FR("4->8 4x4", 1, 4, 4, 4, 8),
    /* CelebA-64 shapes at batch 8 (NVAE.md §1.2-1.3): a res_bnswish conv, the MBConv expand and
     * depthwise convs (plain convs: no bias). */
    CONV("bench 3x3 p1 128->128 32x32 N8", BENCH, 8, 128, 32, 32, 128, 3, 1, 1, 1, 1, 0),
    CONV("bench 1x1 128->768 32x32 N8", BENCH, 8, 128, 32, 32, 768, 1, 1, 0, 1, 0, 0),
    CONV("bench dw 5x5 p2 768 32x32 N8", BENCH, 8, 768, 32, 32, 768, 5, 1, 2, 768, 0, 0),
};

const op_case *op_cases_conv(int *count) {
  *count = (int)(sizeof cases / sizeof cases[0]);
  return cases;
}
