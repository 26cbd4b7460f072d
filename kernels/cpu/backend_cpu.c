/* The CPU backend's op table: see kernels/backend.h. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/base/clock.h"

static void *cpu_alloc(size_t bytes) { return nvae_aligned_alloc(bytes); }
static void cpu_free(void *p) { nvae_free(p); }
static void cpu_zero(op_ctx *ctx, void *p, size_t bytes) { memset(p, 0, bytes); }
static void cpu_copy(op_ctx *ctx, void *dst, const void *src, size_t bytes) {
  memmove(dst, src, bytes);
}

/* Work on the CPU is done when queued: fences are always passed, queued copies are copies. */
struct op_fence {
  double t; /* host clock at the last record (seconds) */
};
static void *cpu_host_alloc(size_t bytes) {
  void *p = NULL;
  return posix_memalign(&p, 64, bytes ? bytes : 64) == 0 ? p : NULL;
}
static op_fence *cpu_fence_new(op_ctx *ctx) { return nvae_calloc(1, sizeof(op_fence)); }
static void cpu_fence_free(op_fence *f) { free(f); }
static void cpu_fence_record(op_ctx *ctx, op_fence *f) { f->t = nvae_now_s(); }
static void cpu_fence_sync(op_ctx *ctx, op_fence *f) {}
static double cpu_fence_elapsed_ms(op_fence *a, op_fence *b) { return 1e3 * (b->t - a->t); }
static void cpu_from_host_async(op_ctx *ctx, void *dev, const void *host, size_t bytes,
                                op_fence *after) {
  memmove(dev, host, bytes);
}

static void cpu_fill_uniform(op_ctx *ctx, const philox_stream *s, uint32_t first_sample,
                             int64_t n_samples, int64_t n_per_sample, float *out) {
  philox_fill_uniform_cpu(s, first_sample, n_samples, n_per_sample, out);
}
static void cpu_fill_normal(op_ctx *ctx, const philox_stream *s, uint32_t first_sample,
                            int64_t n_samples, int64_t n_per_sample, float *out) {
  philox_fill_normal_cpu(s, first_sample, n_samples, n_per_sample, out);
}

