/* Backend lookup: see backend.h. */
#include "kernels/backend.h"
#ifdef NVAE_HAVE_CUDA
#include "kernels/cuda_backend.h"
#endif

const op_backend *op_backend_get(nvae_device device) {
  switch (device) {
  case DEVICE_CPU: return &op_backend_cpu;
  case DEVICE_CUDA:
#ifdef NVAE_HAVE_CUDA
    return op_backend_cuda(); /* kernels/cuda/backend_cuda.c; needs no GPU to be taken */
#else
    return NULL; /* built without the CUDA backend */
#endif
  }
  return NULL;
}
