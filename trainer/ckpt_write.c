/* The checkpoint commit protocol (ckpt_write.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/ckpt_write.h"
#include "kernels/base/clock.h"

#include "trainer/ckpt_comm.h"
#include "trainer/ckpt_fs.h"
#include "trainer/ckpt_hooks.h"
#include "trainer/ckpt_manifest.h"
#include "trainer/ckpt_names.h"
#include "trainer/ckpt_retention.h"
#include "trainer/run_dir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* What one file contributes to the success all-reduce. */
typedef struct file_sum {
  uint64_t size;
  uint32_t crc;
} file_sum;

/* HDF5's write errors span lines ("file write failed: time = ...\n, filename = ..., errno = 28,
 * error message = 'No space left on device', ..."): keep the system's message, one line. */
static void shorten_hdf5_message(nvae_err *e) {
  char *at = strstr(e->msg, "file write failed:");
  const char *sys = strstr(e->msg, "error message = '");
  if (!at || !sys) return;
  sys += strlen("error message = '");
  char tail[200];
  snprintf(tail, sizeof tail, "file write failed: %.*s", (int)strcspn(sys, "'"), sys);
  snprintf(at, sizeof e->msg - (size_t)(at - e->msg), "%s", tail);
}

/* This rank's files in tmp: written, fsynced, summed. */
static int write_own_files(const char *tmp, int64_t step, const ckpt_state *st, const train_comm *c,
                           file_sum sums[3], nvae_err *e) {
  const registry *reg = st->model.reg;
  size_t n = strlen(tmp) + CKPT_NAME_MAX + 2;
  char *path = nvae_malloc(n);
  char name[CKPT_NAME_MAX];
  /* the space first: a full disk is one clean error here, not an HDF5 write failure */
  int64_t lo0, hi0;
  ckpt_slice(reg->param_arena_numel, c->rank, c->world, &lo0, &hi0);
  const uint64_t need =
      (uint64_t)(8 * (hi0 - lo0) + 4 * reg->buffer_arena_numel + 8 * reg->counter_arena_numel) +
      (c->rank == 0 ? (uint64_t)(4 * (reg->param_arena_numel + reg->buffer_arena_numel +
                                      reg->sr_vector_numel) +
                                 8 * reg->counter_arena_numel)
                    : 0);
  int rc = ckpt_fs_reserve(tmp, need + need / 100 + (1u << 20), e);
  if (!rc && c->rank == 0) {
    snprintf(path, n, "%s/" CKPT_MODEL, tmp);
    model_io_info info = {step, st->epoch, c->world, st->geom, MODEL_IO_FORMAT_VERSION};
    rc = model_io_save_state(path, &st->model, st->cfg, &info, e);
    shorten_hdf5_message(e);
    if (!rc) rc = ckpt_fs_crc_file(path, 1, &sums[0].size, &sums[0].crc, e);
  }
  if (!rc) {
    ckpt_optim_info oi;
    memset(&oi, 0, sizeof oi);
    snprintf(oi.optimizer, sizeof oi.optimizer, "%s", st->optimizer);
    oi.t = st->optim_t;
    oi.numel = reg->param_arena_numel;
    int64_t lo, hi;
    ckpt_slice(oi.numel, c->rank, c->world, &lo, &hi);
    oi.offset = lo;
    oi.count = hi - lo;
    oi.step = step;
    oi.rank = c->rank;
    oi.world_size = c->world;
    ckpt_name_optim(c->rank, name, sizeof name);
    snprintf(path, n, "%s/%s", tmp, name);
    rc = ckpt_optim_write(path, &oi, st->optim_m + lo, st->optim_v + lo, e);
    ckpt_hook_point("optim_written", step);
    if (!rc && ckpt_hook_enospc(step))
      rc = nvae_errf(e, NVAE_EXIT_RUNTIME,
                     "%s: writing failed: No space left on device (injected by "
                     "NVAE_CKPT_FAULT)",
                     path);
    if (!rc) rc = ckpt_fs_crc_file(path, 1, &sums[1].size, &sums[1].crc, e);
  }
  if (!rc) {
    ckpt_rank_state rs = st->rank;
    rs.step = step;
    rs.rank = c->rank;
    rs.world_size = c->world;
    ckpt_name_rank(c->rank, name, sizeof name);
    snprintf(path, n, "%s/%s", tmp, name);
    rc = ckpt_rank_write(path, &rs, st->model.buffers, reg->buffer_arena_numel, st->model.counters,
                         reg->counter_arena_numel, e);
    ckpt_hook_point("rank_written", step);
    if (!rc) rc = ckpt_fs_crc_file(path, 1, &sums[2].size, &sums[2].crc, e);
  }
  if (!rc) rc = ckpt_fs_fsync(tmp, e); /* the directory entries of our files */
  free(path);
  return rc;
}

