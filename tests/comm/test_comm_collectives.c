/* comm/ collectives over MPI at any world size (ctest runs it alone = MPI singleton, and under
 * mpirun with 2, 3 and 4 ranks): exact results on integer-valued data, counts that no rank count
 * divides, zero counts, every root of a broadcast, the max/sum of ints, the barrier, identical
 * bits on every rank for random data, the bn_sync hook, and the statistics. */
#define _POSIX_C_SOURCE 200809L
#include "comm/comm.h"
#include "tests/test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const int64_t counts[] = {0, 1, 7, 1009, 65537};
#define NCOUNTS ((int)(sizeof counts / sizeof counts[0]))

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t fnv1a(const void *p, size_t n) {
  const unsigned char *b = p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

int main(int argc, char **argv) {
  comm *c = NULL;
  nvae_err e;
  nvae_err_clear(&e);
  if (comm_init(&argc, &argv, &c, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    return e.code;
  }
  const int r = comm_rank(c), N = comm_size(c);
  char desc[512];
  comm_describe(c, desc, sizeof desc);
  printf("%s\n", desc);
  CHECK(r >= 0 && r < N, "rank %d of %d", r, N);
  CHECK(comm_local_size(c) >= 1 && comm_local_rank(c) < comm_local_size(c), "local %d/%d",
        comm_local_rank(c), comm_local_size(c));
  /* one node here: the local rank is the world rank */
  CHECK(comm_local_rank(c) == r && comm_local_size(c) == N, "local %d/%d vs %d/%d",
        comm_local_rank(c), comm_local_size(c), r, N);
  uint64_t ops = 0, bytes = 0; /* what the statistics must say */

  float *f = malloc(sizeof *f * 65537);
  double *d = malloc(sizeof *d * 65537);
  for (int k = 0; k < NCOUNTS; k++) {
    const int64_t n = counts[k];
    /* sum: rank q holds (q+1)*(i%97) + q, so the sum is (i%97)*N(N+1)/2 + N(N-1)/2 */
    for (int64_t i = 0; i < n; i++)
      f[i] = (float)((r + 1) * (i % 97) + r);
    for (int64_t i = 0; i < n; i++)
      d[i] = (double)((r + 1) * (i % 89) + r) + 0.5;
    comm_allreduce_sum_f32(c, f, n);
    comm_allreduce_sum_f64(c, d, n);
    ops += 2, bytes += (uint64_t)n * 12;
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
      bad += f[i] != (float)((i % 97) * N * (N + 1) / 2 + N * (N - 1) / 2);
      bad += d[i] != (double)((i % 89) * N * (N + 1) / 2 + N * (N - 1) / 2) + 0.5 * N;
    }
    CHECK(bad == 0, "sum, count %lld: %d wrong elements", (long long)n, bad);

    /* avg: rank q holds N*(q + i%13), so the average N(N-1)/2 + N*(i%13) is exact */
    for (int64_t i = 0; i < n; i++)
      f[i] = (float)(N * (r + i % 13));
    for (int64_t i = 0; i < n; i++)
      d[i] = (double)(N * (r + i % 11));
    comm_allreduce_avg_f32(c, f, n);
    comm_allreduce_avg_f64(c, d, n);
    ops += 2, bytes += (uint64_t)n * 12;
    bad = 0;
    for (int64_t i = 0; i < n; i++) {
      bad += f[i] != (float)(N * (N - 1) / 2 + N * (i % 13));
      bad += d[i] != (double)(N * (N - 1) / 2 + N * (i % 11));
    }
    CHECK(bad == 0, "avg, count %lld: %d wrong elements", (long long)n, bad);

    /* broadcast from every root */
    for (int root = 0; root < N; root++) {
      for (int64_t i = 0; i < n; i++)
        f[i] = r == root ? (float)(3 * i + root) : -1.0f;
      for (int64_t i = 0; i < n; i++)
        d[i] = r == root ? (double)(5 * i + root) + 0.25 : -1.0;
      comm_broadcast_f32(c, f, n, root);
      comm_broadcast_f64(c, d, n, root);
      ops += 2, bytes += (uint64_t)n * 12;
      bad = 0;
      for (int64_t i = 0; i < n; i++)
        bad += (f[i] != (float)(3 * i + root)) + (d[i] != (double)(5 * i + root) + 0.25);
      CHECK(bad == 0, "broadcast root %d, count %lld: %d wrong elements", root, (long long)n, bad);
    }
  }

  /* ints: the stop/skip flag pattern (one rank says 1) and a plain max/sum */
  CHECK(comm_allreduce_max_int(c, r == N - 1) == 1, "max flag");
  CHECK(comm_allreduce_max_int(c, 0) == 0, "max of zeros");
  CHECK(comm_allreduce_max_int(c, 7 * r - 3) == 7 * (N - 1) - 3, "max int");
  CHECK(comm_allreduce_sum_int(c, r + 1) == N * (N + 1) / 2, "sum int");
  ops += 4, bytes += 16;

  /* the bn_sync hook sums doubles */
  double s3[3] = {1.0, (double)r, -2.0};
  comm_allreduce_sum_f64_hook(c, s3, 3);
  CHECK(s3[0] == N && s3[1] == N * (N - 1) / 2 && s3[2] == -2.0 * N, "hook %g %g %g", s3[0], s3[1],
        s3[2]);
  ops += 1, bytes += 24;

  /* random data: every rank must end with the same bits (replicas stay identical) */
  srand(1234u + (unsigned)r);
  for (int i = 0; i < 65537; i++)
    f[i] = (float)rand() / (float)RAND_MAX - 0.5f;
  comm_allreduce_avg_f32(c, f, 65537);
  uint64_t h = fnv1a(f, sizeof *f * 65537), h0 = h;
  comm_broadcast_bytes(c, &h0, sizeof h0, 0);
  CHECK(comm_allreduce_max_int(c, h != h0) == 0, "ranks disagree on the bits of an average");
  ops += 3, bytes += 65537 * 4 + 8 + 4;

  /* barrier: rank 0 arrives 0.3 s late, so everyone leaves at least ~0.3 s after entering */
  double t0 = now_s();
  if (r == 0) sleep_s(0.3);
  comm_barrier(c);
  double waited = now_s() - t0;
  if (N > 1) CHECK(waited > 0.25, "rank %d left the barrier after %.3f s", r, waited);
  ops += 1;

  CHECK(comm_stats_collectives(c) == ops, "stats: %llu collectives, expected %llu",
        (unsigned long long)comm_stats_collectives(c), (unsigned long long)ops);
  CHECK(comm_stats_bytes(c) == bytes, "stats: %llu bytes, expected %llu",
        (unsigned long long)comm_stats_bytes(c), (unsigned long long)bytes);
  CHECK(comm_stats_seconds(c) >= 0, "stats seconds");

  free(f);
  free(d);
  comm_finalize(c);
  char name[64];
  snprintf(name, sizeof name, "test_comm_collectives[rank %d/%d]", r, N);
  return test_finish(name);
}
