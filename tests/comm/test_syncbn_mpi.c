/* Synchronized BatchNorm over real MPI ranks with UNEVEN batches (label mpi; run with 3 ranks):
 * rank r holds batch[r] of the concatenated batch of 8 and runs BN (plain, and fused with Swish)
 * forward + backward with the bn_sync hook of comm/ (comm_allreduce_sum_f64_hook, the trainer's
 * path). Every rank also runs one-process BN on the whole concatenation and checks its own slice
 * of y and dx, its running statistics, and dgamma / dbeta summed over the ranks (local gradients
 * that the trainer's gradient all-reduce combines) against it: relative error <= 1e-5. A control
 * run without the hook must differ, so agreement means something. With another world size than 3
 * the batches are 1, 2, 3, ... (any split works). */
#include "comm/comm.h"
#include "kernels/cpu/batchnorm.h"
#include "kernels/cpu/bn_swish.h"
#include "tests/test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define C 5
#define H 3
#define W 7
#define PER (C * H * W)
#define TOL 1e-5

typedef struct bn_run {
  int n;
  const float *x, *dy; /* [n, C, H, W] */
  float *y, *dx;
  float rm[C], rv[C], sm[C], si[C], dg[C], db[C];
} bn_run;

static float g_gamma[C], g_beta[C], g_rm0[C], g_rv0[C];

static void bn_run_exec(op_ctx *ctx, bn_run *s, int swish, const bn_sync *sync) {
  batchnorm_params p = batchnorm_params_default();
  tensor x = tensor_4d((float *)s->x, s->n, C, H, W), dy = tensor_4d((float *)s->dy, s->n, C, H, W);
  tensor y = tensor_4d(s->y, s->n, C, H, W), dx = tensor_4d(s->dx, s->n, C, H, W);
  tensor gamma = tensor_1d(g_gamma, C), beta = tensor_1d(g_beta, C);
  tensor rm = tensor_1d(s->rm, C), rv = tensor_1d(s->rv, C), sm = tensor_1d(s->sm, C),
         si = tensor_1d(s->si, C), dg = tensor_1d(s->dg, C), db = tensor_1d(s->db, C);
  memcpy(s->rm, g_rm0, sizeof s->rm);
  memcpy(s->rv, g_rv0, sizeof s->rv);
  memset(s->dx, 0, sizeof(float) * (size_t)s->n * PER); /* backward accumulates */
  memset(s->dg, 0, sizeof s->dg);
  memset(s->db, 0, sizeof s->db);
  if (swish) {
    bn_swish_forward_train_cpu(ctx, &p, sync, &x, &gamma, &beta, &rm, &rv, &y, &sm, &si);
    bn_swish_backward_train_cpu(ctx, sync, &x, &gamma, &beta, &sm, &si, &dy, &dx, &dg, &db);
  } else {
    batchnorm_forward_train_cpu(ctx, &p, sync, &x, &gamma, &beta, &rm, &rv, &y, &sm, &si);
    batchnorm_backward_train_cpu(ctx, sync, &x, &gamma, &sm, &si, &dy, &dx, &dg, &db);
  }
}

