/* Retention (DESIGN.md §5): after a new LATEST is durable, rank 0 deletes every committed
 * checkpoint except the newest checkpoint.keep_last ones, those whose step is a multiple of
 * checkpoint.keep_every (when > 0), and the one LATEST names. A deleted directory is first
 * renamed to step-X.del (atomic), so a crash mid-deletion never leaves a half-deleted
 * directory under a committed name. Prefix ckpt_retention_. */
#ifndef NVAE_TRAINER_CKPT_RETENTION_H
#define NVAE_TRAINER_CKPT_RETENTION_H

#include "kernels/base/error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The plan: steps[0..n) sorted newest first; del[i] = 1 for the ones to delete. Returns their
 * number. */
int ckpt_retention_plan(const int64_t *steps, int n, int keep_last, int64_t keep_every,
                        int64_t latest, unsigned char *del);

/* Lists dir, deletes what the plan says (printing one line per checkpoint), fsyncs dir. Errors are
 * RUNTIME; a failed deletion leaves the checkpoint (or its .del) for the next start-up. */
int ckpt_retention_apply(const char *dir, int keep_last, int64_t keep_every, int64_t latest,
                         int64_t step_for_hooks, nvae_err *e);

#ifdef __cplusplus
}
#endif

#endif
