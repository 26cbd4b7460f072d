/* Deterministic distributed sampler: see sampler.h. */
#include "dataset/sampler.h"

#include "kernels/philox.h"

#include <stdlib.h>
#include <string.h>

/* Uniform integer in [0, range) for the swap at position i: Lemire's multiply-and-reject on the
 * Philox words of counter (i, block), so the draw is exactly uniform and depends only on
 * (seed, epoch, i). */
static uint32_t uniform_below(uint64_t seed, uint32_t epoch, uint32_t i, uint32_t range) {
  uint32_t threshold = (uint32_t)(-range) % range;
  for (uint32_t block = 0;; block++) {
    philox4x32 r = philox_block(seed, PHILOX_SHUFFLE, epoch, i, block);
    for (int lane = 0; lane < 4; lane++) {
      uint64_t m = (uint64_t)r.v[lane] * range;
      if ((uint32_t)m >= threshold) return (uint32_t)(m >> 32);
    }
  }
}

void sampler_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *perm) {
  for (int64_t i = 0; i < n; i++)
    perm[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = uniform_below(seed, (uint32_t)epoch, (uint32_t)i, (uint32_t)(i + 1));
    int64_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}

int sampler_init(sampler *s, int64_t n, int rank, int world, int batch, uint64_t seed, int shuffle,
                 int drop_last, nvae_err *e) {
  memset(s, 0, sizeof *s);
  if (world < 1 || rank < 0 || rank >= world)
    return nvae_errf(e, NVAE_EXIT_USAGE, "sampler: rank %d of world size %d is out of range", rank,
                     world);
  if (batch < 1)
    return nvae_errf(e, NVAE_EXIT_USAGE, "sampler: batch size %d, expected >= 1", batch);
  if (n < 1 || n > 0x7fffffff)
    return nvae_errf(e, NVAE_EXIT_USAGE, "sampler: %lld samples, expected 1 .. 2^31-1",
                     (long long)n);
  int64_t global = (int64_t)world * batch;
  if (drop_last && n < global)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%lld images, fewer than one global batch of %lld (%d ranks x batch %d)",
                     (long long)n, (long long)global, world, batch);
  s->n = n;
  s->rank = rank;
  s->world = world;
  s->batch = batch;
  s->seed = seed;
  s->shuffle = shuffle;
  s->drop_last = drop_last;
  if (shuffle) s->perm = nvae_malloc(sizeof(int64_t) * (size_t)n);
  return 0;
}

void sampler_free(sampler *s) {
  free(s->perm);
  s->perm = NULL;
}

int64_t sampler_batches_per_epoch(const sampler *s) {
  int64_t g = (int64_t)s->world * s->batch;
  return s->drop_last ? s->n / g : (s->n + g - 1) / g;
}

int sampler_epoch_done(const sampler *s) {
  int64_t g = (int64_t)s->world * s->batch;
  if (s->drop_last) return (int64_t)s->st.position + g > s->n;
  return (int64_t)s->st.position >= s->n;
}

static int64_t order_at(sampler *s, int64_t pos) {
  if (!s->shuffle) return pos;
  if (!s->perm_ready || s->perm_epoch != s->st.epoch) {
    sampler_permutation(s->seed, s->st.epoch, s->n, s->perm);
    s->perm_epoch = s->st.epoch;
    s->perm_ready = 1;
  }
  return s->perm[pos];
}

void sampler_next(sampler *s, sampler_slot *slots) {
  if (sampler_epoch_done(s)) {
    s->st.epoch++;
    s->st.position = 0;
  }
  int64_t g = (int64_t)s->world * s->batch;
  int64_t start = (int64_t)s->st.position + (int64_t)s->rank * s->batch;
  for (int j = 0; j < s->batch; j++) {
    int64_t pos = start + j;
    slots[j].global_pos = pos;
    slots[j].valid = pos < s->n;
    /* Padding repeats the start of the epoch's order, like PyTorch's DistributedSampler, so a
     * padded entry is still a real image; `valid` tells metrics to drop it. */
    slots[j].index = order_at(s, pos % s->n);
  }
  int64_t next = (int64_t)s->st.position + g;
  s->st.position = (uint64_t)(next > s->n ? s->n : next);
}

sampler_state sampler_get_state(const sampler *s) { return s->st; }

int sampler_set_state(sampler *s, sampler_state st, nvae_err *e) {
  if (st.position > (uint64_t)s->n)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "sampler state: position %llu is beyond the split's %lld samples",
                     (unsigned long long)st.position, (long long)s->n);
  s->st = st;
  return 0;
}
