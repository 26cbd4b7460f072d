/* Per-thread execution context passed first to every op.
 *
 * It carries what an op may need besides its tensors: the backend, the determinism and TF32
 * switches, the CUDA stream, and a scratch buffer that grows on demand (im2col columns, cuDNN
 * workspaces). One context per thread that runs ops; it is not thread-safe.
 *
 * Gradient convention for every *_backward op: gradients are ACCUMULATED (+=) into dx, dw, db ...
 * so a tensor used twice (residual branches) needs no extra add; the caller zeroes gradient
 * buffers once before backward. Pointers documented as "nullable" may be NULL to skip that output.
 */
#ifndef NVAE_KERNELS_OP_CTX_H
#define NVAE_KERNELS_OP_CTX_H

#include <stddef.h>

#include "kernels/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

struct op_backend;

typedef struct op_ctx {
  const struct op_backend *ops; /* the op table of this context's backend (kernels/backend.h) */
  nvae_device device;
  int deterministic; /* 1: only bit-reproducible algorithms (CUDA: deterministic cuDNN algos) */
  int allow_tf32;    /* CUDA only; 0 by default so that parity tests compare true float32 */
  void *stream;      /* cudaStream_t for the CUDA backend, NULL on CPU */
  void *scratch;     /* grown by op_ctx_scratch(); host memory on CPU, device memory on CUDA */
  size_t scratch_bytes;
  void *backend_state; /* backend-private (cuDNN handle, algorithm cache) */
} op_ctx;

/* A CPU context with an empty scratch buffer. */
op_ctx op_ctx_cpu(void);
/* Scratch of at least `bytes` bytes (64-byte aligned), valid until the next call on this ctx. */
void *op_ctx_scratch(op_ctx *ctx, size_t bytes);
void op_ctx_free(op_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif
