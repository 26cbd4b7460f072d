/* Op cases for kernels/cpu/activation.c (swish, elu, relu, sigmoid, soft_clamp) and
 * kernels/cpu/squeeze_excite.c.
 *
 * Activations: ip[] = {N, C, H, W, in_place}; fp[] = {x_lo, x_hi}. in_place = 1 runs the forward
 * with y aliasing x (bn_swish relies on an in-place swish). ReLU inputs are pushed at least 0.05
 * away from the kink so that central differences are exact there.
 * SE: ip[] = {N, C, H, W}, the hidden width h = squeeze_excite_hidden(C) = max(C/16, 4).
 * Outputs y (in the loss) and saved [N, 2C+h] (compared, not in the loss).
 * Tolerances: the defaults (forward 1e-5, backward 1e-4).
 */
#include "kernels/cpu/activation.h"
#include "kernels/cpu/squeeze_excite.h"
#include "tests/ops/op_case.h"

#include <math.h>
#include <string.h>

/* ---- element-wise activations ---- */

static void relu_fixup(const opcase_io *io, float *const *in) {
  int64_t n = opcase_numel(&io->in[0]);
  for (int64_t i = 0; i < n; i++)
    if (fabsf(in[0][i]) < 0.05f) in[0][i] = in[0][i] < 0 ? -0.05f : 0.05f;
}

static void act_describe(const op_case *c, opcase_io *io) {
  const int64_t *s = OPCASE_SHAPE(c->ip[0], c->ip[1], c->ip[2], c->ip[3]);
  opcase_add_in(io, "x", 4, s, 1, (float)c->fp[0], (float)c->fp[1]);
  opcase_add_out(io, "y", 4, s);
  if (!strcmp(c->family, "relu")) io->fixup_f32 = relu_fixup;
}

typedef void (*act_fwd_fn)(op_ctx *, const tensor *, tensor *);
typedef void (*act_bwd_fn)(op_ctx *, const tensor *, const tensor *, tensor *);

/* The family's entries of the context's op table. */
static void act_fns(const op_case *c, const op_ctx *ctx, act_fwd_fn *f, act_bwd_fn *b) {
  const op_backend *o = ctx->ops;
  const struct {
    const char *name;
    act_fwd_fn f;
    act_bwd_fn b;
  } table[] = {{"swish", o->swish_forward, o->swish_backward},
               {"elu", o->elu_forward, o->elu_backward},
               {"relu", o->relu_forward, o->relu_backward},
               {"sigmoid", o->sigmoid_forward, o->sigmoid_backward},
               {"soft_clamp", o->soft_clamp_forward, o->soft_clamp_backward}};
  for (size_t k = 0; k < sizeof table / sizeof table[0]; k++)
    if (!strcmp(c->family, table[k].name)) {
      *f = table[k].f;
      *b = table[k].b;
      return;
    }
  NVAE_FATAL("no activation named %s", c->family);
}

static void act_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                    float *const *out) {
  act_fwd_fn f;
  act_bwd_fn b;
  act_fns(c, ctx, &f, &b);
  tensor x = opcase_view(ctx, &io->in[0], in[0]), y = opcase_view(ctx, &io->out[0], out[0]);
  if (c->ip[4]) {
    ctx->ops->copy(ctx, out[0], in[0], (size_t)opcase_numel(&io->in[0]) * sizeof(float));
    f(ctx, &y, &y);
  } else {
    f(ctx, &x, &y);
  }
}

static void act_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                    float *const *out, float *const *dout, float *const *din) {
  act_fwd_fn f;
  act_bwd_fn b;
  act_fns(c, ctx, &f, &b);
  /* sigmoid's backward takes the saved output y, the others the input x */
  int from_y = !strcmp(c->family, "sigmoid");
  tensor saved =
      from_y ? opcase_view(ctx, &io->out[0], out[0]) : opcase_view(ctx, &io->in[0], in[0]);
  tensor dy = opcase_view(ctx, &io->out[0], dout[0]), dx = opcase_view(ctx, &io->in[0], din[0]);
  b(ctx, &saved, &dy, &dx);
}