const op_backend op_backend_cpu = {
    .name = "cpu",
    .device = DEVICE_CPU,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .zero = cpu_zero,
    .copy = cpu_copy,
    .to_host = cpu_copy,
    .from_host = cpu_copy,
    .host_alloc = cpu_host_alloc,
    .host_free = cpu_free,
    .fence_new = cpu_fence_new,
    .fence_free = cpu_fence_free,
    .fence_record = cpu_fence_record,
    .fence_sync = cpu_fence_sync,
    .fence_elapsed_ms = cpu_fence_elapsed_ms,
    .from_host_async = cpu_from_host_async,
    .to_host_async = cpu_copy,
    .philox_fill_uniform = cpu_fill_uniform,
    .philox_fill_normal = cpu_fill_normal,
    .add_scaled_forward = add_scaled_forward_cpu,
    .add_scaled_backward = add_scaled_backward_cpu,
    .scale_forward = scale_forward_cpu,
    .scale_backward = scale_backward_cpu,
    .swish_forward = swish_forward_cpu,
    .swish_backward = swish_backward_cpu,
    .elu_forward = elu_forward_cpu,
    .elu_backward = elu_backward_cpu,
    .relu_forward = relu_forward_cpu,
    .relu_backward = relu_backward_cpu,
    .sigmoid_forward = sigmoid_forward_cpu,
    .sigmoid_backward = sigmoid_backward_cpu,
    .soft_clamp_forward = soft_clamp_forward_cpu,
    .soft_clamp_backward = soft_clamp_backward_cpu,
    .batchnorm_forward_train = batchnorm_forward_train_cpu,
    .batchnorm_backward_train = batchnorm_backward_train_cpu,
    .batchnorm_local_sums = batchnorm_local_sums_cpu,
    .batchnorm_normalize = batchnorm_normalize_cpu,
    .batchnorm_backward_sums = batchnorm_backward_sums_cpu,
    .batchnorm_backward_input = batchnorm_backward_input_cpu,
    .batchnorm_forward_eval = batchnorm_forward_eval_cpu,
    .batchnorm_backward_eval = batchnorm_backward_eval_cpu,
    .bn_swish_forward_train = bn_swish_forward_train_cpu,
    .bn_swish_backward_train = bn_swish_backward_train_cpu,
    .bn_swish_normalize = bn_swish_normalize_cpu,
    .bn_swish_backward_dz = bn_swish_backward_dz_cpu,
    .bn_swish_forward_eval = bn_swish_forward_eval_cpu,
    .bn_swish_backward_eval = bn_swish_backward_eval_cpu,
    .squeeze_excite_forward = squeeze_excite_forward_cpu,
    .squeeze_excite_backward = squeeze_excite_backward_cpu,
    .concat_channels_forward = concat_channels_forward_cpu,
    .concat_channels_backward = concat_channels_backward_cpu,
    .split_channels_forward = split_channels_forward_cpu,
    .split_channels_backward = split_channels_backward_cpu,
    .upsample_nearest2x_forward = upsample_nearest2x_forward_cpu,
    .upsample_nearest2x_backward = upsample_nearest2x_backward_cpu,
    .upsample_bilinear2x_forward = upsample_bilinear2x_forward_cpu,
    .upsample_bilinear2x_backward = upsample_bilinear2x_backward_cpu,
    .conv2d_forward = conv2d_forward_cpu,
    .conv2d_backward = conv2d_backward_cpu,
    .weight_norm_forward = weight_norm_forward_cpu,
    .weight_norm_backward = weight_norm_backward_cpu,
    .factorized_reduce_forward = factorized_reduce_forward_cpu,
    .factorized_reduce_backward = factorized_reduce_backward_cpu,
    .normal_params_forward = normal_params_forward_cpu,
    .normal_params_backward = normal_params_backward_cpu,
    .normal_sample_forward = normal_sample_forward_cpu,
    .normal_sample_backward = normal_sample_backward_cpu,
    .normal_log_density_forward = normal_log_density_forward_cpu,
    .normal_log_density_backward = normal_log_density_backward_cpu,
    .normal_kl_forward = normal_kl_forward_cpu,
    .normal_kl_backward = normal_kl_backward_cpu,
    .dmol_log_likelihood_forward = dmol_log_likelihood_forward_cpu,
    .dmol_log_likelihood_backward = dmol_log_likelihood_backward_cpu,
    .dmol_sample = dmol_sample_cpu,
    .dmol_mean = dmol_mean_cpu,
    .bernoulli_log_likelihood_forward = bernoulli_log_likelihood_forward_cpu,
    .bernoulli_log_likelihood_backward = bernoulli_log_likelihood_backward_cpu,
    .bernoulli_mean = bernoulli_mean_cpu,
    .spectral_normalize = spectral_normalize_cpu,
    .spectral_power_iteration = spectral_power_iteration_cpu,
    .spectral_sigma_forward = spectral_sigma_forward_cpu,
    .spectral_sigma_backward = spectral_sigma_backward_cpu,
    .bn_max_abs_forward = bn_max_abs_forward_cpu,
    .bn_max_abs_backward = bn_max_abs_backward_cpu,
    .adamax_step = adamax_step_cpu,
    .adam_step = adam_step_cpu,
    .grad_norm_sq = grad_norm_sq_cpu,
    .nonfinite_count = nonfinite_count_cpu,
    .reduce_to_scalar = reduce_to_scalar_cpu,
    .fill_from_scalar = fill_from_scalar_cpu,
    .objective_combine = objective_combine_cpu,
    .optim_gate = optim_gate_cpu,
    .sum_per_sample_forward = sum_per_sample_forward_cpu,
    .sum_per_sample_backward = sum_per_sample_backward_cpu,
    .sum_region_per_sample_forward = sum_region_per_sample_forward_cpu,
    .sum_region_per_sample_backward = sum_region_per_sample_backward_cpu,
    .mean_over_batch_forward = mean_over_batch_forward_cpu,
    .mean_over_batch_backward = mean_over_batch_backward_cpu,
};
