/* Progress line, metrics rows, TensorBoard scalars and image grids (train_log.h). */
#include "trainer/train_log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void fmt_eta(double s, char *buf, size_t n) {
  if (!(s >= 0) || s > 1e9) {
    snprintf(buf, n, "?");
    return;
  }
  long t = (long)(s + 0.5);
  long d = t / 86400, h = t / 3600 % 24, m = t / 60 % 60, sec = t % 60;
  if (d > 0) snprintf(buf, n, "%ldd %02ld:%02ld:%02ld", d, h, m, sec);
  else snprintf(buf, n, "%02ld:%02ld:%02ld", h, m, sec);
}

int train_log_progress(run_dir *rd, const train_log_stats *s, nvae_err *e) {
  if (!rd->writer) return 0;
  char eta[32];
  fmt_eta(s->eta_s, eta, sizeof eta);
  /* key value | separated, so it greps (ECOSYSTEM.md §7) */
  printf("step %lld/%lld | epoch %lld | loss %.4g | recon %.4g | kl %.4g | %s %.4g | lr %.3e | "
         "grad_norm %.3g | img/s %.1f | step ms %.1f | ETA %s | skipped %lld\n",
         (long long)s->step, (long long)s->total, (long long)s->epoch, s->loss, s->recon, s->kl,
         s->binary ? "nats" : "bpd", s->binary ? s->nelbo : s->bpd, s->lr, s->grad_norm,
         s->images_per_s, s->step_ms, eta, (long long)s->skipped);
  fflush(stdout);
  metric_kv kv[] = {metric_int("step", s->step),
                    metric_int("epoch", s->epoch),
                    metric_real("loss", s->loss),
                    metric_real("recon", s->recon),
                    metric_real("kl", s->kl),
                    metric_real(s->binary ? "nats" : "bpd", s->binary ? s->nelbo : s->bpd),
                    metric_real("lr", s->lr),
                    metric_real("grad_norm", s->grad_norm),
                    metric_real("images_per_s", s->images_per_s),
                    metric_real("nelbo", s->nelbo),
                    metric_real("kl_beta", s->beta),
                    metric_real("lambda", s->lambda),
                    metric_real("sr", s->sr),
                    metric_real("bnreg", s->bnreg),
                    metric_int("skipped", s->skipped)};
  if (run_dir_row(rd, kv, (int)(sizeof kv / sizeof kv[0]), e)) return e->code;
  /* the official tags (NVAE.md §7.5) */
  const struct {
    const char *tag;
    double v;
  } sc[] = {{"train/nelbo_iter", s->loss},   {"train/recon_iter", s->recon},
            {"train/kl_iter", s->kl},        {"train/lr", s->lr},
            {"kl_coeff/coeff", s->beta},     {"train/norm_coeff", s->lambda},
            {"train/norm_loss", s->sr},      {"train/bn_loss", s->bnreg},
            {"train/grad_norm", s->grad_norm}, {"train/images_per_s", s->images_per_s},
            {s->binary ? "train/nats" : "train/bpd", s->binary ? s->nelbo : s->bpd}};
  for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++)
    if (run_dir_scalar(rd, sc[i].tag, sc[i].v, s->step, e)) return e->code;
  return run_dir_flush(rd, e);
}

