/* The BatchNorm passes on device buffers, shared by ops_batchnorm.cu and ops_bn_swish.cu (the
 * fused op is the same passes with swish applied or recomputed inside them). CUDA sources only.
 *
 * Device sums have the CPU layout [2C + 1] doubles: forward [Σx (C) | Σx² (C) | count],
 * backward [Σg (C) | Σg·x̂ (C) | count], g = dy (or dz for bn_swish). Per-channel sums run in two
 * passes: one block per (n, c) plane (per BN_SPLIT piece of it) sums its elements in double
 * (tree), then one thread per channel adds the N·splits partial sums in order; the grid depends on
 * the shape only. */
#ifndef NVAE_KERNELS_CUDA_OPS_BATCHNORM_CUH
#define NVAE_KERNELS_CUDA_OPS_BATCHNORM_CUH

#include "kernels/cuda/ops_common.cuh"

typedef struct bn_dims {
  int64_t n, c, hw;
} bn_dims;

bn_dims bn_dims_of(const tensor *x);

/* A plane longer than BN_SPLIT elements is summed by several blocks (a fixed split, so the sums
 * stay deterministic), which keeps the GPU busy when N·C is small and H·W large. */
#define BN_SPLIT 16384
static inline int64_t bn_splits(bn_dims d) {
  return d.hw > BN_SPLIT ? (d.hw + BN_SPLIT - 1) / BN_SPLIT : 1;
}

/* Scratch (op_ctx_scratch, one call per op) of the passes: the sums [2C + 1] and the partial sums
 * `part` [N·C, splits, 2] (bn_part_len doubles). */
static inline size_t bn_sums_bytes(bn_dims d) {
  return ops_pad((size_t)(2 * d.c + 1) * sizeof(double));
}
static inline int64_t bn_part_len(bn_dims d) { return 2 * d.n * d.c * bn_splits(d); }
static inline size_t bn_part_bytes(bn_dims d) {
  return ops_pad((size_t)bn_part_len(d) * sizeof(double));
}

/* dsums [2C + 1] (device) = local Σx, Σx², N·H·W of x. part: scratch [bn_part_len]. */
void bn_local_sums_dev(cudaStream_t s, const tensor *x, double *part, double *dsums);

/* From device sums holding `count` values per channel: save_mean, save_invstd, the running
 * statistics (nullable), and y = BN(x), or swish(BN(x)) when swish is set. */
void bn_normalize_dev(cudaStream_t s, const batchnorm_params *p, double count, const double *dsums,
                      const tensor *x, const tensor *gamma, const tensor *beta,
                      tensor *running_mean, tensor *running_var, tensor *y, tensor *save_mean,
                      tensor *save_invstd, int swish);

/* dsums [2C + 1] (device) = local Σg, Σg·x̂, N·H·W; dgamma += Σg·x̂, dbeta += Σg (nullable).
 * swish_beta NULL: g = dy. swish_beta set (bn_swish): g = dz = dy·swish'(z) with
 * z = gamma·save_invstd·(x - save_mean) + beta recomputed, and dz [N, C, H, W] is written for
 * bn_backward_input_dev. part: scratch [bn_part_len]. */
void bn_backward_sums_dev(cudaStream_t s, const tensor *x, const tensor *gamma,
                          const tensor *swish_beta, const tensor *save_mean,
                          const tensor *save_invstd, const tensor *dy, float *dz, double *part,
                          double *dsums, tensor *dgamma, tensor *dbeta);

/* dx += gamma·invstd·(g - Σg/M - x̂·Σg·x̂/M), M = dsums[2C], g [N, C, H, W] device floats. */
void bn_backward_input_dev(cudaStream_t s, const double *dsums, const tensor *x,
                           const tensor *gamma, const tensor *save_mean, const tensor *save_invstd,
                           const float *g, tensor *dx);

/* Eval mode with the running statistics: y = BN_eval(x) (or swish of it). */
void bn_forward_eval_dev(cudaStream_t s, const batchnorm_params *p, const tensor *x,
                         const tensor *gamma, const tensor *beta, const tensor *running_mean,
                         const tensor *running_var, tensor *y, int swish);
/* Eval backward; with swish_beta set, through swish(BN_eval) recomputed. dx, dgamma, dbeta
 * nullable, accumulated. part: scratch [bn_part_len]. */
void bn_backward_eval_dev(cudaStream_t s, const batchnorm_params *p, const tensor *x,
                          const tensor *gamma, const tensor *swish_beta, const tensor *running_mean,
                          const tensor *running_var, const tensor *dy, double *part, tensor *dx,
                          tensor *dgamma, tensor *dbeta);

/* The bn_sync all-reduce of device sums [2C + 1] (a no-op for sync NULL); returns the global
 * element count after a host all-reduce, local_count without sync, and with allreduce_sum_dev
 * local_count when it is > 1 (a lower bound of the global count, enough for bn_normalize_dev's
 * check; the kernels read the count on the device), else the global count read back. */
double bn_reduce(cudaStream_t s, const bn_sync *sync, double *dsums, int64_t c, double local_count);

/* The recomputed swish gradient alone: dz = dy·swish'(z) (overwritten). */
void bn_swish_dz_dev(cudaStream_t s, const tensor *x, const tensor *gamma, const tensor *beta,
                     const tensor *save_mean, const tensor *save_invstd, const tensor *dy,
                     tensor *dz);

#endif
