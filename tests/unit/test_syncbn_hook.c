/* The sync-BN hook (kernels/cpu/batchnorm.h, bn_swish.h): three simulated ranks with UNEVEN
 * batches (2, 5 and 1 samples) whose per-channel sums are added between the two halves of each
 * pass must give what one BN over the concatenated batch of 8 gives: y, dx, the running
 * statistics on every rank, and dgamma / dbeta summed over the ranks (they are local gradients
 * that the trainer's gradient all-reduce combines). Tolerance: relative error 1e-5.
 *
 * Two ways of driving the ranks:
 *  - "halves": one thread calls the halves for each rank, sums the buffers itself, continues;
 *  - "hook": three threads call the *_train_cpu wrappers with a bn_sync whose allreduce_sum meets
 *    the other threads at a barrier, i.e. exactly the path the distributed trainer takes.
 * Plain BN and fused BN+Swish. A control checks that rank-local BN (no sync) does differ from
 * the concatenated reference, so that agreement means something.
 */
#define _POSIX_C_SOURCE 200809L

#include "kernels/cpu/batchnorm.h"
#include "kernels/cpu/bn_swish.h"
#include "tests/test_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RANKS 3
#define C 5
#define H 3
#define W 7
#define TOL 1e-5

static const int batch[RANKS] = {2, 5, 1};
#define NTOTAL 8

/* One rank's (or the reference's) tensors; x, dy, y, dx point into the concatenated buffers. */
typedef struct bn_state {
  int n;
  float *x, *dy, *y, *dx; /* [n, C, H, W] */
  float rm[C], rv[C], sm[C], si[C], dg[C], db[C];
} bn_state;

static float g_x[NTOTAL * C * H * W], g_dy[NTOTAL * C * H * W];
static float g_gamma[C], g_beta[C], g_rm0[C], g_rv0[C];

static void make_inputs(void) {
  test_fill_uniform(g_x, NTOTAL * C * H * W, 1.0f, 4.0f, 7, 1); /* offset: mean ≠ 0 */
  test_fill_uniform(g_dy, NTOTAL * C * H * W, -1.0f, 1.0f, 7, 2);
  test_fill_uniform(g_gamma, C, 0.5f, 1.5f, 7, 3);
  test_fill_uniform(g_beta, C, -0.5f, 0.5f, 7, 4);
  test_fill_uniform(g_rm0, C, -0.2f, 0.2f, 7, 5);
  test_fill_uniform(g_rv0, C, 0.8f, 1.2f, 7, 6);
}

/* Fresh state over samples [first, first + n) of the concatenated batch, writing y and dx into
 * y_all and dx_all at the same place (dx zeroed: backward accumulates). */
static void state_init(bn_state *s, int first, int n, float *y_all, float *dx_all) {
  memset(s, 0, sizeof *s);
  size_t off = (size_t)first * C * H * W;
  s->n = n;
  s->x = g_x + off;
  s->dy = g_dy + off;
  s->y = y_all + off;
  s->dx = dx_all + off;
  memset(s->dx, 0, (size_t)n * C * H * W * sizeof(float));
  memcpy(s->rm, g_rm0, sizeof s->rm);
  memcpy(s->rv, g_rv0, sizeof s->rv);
}

/* Tensor views of a state. */
typedef struct bn_views {
  tensor x, dy, y, dx, gamma, beta, rm, rv, sm, si, dg, db;
} bn_views;

static bn_views views(bn_state *s) {
  bn_views v;
  v.x = tensor_4d(s->x, s->n, C, H, W);
  v.dy = tensor_4d(s->dy, s->n, C, H, W);
  v.y = tensor_4d(s->y, s->n, C, H, W);
  v.dx = tensor_4d(s->dx, s->n, C, H, W);
  v.gamma = tensor_1d(g_gamma, C);
  v.beta = tensor_1d(g_beta, C);
  v.rm = tensor_1d(s->rm, C);
  v.rv = tensor_1d(s->rv, C);
  v.sm = tensor_1d(s->sm, C);
  v.si = tensor_1d(s->si, C);
  v.dg = tensor_1d(s->dg, C);
  v.db = tensor_1d(s->db, C);
  return v;
}

