/* Fault injection for the failure-handling tests (RELIABILITY.md §5): the environment variable
 * NVAE_FAULT="KIND@RANK:STEP[,KIND@RANK:STEP...]" makes rank RANK misbehave in training step STEP
 * (1-based), after its forward and backward and before the gradient average completes:
 *   kill      SIGKILL to itself (a rank that dies mid-step)
 *   stall     sleeps for good (a rank that stops answering: the others' watchdog must fire)
 *   nan       one gradient value becomes NaN before the all-reduce (every rank then sees it)
 *   nanloss   this rank's loss becomes NaN after the all-reduce (only this rank sees it: the
 *             all-reduced flag must make every rank skip)
 * Unset (the normal case): no effect. A malformed value is a usage error naming the variable. */
#ifndef NVAE_TRAINER_TRAIN_FAULT_H
#define NVAE_TRAINER_TRAIN_FAULT_H

#include "kernels/base/error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { FAULT_NONE = 0, FAULT_KILL, FAULT_STALL, FAULT_NAN, FAULT_NANLOSS } fault_kind;

#define TRAIN_FAULT_MAX 8

typedef struct train_fault {
  int n;
  fault_kind kind[TRAIN_FAULT_MAX];
  int rank[TRAIN_FAULT_MAX];
  int64_t step[TRAIN_FAULT_MAX];
} train_fault;

/* Parses `spec` (NULL or "" = no faults). */
int train_fault_parse(const char *spec, train_fault *f, nvae_err *e);
/* The fault of this rank at this 1-based step, or FAULT_NONE. */
fault_kind train_fault_at(const train_fault *f, int rank, int64_t step);
/* kill and stall happen here (never return); the others are the caller's to apply. */
void train_fault_act(fault_kind k, int rank, int64_t step);

#ifdef __cplusplus
}
#endif

#endif
