/* Verification and loading of one checkpoint (ckpt_read.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/ckpt_read.h"

#include "trainer/ckpt_comm.h"
#include "trainer/ckpt_fs.h"
#include "trainer/ckpt_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void join(char *buf, size_t n, const char *dir, const char *name) {
  snprintf(buf, n, "%s/%s", dir, name);
}

/* The file's size and CRC against the MANIFEST entry. */
static int check_file(const char *dir, const ckpt_manifest *m, const char *name, nvae_err *e) {
  char path[4096];
  join(path, sizeof path, dir, name);
  const ckpt_manifest_file *f = ckpt_manifest_find(m, name);
  if (!f) return nvae_errf(e, NVAE_EXIT_USAGE, "%s/" CKPT_MANIFEST ": %s is not listed", dir, name);
  uint64_t size = 0;
  uint32_t crc = 0;
  if (ckpt_fs_crc_file(path, 0, &size, &crc, e)) return e->code;
  if (size != f->size)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: %llu bytes, the MANIFEST says %llu (truncated or replaced)", path,
                     (unsigned long long)size, (unsigned long long)f->size);
  if (crc != f->crc32c)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: checksum mismatch: crc32c %08x, the MANIFEST says %08x (the file is "
                     "damaged)",
                     path, crc, f->crc32c);
  return 0;
}

/* Old ranks j whose optimizer slices overlap this rank's new slice: [*j0, *j1). */
static void overlapping(int64_t numel, int world_old, int rank, int world, int *j0, int *j1) {
  int64_t lo, hi;
  ckpt_slice(numel, rank, world, &lo, &hi);
  *j0 = world_old;
  *j1 = 0;
  for (int j = 0; j < world_old; j++) {
    int64_t a, b;
    ckpt_slice(numel, j, world_old, &a, &b);
    if (a < hi && b > lo && b > a) {
      if (j < *j0) *j0 = j;
      *j1 = j + 1;
    }
  }
  if (*j1 <= *j0) *j0 = *j1 = 0; /* an empty slice reads nothing */
}

static int verify_config(const char *dir, const nvae_config *cfg, int64_t numel, nvae_err *e,
                         int *verdict) {
  char path[4096];
  join(path, sizeof path, dir, CKPT_MODEL);
  nvae_config *file_cfg = nvae_malloc(sizeof *file_cfg);
  int rc = model_io_read_info(path, file_cfg, NULL, e);
  *verdict = CKPT_DAMAGED;
  if (!rc) {
    const char *key = config_first_model_difference(cfg, file_cfg);
    if (key) {
      const config_key *k = config_find_key(key, strlen(key));
      char here[256] = "?", there[256] = "?";
      if (k) {
        config_format_value(cfg, k, here, sizeof here);
        config_format_value(file_cfg, k, there, sizeof there);
      }
      *verdict = CKPT_REFUSED;
      rc = nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: the checkpoint's model differs from this config: %s is %s in the "
                     "checkpoint, %s here (resume with the config the run was started with)",
                     path, key, there, here);
    }
  }
  free(file_cfg);
  if (rc) return rc;
  char name[CKPT_NAME_MAX];
  ckpt_name_optim(0, name, sizeof name);
  join(path, sizeof path, dir, name);
  ckpt_optim_info oi;
  if (ckpt_optim_read_info(path, &oi, e)) return e->code;
  const char *want = cfg->optim.name == NVAE_OPTIM_ADAM ? "adam" : "adamax";
  *verdict = CKPT_REFUSED;
  if (strcmp(oi.optimizer, want) != 0)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: the checkpoint's optimizer state is %s's, this config has optim.name "
                     "%s",
                     path, oi.optimizer, want);
  if (oi.numel != numel)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: optimizer state of %lld elements, this model has %lld parameters "
                     "(with alignment)",
                     path, (long long)oi.numel, (long long)numel);
  *verdict = CKPT_FINE;
  return 0;
}

int ckpt_verify(const char *path, const nvae_config *cfg, int64_t numel, const train_comm *c,
                int reshard, ckpt_manifest *m, nvae_err *e) {
  memset(m, 0, sizeof *m);
  char mpath[4096];
  join(mpath, sizeof mpath, path, CKPT_MANIFEST);
  char *text = NULL;
  size_t len = 0;
  if (ckpt_fs_read_small(mpath, CKPT_MANIFEST_MAX_BYTES, &text, &len, e)) return CKPT_DAMAGED;
  int rc = ckpt_manifest_parse(text, len, mpath, m, e);
  free(text);
  if (rc || ckpt_manifest_check_complete(m, mpath, e)) return CKPT_DAMAGED;
  const int W = c->world, Wold = m->world_size;
  if (Wold != W && !reshard) {
    nvae_errf(e, NVAE_EXIT_USAGE,
              "%s: written by %d rank(s), this run has %d: resume with --reshard to re-slice it "
              "(docs/checkpoint-format.md)",
              path, Wold, W);
    return CKPT_REFUSED;
  }
  char name[CKPT_NAME_MAX];
  if (c->rank == 0 && check_file(path, m, CKPT_MODEL, e)) return CKPT_DAMAGED;
  int j0, j1;
  if (Wold == W)
    j0 = c->rank, j1 = c->rank + 1;
  else
    overlapping(numel, Wold, c->rank, W, &j0, &j1);
  for (int j = j0; j < j1; j++) {
    ckpt_name_optim(j, name, sizeof name);
    if (check_file(path, m, name, e)) return CKPT_DAMAGED;
  }
  for (int j = 0; j < Wold; j++) {
    const int mine = Wold == W ? j == c->rank : c->rank == 0;
    if (!mine) continue;
    ckpt_name_rank(j, name, sizeof name);
    if (check_file(path, m, name, e)) return CKPT_DAMAGED;
  }
  if (c->rank == 0) {
    int verdict = CKPT_FINE;
    if (verify_config(path, cfg, numel, e, &verdict)) return verdict;
  }
  return CKPT_FINE;
}

