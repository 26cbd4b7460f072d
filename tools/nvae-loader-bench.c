/* nvae-loader-bench: images/s the loader delivers to one rank (docs/dataset-format.md, "Loader
 * performance"). Makes CelebA-64-shaped synthetic shards (or uses --data DIR), then for each
 * reading mode (per-image HDF5 chunk reads, whole split in memory) and flip off/on, runs the
 * loader for a fixed time with everything pinned to one core, the consumer only touching each
 * batch, and prints images/s. The page cache is warm (the shards were just written or read).
 *
 *   nvae-loader-bench [--data DIR] [--split train] [--batch 16] [--images 20000] [--seconds 3]
 *                     [--cores 1]
 */
#define _GNU_SOURCE /* sched_setaffinity */
#include "dataset/dataset_yaml.h"
#include "dataset/loader.h"
#include "dataset/progress.h"
#include "dataset/sha256.h"
#include "dataset/shard.h"
#include "kernels/philox.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: nvae-loader-bench [--data DIR] [--split NAME] [--batch N] [--images N]\n"
      "                         [--seconds S] [--cores N]\n"
      "  --data DIR    dataset to read (default: synthetic 64x64x3 shards in a temp dir)\n"
      "  --split NAME  split to read (default train)\n"
      "  --batch N     per-rank batch (default 16, NVAE's CelebA-64 setting)\n"
      "  --images N    synthetic dataset size (default 20000)\n"
      "  --seconds S   time per measurement (default 3)\n"
      "  --cores N     CPUs the process may use (default 1: loader thread + consumer share one)\n");
}

/* Synthetic CelebA-64-shaped dataset: n random images in shards of 8192, written with the
 * library like nvae-prep does. */
static int make_synthetic(const char *dir, int64_t n, nvae_err *e) {
  enum { H = 64, W = 64, C = 3, PER_SHARD = 8192 };
  const size_t bytes = (size_t)H * W * C;
  if (mkdir(dir, 0755) != 0)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: mkdir: %s", dir, strerror(errno));
  dataset_info d;
  memset(&d, 0, sizeof d);
  d.format_version = DATASET_FORMAT_VERSION;
  snprintf(d.name, sizeof d.name, "bench");
  snprintf(d.created_by, sizeof d.created_by, "nvae-loader-bench");
  snprintf(d.source_kind, sizeof d.source_kind, "synthetic");
  snprintf(d.crop, sizeof d.crop, "none");
  snprintf(d.resize, sizeof d.resize, "none");
  d.height = H;
  d.width = W;
  d.channels = C;
  d.n_splits = 1;
  dataset_split_info *sp = &d.splits[0];
  snprintf(sp->name, sizeof sp->name, "train");
  sp->count = n;
  sp->n_shards = (int)((n + PER_SHARD - 1) / PER_SHARD);
  sp->shards = nvae_calloc((size_t)sp->n_shards, sizeof *sp->shards);
  uint8_t *img = nvae_malloc(bytes * PER_SHARD);
  int rc = 0;
  for (int k = 0; k < sp->n_shards && !rc; k++) {
    int64_t first = (int64_t)k * PER_SHARD, count = n - first < PER_SHARD ? n - first : PER_SHARD;
    for (size_t i = 0; i < bytes * (size_t)count; i += 16) {
      philox4x32 r = philox_block(1, PHILOX_TEST, (uint32_t)k, (uint32_t)(i / 16), 0);
      memcpy(img + i, r.v, 16);
    }
    dataset_shard_entry *ent = &sp->shards[k];
    snprintf(ent->file, sizeof ent->file, "bench-train-%05d-of-%05d.h5", k, sp->n_shards);
    ent->count = count;
    char path[FS_PATH_MAX];
    fs_join(path, sizeof path, dir, ent->file);
    shard_meta m = {"bench", "train", "synthetic", "none", {0}, "none", H, W, C, k, sp->n_shards};
    rc = shard_write(path, &m, img, NULL, count, e);
    if (!rc) rc = sha256_file(path, ent->sha256, e);
  }
  char path[FS_PATH_MAX];
  fs_join(path, sizeof path, dir, DATASET_YAML_NAME);
  if (!rc) rc = dataset_yaml_write(path, &d, e);
  free(img);
  dataset_info_free(&d);
  return rc;
}

static void remove_synthetic(const char *dir) { fs_remove_flat_dir(dir); }

/* Keeps the consumer honest: a value that depends on every delivered batch. */
static volatile unsigned sink;

