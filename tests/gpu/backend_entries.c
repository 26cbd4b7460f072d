/* See backend_entries.h. */
#include "tests/gpu/backend_entries.h"

#include <stdio.h>
#include <string.h>

typedef void (*any_fn)(void);

/* In the order of kernels/backend.h. A new entry there breaks the static assertion below until it
 * is named here too. */
// clang-format off
static const char *const names[] = {
    "alloc", "free", "zero", "copy", "to_host", "from_host", "host_alloc", "host_free",
    "fence_new", "fence_free", "fence_record", "fence_sync", "fence_elapsed_ms", "from_host_async",
    "to_host_async",
    "philox_fill_uniform", "philox_fill_normal", "add_scaled_forward", "add_scaled_backward",
    "scale_forward", "scale_backward", "swish_forward", "swish_backward", "elu_forward",
    "elu_backward", "relu_forward", "relu_backward", "sigmoid_forward", "sigmoid_backward",
    "soft_clamp_forward", "soft_clamp_backward", "batchnorm_forward_train",
    "batchnorm_backward_train", "batchnorm_local_sums", "batchnorm_normalize",
    "batchnorm_backward_sums", "batchnorm_backward_input", "batchnorm_forward_eval",
    "batchnorm_backward_eval", "bn_swish_forward_train", "bn_swish_backward_train",
    "bn_swish_normalize", "bn_swish_backward_dz", "bn_swish_forward_eval",
    "bn_swish_backward_eval", "squeeze_excite_forward", "squeeze_excite_backward",
    "concat_channels_forward", "concat_channels_backward", "split_channels_forward",
    "split_channels_backward", "upsample_nearest2x_forward", "upsample_nearest2x_backward",
    "upsample_bilinear2x_forward", "upsample_bilinear2x_backward", "conv2d_forward",
    "conv2d_backward", "weight_norm_forward", "weight_norm_backward", "factorized_reduce_forward",
    "factorized_reduce_backward", "normal_params_forward", "normal_params_backward",
    "normal_sample_forward", "normal_sample_backward", "normal_log_density_forward",
    "normal_log_density_backward", "normal_kl_forward", "normal_kl_backward",
    "dmol_log_likelihood_forward", "dmol_log_likelihood_backward", "dmol_sample", "dmol_mean",
    "bernoulli_log_likelihood_forward", "bernoulli_log_likelihood_backward", "bernoulli_mean",
    "spectral_normalize", "spectral_power_iteration", "spectral_sigma_forward",
    "spectral_sigma_backward", "bn_max_abs_forward", "bn_max_abs_backward", "adamax_step",
    "adam_step", "grad_norm_sq", "nonfinite_count", "reduce_to_scalar", "fill_from_scalar",
    "objective_combine", "optim_gate", "sum_per_sample_forward", "sum_per_sample_backward",
    "sum_region_per_sample_forward", "sum_region_per_sample_backward", "mean_over_batch_forward",
    "mean_over_batch_backward"};
// clang-format on

#define N_ENTRIES ((sizeof(op_backend) - offsetof(op_backend, alloc)) / sizeof(any_fn))
_Static_assert(sizeof names / sizeof names[0] == N_ENTRIES,
               "kernels/backend.h changed: update the entry names in tests/gpu/backend_entries.c");

size_t backend_entry_count(void) { return N_ENTRIES; }

const char *backend_entry_name(size_t i) { return i < N_ENTRIES ? names[i] : "?"; }

int backend_entry_set(const op_backend *b, size_t i) {
  any_fn f;
  memcpy(&f, (const char *)b + offsetof(op_backend, alloc) + i * sizeof(any_fn), sizeof f);
  return f != NULL;
}

int backend_missing_entries(const op_backend *b) {
  int missing = 0;
  for (size_t i = 0; i < N_ENTRIES; i++)
    if (!backend_entry_set(b, i)) {
      printf("  missing: %s\n", names[i]);
      missing++;
    }
  return missing;
}
