/* Deterministic distributed sampler (docs/dataset-format.md, "Sampler").
 *
 * Epoch e visits the split in one global order: a permutation of [0, N) made by a Fisher-Yates
 * shuffle driven by Philox words keyed (seed, PHILOX_SHUFFLE, e) (or the identity when shuffling
 * is off). Global batch k is positions [k*G, (k+1)*G) of that order, G = W * B; rank r takes
 * positions [k*G + r*B, k*G + (r+1)*B). Training drops the last incomplete global batch; evaluation
 * pads it, wrapping around to the start of the order, with the padded entries marked invalid.
 *
 * The state is (epoch, position): position = the global position where the next global batch
 * starts. It does not depend on W or B, so a run resumed with another world size continues at the
 * same sample of the epoch; (e, end of epoch) and (e + 1, 0) mean the same thing. Prefix sampler_.
 */
#ifndef NVAE_DATASET_SAMPLER_H
#define NVAE_DATASET_SAMPLER_H

#include "kernels/base/error.h"

#include <stdint.h>

typedef struct sampler_state {
  uint64_t epoch;
  uint64_t position; /* global position in the epoch's order, 0 <= position <= N */
} sampler_state;

/* One entry of a rank's batch. */
typedef struct sampler_slot {
  int64_t index;      /* sample index in the split, 0 <= index < N */
  int64_t global_pos; /* position in the epoch's order: unique per epoch across all ranks; >= N
                         for padding */
  int valid;          /* 0 for evaluation padding: metrics must ignore it */
} sampler_slot;

typedef struct sampler {
  int64_t n;
  int rank, world, batch;
  uint64_t seed;
  int shuffle, drop_last;
  sampler_state st;
  int64_t *perm; /* [n] order of the epoch perm_epoch (NULL when shuffle is off) */
  uint64_t perm_epoch;
  int perm_ready;
} sampler;

/* Checks the arguments (1 <= world, 0 <= rank < world, batch >= 1, and with drop_last at least
 * one global batch: n >= world * batch); errors say what was expected. */
int sampler_init(sampler *s, int64_t n, int rank, int world, int batch, uint64_t seed, int shuffle,
                 int drop_last, nvae_err *e);
void sampler_free(sampler *s);
/* Global batches in a whole epoch: floor(N / G) with drop_last, ceil(N / G) without. */
int64_t sampler_batches_per_epoch(const sampler *s);
/* 1 when no batch is left in the current epoch at the current position. */
int sampler_epoch_done(const sampler *s);
/* Fills this rank's `batch` slots of the next global batch and advances the state. At the end of
 * an epoch it first moves to the next one. */
void sampler_next(sampler *s, sampler_slot *slots);
sampler_state sampler_get_state(const sampler *s);
/* Restores a saved state; position must be <= N. */
int sampler_set_state(sampler *s, sampler_state st, nvae_err *e);
/* The epoch's global order (what sampler_next walks): perm[n]. */
void sampler_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *perm);

#endif