/* Forward + backward of one state through the wrappers (sync may be NULL). */
static void run_wrappers(op_ctx *ctx, bn_state *s, int swish, const bn_sync *sync) {
  batchnorm_params p = batchnorm_params_default();
  bn_views v = views(s);
  if (swish) {
    bn_swish_forward_train_cpu(ctx, &p, sync, &v.x, &v.gamma, &v.beta, &v.rm, &v.rv, &v.y, &v.sm,
                               &v.si);
    bn_swish_backward_train_cpu(ctx, sync, &v.x, &v.gamma, &v.beta, &v.sm, &v.si, &v.dy, &v.dx,
                                &v.dg, &v.db);
  } else {
    batchnorm_forward_train_cpu(ctx, &p, sync, &v.x, &v.gamma, &v.beta, &v.rm, &v.rv, &v.y, &v.sm,
                                &v.si);
    batchnorm_backward_train_cpu(ctx, sync, &v.x, &v.gamma, &v.sm, &v.si, &v.dy, &v.dx, &v.dg,
                                 &v.db);
  }
}

/* ---- the "halves" driver: one thread, buffers summed by hand ---- */

static void sum_ranks(double sums[RANKS][2 * C + 1], double *total) {
  for (int k = 0; k < 2 * C + 1; k++) {
    total[k] = 0;
    for (int r = 0; r < RANKS; r++)
      total[k] += sums[r][k];
  }
}

static void run_halves(op_ctx *ctx, bn_state *st, int swish) {
  batchnorm_params p = batchnorm_params_default();
  double sums[RANKS][2 * C + 1], total[2 * C + 1];
  bn_views v[RANKS];
  float *dz[RANKS];
  for (int r = 0; r < RANKS; r++) {
    v[r] = views(&st[r]);
    batchnorm_local_sums_cpu(ctx, &v[r].x, sums[r]);
  }
  sum_ranks(sums, total);
  CHECK(total[2 * C] == NTOTAL * H * W, "reduced count %g, expected %d", total[2 * C],
        NTOTAL * H * W);
  for (int r = 0; r < RANKS; r++)
    (swish ? bn_swish_normalize_cpu : batchnorm_normalize_cpu)(ctx, &p, total, &v[r].x, &v[r].gamma,
                                                               &v[r].beta, &v[r].rm, &v[r].rv,
                                                               &v[r].y, &v[r].sm, &v[r].si);
  /* backward: the fused op first turns dy into dz = dy·swish'(BN(x)), then BN's halves on dz */
  for (int r = 0; r < RANKS; r++) {
    tensor g = v[r].dy;
    dz[r] = NULL;
    if (swish) {
      dz[r] = malloc((size_t)st[r].n * C * H * W * sizeof(float));
      g = tensor_4d(dz[r], st[r].n, C, H, W);
      bn_swish_backward_dz_cpu(ctx, &v[r].x, &v[r].gamma, &v[r].beta, &v[r].sm, &v[r].si, &v[r].dy,
                               &g);
    }
    batchnorm_backward_sums_cpu(ctx, &v[r].x, &v[r].sm, &v[r].si, &g, sums[r], &v[r].dg, &v[r].db);
  }
  sum_ranks(sums, total);
  for (int r = 0; r < RANKS; r++) {
    tensor g = swish ? tensor_4d(dz[r], st[r].n, C, H, W) : v[r].dy;
    batchnorm_backward_input_cpu(ctx, total, &v[r].x, &v[r].gamma, &v[r].sm, &v[r].si, &g,
                                 &v[r].dx);
    free(dz[r]);
  }
}

/* ---- the "hook" driver: one thread per rank, all-reduce at a barrier ---- */

typedef struct fake_world {
  pthread_barrier_t barrier;
  double *bufs[RANKS];
  double result[2 * C + 1];
  int calls[RANKS];
  int lengths_ok;
} fake_world;

typedef struct fake_rank {
  fake_world *world;
  int rank;
  bn_state *state;
  int swish;
} fake_rank;

/* In-place sum over the ranks, in rank order (deterministic). Two barriers: after the first every
 * buffer is posted; after the second everyone has the result, and the next call's first barrier
 * keeps rank 0 from overwriting it before everyone has copied it. */
static void fake_allreduce(void *arg, double *buf, int n) {
  fake_rank *me = arg;
  fake_world *w = me->world;
  if (n != 2 * C + 1) w->lengths_ok = 0;
  me->world->calls[me->rank]++;
  w->bufs[me->rank] = buf;
  pthread_barrier_wait(&w->barrier);
  if (me->rank == 0)
    for (int k = 0; k < n; k++) {
      w->result[k] = 0;
      for (int r = 0; r < RANKS; r++)
        w->result[k] += w->bufs[r][k];
    }
  pthread_barrier_wait(&w->barrier);
  memcpy(buf, w->result, (size_t)n * sizeof(double));
  pthread_barrier_wait(&w->barrier);
}