static int measure(const char *dir, const char *split, int batch, int flip, int in_memory,
                   double seconds, double *rate, double *open_s, nvae_err *e) {
  loader_opts o;
  loader_opts_default(&o);
  o.path = dir;
  o.split = split;
  o.batch_size = batch;
  o.seed = 42;
  o.flip = flip;
  o.in_memory = in_memory;
  loader *l = NULL;
  double t0 = progress_now();
  int rc = loader_open(&l, &o, e);
  if (rc) return rc;
  *open_s = progress_now() - t0;
  /* warm-up: a few batches fill the prefetch ring */
  for (int k = 0; k < 8; k++)
    if (!loader_next(l, e)) break;
  int64_t images = 0;
  t0 = progress_now();
  double t = t0;
  while (t - t0 < seconds) {
    for (int k = 0; k < 64; k++) {
      const loader_batch *b = loader_next(l, e);
      if (!b) {
        loader_close(l);
        return e->code ? e->code : nvae_errf(e, NVAE_EXIT_RUNTIME, "loader stopped");
      }
      unsigned s = 0;
      for (int j = 0; j < b->n; j++)
        s += b->images[(size_t)j * b->height * b->width * b->channels];
      sink += s;
      images += b->n;
    }
    t = progress_now();
  }
  *rate = (double)images / (t - t0);
  loader_close(l);
  return 0;
}

int main(int argc, char **argv) {
  const char *data = NULL, *split = "train";
  int batch = 16, cores = 1;
  long long n_images = 20000;
  double seconds = 3;
  static const struct option opts[] = {
      {"data", required_argument, 0, 'd'},    {"split", required_argument, 0, 's'},
      {"batch", required_argument, 0, 'b'},   {"images", required_argument, 0, 'n'},
      {"seconds", required_argument, 0, 't'}, {"cores", required_argument, 0, 'c'},
      {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'd': data = optarg; break;
    case 's': split = optarg; break;
    case 'b': batch = atoi(optarg); break;
    case 'n': n_images = atoll(optarg); break;
    case 't': seconds = atof(optarg); break;
    case 'c': cores = atoi(optarg); break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return NVAE_EXIT_USAGE;
    }
  }
  if (optind < argc || batch < 1 || n_images < batch || seconds <= 0 || cores < 0) {
    usage(stderr);
    return NVAE_EXIT_USAGE;
  }
  nvae_err e;
  nvae_err_clear(&e);
  char tmp[FS_PATH_MAX] = "";
  if (!data) {
    const char *t = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/nvae-loader-bench-%ld", t && t[0] ? t : "/tmp", (long)getpid());
    printf("writing %lld synthetic 64x64x3 images to %s ...\n", n_images, tmp);
    fflush(stdout);
    double t0 = progress_now();
    if (make_synthetic(tmp, n_images, &e)) {
      fprintf(stderr, "nvae-loader-bench: error: %s\n", e.msg);
      remove_synthetic(tmp);
      return e.code;
    }
    printf("  written in %.1f s\n", progress_now() - t0);
    data = tmp;
  }
  if (cores > 0) {
    /* the first `cores` CPUs we may run on; the loader thread inherits the mask */
    cpu_set_t have, want;
    CPU_ZERO(&want);
    sched_getaffinity(0, sizeof have, &have);
    for (int cpu = 0, got = 0; cpu < CPU_SETSIZE && got < cores; cpu++)
      if (CPU_ISSET(cpu, &have)) {
        CPU_SET(cpu, &want);
        got++;
      }
    sched_setaffinity(0, sizeof want, &want);
  }
  char where[32];
  snprintf(where, sizeof where, cores ? "%d core%s" : "all cores", cores, cores == 1 ? "" : "s");
  printf("loader throughput, one rank, batch %d, %s, %.0f s per row:\n", batch, where, seconds);
  printf("  %-34s %6s %12s %10s\n", "reading", "flip", "images/s", "open (s)");
  int rc = 0;
  for (int mem = 0; mem < 2 && !rc; mem++)
    for (int flip = 0; flip < 2 && !rc; flip++) {
      double rate = 0, open_s = 0;
      rc = measure(data, split, batch, flip, mem, seconds, &rate, &open_s, &e);
      if (!rc)
        printf("  %-34s %6s %12.0f %10.2f\n",
               mem ? "whole split in memory" : "per image (H5Dread_chunk)", flip ? "on" : "off",
               rate, open_s);
      fflush(stdout);
    }
  if (tmp[0]) remove_synthetic(tmp);
  if (rc) {
    fprintf(stderr, "nvae-loader-bench: error: %s\n", e.msg);
    return rc;
  }
  return 0;
}
