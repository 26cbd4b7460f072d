/* Test hooks of the checkpoint code, set only by tests (environment variables; unset = no effect):
 *
 *   NVAE_CKPT_FAULT=KIND@WHO[:STEP][,...]
 *     KIND a kill point: the process raises SIGKILL there (a crash at that instant):
 *       optim_partial   (every rank) optim file created, exp_avg written, the rest not
 *       optim_written   (every rank) optim file complete, rank file not yet written
 *       rank_written    (every rank) own files complete, not yet fsynced
 *       files_synced    (every rank) own files durable, before the all-reduced success
 *       before_manifest (rank 0)     every rank succeeded, MANIFEST not written
 *       manifest_written(rank 0)     MANIFEST durable, directory not renamed
 *       renamed         (rank 0)     step-X.tmp renamed to step-X, LATEST not updated
 *       latest_tmp      (rank 0)     LATEST.tmp durable, not renamed over LATEST
 *       latest_replaced (rank 0)     LATEST names the new checkpoint, retention not run
 *       retention       (rank 0)     after the first old checkpoint was deleted
 *     or enospc: this rank's file write fails as a full disk would (ENOSPC);
 *     or sigusr1 / sigterm: this rank sends itself the signal at the step boundary STEP (before
 *     the flag is shared): a preemption at an exact step, for tests;
 *     or sigwrite: this rank sends itself SIGTERM in the middle of writing its files (a second
 *     signal during the checkpoint write).
 *     WHO a rank, or "all" (every rank dies at the point; for a rank-0 point the other ranks die
 *     where they wait for rank 0's commit). STEP: only the checkpoint of that step (default any).
 *   NVAE_CKPT_TRACE=PREFIX  every rank appends "step epoch position i0 i1 ..." (the sample
 *     indices of its next batch) to PREFIX.rRRRRR before every step: the sample order.
 *
 * Prefix ckpt_hook_. */
#ifndef NVAE_TRAINER_CKPT_HOOKS_H
#define NVAE_TRAINER_CKPT_HOOKS_H

#include "kernels/base/error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reads NVAE_CKPT_FAULT once for this rank. A malformed value is NVAE_EXIT_USAGE. */
int ckpt_hook_init(int rank, nvae_err *e);
/* The kill point `point` of the checkpoint of `step`: SIGKILL when the spec says so. */
void ckpt_hook_point(const char *point, int64_t step);
/* 1 when this rank's write at `step` must fail with ENOSPC. */
int ckpt_hook_enospc(int64_t step);
/* At the step boundary `step`: raises SIGUSR1 or SIGTERM when the spec says so. */
void ckpt_hook_signal(int64_t step);

#ifdef __cplusplus
}
#endif

#endif
