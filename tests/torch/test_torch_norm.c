/* Parity with PyTorch 1.13 (tests/torch/ref_norm.py, float64) for the norm, activation and shape
 * ops:
 *  - BatchNorm2d(momentum 0.05, eps 1e-5) training: y of two forward calls, running_mean and
 *    running_var after both, dx, dgamma, dbeta of the second; eval: y, dx, dgamma, dbeta;
 *  - fused BN+Swish (training) against swish(BatchNorm2d(x)): y, running stats, dx, dgamma, dbeta;
 *  - F.interpolate(scale_factor=2, mode='bilinear', align_corners=True) (also with H = 1) and
 *    mode='nearest': y and dx;
 *  - Swish, ELU: y and dx; squeeze-excitation from nn.Linear: y, dx, dw1, db1, dw2, db2.
 * Bound: ||ours (float32) - torch (float64)|| / ||torch|| <= 1e-5 for every output.
 */
#include "kernels/cpu/activation.h"
#include "kernels/cpu/batchnorm.h"
#include "kernels/cpu/bn_swish.h"
#include "kernels/cpu/squeeze_excite.h"
#include "kernels/cpu/upsample.h"
#include "tests/test_util.h"
#include "tests/torch/torch_bridge.h"

#include <stdlib.h>
#include <string.h>

#define TOL 1e-5

static uint32_t next_tag = 1;

/* A new buffer of n uniform values in [lo, hi], also put into io under name with the shape. */
static float *input(torch_io *io, const char *name, float lo, float hi, int ndim,
                    const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= shape[i];
  float *p = malloc((size_t)n * sizeof(float));
  test_fill_uniform(p, n, lo, hi, 2024, next_tag++);
  torch_io_put(io, name, p, ndim, shape);
  return p;
}

static float *zeros(int64_t n) { return calloc((size_t)n, sizeof(float)); }

static void expect(const torch_io *ref, const char *name, const float *ours, int64_t n) {
  int64_t m = 0;
  const float *theirs = torch_io_get(ref, name, &m);
  CHECK(theirs != NULL, "the reference did not return %s", name);
  if (!theirs) return;
  CHECK(m == n, "%s: reference has %lld elements, ours %lld", name, (long long)m, (long long)n);
  if (m != n) return;
  double e = test_rel_err_ff(ours, theirs, n);
  CHECK(e <= TOL, "%s: rel err %.3g > %.0e", name, e, TOL);
  printf("  %-12s rel err %.2e (bound %.0e)\n", name, e, TOL);
}

/* ---- BatchNorm / BN+Swish ---- */

enum { BN_N = 4, BN_C = 6, BN_H = 5, BN_W = 7, BN_NUMEL = BN_N * BN_C * BN_H * BN_W };
#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

typedef struct bn_in {
  float *gamma, *beta, *rm, *rv; /* [C]; rm, rv updated in place by training */
  tensor tg, tb, trm, trv;
} bn_in;

static bn_in bn_inputs(torch_io *io, const char *prefix) {
  char name[64];
  bn_in b;
  snprintf(name, sizeof name, "%sgamma", prefix);
  b.gamma = input(io, name, 0.5f, 1.5f, 1, SHAPE(BN_C));
  snprintf(name, sizeof name, "%sbeta", prefix);
  b.beta = input(io, name, -0.5f, 0.5f, 1, SHAPE(BN_C));
  snprintf(name, sizeof name, "%srm", prefix);
  b.rm = input(io, name, -0.3f, 0.3f, 1, SHAPE(BN_C));
  snprintf(name, sizeof name, "%srv", prefix);
  b.rv = input(io, name, 0.5f, 2.0f, 1, SHAPE(BN_C));
  b.tg = tensor_1d(b.gamma, BN_C);
  b.tb = tensor_1d(b.beta, BN_C);
  b.trm = tensor_1d(b.rm, BN_C);
  b.trv = tensor_1d(b.rv, BN_C);
  return b;
}

