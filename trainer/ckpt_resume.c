/* Choosing and loading the checkpoint to resume from (ckpt_resume.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/ckpt_resume.h"

#include "trainer/ckpt_comm.h"
#include "trainer/ckpt_fs.h"
#include "trainer/ckpt_names.h"
#include "trainer/ckpt_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { KIND_ERROR = -1, KIND_FRESH = 0, KIND_DIRECT = 1, KIND_IN_PATH = 2, KIND_IN_RUN = 3 };

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* LATEST of dir: 0 and the step; ENOENT-like 1 when there is none; or an error (message). */
static int read_latest(const char *dir, int64_t *step, nvae_err *e) {
  char p[4096 + 64];
  snprintf(p, sizeof p, "%s/" CKPT_LATEST, dir);
  if (!exists(p)) return 1;
  char *text = NULL;
  size_t len = 0;
  if (ckpt_fs_read_small(p, 256, &text, &len, e)) return -1;
  nvae_err le = {0};
  int rc = ckpt_latest_parse(text, len, step, &le);
  free(text);
  if (rc) {
    nvae_errf(e, NVAE_EXIT_USAGE, "%s/%s", dir, le.msg); /* le.msg starts with "LATEST:" */
    return -1;
  }
  return 0;
}

/* One candidate on every rank: verify, agree. Returns CKPT_FINE, CKPT_DAMAGED (reported as a
 * warning when `warn`, else as the error) or CKPT_REFUSED (reported as the error). */
static int try_candidate(const char *path, const ckpt_state *st, const train_comm *c, int reshard,
                         int warn, ckpt_manifest *m, nvae_err *e) {
  int verdict = ckpt_verify(path, st->cfg, st->model.reg->param_arena_numel, c, reshard, m, e);
  const int W = c->world > 0 ? c->world : 1;
  int *codes = nvae_calloc((size_t)W, sizeof(int));
  int first = ckpt_comm_codes(c, verdict, codes);
  int result = CKPT_FINE;
  if (first >= 0) {
    int refused = -1;
    for (int r = 0; r < W && refused < 0; r++)
      if (codes[r] == CKPT_REFUSED) refused = r;
    result = refused >= 0 ? CKPT_REFUSED : CKPT_DAMAGED;
    const int who = refused >= 0 ? refused : first;
    if (c->rank == who && result == CKPT_DAMAGED && warn)
      snprintf(e->msg + strlen(e->msg), sizeof e->msg - strlen(e->msg),
               "; trying an older checkpoint");
    ckpt_comm_report(c, who, codes, result == CKPT_DAMAGED && warn, e);
    e->code = NVAE_EXIT_USAGE;
    ckpt_manifest_free(m);
  }
  free(codes);
  return result;
}

static int resume_auto(const char *run_dir, int reshard, ckpt_state *st, const train_comm *c,
                       ckpt_resume_result *res, nvae_err *e) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/" CKPT_SUBDIR, run_dir);
  int64_t *cands = NULL;
  int n = 0, fresh = 0;
  if (c->rank == 0) {
    int64_t *steps = NULL, latest = -1;
    int n_steps = 0;
    nvae_err le = {0};
    if (ckpt_list_steps(dir, &steps, &n_steps, NULL, &le))
      fprintf(stderr, "nvae-train: WARNING: %s\n", le.msg);
    int lr = read_latest(dir, &latest, &le);
    cands = nvae_malloc(sizeof(int64_t) * (size_t)(n_steps + 1));
    int latest_listed = 0;
    for (int i = 0; i < n_steps; i++)
      latest_listed = latest_listed || steps[i] == latest;
    if (lr == 1 && n_steps == 0) {
      fresh = 1;
    } else if (lr == 0 && latest_listed) {
      cands[n++] = latest;
      for (int i = 0; i < n_steps; i++)
        if (steps[i] < latest) cands[n++] = steps[i];
    } else {
      if (lr == 1)
        fprintf(stderr,
                "nvae-train: WARNING: %s/" CKPT_LATEST " is missing but %d checkpoint(s) exist: "
                "trying the newest that verifies\n",
                dir, n_steps);
      else if (lr < 0)
        fprintf(stderr, "nvae-train: WARNING: %s: trying the newest checkpoint that verifies\n",
                le.msg);
      else
        fprintf(stderr,
                "nvae-train: WARNING: %s/" CKPT_LATEST " names step-%08lld, which does not "
                "exist: trying the newest checkpoint that verifies\n",
                dir, (long long)latest);
      for (int i = 0; i < n_steps; i++)
        cands[n++] = steps[i];
      res->fell_back = 1;
    }
    free(steps);
  }
  double head[2] = {fresh, n};
  ckpt_comm_bcast_f64(c, head, 2);
  if (head[0] != 0) {
    free(cands);
    res->resumed = 0;
    return 0;
  }
  const int n_cands = (int)head[1];
  for (int i = 0; i < n_cands; i++) {
    double v = c->rank == 0 ? (double)cands[i] : 0;
    ckpt_comm_bcast_f64(c, &v, 1);
    const int64_t step = (int64_t)v;
    char name[CKPT_NAME_MAX];
    ckpt_name_step_dir(step, name, sizeof name);
    snprintf(res->path, sizeof res->path, "%s/%s", dir, name);
    ckpt_manifest m;
    const int verdict = try_candidate(res->path, st, c, reshard, 1, &m, e);
    if (verdict == CKPT_REFUSED) {
      free(cands);
      return NVAE_EXIT_USAGE;
    }
    if (verdict == CKPT_DAMAGED) {
      res->fell_back = 1;
      continue;
    }
    free(cands);
    if (res->fell_back && c->rank == 0)
      fprintf(stderr, "nvae-train: WARNING: resuming from %s, not the newest checkpoint\n",
              res->path);
    int rc = ckpt_load(res->path, &m, st, c, e);
    res->resumed = !rc;
    res->step = m.step;
    res->world_size = m.world_size;
    ckpt_manifest_free(&m);
    return rc;
  }
  free(cands);
  nvae_errf(e, NVAE_EXIT_USAGE,
            "--resume auto: none of the %d checkpoint(s) in %s verifies (see the warnings "
            "above); not starting fresh over them: fix or move that directory",
            n_cands, dir);
  return NVAE_EXIT_USAGE; /* every rank, with the same message: nvae-train prints rank 0's */
}

