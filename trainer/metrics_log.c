/* metrics.jsonl writer (see metrics_log.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/metrics_log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct metrics_log {
  int fd;
  char *path;
  char *line; /* the row being built, reused between rows */
  size_t len, cap;
};

static void put(metrics_log *m, const char *s, size_t n) {
  if (n > m->cap - m->len) {
    size_t cap = m->cap ? m->cap : 512;
    while (cap - m->len < n)
      cap *= 2;
    m->line = nvae_realloc(m->line, cap);
    m->cap = cap;
  }
  memcpy(m->line + m->len, s, n);
  m->len += n;
}

static void put_str(metrics_log *m, const char *s) {
  put(m, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char esc[8];
    switch (*p) {
    case '"': put(m, "\\\"", 2); break;
    case '\\': put(m, "\\\\", 2); break;
    case '\n': put(m, "\\n", 2); break;
    case '\r': put(m, "\\r", 2); break;
    case '\t': put(m, "\\t", 2); break;
    case '\b': put(m, "\\b", 2); break;
    case '\f': put(m, "\\f", 2); break;
    default:
      if (*p < 0x20) { /* JSON forbids raw control characters in strings */
        snprintf(esc, sizeof esc, "\\u%04x", *p);
        put(m, esc, 6);
      } else {
        put(m, (const char *)p, 1);
      }
    }
  }
  put(m, "\"", 1);
}

static void put_real(metrics_log *m, double d) {
  if (!isfinite(d)) {
    put(m, "null", 4);
    return;
  }
  char num[40];
  int n = snprintf(num, sizeof num, "%.9g", d);
  int has_point = 0;
  for (int i = 0; i < n; i++) {
    /* A locale with a decimal comma (if anything ever calls setlocale) would break JSON. */
    if (num[i] == ',') num[i] = '.';
    if (num[i] == '.' || num[i] == 'e') has_point = 1;
  }
  /* "1" -> "1.0", "-0" -> "-0.0": a real stays a float in Python/pandas whatever its value (a
   * column does not flip between int and float), and -0 keeps its sign. */
  if (!has_point) {
    memcpy(num + n, ".0", 3);
    n += 2;
  }
  put(m, num, (size_t)n);
}

/* Writes all n bytes (write(2) may write fewer, or be interrupted). */
static int write_all(metrics_log *m, const char *p, size_t n, nvae_err *e) {
  while (n > 0) {
    ssize_t k = write(m->fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0)
      return nvae_errf(e, NVAE_EXIT_RUNTIME, "cannot append to '%s': %s", m->path,
                       k < 0 ? strerror(errno) : "write returned 0");
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

int metrics_log_row(metrics_log *m, const metric_kv *kv, int n, nvae_err *e) {
  for (int i = 0; i < n; i++)
    if (!kv[i].key || (kv[i].type == METRIC_STR && !kv[i].v.s))
      return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: metric %d (%s) has a NULL %s", m->path, i,
                       kv[i].key ? kv[i].key : "?", kv[i].key ? "string" : "key");
  m->len = 0;
  put(m, "{", 1);
  for (int i = 0; i < n; i++) {
    if (i) put(m, ",", 1);
    put_str(m, kv[i].key);
    put(m, ":", 1);
    char num[32];
    switch (kv[i].type) {
    case METRIC_INT: put(m, num, (size_t)snprintf(num, sizeof num, "%" PRId64, kv[i].v.i)); break;
    case METRIC_REAL: put_real(m, kv[i].v.d); break;
    case METRIC_STR: put_str(m, kv[i].v.s); break;
    default:
      return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: metric '%s' has unknown type %d", m->path,
                       kv[i].key, (int)kv[i].type);
    }
  }
  put(m, "}\n", 2);
  return write_all(m, m->line, m->len, e);
}

/* If the file is non-empty and its last byte is not '\n', a previous run died mid-row: end
 * that line so the next row starts on a line of its own. */
static int end_torn_line(metrics_log *m, nvae_err *e) {
  int rfd = open(m->path, O_RDONLY | O_CLOEXEC);
  if (rfd < 0)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "cannot read '%s': %s", m->path, strerror(errno));
  char last = '\n';
  off_t size = lseek(rfd, 0, SEEK_END);
  int torn = size > 0 && pread(rfd, &last, 1, size - 1) == 1 && last != '\n';
  close(rfd);
  return torn ? write_all(m, "\n", 1, e) : 0;
}

int metrics_log_open(const char *path, metrics_log **out, nvae_err *e) {
  *out = NULL;
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "cannot open '%s' for appending: %s", path,
                     strerror(errno));
  metrics_log *m = nvae_calloc(1, sizeof *m);
  m->fd = fd;
  size_t n = strlen(path);
  m->path = nvae_malloc(n + 1);
  memcpy(m->path, path, n + 1);
  int rc = end_torn_line(m, e);
  if (rc) {
    metrics_log_close(m, NULL);
    return rc;
  }
  *out = m;
  return 0;
}

int metrics_log_close(metrics_log *m, nvae_err *e) {
  if (!m) return 0;
  int rc = 0;
  if (close(m->fd) != 0)
    rc = nvae_errf(e, NVAE_EXIT_RUNTIME, "cannot close '%s': %s", m->path, strerror(errno));
  free(m->path);
  free(m->line);
  free(m);
  return rc;
}