static void bn_train_case(op_ctx *ctx, torch_io *io, int phase, const torch_io *ref) {
  static bn_in b;
  static float *x1, *x2, *dy;
  batchnorm_params p = batchnorm_params_default();
  if (phase == 0) {
    b = bn_inputs(io, "bn_");
    x1 = input(io, "bn_x1", 1.0f, 3.0f, 4, SHAPE(BN_N, BN_C, BN_H, BN_W));
    x2 = input(io, "bn_x2", -2.0f, 0.5f, 4, SHAPE(BN_N, BN_C, BN_H, BN_W));
    dy = input(io, "bn_dy", -1.0f, 1.0f, 4, SHAPE(BN_N, BN_C, BN_H, BN_W));
    return;
  }
  float *y1 = zeros(BN_NUMEL), *y2 = zeros(BN_NUMEL), *dx = zeros(BN_NUMEL);
  float sm[BN_C], si[BN_C], dg[BN_C] = {0}, db[BN_C] = {0};
  tensor tsm = tensor_1d(sm, BN_C), tsi = tensor_1d(si, BN_C);
  tensor tdg = tensor_1d(dg, BN_C), tdb = tensor_1d(db, BN_C);
  tensor tx1 = tensor_4d(x1, BN_N, BN_C, BN_H, BN_W), tx2 = tensor_4d(x2, BN_N, BN_C, BN_H, BN_W);
  tensor ty1 = tensor_4d(y1, BN_N, BN_C, BN_H, BN_W), ty2 = tensor_4d(y2, BN_N, BN_C, BN_H, BN_W);
  tensor tdy = tensor_4d(dy, BN_N, BN_C, BN_H, BN_W), tdx = tensor_4d(dx, BN_N, BN_C, BN_H, BN_W);
  batchnorm_forward_train_cpu(ctx, &p, NULL, &tx1, &b.tg, &b.tb, &b.trm, &b.trv, &ty1, &tsm, &tsi);
  batchnorm_forward_train_cpu(ctx, &p, NULL, &tx2, &b.tg, &b.tb, &b.trm, &b.trv, &ty2, &tsm, &tsi);
  batchnorm_backward_train_cpu(ctx, NULL, &tx2, &b.tg, &tsm, &tsi, &tdy, &tdx, &tdg, &tdb);
  expect(ref, "bn_y1", y1, BN_NUMEL);
  expect(ref, "bn_y2", y2, BN_NUMEL);
  expect(ref, "bn_rm", b.rm, BN_C);
  expect(ref, "bn_rv", b.rv, BN_C);
  expect(ref, "bn_dx", dx, BN_NUMEL);
  expect(ref, "bn_dgamma", dg, BN_C);
  expect(ref, "bn_dbeta", db, BN_C);
  free(y1), free(y2), free(dx), free(x1), free(x2), free(dy);
  free(b.gamma), free(b.beta), free(b.rm), free(b.rv);
}

static void bn_eval_case(op_ctx *ctx, torch_io *io, int phase, const torch_io *ref) {
  static bn_in b;
  static float *x, *dy;
  batchnorm_params p = batchnorm_params_default();
  if (phase == 0) {
    b = bn_inputs(io, "bne_");
    x = input(io, "bne_x", -1.0f, 2.0f, 4, SHAPE(BN_N, BN_C, BN_H, BN_W));
    dy = input(io, "bne_dy", -1.0f, 1.0f, 4, SHAPE(BN_N, BN_C, BN_H, BN_W));
    return;
  }
  float *y = zeros(BN_NUMEL), *dx = zeros(BN_NUMEL), dg[BN_C] = {0}, db[BN_C] = {0};
  tensor tx = tensor_4d(x, BN_N, BN_C, BN_H, BN_W), ty = tensor_4d(y, BN_N, BN_C, BN_H, BN_W);
  tensor tdy = tensor_4d(dy, BN_N, BN_C, BN_H, BN_W), tdx = tensor_4d(dx, BN_N, BN_C, BN_H, BN_W);
  tensor tdg = tensor_1d(dg, BN_C), tdb = tensor_1d(db, BN_C);
  batchnorm_forward_eval_cpu(ctx, &p, &tx, &b.tg, &b.tb, &b.trm, &b.trv, &ty);
  batchnorm_backward_eval_cpu(ctx, &p, &tx, &b.tg, &b.trm, &b.trv, &tdy, &tdx, &tdg, &tdb);
  expect(ref, "bne_y", y, BN_NUMEL);
  expect(ref, "bne_dx", dx, BN_NUMEL);
  expect(ref, "bne_dgamma", dg, BN_C);
  expect(ref, "bne_dbeta", db, BN_C);
  free(y), free(dx), free(x), free(dy);
  free(b.gamma), free(b.beta), free(b.rm), free(b.rv);
}