int train_log_groups(run_dir *rd, int64_t step, const model_losses *l, nvae_err *e) {
  if (!rd->writer) return 0;
  const int G = l->n_groups;
  metric_kv *kv = nvae_malloc(sizeof(metric_kv) * (size_t)(3 * G + 2));
  char (*keys)[32] = nvae_malloc(sizeof(*keys) * (size_t)(3 * G));
  int n = 0, total_active = 0;
  kv[n++] = metric_int("step", step);
  for (int g = 0; g < G; g++) {
    snprintf(keys[3 * g], 32, "kl_group_%d", g);
    snprintf(keys[3 * g + 1], 32, "kl_coeff_%d", g);
    snprintf(keys[3 * g + 2], 32, "active_%d", g);
    kv[n++] = metric_real(keys[3 * g], l->kl_group[g]);
    kv[n++] = metric_real(keys[3 * g + 1], l->kl_coeff[g]);
    kv[n++] = metric_int(keys[3 * g + 2], l->active_units[g]);
    total_active += l->active_units[g];
  }
  kv[n++] = metric_int("active_total", total_active);
  int rc = run_dir_row(rd, kv, n, e);
  for (int g = 0; g < G && !rc; g++) {
    char tag[64];
    snprintf(tag, sizeof tag, "kl_vals/layer_%d", g);
    rc = run_dir_scalar(rd, tag, l->kl_group[g], step, e);
    snprintf(tag, sizeof tag, "kl_coeff/layer_%d", g);
    if (!rc) rc = run_dir_scalar(rd, tag, l->kl_coeff[g], step, e);
    snprintf(tag, sizeof tag, "kl/active_%d", g);
    if (!rc) rc = run_dir_scalar(rd, tag, l->active_units[g], step, e);
  }
  if (!rc) rc = run_dir_scalar(rd, "kl/total_active", total_active, step, e);
  free(kv);
  free(keys);
  return rc;
}

int train_log_validation(run_dir *rd, int64_t step, int64_t epoch, const evaluate_result *r,
                         int binary, nvae_err *e) {
  if (!rd->writer) return 0;
  printf("validation step %lld | split %s | images %lld | nelbo %.4f nats | log p(x) %.4f nats | "
         "bpd %.4f (elbo) %.4f (log p) | %.1f s\n",
         (long long)step, r->split, (long long)r->images, r->nelbo, r->log_px, r->bpd_elbo,
         r->bpd_log_px, r->seconds);
  fflush(stdout);
  metric_kv kv[] = {metric_int("step", step),          metric_int("epoch", epoch),
                    metric_str("split", r->split),     metric_int("images", r->images),
                    metric_real("nelbo", r->nelbo),    metric_real("log_px", r->log_px),
                    metric_real("bpd", r->bpd_elbo),   metric_real("bpd_log_px", r->bpd_log_px),
                    metric_real(binary ? "nats" : "nelbo_nats", r->nelbo)};
  if (run_dir_row(rd, kv, (int)(sizeof kv / sizeof kv[0]), e)) return e->code;
  const struct {
    const char *tag;
    double v;
  } sc[] = {{"val/nelbo", r->nelbo}, {"val/neg_log_p", -r->log_px},
            {"val/bpd_elbo", r->bpd_elbo}, {"val/bpd_log_p", r->bpd_log_px}};
  for (size_t i = 0; i < 4; i++)
    if (run_dir_scalar(rd, sc[i].tag, sc[i].v, step, e)) return e->code;
  return run_dir_flush(rd, e);
}

int train_log_images(run_dir *rd, model *m, op_ctx *ctx, const model_geometry *g, uint64_t seed,
                     int64_t step, const float *x, const uint32_t *keys, int n, nvae_err *e) {
  /* Every rank runs the model (its BN and RNG state must not diverge); rank 0 writes. */
  const int64_t per = (int64_t)g->channels * g->size * g->size;
  float *out = nvae_malloc(sizeof(float) * (size_t)(per * n));
  static const float temps[] = {0.7f, 0.8f, 0.9f, 1.0f};
  int rc = 0;
  for (int i = 0; i < 4 && !rc; i++) {
    model_sample(m, ctx, n, temps[i], seed, (uint32_t)step, out);
    char name[64], tag[32];
    snprintf(name, sizeof name, "step_%07lld_t%.1f", (long long)step, temps[i]);
    snprintf(tag, sizeof tag, "generated_%.1f", temps[i]);
    rc = run_dir_grid(rd, "samples", name, tag, out, n, g->channels, g->size, g->size, step, e);
  }
  if (!rc && x) {
    model_batch mb = {x, n, keys, seed, (uint32_t)step};
    model_reconstruct(m, ctx, &mb, out);
    char name[64];
    snprintf(name, sizeof name, "step_%07lld", (long long)step);
    rc = run_dir_pairs(rd, "recon", name, "reconstruction", x, out, n, g->channels, g->size,
                       g->size, step, e);
  }
  free(out);
  if (!rc) rc = run_dir_flush(rd, e);
  return rc;
}
