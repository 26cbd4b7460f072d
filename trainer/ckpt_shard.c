/* optim-RRRRR.h5 and rank-RRRRR.h5 (ckpt_shard.h). HDF5 errors are caught quietly and reported
 * as one line naming the file (dataset/h5util.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/ckpt_shard.h"

#include "dataset/h5util.h"
#include "trainer/ckpt_hooks.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define OPTIM_FORMAT "nvae-train optimizer slice"
#define RANK_FORMAT "nvae-train rank state"
#define SHARD_FORMAT_VERSION 1

void ckpt_slice(int64_t n, int rank, int world, int64_t *lo, int64_t *hi) {
  /* n·r fits in int64 for any arena (n < 2^40) and world (< 2^20) */
  *lo = n * rank / world;
  *hi = n * (rank + 1) / world;
}

/* ---- attributes --------------------------------------------------------------------------------
 */

static herr_t attr_put(hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                       const void *v) {
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, mem_type, v);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  return rc;
}

static herr_t put_i64(hid_t f, const char *name, int64_t v) {
  return attr_put(f, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

static herr_t put_f64(hid_t f, const char *name, double v) {
  return attr_put(f, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

static herr_t put_str(hid_t f, const char *name, const char *text) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  herr_t rc = attr_put(f, name, t, t, &text);
  H5Tclose(t);
  return rc;
}

/* A scalar numeric attribute; -1 when missing or not a single value. */
static herr_t get_num(hid_t f, const char *name, hid_t mem_type, void *v) {
  if (H5Aexists(f, name) <= 0) return -1;
  hid_t a = H5Aopen(f, name, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t sp = H5Aget_space(a);
  herr_t rc = H5Sget_simple_extent_npoints(sp) == 1 ? H5Aread(a, mem_type, v) : -1;
  H5Sclose(sp);
  H5Aclose(a);
  return rc;
}

static int get_i64(hid_t f, const char *name, int64_t *v) {
  return get_num(f, name, H5T_NATIVE_INT64, v) < 0 ? -1 : 0;
}

/* A string attribute into buf (variable or fixed length); -1 when missing or not a string. */
static int get_str(hid_t f, const char *name, char *buf, size_t n) {
  buf[0] = '\0';
  if (H5Aexists(f, name) <= 0) return -1;
  hid_t a = H5Aopen(f, name, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t ft = H5Aget_type(a);
  int rc = -1;
  if (H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0) {
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(ft));
    char *p = NULL;
    if (H5Aread(a, mt, &p) >= 0 && p) {
      snprintf(buf, n, "%s", p);
      H5free_memory(p);
      rc = 0;
    }
    H5Tclose(mt);
  }
  H5Tclose(ft);
  H5Aclose(a);
  return rc;
}

/* ---- datasets ----------------------------------------------------------------------------------
 */

/* A 1-D dataset of n elements; the first failing call's HDF5 message goes into q at once (any
 * later HDF5 call, even H5Sclose, clears the error stack). */
static void put_array(h5u_seq *q, hid_t f, const char *name, hid_t file_type, hid_t mem_type,
                      int64_t n, const void *data) {
  if (!q->ok) return;
  hsize_t d = (hsize_t)n;
  hid_t sp = H5Screate_simple(1, &d, NULL);
  if (!h5u_step(q, sp)) return;
  hid_t ds = H5Dcreate2(f, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (h5u_step(q, ds) && n > 0)
    h5u_step(q, H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
  if (ds >= 0) {
    herr_t rc = H5Dclose(ds);
    h5u_step(q, rc);
  }
  H5Sclose(sp);
}

/* Elements [first, first + n) of the 1-D dataset `name` of want_len elements into dst. */
static int get_array(hid_t f, const char *path, const char *name, hid_t mem_type, int64_t want_len,
                     int64_t first, int64_t n, void *dst, nvae_err *e) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: dataset /%s is missing", path, name);
  hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  if (ds < 0) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: /%s is not a dataset", path, name);
  hid_t sp = H5Dget_space(ds);
  int nd = H5Sget_simple_extent_ndims(sp);
  hsize_t len = 0;
  if (nd == 1) H5Sget_simple_extent_dims(sp, &len, NULL);
  if (nd != 1 || (int64_t)len != want_len) {
    H5Sclose(sp);
    H5Dclose(ds);
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: /%s has %s%lld elements, expected %lld", path, name,
                     nd == 1 ? "" : "not 1-D: ", (long long)len, (long long)want_len);
  }
  herr_t rc = 0;
  if (n > 0) {
    hsize_t start = (hsize_t)first, count = (hsize_t)n;
    hid_t ms = H5Screate_simple(1, &count, NULL);
    rc = H5Sselect_hyperslab(sp, H5S_SELECT_SET, &start, NULL, &count, NULL);
    if (rc >= 0) rc = H5Dread(ds, mem_type, ms, sp, H5P_DEFAULT, dst);
    H5Sclose(ms);
  }
  char why[512] = "";
  if (rc < 0) h5u_last_error(why, sizeof why);
  H5Sclose(sp);
  H5Dclose(ds);
  if (rc < 0) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: reading /%s failed: %s", path, name, why);
  return 0;
}

static hid_t create_file(const char *path, h5u_seq *q) {
  hid_t fapl = h5u_fapl(1);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  h5u_step(q, f);
  return f;
}

static hid_t open_file(const char *path, const char *format, nvae_err *e) {
  if (access(path, R_OK) != 0) {
    nvae_errf(e, NVAE_EXIT_USAGE, "%s: cannot read: %s", path, strerror(errno));
    return -1;
  }
  hid_t fapl = h5u_fapl(0);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  if (f < 0) {
    char why[512];
    h5u_last_error(why, sizeof why);
    nvae_errf(e, NVAE_EXIT_USAGE, "%s: not a readable HDF5 file: %s", path, why);
    return -1;
  }
  char fmt[64];
  int64_t version = 0;
  if (get_str(f, "format", fmt, sizeof fmt) != 0 || strcmp(fmt, format) != 0) {
    H5Fclose(f);
    nvae_errf(e, NVAE_EXIT_USAGE, "%s: not an nvae-train checkpoint file (format is not \"%s\")",
              path, format);
    return -1;
  }
  if (get_i64(f, "format_version", &version) != 0 || version != SHARD_FORMAT_VERSION) {
    H5Fclose(f);
    nvae_errf(e, NVAE_EXIT_USAGE, "%s: format_version %lld; this program reads version %d", path,
              (long long)version, SHARD_FORMAT_VERSION);
    return -1;
  }
  return f;
}

/* HDF5's "file write failed: time = ..., errno = 28, error message = 'No space left on
 * device', ..." spans lines: keep its first words and the system's message. */
static void short_why(const char *why, char *out, size_t n) {
  const char *msg = strstr(why, "error message = '");
  size_t head = strcspn(why, ":\n");
  if (!msg) {
    snprintf(out, n, "%.*s", (int)strcspn(why, "\n"), why);
    return;
  }
  msg += strlen("error message = '");
  snprintf(out, n, "%.*s: %.*s", (int)head, why, (int)strcspn(msg, "'"), msg);
}

static int close_written(hid_t f, const char *path, h5u_seq *q, nvae_err *e) {
  if (f >= 0) {
    herr_t rc = H5Fclose(f);
    if (q->ok) h5u_step(q, rc);
  }
  if (!q->ok) {
    char why[256];
    short_why(q->why, why, sizeof why);
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: writing failed: %s", path, why);
  }
  return 0;
}

/* ---- optim-RRRRR.h5 ----------------------------------------------------------------------------
 */

static const char *second_moment_name(const char *optimizer) {
  return strcmp(optimizer, "adam") == 0 ? "exp_avg_sq" : "exp_inf";
}

int ckpt_optim_write(const char *path, const ckpt_optim_info *in, const float *m, const float *v,
                     nvae_err *e) {
  h5u_quiet quiet;
  h5u_quiet_begin(&quiet);
  h5u_seq q = {1, ""};
  hid_t f = create_file(path, &q);
  if (q.ok) {
    h5u_step(&q, put_str(f, "format", OPTIM_FORMAT));
    h5u_step(&q, put_i64(f, "format_version", SHARD_FORMAT_VERSION));
    h5u_step(&q, put_str(f, "optimizer", in->optimizer));
    h5u_step(&q, put_i64(f, "t", in->t));
    h5u_step(&q, put_i64(f, "numel", in->numel));
    h5u_step(&q, put_i64(f, "offset", in->offset));
    h5u_step(&q, put_i64(f, "count", in->count));
    h5u_step(&q, put_i64(f, "step", in->step));
    h5u_step(&q, put_i64(f, "rank", in->rank));
    h5u_step(&q, put_i64(f, "world_size", in->world_size));
    put_array(&q, f, "exp_avg", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, in->count, m);
  }
  if (q.ok) {
    H5Fflush(f, H5F_SCOPE_LOCAL);
    ckpt_hook_point("optim_partial", in->step);
    put_array(&q, f, second_moment_name(in->optimizer), H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, in->count,
              v);
  }
  int rc = close_written(f, path, &q, e);
  h5u_quiet_end(&quiet);
  return rc;
}

int ckpt_optim_read_info(const char *path, ckpt_optim_info *in, nvae_err *e) {
  memset(in, 0, sizeof *in);
  h5u_quiet quiet;
  h5u_quiet_begin(&quiet);
  hid_t f = open_file(path, OPTIM_FORMAT, e);
  int rc = f < 0 ? e->code : 0;
  int64_t rank = -1, world = 0;
  if (!rc && (get_str(f, "optimizer", in->optimizer, sizeof in->optimizer) != 0 ||
              get_i64(f, "t", &in->t) || get_i64(f, "numel", &in->numel) ||
              get_i64(f, "offset", &in->offset) || get_i64(f, "count", &in->count) ||
              get_i64(f, "step", &in->step) || get_i64(f, "rank", &rank) ||
              get_i64(f, "world_size", &world)))
    rc = nvae_errf(e, NVAE_EXIT_USAGE,
                   "%s: an attribute (optimizer, t, numel, offset, count, step, rank, "
                   "world_size) is missing or malformed",
                   path);
  if (!rc && (strcmp(in->optimizer, "adamax") != 0 && strcmp(in->optimizer, "adam") != 0))
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: unknown optimizer \"%s\"", path, in->optimizer);
  if (!rc && (world < 1 || rank < 0 || rank >= world || in->numel < 0 || in->t < 0))
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: rank %lld of world size %lld, numel %lld: invalid",
                   path, (long long)rank, (long long)world, (long long)in->numel);
  if (!rc) {
    int64_t lo, hi;
    ckpt_slice(in->numel, (int)rank, (int)world, &lo, &hi);
    if (in->offset != lo || in->count != hi - lo)
      rc = nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: slice [%lld, +%lld) is not rank %lld's of %lld elements among %lld "
                     "ranks ([%lld, +%lld))",
                     path, (long long)in->offset, (long long)in->count, (long long)rank,
                     (long long)in->numel, (long long)world, (long long)lo, (long long)(hi - lo));
  }
  in->rank = (int)rank;
  in->world_size = (int)world;
  if (f >= 0) H5Fclose(f);
  h5u_quiet_end(&quiet);
  return rc;
}

int ckpt_optim_read_range(const char *path, const ckpt_optim_info *in, int64_t lo, int64_t hi,
                          float *m_arena, float *v_arena, nvae_err *e) {
  int64_t a = lo > in->offset ? lo : in->offset;
  int64_t b = hi < in->offset + in->count ? hi : in->offset + in->count;
  if (b <= a) return 0;
  h5u_quiet quiet;
  h5u_quiet_begin(&quiet);
  hid_t f = open_file(path, OPTIM_FORMAT, e);
  int rc = f < 0 ? e->code : 0;
  if (!rc)
    rc = get_array(f, path, "exp_avg", H5T_NATIVE_FLOAT, in->count, a - in->offset, b - a,
                   m_arena + a, e);
  if (!rc)
    rc = get_array(f, path, second_moment_name(in->optimizer), H5T_NATIVE_FLOAT, in->count,
                   a - in->offset, b - a, v_arena + a, e);
  if (f >= 0) H5Fclose(f);
  h5u_quiet_end(&quiet);
  return rc;
}

/* ---- rank-RRRRR.h5 -----------------------------------------------------------------------------
 */

int ckpt_rank_write(const char *path, const ckpt_rank_state *s, const float *bn_buffers,
                    int64_t n_buffers, const int64_t *bn_counters, int64_t n_counters,
                    nvae_err *e) {
  h5u_quiet quiet;
  h5u_quiet_begin(&quiet);
  h5u_seq q = {1, ""};
  hid_t f = create_file(path, &q);
  if (q.ok) {
    h5u_step(&q, put_str(f, "format", RANK_FORMAT));
    h5u_step(&q, put_i64(f, "format_version", SHARD_FORMAT_VERSION));
    h5u_step(&q, put_i64(f, "step", s->step));
    h5u_step(&q, put_i64(f, "rank", s->rank));
    h5u_step(&q, put_i64(f, "world_size", s->world_size));
    h5u_step(&q, put_i64(f, "batch_size", s->batch_size));
    h5u_step(&q, put_i64(f, "dataset_images", s->dataset_images));
    h5u_step(&q, put_i64(f, "sampler_epoch", (int64_t)s->sampler_epoch));
    h5u_step(&q, put_i64(f, "sampler_position", (int64_t)s->sampler_position));
    h5u_step(&q, put_i64(f, "skipped", s->skipped));
    h5u_step(&q, put_i64(f, "streak", s->streak));
    h5u_step(&q, put_i64(f, "last_eval", s->last_eval));
    h5u_step(&q, put_i64(f, "interval_steps", s->interval_steps));
    h5u_step(&q, put_f64(f, "interval_seconds", s->interval_seconds));
    h5u_step(&q, put_i64(f, "metrics_bytes", s->metrics_bytes));
    put_array(&q, f, "interval_sums", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, s->n_interval_sums,
              s->interval_sums);
    put_array(&q, f, "bn_buffers", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, n_buffers, bn_buffers);
    put_array(&q, f, "bn_counters", H5T_STD_I64LE, H5T_NATIVE_INT64, n_counters, bn_counters);
  }
  int rc = close_written(f, path, &q, e);
  h5u_quiet_end(&quiet);
  return rc;
}

int ckpt_rank_read(const char *path, ckpt_rank_state *s, float *bn_buffers, int64_t n_buffers,
                   int64_t *bn_counters, int64_t n_counters, nvae_err *e) {
  memset(s, 0, sizeof *s);
  h5u_quiet quiet;
  h5u_quiet_begin(&quiet);
  hid_t f = open_file(path, RANK_FORMAT, e);
  int rc = f < 0 ? e->code : 0;
  int64_t rank = -1, world = 0, batch = 0, epoch = -1, pos = -1, isteps = -1;
  if (!rc && (get_i64(f, "step", &s->step) || get_i64(f, "rank", &rank) ||
              get_i64(f, "world_size", &world) || get_i64(f, "batch_size", &batch) ||
              get_i64(f, "dataset_images", &s->dataset_images) ||
              get_i64(f, "sampler_epoch", &epoch) || get_i64(f, "sampler_position", &pos) ||
              get_i64(f, "skipped", &s->skipped) || get_i64(f, "streak", &s->streak) ||
              get_i64(f, "last_eval", &s->last_eval) || get_i64(f, "interval_steps", &isteps) ||
              get_num(f, "interval_seconds", H5T_NATIVE_DOUBLE, &s->interval_seconds) < 0 ||
              get_i64(f, "metrics_bytes", &s->metrics_bytes)))
    rc = nvae_errf(e, NVAE_EXIT_USAGE,
                   "%s: a root attribute (step, rank, world_size, batch_size, dataset_images, "
                   "sampler_epoch, sampler_position, skipped, streak, last_eval, interval_steps, "
                   "interval_seconds, metrics_bytes) is missing or malformed",
                   path);
  if (!rc && (world < 1 || rank < 0 || rank >= world || batch < 1 || epoch < 0 || pos < 0 ||
              pos > s->dataset_images || isteps < 0 || isteps > (1 << 30) || s->step < 0))
    rc = nvae_errf(e, NVAE_EXIT_USAGE,
                   "%s: inconsistent values (rank %lld of %lld, batch %lld, sampler (%lld, %lld) "
                   "of %lld images, interval_steps %lld)",
                   path, (long long)rank, (long long)world, (long long)batch, (long long)epoch,
                   (long long)pos, (long long)s->dataset_images, (long long)isteps);
  s->rank = (int)rank;
  s->world_size = (int)world;
  s->batch_size = (int)batch;
  s->sampler_epoch = (uint64_t)epoch;
  s->sampler_position = (uint64_t)pos;
  s->interval_steps = (int)isteps;
  if (!rc) {
    hid_t ds = H5Lexists(f, "interval_sums", H5P_DEFAULT) > 0
                   ? H5Dopen2(f, "interval_sums", H5P_DEFAULT)
                   : -1;
    hssize_t k = -1;
    if (ds >= 0) {
      hid_t sp = H5Dget_space(ds);
      k = H5Sget_simple_extent_npoints(sp);
      H5Sclose(sp);
      H5Dclose(ds);
    }
    if (k < 0 || k > CKPT_MAX_INTERVAL_SUMS)
      rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: /interval_sums is missing or longer than %d", path,
                     CKPT_MAX_INTERVAL_SUMS);
    else {
      s->n_interval_sums = (int)k;
      rc = get_array(f, path, "interval_sums", H5T_NATIVE_DOUBLE, k, 0, k, s->interval_sums, e);
    }
  }
  if (!rc && bn_buffers)
    rc = get_array(f, path, "bn_buffers", H5T_NATIVE_FLOAT, n_buffers, 0, n_buffers, bn_buffers, e);
  if (!rc && bn_counters)
    rc = get_array(f, path, "bn_counters", H5T_NATIVE_INT64, n_counters, 0, n_counters, bn_counters,
                   e);
  if (f >= 0) H5Fclose(f);
  h5u_quiet_end(&quiet);
  return rc;
}
