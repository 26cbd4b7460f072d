/* One rank's view of what a checkpoint holds (DESIGN.md §5), in host memory, by reference: the
 * checkpoint writer (ckpt_write.h) saves it and the reader (ckpt_read.h) fills it. The training
 * loop builds one from its model, optimizer, loader and loop counters (ckpt_session.c); the
 * benchmark tools/nvae-ckpt-bench.c from bare arenas. */
#ifndef NVAE_TRAINER_CKPT_STATE_H
#define NVAE_TRAINER_CKPT_STATE_H

#include "trainer/ckpt_shard.h"
#include "trainer/model_io.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ckpt_state {
  /* model.h5: parameters, buffers, counters, SR vectors under their official names (model_io.h).
   * Writing: rank 0's arenas. Loading: every rank's arenas receive rank 0's copy. */
  model_state model;
  const nvae_config *cfg; /* the resolved run config (written; on load, the one to match) */
  model_geometry geom;
  int64_t epoch; /* for model.h5's epoch attribute */
  /* optim-RRRRR.h5: whole arenas [model.reg->param_arena_numel] (every rank holds all of the
   * state today; each writes its slice, and loading re-assembles all of it on every rank). */
  float *optim_m, *optim_v;
  int64_t optim_t;
  const char *optimizer; /* "adamax" | "adam" */
  /* rank-RRRRR.h5: loop state; BN buffers and counters come from model.buffers/counters. */
  ckpt_rank_state rank;
} ckpt_state;

#ifdef __cplusplus
}
#endif

#endif
