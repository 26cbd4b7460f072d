/* NVAE_CKPT_TRACE (test hook, ckpt_hooks.h): the sample order. Before each step every rank appends
 * "step epoch position i0 i1 ... i(B-1)" to PREFIX.rRRRRR: the indices of the batch its loader
 * delivers next, from the sampler's state and the epoch's permutation (dataset/sampler.h). A test
 * compares these files between a straight run and a stopped-and-resumed one. Prefix
 * ckpt_trace_. */
#ifndef NVAE_TRAINER_CKPT_TRACE_H
#define NVAE_TRAINER_CKPT_TRACE_H

#include "dataset/sampler.h"

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ckpt_trace {
  FILE *f; /* NULL: tracing off */
  int64_t n;
  int rank, world, batch;
  uint64_t seed;
  int64_t *perm;
  int64_t perm_epoch;
} ckpt_trace;

/* Opens PREFIX.rRRRRR for appending when NVAE_CKPT_TRACE is set. */
void ckpt_trace_open(ckpt_trace *t, int64_t n, int rank, int world, int batch, uint64_t seed);
/* The batch the loader at state `st` delivers next (training sampler: shuffle, drop_last). */
void ckpt_trace_step(ckpt_trace *t, int64_t step, sampler_state st);
void ckpt_trace_close(ckpt_trace *t);

/* (e, p) where no global batch of g fits any more in n is (e + 1, 0): the same point. */
sampler_state ckpt_trace_normalize(sampler_state st, int64_t n, int64_t g);

#ifdef __cplusplus
}
#endif

#endif
