/* model.h5 writer and reader (model_io.h). HDF5 errors are caught quietly and reported as one line
 * naming the file (dataset/h5util.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/model_io.h"

#include "dataset/h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODEL_IO_FORMAT "nvae-train model"

/* ---- small attribute helpers --------------------------------------------------------------- */

static herr_t attr_write(hid_t obj, const char *name, hid_t mem_type, int n, const void *v) {
  hsize_t d = (hsize_t)n;
  hid_t sp = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL);
  hid_t a = H5Acreate2(obj, name, mem_type, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, mem_type, v);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  return rc;
}

static herr_t attr_write_str(hid_t obj, const char *name, const char *text) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, t, &text);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
  return rc;
}

/* Reads a numeric attribute of n elements (n = 1 accepts a scalar). */
static herr_t attr_read(hid_t obj, const char *name, hid_t mem_type, int n, void *v) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t sp = H5Aget_space(a);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  herr_t rc = np == n ? H5Aread(a, mem_type, v) : -1;
  H5Sclose(sp);
  H5Aclose(a);
  return rc;
}

/* A string attribute (variable or fixed length) as a malloc'ed NUL-terminated string. */
static char *attr_read_str(hid_t obj, const char *name) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return NULL;
  hid_t ft = H5Aget_type(a);
  char *out = NULL;
  if (H5Tget_class(ft) == H5T_STRING) {
    if (H5Tis_variable_str(ft) > 0) {
      hid_t mt = H5Tcopy(H5T_C_S1);
      H5Tset_size(mt, H5T_VARIABLE);
      H5Tset_cset(mt, H5Tget_cset(ft)); /* HDF5 does not convert between ASCII and UTF-8 */
      char *p = NULL;
      if (H5Aread(a, mt, &p) >= 0 && p) {
        out = strdup(p);
        H5free_memory(p);
      }
      H5Tclose(mt);
    } else {
      size_t n = H5Tget_size(ft);
      hid_t mt = H5Tcopy(H5T_C_S1);
      H5Tset_size(mt, n + 1);
      H5Tset_cset(mt, H5Tget_cset(ft));
      out = calloc(n + 2, 1);
      if (out && H5Aread(a, mt, out) < 0) {
        free(out);
        out = NULL;
      }
      H5Tclose(mt);
    }
  }
  H5Tclose(ft);
  H5Aclose(a);
  return out;
}

/* The config as YAML text (malloc'ed). */
static char *config_text(const nvae_config *cfg, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) return NULL;
  int rc = config_write_yaml(cfg, f);
  fclose(f);
  if (rc) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

/* ---- saving ---------------------------------------------------------------------------------- */

