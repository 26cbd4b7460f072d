/* Host-side entry points of the CUDA backend that C code (tests, tools, the trainer) may call.
 * Only available when the project was built with the CUDA backend (NVAE_HAVE_CUDA); the functions
 * take device pointers. */
#ifndef NVAE_KERNELS_CUDA_BACKEND_H
#define NVAE_KERNELS_CUDA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/random.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of visible CUDA devices; 0 when there is no driver or no GPU (never fatal). */
int cuda_device_count(void);
/* One line: device name, compute capability, driver/runtime, cuDNN and NCCL versions. */
void cuda_describe(int device, char *buf, size_t len);

void *cuda_malloc(size_t bytes);
void cuda_free(void *p);
void cuda_memcpy_h2d(void *dst, const void *src, size_t bytes);
void cuda_memcpy_d2h(void *dst, const void *src, size_t bytes);
void cuda_synchronize(void);

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
