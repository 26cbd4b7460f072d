/* Device discovery, memory helpers and library versions for the CUDA backend. */
#include <stdio.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda_backend.h"

extern "C" int cuda_device_count(void) {
  int n = 0;
  /* No driver / no device is a normal situation on CPU machines: report 0, do not exit. */
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

extern "C" void cuda_describe(int device, char *buf, size_t len) {
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  int driver = 0, runtime = 0, nccl = 0;
  CUDA_CHECK(cudaDriverGetVersion(&driver));
  CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  NCCL_CHECK(ncclGetVersion(&nccl));
  snprintf(buf, len, "%s (sm_%d%d, %.1f GiB), driver %d, runtime %d, cuDNN %zu, NCCL %d",
           prop.name, prop.major, prop.minor, (double)prop.totalGlobalMem / (1 << 30), driver,
           runtime, cudnnGetVersion(), nccl);
}

extern "C" void *cuda_malloc(size_t bytes) {
  void *p = NULL;
  CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
  return p;
}

extern "C" void cuda_free(void *p) {
  if (p) CUDA_CHECK(cudaFree(p));
}

extern "C" void cuda_memcpy_h2d(void *dst, const void *src, size_t bytes) {
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

extern "C" void cuda_memcpy_d2h(void *dst, const void *src, size_t bytes) {
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

extern "C" void cuda_mem_info(size_t *free_bytes, size_t *total_bytes) {
  CUDA_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
}

extern "C" void cuda_synchronize(void) { CUDA_CHECK(cudaDeviceSynchronize()); }
