/* Checkpoints in the training loop (ckpt.h): the glue between train.c's objects and the
 * checkpoint reader and writer. */
#define _POSIX_C_SOURCE 200809L
#include "kernels/backend.h"
#include "kernels/base/clock.h"
#include "trainer/ckpt.h"
#include "trainer/ckpt_comm.h"
#include "trainer/ckpt_hooks.h"
#include "trainer/ckpt_names.h"
#include "trainer/ckpt_resume.h"
#include "trainer/ckpt_signal.h"
#include "trainer/ckpt_trace.h"
#include "trainer/ckpt_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ckpt_session {
  ckpt_refs r;
  char dir[NVAE_CFG_PATH_LEN + 32]; /* <run>/checkpoints */
  int64_t n_images;                 /* of the training split */
  int batch;
  /* the newest checkpoint this run wrote or resumed from: none at step -1 */
  int64_t last_step;
  int last_world;
  double last_time; /* rank 0: when it was written (checkpoint.every_minutes) */
  /* host copies of device arenas (NULL on the CPU backend, whose arenas are host memory) */
  float *h_params, *h_buffers, *h_sr, *h_m, *h_v;
  ckpt_trace trace;
};

/* ---- host views of the arenas ------------------------------------------------------------------
 */

static int on_host(const ckpt_session *s) { return s->r.ctx->device == DEVICE_CPU; }

static float *host_copy(ckpt_session *s, float **h, float *dev, int64_t n, int copy) {
  if (on_host(s)) return dev;
  size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(float);
  if (!*h) *h = nvae_malloc(bytes);
  if (copy && n > 0) s->r.ctx->ops->to_host(s->r.ctx, *h, dev, (size_t)n * sizeof(float));
  return *h;
}

static void device_copy(ckpt_session *s, float *h, float *dev, int64_t n) {
  if (!on_host(s) && n > 0) s->r.ctx->ops->from_host(s->r.ctx, dev, h, (size_t)n * sizeof(float));
}

/* The state as the writer and reader see it; copy = 1 copies device arenas to the host. */
static void state_of(ckpt_session *s, ckpt_state *st, int copy) {
  const ckpt_refs *r = &s->r;
  memset(st, 0, sizeof *st);
  model_state ms = model_io_state_of(r->m);
  const registry *reg = ms.reg;
  st->model = ms;
  st->model.params = host_copy(s, &s->h_params, ms.params, reg->param_arena_numel, copy);
  st->model.buffers = host_copy(s, &s->h_buffers, ms.buffers, reg->buffer_arena_numel, copy);
  st->model.sr = host_copy(s, &s->h_sr, ms.sr, reg->sr_vector_numel, copy);
  st->cfg = r->cfg;
  st->geom = *r->geom;
  st->optim_m = host_copy(s, &s->h_m, r->optim->m, r->optim->numel, copy);
  st->optim_v = host_copy(s, &s->h_v, r->optim->v, r->optim->numel, copy);
  st->optim_t = r->optim->t;
  st->optimizer = r->optim->name == NVAE_OPTIM_ADAM ? "adam" : "adamax";
}

/* ---- writing -----------------------------------------------------------------------------------
 */

static int64_t metrics_size(const ckpt_session *s) {
  if (s->r.comm->rank != 0) return -1;
  char p[NVAE_CFG_PATH_LEN + 32];
  snprintf(p, sizeof p, "%s/metrics.jsonl", s->r.run_dir);
  struct stat st;
  return stat(p, &st) == 0 ? (int64_t)st.st_size : -1;
}

static int write_now(ckpt_session *s, int64_t done, int signal_pending, ckpt_write_result *res,
                     nvae_err *e) {
  const ckpt_refs *r = &s->r;
  if (r->flush) {
    int rc = r->flush(r->flush_arg, e);
    if (rc) return rc;
  }
  ckpt_state st;
  state_of(s, &st, 1);
  const sampler_state ls = loader_get_state(r->train_loader);
  const sampler_state next =
      ckpt_trace_normalize(ls, s->n_images, (int64_t)s->batch * r->comm->world);
  /* model.h5's epoch: the one of the last step done (as final/model.h5) */
  st.epoch = done == 0 ? 0 : next.position > 0 ? (int64_t)next.epoch : (int64_t)next.epoch - 1;
  ckpt_rank_state *rs = &st.rank;
  rs->batch_size = s->batch;
  rs->dataset_images = s->n_images;
  rs->sampler_epoch = ls.epoch;
  rs->sampler_position = ls.position;
  rs->skipped = *r->skipped;
  rs->streak = *r->streak;
  rs->last_eval = *r->last_eval;
  rs->interval_steps = *r->interval_steps;
  rs->n_interval_sums =
      r->n_interval_sums < CKPT_MAX_INTERVAL_SUMS ? r->n_interval_sums : CKPT_MAX_INTERVAL_SUMS;
  for (int k = 0; k < rs->n_interval_sums; k++)
    rs->interval_sums[k] = r->interval_sums[k];
  rs->interval_seconds = *r->interval_seconds;
  rs->metrics_bytes = metrics_size(s);
  const nvae_checkpoint_config *cc = &r->cfg->checkpoint;
  ckpt_write_opts wo = {cc->keep_last, cc->keep_every, signal_pending, 0};
  int rc = ckpt_write(s->dir, done, &st, r->comm, &wo, res, e);
  if (!rc) {
    s->last_step = done;
    s->last_world = r->comm->world;
    s->last_time = nvae_now_s();
  }
  return rc;
}

