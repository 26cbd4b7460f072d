/* Errors, exit codes and checked calls shared by every part of nvae-train.
 *
 * Two kinds of failure:
 *  - bad input (config, dataset, checkpoint, command line): readers and parsers fill an nvae_err
 *    (code + one-line message naming the file/key) and return the code; only main() exits.
 *  - broken invariants (a shape mismatch between two ops, a failed library call that cannot be
 *    caused by user input): NVAE_FATAL / the *_CHECK macros print the library's error text with
 *    file:line and exit(1).
 */
#ifndef NVAE_BASE_ERROR_H
#define NVAE_BASE_ERROR_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Process exit codes (DESIGN.md §6). */
enum {
  NVAE_EXIT_OK = 0,
  NVAE_EXIT_RUNTIME = 1, /* I/O, a dead rank, non-finite streak, timeout */
  NVAE_EXIT_USAGE = 2,   /* bad usage or bad input (config, dataset, checkpoint) */
  NVAE_EXIT_REQUEUE = 75 /* checkpointed on a signal, please requeue */
};

#define NVAE_ERR_MSG_LEN 1024

/* Error returned by readers and parsers. code 0 = no error. */
typedef struct nvae_err {
  int code;                   /* an NVAE_EXIT_* value */
  char msg[NVAE_ERR_MSG_LEN]; /* one line, no trailing newline */
} nvae_err;

/* Sets e (when non-NULL) and returns code, so a reader can `return nvae_errf(e, 2, ...)`. */
int nvae_errf(nvae_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void nvae_err_clear(nvae_err *e);

/* Fatal internal error: prints "file:line: message" to stderr and exits with 1. */
void nvae_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define NVAE_FATAL(...) nvae_fatal_at(__FILE__, __LINE__, __VA_ARGS__)
/* An invariant that must hold whatever the input (not for validating user input). */
#define NVAE_ASSERT(cond, ...)                                                                   \
  do {                                                                                           \
    if (!(cond)) nvae_fatal_at(__FILE__, __LINE__, __VA_ARGS__);                                 \
  } while (0)

/* Checked allocation and stdio: on failure they report file:line and the errno text, then exit. */
void *nvae_malloc_at(size_t bytes, const char *file, int line);
void *nvae_calloc_at(size_t n, size_t size, const char *file, int line);
void *nvae_realloc_at(void *p, size_t bytes, const char *file, int line);
FILE *nvae_fopen_at(const char *path, const char *mode, const char *file, int line);
void nvae_fread_at(void *dst, size_t size, size_t n, FILE *f, const char *file, int line);
void nvae_fwrite_at(const void *src, size_t size, size_t n, FILE *f, const char *file, int line);
void nvae_fclose_at(FILE *f, const char *file, int line);
#define nvae_malloc(bytes) nvae_malloc_at((bytes), __FILE__, __LINE__)
#define nvae_calloc(n, size) nvae_calloc_at((n), (size), __FILE__, __LINE__)
#define nvae_realloc(p, bytes) nvae_realloc_at((p), (bytes), __FILE__, __LINE__)
#define nvae_fopen(path, mode) nvae_fopen_at((path), (mode), __FILE__, __LINE__)
#define nvae_fread(dst, size, n, f) nvae_fread_at((dst), (size), (n), (f), __FILE__, __LINE__)
#define nvae_fwrite(src, size, n, f) nvae_fwrite_at((src), (size), (n), (f), __FILE__, __LINE__)
#define nvae_fclose(f) nvae_fclose_at((f), __FILE__, __LINE__)

/* Aligned allocation (64 bytes) for arenas and SIMD-friendly buffers; free with nvae_free. */
void *nvae_aligned_alloc_at(size_t bytes, const char *file, int line);
#define nvae_aligned_alloc(bytes) nvae_aligned_alloc_at((bytes), __FILE__, __LINE__)
void nvae_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