static double act_ref_one(const char *name, double x) {
  if (!strcmp(name, "swish")) return x / (1 + exp(-x));
  if (!strcmp(name, "elu")) return x > 0 ? x : exp(x) - 1;
  if (!strcmp(name, "relu")) return x > 0 ? x : 0;
  if (!strcmp(name, "sigmoid")) return 1 / (1 + exp(-x));
  if (!strcmp(name, "soft_clamp")) return 5 * tanh(x / 5);
  NVAE_FATAL("no activation named %s", name);
}

static void act_ref(const op_case *c, const opcase_io *io, double *const *in, double *const *out) {
  int64_t n = opcase_numel(&io->in[0]);
  for (int64_t i = 0; i < n; i++)
    out[0][i] = act_ref_one(c->family, in[0][i]);
}

/* ---- squeeze-excitation ---- */

enum { SE_X, SE_W1, SE_B1, SE_W2, SE_B2 };

static void se_describe(const op_case *c, opcase_io *io) {
  int64_t n = c->ip[0], ch = c->ip[1], h = squeeze_excite_hidden(ch);
  const int64_t *s = OPCASE_SHAPE(n, ch, c->ip[2], c->ip[3]);
  opcase_add_in(io, "x", 4, s, 1, -1, 1);
  opcase_add_in(io, "w1", 2, OPCASE_SHAPE(h, ch), 1, -1, 1);
  opcase_add_in(io, "b1", 1, OPCASE_SHAPE(h), 1, -0.2f, 0.2f);
  opcase_add_in(io, "w2", 2, OPCASE_SHAPE(ch, h), 1, -1, 1);
  opcase_add_in(io, "b2", 1, OPCASE_SHAPE(ch), 1, -0.5f, 0.5f);
  opcase_add_out(io, "y", 4, s);
  opcase_add_out(io, "saved", 2, OPCASE_SHAPE(n, 2 * ch + h));
  io->out[1].diff = 0;
}

static void se_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                   float *const *out) {
  tensor x = opcase_view(ctx, &io->in[SE_X], in[SE_X]), y = opcase_view(ctx, &io->out[0], out[0]);
  tensor w1 = opcase_view(ctx, &io->in[SE_W1], in[SE_W1]);
  tensor w2 = opcase_view(ctx, &io->in[SE_W2], in[SE_W2]);
  tensor b1 = opcase_view(ctx, &io->in[SE_B1], in[SE_B1]);
  tensor b2 = opcase_view(ctx, &io->in[SE_B2], in[SE_B2]);
  tensor saved = opcase_view(ctx, &io->out[1], out[1]);
  ctx->ops->squeeze_excite_forward(ctx, &x, &w1, &b1, &w2, &b2, &y, &saved);
}

static void se_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                   float *const *out, float *const *dout, float *const *din) {
  tensor x = opcase_view(ctx, &io->in[SE_X], in[SE_X]),
         dx = opcase_view(ctx, &io->in[SE_X], din[SE_X]);
  tensor dy = opcase_view(ctx, &io->out[0], dout[0]);
  tensor w1 = opcase_view(ctx, &io->in[SE_W1], in[SE_W1]);
  tensor w2 = opcase_view(ctx, &io->in[SE_W2], in[SE_W2]);
  tensor dw1 = opcase_view(ctx, &io->in[SE_W1], din[SE_W1]);
  tensor dw2 = opcase_view(ctx, &io->in[SE_W2], din[SE_W2]);
  tensor db1 = opcase_view(ctx, &io->in[SE_B1], din[SE_B1]);
  tensor db2 = opcase_view(ctx, &io->in[SE_B2], din[SE_B2]);
  tensor saved = opcase_view(ctx, &io->out[1], out[1]);
  ctx->ops->squeeze_excite_backward(ctx, &x, &w1, &w2, &saved, &dy, &dx, &dw1, &db1, &dw2, &db2);
}

