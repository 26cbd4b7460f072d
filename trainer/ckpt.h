/* Checkpoints in the training loop (DESIGN.md §5, docs/checkpoint-format.md): the three calls
 * train.c makes, over the format (ckpt_shard.h, ckpt_manifest.h, model_io.h), the commit protocol
 * (ckpt_write.h), verification and resume (ckpt_read.h, ckpt_resume.h), retention
 * (ckpt_retention.h) and preemption (ckpt_signal.h).
 *
 *   ckpt_start   before the first step: refuses a run directory that has checkpoints unless
 *                resuming, removes partial step-*.tmp directories, resumes (--resume auto|PATH,
 *                --reshard) into the model, optimizer, loader and loop counters, truncates
 *                metrics.jsonl to what it was at the checkpoint, installs the SIGTERM/SIGUSR1
 *                flag.
 *   ckpt_step    at the top of every step (*step = steps done): one all-reduce shares the
 *                preemption flag and rank 0's checkpoint.every_minutes clock; writes a checkpoint
 *                when checkpoint.every_steps divides the step, the minutes have passed, or a
 *                signal arrived; after a signal returns NVAE_EXIT_REQUEUE (75).
 *   ckpt_finish  after the last step: the final checkpoint (unless one of this step exists, or
 *                checkpoint.every_steps and every_minutes are both 0: checkpoints off, but for
 *                the one a signal asks for).
 * Every non-zero return is taken by every rank together (collectives agree on it): the loop
 * breaks and returns it; the message, when another rank had it, was printed by that rank and
 * e->msg is empty. Prefix ckpt_. */
#ifndef NVAE_TRAINER_CKPT_H
#define NVAE_TRAINER_CKPT_H

#include "dataset/loader.h"
#include "trainer/config_model.h"
#include "trainer/model.h"
#include "trainer/train_comm.h"
#include "trainer/train_optim.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The trainer's objects a checkpoint saves and restores, by reference. */
typedef struct ckpt_refs {
  const nvae_config *cfg;
  const char *run_dir;
  const train_comm *comm;
  op_ctx *ctx;
  model *m;
  train_optim *optim;
  loader *train_loader;
  const model_geometry *geom;
  /* the loop's counters: steps done, non-finite steps skipped and in a row, last validation */
  int64_t *step, *skipped, *streak, *last_eval;
  /* the logging interval in progress: partial sums [n_interval_sums], steps, seconds */
  double *interval_sums;
  int n_interval_sums;
  int *interval_steps;
  double *interval_seconds;
  /* Nullable: called before a checkpoint reads any of the above, to bring the host's counters up
   * to date (the trainer reads the last queued step's outcome from the device); a nonzero return
   * (an error, in e) is returned by ckpt_step / ckpt_finish without writing. */
  int (*flush)(void *arg, nvae_err *e);
  void *flush_arg;
} ckpt_refs;

typedef struct ckpt_session ckpt_session;

/* resume: NULL (a fresh run), "auto" or a checkpoint PATH; reshard: --reshard. */
int ckpt_start(ckpt_session **out, const ckpt_refs *r, const char *resume, int reshard,
               nvae_err *e);
int ckpt_step(ckpt_session *s, nvae_err *e);
int ckpt_finish(ckpt_session *s, nvae_err *e);
void ckpt_close(ckpt_session *s);

#ifdef __cplusplus
}
#endif

#endif
