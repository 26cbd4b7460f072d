/* Writing one checkpoint: the commit protocol of DESIGN.md §5. Collective (every rank calls it).
 *
 *  1. every rank writes its files into <dir>/step-XXXXXXXX.tmp/ (rank 0: model.h5; rank r:
 *     optim-RRRRR.h5 = its 1/W slice, rank-RRRRR.h5), fsyncs each, reads each back for its
 *     size and CRC-32C, fsyncs the directory;
 *  2. one all-reduce: every rank's success, sizes and CRCs (and whether a signal arrived);
 *     on any failure every rank returns the error (the lowest failing rank prints it), rank 0
 *     removes the .tmp directory and the previous checkpoint and LATEST stay as they were;
 *  3. rank 0 writes MANIFEST (fsync), fsyncs the directory, renames step-X.tmp → step-X, fsyncs
 *     <dir>, writes LATEST.tmp (fsync), renames it over LATEST, fsyncs <dir>: only now is the
 *     checkpoint the one a resume takes;
 *  4. retention (ckpt_retention.h), only after LATEST is durable;
 *  5. one all-reduce: rank 0's commit result (and signals) to every rank.
 * A crash (or SIGKILL) anywhere leaves LATEST naming the old checkpoint or the new complete one;
 * partial .tmp directories are never loaded and are removed at the next start-up.
 * Prefix ckpt_write. */
#ifndef NVAE_TRAINER_CKPT_WRITE_H
#define NVAE_TRAINER_CKPT_WRITE_H

#include "trainer/ckpt_state.h"
#include "trainer/train_comm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ckpt_write_opts {
  int keep_last;      /* checkpoint.keep_last */
  int64_t keep_every; /* checkpoint.keep_every (0 = none) */
  int signal_pending; /* this rank's preemption flag, shared in the all-reduces */
  int quiet;          /* 1: no "checkpoint ..." line */
} ckpt_write_opts;

typedef struct ckpt_write_result {
  double seconds; /* rank 0: from the first byte to LATEST durable */
  double bytes;   /* every file of the checkpoint (all ranks) */
  int any_signal; /* some rank had a preemption signal before or during the write */
} ckpt_write_result;

/* dir = <run>/checkpoints. Returns 0 or an error every rank returns together. */
int ckpt_write(const char *dir, int64_t step, const ckpt_state *st, const train_comm *c,
               const ckpt_write_opts *wo, ckpt_write_result *res, nvae_err *e);

#ifdef __cplusplus
}
#endif

#endif