static int requeue(const ckpt_session *s, int64_t done, int local_signal, nvae_err *e) {
  char name[CKPT_NAME_MAX];
  ckpt_name_step_dir(done, name, sizeof name);
  return nvae_errf(e, NVAE_EXIT_REQUEUE,
                   "stopped on %s at step %lld: checkpoint %s/%s is complete; exit 75: requeue "
                   "the job, --resume auto continues from it",
                   local_signal ? ckpt_signal_name(local_signal) : "a signal to another rank",
                   (long long)done, s->dir, name);
}

int ckpt_step(ckpt_session *s, nvae_err *e) {
  const ckpt_refs *r = &s->r;
  const int64_t done = *r->step;
  ckpt_hook_signal(done); /* tests only (NVAE_CKPT_FAULT=sigusr1@RANK:STEP) */
  const int sig = ckpt_signal_pending();
  const double minutes = r->cfg->checkpoint.every_minutes;
  /* one all-reduce per step: [any rank signalled, rank 0's clock says a checkpoint is due] —
   * the clocks of the ranks differ, so rank 0 alone decides and every rank follows */
  double v[2] = {sig ? 1 : 0,
                 r->comm->rank == 0 && minutes > 0 && nvae_now_s() - s->last_time >= 60.0 * minutes};
  train_comm_sum(r->comm, v, 2);
  const int have = done == s->last_step && s->last_world == r->comm->world;
  const int64_t every = r->cfg->checkpoint.every_steps;
  const int due = (every > 0 && done > 0 && done % every == 0) || v[1] > 0;
  if (v[0] > 0) {
    ckpt_write_result res;
    if (!have) {
      int rc = write_now(s, done, sig, &res, e);
      if (rc) return rc;
    }
    return requeue(s, done, ckpt_signal_pending(), e);
  }
  if (due && !have) {
    ckpt_write_result res;
    int rc = write_now(s, done, sig, &res, e);
    if (rc) return rc;
    if (res.any_signal) return requeue(s, done, ckpt_signal_pending(), e); /* during the write */
  }
  /* the step goes ahead: the batch it reads (tests only) */
  ckpt_trace_step(&s->trace, done, loader_get_state(r->train_loader));
  return 0;
}

int ckpt_finish(ckpt_session *s, nvae_err *e) {
  const int64_t done = *s->r.step;
  const nvae_checkpoint_config *cc = &s->r.cfg->checkpoint;
  if (cc->every_steps == 0 && cc->every_minutes <= 0) return 0; /* checkpoints off: signals only */
  if (done == s->last_step && s->last_world == s->r.comm->world) return 0;
  ckpt_write_result res;
  return write_now(s, done, ckpt_signal_pending(), &res, e);
}

/* ---- start-up and resume -----------------------------------------------------------------------
 */

/* Every rank's rc agreed (the lowest failing rank's message). */
static int agree(const train_comm *c, int rc, nvae_err *e) {
  int *codes = nvae_calloc((size_t)(c->world > 0 ? c->world : 1), sizeof(int));
  int first = ckpt_comm_codes(c, rc, codes);
  if (first >= 0) rc = ckpt_comm_report(c, first, codes, 0, e);
  free(codes);
  return first >= 0 ? rc : 0;
}

/* Rank 0, a run without --resume: a run directory with checkpoints is refused (a second run
 * would interleave its checkpoints with the first one's). */
static int refuse_existing(const ckpt_session *s, nvae_err *e) {
  int64_t *steps = NULL;
  int n = 0;
  nvae_err le = {0};
  ckpt_list_steps(s->dir, &steps, &n, NULL, &le);
  free(steps);
  char p[NVAE_CFG_PATH_LEN + 64];
  snprintf(p, sizeof p, "%s/" CKPT_LATEST, s->dir);
  struct stat st;
  if (n > 0 || stat(p, &st) == 0)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s holds checkpoints of an earlier run: continue it with --resume auto, or "
                     "give another --run-dir",
                     s->dir);
  return 0;
}