static int resume_path(const char *arg, int reshard, ckpt_state *st, const train_comm *c,
                       ckpt_resume_result *res, nvae_err *e) {
  double v[2] = {KIND_ERROR, 0};
  if (c->rank == 0) {
    char p[4096 + 64];
    const char *base = strrchr(arg, '/');
    base = base && base[1] ? base + 1 : arg;
    int64_t step = 0;
    snprintf(p, sizeof p, "%s/" CKPT_MANIFEST, arg);
    if (exists(p) || ckpt_name_parse_step_dir(base, &step) == 0) {
      v[0] = KIND_DIRECT;
    } else {
      snprintf(p, sizeof p, "%s/" CKPT_LATEST, arg);
      const int in_path = exists(p);
      char dir[4096];
      if (in_path)
        snprintf(dir, sizeof dir, "%s", arg);
      else
        snprintf(dir, sizeof dir, "%s/" CKPT_SUBDIR, arg);
      snprintf(p, sizeof p, "%s/" CKPT_LATEST, dir);
      if (!exists(p)) {
        nvae_errf(e, NVAE_EXIT_USAGE,
                  "--resume %s: not a checkpoint directory (no %s), nor a directory holding "
                  "LATEST or checkpoints/LATEST",
                  arg, CKPT_MANIFEST);
      } else if (read_latest(dir, &step, e) == 0) {
        v[0] = in_path ? KIND_IN_PATH : KIND_IN_RUN;
        v[1] = (double)step;
      }
    }
  }
  ckpt_comm_bcast_f64(c, v, 2);
  if (v[0] == KIND_ERROR) { /* rank 0 has the message */
    int *codes = nvae_calloc((size_t)(c->world > 0 ? c->world : 1), sizeof(int));
    codes[0] = NVAE_EXIT_USAGE;
    ckpt_comm_report(c, 0, codes, 0, e);
    free(codes);
    return NVAE_EXIT_USAGE;
  }
  char name[CKPT_NAME_MAX];
  ckpt_name_step_dir((int64_t)v[1], name, sizeof name);
  if (v[0] == KIND_DIRECT)
    snprintf(res->path, sizeof res->path, "%s", arg);
  else if (v[0] == KIND_IN_PATH)
    snprintf(res->path, sizeof res->path, "%s/%s", arg, name);
  else
    snprintf(res->path, sizeof res->path, "%s/" CKPT_SUBDIR "/%s", arg, name);
  ckpt_manifest m;
  if (try_candidate(res->path, st, c, reshard, 0, &m, e) != CKPT_FINE) return NVAE_EXIT_USAGE;
  int rc = ckpt_load(res->path, &m, st, c, e);
  res->resumed = !rc;
  res->step = m.step;
  res->world_size = m.world_size;
  ckpt_manifest_free(&m);
  return rc;
}

int ckpt_resume(const char *run_dir, const char *mode, int reshard, ckpt_state *st,
                const train_comm *c, ckpt_resume_result *res, nvae_err *e) {
  memset(res, 0, sizeof *res);
  if (strcmp(mode, "auto") == 0) return resume_auto(run_dir, reshard, st, c, res, e);
  return resume_path(mode, reshard, st, c, res, e);
}
