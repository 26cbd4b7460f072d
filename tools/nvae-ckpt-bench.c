/* nvae-ckpt-bench: checkpoint write and load time for a config's model (issue #6's figures).
 *
 *   nvae-ckpt-bench --config configs/celeba64.yaml [key=value ...] [--dir DIR] [--keep]
 *
 * Builds the registry as `nvae-train --dry-run` does (no dataset: the image shape the model
 * section implies), allocates the parameter, buffer, counter and SR arenas and the Adamax state
 * (2 x parameters), fills them with pseudo-random values, then as one rank (world size 1):
 *   write   ckpt_write: model.h5 + optim-00000.h5 + rank-00000.h5 + MANIFEST + LATEST, every
 *           file fsynced and read back for its CRC (the whole commit protocol)
 *   load    ckpt_verify + ckpt_load after the files were evicted from the page cache
 *           (posix_fadvise DONTNEED: the read comes from the device), then again warm
 * and prints seconds and GB/s for each, checking that the loaded arenas equal the written ones
 * (CRC-32C of every arena). DIR defaults to a new /tmp/ckpt-bench-XXXXXX, removed at the end
 * unless --keep. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/ckpt_fs.h"
#include "kernels/base/clock.h"
#include "trainer/ckpt_names.h"
#include "trainer/ckpt_read.h"
#include "trainer/ckpt_write.h"
#include "trainer/config_model.h"
#include "trainer/crc32c.h"
#include "trainer/model_registry.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void fill(float *x, int64_t n, uint64_t seed, float scale) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    x[i] = scale * ((float)(s >> 40) / (float)(1 << 24) - 0.5f);
  }
}

typedef struct arenas {
  float *params, *buffers, *sr, *m, *v;
  int64_t *counters;
} arenas;

static uint32_t arenas_crc(const arenas *a, const registry *r) {
  uint32_t c = crc32c(a->params, sizeof(float) * (size_t)r->param_arena_numel);
  c = crc32c_update(c, a->buffers, sizeof(float) * (size_t)r->buffer_arena_numel);
  c = crc32c_update(c, a->sr, sizeof(float) * (size_t)r->sr_vector_numel);
  c = crc32c_update(c, a->m, sizeof(float) * (size_t)r->param_arena_numel);
  c = crc32c_update(c, a->v, sizeof(float) * (size_t)r->param_arena_numel);
  return crc32c_update(c, a->counters, sizeof(int64_t) * (size_t)r->counter_arena_numel);
}

static void drop_cache(const char *step_dir) {
  const char *names[] = {CKPT_MODEL, "optim-00000.h5", "rank-00000.h5", CKPT_MANIFEST};
  for (int i = 0; i < 4; i++) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", step_dir, names[i]);
    ckpt_fs_drop_cache(p);
  }
}

static int load(const char *step_dir, ckpt_state *st, const train_comm *one, double *seconds,
                nvae_err *e) {
  const double t0 = nvae_now_s();
  ckpt_manifest m;
  if (ckpt_verify(step_dir, st->cfg, st->model.reg->param_arena_numel, one, 0, &m, e) != CKPT_FINE)
    return e->code ? e->code : 1;
  int rc = ckpt_load(step_dir, &m, st, one, e);
  ckpt_manifest_free(&m);
  *seconds = nvae_now_s() - t0;
  return rc;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                           {"dir", required_argument, NULL, 'd'},
                                           {"keep", no_argument, NULL, 'k'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  const char *config_path = NULL, *dir_arg = NULL;
  int keep = 0, c;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case 'c': config_path = optarg; break;
    case 'd': dir_arg = optarg; break;
    case 'k': keep = 1; break;
    default:
      fprintf(stderr, "usage: nvae-ckpt-bench --config FILE [key=value ...] [--dir DIR] "
                      "[--keep]\n");
      return c == 'h' ? 0 : NVAE_EXIT_USAGE;
    }
  }
  if (!config_path) {
    fprintf(stderr, "nvae-ckpt-bench: --config FILE is required\n");
    return NVAE_EXIT_USAGE;
  }
  nvae_config *cfg = nvae_malloc(sizeof *cfg);
  nvae_err e = {0};
  int rc = config_load(config_path, cfg, &e);
  for (int i = optind; i < argc && !rc; i++)
    rc = config_apply_override(cfg, argv[i], &e);
  if (!rc) rc = config_validate(cfg, &e);
  data_shape d = config_model_assumed_shape(cfg);
  model_geometry g;
  model_arch arch;
  registry reg;
  registry_init(&reg);
  if (!rc && (config_model_geometry(cfg, &d, &g, &e) || config_model_arch(cfg, &g, &arch, &e) ||
              model_registry_build(&arch, &reg, &e)))
    rc = e.code ? e.code : NVAE_EXIT_USAGE;
  if (rc) {
    fprintf(stderr, "nvae-ckpt-bench: %s\n", e.msg);
    return rc;
  }
  char dir[4096];
  if (dir_arg)
    snprintf(dir, sizeof dir, "%s", dir_arg);
  else {
    snprintf(dir, sizeof dir, "/tmp/ckpt-bench-XXXXXX");
    if (!mkdtemp(dir)) {
      perror("nvae-ckpt-bench: mkdtemp");
      return NVAE_EXIT_RUNTIME;
    }
  }
  const int64_t P = reg.param_arena_numel;
  arenas a;
  a.params = nvae_aligned_alloc(sizeof(float) * (size_t)P);
  a.m = nvae_aligned_alloc(sizeof(float) * (size_t)P);
  a.v = nvae_aligned_alloc(sizeof(float) * (size_t)P);
  a.buffers = nvae_aligned_alloc(sizeof(float) * (size_t)(reg.buffer_arena_numel + 1));
  a.sr = nvae_aligned_alloc(sizeof(float) * (size_t)(reg.sr_vector_numel + 1));
  a.counters = nvae_aligned_alloc(sizeof(int64_t) * (size_t)(reg.counter_arena_numel + 1));
  fill(a.params, P, 1, 0.2f);
  fill(a.m, P, 2, 1e-3f);
  fill(a.v, P, 3, 1e-2f);
  fill(a.buffers, reg.buffer_arena_numel, 4, 2.0f);
  fill(a.sr, reg.sr_vector_numel, 5, 1.0f);
  for (int64_t i = 0; i < reg.counter_arena_numel; i++)
    a.counters[i] = 100000;
  for (int i = 0; i < reg.n_tensors; i++) { /* the alignment padding is zero in a real model */
    const reg_tensor *t = &reg.tensors[i];
    int64_t end = t->offset + t->numel, next = P;
    for (int j = i + 1; j < reg.n_tensors; j++)
      if (reg.tensors[j].kind == REG_PARAM) {
        next = reg.tensors[j].offset;
        break;
      }
    if (t->kind == REG_PARAM && next > end)
      memset(a.params + end, 0, sizeof(float) * (size_t)(next - end));
  }
  const uint32_t crc_before = arenas_crc(&a, &reg);
  ckpt_state st;
  memset(&st, 0, sizeof st);
  st.model = (model_state){&reg, a.params, a.buffers, a.counters, a.sr, 1};
  st.cfg = cfg;
  st.geom = g;
  st.optim_m = a.m;
  st.optim_v = a.v;
  st.optim_t = 1000;
  st.optimizer = cfg->optim.name == NVAE_OPTIM_ADAM ? "adam" : "adamax";
  st.rank.batch_size = cfg->train.batch_size;
  st.rank.dataset_images = 162770;
  st.rank.n_interval_sums = 8;
  st.rank.metrics_bytes = -1;
  printf("model            %s: %lld parameters (%.1f MB), buffers %.1f MB, optimizer state %.1f "
         "MB (%s)\n",
         config_path, (long long)reg.param_count, 4e-6 * (double)P,
         4e-6 * (double)reg.buffer_arena_numel, 8e-6 * (double)P, st.optimizer);
  char ck[4200], step_dir[4300];
  snprintf(ck, sizeof ck, "%s/" CKPT_SUBDIR, dir);
  snprintf(step_dir, sizeof step_dir, "%s/step-00001000", ck);
  train_comm one = {.rank = 0, .world = 1};
  ckpt_write_opts wo = {3, 0, 0, 1};
  ckpt_write_result res;
  rc = ckpt_write(ck, 1000, &st, &one, &wo, &res, &e);
  if (rc) {
    fprintf(stderr, "nvae-ckpt-bench: %s\n", e.msg);
    return rc;
  }
  printf("write            %.3f GB in %.2f s: %.2f GB/s (HDF5 write, fsync, CRC read-back, "
         "MANIFEST, rename, LATEST)\n",
         res.bytes / 1e9, res.seconds, res.bytes / 1e9 / res.seconds);
  /* load into the same arenas, cleared first */
  double cold = 0, warm = 0;
  for (int pass = 0; pass < 2 && !rc; pass++) {
    memset(a.params, 0, sizeof(float) * (size_t)P);
    memset(a.m, 0, sizeof(float) * (size_t)P);
    memset(a.v, 0, sizeof(float) * (size_t)P);
    if (pass == 0) drop_cache(step_dir);
    rc = load(step_dir, &st, &one, pass == 0 ? &cold : &warm, &e);
    if (rc)
      fprintf(stderr, "nvae-ckpt-bench: %s\n", e.msg);
    else if (arenas_crc(&a, &reg) != crc_before) {
      fprintf(stderr, "nvae-ckpt-bench: the loaded arenas differ from the written ones\n");
      rc = NVAE_EXIT_RUNTIME;
    }
  }
  if (!rc) {
    printf("load (cold)      %.3f GB in %.2f s: %.2f GB/s (verify: CRC of every file, then "
           "HDF5 read; page cache dropped first)\n",
           res.bytes / 1e9, cold, res.bytes / 1e9 / cold);
    printf("load (warm)      %.3f GB in %.2f s: %.2f GB/s (the same from the page cache)\n",
           res.bytes / 1e9, warm, res.bytes / 1e9 / warm);
    printf("check            loaded arenas == written arenas (crc32c %08x)\n", crc_before);
  }
  if (!keep) {
    nvae_err ignored = {0};
    ckpt_fs_remove_dir(step_dir, &ignored);
    char p[4300];
    snprintf(p, sizeof p, "%s/LATEST", ck);
    remove(p);
    remove(ck);
    if (!dir_arg) remove(dir);
  }
  nvae_free(a.params), nvae_free(a.m), nvae_free(a.v), nvae_free(a.buffers), nvae_free(a.sr);
  nvae_free(a.counters);
  registry_free(&reg);
  free(cfg);
  return rc;
}