/* The run's objects from a loaded state. */
static int apply_resumed(ckpt_session *s, ckpt_state *st, const ckpt_resume_result *res,
                         nvae_err *e) {
  const ckpt_refs *r = &s->r;
  const registry *reg = model_registry(r->m);
  device_copy(s, st->model.params, model_params(r->m), reg->param_arena_numel);
  device_copy(s, st->model.buffers, model_buffers(r->m), reg->buffer_arena_numel);
  device_copy(s, st->model.sr, model_sr_vectors(r->m), reg->sr_vector_numel);
  device_copy(s, st->optim_m, r->optim->m, r->optim->numel);
  device_copy(s, st->optim_v, r->optim->v, r->optim->numel);
  model_set_sr_initialized(r->m, st->model.sr_initialized);
  r->optim->t = st->optim_t;
  const ckpt_rank_state *rs = &st->rank;
  if (rs->dataset_images != s->n_images)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: made on a training split of %lld images, %s/%s has %lld (another "
                     "dataset?)",
                     res->path, (long long)rs->dataset_images, r->cfg->data.path,
                     r->cfg->data.split_train, (long long)s->n_images);
  sampler_state ls = {rs->sampler_epoch, rs->sampler_position};
  int rc = agree(r->comm, loader_set_state(r->train_loader, ls, e), e);
  if (rc) return rc;
  *r->step = rs->step;
  *r->skipped = rs->skipped;
  *r->streak = rs->streak;
  *r->last_eval = rs->last_eval;
  for (int k = 0; k < r->n_interval_sums; k++)
    r->interval_sums[k] = k < rs->n_interval_sums ? rs->interval_sums[k] : 0;
  *r->interval_steps = rs->interval_steps;
  *r->interval_seconds = rs->interval_seconds;
  s->last_step = rs->step;
  s->last_world = res->world_size;
  if (r->comm->rank == 0 && rs->metrics_bytes >= 0) {
    /* rows logged after the checkpoint by the run that died are logged again from here */
    char p[NVAE_CFG_PATH_LEN + 32];
    snprintf(p, sizeof p, "%s/metrics.jsonl", r->run_dir);
    struct stat sb;
    if (stat(p, &sb) == 0 && (int64_t)sb.st_size > rs->metrics_bytes &&
        truncate(p, (off_t)rs->metrics_bytes) != 0)
      fprintf(stderr, "nvae-train: WARNING: %s: cannot truncate to %lld bytes: %s\n", p,
              (long long)rs->metrics_bytes, strerror(errno));
  }
  return 0;
}

int ckpt_start(ckpt_session **out, const ckpt_refs *r, const char *resume, int reshard,
               nvae_err *e) {
  const double t0 = nvae_now_s();
  const train_comm *c = r->comm;
  ckpt_session *s = nvae_calloc(1, sizeof *s);
  *out = s;
  s->r = *r;
  snprintf(s->dir, sizeof s->dir, "%s/" CKPT_SUBDIR, r->run_dir);
  loader_info li = loader_get_info(r->train_loader);
  s->n_images = li.n;
  s->batch = r->cfg->train.batch_size;
  s->last_step = -1;
  s->last_world = 0;
  int rc = ckpt_hook_init(c->rank, e);
  if (!rc && c->rank == 0 && !resume) rc = refuse_existing(s, e);
  if ((rc = agree(c, rc, e))) return rc;
  if (c->rank == 0) {
    nvae_err le = {0};
    if (ckpt_list_remove_leftovers(s->dir, &le))
      fprintf(stderr, "nvae-train: WARNING: %s\n", le.msg);
  }
  if (resume) {
    ckpt_state st;
    state_of(s, &st, 0);
    ckpt_resume_result res;
    rc = ckpt_resume(r->run_dir, resume, reshard, &st, c, &res, e);
    if (!rc && res.resumed) rc = apply_resumed(s, &st, &res, e);
    if (rc) return rc;
    if (c->rank == 0) {
      if (res.resumed) {
        const int G = s->batch * c->world;
        printf("resumed          %s: step %lld, epoch %llu at sample position %llu of %lld, "
               "written by %d rank(s)%s (%.2f s)\n",
               res.path, (long long)*r->step, (unsigned long long)st.rank.sampler_epoch,
               (unsigned long long)st.rank.sampler_position, (long long)s->n_images, res.world_size,
               res.world_size != c->world ? ", resharded" : "", nvae_now_s() - t0);
        if (st.rank.batch_size * res.world_size != G)
          printf("resumed          global batch %d -> %d: the epoch continues at the same sample "
                 "position; schedules keep counting steps\n",
                 st.rank.batch_size * res.world_size, G);
      } else {
        printf("resume           no checkpoint in %s: starting fresh\n", s->dir);
      }
      fflush(stdout);
    }
  }
  if (ckpt_signal_install() != 0)
    fprintf(stderr, "nvae-train: WARNING: cannot install the SIGTERM/SIGUSR1 handler: %s\n",
            strerror(errno));
  s->last_time = nvae_now_s();
  ckpt_trace_open(&s->trace, s->n_images, c->rank, c->world, s->batch,
                  (uint64_t)r->cfg->train.seed);
  return 0;
}

void ckpt_close(ckpt_session *s) {
  if (!s) return;
  ckpt_trace_close(&s->trace);
  free(s->h_params);
  free(s->h_buffers);
  free(s->h_sr);
  free(s->h_m);
  free(s->h_v);
  free(s);
}