static void bn_swish_case(op_ctx *ctx, torch_io *io, int phase, const torch_io *ref) {
  static bn_in b;
  static float *x, *dy;
  batchnorm_params p = batchnorm_params_default();
  if (phase == 0) {
    b = bn_inputs(io, "bns_");
    x = input(io, "bns_x", 0.0f, 2.0f, 4, SHAPE(BN_N, BN_C, BN_H, BN_W));
    dy = input(io, "bns_dy", -1.0f, 1.0f, 4, SHAPE(BN_N, BN_C, BN_H, BN_W));
    return;
  }
  float *y = zeros(BN_NUMEL), *dx = zeros(BN_NUMEL), dg[BN_C] = {0}, db[BN_C] = {0};
  float sm[BN_C], si[BN_C];
  tensor tsm = tensor_1d(sm, BN_C), tsi = tensor_1d(si, BN_C);
  tensor tx = tensor_4d(x, BN_N, BN_C, BN_H, BN_W), ty = tensor_4d(y, BN_N, BN_C, BN_H, BN_W);
  tensor tdy = tensor_4d(dy, BN_N, BN_C, BN_H, BN_W), tdx = tensor_4d(dx, BN_N, BN_C, BN_H, BN_W);
  tensor tdg = tensor_1d(dg, BN_C), tdb = tensor_1d(db, BN_C);
  bn_swish_forward_train_cpu(ctx, &p, NULL, &tx, &b.tg, &b.tb, &b.trm, &b.trv, &ty, &tsm, &tsi);
  bn_swish_backward_train_cpu(ctx, NULL, &tx, &b.tg, &b.tb, &tsm, &tsi, &tdy, &tdx, &tdg, &tdb);
  expect(ref, "bns_y", y, BN_NUMEL);
  expect(ref, "bns_rm", b.rm, BN_C);
  expect(ref, "bns_rv", b.rv, BN_C);
  expect(ref, "bns_dx", dx, BN_NUMEL);
  expect(ref, "bns_dgamma", dg, BN_C);
  expect(ref, "bns_dbeta", db, BN_C);
  free(y), free(dx), free(x), free(dy);
  free(b.gamma), free(b.beta), free(b.rm), free(b.rv);
}

/* ---- upsampling and activations: one input x, one output y, same-named dy / dx ---- */

typedef struct unary_case {
  const char *name;
  int64_t shape[4]; /* of x */
  int up;           /* 1: y is [N, C, 2H, 2W] */
  float lo, hi;
  void (*fwd)(op_ctx *, const tensor *, tensor *);
  void (*bwd_from_dy)(op_ctx *, const tensor *x, const tensor *dy, tensor *dx);
} unary_case;

static void up_bilinear_bwd(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx) {
  upsample_bilinear2x_backward_cpu(ctx, dy, dx);
}
static void up_nearest_bwd(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx) {
  upsample_nearest2x_backward_cpu(ctx, dy, dx);
}

static unary_case unary[] = {
    {"bil", {2, 3, 5, 6}, 1, -1, 1, upsample_bilinear2x_forward_cpu, up_bilinear_bwd},
    {"bil1", {1, 2, 1, 4}, 1, -1, 1, upsample_bilinear2x_forward_cpu, up_bilinear_bwd},
    {"near", {2, 3, 4, 5}, 1, -1, 1, upsample_nearest2x_forward_cpu, up_nearest_bwd},
    {"swish", {2, 3, 4, 5}, 0, -6, 6, swish_forward_cpu, swish_backward_cpu},
    {"elu", {2, 3, 4, 5}, 0, -4, 4, elu_forward_cpu, elu_backward_cpu},
};
#define N_UNARY ((int)(sizeof unary / sizeof unary[0]))
static float *unary_x[N_UNARY], *unary_dy[N_UNARY]; /* kept from phase 0 to phase 1 */

static void unary_shapes(const unary_case *u, int64_t *ys, int64_t *nx, int64_t *ny) {
  memcpy(ys, u->shape, sizeof u->shape);
  if (u->up) ys[2] *= 2, ys[3] *= 2;
  *nx = u->shape[0] * u->shape[1] * u->shape[2] * u->shape[3];
  *ny = ys[0] * ys[1] * ys[2] * ys[3];
}

static void unary_run(op_ctx *ctx, torch_io *io, int k, int phase, const torch_io *ref) {
  const unary_case *u = &unary[k];
  int64_t ys[4], nx, ny;
  char name[64];
  unary_shapes(u, ys, &nx, &ny);
  if (phase == 0) {
    snprintf(name, sizeof name, "%s_x", u->name);
    unary_x[k] = input(io, name, u->lo, u->hi, 4, u->shape);
    snprintf(name, sizeof name, "%s_dy", u->name);
    unary_dy[k] = input(io, name, -1, 1, 4, ys);
    return;
  }
  float *y = zeros(ny), *dx = zeros(nx);
  tensor tx = tensor_4d(unary_x[k], u->shape[0], u->shape[1], u->shape[2], u->shape[3]);
  tensor tdx = tensor_4d(dx, u->shape[0], u->shape[1], u->shape[2], u->shape[3]);
  tensor ty = tensor_4d(y, ys[0], ys[1], ys[2], ys[3]),
         tdy = tensor_4d(unary_dy[k], ys[0], ys[1], ys[2], ys[3]);
  u->fwd(ctx, &tx, &ty);
  u->bwd_from_dy(ctx, &tx, &tdy, &tdx);
  snprintf(name, sizeof name, "%s_y", u->name);
  expect(ref, name, y, ny);
  snprintf(name, sizeof name, "%s_dx", u->name);
  expect(ref, name, dx, nx);
  free(y), free(dx), free(unary_x[k]), free(unary_dy[k]);
}

