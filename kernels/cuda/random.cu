/* Philox buffer fills on the GPU: one thread per (sample, block of 4 values); the same
 * philox_block() / philox_uniform() / philox_box_muller() as the CPU (kernels/philox.h). */
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda_backend.h"
#include "kernels/philox.h"

enum { FILL_U32 = 0, FILL_UNIFORM = 1, FILL_NORMAL = 2 };

template <int KIND>
__global__ void philox_fill_kernel(uint64_t seed, uint32_t purpose, uint32_t step,
                                   uint32_t first_sample, int64_t n_samples, int64_t n_per_sample,
                                   void *out) {
  int64_t blocks_per_sample = (n_per_sample + 3) / 4;
  int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n_samples * blocks_per_sample) return;
  int64_t b = t / blocks_per_sample, blk = t % blocks_per_sample;
  philox4x32 r = philox_block(seed, purpose, step, first_sample + (uint32_t)b, (uint32_t)blk);
  int64_t base = b * n_per_sample + blk * 4;
  int lanes = (int)min((int64_t)4, n_per_sample - blk * 4);
  if (KIND == FILL_U32) {
    uint32_t *o = (uint32_t *)out;
    for (int l = 0; l < lanes; l++) o[base + l] = r.v[l];
  } else if (KIND == FILL_UNIFORM) {
    float *o = (float *)out;
    for (int l = 0; l < lanes; l++) o[base + l] = philox_uniform(r.v[l]);
  } else {
    float z[4];
    philox_box_muller(r.v[0], r.v[1], &z[0], &z[1]);
    philox_box_muller(r.v[2], r.v[3], &z[2], &z[3]);
    float *o = (float *)out;
    for (int l = 0; l < lanes; l++) o[base + l] = z[l];
  }
}

template <int KIND>
static void philox_fill_launch(const philox_stream *s, uint32_t first_sample, int64_t n_samples,
                               int64_t n_per_sample, void *out, void *stream) {
  int64_t threads = n_samples * ((n_per_sample + 3) / 4);
  if (threads == 0) return;
  int block = 256;
  unsigned grid = (unsigned)((threads + block - 1) / block);
  philox_fill_kernel<KIND><<<grid, block, 0, (cudaStream_t)stream>>>(
      s->seed, s->purpose, s->step, first_sample, n_samples, n_per_sample, out);
  CUDA_CHECK_LAUNCH();
}

extern "C" void philox_fill_u32_cuda(const philox_stream *s, uint32_t first_sample,
                                     int64_t n_samples, int64_t n_per_sample, uint32_t *out,
                                     void *stream) {
  philox_fill_launch<FILL_U32>(s, first_sample, n_samples, n_per_sample, out, stream);
}

extern "C" void philox_fill_uniform_cuda(const philox_stream *s, uint32_t first_sample,
                                         int64_t n_samples, int64_t n_per_sample, float *out,
                                         void *stream) {
  philox_fill_launch<FILL_UNIFORM>(s, first_sample, n_samples, n_per_sample, out, stream);
}

extern "C" void philox_fill_normal_cuda(const philox_stream *s, uint32_t first_sample,
                                        int64_t n_samples, int64_t n_per_sample, float *out,
                                        void *stream) {
  philox_fill_launch<FILL_NORMAL>(s, first_sample, n_samples, n_per_sample, out, stream);
}
