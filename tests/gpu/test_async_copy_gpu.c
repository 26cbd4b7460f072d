/* The queued copies and fences of the op table (kernels/backend.h: host_alloc, host_free,
 * fence_*, from_host_async, to_host_async): pinned buffers, uploads on the copy stream, downloads
 * queued on the context's stream, the host waiting on a fence; the bytes must come back equal.
 * Also the orderings the contract promises:
 *   - work queued on ctx after from_host_async sees the upload (a device copy of it);
 *   - an upload given a fence starts after it (a zero queued before the fence must not land on
 *     top of the upload);
 *   - uploads in a row (the per-context events reused) all arrive;
 *   - a fence never recorded has passed; host_alloc(0) gives a buffer, host_free(NULL) is harmless.
 * Ordering faults are races, so a pass here is evidence, not proof; compute-sanitizer's racecheck
 * is the stronger check on a GPU machine.
 *
 * Skipped (77) without a GPU; --cpu runs the same on the CPU backend (this test's own plumbing).
 */
#include "kernels/backend.h"
#include "kernels/cuda_backend.h"
#include "tests/test_util.h"

#include <string.h>

#define NBYTES ((size_t)1000003) /* odd: no copy engine alignment to hide behind */

static void pattern(unsigned char *p, size_t n, unsigned mul, unsigned add) {
  for (size_t i = 0; i < n; i++)
    p[i] = (unsigned char)((i * mul + add) & 255u);
}

/* the host waits for everything queued so far, then compares back with want */
static void expect(op_ctx *ctx, op_fence *f, const unsigned char *back, const unsigned char *want,
                   const char *what) {
  ctx->ops->fence_record(ctx, f);
  ctx->ops->fence_sync(ctx, f);
  size_t wrong = 0;
  for (size_t i = 0; i < NBYTES; i++)
    wrong += back[i] != want[i];
  CHECK(wrong == 0, "%s: %zu of %zu bytes differ", what, wrong, NBYTES);
  printf("%-4s %s\n", wrong ? "FAIL" : "ok", what);
}

int main(int argc, char **argv) {
  int on_cpu = argc > 1 && !strcmp(argv[1], "--cpu");
  op_ctx ctx;
  if (on_cpu) {
    ctx = op_ctx_cpu();
  } else {
    if (cuda_device_count() == 0) return test_skip("test_async_copy_gpu", "no CUDA device visible");
    ctx = op_ctx_cuda(0);
  }
  const op_backend *ops = ctx.ops;
  printf("backend: %s\n", ops->name);

  unsigned char *a = ops->host_alloc(NBYTES), *b = ops->host_alloc(NBYTES);
  unsigned char *back = ops->host_alloc(NBYTES), *back2 = ops->host_alloc(NBYTES);
  CHECK(a && b && back && back2, "host_alloc of %zu bytes returned NULL", NBYTES);
  if (!(a && b && back && back2)) return test_finish("test_async_copy_gpu");
  pattern(a, NBYTES, 131, 7);
  pattern(b, NBYTES, 29, 200);
  void *d1 = ops->alloc(NBYTES), *d2 = ops->alloc(NBYTES);
  op_fence *f = ops->fence_new(&ctx), *after = ops->fence_new(&ctx);
  ops->fence_sync(&ctx, f); /* never recorded: must return at once */

  /* 1. round trip: upload, download, fence */
  ops->from_host_async(&ctx, d1, a, NBYTES, NULL);
  ops->to_host_async(&ctx, back, d1, NBYTES);
  expect(&ctx, f, back, a, "from_host_async + to_host_async round trip");

  /* 2. an upload after a fence, then work on ctx that reads it */
  ops->zero(&ctx, d2, NBYTES);
  ops->fence_record(&ctx, after);
  ops->from_host_async(&ctx, d2, b, NBYTES, after);
  ops->copy(&ctx, d1, d2, NBYTES);
  ops->to_host_async(&ctx, back, d1, NBYTES);
  expect(&ctx, f, back, b, "upload after a fence, read by a later device copy");

  /* 3. uploads in a row, each into its own buffer, downloads after both */
  ops->from_host_async(&ctx, d1, a, NBYTES, NULL);
  ops->from_host_async(&ctx, d2, b, NBYTES, after);
  ops->to_host_async(&ctx, back, d1, NBYTES);
  ops->to_host_async(&ctx, back2, d2, NBYTES);
  expect(&ctx, f, back, a, "two uploads in a row: the first");
  expect(&ctx, f, back2, b, "two uploads in a row: the second");

  /* 4. device time between two fences around work: non-negative, and 0 for the same point */
  ops->fence_record(&ctx, after);
  for (int k = 0; k < 8; k++) ops->copy(&ctx, d1, d2, NBYTES);
  ops->fence_record(&ctx, f);
  ops->fence_sync(&ctx, f);
  double ms = ops->fence_elapsed_ms(after, f), zero = ops->fence_elapsed_ms(f, f);
  CHECK(ms >= 0 && ms < 60e3, "fence_elapsed_ms around 8 copies: %g ms", ms);
  CHECK(zero == 0, "fence_elapsed_ms of a fence to itself: %g ms", zero);
  printf("ok   fence_elapsed_ms: 8 copies of %zu bytes in %.3f ms\n", (size_t)NBYTES, ms);

  void *empty = ops->host_alloc(0);
  CHECK(empty != NULL, "host_alloc(0) returned NULL");
  ops->host_free(empty);
  ops->host_free(NULL);

  ops->fence_free(f);
  ops->fence_free(after);
  ops->free(d1);
  ops->free(d2);
  ops->host_free(a);
  ops->host_free(b);
  ops->host_free(back);
  ops->host_free(back2);
  op_ctx_free(&ctx);
  return test_finish("test_async_copy_gpu");
}
