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
  void *backend_state; /* backend-private (CUDA: cuDNN handle, conv algorithm cache) */
} op_ctx;

/* A CPU context with an empty scratch buffer. A CUDA context comes from op_ctx_cuda()
 * (kernels/cuda_backend.h, CUDA builds only) or, without naming CUDA, from op_ctx_for_device(). */
op_ctx op_ctx_cpu(void);
/* A context for `device` (CUDA: GPU `gpu_index`, its own stream, cuDNN handle; deterministic and
 * allow_tf32 off). Returns 0, or -1 with a message in err when the backend is not built into this
 * binary or no GPU is visible (never exits for that). */
int op_ctx_for_device(nvae_device device, int gpu_index, op_ctx *ctx, char *err, size_t err_len);
/* Devices of that kind this binary can use: 1 for the CPU; visible GPUs for CUDA (0 when the
 * binary has no CUDA backend, no driver or no GPU). Never fatal. */
int op_device_count(nvae_device device);
/* Scratch of at least `bytes` bytes (64-byte aligned) on the context's device, valid until the next
 * call on this ctx (CPU: host memory; CUDA: device memory, may synchronise the ctx's stream when
 * it grows). */
void *op_ctx_scratch(op_ctx *ctx, size_t bytes);
/* Releases the scratch and, for CUDA, the stream and library handles. */
void op_ctx_free(op_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif
