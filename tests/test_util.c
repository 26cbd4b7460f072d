#include "tests/test_util.h"

#include <stdarg.h>

#include "kernels/random.h"

int test_failures = 0;
int test_checks = 0;

void test_fail_at(const char *file, int line, const char *fmt, ...) {
  test_failures++;
  if (test_failures > 50) return; /* keep logs readable; the count is still reported */
  fprintf(stderr, "FAILED %s:%d: ", file, line);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

double test_rel_err_fd(const float *a, const double *b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  if (num != num) return INFINITY; /* NaN anywhere fails */
  return sqrt(num) / fmax(sqrt(den), 1e-30);
}

double test_rel_err_ff(const float *a, const float *b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)a[i] - (double)b[i];
    num += d * d;
    den += (double)b[i] * b[i];
  }
  if (num != num) return INFINITY;
  return sqrt(num) / fmax(sqrt(den), 1e-30);
}

int test_finish(const char *name) {
  printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
  return test_failures ? 1 : 0;
}

int test_skip(const char *name, const char *why) {
  printf("%s: SKIPPED: %s\n", name, why);
  return TEST_SKIP_CODE;
}

void test_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed, uint32_t tag) {
  philox_stream s = {seed, PHILOX_TEST, tag};
  philox_fill_uniform_cpu(&s, 0, 1, n, x);
  for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * x[i];
}
