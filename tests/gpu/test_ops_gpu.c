/* Every case of the op-case table (tests/ops/op_case.h) on the CUDA backend against the CPU
 * backend, on the same fresh random inputs: forward outputs NaN-poisoned before the run, backward
 * onto zeroed and onto random pre-filled gradient buffers (accumulation), each output and gradient
 * within the case's bound (opcase_io.tol_dev: float32, OPCASE_TOL_DEV = 1e-5 unless a case says
 * otherwise). Then:
 *   - the conv2d cases again with TF32 allowed (bound tol_dev_tf32, OPCASE_TOL_DEV_TF32 = 2e-3);
 *   - the conv2d cases in deterministic mode, run twice: outputs and gradients bit-identical;
 *   - the memory entries (alloc, from_host, copy, zero, to_host).
 * One report line per case. Skipped (77) without a visible GPU.
 *
 * Usage: test_ops_gpu [-v] [--seed N] [--small] [family-substring]
 * The seed defaults to one drawn from the clock (printed): fresh inputs each run; --seed repeats.
 * --small leaves out the large cases (OPCASE_NO_FD: the CelebA-sized benchmark shapes), e.g. under
 * compute-sanitizer.
 */
#include "kernels/backend.h"
#include "kernels/cuda_backend.h"
#include "tests/gpu/backend_entries.h"
#include "tests/ops/op_case.h"
#include "tests/test_util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The case running now: a fatal error inside an op (shape check, CUDA/cuDNN error; they exit)
 * names it through this atexit hook. Every case ends with a device-to-host copy, so an
 * asynchronous kernel fault surfaces inside the case that caused it. */
static const op_case *current_case;
static const char *current_pass = "";
static void name_current_case(void) {
  if (current_case)
    fprintf(stderr, "test_ops_gpu: exited during %s [%s] (%s pass)\n", current_case->family,
            current_case->label, current_pass);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void report(const char *tag, const op_case *c, int bad, const opcase_cmp_result *r,
                   double sec) {
  printf("%-4s %-20s %-38s %-7s worst %-18s %.2e (%4.2f of bound) %2d checks %6.3f s\n",
         bad ? "FAIL" : "ok", c->family, c->label, tag, r->worst_what, r->worst_err, r->worst_ratio,
         r->n_checked, sec);
  fflush(stdout);
}

/* alloc / from_host / copy / zero / to_host on an odd size */
static void check_memory(op_ctx *dev) {
  const int64_t n = 1000003;
  float *h = malloc((size_t)n * sizeof(float)), *back = malloc((size_t)n * sizeof(float));
  test_fill_uniform(h, n, -1, 1, 7, 1);
  float *a = dev->ops->alloc((size_t)n * sizeof(float)), *b = dev->ops->alloc((size_t)n * 4);
  CHECK(((uintptr_t)a & 63u) == 0 && ((uintptr_t)b & 63u) == 0, "alloc: not 64-byte aligned");
  dev->ops->from_host(dev, a, h, (size_t)n * sizeof(float));
  dev->ops->copy(dev, b, a, (size_t)n * sizeof(float));
  dev->ops->zero(dev, b + 17, (size_t)(n - 100) * sizeof(float));
  dev->ops->to_host(dev, back, b, (size_t)n * sizeof(float));
  int64_t wrong = 0;
  for (int64_t i = 0; i < n; i++) {
    float want = i >= 17 && i < 17 + n - 100 ? 0.0f : h[i];
    wrong += memcmp(&back[i], &want, sizeof want) != 0;
  }
  CHECK(wrong == 0, "memory entries: %lld of %lld elements wrong", (long long)wrong, (long long)n);
  printf("%-4s %-20s %-38s\n", wrong ? "FAIL" : "ok", "memory",
         "alloc/from_host/copy/zero/to_host");
  dev->ops->free(a);
  dev->ops->free(b);
  free(h);
  free(back);
}

int main(int argc, char **argv) {
  int verbose = 0, small = 0;
  const char *only = NULL;
  uint64_t seed = (uint64_t)time(NULL);
  for (int a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "-v"))
      verbose = 1;
    else if (!strcmp(argv[a], "--small"))
      small = 1;
    else if (!strcmp(argv[a], "--seed") && a + 1 < argc)
      seed = strtoull(argv[++a], NULL, 0);
    else
      only = argv[a];
  }
  if (cuda_device_count() == 0) return test_skip("test_ops_gpu", "no CUDA device visible");
  char desc[256];
  cuda_describe(0, desc, sizeof desc);
  printf("device: %s\nseed: %llu (rerun with --seed %llu)\n", desc, (unsigned long long)seed,
         (unsigned long long)seed);

  const op_backend *cuda = op_backend_cuda();
  int missing = backend_missing_entries(cuda);
  CHECK(missing == 0, "the CUDA op table has %d unset entries (listed above): not running cases",
        missing);
  if (missing) return test_finish("test_ops_gpu");

  atexit(name_current_case);
  op_ctx ref = op_ctx_cpu();
  op_ctx dev = op_ctx_cuda(0);
  check_memory(&dev);

  double t_all = now_s(), worst = 0;
  int ran = 0, failed = 0;
  const char *worst_case = "";
  for (int k = 0; k < op_case_count(); k++) {
    const op_case *c = op_case_get(k);
    if ((only && !strstr(c->family, only)) || (small && (c->flags & OPCASE_NO_FD))) continue;
    opcase_cmp_result r;
    double t0 = now_s();
    current_case = c, current_pass = "fp32";
    int bad = opcase_compare(c, &ref, &dev, seed + (uint64_t)k, verbose, &r);
    report("fp32", c, bad, &r, now_s() - t0);
    ran++;
    failed += bad != 0;
    if (!(r.worst_ratio <= worst)) worst = r.worst_ratio, worst_case = c->label;
  }

  /* conv2d with TF32 allowed, then deterministic algorithms run twice */
  for (int k = 0; k < op_case_count(); k++) {
    const op_case *c = op_case_get(k);
    if (strcmp(c->family, "conv2d") || (only && !strstr(c->family, only)) ||
        (small && (c->flags & OPCASE_NO_FD)))
      continue;
    opcase_cmp_result r, r2;
    double t0 = now_s();
    dev.allow_tf32 = 1;
    current_case = c, current_pass = "tf32";
    int bad = opcase_compare(c, &ref, &dev, seed + (uint64_t)k, verbose, &r);
    dev.allow_tf32 = 0;
    report("tf32", c, bad, &r, now_s() - t0);
    failed += bad != 0;
    t0 = now_s();
    dev.deterministic = 1;
    current_pass = "deterministic";
    bad = opcase_compare(c, &ref, &dev, seed + (uint64_t)k, 0, &r);
    bad += opcase_compare(c, &ref, &dev, seed + (uint64_t)k, 0, &r2);
    dev.deterministic = 0;
    CHECK(r.dev_hash == r2.dev_hash, "conv2d [%s] deterministic mode: two runs differ in bits",
          c->label);
    bad += r.dev_hash != r2.dev_hash;
    report("determ", c, bad, &r, now_s() - t0);
    failed += bad != 0;
  }

  current_case = NULL;
  printf("%d op cases (+ conv2d tf32 and deterministic passes), %d failed, worst %.2f of its "
         "bound [%s], %.1f s\n",
         ran, failed, worst, worst_case, now_s() - t_all);
  CHECK(ran > 0, "no op case matched");
  op_ctx_free(&dev);
  op_ctx_free(&ref);
  return test_finish("test_ops_gpu");
}
