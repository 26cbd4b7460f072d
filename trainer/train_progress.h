/* What the training loop keeps on the host between steps, and the reading of a queued step's
 * outcome (step_outcome.h) into it: skipped updates and the non-finite streak limit, the
 * optimizer's step count, the logging interval and the log lines (averaged over the ranks).
 *
 * Every rank reads the same steps in the same order (the log averages are collectives). The
 * checkpoint saves the counters and the interval by reference (ckpt_refs), after
 * train_progress_flush has read the last queued step. Prefix train_progress_. */
#ifndef NVAE_TRAINER_TRAIN_PROGRESS_H
#define NVAE_TRAINER_TRAIN_PROGRESS_H

#include "trainer/config.h"
#include "trainer/model.h"
#include "trainer/run_dir.h"
#include "trainer/step_outcome.h"
#include "trainer/train_comm.h"
#include "trainer/train_optim.h"

#include <stdint.h>

/* The logging interval in progress. */
typedef struct interval {
  double sums[8]; /* loss, recon, kl, nelbo, bpd, sr, bnreg, grad_norm */
  int steps;
  double t0, step_seconds;
} interval;

typedef struct train_progress {
  const nvae_config *cfg;
  const train_comm *comm;
  model *m;
  op_ctx *ctx;
  train_optim *opt;
  run_dir *rd;
  int64_t total, log_every, group_every;
  int batch, binary, rank0;
  step_outcome outcome;
  interval iv;
  double ema_step, train_seconds; /* seconds per applied update: moving average, total */
  int64_t skipped, streak;
  int flush_rc, flush_agreed; /* the last take's error, and whether every rank took it */
} train_progress;

void train_progress_reset_interval(train_progress *p);
/* Reads the pending step's outcome, waiting for the device if it still runs it; 0 when none is
 * pending. An error is in e; flush_agreed says whether every rank returns it (the non-finite
 * streak limit) or this rank alone (a log write). */
int train_progress_take(train_progress *p, nvae_err *e);
/* ckpt_refs.flush: train_progress_take. */
int train_progress_flush(void *progress, nvae_err *e);

#endif