static herr_t write_tensor(hid_t f, const reg_tensor *t, const void *data, hid_t type) {
  hsize_t dims[TENSOR_MAX_DIMS];
  for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
  hid_t sp = t->ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(t->ndim, dims, NULL);
  hid_t ds = H5Dcreate2(f, t->name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = ds < 0 ? -1 : H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  if (ds >= 0) H5Dclose(ds);
  H5Sclose(sp);
  return rc;
}

static herr_t write_vector(hid_t g, const char *name, const float *v, int n) {
  hsize_t d = (hsize_t)n;
  hid_t sp = H5Screate_simple(1, &d, NULL);
  hid_t ds = H5Dcreate2(g, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = ds < 0 ? -1 : H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  if (ds >= 0) H5Dclose(ds);
  H5Sclose(sp);
  return rc;
}

static int write_file(const char *tmp, const model_state *s, const char *yaml,
                      const model_io_info *info, h5u_seq *q) {
  hid_t fapl = h5u_fapl(1);
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (!h5u_step(q, f)) return -1;
  const registry *r = s->reg;
  for (int i = 0; i < r->n_tensors && q->ok; i++) {
    const reg_tensor *t = &r->tensors[i];
    if (t->kind == REG_ALIAS) continue;
    if (t->flags & REG_F_I64)
      h5u_step(q, write_tensor(f, t, s->counters + t->offset, H5T_NATIVE_INT64));
    else if (t->kind == REG_PARAM)
      h5u_step(q, write_tensor(f, t, s->params + t->offset, H5T_NATIVE_FLOAT));
    else
      h5u_step(q, write_tensor(f, t, s->buffers + t->offset, H5T_NATIVE_FLOAT));
  }
  if (q->ok && s->sr && r->n_convs > 0) {
    hid_t sr = H5Gcreate2(f, "sr", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (h5u_step(q, sr)) {
      int first_call = !s->sr_initialized;
      h5u_step(q, attr_write(sr, "first_call", H5T_NATIVE_INT, 0, &first_call));
      int64_t off = 0;
      for (int c = 0; c < r->n_convs && q->ok; c++) {
        const reg_conv *cv = &r->convs[c];
        hid_t g = H5Gcreate2(sr, cv->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (!h5u_step(q, g)) break;
        h5u_step(q, write_vector(g, "u", s->sr + off, cv->sr_rows));
        h5u_step(q, write_vector(g, "v", s->sr + off + cv->sr_rows, cv->sr_cols));
        off += cv->sr_rows + cv->sr_cols;
        H5Gclose(g);
      }
      H5Gclose(sr);
    }
  }
  if (q->ok) {
    int crop[4] = {info->geom.crop_y0, info->geom.crop_x0, info->geom.crop_h, info->geom.crop_w};
    int version = MODEL_IO_FORMAT_VERSION;
    h5u_step(q, attr_write_str(f, "format", MODEL_IO_FORMAT));
    h5u_step(q, attr_write(f, "format_version", H5T_NATIVE_INT, 0, &version));
    h5u_step(q, attr_write(f, "step", H5T_NATIVE_INT64, 0, &info->step));
    h5u_step(q, attr_write(f, "epoch", H5T_NATIVE_INT64, 0, &info->epoch));
    h5u_step(q, attr_write(f, "world_size", H5T_NATIVE_INT, 0, &info->world_size));
    h5u_step(q, attr_write(f, "image_channels", H5T_NATIVE_INT, 0, &info->geom.channels));
    h5u_step(q, attr_write(f, "image_size", H5T_NATIVE_INT, 0, &info->geom.size));
    h5u_step(q, attr_write(f, "crop", H5T_NATIVE_INT, 4, crop));
    h5u_step(q, attr_write_str(f, "config", yaml));
  }
  herr_t rc = H5Fclose(f);
  if (q->ok) h5u_step(q, rc);
  return q->ok ? 0 : -1;
}

int model_io_save_state(const char *path, const model_state *s, const nvae_config *cfg,
                        const model_io_info *info, nvae_err *e) {
  size_t len = 0;
  char *yaml = config_text(cfg, &len);
  if (!yaml) return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot format the config", path);
  size_t n = strlen(path) + 5;
  char *tmp = nvae_malloc(n);
  snprintf(tmp, n, "%s.tmp", path);
  h5u_quiet quiet;
  h5u_quiet_begin(&quiet);
  h5u_seq q = {1, ""};
  int rc = write_file(tmp, s, yaml, info, &q);
  h5u_quiet_end(&quiet);
  free(yaml);
  if (rc) {
    nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: writing failed: %s", tmp, q.why);
    unlink(tmp);
    free(tmp);
    return e->code;
  }
  /* Durable before it gets the real name: a crash leaves the old file or the whole new one. */
  int fd = open(tmp, O_RDONLY);
  if (fd < 0 || fsync(fd) != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    free(tmp);
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: fsync failed: %s", path, strerror(err));
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    int err = errno;
    free(tmp);
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: rename failed: %s", path, strerror(err));
  }
  free(tmp);
  return 0;
}

/* ---- loading --------------------------------------------------------------------------------- */

static hid_t open_ro(const char *path, nvae_err *e) {
  if (access(path, R_OK) != 0) {
    nvae_errf(e, NVAE_EXIT_USAGE, "%s: cannot read the checkpoint: %s", path, strerror(errno));
    return -1;
  }
  if (H5Fis_hdf5(path) <= 0) {
    nvae_errf(e, NVAE_EXIT_USAGE, "%s: not an HDF5 file (expected a model.h5)", path);
    return -1;
  }
  hid_t fapl = h5u_fapl(0);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  if (f < 0) {
    char why[512];
    h5u_last_error(why, sizeof why);
    nvae_errf(e, NVAE_EXIT_USAGE, "%s: not a readable HDF5 model file: %s", path, why);
  }
  return f;
}

static int read_info(hid_t f, const char *path, nvae_config *cfg, model_io_info *info,
                     nvae_err *e) {
  char *fmt = attr_read_str(f, "format");
  int ok = fmt && strcmp(fmt, MODEL_IO_FORMAT) == 0;
  free(fmt);
  if (!ok)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: not an nvae-train model file (no format=\"" MODEL_IO_FORMAT
                     "\" attribute)",
                     path);
  model_io_info in = {0};
  int crop[4] = {0};
  if (attr_read(f, "format_version", H5T_NATIVE_INT, 1, &in.format_version) < 0 ||
      attr_read(f, "step", H5T_NATIVE_INT64, 1, &in.step) < 0 ||
      attr_read(f, "epoch", H5T_NATIVE_INT64, 1, &in.epoch) < 0 ||
      attr_read(f, "world_size", H5T_NATIVE_INT, 1, &in.world_size) < 0 ||
      attr_read(f, "image_channels", H5T_NATIVE_INT, 1, &in.geom.channels) < 0 ||
      attr_read(f, "image_size", H5T_NATIVE_INT, 1, &in.geom.size) < 0 ||
      attr_read(f, "crop", H5T_NATIVE_INT, 4, crop) < 0)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: a root attribute (format_version, step, epoch, world_size, "
                     "image_channels, image_size, crop) is missing or malformed",
                     path);
  if (in.format_version != MODEL_IO_FORMAT_VERSION)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: format_version %d; this program reads version %d",
                     path, in.format_version, MODEL_IO_FORMAT_VERSION);
  in.geom.crop_y0 = crop[0];
  in.geom.crop_x0 = crop[1];
  in.geom.crop_h = crop[2];
  in.geom.crop_w = crop[3];
  if (cfg) {
    char *yaml = attr_read_str(f, "config");
    if (!yaml) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: the config attribute is missing", path);
    char name[NVAE_ERR_MSG_LEN];
    snprintf(name, sizeof name, "%s@config", path);
    nvae_err ce = {0};
    int rc = config_load_string(yaml, strlen(yaml), name, cfg, &ce);
    free(yaml);
    if (rc) return nvae_errf(e, NVAE_EXIT_USAGE, "%s", ce.msg);
  }
  if (info) *info = in;
  return 0;
}

int model_io_read_info(const char *path, nvae_config *cfg, model_io_info *info, nvae_err *e) {
  h5u_quiet quiet;
  h5u_quiet_begin(&quiet);
  hid_t f = open_ro(path, e);
  int rc = f < 0 ? e->code : read_info(f, path, cfg, info, e);
  if (f >= 0) H5Fclose(f);
  h5u_quiet_end(&quiet);
  return rc;
}

/* Reads one tensor after checking its shape against the registry. */
static int read_tensor(hid_t f, const char *path, const reg_tensor *t, void *dst, hid_t mem_type,
                       nvae_err *e) {
  if (H5Lexists(f, t->name, H5P_DEFAULT) <= 0)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: tensor %s is missing", path, t->name);
  hid_t ds = H5Dopen2(f, t->name, H5P_DEFAULT);
  if (ds < 0) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: %s is not a dataset", path, t->name);
  hid_t sp = H5Dget_space(ds);
  int nd = H5Sget_simple_extent_ndims(sp);
  hsize_t dims[TENSOR_MAX_DIMS] = {0};
  int ok = nd == t->ndim;
  if (ok && nd > 0) {
    H5Sget_simple_extent_dims(sp, dims, NULL);
    for (int d = 0; d < nd; d++) ok = ok && dims[d] == (hsize_t)t->shape[d];
  }
  H5Sclose(sp);
  if (!ok) {
    char want[64], got[96] = "";
    reg_shape_str(t, want, sizeof want);
    if (nd <= 0) snprintf(got, sizeof got, "scalar");
    for (int d = 0; d < nd && d < TENSOR_MAX_DIMS && nd > 0; d++) {
      size_t l = strlen(got);
      snprintf(got + l, sizeof got - l, d ? "x%llu" : "%llu", (unsigned long long)dims[d]);
    }
    H5Dclose(ds);
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: tensor %s has shape %s, the model expects %s", path,
                     t->name, got, want);
  }
  herr_t rc = H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst);
  H5Dclose(ds);
  if (rc < 0) {
    char why[512];
    h5u_last_error(why, sizeof why);
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: reading tensor %s failed: %s", path, t->name, why);
  }
  return 0;
}

static int read_vector(hid_t g, const char *path, const char *conv, const char *name, float *dst,
                       int n, nvae_err *e) {
  hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
  if (ds < 0) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: /sr/%s/%s is missing", path, conv, name);
  hid_t sp = H5Dget_space(ds);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  herr_t rc = np == n ? H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) : -1;
  H5Dclose(ds);
  if (rc < 0)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: /sr/%s/%s has %lld elements, the model expects %d",
                     path, conv, name, (long long)np, n);
  return 0;
}

