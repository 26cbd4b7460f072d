/* The sync-BN hook on the CUDA backend (kernels/cuda/ops_batchnorm.cu, ops_bn_swish.cu): the
 * whole-op *_train entries copy their per-channel sums to the host, call the bn_sync hook there
 * and copy the reduced sums back (the MPI-transport path), or, when the hook has
 * allreduce_sum_dev (the NCCL path), hand it the DEVICE sums and the context's stream; the halves
 * take HOST sums.
 *
 * One simulated rank holds 3 samples of a batch of 8; the hook adds the other rank's sums (5
 * samples, computed by the CPU op beforehand), element count included, so the uneven split and
 * the unbiased running variance are exercised. The same rank runs on the CPU reference with the
 * same hook, and the GPU must agree with it: y, save_mean, save_invstd, running statistics, dx,
 * dgamma, dbeta (relative error 1e-5), for plain BN and fused BN+Swish, through the whole ops and
 * through the halves with an explicit host-side reduction, and through the whole ops with a
 * device-side hook only (allreduce_sum NULL; the test's hook copies through the host, stream
 * ordered). The hook must see [2C + 1] doubles, once per pass, and the device hook the context's
 * stream.
 *
 * Skipped (77) without a GPU. `--cpu` runs the "device" side on the CPU backend instead, which
 * checks this test's own plumbing on machines without a GPU.
 */
#include "kernels/backend.h"
#include "kernels/cuda_backend.h"
#include "tests/test_util.h"

#include <stdlib.h>
#include <string.h>

#define RANK_N 3
#define OTHER_N 5
#define C 6
#define H 5
#define W 7
#define TOL 1e-5

#define PLANE (C * H * W)

/* The other rank, as the hook sees it: its forward and backward sums, added in place. */
typedef struct other_rank {
  double fwd[2 * C + 1], bwd[2 * C + 1];
  int pass; /* 0: forward, 1: backward */
  int calls, bad_len;
  int dev_hook;      /* the whole ops get allreduce_sum_dev only */
  void *want_stream; /* the stream the device hook must be given */
  int bad_stream;
} other_rank;

static void add_other(void *arg, double *buf, int n) {
  other_rank *o = arg;
  o->calls++;
  if (n != 2 * C + 1) {
    o->bad_len++;
    return;
  }
  const double *src = o->pass ? o->bwd : o->fwd;
  for (int i = 0; i < n; i++)
    buf[i] += src[i];
}

/* The same on device sums, as NCCL would see them. cudaMemcpy runs on the legacy default stream,
 * which waits for the context's (blocking) stream and is waited on by it: stream-ordered. */
static void add_other_dev(void *arg, double *dev_buf, int n, void *stream) {
  other_rank *o = arg;
  double host[2 * C + 1];
  o->bad_stream += stream != o->want_stream;
  if (n != 2 * C + 1) {
    o->calls++, o->bad_len++;
    return;
  }
  cuda_memcpy_d2h(host, dev_buf, sizeof host);
  add_other(o, host, n);
  cuda_memcpy_h2d(dev_buf, host, sizeof host);
}

/* Inputs of the rank (host) */
static float x[RANK_N * PLANE], dy[RANK_N * PLANE], gamma_[C], beta_[C], rm0[C], rv0[C];
static float xo[OTHER_N * PLANE], dyo[OTHER_N * PLANE];

/* Results of one backend (host copies) */
typedef struct result {
  float y[RANK_N * PLANE], dx[RANK_N * PLANE];
  float sm[C], si[C], rm[C], rv[C], dg[C], db[C];
} result;

/* One backend's buffers: device pointers on the device side, host ones on the CPU side. */
typedef struct bufs {
  float *x, *dy, *y, *dx, *gamma, *beta, *sm, *si, *rm, *rv, *dg, *db;
} bufs;

static float *up(op_ctx *ctx, const float *h, int64_t n) {
  float *d = ctx->ops->alloc((size_t)n * sizeof(float));
  if (h)
    ctx->ops->from_host(ctx, d, h, (size_t)n * sizeof(float));
  else
    ctx->ops->zero(ctx, d, (size_t)n * sizeof(float));
  return d;
}

static void down(op_ctx *ctx, float *h, const float *d, int64_t n) {
  ctx->ops->to_host(ctx, h, d, (size_t)n * sizeof(float));
}

static bufs bufs_make(op_ctx *ctx) {
  bufs b;
  b.x = up(ctx, x, RANK_N * PLANE), b.dy = up(ctx, dy, RANK_N * PLANE);
  b.y = up(ctx, NULL, RANK_N * PLANE), b.dx = up(ctx, NULL, RANK_N * PLANE);
  b.gamma = up(ctx, gamma_, C), b.beta = up(ctx, beta_, C);
  b.sm = up(ctx, NULL, C), b.si = up(ctx, NULL, C);
  b.rm = up(ctx, rm0, C), b.rv = up(ctx, rv0, C);
  b.dg = up(ctx, NULL, C), b.db = up(ctx, NULL, C);
  return b;
}

