/* Philox buffer fills on the CPU: see kernels/random.h. */
#include "kernels/random.h"

#include <math.h>

#include "kernels/philox.h"

void philox_fill_u32_cpu(const philox_stream *s, uint32_t first_sample, int64_t n_samples,
                         int64_t n_per_sample, uint32_t *out) {
  for (int64_t b = 0; b < n_samples; b++) {
    uint32_t sample = first_sample + (uint32_t)b;
    for (int64_t i = 0; i < n_per_sample; i += 4) {
      philox4x32 r = philox_block(s->seed, s->purpose, s->step, sample, (uint32_t)(i / 4));
      for (int lane = 0; lane < 4 && i + lane < n_per_sample; lane++)
        out[b * n_per_sample + i + lane] = r.v[lane];
    }
  }
}

void philox_fill_uniform_cpu(const philox_stream *s, uint32_t first_sample, int64_t n_samples,
                             int64_t n_per_sample, float *out) {
  for (int64_t b = 0; b < n_samples; b++) {
    uint32_t sample = first_sample + (uint32_t)b;
    for (int64_t i = 0; i < n_per_sample; i += 4) {
      philox4x32 r = philox_block(s->seed, s->purpose, s->step, sample, (uint32_t)(i / 4));
      for (int lane = 0; lane < 4 && i + lane < n_per_sample; lane++)
        out[b * n_per_sample + i + lane] = philox_uniform(r.v[lane]);
    }
  }
}

void philox_fill_normal_cpu(const philox_stream *s, uint32_t first_sample, int64_t n_samples,
                            int64_t n_per_sample, float *out) {
  for (int64_t b = 0; b < n_samples; b++) {
    uint32_t sample = first_sample + (uint32_t)b;
    for (int64_t i = 0; i < n_per_sample; i += 4) {
      philox4x32 r = philox_block(s->seed, s->purpose, s->step, sample, (uint32_t)(i / 4));
      float z[4];
      philox_box_muller(r.v[0], r.v[1], &z[0], &z[1]);
      philox_box_muller(r.v[2], r.v[3], &z[2], &z[3]);
      for (int lane = 0; lane < 4 && i + lane < n_per_sample; lane++)
        out[b * n_per_sample + i + lane] = z[lane];
    }
  }
}