/* ---- squeeze-excitation ---- */

enum { SE_N = 2, SE_C = 20, SE_H = 3, SE_W = 5, SE_NUMEL = SE_N * SE_C * SE_H * SE_W };

static void se_case(op_ctx *ctx, torch_io *io, int phase, const torch_io *ref) {
  static float *x, *w1, *b1, *w2, *b2, *dy;
  const int64_t h = squeeze_excite_hidden(SE_C);
  if (phase == 0) {
    x = input(io, "se_x", -1, 1, 4, SHAPE(SE_N, SE_C, SE_H, SE_W));
    w1 = input(io, "se_w1", -1, 1, 2, SHAPE(h, SE_C));
    b1 = input(io, "se_b1", -0.2f, 0.2f, 1, SHAPE(h));
    w2 = input(io, "se_w2", -1, 1, 2, SHAPE(SE_C, h));
    b2 = input(io, "se_b2", -0.5f, 0.5f, 1, SHAPE(SE_C));
    dy = input(io, "se_dy", -1, 1, 4, SHAPE(SE_N, SE_C, SE_H, SE_W));
    return;
  }
  float *y = zeros(SE_NUMEL), *dx = zeros(SE_NUMEL), *saved = zeros(SE_N * (2 * SE_C + h));
  float *dw1 = zeros(h * SE_C), *db1 = zeros(h), *dw2 = zeros(SE_C * h), *db2 = zeros(SE_C);
  tensor tx = tensor_4d(x, SE_N, SE_C, SE_H, SE_W), ty = tensor_4d(y, SE_N, SE_C, SE_H, SE_W);
  tensor tdy = tensor_4d(dy, SE_N, SE_C, SE_H, SE_W), tdx = tensor_4d(dx, SE_N, SE_C, SE_H, SE_W);
  tensor tw1 = tensor_2d(w1, h, SE_C), tb1 = tensor_1d(b1, h);
  tensor tw2 = tensor_2d(w2, SE_C, h), tb2 = tensor_1d(b2, SE_C);
  tensor tdw1 = tensor_2d(dw1, h, SE_C), tdb1 = tensor_1d(db1, h);
  tensor tdw2 = tensor_2d(dw2, SE_C, h), tdb2 = tensor_1d(db2, SE_C);
  tensor ts = tensor_2d(saved, SE_N, 2 * SE_C + h);
  squeeze_excite_forward_cpu(ctx, &tx, &tw1, &tb1, &tw2, &tb2, &ty, &ts);
  squeeze_excite_backward_cpu(ctx, &tx, &tw1, &tw2, &ts, &tdy, &tdx, &tdw1, &tdb1, &tdw2, &tdb2);
  expect(ref, "se_y", y, SE_NUMEL);
  expect(ref, "se_dx", dx, SE_NUMEL);
  expect(ref, "se_dw1", dw1, h * SE_C);
  expect(ref, "se_db1", db1, h);
  expect(ref, "se_dw2", dw2, SE_C * h);
  expect(ref, "se_db2", db2, SE_C);
  free(y), free(dx), free(saved), free(dw1), free(db1), free(dw2), free(db2);
  free(x), free(w1), free(b1), free(w2), free(b2), free(dy);
}

/* phase 0 puts every case's inputs, phase 1 runs our ops and compares with the reference */
static void all_cases(op_ctx *ctx, torch_io *io, int phase, const torch_io *ref) {
  bn_train_case(ctx, io, phase, ref);
  bn_eval_case(ctx, io, phase, ref);
  bn_swish_case(ctx, io, phase, ref);
  for (int k = 0; k < N_UNARY; k++)
    unary_run(ctx, io, k, phase, ref);
  se_case(ctx, io, phase, ref);
}

int main(void) {
  op_ctx ctx = op_ctx_cpu();
  torch_io *in = torch_io_new(), *ref = NULL;
  batchnorm_params p = batchnorm_params_default();
  /* the float constants the C ops use, so that both sides compute with the same numbers */
  torch_io_param(in, "eps", (double)p.eps);
  torch_io_param(in, "momentum", (double)p.momentum);
  all_cases(&ctx, in, 0, NULL);
  nvae_err e;
  nvae_err_clear(&e);
  int rc = torch_run("tests/torch/ref_norm.py", in, &ref, &e);
  CHECK(rc == 0, "%s", e.msg);
  if (rc == 0) {
    all_cases(&ctx, NULL, 1, ref);
    torch_io_free(ref);
  }
  torch_io_free(in);
  op_ctx_free(&ctx);
  return test_finish("test_torch_norm");
}
