/* The host's side of the training loop between steps (train_progress.h). */
#include "trainer/train_progress.h"

#include "kernels/base/clock.h"
#include "trainer/train_log.h"

#include <stdio.h>

void train_progress_reset_interval(train_progress *p) { p->iv = (interval){{0}, 0, nvae_now_s(), 0}; }

int train_progress_take(train_progress *p, nvae_err *e) {
  p->flush_rc = 0;
  p->flush_agreed = 0;
  step_info in;
  const double *v = step_outcome_take(&p->outcome, p->ctx, &in);
  if (!v) return 0;
  const nvae_config *cfg = p->cfg;
  const train_comm *comm = p->comm;
  const int64_t done = in.step + 1;
  if (v[STEPV_BAD] > 0) { /* the update was not applied (the gate) */
    p->skipped++;
    p->streak++;
    if (p->rank0)
      printf("step %lld: non-finite loss or gradients (%.0f values): update skipped (%lld in a "
             "row, limit %d)\n",
             (long long)done, v[STEPV_BAD], (long long)p->streak, cfg->train.nonfinite_max_skips);
    if (p->streak >= cfg->train.nonfinite_max_skips) {
      p->flush_agreed = 1;
      return p->flush_rc = nvae_errf(
                 e, NVAE_EXIT_RUNTIME,
                 "%lld consecutive steps with non-finite loss or gradients (limit "
                 "train.nonfinite_max_skips = %d) at step %lld: lower optim.lr or set "
                 "train.grad_clip",
                 (long long)p->streak, cfg->train.nonfinite_max_skips, (long long)done);
    }
    return 0;
  }
  p->streak = 0;
  train_optim_commit(p->opt);
  p->train_seconds += in.seconds;
  p->ema_step = p->ema_step == 0 ? in.seconds : 0.9 * p->ema_step + 0.1 * in.seconds;

  /* ---- logging (averages over the interval and the ranks) ---- */
  model_losses Ls;
  model_losses_from_values(p->m, v, &Ls);
  const double vals[8] = {Ls.loss, Ls.recon, Ls.kl, Ls.nelbo, Ls.bpd, Ls.sr, Ls.bnreg,
                          v[STEPV_GNORM]};
  interval *iv = &p->iv;
  for (int k = 0; k < 8; k++) iv->sums[k] += vals[k];
  iv->steps++;
  iv->step_seconds += in.seconds;
  int rc = 0;
  if (done % p->log_every == 0 || done == p->total) {
    double red[8];
    for (int k = 0; k < 8; k++) red[k] = iv->sums[k] / iv->steps;
    train_comm_sum(comm, red, 7); /* the grad norm is already global */
    for (int k = 0; k < 7; k++) red[k] /= comm->world;
    train_log_stats ls = {done, p->total, in.epoch, red[0], red[1], red[2], red[3], red[4], red[5],
                          red[6], in.lr, in.beta, in.lambda, red[7],
                          (double)iv->steps * p->batch * comm->world / iv->step_seconds,
                          1e3 * iv->step_seconds / iv->steps,
                          p->ema_step * (double)(p->total - done), p->skipped, p->binary};
    rc = train_log_progress(p->rd, &ls, e);
    if (!rc && in.group_step) {
      /* per-group KL averaged over the ranks (the balancing coefficients are already global
       * with kl_balance_scope global); active units are rank 0's batch */
      model_losses Lg = in.group;
      train_comm_sum(comm, Lg.kl_group, Lg.n_groups);
      for (int k = 0; k < Lg.n_groups; k++) Lg.kl_group[k] /= comm->world;
      rc = train_log_groups(p->rd, done, &Lg, e);
    }
    train_progress_reset_interval(p);
  }
  return p->flush_rc = rc; /* a log write error is this rank's alone */
}

int train_progress_flush(void *progress, nvae_err *e) { return train_progress_take(progress, e); }
