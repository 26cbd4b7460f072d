/* Non-blocking all-reduce of gradient buckets interleaved with compute, the way backward uses it:
 * buckets of a gradient arena are started as soon as they are "produced" (last bucket first),
 * compute continues (with comm_progress between layers and a blocking sync-BN reduction in the
 * middle, while buckets are in flight), and the waits come later and out of order. Results are
 * exact (integer data), ranks are uneven in speed, and a zero-sized bucket is included. */
#define _POSIX_C_SOURCE 200809L
#include "comm/comm.h"
#include "tests/test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NB 6
static const int64_t bucket_len[NB] = {1, 1000, 4097, 0, 50021, 333};

/* "compute": a few ms of arithmetic, longer on odd ranks so the ranks are out of phase */
static double busy(int rank, int k) {
  double acc = 0;
  long iters = 200000L * (1 + (rank % 2) * 3 + k % 3);
  for (long i = 0; i < iters; i++)
    acc += 1.0 / (double)(i + 1);
  return acc;
}

int main(int argc, char **argv) {
  comm *c = NULL;
  nvae_err e;
  nvae_err_clear(&e);
  if (comm_init(&argc, &argv, &c, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    return e.code;
  }
  comm_set_timeout(c, 60); /* the watchdog runs alongside and must not fire */
  const int r = comm_rank(c), N = comm_size(c);
  int64_t off[NB + 1] = {0};
  for (int k = 0; k < NB; k++)
    off[k + 1] = off[k] + bucket_len[k];
  float *grads = malloc(sizeof *grads * (size_t)off[NB]);
  double sink = 0;

  for (int step = 0; step < 3; step++) {
    /* rank q's gradient element i is N*(q + (i+step)%17): its average is exact */
    comm_request *req[NB];
    for (int k = NB - 1; k >= 0; k--) { /* backward produces the last bucket first */
      for (int64_t i = off[k]; i < off[k + 1]; i++)
        grads[i] = (float)(N * (r + (i + step) % 17));
      int avg = (k % 2) == 0; /* half averaged, half summed */
      req[k] = comm_allreduce_f32_start(c, grads + off[k], bucket_len[k], avg);
      sink += busy(r, k);
      comm_progress(c);
      if (k == 2) { /* a sync-BN reduction while buckets are in flight */
        double bn[4] = {1, 2, 3, (double)r};
        comm_allreduce_sum_f64(c, bn, 4);
        CHECK(bn[0] == N && bn[3] == N * (N - 1) / 2, "bn sums %g %g", bn[0], bn[3]);
      }
    }
    /* wait out of order: evens first, then odds */
    for (int k = 0; k < NB; k += 2)
      comm_wait(c, req[k]);
    sink += busy(r, step);
    for (int k = 1; k < NB; k += 2)
      comm_wait(c, req[k]);
    int bad = 0;
    for (int k = 0; k < NB; k++)
      for (int64_t i = off[k]; i < off[k + 1]; i++) {
        float avg = (float)(N * (N - 1) / 2 + N * ((i + step) % 17));
        bad += grads[i] != ((k % 2) == 0 ? avg : avg * (float)N);
      }
    CHECK(bad == 0, "step %d: %d wrong gradient elements", step, bad);
  }
  /* 3 steps x (6 buckets + 1 sync-BN) */
  CHECK(comm_stats_collectives(c) == 3 * (NB + 1), "stats: %llu collectives",
        (unsigned long long)comm_stats_collectives(c));
  if (sink < 0) printf("%g\n", sink); /* keeps the compute */
  free(grads);
  comm_finalize(c);
  char name[64];
  snprintf(name, sizeof name, "test_comm_async[rank %d/%d]", r, N);
  return test_finish(name);
}
