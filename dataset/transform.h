/* Functions the trainer applies to a batch after it left the loader, in this order (NVAE's
 * pre-processing): uint8 -> float in [0, 1], then num_x_bits reduction, then (binary data)
 * dynamic binarisation. These are the CPU references; the CUDA backend implements the same
 * arithmetic and the same Philox keying on the device. Prefix transform_. */
#ifndef NVAE_DATASET_TRANSFORM_H
#define NVAE_DATASET_TRANSFORM_H

#include <stdint.h>

/* dst[i] = src[i] / 255 (torchvision's ToTensor). */
void transform_to_float(const uint8_t *src, int64_t n, float *dst);
/* NVAE's utils.pre_process for num_x_bits < 8: x = floor(x * 255 / 2^(8 - bits)) / (2^bits - 1).
 * bits == 8 leaves x unchanged. */
void transform_reduce_bits(float *x, int64_t n, int num_x_bits);
/* Dynamic binarisation x ~ Bernoulli(x), in place: x = (u < x) ? 1 : 0 with u the Philox uniform
 * of value i of sample s, counter = (block i/4, first_sample + s, step, PHILOX_BINARIZE), lane
 * i%4 (the layout of philox_fill_uniform_cpu). Pass the sample's position in the GLOBAL batch
 * (rank * batch + j, i.e. first_sample = rank * batch) and the optimizer step, so every rank split
 * draws the same numbers and every step a fresh binarisation. x: [n_samples, per_sample]. */
void transform_binarize(float *x, int64_t n_samples, int64_t per_sample, uint64_t seed,
                        uint32_t step, uint32_t first_sample);

#endif
