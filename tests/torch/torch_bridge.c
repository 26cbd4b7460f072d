/* torch_bridge: see torch_bridge.h. */
#define _POSIX_C_SOURCE 200809L
#include "tests/torch/torch_bridge.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct torch_tensor {
  char name[128];
  float *data;
  int ndim;
  hsize_t shape[8];
  int64_t numel;
} torch_tensor;

struct torch_io {
  torch_tensor *t;
  int n, cap;
  char pname[64][64];
  double pval[64];
  int np;
};

torch_io *torch_io_new(void) { return nvae_calloc(1, sizeof(torch_io)); }

void torch_io_free(torch_io *io) {
  if (!io) return;
  for (int i = 0; i < io->n; i++) free(io->t[i].data);
  free(io->t);
  free(io);
}

static torch_tensor *torch_io_append(torch_io *io, const char *name) {
  if (io->n == io->cap) {
    io->cap = io->cap ? 2 * io->cap : 16;
    io->t = nvae_realloc(io->t, (size_t)io->cap * sizeof(torch_tensor));
  }
  torch_tensor *t = &io->t[io->n++];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  return t;
}

void torch_io_put(torch_io *io, const char *name, const float *data, int ndim,
                  const int64_t *shape) {
  NVAE_ASSERT(ndim >= 1 && ndim <= 8, "torch_io_put: ndim %d", ndim);
  torch_tensor *t = torch_io_append(io, name);
  t->ndim = ndim;
  t->numel = 1;
  for (int i = 0; i < ndim; i++) t->shape[i] = (hsize_t)shape[i], t->numel *= shape[i];
  t->data = nvae_malloc((size_t)t->numel * sizeof(float));
  memcpy(t->data, data, (size_t)t->numel * sizeof(float));
}

void torch_io_param(torch_io *io, const char *name, double value) {
  NVAE_ASSERT(io->np < 64, "torch_io_param: too many parameters");
  snprintf(io->pname[io->np], sizeof io->pname[0], "%s", name);
  io->pval[io->np++] = value;
}

const float *torch_io_get(const torch_io *io, const char *name, int64_t *numel) {
  for (int i = 0; i < io->n; i++)
    if (!strcmp(io->t[i].name, name)) {
      if (numel) *numel = io->t[i].numel;
      return io->t[i].data;
    }
  return NULL;
}

static int write_h5(const char *path, const torch_io *io, nvae_err *e) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) return nvae_errf(e, 1, "%s: cannot create HDF5 file", path);
  for (int i = 0; i < io->n; i++) {
    const torch_tensor *t = &io->t[i];
    hid_t sp = H5Screate_simple(t->ndim, t->shape, NULL);
    hid_t ds = H5Dcreate2(f, t->name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = ds < 0 ? -1 : H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data);
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    if (rc < 0) {
      H5Fclose(f);
      return nvae_errf(e, 1, "%s: cannot write dataset '%s'", path, t->name);
    }
  }
  for (int i = 0; i < io->np; i++) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, io->pname[i], H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_DOUBLE, &io->pval[i]);
    H5Aclose(a);
    H5Sclose(sp);
  }
  H5Fclose(f);
  return 0;
}

typedef struct read_ctx {
  torch_io *io;
  int failed;
} read_ctx;

static herr_t read_one(hid_t group, const char *name, const H5L_info_t *info, void *arg) {
  read_ctx *rc = arg;
  hid_t ds = H5Dopen2(group, name, H5P_DEFAULT);
  if (ds < 0) return 0; /* not a dataset */
  hid_t sp = H5Dget_space(ds);
  torch_tensor *t = torch_io_append(rc->io, name);
  t->ndim = H5Sget_simple_extent_ndims(sp);
  if (t->ndim < 0 || t->ndim > 8) {
    rc->failed = 1;
    t->ndim = 0;
  }
  H5Sget_simple_extent_dims(sp, t->shape, NULL);
  t->numel = 1;
  for (int i = 0; i < t->ndim; i++) t->numel *= (int64_t)t->shape[i];
  t->data = nvae_malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float));
  if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0) rc->failed = 1;
  H5Sclose(sp);
  H5Dclose(ds);
  return 0;
}

int torch_run(const char *script, const torch_io *in, torch_io **out, nvae_err *e) {
  const char *src = getenv("NVAE_SOURCE_DIR");
  const char *py = getenv("NVAE_TORCH_PYTHON");
  if (!src) src = ".";
  if (!py) py = "/usr/bin/python3";
  char dir[] = "/tmp/nvae-torch-XXXXXX";
  if (!mkdtemp(dir)) return nvae_errf(e, 1, "mkdtemp failed");
  char in_path[512], out_path[512], cmd[2048];
  snprintf(in_path, sizeof in_path, "%s/in.h5", dir);
  snprintf(out_path, sizeof out_path, "%s/out.h5", dir);
  int rc = write_h5(in_path, in, e);
  if (rc == 0) {
    snprintf(cmd, sizeof cmd, "'%s' '%s/%s' '%s' '%s'", py, src, script, in_path, out_path);
    fflush(stdout);
    int st = system(cmd);
    if (st != 0) rc = nvae_errf(e, 1, "PyTorch reference failed (status %d): %s", st, cmd);
  }
  if (rc == 0) {
    hid_t f = H5Fopen(out_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
      rc = nvae_errf(e, 1, "%s: the reference wrote no readable output", out_path);
    } else {
      read_ctx r = {torch_io_new(), 0};
      H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, read_one, &r);
      H5Fclose(f);
      if (r.failed) {
        torch_io_free(r.io);
        rc = nvae_errf(e, 1, "%s: could not read every dataset", out_path);
      } else {
        *out = r.io;
      }
    }
  }
  unlink(in_path);
  unlink(out_path);
  rmdir(dir);
  return rc;
}
