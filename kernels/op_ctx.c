/* op_ctx: see op_ctx.h. */
#include "kernels/op_ctx.h"

#include "kernels/backend.h"

#include <string.h>

op_ctx op_ctx_cpu(void) {
  op_ctx c;
  memset(&c, 0, sizeof c);
  c.ops = &op_backend_cpu;
  c.device = DEVICE_CPU;
  return c;
}

void *op_ctx_scratch(op_ctx *ctx, size_t bytes) {
  NVAE_ASSERT(ctx->device == DEVICE_CPU, "op_ctx_scratch: CUDA scratch lives in kernels/cuda");
  if (bytes > ctx->scratch_bytes) {
    nvae_free(ctx->scratch);
    /* Grow geometrically so that a sweep over increasing shapes does not reallocate every op. */
    size_t want = bytes + bytes / 4;
    ctx->scratch = nvae_aligned_alloc(want);
    ctx->scratch_bytes = want;
  }
  return ctx->scratch;
}

void op_ctx_free(op_ctx *ctx) {
  if (ctx->device == DEVICE_CPU) nvae_free(ctx->scratch);
  ctx->scratch = NULL;
  ctx->scratch_bytes = 0;
}
