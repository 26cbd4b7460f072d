/* The outcome of a queued training step, read by the host one step later.
 *
 * A step is queued without the host waiting for the device (model_train_step, the gated
 * optimizer): its step values (kernels/cpu/objective.h: losses, non-finite count, gradient norm)
 * are copied into one of two pinned host slots right after the update is queued, and the host
 * reads them while the next step runs on the device, so it never idles the device to learn
 * whether an update was applied. On the CPU backend the copy is done when queued.
 *
 *   step_outcome so;  step_outcome_init(&so, &ctx, model_step_values_len(m));
 *   step_outcome_queue(&so, &ctx, model_step_values(m), &info);   // after the optimizer
 *   step_info info;  const double *v = step_outcome_take(&so, &ctx, &info);   // NULL: none
 * Prefix step_outcome_. */
#ifndef NVAE_TRAINER_STEP_OUTCOME_H
#define NVAE_TRAINER_STEP_OUTCOME_H

#include "kernels/backend.h"
#include "trainer/model.h"

#include <stdint.h>

/* What the host knew when it queued the step. */
typedef struct step_info {
  int64_t step, epoch; /* 0-based step */
  double lr, beta, lambda;
  double seconds;     /* host time from the step's batch to its queued update */
  int group_step;     /* per-group statistics are logged after this step */
  model_losses group; /* at a group step: the losses with active units (read when queued) */
} step_info;

typedef struct step_outcome {
  double *host[2]; /* pinned, [len] each */
  op_fence *fence[2];
  step_info info[2];
  int len, next, pending, pending_slot;
} step_outcome;

void step_outcome_init(step_outcome *so, op_ctx *ctx, int len);
void step_outcome_free(step_outcome *so, op_ctx *ctx);
/* Queues the copy of v_dev [len] (after everything queued so far) and remembers info. One step
 * may be pending: take it first. */
void step_outcome_queue(step_outcome *so, op_ctx *ctx, const double *v_dev,
                        const step_info *info);
/* The pending step's values (host memory, valid until the next queue) and its info, after the
 * device has finished it; NULL when no step is pending. */
const double *step_outcome_take(step_outcome *so, op_ctx *ctx, step_info *info);

#endif
