/* Gradient all-reduce in buckets that overlaps backward (DESIGN.md §3; PyTorch DDP's scheme with
 * contiguous buckets of the gradient arena instead of copies).
 *
 * The gradient arena [param_arena_numel] is cut into contiguous buckets of about bucket_bytes,
 * on parameter-tensor boundaries, counted from the END of the arena (the decoder's output side,
 * whose gradients are final first). The model reports each parameter tensor when its gradient is
 * final (model_hooks.grad_ready → grad_buckets_ready); a bucket whose tensors are all final starts
 * its non-blocking average at once, while backward goes on; grad_buckets_finish waits for all of
 * them. Every rank reports the tensors in the same order, so every rank starts the buckets in the
 * same order, which MPI's non-blocking collectives require. */
#ifndef NVAE_TRAINER_GRAD_BUCKETS_H
#define NVAE_TRAINER_GRAD_BUCKETS_H

#include "trainer/registry.h"
#include "trainer/train_comm.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct grad_bucket {
  int64_t begin, end; /* elements of the gradient arena, [begin, end) */
  int64_t need, have; /* parameter elements inside; reported so far this step */
  void *request;      /* in flight (train_comm.grads_start), or NULL */
  int started_at;     /* order in which it started this step (0 = first) */
} grad_bucket;

typedef struct grad_buckets {
  const train_comm *comm;
  float *grads; /* the gradient arena (host memory: the MPI transport) */
  grad_bucket *b;
  int n;         /* buckets, ascending by begin */
  int n_started; /* this step */
  int *order;    /* bucket indices in the order they started this step */
  /* Device gradients (CUDA backend): buckets go to train_comm.grads_dev on this stream, which
   * orders them after the backward work queued so far; nothing to wait for at the end. */
  int device;
  void *stream;
} grad_buckets;

/* Buckets of about bucket_bytes over the registry's parameter tensors (host gradients; set
 * device and stream afterwards for device gradients). */
void grad_buckets_init(grad_buckets *gb, const registry *r, float *grads, double bucket_bytes,
                       const train_comm *comm);
void grad_buckets_free(grad_buckets *gb);
/* Before backward: every bucket empty, none in flight. */
void grad_buckets_begin_step(grad_buckets *gb);
/* model_hooks.grad_ready (arg = grad_buckets *): counts the tensor into its bucket, starts the
 * bucket when complete, and lets the transport progress the ones in flight. */
void grad_buckets_ready(void *arg, int64_t offset, int64_t numel);
/* After backward: waits for every bucket (in start order); the arena then holds the average over
 * the ranks. A bucket that never completed is a programming error (reported, fatal). */
void grad_buckets_finish(grad_buckets *gb);

#ifdef __cplusplus
}
#endif

#endif