/* NVAE.md §1.1: mean pool -> Linear(C->h) -> ReLU -> Linear(h->C) -> sigmoid -> scale x */
static void se_ref(const op_case *c, const opcase_io *io, double *const *in, double *const *out) {
  int64_t nn = c->ip[0], cc = c->ip[1], hw = (int64_t)c->ip[2] * c->ip[3];
  int64_t h = io->in[SE_W1].shape[0];
  const double *x = in[SE_X], *w1 = in[SE_W1], *b1 = in[SE_B1], *w2 = in[SE_W2], *b2 = in[SE_B2];
  for (int64_t n = 0; n < nn; n++) {
    double *pool = out[1] + n * (2 * cc + h), *hid = pool + cc, *gate = hid + h;
    for (int64_t ch = 0; ch < cc; ch++) {
      double s = 0;
      for (int64_t i = 0; i < hw; i++)
        s += x[(n * cc + ch) * hw + i];
      pool[ch] = s / (double)hw;
    }
    for (int64_t j = 0; j < h; j++) {
      hid[j] = b1[j];
      for (int64_t ch = 0; ch < cc; ch++)
        hid[j] += w1[j * cc + ch] * pool[ch];
    }
    for (int64_t ch = 0; ch < cc; ch++) {
      double a = b2[ch];
      for (int64_t j = 0; j < h; j++)
        a += w2[ch * h + j] * fmax(hid[j], 0.0);
      gate[ch] = 1 / (1 + exp(-a));
      for (int64_t i = 0; i < hw; i++)
        out[0][(n * cc + ch) * hw + i] = x[(n * cc + ch) * hw + i] * gate[ch];
    }
  }
}

#define ACT_CASE(name, label, n, c, h, w, in_place, lo, hi)                                        \
  { name, label, 0, {n, c, h, w, in_place}, {lo, hi}, act_describe, act_fwd, act_bwd, act_ref }
#define SE_CASE(label, n, c, h, w)                                                                 \
  { "squeeze_excite", label, 0, {n, c, h, w}, {0}, se_describe, se_fwd, se_bwd, se_ref }

static const op_case cases[] = {
    ACT_CASE("swish", "3x5x7x9 [-6,6]", 3, 5, 7, 9, 0, -6.0, 6.0),
    ACT_CASE("swish", "2x3x5x7 in place [-30,30]", 2, 3, 5, 7, 1, -30.0, 30.0),
    ACT_CASE("elu", "3x5x7x9 [-4,4]", 3, 5, 7, 9, 0, -4.0, 4.0),
    ACT_CASE("elu", "2x3x5x7 in place", 2, 3, 5, 7, 1, -4.0, 4.0),
    ACT_CASE("relu", "3x5x7x9 |x|>=0.05", 3, 5, 7, 9, 0, -2.0, 2.0),
    ACT_CASE("sigmoid", "3x5x7x9 [-8,8]", 3, 5, 7, 9, 0, -8.0, 8.0),
    ACT_CASE("soft_clamp", "3x5x7x9 [-15,15]", 3, 5, 7, 9, 0, -15.0, 15.0),
    SE_CASE("3x20x5x7 h=4", 3, 20, 5, 7),
    SE_CASE("2x64x3x5 h=4", 2, 64, 3, 5),
    SE_CASE("2x80x3x3 h=5", 2, 80, 3, 3),
    /* above the kernels' OpenMP thresholds: the threaded paths */
    ACT_CASE("swish", "2x17x48x48 in place (threads)", 2, 17, 48, 48, 1, -6.0, 6.0),
    ACT_CASE("elu", "2x17x48x48 (threads)", 2, 17, 48, 48, 0, -4.0, 4.0),
    SE_CASE("2x64x24x24 h=4 (threads)", 2, 64, 24, 24),
};

const op_case *op_cases_act(int *count) {
  *count = (int)(sizeof cases / sizeof cases[0]);
  return cases;
}
