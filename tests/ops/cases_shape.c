/* Op cases for kernels/cpu/channels.c (channel concat / split) and kernels/cpu/upsample.c
 * (nearest and bilinear ×2).
 *
 * concat / split: ip[] = {N, H, W, pieces, nodiff, C_0, C_1, C_2, C_3}; nodiff = 1 + the index of
 * a piece whose gradient is skipped (concat: a non-differentiable input, so its dx is NULL;
 * split: an output left out of the loss whose dy is passed as NULL), 0 = none.
 * upsample: ip[] = {N, C, H, W, bilinear}.
 * All of these are exact copies, sums or fixed linear maps: tolerances are the defaults
 * (forward 1e-5, backward 1e-4).
 */
#include "kernels/cpu/channels.h"
#include "kernels/cpu/upsample.h"
#include "tests/ops/op_case.h"

#include <math.h>

#define MAX_PIECES 4

static int64_t total_channels(const op_case *c) {
  int64_t t = 0;
  for (int i = 0; i < c->ip[3]; i++)
    t += c->ip[5 + i];
  return t;
}

/* ---- concat ---- */

static const char *const piece_names[MAX_PIECES] = {"x0", "x1", "x2", "x3"};
static const char *const out_names[MAX_PIECES] = {"y0", "y1", "y2", "y3"};

static void concat_describe(const op_case *c, opcase_io *io) {
  for (int i = 0; i < c->ip[3]; i++)
    opcase_add_in(io, piece_names[i], 4, OPCASE_SHAPE(c->ip[0], c->ip[5 + i], c->ip[1], c->ip[2]),
                  c->ip[4] != i + 1, -1, 1);
  opcase_add_out(io, "y", 4, OPCASE_SHAPE(c->ip[0], total_channels(c), c->ip[1], c->ip[2]));
}

static void concat_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                       float *const *out) {
  tensor xs[MAX_PIECES], y = opcase_view(ctx, &io->out[0], out[0]);
  const tensor *px[MAX_PIECES];
  for (int i = 0; i < io->n_in; i++) {
    xs[i] = opcase_view(ctx, &io->in[i], in[i]);
    px[i] = &xs[i];
  }
  ctx->ops->concat_channels_forward(ctx, io->n_in, px, &y);
}

static void concat_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                       float *const *out, float *const *dout, float *const *din) {
  tensor dxs[MAX_PIECES], dy = opcase_view(ctx, &io->out[0], dout[0]);
  tensor *pdx[MAX_PIECES];
  for (int i = 0; i < io->n_in; i++) {
    dxs[i] = opcase_view(ctx, &io->in[i], din[i]);
    pdx[i] = din[i] ? &dxs[i] : NULL; /* a non-differentiable piece: NULL entry */
  }
  ctx->ops->concat_channels_backward(ctx, io->n_in, &dy, pdx);
}

/* Generic copy between a whole [N, ΣC, HW] and its pieces, in double. */
static void ref_pieces(const op_case *c, double *whole, double *const *pieces, int to_whole) {
  int64_t nn = c->ip[0], hw = (int64_t)c->ip[1] * c->ip[2], ct = total_channels(c);
  for (int64_t n = 0; n < nn; n++) {
    int64_t c0 = 0;
    for (int i = 0; i < c->ip[3]; i++) {
      int64_t ci = c->ip[5 + i];
      for (int64_t ch = 0; ch < ci; ch++)
        for (int64_t k = 0; k < hw; k++) {
          double *w = &whole[(n * ct + c0 + ch) * hw + k], *p = &pieces[i][(n * ci + ch) * hw + k];
          if (to_whole)
            *w = *p;
          else
            *p = *w;
        }
      c0 += ci;
    }
  }
}

static void concat_ref(const op_case *c, const opcase_io *io, double *const *in,
                       double *const *out) {
  ref_pieces(c, out[0], in, 1);
}

/* ---- split ---- */

static void split_describe(const op_case *c, opcase_io *io) {
  opcase_add_in(io, "x", 4, OPCASE_SHAPE(c->ip[0], total_channels(c), c->ip[1], c->ip[2]), 1, -1,
                1);
  for (int i = 0; i < c->ip[3]; i++) {
    opcase_add_out(io, out_names[i], 4, OPCASE_SHAPE(c->ip[0], c->ip[5 + i], c->ip[1], c->ip[2]));
    io->out[i].diff = c->ip[4] != i + 1;
  }
}

static void split_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                      float *const *out) {
  tensor x = opcase_view(ctx, &io->in[0], in[0]), ys[MAX_PIECES];
  tensor *py[MAX_PIECES];
  for (int i = 0; i < io->n_out; i++) {
    ys[i] = opcase_view(ctx, &io->out[i], out[i]);
    py[i] = &ys[i];
  }
  ctx->ops->split_channels_forward(ctx, &x, io->n_out, py);
}

static void split_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                      float *const *out, float *const *dout, float *const *din) {
  tensor dx = opcase_view(ctx, &io->in[0], din[0]), dys[MAX_PIECES];
  const tensor *pdy[MAX_PIECES];
  for (int i = 0; i < io->n_out; i++) {
    dys[i] = opcase_view(ctx, &io->out[i], dout[i]);
    pdy[i] = io->out[i].diff ? &dys[i] : NULL; /* out of the loss: no gradient flows from it */
  }
  ctx->ops->split_channels_backward(ctx, io->n_out, pdy, &dx);
}

static void split_ref(const op_case *c, const opcase_io *io, double *const *in,
                      double *const *out) {
  ref_pieces(c, in[0], out, 0);
}

/* ---- upsample ×2 ---- */

