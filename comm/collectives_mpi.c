/* Typed collectives over MPI on host buffers. Counts are in elements; MPI takes int counts, so
 * buffers of 2^31 elements or more go in chunks (one sequence number for the whole call). Every
 * call registers with the watchdog (comm_op_begin/end) so a stuck one is named. */
#include "comm/comm_internal.h"

#include <limits.h>
#include <stdlib.h>

#define COMM_CHUNK ((int64_t)1 << 30) /* elements per MPI call */

static void comm_allreduce(comm *c, const char *name, void *buf, int64_t count, MPI_Datatype t,
                           size_t esize, MPI_Op op) {
  NVAE_ASSERT(count >= 0, "%s: negative count %lld", name, (long long)count);
  int slot = comm_op_begin(c, name, count * (int64_t)esize, NULL);
  int64_t done = 0;
  do { /* at least one call, so a zero count still synchronises like the collective would */
    int64_t n = count - done < COMM_CHUNK ? count - done : COMM_CHUNK;
    COMM_MPI_CHECK(c, MPI_Allreduce(MPI_IN_PLACE, (char *)buf + done * (int64_t)esize, (int)n, t,
                                    op, MPI_COMM_WORLD));
    done += n;
  } while (done < count);
  comm_op_end(c, slot, 1);
}

void comm_allreduce_sum_f32(comm *c, float *buf, int64_t count) {
  comm_allreduce(c, "allreduce_sum_f32", buf, count, MPI_FLOAT, sizeof *buf, MPI_SUM);
}

void comm_allreduce_sum_f64(comm *c, double *buf, int64_t count) {
  comm_allreduce(c, "allreduce_sum_f64", buf, count, MPI_DOUBLE, sizeof *buf, MPI_SUM);
}

/* Division (not multiplication by 1/N) keeps sums of integers that N divides exact. */
void comm_allreduce_avg_f32(comm *c, float *buf, int64_t count) {
  comm_allreduce(c, "allreduce_avg_f32", buf, count, MPI_FLOAT, sizeof *buf, MPI_SUM);
  const float n = (float)c->size;
  for (int64_t i = 0; i < count; i++)
    buf[i] /= n;
}

void comm_allreduce_avg_f64(comm *c, double *buf, int64_t count) {
  comm_allreduce(c, "allreduce_avg_f64", buf, count, MPI_DOUBLE, sizeof *buf, MPI_SUM);
  const double n = (double)c->size;
  for (int64_t i = 0; i < count; i++)
    buf[i] /= n;
}

int comm_allreduce_max_int(comm *c, int value) {
  comm_allreduce(c, "allreduce_max_int", &value, 1, MPI_INT, sizeof value, MPI_MAX);
  return value;
}

int comm_allreduce_sum_int(comm *c, int value) {
  comm_allreduce(c, "allreduce_sum_int", &value, 1, MPI_INT, sizeof value, MPI_SUM);
  return value;
}

static void comm_broadcast(comm *c, const char *name, void *buf, int64_t count, MPI_Datatype t,
                           size_t esize, int root) {
  NVAE_ASSERT(count >= 0 && root >= 0 && root < c->size, "%s: count %lld root %d of %d", name,
              (long long)count, root, c->size);
  int slot = comm_op_begin(c, name, count * (int64_t)esize, NULL);
  int64_t done = 0;
  do {
    int64_t n = count - done < COMM_CHUNK ? count - done : COMM_CHUNK;
    COMM_MPI_CHECK(c,
                   MPI_Bcast((char *)buf + done * (int64_t)esize, (int)n, t, root, MPI_COMM_WORLD));
    done += n;
  } while (done < count);
  comm_op_end(c, slot, 1);
}

void comm_broadcast_f32(comm *c, float *buf, int64_t count, int root) {
  comm_broadcast(c, "broadcast_f32", buf, count, MPI_FLOAT, sizeof *buf, root);
}

void comm_broadcast_f64(comm *c, double *buf, int64_t count, int root) {
  comm_broadcast(c, "broadcast_f64", buf, count, MPI_DOUBLE, sizeof *buf, root);
}

void comm_broadcast_bytes(comm *c, void *buf, int64_t nbytes, int root) {
  comm_broadcast(c, "broadcast_bytes", buf, nbytes, MPI_BYTE, 1, root);
}

void comm_barrier(comm *c) {
  int slot = comm_op_begin(c, "barrier", 0, NULL);
  COMM_MPI_CHECK(c, MPI_Barrier(MPI_COMM_WORLD));
  comm_op_end(c, slot, 1);
}

/* ---- non-blocking, for gradient buckets ---- */

comm_request *comm_allreduce_f32_start(comm *c, float *buf, int64_t count, int avg) {
  NVAE_ASSERT(count >= 0 && count <= INT_MAX, "allreduce start: count %lld out of [0, 2^31)",
              (long long)count);
  comm_request *r = nvae_calloc(1, sizeof *r);
  r->buf = buf;
  r->count = count;
  r->avg = avg;
  r->slot = comm_op_begin(c, avg ? "iallreduce_avg_f32" : "iallreduce_sum_f32",
                          count * (int64_t)sizeof(float), NULL);
  COMM_MPI_CHECK(c, MPI_Iallreduce(MPI_IN_PLACE, buf, (int)count, MPI_FLOAT, MPI_SUM,
                                   MPI_COMM_WORLD, &r->req));
  c->inflight[r->slot] = r;
  return r;
}

void comm_wait(comm *c, comm_request *r) {
  /* timed from the wait, not the start: the statistics report time the caller was blocked */
  double t0 = comm_now();
  COMM_MPI_CHECK(c, MPI_Wait(&r->req, MPI_STATUS_IGNORE));
  c->inflight[r->slot] = NULL;
  comm_op_end(c, r->slot, 0);
  pthread_mutex_lock(&c->mu);
  c->seconds += comm_now() - t0;
  pthread_mutex_unlock(&c->mu);
  if (r->avg) {
    const float n = (float)c->size;
    for (int64_t i = 0; i < r->count; i++)
      r->buf[i] /= n;
  }
  free(r);
}

void comm_progress(comm *c) {
  for (int i = 0; i < COMM_MAX_INFLIGHT; i++) {
    comm_request *r = c->inflight[i];
    if (!r || r->req == MPI_REQUEST_NULL) continue;
    int flag = 0; /* a completed request becomes MPI_REQUEST_NULL; comm_wait then returns at once */
    COMM_MPI_CHECK(c, MPI_Test(&r->req, &flag, MPI_STATUS_IGNORE));
  }
}

/* ---- hooks for code that only knows a function pointer (bn_sync, train_comm) ---- */

void comm_allreduce_sum_f64_hook(void *arg, double *buf, int n) {
  comm_allreduce_sum_f64((comm *)arg, buf, n);
}

void comm_allreduce_avg_f32_hook(void *arg, float *buf, long long n) {
  comm_allreduce_avg_f32((comm *)arg, buf, (int64_t)n);
}
