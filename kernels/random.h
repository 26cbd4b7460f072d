/* Filling buffers with Philox random numbers, per sample (see philox.h for the counter layout).
 *
 * A buffer holds n_samples consecutive samples of n_per_sample values each: value i of sample s
 * (global index first_sample + s) comes from block i/4, lane i%4 of that sample's counter, so the
 * numbers a sample gets do not depend on which other samples share the buffer (or the rank).
 */
#ifndef NVAE_KERNELS_RANDOM_H
#define NVAE_KERNELS_RANDOM_H

#include <stdint.h>

#include "kernels/op_ctx.h"
#include "kernels/philox.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct philox_stream {
  uint64_t seed;
  uint32_t purpose; /* a philox_purpose */
  uint32_t step;    /* optimizer step (or any per-call counter) */
} philox_stream;

/* out[n_samples, n_per_sample] ~ U(0, 1) / N(0, 1). */
void philox_fill_uniform_cpu(const philox_stream *s, uint32_t first_sample, int64_t n_samples,
                             int64_t n_per_sample, float *out);
void philox_fill_normal_cpu(const philox_stream *s, uint32_t first_sample, int64_t n_samples,
                            int64_t n_per_sample, float *out);
/* Raw 32-bit words (for tests and for integer decisions such as flips). */
void philox_fill_u32_cpu(const philox_stream *s, uint32_t first_sample, int64_t n_samples,
                         int64_t n_per_sample, uint32_t *out);

#ifdef __cplusplus
}
#endif

#endif
