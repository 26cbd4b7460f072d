/* Helpers shared by the run-directory writer tests (tests/logging): a scratch directory, running
 * a checker script of this folder with Debian's python3, and small file utilities. */
#ifndef NVAE_TESTS_LOGGING_LOGTEST_H
#define NVAE_TESTS_LOGGING_LOGTEST_H

#include <stddef.h>
#include <stdint.h>

/* Creates /tmp/nvae-<name>-XXXXXX (or under $TMPDIR); exits on failure (test set-up). */
char *logtest_tmpdir(const char *name);
/* Removes dir and everything below it. */
void logtest_rmtree(const char *dir);
/* Runs "<python> tests/logging/<script> <args>" and returns its exit status (-1 if it did not
 * run). python = $NVAE_TORCH_PYTHON, else /usr/bin/python3. */
int logtest_python(const char *script, const char *args);
/* Joins dir and name into a malloc'ed path. */
char *logtest_path(const char *dir, const char *name);
/* Reads a whole file (malloc'ed, NUL-terminated; *n = size); NULL if it cannot be read. */
uint8_t *logtest_read_file(const char *path, size_t *n);
/* Writes n bytes to path; exits on failure (test set-up). */
void logtest_write_file(const char *path, const void *p, size_t n);
int logtest_exists(const char *path);

#endif
