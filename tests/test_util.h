/* Minimal test helpers: every check that fails prints file:line and marks the test failed;
 * test_finish() returns the process exit code (0 pass, 1 fail, 77 skipped: ctest's SKIP code). */
#ifndef NVAE_TESTS_TEST_UTIL_H
#define NVAE_TESTS_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#define TEST_SKIP_CODE 77

extern int test_failures;
extern int test_checks;

void test_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define CHECK(cond, ...)                                                                         \
  do {                                                                                           \
    test_checks++;                                                                               \
    if (!(cond)) test_fail_at(__FILE__, __LINE__, __VA_ARGS__);                                  \
  } while (0)

/* |a - b| <= atol + rtol * |b| */
#define CHECK_CLOSE(a, b, atol, rtol, what)                                                      \
  do {                                                                                           \
    double a_ = (a), b_ = (b);                                                                   \
    CHECK(fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_), "%s: %.9g vs %.9g", (what), a_, b_);       \
  } while (0)

/* ||a - b||_2 / max(||b||_2, tiny) over n floats vs doubles / floats. */
double test_rel_err_fd(const float *a, const double *b, int64_t n);
double test_rel_err_ff(const float *a, const float *b, int64_t n);

/* Prints "<name>: N checks, M failed" and returns 0 or 1. */
int test_finish(const char *name);
/* Prints why and returns TEST_SKIP_CODE (ctest reports the test as skipped, never as passed). */
int test_skip(const char *name, const char *why);

/* Deterministic test data: uniform in [lo, hi] from a Philox stream keyed by (seed, tag). */
void test_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed, uint32_t tag);

#endif
