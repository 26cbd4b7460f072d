/* What a CUDA op context carries besides the fields of op_ctx (kernels/op_ctx.h), for the host
 * code of the CUDA backend (.c and .cu files under kernels/cuda/). Ops take their stream as
 * cuda_ctx_stream(ctx) and their temporary device memory from op_ctx_scratch(ctx, bytes): ONE call
 * per op with the total size (a second call may move the buffer). */
#ifndef NVAE_KERNELS_CUDA_CTX_H
#define NVAE_KERNELS_CUDA_CTX_H

#include "kernels/cpu/conv.h"
#include "kernels/op_ctx.h"

#include <cuda_runtime.h>
#include <cudnn.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The default cap on one cuDNN algorithm's workspace; algorithms that need more are skipped. */
#define CUDA_CONV_WORKSPACE_LIMIT ((size_t)1 << 30)

typedef struct cuda_ctx_state {
  int device;             /* the GPU index of cudaSetDevice */
  cudnnHandle_t cudnn;    /* bound to the context's stream */
  size_t workspace_limit; /* per cuDNN call, bytes */
  void *conv_cache;       /* conv_cudnn.cu: descriptors and chosen algorithms per shape */
  /* from_host_async (backend_cuda.c): uploads run on their own stream so that they overlap the
   * context's work; copy_after is recorded on the context's stream when the caller gives no
   * fence, copy_done on the copy stream after each upload (reused: a wait takes the event's state
   * at the time of the call). */
  cudaStream_t copy_stream; /* non-blocking: never ordered with the legacy default stream */
  cudaEvent_t copy_after, copy_done;
} cuda_ctx_state;

/* The stream every op of this context is queued on (defined in backend_cuda.c; also declared,
 * identically, in cuda_ops.h for the kernels). */
cudaStream_t cuda_ctx_stream(const op_ctx *ctx);
static inline cuda_ctx_state *cuda_ctx_state_of(const op_ctx *ctx) {
  return (cuda_ctx_state *)ctx->backend_state;
}

/* kernels/cuda/conv_cudnn.cu: the conv entries of the table (same contract as conv.h). */
void conv2d_forward_cuda(op_ctx *ctx, const conv2d_params *p, const tensor *x, const tensor *w,
                         const tensor *mask, const tensor *b, tensor *y);
void conv2d_backward_cuda(op_ctx *ctx, const conv2d_params *p, const tensor *x, const tensor *w,
                          const tensor *mask, const tensor *dy, tensor *dx, tensor *dw, tensor *db);
/* Frees a context's conv cache (descriptors); called by cuda_ctx_release. */
void conv_cudnn_cache_free(void *cache);

#ifdef __cplusplus
}
#endif

#endif
