/* Gradient buckets (grad_buckets.h). */
#include "trainer/grad_buckets.h"

#include <stdlib.h>

void grad_buckets_init(grad_buckets *gb, const registry *r, float *grads, double bucket_bytes,
                       const train_comm *comm) {
  *gb = (grad_buckets){0};
  gb->comm = comm;
  gb->grads = grads;
  /* parameter tensors by descending offset (state_dict order ascends, but do not rely on it) */
  int np = 0;
  for (int t = 0; t < r->n_tensors; t++)
    np += r->tensors[t].kind == REG_PARAM;
  int64_t *off = nvae_malloc(sizeof(int64_t) * (size_t)(np > 0 ? np : 1));
  int64_t *len = nvae_malloc(sizeof(int64_t) * (size_t)(np > 0 ? np : 1));
  int k = 0;
  for (int t = 0; t < r->n_tensors; t++)
    if (r->tensors[t].kind == REG_PARAM) {
      off[k] = r->tensors[t].offset;
      len[k++] = r->tensors[t].numel;
    }
  for (int i = 1; i < np; i++) /* insertion sort, descending; np is a few thousand at most */
    for (int j = i; j > 0 && off[j] > off[j - 1]; j--) {
      int64_t o = off[j], l = len[j];
      off[j] = off[j - 1], len[j] = len[j - 1];
      off[j - 1] = o, len[j - 1] = l;
    }
  const int64_t cap = bucket_bytes / sizeof(float) > 1 ? (int64_t)(bucket_bytes / sizeof(float)) : 1;
  gb->b = nvae_calloc((size_t)(np > 0 ? np : 1), sizeof(grad_bucket));
  int64_t end = r->param_arena_numel, need = 0;
  for (int i = 0; i < np; i++) {
    need += len[i];
    if (end - off[i] >= cap || i == np - 1) { /* close the bucket at this tensor */
      int64_t begin = i == np - 1 ? 0 : off[i];
      gb->b[gb->n++] = (grad_bucket){begin, end, need, 0, NULL, -1};
      end = begin;
      need = 0;
    }
  }
  /* ascending by begin, for the binary search in grad_buckets_ready */
  for (int i = 0, j = gb->n - 1; i < j; i++, j--) {
    grad_bucket t = gb->b[i];
    gb->b[i] = gb->b[j];
    gb->b[j] = t;
  }
  gb->order = nvae_malloc(sizeof(int) * (size_t)(gb->n > 0 ? gb->n : 1));
  free(off);
  free(len);
}

void grad_buckets_free(grad_buckets *gb) {
  free(gb->b);
  free(gb->order);
  *gb = (grad_buckets){0};
}

void grad_buckets_begin_step(grad_buckets *gb) {
  for (int i = 0; i < gb->n; i++) {
    NVAE_ASSERT(!gb->b[i].request, "gradient bucket %d still in flight at a new step", i);
    gb->b[i].have = 0;
    gb->b[i].started_at = -1;
  }
  gb->n_started = 0;
}

static int bucket_of(const grad_buckets *gb, int64_t offset) {
  int lo = 0, hi = gb->n - 1;
  while (lo < hi) { /* the last bucket with begin <= offset */
    int mid = (lo + hi + 1) / 2;
    if (gb->b[mid].begin <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

void grad_buckets_ready(void *arg, int64_t offset, int64_t numel) {
  grad_buckets *gb = arg;
  const train_comm *c = gb->comm;
  int i = bucket_of(gb, offset);
  grad_bucket *b = &gb->b[i];
  NVAE_ASSERT(offset >= b->begin && offset + numel <= b->end,
              "tensor [%lld, +%lld) crosses gradient bucket %d [%lld, %lld)", (long long)offset,
              (long long)numel, i, (long long)b->begin, (long long)b->end);
  b->have += numel;
  NVAE_ASSERT(b->have <= b->need, "gradient bucket %d: %lld of %lld elements reported", i,
              (long long)b->have, (long long)b->need);
  if (b->have == b->need) {
    if (gb->device)
      c->grads_dev(c->arg, gb->grads + b->begin, (long long)(b->end - b->begin), gb->stream);
    else
      b->request = c->grads_start(c->arg, gb->grads + b->begin, (long long)(b->end - b->begin));
    b->started_at = gb->n_started;
    gb->order[gb->n_started++] = i;
  }
  if (c->progress && !gb->device) c->progress(c->arg);
}

void grad_buckets_finish(grad_buckets *gb) {
  NVAE_ASSERT(gb->n_started == gb->n, "%d of %d gradient buckets complete after backward",
              gb->n_started, gb->n);
  for (int k = 0; k < gb->n_started; k++) {
    grad_bucket *b = &gb->b[gb->order[k]];
    if (b->request) gb->comm->grads_wait(gb->comm->arg, b->request);
    b->request = NULL;
  }
}
