/* Validation / evaluation passes (evaluate.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/evaluate.h"
#include "kernels/base/clock.h"

#include "dataset/dataset_yaml.h"
#include "dataset/loader.h"
#include "trainer/batch_prep.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int evaluate_pick_split(const char *data_path, const char *split, char *out, size_t n,
                        nvae_err *e) {
  char yaml[2048];
  snprintf(yaml, sizeof yaml, "%s/" DATASET_YAML_NAME, data_path);
  dataset_info *d = nvae_calloc(1, sizeof *d);
  int rc = dataset_yaml_read(yaml, d, e);
  if (!rc) {
    if (dataset_info_split(d, split)) {
      snprintf(out, n, "%s", split);
    } else if (strcmp(split, "valid") == 0 && dataset_info_split(d, "test")) {
      snprintf(out, n, "test"); /* idx datasets have train and test only (DESIGN.md §4) */
    } else {
      rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: dataset has no split '%s'%s", data_path, split,
                     strcmp(split, "valid") == 0 ? " (nor 'test')" : "");
    }
  }
  dataset_info_free(d);
  free(d);
  return rc;
}

int evaluate_run(model *m, op_ctx *ctx, const evaluate_opts *o, const model_geometry *g,
                 const train_comm *comm, evaluate_result *r, nvae_err *e) {
  memset(r, 0, sizeof *r);
  const double t0 = nvae_now_s();
  if (evaluate_pick_split(o->data_path, o->split, r->split, sizeof r->split, e)) return e->code;
  loader_opts lo;
  loader_opts_default(&lo);
  lo.path = o->data_path;
  lo.split = r->split;
  lo.rank = comm ? comm->rank : 0;
  lo.world_size = comm ? comm->world : 1;
  lo.batch_size = o->batch;
  lo.seed = o->seed;
  lo.shuffle = 0; /* the first max_images images, the same every pass */
  lo.drop_last = 0;
  lo.flip = 0;
  lo.pad_to = o->pad_to;
  lo.stop_at_epoch_end = 1;
  loader *l = NULL;
  if (loader_open(&l, &lo, e)) return e->code;
  loader_info li = loader_get_info(l);
  const int64_t per = (int64_t)li.channels * li.height * li.width;
  float *x = nvae_malloc(sizeof(float) * (size_t)(per * o->batch));
  uint32_t *keys = nvae_malloc(sizeof(uint32_t) * (size_t)o->batch);
  double *nelbo = nvae_malloc(sizeof(double) * (size_t)o->batch);
  double *log_px = nvae_malloc(sizeof(double) * (size_t)o->batch);
  const int64_t limit = o->max_images > 0 && o->max_images < li.n ? o->max_images : li.n;
  batch_prep bp = {o->num_x_bits, o->binarize, o->seed};
  double sums[3] = {0, 0, 0}; /* images, Σ nelbo, Σ log p(x) */
  int rc = 0;
  for (;;) {
    const loader_batch *b = loader_next(l, e);
    if (!b) {
      rc = e->code;
      break;
    }
    if (b->position >= limit) break; /* every later batch lies beyond the cap too */
    batch_prep_run(&bp, b, o->step, 1, x, keys);
    model_batch mb = {x, b->n, keys, o->seed, o->step};
    model_eval_batch(m, ctx, &mb, o->iw_samples, nelbo, log_px);
    for (int i = 0; i < b->n; i++) {
      if (!b->valid[i] || b->global_pos[i] >= limit) continue;
      sums[0] += 1;
      sums[1] += nelbo[i];
      sums[2] += log_px[i];
    }
  }
  loader_close(l);
  free(x);
  free(keys);
  free(nelbo);
  free(log_px);
  if (rc) return rc;
  train_comm_sum(comm, sums, 3); /* images weigh equally whatever rank holds them */
  const double D = (double)g->channels * g->crop_h * g->crop_w;
  r->images = (int64_t)sums[0];
  r->nelbo = sums[0] > 0 ? sums[1] / sums[0] : NAN;
  r->log_px = sums[0] > 0 ? sums[2] / sums[0] : NAN;
  r->bpd_elbo = r->nelbo / (D * log(2.0));
  r->bpd_log_px = -r->log_px / (D * log(2.0));
  r->seconds = nvae_now_s() - t0;
  return 0;
}
