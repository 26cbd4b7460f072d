/* Host-side entry points of the CUDA backend that C code (tests, tools, the trainer) may call.
 * Only available when the project was built with the CUDA backend (NVAE_HAVE_CUDA); the functions
 * take device pointers. */
#ifndef NVAE_KERNELS_CUDA_BACKEND_H
#define NVAE_KERNELS_CUDA_BACKEND_H

#include "kernels/op_ctx.h"
#include "kernels/random.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct op_backend;

/* ---- the CUDA backend (kernels/cuda/backend_cuda.c) ----
 * The op table: memory (cudaMalloc, 256-byte aligned by the driver, so 64-byte aligned as
 * backend.h asks), Philox fills, cuDNN convolutions (kernels/cuda/conv_cudnn.cu) and the CUDA C
 * kernels of kernels/cuda/ops_*.cu. Built without touching the GPU: taking the table needs no
 * device (test_cuda_table checks it on CPU machines). */
const struct op_backend *op_backend_cuda(void);

/* A CUDA op context on GPU `gpu_index`: cudaSetDevice, its own stream (ordered with the legacy
 * default stream, so plain cudaMemcpy calls elsewhere stay ordered with it), a cuDNN handle bound
 * to that stream, a copy stream (non-blocking) for from_host_async with the two events of its
 * hand-off, an empty workspace that op_ctx_scratch() grows, the conv algorithm cache;
 * deterministic = 0 and allow_tf32 = 0 (true float32, what the parity tests compare). Change
 * ctx.deterministic / ctx.allow_tf32 at any time: the conv algorithm cache is keyed by both.
 * Fatal (file:line, CUDA's error text) when the GPU cannot be used; check cuda_device_count() first
 * or use op_ctx_for_device() (kernels/op_ctx.h), which returns an error instead. */
op_ctx op_ctx_cuda(int gpu_index);
/* op_ctx_scratch() and op_ctx_free() for CUDA contexts (called through kernels/op_ctx.c). */
void *cuda_ctx_scratch(op_ctx *ctx, size_t bytes);
void cuda_ctx_release(op_ctx *ctx);
/* Waits for everything queued on the context's stream and its copy stream. */
void cuda_ctx_synchronize(op_ctx *ctx);

/* Number of visible CUDA devices; 0 when there is no driver or no GPU (never fatal). */
int cuda_device_count(void);
/* One line: device name, compute capability, driver/runtime, cuDNN and NCCL versions. */
void cuda_describe(int device, char *buf, size_t len);

void *cuda_malloc(size_t bytes);
void cuda_free(void *p);
void cuda_memcpy_h2d(void *dst, const void *src, size_t bytes);
void cuda_memcpy_d2h(void *dst, const void *src, size_t bytes);
void cuda_synchronize(void);
/* Free and total memory of the current device (cudaMemGetInfo). */
void cuda_mem_info(size_t *free_bytes, size_t *total_bytes);

/* Same numbers as the *_cpu versions in kernels/random.h; out is device memory. */
void philox_fill_uniform_cuda(const philox_stream *s, uint32_t first_sample, int64_t n_samples,
                              int64_t n_per_sample, float *out, void *stream);
void philox_fill_normal_cuda(const philox_stream *s, uint32_t first_sample, int64_t n_samples,
                             int64_t n_per_sample, float *out, void *stream);
void philox_fill_u32_cuda(const philox_stream *s, uint32_t first_sample, int64_t n_samples,
                          int64_t n_per_sample, uint32_t *out, void *stream);

#ifdef __cplusplus
}
#endif

#endif