int main(int argc, char **argv) {
  comm *cm = NULL;
  nvae_err e = {0};
  if (comm_init(&argc, &argv, &cm, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  comm_set_timeout(cm, 60);
  const int R = comm_size(cm), me = comm_rank(cm);
  int *batch = malloc(sizeof(int) * (size_t)R), total = 0, first = 0;
  for (int r = 0; r < R; r++) { /* 3 ranks: 2, 5, 1 (as test_syncbn_hook); else 1, 2, 3, ... */
    batch[r] = R == 3 ? (int[]){2, 5, 1}[r] : r + 1;
    if (r < me) first += batch[r];
    total += batch[r];
  }
  float *x = malloc(sizeof(float) * (size_t)total * PER), *dy = malloc(sizeof(float) * (size_t)total * PER);
  float *y_ref = malloc(sizeof(float) * (size_t)total * PER), *dx_ref = malloc(sizeof(float) * (size_t)total * PER);
  float *y = malloc(sizeof(float) * (size_t)batch[me] * PER), *dx = malloc(sizeof(float) * (size_t)batch[me] * PER);
  /* the same inputs on every rank (fixed seeds), mean ≠ 0 */
  test_fill_uniform(x, (int64_t)total * PER, 1.0f, 4.0f, 7, 1);
  test_fill_uniform(dy, (int64_t)total * PER, -1.0f, 1.0f, 7, 2);
  test_fill_uniform(g_gamma, C, 0.5f, 1.5f, 7, 3);
  test_fill_uniform(g_beta, C, -0.5f, 0.5f, 7, 4);
  test_fill_uniform(g_rm0, C, -0.2f, 0.2f, 7, 5);
  test_fill_uniform(g_rv0, C, 0.8f, 1.2f, 7, 6);
  op_ctx ctx = op_ctx_cpu();
  bn_sync sync = {comm_allreduce_sum_f64_hook, cm, NULL};
  const size_t off = (size_t)first * PER;
  const int64_t n_me = (int64_t)batch[me] * PER;
  for (int swish = 0; swish <= 1; swish++) {
    const char *name = swish ? "bn_swish" : "batchnorm";
    bn_run ref = {total, x, dy, y_ref, dx_ref, {0}, {0}, {0}, {0}, {0}, {0}};
    bn_run_exec(&ctx, &ref, swish, NULL);
    bn_run mine = {batch[me], x + off, dy + off, y, dx, {0}, {0}, {0}, {0}, {0}, {0}};
    bn_run_exec(&ctx, &mine, swish, &sync);
    double err = test_rel_err_ff(y, y_ref + off, n_me);
    CHECK(err <= TOL, "%s rank %d: y rel err %.3g", name, me, err);
    err = test_rel_err_ff(dx, dx_ref + off, n_me);
    CHECK(err <= TOL, "%s rank %d: dx rel err %.3g", name, me, err);
    err = test_rel_err_ff(mine.rm, ref.rm, C);
    CHECK(err <= TOL, "%s rank %d: running_mean rel err %.3g", name, me, err);
    err = test_rel_err_ff(mine.rv, ref.rv, C);
    CHECK(err <= TOL, "%s rank %d: running_var rel err %.3g", name, me, err);
    float g[2 * C];
    memcpy(g, mine.dg, sizeof mine.dg);
    memcpy(g + C, mine.db, sizeof mine.db);
    comm_allreduce_sum_f32(cm, g, 2 * C);
    err = test_rel_err_ff(g, ref.dg, C);
    CHECK(err <= TOL, "%s rank %d: dgamma summed over ranks rel err %.3g", name, me, err);
    err = test_rel_err_ff(g + C, ref.db, C);
    CHECK(err <= TOL, "%s rank %d: dbeta summed over ranks rel err %.3g", name, me, err);
    /* running statistics bit-identical on every rank: rank 0's broadcast must equal mine */
    float rs[2 * C], rs0[2 * C];
    memcpy(rs, mine.rm, sizeof mine.rm);
    memcpy(rs + C, mine.rv, sizeof mine.rv);
    memcpy(rs0, rs, sizeof rs);
    comm_broadcast_f32(cm, rs0, 2 * C, 0);
    CHECK(memcmp(rs, rs0, sizeof rs) == 0, "%s rank %d: running statistics differ from rank 0's",
          name, me);
    /* control: rank-local statistics give something else */
    bn_run local = {batch[me], x + off, dy + off, y, dx, {0}, {0}, {0}, {0}, {0}, {0}};
    bn_run_exec(&ctx, &local, swish, NULL);
    err = test_rel_err_ff(y, y_ref + off, n_me);
    CHECK(err > 1e-3, "%s rank %d control: local BN should differ (rel err %.3g)", name, me, err);
    if (me == 0)
      printf("  %-9s %d ranks, batches", name, R);
    for (int r = 0; me == 0 && r < R; r++)
      printf(" %d", batch[r]);
    if (me == 0) printf(": y, dx, running stats, dgamma, dbeta agree with one process (%.0e)\n", TOL);
  }
  op_ctx_free(&ctx);
  int failed = comm_allreduce_max_int(cm, test_failures > 0);
  char name[64];
  snprintf(name, sizeof name, "test_syncbn_mpi rank %d", me);
  int rc = test_finish(name);
  free(batch), free(x), free(dy), free(y_ref), free(dx_ref), free(y), free(dx);
  comm_finalize(cm);
  return failed ? 1 : rc;
}
