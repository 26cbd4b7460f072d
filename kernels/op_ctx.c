/* op_ctx: see op_ctx.h. The CUDA half of a context lives in kernels/cuda/backend_cuda.c; this file
 * reaches it only in CUDA builds (NVAE_HAVE_CUDA), so a CPU-only binary never links CUDA. */
#include "kernels/op_ctx.h"

#include "kernels/backend.h"
#ifdef NVAE_HAVE_CUDA
#include "kernels/cuda_backend.h"
#endif

#include <stdio.h>
#include <string.h>

op_ctx op_ctx_cpu(void) {
  op_ctx c;
  memset(&c, 0, sizeof c);
  c.ops = &op_backend_cpu;
  c.device = DEVICE_CPU;
  return c;
}

int op_ctx_for_device(nvae_device device, int gpu_index, op_ctx *ctx, char *err, size_t err_len) {
  if (device == DEVICE_CPU) {
    *ctx = op_ctx_cpu();
    return 0;
  }
#ifdef NVAE_HAVE_CUDA
  int n = cuda_device_count();
  if (n == 0) {
    snprintf(err, err_len, "device cuda: no CUDA device visible (driver missing or no GPU)");
    return -1;
  }
  if (gpu_index < 0 || gpu_index >= n) {
    snprintf(err, err_len, "device cuda: GPU %d requested, %d visible", gpu_index, n);
    return -1;
  }
  *ctx = op_ctx_cuda(gpu_index);
  return 0;
#else
  (void)gpu_index;
  snprintf(err, err_len,
           "device cuda: this binary was built without the CUDA backend "
           "(configure with -DNVAE_CUDA=ON where the CUDA toolkit, cuDNN and NCCL are)");
  return -1;
#endif
}

void *op_ctx_scratch(op_ctx *ctx, size_t bytes) {
  if (ctx->device == DEVICE_CUDA) {
#ifdef NVAE_HAVE_CUDA
    return cuda_ctx_scratch(ctx, bytes);
#else
    NVAE_FATAL("op_ctx_scratch: a CUDA context in a binary built without CUDA");
#endif
  }
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
  if (ctx->device == DEVICE_CUDA) {
#ifdef NVAE_HAVE_CUDA
    cuda_ctx_release(ctx); /* frees the device scratch, the stream and the handles */
#endif
  } else {
    nvae_free(ctx->scratch);
  }
  ctx->scratch = NULL;
  ctx->scratch_bytes = 0;
}

int op_device_count(nvae_device device) {
  if (device == DEVICE_CPU) return 1;
#ifdef NVAE_HAVE_CUDA
  return cuda_device_count();
#else
  return 0;
#endif
}