static void up_describe(const op_case *c, opcase_io *io) {
  int64_t n = c->ip[0], ch = c->ip[1], h = c->ip[2], w = c->ip[3];
  opcase_add_in(io, "x", 4, OPCASE_SHAPE(n, ch, h, w), 1, -1, 1);
  opcase_add_out(io, "y", 4, OPCASE_SHAPE(n, ch, 2 * h, 2 * w));
}

static void up_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                   float *const *out) {
  tensor x = opcase_view(ctx, &io->in[0], in[0]), y = opcase_view(ctx, &io->out[0], out[0]);
  if (c->ip[4])
    ctx->ops->upsample_bilinear2x_forward(ctx, &x, &y);
  else
    ctx->ops->upsample_nearest2x_forward(ctx, &x, &y);
}

static void up_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                   float *const *out, float *const *dout, float *const *din) {
  tensor dy = opcase_view(ctx, &io->out[0], dout[0]), dx = opcase_view(ctx, &io->in[0], din[0]);
  if (c->ip[4])
    ctx->ops->upsample_bilinear2x_backward(ctx, &dy, &dx);
  else
    ctx->ops->upsample_nearest2x_backward(ctx, &dy, &dx);
}

/* Source coordinate of output index o on a 2n-long axis, PyTorch align_corners=True:
 * o·(n-1)/(2n-1), in exact double arithmetic. */
static void ref_tap(int64_t n, int64_t o, int64_t *i0, int64_t *i1, double *l) {
  double src = n > 1 ? (double)o * (double)(n - 1) / (double)(2 * n - 1) : 0.0;
  *i0 = (int64_t)floor(src);
  *i1 = *i0 + 1 < n ? *i0 + 1 : n - 1;
  *l = src - (double)*i0;
}

static void up_ref(const op_case *c, const opcase_io *io, double *const *in, double *const *out) {
  int64_t planes = (int64_t)c->ip[0] * c->ip[1], h = c->ip[2], w = c->ip[3];
  for (int64_t p = 0; p < planes; p++) {
    const double *x = in[0] + p * h * w;
    double *y = out[0] + p * 4 * h * w;
    for (int64_t oi = 0; oi < 2 * h; oi++)
      for (int64_t oj = 0; oj < 2 * w; oj++) {
        double v;
        if (!c->ip[4]) {
          v = x[(oi / 2) * w + oj / 2];
        } else {
          int64_t r0, r1, c0, c1;
          double lh, lw;
          ref_tap(h, oi, &r0, &r1, &lh);
          ref_tap(w, oj, &c0, &c1, &lw);
          v = (1 - lh) * ((1 - lw) * x[r0 * w + c0] + lw * x[r0 * w + c1]) +
              lh * ((1 - lw) * x[r1 * w + c0] + lw * x[r1 * w + c1]);
        }
        y[oi * 2 * w + oj] = v;
      }
  }
}

#define CONCAT_CASE(label, n, h, w, k, nodiff, c0, c1, c2, c3)                                     \
  {                                                                                                \
    "concat_channels", label, 0, {n, h, w, k, nodiff, c0, c1, c2, c3}, {0}, concat_describe,       \
        concat_fwd, concat_bwd, concat_ref                                                         \
  }
#define SPLIT_CASE(label, n, h, w, k, nodiff, c0, c1, c2, c3)                                      \
  {                                                                                                \
    "split_channels", label, 0, {n, h, w, k, nodiff, c0, c1, c2, c3}, {0}, split_describe,         \
        split_fwd, split_bwd, split_ref                                                            \
  }
#define UP_CASE(family, label, n, c, h, w, bilinear)                                               \
  { family, label, 0, {n, c, h, w, bilinear}, {0}, up_describe, up_fwd, up_bwd, up_ref }

static const op_case cases[] = {
    CONCAT_CASE("[d 5, z 3] 3x7x9", 3, 7, 9, 2, 0, 5, 3, 0, 0),
    CONCAT_CASE("4 pieces 2+2+2+4 3x5x7", 3, 5, 7, 4, 0, 2, 2, 2, 4),
    CONCAT_CASE("4 pieces, x1 without grad", 2, 3, 5, 4, 2, 1, 3, 2, 1),
    SPLIT_CASE("10 -> mu 5, logsig 5 3x7x9", 3, 7, 9, 2, 0, 5, 5, 0, 0),
    SPLIT_CASE("3 pieces 2+3+4, y0 without grad", 2, 5, 3, 3, 1, 2, 3, 4, 0),
    /* above the kernels' OpenMP thresholds: the threaded paths */
    CONCAT_CASE("40+40 2x30x30 (threads)", 2, 30, 30, 2, 0, 40, 40, 0, 0),
    SPLIT_CASE("40+40 2x30x30 (threads)", 2, 30, 30, 2, 0, 40, 40, 0, 0),
    UP_CASE("upsample_nearest", "3x5x7x9", 3, 5, 7, 9, 0),
    UP_CASE("upsample_nearest", "2x16x24x24 (threads)", 2, 16, 24, 24, 0),
    UP_CASE("upsample_bilinear", "2x16x24x24 (threads)", 2, 16, 24, 24, 1),
    UP_CASE("upsample_bilinear", "3x5x7x9", 3, 5, 7, 9, 1),
    UP_CASE("upsample_bilinear", "2x3x1x5 (H=1)", 2, 3, 1, 5, 1),
    UP_CASE("upsample_bilinear", "1x2x4x2", 1, 2, 4, 2, 1),
};

const op_case *op_cases_shape(int *count) {
  *count = (int)(sizeof cases / sizeof cases[0]);
  return cases;
}
