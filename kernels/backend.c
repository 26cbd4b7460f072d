/* Backend lookup: see backend.h. */
#include "kernels/backend.h"

const op_backend *op_backend_get(nvae_device device) {
  switch (device) {
  case DEVICE_CPU: return &op_backend_cpu;
  case DEVICE_CUDA:
    /* The CUDA op table (kernels/cuda/, the CUDA backend issue) is not written yet: this binary
     * has the Philox kernels and device helpers on the GPU, but no GPU op table. */
    return NULL;
  }
  return NULL;
}
