/* What the trainer needs from the other ranks, without including MPI: rank, world size, an
 * in-place sum of doubles across ranks, the gradient average, the parameter broadcast and the job
 * abort. tools/nvae-train.c fills it from comm/ (comm.h); with allreduce_sum == NULL the process
 * is alone (world size 1) and every reduction is the identity. Code paths never assume world
 * size 1: they call the hooks, which are no-ops at world size 1. */
#ifndef NVAE_TRAINER_TRAIN_COMM_H
#define NVAE_TRAINER_TRAIN_COMM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct train_comm {
  int rank, world;
  void (*allreduce_sum)(void *arg, double *buf, int n);
  /* A range of the gradient arena averaged over ranks, in place and blocking. */
  void (*allreduce_grads)(void *arg, float *grads, long long n);
  /* The same without blocking (grad_buckets.c): start returns a handle that wait completes (the
   * range must not be touched in between); progress lets the transport move transfers on while
   * backward runs (MPI progresses only inside calls). NULL start: blocking only. */
  void *(*grads_start)(void *arg, float *grads, long long n);
  void (*grads_wait)(void *arg, void *request);
  void (*progress)(void *arg);
  /* The device version (CUDA backend), in place on device memory, ordered after the work queued
   * so far on `stream` (a cudaStream_t): NCCL runs it on the comm stream with event hand-off, so
   * the call returns at once and later work on `stream` waits for it; the MPI transport stages it
   * through host memory and returns when done (comm.h, comm_allreduce_avg_f32_dev). */
  void (*grads_dev)(void *arg, float *dgrads, long long n, void *stream);
  /* An in-place sum of doubles in device memory, ordered on `stream` like grads_dev (sync-BN,
   * global KL balancing, the non-finite count). NULL: device buffers are host memory (CPU) and
   * allreduce_sum serves. */
  void (*allreduce_sum_dev)(void *arg, double *dbuf, int n, void *stream);
  /* Counters since start-up: seconds spent blocked in collectives and waits, collectives issued,
   * payload bytes. NULL: zeros. */
  void (*stats)(void *arg, double *seconds, double *collectives, double *bytes);
  /* Rank 0's values to every rank, in place (initial parameters, buffers, SR vectors). */
  void (*broadcast_f32)(void *arg, float *buf, long long n);
  /* A fatal error on this rank only: print "[rank r/N host] msg" and end the whole job with
   * `code`. Never returns. NULL: the trainer returns the error instead (world size 1). */
  void (*abort)(void *arg, int code, const char *msg);
  void *arg;
} train_comm;

static inline void train_comm_sum(const train_comm *c, double *buf, int n) {
  if (c && c->allreduce_sum && c->world > 1) c->allreduce_sum(c->arg, buf, n);
}

static inline void train_comm_grads(const train_comm *c, float *grads, long long n) {
  if (c && c->allreduce_grads && c->world > 1) c->allreduce_grads(c->arg, grads, n);
}

static inline void train_comm_stats(const train_comm *c, double out[3]) {
  out[0] = out[1] = out[2] = 0;
  if (c && c->stats) c->stats(c->arg, &out[0], &out[1], &out[2]);
}

static inline void train_comm_bcast(const train_comm *c, float *buf, long long n) {
  if (c && c->broadcast_f32 && c->world > 1) c->broadcast_f32(c->arg, buf, n);
}

#ifdef __cplusplus
}
#endif

#endif
