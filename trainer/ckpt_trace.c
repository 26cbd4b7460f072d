/* The sample-order trace (ckpt_trace.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/ckpt_trace.h"

#include "kernels/base/error.h"

#include <stdlib.h>

sampler_state ckpt_trace_normalize(sampler_state st, int64_t n, int64_t g) {
  if ((int64_t)st.position + g > n) {
    st.epoch++;
    st.position = 0;
  }
  return st;
}

void ckpt_trace_open(ckpt_trace *t, int64_t n, int rank, int world, int batch, uint64_t seed) {
  *t = (ckpt_trace){NULL, n, rank, world, batch, seed, NULL, -1};
  const char *prefix = getenv("NVAE_CKPT_TRACE");
  if (!prefix || !*prefix) return;
  char path[4096];
  snprintf(path, sizeof path, "%s.r%05d", prefix, rank);
  t->f = fopen(path, "a");
  if (!t->f) fprintf(stderr, "nvae-train: NVAE_CKPT_TRACE: cannot open %s\n", path);
  t->perm = nvae_malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
}

void ckpt_trace_step(ckpt_trace *t, int64_t step, sampler_state st) {
  if (!t->f) return;
  st = ckpt_trace_normalize(st, t->n, (int64_t)t->world * t->batch);
  if ((int64_t)st.epoch != t->perm_epoch) {
    sampler_permutation(t->seed, st.epoch, t->n, t->perm);
    t->perm_epoch = (int64_t)st.epoch;
  }
  fprintf(t->f, "%lld %llu %llu", (long long)step, (unsigned long long)st.epoch,
          (unsigned long long)st.position);
  for (int j = 0; j < t->batch; j++)
    fprintf(t->f, " %lld",
            (long long)t->perm[(int64_t)st.position + (int64_t)t->rank * t->batch + j]);
  fputc('\n', t->f);
  fflush(t->f);
}

void ckpt_trace_close(ckpt_trace *t) {
  if (t->f) fclose(t->f);
  free(t->perm);
  t->f = NULL;
  t->perm = NULL;
}
