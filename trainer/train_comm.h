/* What the trainer needs from the other ranks, as a placeholder until comm/ is wired in: rank,
 * world size, and an in-place sum of doubles across ranks (gradient buckets will get their own
 * typed all-reduce). With allreduce_sum == NULL the process is alone (world size 1) and every
 * reduction is the identity. Code paths never assume world size 1: they call the hook. */
#ifndef NVAE_TRAINER_TRAIN_COMM_H
#define NVAE_TRAINER_TRAIN_COMM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct train_comm {
  int rank, world;
  void (*allreduce_sum)(void *arg, double *buf, int n);
  /* Future: average the gradient arena over ranks (bucketed, overlapped with backward). */
  void (*allreduce_grads)(void *arg, float *grads, long long n);
  void *arg;
} train_comm;

static inline void train_comm_sum(const train_comm *c, double *buf, int n) {
  if (c && c->allreduce_sum && c->world > 1) c->allreduce_sum(c->arg, buf, n);
}

static inline void train_comm_grads(const train_comm *c, float *grads, long long n) {
  if (c && c->allreduce_grads && c->world > 1) c->allreduce_grads(c->arg, grads, n);
}

#ifdef __cplusplus
}
#endif

#endif
