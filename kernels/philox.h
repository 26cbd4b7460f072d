/* Philox 4x32-10 counter-based random numbers (Salmon et al., SC'11 "Parallel random numbers: as
 * easy as 1, 2, 3"), shared verbatim by the C and CUDA backends: this header is compiled by both gcc
 * and nvcc, so the 32-bit outputs are bit-identical on CPU and GPU.
 *
 * Key = the run's 64-bit seed. Counter = (element block, global sample index, step, purpose):
 * per-sample randomness is keyed by the GLOBAL sample index, never by rank, so a global batch draws
 * the same numbers however it is split across ranks, and a resume needs only (seed, step).
 *
 * Uniforms are (k + 0.5) * 2^-23 for k = the top 23 bits: strictly inside (0, 1), so log(u) and
 * log(1 - u) are finite. Normals use Box-Muller in float32 on a pair of uniforms; CPU libm and CUDA
 * logf/sincosf may differ in the last ulp, which parity tolerances absorb.
 */
#ifndef NVAE_KERNELS_PHILOX_H
#define NVAE_KERNELS_PHILOX_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define PHILOX_HD __host__ __device__ __forceinline__
#else
#define PHILOX_HD static inline
#endif

/* What a stream of random numbers is for (the counter's top word). */
typedef enum philox_purpose {
  PHILOX_LATENT_EPS = 1,     /* reparameterisation noise of the latent groups */
  PHILOX_FLIP = 2,           /* random horizontal flips in the loader */
  PHILOX_BINARIZE = 3,       /* dynamic binarisation */
  PHILOX_DMOL_SAMPLE = 4,    /* output-distribution sampling */
  PHILOX_SPECTRAL_INIT = 5,  /* power-iteration vectors u, v */
  PHILOX_PARAM_INIT = 6,     /* parameter initialisation */
  PHILOX_SHUFFLE = 7,        /* sampler permutation */
  PHILOX_TEST = 99           /* tests and benchmarks */
} philox_purpose;

typedef struct philox4x32 {
  uint32_t v[4];
} philox4x32;

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* The 4x32-10 bijection: 10 rounds of two 32x32->64 multiplies, key bumped between rounds. */
PHILOX_HD philox4x32 philox4x32_10(philox4x32 ctr, uint32_t key0, uint32_t key1) {
  for (int round = 0; round < 10; round++) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * ctr.v[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * ctr.v[2];
    philox4x32 next;
    next.v[0] = (uint32_t)(p1 >> 32) ^ ctr.v[1] ^ key0;
    next.v[1] = (uint32_t)p1;
    next.v[2] = (uint32_t)(p0 >> 32) ^ ctr.v[3] ^ key1;
    next.v[3] = (uint32_t)p0;
    ctr = next;
    key0 += PHILOX_W0;
    key1 += PHILOX_W1;
  }
  return ctr;
}

/* Four random words for (seed, purpose, step, sample, block). */
PHILOX_HD philox4x32 philox_block(uint64_t seed, uint32_t purpose, uint32_t step, uint32_t sample,
                                  uint32_t block) {
  philox4x32 ctr;
  ctr.v[0] = block;
  ctr.v[1] = sample;
  ctr.v[2] = step;
  ctr.v[3] = purpose;
  return philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* Uniform in (0, 1): (top 23 bits + 0.5) / 2^23, exact in float32. */
PHILOX_HD float philox_uniform(uint32_t x) {
  return ((float)(x >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

/* Box-Muller on two uniforms -> two standard normals (float32 math on both backends). */
PHILOX_HD void philox_box_muller(uint32_t a, uint32_t b, float *z0, float *z1) {
  float u1 = philox_uniform(a);
  float u2 = philox_uniform(b);
  float r = sqrtf(-2.0f * logf(u1));
  float theta = 6.2831853071795864f * u2;
  *z0 = r * cosf(theta);
  *z1 = r * sinf(theta);
}

#endif