/* ---- loading -----------------------------------------------------------------------------------
 */

/* Every rank's rc → one agreed result. */
static int agree(const train_comm *c, int rc, nvae_err *e) {
  int *codes = nvae_calloc((size_t)(c->world > 0 ? c->world : 1), sizeof(int));
  int first = ckpt_comm_codes(c, rc, codes);
  if (first >= 0) rc = ckpt_comm_report(c, first, codes, 0, e);
  free(codes);
  return first >= 0 ? rc : 0;
}

static void bcast_i64(const train_comm *c, int64_t *v, int64_t n) {
  if (c->world <= 1) return;
  enum { CHUNK = 4096 };
  double buf[CHUNK];
  for (int64_t at = 0; at < n; at += CHUNK) {
    const int k = (int)(n - at < CHUNK ? n - at : CHUNK);
    for (int i = 0; i < k; i++)
      buf[i] = (double)v[at + i]; /* counters stay far below 2^53 */
    ckpt_comm_bcast_f64(c, buf, k);
    for (int i = 0; i < k; i++)
      v[at + i] = (int64_t)buf[i];
  }
}

static int load_model(const char *path, ckpt_state *st, const train_comm *c, nvae_err *e) {
  const registry *reg = st->model.reg;
  int rc = 0;
  if (c->rank == 0) {
    char p[4096];
    join(p, sizeof p, path, CKPT_MODEL);
    model_io_info info;
    rc = model_io_load_state(p, &st->model, st->cfg, &info, e);
    if (!rc) st->epoch = info.epoch;
  }
  if ((rc = agree(c, rc, e))) return rc;
  train_comm_bcast(c, st->model.params, (long long)reg->param_arena_numel);
  train_comm_bcast(c, st->model.buffers, (long long)reg->buffer_arena_numel);
  train_comm_bcast(c, st->model.sr, (long long)reg->sr_vector_numel);
  bcast_i64(c, st->model.counters, reg->counter_arena_numel);
  double flags[2] = {st->model.sr_initialized, (double)st->epoch};
  ckpt_comm_bcast_f64(c, flags, 2);
  st->model.sr_initialized = (int)flags[0];
  st->epoch = (int64_t)flags[1];
  return 0;
}

static int load_optim(const char *path, const ckpt_manifest *m, ckpt_state *st, const train_comm *c,
                      nvae_err *e) {
  const int64_t numel = st->model.reg->param_arena_numel;
  const int Wold = m->world_size;
  int64_t lo, hi;
  ckpt_slice(numel, c->rank, c->world, &lo, &hi);
  int j0, j1;
  if (Wold == c->world)
    j0 = c->rank, j1 = c->rank + 1;
  else
    overlapping(numel, Wold, c->rank, c->world, &j0, &j1);
  if (c->rank == 0 && j0 > 0) j0 = 0; /* rank 0 reads optim-00000's t (an attribute) */
  int rc = 0;
  double t = 0;
  for (int j = j0; j < j1 && !rc; j++) {
    char name[CKPT_NAME_MAX], p[4096];
    ckpt_name_optim(j, name, sizeof name);
    join(p, sizeof p, path, name);
    ckpt_optim_info oi;
    rc = ckpt_optim_read_info(p, &oi, e);
    if (!rc && (oi.world_size != Wold || oi.rank != j || oi.numel != numel || oi.step != m->step))
      rc = nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: rank %d of %d, step %lld, %lld elements; the MANIFEST and the model "
                     "say rank %d of %d, step %lld, %lld elements",
                     p, oi.rank, oi.world_size, (long long)oi.step, (long long)oi.numel, j, Wold,
                     (long long)m->step, (long long)numel);
    if (!rc) rc = ckpt_optim_read_range(p, &oi, lo, hi, st->optim_m, st->optim_v, e);
    if (!rc && j == 0) t = (double)oi.t;
  }
  if ((rc = agree(c, rc, e))) return rc;
  ckpt_comm_allgather_f32(c, st->optim_m, numel, lo, hi);
  ckpt_comm_allgather_f32(c, st->optim_v, numel, lo, hi);
  ckpt_comm_bcast_f64(c, &t, 1);
  st->optim_t = (int64_t)t;
  return 0;
}