static void *rank_main(void *arg) {
  fake_rank *me = arg;
  op_ctx ctx = op_ctx_cpu(); /* one context per thread */
  bn_sync sync = {fake_allreduce, me, NULL};
  run_wrappers(&ctx, me->state, me->swish, &sync);
  op_ctx_free(&ctx);
  return NULL;
}

static void run_hook(bn_state *st, int swish) {
  fake_world w;
  memset(&w, 0, sizeof w);
  w.lengths_ok = 1;
  pthread_barrier_init(&w.barrier, NULL, RANKS);
  fake_rank ranks[RANKS];
  pthread_t th[RANKS];
  for (int r = 0; r < RANKS; r++) {
    ranks[r] = (fake_rank){&w, r, &st[r], swish};
    pthread_create(&th[r], NULL, rank_main, &ranks[r]);
  }
  for (int r = 0; r < RANKS; r++)
    pthread_join(th[r], NULL);
  pthread_barrier_destroy(&w.barrier);
  for (int r = 0; r < RANKS; r++)
    CHECK(w.calls[r] == 2, "rank %d: the hook was called %d times, expected 2 (forward, backward)",
          r, w.calls[r]);
  CHECK(w.lengths_ok, "the hook was called with a length other than 2C+1");
}

/* ---- comparison ---- */

static void compare(const char *what, bn_state *st, const bn_state *ref, const float *y_all,
                    const float *dx_all, const float *y_ref, const float *dx_ref) {
  int64_t n = (int64_t)NTOTAL * C * H * W;
  double e;
  e = test_rel_err_ff(y_all, y_ref, n);
  CHECK(e <= TOL, "%s: y rel err %.3g", what, e);
  e = test_rel_err_ff(dx_all, dx_ref, n);
  CHECK(e <= TOL, "%s: dx rel err %.3g", what, e);
  float dg[C] = {0}, db[C] = {0};
  for (int r = 0; r < RANKS; r++) {
    e = test_rel_err_ff(st[r].rm, ref->rm, C);
    CHECK(e <= TOL, "%s: rank %d running_mean rel err %.3g", what, r, e);
    e = test_rel_err_ff(st[r].rv, ref->rv, C);
    CHECK(e <= TOL, "%s: rank %d running_var rel err %.3g", what, r, e);
    for (int c = 0; c < C; c++) {
      dg[c] += st[r].dg[c];
      db[c] += st[r].db[c];
    }
  }
  e = test_rel_err_ff(dg, ref->dg, C);
  CHECK(e <= TOL, "%s: dgamma summed over ranks rel err %.3g", what, e);
  e = test_rel_err_ff(db, ref->db, C);
  CHECK(e <= TOL, "%s: dbeta summed over ranks rel err %.3g", what, e);
  printf("  %-22s y, dx, running stats, dgamma, dbeta agree (bound %.0e)\n", what, TOL);
}

int main(void) {
  static float y_ref[NTOTAL * C * H * W], dx_ref[NTOTAL * C * H * W];
  static float y_all[NTOTAL * C * H * W], dx_all[NTOTAL * C * H * W];
  op_ctx ctx = op_ctx_cpu();
  make_inputs();
  for (int swish = 0; swish <= 1; swish++) {
    const char *name = swish ? "bn_swish" : "batchnorm";
    char what[64];
    /* reference: one process, the concatenated batch of 8 */
    bn_state ref;
    state_init(&ref, 0, NTOTAL, y_ref, dx_ref);
    run_wrappers(&ctx, &ref, swish, NULL);

    bn_state st[RANKS];
    for (int mode = 0; mode < 2; mode++) {
      for (int r = 0, first = 0; r < RANKS; first += batch[r], r++)
        state_init(&st[r], first, batch[r], y_all, dx_all);
      if (mode == 0)
        run_halves(&ctx, st, swish);
      else
        run_hook(st, swish);
      snprintf(what, sizeof what, "%s %s", name, mode == 0 ? "halves" : "hook");
      compare(what, st, &ref, y_all, dx_all, y_ref, dx_ref);
    }

    /* control: without the reduction every rank normalises with its own statistics */
    for (int r = 0, first = 0; r < RANKS; first += batch[r], r++) {
      state_init(&st[r], first, batch[r], y_all, dx_all);
      run_wrappers(&ctx, &st[r], swish, NULL);
    }
    double e = test_rel_err_ff(y_all, y_ref, (int64_t)NTOTAL * C * H * W);
    CHECK(e > 1e-3, "%s control: rank-local BN should differ from the global one (rel err %.3g)",
          name, e);
  }
  op_ctx_free(&ctx);
  return test_finish("test_syncbn_hook");
}