static void bufs_free(op_ctx *ctx, bufs *b) {
  float *all[] = {b->x,  b->dy, b->y,  b->dx, b->gamma, b->beta,
                  b->sm, b->si, b->rm, b->rv, b->dg,    b->db};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    ctx->ops->free(all[i]);
}

static tensor t4(op_ctx *ctx, float *p) {
  return tensor_on(tensor_4d(p, RANK_N, C, H, W), ctx->device);
}
static tensor t1(op_ctx *ctx, float *p) { return tensor_on(tensor_1d(p, C), ctx->device); }

/* The rank's forward and backward through the whole ops (halves = 0) or the halves with the
 * reduction done here on the host (halves = 1); the backward takes save_mean / save_invstd from
 * `stats` (host) so that both backends differentiate at the same point. */
static void run_rank(op_ctx *ctx, int swish, int halves, other_rank *o, const result *stats,
                     result *r) {
  bufs b = bufs_make(ctx);
  tensor tx = t4(ctx, b.x), tdy = t4(ctx, b.dy), ty = t4(ctx, b.y), tdx = t4(ctx, b.dx);
  tensor tg = t1(ctx, b.gamma), tb = t1(ctx, b.beta), tsm = t1(ctx, b.sm), tsi = t1(ctx, b.si);
  tensor trm = t1(ctx, b.rm), trv = t1(ctx, b.rv), tdg = t1(ctx, b.dg), tdb = t1(ctx, b.db);
  bn_sync sync = {.allreduce_sum = o->dev_hook ? NULL : add_other,
                  .arg = o,
                  .allreduce_sum_dev = o->dev_hook ? add_other_dev : NULL};
  batchnorm_params p = batchnorm_params_default();
  const op_backend *ops = ctx->ops;
  double sums[2 * C + 1];

  o->pass = 0;
  if (!halves) {
    (swish ? ops->bn_swish_forward_train : ops->batchnorm_forward_train)(
        ctx, &p, &sync, &tx, &tg, &tb, &trm, &trv, &ty, &tsm, &tsi);
  } else {
    ops->batchnorm_local_sums(ctx, &tx, sums);
    add_other(o, sums, 2 * C + 1);
    (swish ? ops->bn_swish_normalize : ops->batchnorm_normalize)(ctx, &p, sums, &tx, &tg, &tb, &trm,
                                                                 &trv, &ty, &tsm, &tsi);
  }
  down(ctx, r->y, b.y, RANK_N * PLANE);
  down(ctx, r->sm, b.sm, C), down(ctx, r->si, b.si, C);
  down(ctx, r->rm, b.rm, C), down(ctx, r->rv, b.rv, C);

  /* backward at the reference statistics */
  ctx->ops->from_host(ctx, b.sm, stats ? stats->sm : r->sm, C * sizeof(float));
  ctx->ops->from_host(ctx, b.si, stats ? stats->si : r->si, C * sizeof(float));
  o->pass = 1;
  if (!halves) {
    if (swish)
      ops->bn_swish_backward_train(ctx, &sync, &tx, &tg, &tb, &tsm, &tsi, &tdy, &tdx, &tdg, &tdb);
    else
      ops->batchnorm_backward_train(ctx, &sync, &tx, &tg, &tsm, &tsi, &tdy, &tdx, &tdg, &tdb);
  } else {
    float *dz = NULL;
    tensor src = tdy;
    if (swish) {
      dz = up(ctx, NULL, RANK_N * PLANE);
      src = t4(ctx, dz);
      ops->bn_swish_backward_dz(ctx, &tx, &tg, &tb, &tsm, &tsi, &tdy, &src);
    }
    ops->batchnorm_backward_sums(ctx, &tx, &tsm, &tsi, &src, sums, &tdg, &tdb);
    add_other(o, sums, 2 * C + 1);
    ops->batchnorm_backward_input(ctx, sums, &tx, &tg, &tsm, &tsi, &src, &tdx);
    if (dz) ctx->ops->free(dz);
  }
  down(ctx, r->dx, b.dx, RANK_N * PLANE);
  down(ctx, r->dg, b.dg, C), down(ctx, r->db, b.db, C);
  bufs_free(ctx, &b);
}

/* The other rank's sums on the CPU: forward from its x, backward from its dy (dz for BN+Swish)
 * at the statistics `st` of the global batch. */