static int load_tensors(hid_t f, const char *path, model_state *s, nvae_err *e) {
  const registry *r = s->reg;
  for (int i = 0; i < r->n_tensors; i++) {
    const reg_tensor *t = &r->tensors[i];
    int rc = 0;
    if (t->kind == REG_ALIAS) continue;
    if (t->flags & REG_F_I64)
      rc = read_tensor(f, path, t, s->counters + t->offset, H5T_NATIVE_INT64, e);
    else if (t->kind == REG_PARAM)
      rc = read_tensor(f, path, t, s->params + t->offset, H5T_NATIVE_FLOAT, e);
    else
      rc = read_tensor(f, path, t, s->buffers + t->offset, H5T_NATIVE_FLOAT, e);
    if (rc) return rc;
  }
  /* SR vectors are optional (a file exported from elsewhere); without them the model starts its
   * power iteration afresh, as the official code does after a resume. */
  s->sr_initialized = 0;
  if (!s->sr || r->n_convs == 0 || H5Lexists(f, "sr", H5P_DEFAULT) <= 0) return 0;
  hid_t sr = H5Gopen2(f, "sr", H5P_DEFAULT);
  int first_call = 1;
  attr_read(sr, "first_call", H5T_NATIVE_INT, 1, &first_call);
  int64_t off = 0;
  for (int c = 0; c < r->n_convs; c++) {
    const reg_conv *cv = &r->convs[c];
    hid_t g = H5Gopen2(sr, cv->name, H5P_DEFAULT);
    int rc = g < 0 ? nvae_errf(e, NVAE_EXIT_USAGE, "%s: /sr/%s is missing", path, cv->name) : 0;
    if (!rc) rc = read_vector(g, path, cv->name, "u", s->sr + off, cv->sr_rows, e);
    if (!rc) rc = read_vector(g, path, cv->name, "v", s->sr + off + cv->sr_rows, cv->sr_cols, e);
    if (g >= 0) H5Gclose(g);
    if (rc) {
      H5Gclose(sr);
      return rc;
    }
    off += cv->sr_rows + cv->sr_cols;
  }
  H5Gclose(sr);
  s->sr_initialized = !first_call;
  return 0;
}

int model_io_load_state(const char *path, model_state *s, const nvae_config *expect,
                        model_io_info *info, nvae_err *e) {
  h5u_quiet quiet;
  h5u_quiet_begin(&quiet);
  hid_t f = open_ro(path, e);
  int rc = f < 0 ? e->code : 0;
  nvae_config *file_cfg = nvae_malloc(sizeof *file_cfg);
  if (!rc) rc = read_info(f, path, file_cfg, info, e);
  if (!rc && expect) {
    const char *key = config_first_model_difference(expect, file_cfg);
    if (key) {
      const config_key *k = config_find_key(key, strlen(key));
      char here[256] = "?", there[256] = "?";
      if (k) {
        config_format_value(expect, k, here, sizeof here);
        config_format_value(file_cfg, k, there, sizeof there);
      }
      rc = nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: the checkpoint's model differs from this config: %s is %s in the "
                     "checkpoint, %s here",
                     path, key, there, here);
    }
  }
  if (!rc) rc = load_tensors(f, path, s, e);
  free(file_cfg);
  if (f >= 0) H5Fclose(f);
  h5u_quiet_end(&quiet);
  return rc;
}
