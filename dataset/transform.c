/* Batch transforms: see transform.h. */
#include "dataset/transform.h"

#include "kernels/philox.h"

#include <math.h>

void transform_to_float(const uint8_t *src, int64_t n, float *dst) {
  for (int64_t i = 0; i < n; i++)
    dst[i] = (float)src[i] / 255.0f;
}

void transform_reduce_bits(float *x, int64_t n, int num_x_bits) {
  if (num_x_bits >= 8) return;
  /* Same float32 operation order as the official torch code ((x * 255) / 2^k is exact after the
   * rounded product), so values on level boundaries land on the same side. */
  const float div = (float)(1 << (8 - num_x_bits));
  const float levels = (float)((1 << num_x_bits) - 1);
  for (int64_t i = 0; i < n; i++)
    x[i] = floorf(x[i] * 255.0f / div) / levels;
}

void transform_binarize(float *x, int64_t n_samples, int64_t per_sample, uint64_t seed,
                        uint32_t step, uint32_t first_sample) {
  for (int64_t s = 0; s < n_samples; s++) {
    float *v = x + s * per_sample;
    for (int64_t i = 0; i < per_sample; i += 4) {
      philox4x32 r =
          philox_block(seed, PHILOX_BINARIZE, step, first_sample + (uint32_t)s, (uint32_t)(i / 4));
      for (int lane = 0; lane < 4 && i + lane < per_sample; lane++)
        v[i + lane] = philox_uniform(r.v[lane]) < v[i + lane] ? 1.0f : 0.0f;
    }
  }
}
