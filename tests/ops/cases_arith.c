/* Op cases for kernels/cpu/arith.c — also the worked example of a family file (op_case.h).
 * ip[] = {N, C, H, W}; fp[0] = the scale s. */
#include "kernels/cpu/arith.h"
#include "tests/ops/op_case.h"

static void describe_nchw(const op_case *c, opcase_io *io, int n_in) {
  const int64_t *s = OPCASE_SHAPE(c->ip[0], c->ip[1], c->ip[2], c->ip[3]);
  opcase_add_in(io, "a", 4, s, 1, -1, 1);
  if (n_in > 1) opcase_add_in(io, "b", 4, s, 1, -2, 2);
  opcase_add_out(io, "y", 4, s);
}

/* ---- add_scaled: y = a + s*b ---- */
static void add_scaled_describe(const op_case *c, opcase_io *io) { describe_nchw(c, io, 2); }
static void add_scaled_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                           float *const *out) {
  tensor a = opcase_view(ctx, &io->in[0], in[0]), b = opcase_view(ctx, &io->in[1], in[1]),
         y = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->add_scaled_forward(ctx, &a, (float)c->fp[0], &b, &y);
}
static void add_scaled_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                           float *const *out, float *const *dout, float *const *din) {
  tensor dy = opcase_view(ctx, &io->out[0], dout[0]), da = opcase_view(ctx, &io->in[0], din[0]),
         db = opcase_view(ctx, &io->in[1], din[1]);
  ctx->ops->add_scaled_backward(ctx, (float)c->fp[0], &dy, &da, &db);
}
static void add_scaled_ref(const op_case *c, const opcase_io *io, double *const *in,
                           double *const *out) {
  int64_t n = opcase_numel(&io->in[0]);
  for (int64_t i = 0; i < n; i++) out[0][i] = in[0][i] + c->fp[0] * in[1][i];
}

/* ---- scale: y = s*x ---- */
static void scale_describe(const op_case *c, opcase_io *io) { describe_nchw(c, io, 1); }
static void scale_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                      float *const *out) {
  tensor x = opcase_view(ctx, &io->in[0], in[0]), y = opcase_view(ctx, &io->out[0], out[0]);
  ctx->ops->scale_forward(ctx, (float)c->fp[0], &x, &y);
}
static void scale_bwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                      float *const *out, float *const *dout, float *const *din) {
  tensor dy = opcase_view(ctx, &io->out[0], dout[0]), dx = opcase_view(ctx, &io->in[0], din[0]);
  ctx->ops->scale_backward(ctx, (float)c->fp[0], &dy, &dx);
}
static void scale_ref(const op_case *c, const opcase_io *io, double *const *in,
                      double *const *out) {
  int64_t n = opcase_numel(&io->in[0]);
  for (int64_t i = 0; i < n; i++) out[0][i] = c->fp[0] * in[0][i];
}

static const op_case cases[] = {
    {"add_scaled", "2x3x5x7 s0.1", 0, {2, 3, 5, 7}, {0.1}, add_scaled_describe, add_scaled_fwd,
     add_scaled_bwd, add_scaled_ref},
    {"add_scaled", "1x4x1x1 s-2", 0, {1, 4, 1, 1}, {-2.0}, add_scaled_describe, add_scaled_fwd,
     add_scaled_bwd, add_scaled_ref},
    {"scale", "3x2x4x3 s0.37", 0, {3, 2, 4, 3}, {0.37}, scale_describe, scale_fwd, scale_bwd,
     scale_ref},
};

const op_case *op_cases_arith(int *count) {
  *count = (int)(sizeof cases / sizeof cases[0]);
  return cases;
}