static void other_sums(int swish, const result *st, other_rank *o) {
  op_ctx cpu = op_ctx_cpu();
  tensor tx = tensor_4d(xo, OTHER_N, C, H, W), tdy = tensor_4d(dyo, OTHER_N, C, H, W);
  batchnorm_local_sums_cpu(&cpu, &tx, o->fwd);
  if (st) {
    tensor tsm = tensor_1d((float *)st->sm, C), tsi = tensor_1d((float *)st->si, C);
    tensor tg = tensor_1d(gamma_, C), tb = tensor_1d(beta_, C);
    float *dz = malloc(sizeof dyo);
    tensor src = tdy, tdz = tensor_4d(dz, OTHER_N, C, H, W);
    if (swish) {
      bn_swish_backward_dz_cpu(&cpu, &tx, &tg, &tb, &tsm, &tsi, &tdy, &tdz);
      src = tdz;
    }
    batchnorm_backward_sums_cpu(&cpu, &tx, &tsm, &tsi, &src, o->bwd, NULL, NULL);
    free(dz);
  }
  op_ctx_free(&cpu);
}

static void compare(const char *what, const float *got, const float *want, int64_t n, int swish,
                    int halves) {
  double err = test_rel_err_ff(got, want, n);
  CHECK(err <= TOL, "%s%s%s: rel err %.3g > %g", swish ? "bn_swish " : "batchnorm ",
        halves ? "halves " : "train ", what, err, TOL);
}

static void check(op_ctx *dev, int swish, int halves, int dev_hook) {
  op_ctx cpu = op_ctx_cpu();
  other_rank o;
  static result ref, got;
  int before = test_failures;
  /* forward sums of the other rank, then the CPU rank (its statistics are the reference), then
   * the backward sums of the other rank at those statistics, and both backends in full */
  memset(&o, 0, sizeof o);
  other_sums(swish, NULL, &o);
  run_rank(&cpu, swish, 0, &o, NULL, &ref);
  other_sums(swish, &ref, &o);
  o.calls = 0;
  run_rank(&cpu, swish, 0, &o, &ref, &ref);
  CHECK(o.calls == 2 && o.bad_len == 0, "CPU hook: %d calls, %d of the wrong length", o.calls,
        o.bad_len);
  o.calls = 0;
  o.dev_hook = dev_hook, o.want_stream = dev->stream;
  run_rank(dev, swish, halves, &o, &ref, &got);
  CHECK(o.calls == 2 && o.bad_len == 0, "device hook: %d calls (want 2), %d of the wrong length",
        o.calls, o.bad_len);
  CHECK(o.bad_stream == 0, "allreduce_sum_dev was given another stream than the context's");
  compare("y", got.y, ref.y, RANK_N * PLANE, swish, halves);
  compare("save_mean", got.sm, ref.sm, C, swish, halves);
  compare("save_invstd", got.si, ref.si, C, swish, halves);
  compare("running_mean", got.rm, ref.rm, C, swish, halves);
  compare("running_var", got.rv, ref.rv, C, swish, halves);
  compare("dx", got.dx, ref.dx, RANK_N * PLANE, swish, halves);
  compare("dgamma", got.dg, ref.dg, C, swish, halves);
  compare("dbeta", got.db, ref.db, C, swish, halves);
  printf("%s %-9s %-10s y/stats/running/dx/dgamma/dbeta vs CPU with the same hook\n",
         test_failures > before ? "FAIL" : "ok", swish ? "bn_swish" : "batchnorm",
         halves ? "halves" : (dev_hook ? "train dev" : "train"));
  op_ctx_free(&cpu);
}

int main(int argc, char **argv) {
  int on_cpu = argc > 1 && !strcmp(argv[1], "--cpu");
  op_ctx dev;
  if (on_cpu) {
    dev = op_ctx_cpu();
  } else {
    if (cuda_device_count() == 0) return test_skip("test_bn_sync_gpu", "no CUDA device visible");
    dev = op_ctx_cuda(0);
  }
  test_fill_uniform(x, RANK_N * PLANE, 1.0f, 4.0f, 23, 1); /* offset: mean != 0 */
  test_fill_uniform(xo, OTHER_N * PLANE, 0.5f, 5.0f, 23, 2);
  test_fill_uniform(dy, RANK_N * PLANE, -1, 1, 23, 3);
  test_fill_uniform(dyo, OTHER_N * PLANE, -1, 1, 23, 4);
  test_fill_uniform(gamma_, C, 0.5f, 1.5f, 23, 5);
  test_fill_uniform(beta_, C, -0.5f, 0.5f, 23, 6);
  test_fill_uniform(rm0, C, -0.2f, 0.2f, 23, 7);
  test_fill_uniform(rv0, C, 0.8f, 1.2f, 23, 8);
  for (int swish = 0; swish <= 1; swish++) {
    for (int halves = 0; halves <= 1; halves++)
      check(&dev, swish, halves, 0);
    if (!on_cpu) check(&dev, swish, 0, 1); /* the CPU backend never calls allreduce_sum_dev */
  }
  op_ctx_free(&dev);
  return test_finish("test_bn_sync_gpu");
}
