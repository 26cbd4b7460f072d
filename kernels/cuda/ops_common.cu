/* Host helpers of the CUDA op kernels: see ops_common.cuh. */
#include "kernels/cuda/ops_common.cuh"

#include <stdint.h>
#include <stdlib.h>

void ops_copy_d2h(cudaStream_t s, void *host, const void *dev, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
}

void ops_copy_h2d(cudaStream_t s, void *dev, const void *host, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, s));
  /* the caller may reuse its host buffer as soon as we return */
  CUDA_CHECK(cudaStreamSynchronize(s));
}

void ops_bn_allreduce(cudaStream_t s, const bn_sync *sync, double *dev_sums, int len) {
  if (!sync) return;
  if (sync->allreduce_sum_dev) { /* stream-ordered: no host wait inside the forward */
    sync->allreduce_sum_dev(sync->arg, dev_sums, len, (void *)s);
    return;
  }
  if (!sync->allreduce_sum) return;
  size_t bytes = (size_t)len * sizeof(double);
  double *host = (double *)nvae_malloc(bytes); /* [len]: Σ (C), Σ² or Σ·x̂ (C), count (1) */
  ops_copy_d2h(s, host, dev_sums, bytes);
  sync->allreduce_sum(sync->arg, host, len);
  ops_copy_h2d(s, dev_sums, host, bytes);
  free(host);
}