/* The rank state as doubles, for the broadcast after a reshard. */
enum { PACK_FIXED = 12, PACK_LEN = PACK_FIXED + CKPT_MAX_INTERVAL_SUMS };

static void pack(const ckpt_rank_state *s, double *v) {
  const double f[PACK_FIXED] = {(double)s->step,
                                (double)s->batch_size,
                                (double)s->dataset_images,
                                (double)s->sampler_epoch,
                                (double)s->sampler_position,
                                (double)s->skipped,
                                (double)s->streak,
                                (double)s->last_eval,
                                (double)s->interval_steps,
                                (double)s->n_interval_sums,
                                s->interval_seconds,
                                (double)s->metrics_bytes};
  memcpy(v, f, sizeof f);
  for (int k = 0; k < CKPT_MAX_INTERVAL_SUMS; k++)
    v[PACK_FIXED + k] = k < s->n_interval_sums ? s->interval_sums[k] : 0;
}

static void unpack(const double *v, ckpt_rank_state *s) {
  s->step = (int64_t)v[0];
  s->batch_size = (int)v[1];
  s->dataset_images = (int64_t)v[2];
  s->sampler_epoch = (uint64_t)v[3];
  s->sampler_position = (uint64_t)v[4];
  s->skipped = (int64_t)v[5];
  s->streak = (int64_t)v[6];
  s->last_eval = (int64_t)v[7];
  s->interval_steps = (int)v[8];
  s->n_interval_sums = (int)v[9];
  s->interval_seconds = v[10];
  s->metrics_bytes = (int64_t)v[11];
  for (int k = 0; k < CKPT_MAX_INTERVAL_SUMS; k++)
    s->interval_sums[k] = v[PACK_FIXED + k];
}

static int load_rank_state(const char *path, const ckpt_manifest *m, ckpt_state *st,
                           const train_comm *c, nvae_err *e) {
  const registry *reg = st->model.reg;
  const int Wold = m->world_size;
  char name[CKPT_NAME_MAX], p[4096];
  int rc = 0;
  if (Wold == c->world) {
    ckpt_name_rank(c->rank, name, sizeof name);
    join(p, sizeof p, path, name);
    rc = ckpt_rank_read(p, &st->rank, st->model.buffers, reg->buffer_arena_numel,
                        st->model.counters, reg->counter_arena_numel, e);
    if (!rc && (st->rank.step != m->step || st->rank.rank != c->rank))
      rc = nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: rank %d, step %lld; the MANIFEST says rank %d, "
                     "step %lld",
                     p, st->rank.rank, (long long)st->rank.step, c->rank, (long long)m->step);
    return agree(c, rc, e);
  }
  /* Reshard: the old rank 0's loop state, the interval sums averaged over the old ranks (the
   * logged average over ranks stays what it was); BN statistics stay model.h5's. */
  double v[PACK_LEN] = {0};
  if (c->rank == 0) {
    double sums[CKPT_MAX_INTERVAL_SUMS] = {0};
    for (int j = 0; j < Wold && !rc; j++) {
      ckpt_rank_state rs;
      ckpt_name_rank(j, name, sizeof name);
      join(p, sizeof p, path, name);
      rc = ckpt_rank_read(p, &rs, NULL, 0, NULL, 0, e);
      if (!rc && (rs.step != m->step || rs.rank != j || rs.world_size != Wold))
        rc = nvae_errf(e, NVAE_EXIT_USAGE,
                       "%s: rank %d of %d, step %lld; the MANIFEST says "
                       "rank %d of %d, step %lld",
                       p, rs.rank, rs.world_size, (long long)rs.step, j, Wold, (long long)m->step);
      if (rc) break;
      if (j == 0) st->rank = rs;
      for (int k = 0; k < rs.n_interval_sums; k++)
        sums[k] += rs.interval_sums[k];
    }
    for (int k = 0; k < st->rank.n_interval_sums; k++)
      st->rank.interval_sums[k] = sums[k] / Wold;
    pack(&st->rank, v);
  }
  if ((rc = agree(c, rc, e))) return rc;
  ckpt_comm_bcast_f64(c, v, PACK_LEN);
  int64_t metrics_bytes = st->rank.metrics_bytes;
  unpack(v, &st->rank);
  if (c->rank == 0)
    st->rank.metrics_bytes = metrics_bytes;
  else
    st->rank.metrics_bytes = -1;
  st->rank.rank = c->rank;
  st->rank.world_size = Wold;
  return 0;
}

int ckpt_load(const char *path, const ckpt_manifest *m, ckpt_state *st, const train_comm *c,
              nvae_err *e) {
  int rc = load_model(path, st, c, e);
  if (!rc) rc = load_optim(path, m, st, c, e);
  if (!rc) rc = load_rank_state(path, m, st, c, e);
  return rc;
}
