/* Collectives of the checkpoint code (ckpt_comm.h). */
#include "trainer/ckpt_comm.h"

#include <stdio.h>
#include <stdlib.h>

int ckpt_comm_codes(const train_comm *c, int code, int *codes) {
  const int W = c->world > 0 ? c->world : 1;
  double *v = nvae_calloc((size_t)W, sizeof(double));
  v[c->rank] = code;
  train_comm_sum(c, v, W);
  int first = -1;
  for (int r = 0; r < W; r++) {
    if (codes) codes[r] = (int)v[r];
    if (first < 0 && v[r] != 0) first = r;
  }
  free(v);
  return first;
}

int ckpt_comm_report(const train_comm *c, int first, const int *codes, int warning, nvae_err *e) {
  const int code = codes ? codes[first] : e->code;
  if (c->world <= 1) {
    if (warning) {
      fprintf(stderr, "nvae-train: WARNING: %s\n", e->msg);
      fflush(stderr);
    }
    e->code = code;
    return code;
  }
  if (c->rank == first) {
    fprintf(stderr, "nvae-train: %s%s\n", warning ? "WARNING: " : "", e->msg);
    fflush(stderr);
  }
  e->code = code;
  e->msg[0] = '\0';
  return code;
}

void ckpt_comm_bcast_f64(const train_comm *c, double *v, int n) {
  if (c->world <= 1) return;
  if (c->rank != 0)
    for (int i = 0; i < n; i++)
      v[i] = 0;
  train_comm_sum(c, v, n);
}

void ckpt_comm_allgather_f32(const train_comm *c, float *arena, int64_t n, int64_t lo, int64_t hi) {
  if (c->world <= 1) return;
  enum { CHUNK = 1 << 20 }; /* 8 MB of doubles per all-reduce */
  double *buf = nvae_malloc(sizeof(double) * CHUNK);
  for (int64_t at = 0; at < n; at += CHUNK) {
    const int k = (int)(n - at < CHUNK ? n - at : CHUNK);
    for (int i = 0; i < k; i++) {
      const int64_t j = at + i;
      buf[i] = j >= lo && j < hi ? (double)arena[j] : -0.0;
    }
    train_comm_sum(c, buf, k);
    for (int i = 0; i < k; i++)
      arena[at + i] = (float)buf[i];
  }
  free(buf);
}
