/* Schedules the trainer advances every optimizer step: the learning rate (NVAE.md §4.2), the KL
 * warm-up coefficient β (§3.2) and the regularisation weight λ (§3.6). Pure functions of the
 * global step, so a resumed run needs only the step. Prefix sched_.
 *
 * Steps are 0-based global optimizer steps (the step whose update is being computed). One "epoch"
 * is iters_per_epoch steps of the GLOBAL batch, whatever the number of ranks.
 *
 * Total T. T = epochs · iters_per_epoch, shortened to train.max_steps when that is smaller. The KL
 * warm-up uses T directly; the per-epoch schedules use the epochs that T touches,
 * ceil(T / iters_per_epoch), as their `epochs` (so a run cut by max_steps still ends its cosine at
 * lr_min in its last epoch when it spans several epochs).
 */
#ifndef NVAE_TRAINER_SCHEDULE_H
#define NVAE_TRAINER_SCHEDULE_H

#include "trainer/config.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sched {
  /* learning rate */
  double lr_max, lr_min;
  int64_t iters_per_epoch;
  int64_t epochs;        /* epochs the run spans (shortened by max_steps) */
  int64_t warmup_steps;  /* W: linear warm-up from 0 while step < W */
  int64_t warmup_epochs; /* epochs that run at the last warm-up value (cosine) */
  int step_schedule;     /* 1: ×gamma every step_epochs epochs; 0: cosine */
  int64_t step_epochs;
  double step_gamma;
  /* KL warm-up */
  int64_t total_steps; /* T */
  double kl_anneal_portion, kl_const_portion, kl_const_coeff;
  int kl_beta_const; /* 1: β = kl_beta always */
  double kl_beta;
  /* λ */
  double lambda, lambda_init;
  int lambda_anneal;
} sched;

/* Fills s from the config and the data: iters_per_epoch = global batches per epoch (>= 1). */
void sched_init(sched *s, const nvae_config *cfg, int64_t iters_per_epoch);

/* Learning rate of the update at global step `step` (0-based), NVAE.md §4.2:
 *  - warm-up, per step: lr_max · step / W while step < W (the very first step uses 0);
 *  - cosine, per epoch e = step / iters_per_epoch: epochs e <= warmup_epochs run at the last
 *    warm-up value lr_w = lr_max (W−1)/W; later epochs at
 *    lr_min + (lr_w − lr_min)·½(1 + cos(π (e − we)/(epochs − we − 1))), exactly lr_min in the last;
 *  - step: lr_w · gamma^floor(e / step_epochs).
 * With optim.warmup_steps, we = ceil(W / iters_per_epoch) (the official code only knows epochs;
 * the same choice as tests/reference/nvae_ref.py lr_at). */
double sched_lr(const sched *s, int64_t step);

/* β(step) = max(min((step − c·T)/(a·T), 1), β_min), or the constant train.kl_beta. */
double sched_kl_beta(const sched *s, int64_t step);

/* λ for a given β: constant, or exp((1−β) ln λ_init + β ln λ) when annealed. */
double sched_lambda(const sched *s, double beta);

#ifdef __cplusplus
}
#endif

#endif
