/* Dataset test helpers: see dataset_testutil.h. */
#define _XOPEN_SOURCE 700
#include "tests/dataset/dataset_testutil.h"

#include "dataset/dataset_yaml.h"
#include "dataset/sha256.h"
#include "dataset/shard.h"
#include "kernels/philox.h"

#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <turbojpeg.h>
#include <unistd.h>

void dt_mkdtemp(char *out, size_t n, const char *tag) {
  const char *tmp = getenv("TMPDIR");
  snprintf(out, n, "%s/nvae-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", tag);
  if (!mkdtemp(out)) {
    perror("mkdtemp");
    exit(1);
  }
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void dt_rm_rf(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

int dt_run(char *const argv[], char *output, size_t n) {
  char tmpl[] = "/tmp/nvae-dt-out-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return -1;
  unlink(tmpl);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (output && n) {
    lseek(fd, 0, SEEK_SET);
    ssize_t got = read(fd, output, n - 1);
    output[got > 0 ? got : 0] = '\0';
  }
  close(fd);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const char *dt_python(void) {
  const char *p = getenv("NVAE_TORCH_PYTHON");
  return p && p[0] ? p : "/usr/bin/python3";
}

void dt_script(char *out, size_t n, const char *name) {
  const char *src = getenv("NVAE_SOURCE_DIR");
  snprintf(out, n, "%s/tests/dataset/%s", src && src[0] ? src : ".", name);
}

void dt_smooth_image(uint8_t *img, int w, int h, int c, uint64_t seed) {
  float p[4 * 6];
  for (int i = 0; i < 6; i++) {
    philox4x32 r = philox_block(seed, PHILOX_TEST, 17, (uint32_t)i, 0);
    for (int k = 0; k < 4; k++)
      p[4 * i + k] = philox_uniform(r.v[k]);
  }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int ch = 0; ch < c; ch++) {
        float v = 128.0f;
        for (int i = 0; i < 6; i++) {
          const float *q = p + 4 * i;
          float fx = 0.5f + 6.0f * q[0], fy = 0.5f + 6.0f * q[1];
          v += 30.0f * sinf(6.2831853f * (fx * x / w + fy * y / h + q[2] + 0.3f * ch));
        }
        v = v < 0 ? 0 : v > 255 ? 255 : v;
        img[((size_t)y * w + x) * c + ch] = (uint8_t)v;
      }
}

int dt_write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t put = fwrite(data, 1, n, f);
  return fclose(f) == 0 && put == n ? 0 : -1;
}

int dt_read_file(const char *path, uint8_t **data, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  *data = malloc((size_t)len + 1);
  *n = fread(*data, 1, (size_t)len, f);
  fclose(f);
  return *n == (size_t)len ? 0 : -1;
}

int dt_write_jpeg(const char *path, const uint8_t *img, int w, int h, int c) {
  tjhandle tj = tjInitCompress();
  unsigned char *jpeg = NULL;
  unsigned long size = 0;
  int rc = tjCompress2(tj, img, w, w * c, h, c == 1 ? TJPF_GRAY : TJPF_RGB, &jpeg, &size,
                       c == 1 ? TJSAMP_GRAY : TJSAMP_420, 90, TJFLAG_ACCURATEDCT);
  if (rc == 0) rc = dt_write_file(path, jpeg, size);
  tjFree(jpeg);
  tjDestroy(tj);
  return rc;
}

void dt_pattern(uint8_t *img, size_t bytes, int split, int64_t i) {
  for (size_t k = 0; k < bytes; k++)
    img[k] = (uint8_t)((uint64_t)i * 7 + k * 13 + (uint64_t)split * 101 + ((uint64_t)i >> 8) * 3);
}

int dt_make_dataset(const char *dir, const char *name, int h, int w, int c, int n_splits,
                    const char *const *splits, const int64_t *counts, int shards_per_split) {
  if (mkdir(dir, 0755) != 0) return -1;
  dataset_info d;
  memset(&d, 0, sizeof d);
  d.format_version = DATASET_FORMAT_VERSION;
  snprintf(d.name, sizeof d.name, "%s", name);
  snprintf(d.created_by, sizeof d.created_by, "dataset tests");
  snprintf(d.source_kind, sizeof d.source_kind, "synthetic");
  snprintf(d.crop, sizeof d.crop, "none");
  snprintf(d.resize, sizeof d.resize, "none");
  d.height = h;
  d.width = w;
  d.channels = c;
  d.n_splits = n_splits;
  const size_t bytes = (size_t)h * w * c;
  int rc = 0;
  for (int s = 0; s < n_splits && !rc; s++) {
    dataset_split_info *sp = &d.splits[s];
    snprintf(sp->name, sizeof sp->name, "%s", splits[s]);
    sp->count = counts[s];
    sp->n_shards = shards_per_split;
    sp->shards = calloc((size_t)shards_per_split, sizeof *sp->shards);
    for (int k = 0; k < shards_per_split && !rc; k++) {
      int64_t first = k * counts[s] / shards_per_split,
              last = (k + 1) * counts[s] / shards_per_split;
      int64_t n = last - first;
      uint8_t *img = malloc(bytes * (size_t)n);
      int32_t *idx = malloc(sizeof(int32_t) * (size_t)n);
      for (int64_t i = 0; i < n; i++) {
        dt_pattern(img + (size_t)i * bytes, bytes, s, first + i);
        idx[i] = (int32_t)(first + i);
      }
      dataset_shard_entry *ent = &sp->shards[k];
      snprintf(ent->file, sizeof ent->file, "%s-%s-%05d-of-%05d.h5", name, splits[s], k,
               shards_per_split);
      ent->count = n;
      char path[FS_PATH_MAX];
      fs_join(path, sizeof path, dir, ent->file);
      shard_meta m = {name, splits[s], "synthetic", "none",          {0}, "none", h,
                      w,    c,         k,           shards_per_split};
      nvae_err e;
      rc = shard_write(path, &m, img, idx, n, &e);
      if (rc) fprintf(stderr, "%s\n", e.msg);
      if (!rc) rc = sha256_file(path, ent->sha256, &e);
      free(img);
      free(idx);
    }
  }
  char path[FS_PATH_MAX];
  fs_join(path, sizeof path, dir, DATASET_YAML_NAME);
  nvae_err e;
  if (!rc) rc = dataset_yaml_write(path, &d, &e);
  dataset_info_free(&d);
  return rc;
}

int dt_make_celeba(const char *root, const int counts[3], uint64_t seed) {
  char path[4096];
  snprintf(path, sizeof path, "%s/img_align_celeba", root);
  if (mkdir(root, 0755) != 0 || mkdir(path, 0755) != 0) return -1;
  snprintf(path, sizeof path, "%s/list_eval_partition.txt", root);
  FILE *part = fopen(path, "w");
  if (!part) return -1;
  enum { W = 178, H = 218 };
  uint8_t *img = malloc(W * H * 3);
  int rc = 0, num = 1;
  for (int s = 0; s < 3 && !rc; s++)
    for (int i = 0; i < counts[s] && !rc; i++, num++) {
      dt_smooth_image(img, W, H, 3, seed * 1000003u + (uint64_t)num);
      snprintf(path, sizeof path, "%s/img_align_celeba/%06d.jpg", root, num);
      rc = dt_write_jpeg(path, img, W, H, 3);
      fprintf(part, "%06d.jpg %d\n", num, s);
    }
  free(img);
  if (fclose(part) != 0) rc = -1;
  return rc;
}
