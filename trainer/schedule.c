/* Learning-rate, KL-warm-up and λ schedules (schedule.h, NVAE.md §3.2, §3.6, §4.2). */
#include "trainer/schedule.h"

#include <math.h>

/* M_PI is POSIX, not C11. */
static const double sched_pi = 3.14159265358979323846;

void sched_init(sched *s, const nvae_config *cfg, int64_t iters_per_epoch) {
  if (iters_per_epoch < 1) iters_per_epoch = 1;
  s->iters_per_epoch = iters_per_epoch;
  s->total_steps = (int64_t)cfg->train.epochs * iters_per_epoch;
  if (cfg->train.max_steps > 0 && cfg->train.max_steps < s->total_steps)
    s->total_steps = cfg->train.max_steps;
  s->epochs = (s->total_steps + iters_per_epoch - 1) / iters_per_epoch;

  s->lr_max = cfg->optim.lr;
  s->lr_min = cfg->optim.lr_min;
  if (cfg->optim.warmup_steps_set) {
    s->warmup_steps = cfg->optim.warmup_steps;
    s->warmup_epochs = (s->warmup_steps + iters_per_epoch - 1) / iters_per_epoch;
  } else {
    s->warmup_epochs = cfg->optim.warmup_epochs;
    s->warmup_steps = (int64_t)cfg->optim.warmup_epochs * iters_per_epoch;
  }
  s->step_schedule = cfg->optim.schedule == NVAE_SCHEDULE_STEP;
  s->step_epochs = cfg->optim.step_epochs;
  s->step_gamma = cfg->optim.step_gamma;

  s->kl_anneal_portion = cfg->train.kl_anneal_portion;
  s->kl_const_portion = cfg->train.kl_const_portion;
  s->kl_const_coeff = cfg->train.kl_const_coeff;
  s->kl_beta_const = cfg->train.kl_beta_set;
  s->kl_beta = cfg->train.kl_beta;

  s->lambda = cfg->train.weight_decay_norm;
  s->lambda_init = cfg->train.weight_decay_norm_init;
  s->lambda_anneal = cfg->train.weight_decay_norm_anneal;
}

double sched_lr(const sched *s, int64_t step) {
  const int64_t W = s->warmup_steps;
  if (step < W) return s->lr_max * (double)step / (double)W;
  /* The official warm-up sets lr at the start of each step from the step count, so the value that
   * lasts until the epoch-level scheduler takes over is the one of step W−1. */
  const double lr_w = W > 0 ? s->lr_max * (double)(W - 1) / (double)W : s->lr_max;
  const int64_t e = step / s->iters_per_epoch;
  if (s->step_schedule) return lr_w * pow(s->step_gamma, (double)(e / s->step_epochs));
  const int64_t we = s->warmup_epochs;
  const int64_t T = s->epochs - we - 1;
  if (e <= we || T <= 0) return lr_w;
  /* CosineAnnealingLR stepped once per epoch from epoch we+1 on (closed form). */
  return s->lr_min +
         (lr_w - s->lr_min) * 0.5 * (1.0 + cos(sched_pi * (double)(e - we) / (double)T));
}

double sched_kl_beta(const sched *s, int64_t step) {
  if (s->kl_beta_const) return s->kl_beta;
  const double T = (double)s->total_steps;
  double b = ((double)step - s->kl_const_portion * T) / (s->kl_anneal_portion * T);
  if (b > 1.0) b = 1.0;
  if (b < s->kl_const_coeff) b = s->kl_const_coeff;
  return b;
}

double sched_lambda(const sched *s, double beta) {
  if (!s->lambda_anneal) return s->lambda;
  return exp((1.0 - beta) * log(s->lambda_init) + beta * log(s->lambda));
}
