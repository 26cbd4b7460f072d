/* Choosing the checkpoint to resume from (DESIGN.md §5). Collective.
 *
 *   --resume auto: <run>/checkpoints/LATEST if there is one and it verifies (ckpt_read.h); else,
 *     with a loud warning naming what failed, the newest older checkpoint that verifies. LATEST
 *     damaged or missing while checkpoints exist: the newest that verifies, with a warning. No
 *     checkpoints at all: a fresh start. Checkpoints exist but none verifies: an error, never a
 *     silent fresh start. A refusal (another model config, another world size without --reshard,
 *     another optimizer) is an error at once, never a fall-back.
 *   --resume PATH: PATH is a checkpoint directory (it holds MANIFEST), or a directory holding
 *     LATEST (<run>/checkpoints), or a run directory (holding checkpoints/LATEST); exactly that
 *     checkpoint, or an error naming the file and what was wrong.
 * Rank 0 reads LATEST and lists the directories and broadcasts each candidate; every rank
 * verifies what it will read; the verdicts are all-reduced, so every rank takes the same branch.
 * Prefix ckpt_resume. */
#ifndef NVAE_TRAINER_CKPT_RESUME_H
#define NVAE_TRAINER_CKPT_RESUME_H

#include "trainer/ckpt_state.h"
#include "trainer/train_comm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ckpt_resume_result {
  int resumed;              /* 0: --resume auto found no checkpoint: a fresh start */
  int64_t step;             /* the checkpoint's step */
  int world_size;           /* the ranks that wrote it */
  int fell_back;            /* 1: not the checkpoint LATEST names (warnings were printed) */
  char path[4096 + 2 * 64]; /* a directory of up to 4096 bytes + checkpoints/step-X */
} ckpt_resume_result;

/* mode: "auto" or a PATH. st: the arenas to fill (st->cfg is the run's config). Returns 0 (see
 * res->resumed) or NVAE_EXIT_USAGE, every rank together. */
int ckpt_resume(const char *run_dir, const char *mode, int reshard, ckpt_state *st,
                const train_comm *c, ckpt_resume_result *res, nvae_err *e);

#ifdef __cplusplus
}
#endif

#endif
