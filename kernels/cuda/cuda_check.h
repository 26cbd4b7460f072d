/* Checked CUDA / cuDNN / NCCL calls: on failure print the library's error text with file:line and
 * exit(1). Host code of the CUDA backend only (included from .cu files). */
#ifndef NVAE_KERNELS_CUDA_CHECK_H
#define NVAE_KERNELS_CUDA_CHECK_H

#include <cuda_runtime.h>
#include <cudnn.h>
#include <nccl.h>

#include "kernels/base/error.h"

#define CUDA_CHECK(call)                                                                         \
  do {                                                                                           \
    cudaError_t err_ = (call);                                                                   \
    if (err_ != cudaSuccess)                                                                     \
      nvae_fatal_at(__FILE__, __LINE__, "CUDA error %s: %s (in %s)", cudaGetErrorName(err_),    \
                    cudaGetErrorString(err_), #call);                                            \
  } while (0)

#define CUDNN_CHECK(call)                                                                        \
  do {                                                                                           \
    cudnnStatus_t st_ = (call);                                                                  \
    if (st_ != CUDNN_STATUS_SUCCESS)                                                             \
      nvae_fatal_at(__FILE__, __LINE__, "cuDNN error: %s (in %s)", cudnnGetErrorString(st_),     \
                    #call);                                                                      \
  } while (0)

#define NCCL_CHECK(call)                                                                         \
  do {                                                                                           \
    ncclResult_t r_ = (call);                                                                    \
    if (r_ != ncclSuccess)                                                                       \
      nvae_fatal_at(__FILE__, __LINE__, "NCCL error: %s (in %s)", ncclGetErrorString(r_), #call); \
  } while (0)

/* After a kernel launch: catches bad launch configurations at the launch site. */
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

#endif