/* Rank 0, once every rank's files are durable: MANIFEST, rename, LATEST. */
static int commit(const char *dir, const char *tmp, const char *final, int64_t step, int world,
                  const double *all, double *bytes, nvae_err *e) {
  ckpt_manifest m = {CKPT_FORMAT_VERSION, step, world, 2 * world + 1, NULL};
  m.files = nvae_calloc((size_t)m.n_files, sizeof *m.files);
  *bytes = 0;
  for (int k = 0; k < m.n_files; k++) {
    /* all[] after the ranks' codes: per rank (optim size, crc, rank size, crc), then model */
    ckpt_manifest_file *f = &m.files[k];
    const double *v;
    if (k == 0) {
      snprintf(f->name, sizeof f->name, CKPT_MODEL);
      v = all + world + 4 * world;
    } else {
      const int r = (k - 1) / 2, which = (k - 1) % 2;
      if (which == 0)
        ckpt_name_optim(r, f->name, sizeof f->name);
      else
        ckpt_name_rank(r, f->name, sizeof f->name);
      v = all + world + 4 * r + 2 * which;
    }
    f->size = (uint64_t)v[0];
    f->crc32c = (uint32_t)v[1];
    *bytes += v[0];
  }
  size_t len = 0;
  char *text = ckpt_manifest_format(&m, &len);
  free(m.files);
  size_t n = strlen(dir) + 2 * CKPT_NAME_MAX;
  char *path = nvae_malloc(n), *aside = nvae_malloc(n);
  snprintf(path, n, "%s/" CKPT_MANIFEST, tmp);
  ckpt_hook_point("before_manifest", step);
  int rc = ckpt_fs_write_file(path, text, len, e);
  *bytes += (double)len;
  free(text);
  if (!rc) rc = ckpt_fs_fsync(tmp, e);
  if (!rc) ckpt_hook_point("manifest_written", step);
  /* A directory of the same step exists when an earlier run died after its rename but before
   * LATEST, or when this run fell back past a damaged one: the new one replaces it. */
  int old_left = 0;
  snprintf(aside, n, "%s.del", final);
  if (!rc) rc = ckpt_fs_rename_dir(tmp, final, aside, &old_left, e);
  if (!rc) rc = ckpt_fs_fsync(dir, e);
  if (!rc && old_left) {
    nvae_err ignored = {0};
    ckpt_fs_remove_dir(aside, &ignored);
  }
  if (!rc) ckpt_hook_point("renamed", step);
  /* LATEST: temp + fsync + rename + fsync of the directory (ckpt_fs_replace_file, spelled out
   * here for the kill points between the steps) */
  char latest[CKPT_NAME_MAX + 2];
  ckpt_name_step_dir(step, latest, sizeof latest - 1);
  strcat(latest, "\n");
  snprintf(path, n, "%s/" CKPT_LATEST ".tmp", dir);
  snprintf(aside, n, "%s/" CKPT_LATEST, dir);
  if (!rc) rc = ckpt_fs_write_file(path, latest, strlen(latest), e);
  if (!rc) ckpt_hook_point("latest_tmp", step);
  if (!rc && rename(path, aside) != 0)
    rc = nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: rename to %s failed: %s", path, aside,
                   strerror(errno));
  if (!rc) rc = ckpt_fs_fsync(dir, e);
  if (!rc) ckpt_hook_point("latest_replaced", step);
  free(path);
  free(aside);
  return rc;
}

