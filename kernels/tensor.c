/* Tensor descriptor helpers: see tensor.h. */
#include "kernels/tensor.h"

#include <stdio.h>
#include <string.h>

static tensor tensor_blank(float *data) {
  tensor t;
  memset(&t, 0, sizeof t);
  t.data = data;
  for (int i = 0; i < TENSOR_MAX_DIMS; i++) t.shape[i] = 1;
  t.dtype = DTYPE_F32;
  t.layout = LAYOUT_NCHW;
  t.device = DEVICE_CPU;
  return t;
}

tensor tensor_1d(float *data, int64_t n) {
  tensor t = tensor_blank(data);
  t.ndim = 1;
  t.shape[0] = n;
  return t;
}

tensor tensor_2d(float *data, int64_t rows, int64_t cols) {
  tensor t = tensor_blank(data);
  t.ndim = 2;
  t.shape[0] = rows;
  t.shape[1] = cols;
  return t;
}

tensor tensor_4d(float *data, int64_t n, int64_t c, int64_t h, int64_t w) {
  tensor t = tensor_blank(data);
  t.ndim = 4;
  t.shape[0] = n;
  t.shape[1] = c;
  t.shape[2] = h;
  t.shape[3] = w;
  return t;
}

tensor tensor_on(tensor t, nvae_device device) {
  t.device = device;
  return t;
}

int64_t tensor_numel(const tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

size_t dtype_size(nvae_dtype dt) { return dt == DTYPE_F32 ? 4 : 2; }

size_t tensor_bytes(const tensor *t) { return (size_t)tensor_numel(t) * dtype_size(t->dtype); }

const char *dtype_name(nvae_dtype dt) {
  switch (dt) {
  case DTYPE_F32: return "f32";
  case DTYPE_F16: return "f16";
  case DTYPE_BF16: return "bf16";
  }
  return "?";
}

const char *device_name(nvae_device dev) { return dev == DEVICE_CUDA ? "cuda" : "cpu"; }

char *tensor_shape_str(const tensor *t, char *buf, size_t len) {
  size_t used = 0;
  used += (size_t)snprintf(buf + used, len - used, "[");
  for (int i = 0; i < t->ndim && used < len; i++)
    used += (size_t)snprintf(buf + used, len - used, i ? ", %lld" : "%lld", (long long)t->shape[i]);
  if (used < len) snprintf(buf + used, len - used, "]");
  return buf;
}

float *tensor_f32_at(const tensor *t, const char *file, int line) {
  if (t->dtype != DTYPE_F32)
    nvae_fatal_at(file, line, "expected an f32 tensor, got %s", dtype_name(t->dtype));
  return (float *)t->data;
}

void tensor_expect_at(const tensor *t, const char *what, int ndim, const int64_t *shape,
                      const char *file, int line) {
  int ok = t->ndim == ndim;
  for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || shape[i] == t->shape[i];
  if (!ok) {
    char got[96], want[96];
    size_t used = (size_t)snprintf(want, sizeof want, "[");
    for (int i = 0; i < ndim; i++)
      used += (size_t)snprintf(want + used, sizeof want - used, i ? ", %lld" : "%lld",
                               (long long)shape[i]);
    snprintf(want + used, sizeof want - used, "]");
    nvae_fatal_at(file, line, "tensor %s has shape %s, expected %s (-1 = any)", what,
                  tensor_shape_str(t, got, sizeof got), want);
  }
}

void tensor_expect_same_at(const tensor *t, const tensor *ref, const char *what, const char *file,
                           int line) {
  int ok = t->ndim == ref->ndim;
  for (int i = 0; ok && i < t->ndim; i++) ok = t->shape[i] == ref->shape[i];
  if (!ok) {
    char a[96], b[96];
    nvae_fatal_at(file, line, "tensor %s has shape %s, expected %s", what,
                  tensor_shape_str(t, a, sizeof a), tensor_shape_str(ref, b, sizeof b));
  }
}
