/* Errors, exit codes and checked calls: see error.h. */
#define _POSIX_C_SOURCE 200809L
#include "kernels/base/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int nvae_errf(nvae_err *e, int code, const char *fmt, ...) {
  if (e) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
  }
  return code;
}

void nvae_err_clear(nvae_err *e) {
  if (e) {
    e->code = 0;
    e->msg[0] = '\0';
  }
}

void nvae_fatal_at(const char *file, int line, const char *fmt, ...) {
  fflush(stdout);
  fprintf(stderr, "%s:%d: ", file, line);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(NVAE_EXIT_RUNTIME);
}

void *nvae_malloc_at(size_t bytes, const char *file, int line) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) nvae_fatal_at(file, line, "malloc(%zu bytes) failed: out of memory", bytes);
  return p;
}

void *nvae_calloc_at(size_t n, size_t size, const char *file, int line) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) nvae_fatal_at(file, line, "calloc(%zu x %zu bytes) failed: out of memory", n, size);
  return p;
}

void *nvae_realloc_at(void *p, size_t bytes, const char *file, int line) {
  void *q = realloc(p, bytes ? bytes : 1);
  if (!q) nvae_fatal_at(file, line, "realloc(%zu bytes) failed: out of memory", bytes);
  return q;
}

void *nvae_aligned_alloc_at(size_t bytes, const char *file, int line) {
  void *p = NULL;
  int rc = posix_memalign(&p, 64, bytes ? bytes : 64);
  if (rc != 0) nvae_fatal_at(file, line, "posix_memalign(%zu bytes) failed: %s", bytes, strerror(rc));
  return p;
}

void nvae_free(void *p) { free(p); }

FILE *nvae_fopen_at(const char *path, const char *mode, const char *file, int line) {
  FILE *f = fopen(path, mode);
  if (!f) nvae_fatal_at(file, line, "cannot open '%s' (mode %s): %s", path, mode, strerror(errno));
  return f;
}

void nvae_fread_at(void *dst, size_t size, size_t n, FILE *f, const char *file, int line) {
  size_t got = fread(dst, size, n, f);
  if (got != n)
    nvae_fatal_at(file, line, "fread: expected %zu items of %zu bytes, got %zu (%s)", n, size, got,
                  feof(f) ? "end of file" : strerror(errno));
}

void nvae_fwrite_at(const void *src, size_t size, size_t n, FILE *f, const char *file, int line) {
  size_t put = fwrite(src, size, n, f);
  if (put != n)
    nvae_fatal_at(file, line, "fwrite: wrote %zu of %zu items: %s", put, n, strerror(errno));
}

void nvae_fclose_at(FILE *f, const char *file, int line) {
  if (fclose(f) != 0) nvae_fatal_at(file, line, "fclose failed: %s", strerror(errno));
}
