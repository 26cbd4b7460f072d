/* Names, LATEST and the directory listing of <run>/checkpoints (ckpt_names.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/ckpt_names.h"

#include "trainer/ckpt_fs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void ckpt_name_step_dir(int64_t step, char *buf, size_t n) {
  snprintf(buf, n, "step-%08lld", (long long)step);
}

void ckpt_name_optim(int rank, char *buf, size_t n) { snprintf(buf, n, "optim-%05d.h5", rank); }

void ckpt_name_rank(int rank, char *buf, size_t n) { snprintf(buf, n, "rank-%05d.h5", rank); }

/* "step-" + 8..18 digits in name[0..len): the step, or -1. */
static int parse_step(const char *name, size_t len, int64_t *step) {
  if (len < 13 || len > 23 || strncmp(name, "step-", 5) != 0) return -1;
  int64_t v = 0;
  for (size_t i = 5; i < len; i++) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0'); /* at most 18 digits: no overflow */
  }
  *step = v;
  return 0;
}

int ckpt_name_parse_step_dir(const char *name, int64_t *step) {
  return parse_step(name, strlen(name), step);
}

int ckpt_latest_parse(const char *text, size_t len, int64_t *step, nvae_err *e) {
  size_t n = len;
  if (n > 0 && text[n - 1] == '\n') n--;
  if (n == 0) return nvae_errf(e, NVAE_EXIT_USAGE, "LATEST: empty");
  if (memchr(text, '\0', n) || parse_step(text, n, step) != 0) {
    char shown[40];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 5 < sizeof shown; i++) {
      unsigned char c = (unsigned char)text[i];
      if (c >= 0x20 && c < 0x7f && c != '"')
        shown[k++] = (char)c;
      else
        k += (size_t)snprintf(shown + k, sizeof shown - k, "\\x%02x", c);
    }
    shown[k < sizeof shown ? k : sizeof shown - 1] = '\0';
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "LATEST: \"%s%s\" is not a checkpoint name (want step-XXXXXXXX)", shown,
                     n > 24 ? "..." : "");
  }
  return 0;
}

static int cmp_desc(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

static int is_leftover(const char *name) {
  size_t len = strlen(name);
  int64_t s;
  return len > 4 && (strcmp(name + len - 4, ".tmp") == 0 || strcmp(name + len - 4, ".del") == 0) &&
         parse_step(name, len - 4, &s) == 0;
}

int ckpt_list_steps(const char *dir, int64_t **steps, int *n, int *leftovers, nvae_err *e) {
  *steps = NULL;
  *n = 0;
  if (leftovers) *leftovers = 0;
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return 0;
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: cannot list: %s", dir, strerror(errno));
  }
  int cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    int64_t s;
    if (ckpt_name_parse_step_dir(de->d_name, &s) == 0) {
      if (*n == cap) {
        cap = cap ? 2 * cap : 16;
        *steps = nvae_realloc(*steps, sizeof(int64_t) * (size_t)cap);
      }
      (*steps)[(*n)++] = s;
    } else if (leftovers && is_leftover(de->d_name)) {
      (*leftovers)++;
    }
  }
  closedir(d);
  if (*n > 1) qsort(*steps, (size_t)*n, sizeof(int64_t), cmp_desc);
  return 0;
}

int ckpt_list_remove_leftovers(const char *dir, nvae_err *e) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  char **names = NULL;
  int n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!is_leftover(de->d_name)) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 8;
      names = nvae_realloc(names, sizeof(char *) * (size_t)cap);
    }
    names[n++] = strdup(de->d_name);
  }
  closedir(d);
  int rc = 0;
  for (int i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    size_t len = strlen(names[i]);
    if (!rc && strcmp(names[i] + len - 4, ".tmp") == 0)
      printf("checkpoint       removing %s (an incomplete write: never committed)\n", path);
    if (!rc) rc = ckpt_fs_remove_dir(path, e);
    free(names[i]);
  }
  free(names);
  if (!rc && n > 0) rc = ckpt_fs_fsync(dir, e);
  return rc;
}