int ckpt_write(const char *dir, int64_t step, const ckpt_state *st, const train_comm *c,
               const ckpt_write_opts *wo, ckpt_write_result *res, nvae_err *e) {
  const double t0 = nvae_now_s();
  const int W = c->world > 0 ? c->world : 1, rank = c->rank;
  memset(res, 0, sizeof *res);
  char name[CKPT_NAME_MAX];
  ckpt_name_step_dir(step, name, sizeof name);
  size_t n = strlen(dir) + 2 * CKPT_NAME_MAX;
  char *tmp = nvae_malloc(n), *final = nvae_malloc(n);
  snprintf(tmp, n, "%s/%s.tmp", dir, name);
  snprintf(final, n, "%s/%s", dir, name);

  /* ---- 1. every rank: its files ---- */
  file_sum sums[3] = {{0, 0}, {0, 0}, {0, 0}};
  int rc = run_dir_mkdirs(tmp, e);
  if (!rc) rc = write_own_files(tmp, step, st, c, sums, e);
  if (!rc) ckpt_hook_point("files_synced", step);

  /* ---- 2. one all-reduce: [codes W][per rank: optim size, crc, rank size, crc][model size,
   * crc][signal] ---- */
  const int len = W + 4 * W + 2 + 1;
  double *all = nvae_calloc((size_t)len, sizeof(double));
  all[rank] = rc;
  double *mine = all + W + 4 * rank;
  mine[0] = (double)sums[1].size;
  mine[1] = (double)sums[1].crc;
  mine[2] = (double)sums[2].size;
  mine[3] = (double)sums[2].crc;
  if (rank == 0) {
    all[W + 4 * W] = (double)sums[0].size;
    all[W + 4 * W + 1] = (double)sums[0].crc;
  }
  all[len - 1] = wo->signal_pending ? 1 : 0;
  train_comm_sum(c, all, len);
  res->any_signal = all[len - 1] > 0;
  int first = -1;
  int *codes = nvae_calloc((size_t)W, sizeof(int));
  for (int r = 0; r < W; r++) {
    codes[r] = (int)all[r];
    if (first < 0 && codes[r]) first = r;
  }
  if (first >= 0) {
    if (rank == 0) { /* every rank is done with the directory: free the space */
      nvae_err ignored = {0};
      ckpt_fs_remove_dir(tmp, &ignored);
    }
    if (rank == first)
      snprintf(e->msg + strlen(e->msg), sizeof e->msg - strlen(e->msg),
               " (checkpoint %s not written; the previous one and LATEST are unchanged)", name);
    rc = ckpt_comm_report(c, first, codes, 0, e);
    goto out;
  }

  /* ---- 3./4. rank 0: MANIFEST, rename, LATEST, retention ---- */
  double bytes = 0;
  if (rank == 0) {
    rc = commit(dir, tmp, final, step, W, all, &bytes, e);
    if (!rc && wo->keep_last > 0) {
      nvae_err re = {0};
      if (ckpt_retention_apply(dir, wo->keep_last, wo->keep_every, step, step, &re))
        fprintf(stderr, "nvae-train: WARNING: retention: %s\n", re.msg);
    }
  } else {
    ckpt_hook_point("peer_wait", step);
  }

  /* ---- 5. rank 0's result (and late signals) to every rank ---- */
  double v[2] = {rank == 0 ? rc : 0, wo->signal_pending ? 1 : 0};
  train_comm_sum(c, v, 2);
  res->any_signal = res->any_signal || v[1] > 0;
  if (v[0] != 0) {
    codes[0] = (int)v[0];
    rc = ckpt_comm_report(c, 0, codes, 0, e);
    goto out;
  }
  res->seconds = nvae_now_s() - t0;
  res->bytes = bytes;
  ckpt_comm_bcast_f64(c, &res->bytes, 1);
  if (rank == 0 && !wo->quiet) {
    printf("checkpoint       %s: %d files, %.3f GB in %.2f s (%.2f GB/s)\n", final, 2 * W + 2,
           res->bytes / 1e9, res->seconds,
           res->seconds > 0 ? res->bytes / 1e9 / res->seconds : 0.0);
    fflush(stdout);
  }
out:
  free(codes);
  free(all);
  free(tmp);
  free(final);
  return rc;
}
