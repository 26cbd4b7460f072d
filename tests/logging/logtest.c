/* Helpers for tests/logging (see logtest.h). */
#define _XOPEN_SOURCE 700
#include "tests/logging/logtest.h"

#include "kernels/base/error.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *logtest_tmpdir(const char *name) {
  const char *base = getenv("TMPDIR");
  if (!base || !base[0]) base = "/tmp";
  size_t n = strlen(base) + strlen(name) + 32;
  char *dir = nvae_malloc(n);
  snprintf(dir, n, "%s/nvae-%s-XXXXXX", base, name);
  if (!mkdtemp(dir)) NVAE_FATAL("mkdtemp(%s) failed", dir);
  return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void logtest_rmtree(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

int logtest_python(const char *script, const char *args) {
  const char *py = getenv("NVAE_TORCH_PYTHON");
  if (!py || !py[0]) py = "/usr/bin/python3";
  size_t n = strlen(py) + strlen(LOGGING_TEST_DIR) + strlen(script) + strlen(args) + 16;
  char *cmd = nvae_malloc(n);
  snprintf(cmd, n, "%s %s/%s %s", py, LOGGING_TEST_DIR, script, args);
  fprintf(stderr, "+ %s\n", cmd);
  fflush(stderr);
  int st = system(cmd);
  free(cmd);
  if (st == -1 || !WIFEXITED(st)) return -1;
  return WEXITSTATUS(st);
}

char *logtest_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = nvae_malloc(n);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

uint8_t *logtest_read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, len = 0;
  uint8_t *buf = nvae_malloc(cap);
  size_t k;
  while ((k = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += k;
    if (cap - len - 1 == 0) buf = nvae_realloc(buf, cap *= 2);
  }
  fclose(f);
  buf[len] = 0;
  *n = len;
  return buf;
}

void logtest_write_file(const char *path, const void *p, size_t n) {
  FILE *f = nvae_fopen(path, "wb");
  nvae_fwrite(p, 1, n, f);
  nvae_fclose(f);
}

int logtest_exists(const char *path) { return access(path, F_OK) == 0; }
