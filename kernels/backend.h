/* The op API: one table of functions per backend (after ggml's backends). Model code calls
 * ops only through the table its op_ctx carries (ctx->ops->conv2d_forward(ctx, ...)), so the same
 * model runs on the CPU reference or on the CUDA backend, chosen at run time (device: cpu|cuda).
 *
 * Every entry has the signature and the semantics documented beside the CPU reference in
 * kernels/cpu/<family>.h (shapes, nullable arguments, gradient ACCUMULATION in every backward);
 * the CUDA backend fills the same table with the same semantics (kernels/cuda/). A test checks
 * that every entry of the CPU table is set.
 *
 * The parameter types (conv2d_params, batchnorm_params, bn_sync, dmol_params, adamax_params,
 * adam_params) are declared with the CPU families and shared by every backend.
 */
#ifndef NVAE_KERNELS_BACKEND_H
#define NVAE_KERNELS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/op_ctx.h"
#include "kernels/random.h"
#include "kernels/cpu/arith.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/batchnorm.h"
#include "kernels/cpu/bn_swish.h"
#include "kernels/cpu/squeeze_excite.h"
#include "kernels/cpu/channels.h"
#include "kernels/cpu/upsample.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/weight_norm.h"
#include "kernels/cpu/factorized_reduce.h"
#include "kernels/cpu/normal.h"
#include "kernels/cpu/dmol.h"
#include "kernels/cpu/bernoulli.h"
#include "kernels/cpu/spectral.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/objective.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A point in a context's queue of work (CUDA: an event on its stream; CPU: work is done when
 * queued, so a fence is always passed). */
typedef struct op_fence op_fence;

typedef struct op_backend {
  const char *name;   /* "cpu", "cuda" */
  nvae_device device;

  /* memory on the backend's device */
  void *(*alloc)(size_t bytes);      /* 64-byte aligned; fatal error when out of memory */
  void (*free)(void *p);
  void (*zero)(op_ctx *ctx, void *p, size_t bytes);
  void (*copy)(op_ctx *ctx, void *dst, const void *src, size_t bytes);      /* device to device */
  void (*to_host)(op_ctx *ctx, void *host, const void *dev, size_t bytes);   /* synchronous */
  void (*from_host)(op_ctx *ctx, void *dev, const void *host, size_t bytes); /* synchronous */

  /* Queued copies between the device and PINNED host memory, so the host never waits inside a
   * step (the loader's batch buffers, the step values). host_alloc: page-locked memory (CUDA:
   * cudaHostAlloc; CPU: aligned malloc), NULL when out of memory. */
  void *(*host_alloc)(size_t bytes);
  void (*host_free)(void *p);
  op_fence *(*fence_new)(op_ctx *ctx);
  void (*fence_free)(op_fence *f);
  /* marks the end of the work queued on ctx so far */
  void (*fence_record)(op_ctx *ctx, op_fence *f);
  /* the host waits until the work before the last fence_record of f is done */
  void (*fence_sync)(op_ctx *ctx, op_fence *f);
  /* milliseconds of device time between two recorded fences that have both passed (CUDA:
   * cudaEventElapsedTime; CPU: the host clock at the records): nvae-bench's phase split */
  double (*fence_elapsed_ms)(op_fence *start, op_fence *end);
  /* host → device on the backend's copy stream: the copy starts after `after` (nullable: after
   * all work queued on ctx so far), and work queued on ctx after this call waits for it. `host`
   * (from host_alloc) must not change until a fence recorded after this call has passed. */
  void (*from_host_async)(op_ctx *ctx, void *dev, const void *host, size_t bytes,
                          op_fence *after);
  /* device → host, queued on ctx; read `host` after syncing a fence recorded after this call */
  void (*to_host_async)(op_ctx *ctx, void *host, const void *dev, size_t bytes);

  /* Philox fills (kernels/random.h), same numbers on every backend */
  void (*philox_fill_uniform)(op_ctx *ctx, const philox_stream *s, uint32_t first_sample,
                              int64_t n_samples, int64_t n_per_sample, float *out);
  void (*philox_fill_normal)(op_ctx *ctx, const philox_stream *s, uint32_t first_sample,
                             int64_t n_samples, int64_t n_per_sample, float *out);

  /* arith (kernels/cpu/arith.h) */
  void (*add_scaled_forward)(op_ctx *ctx, const tensor *a, float s, const tensor *b, tensor *y);
  void (*add_scaled_backward)(op_ctx *ctx, float s, const tensor *dy, tensor *da, tensor *db);
  void (*scale_forward)(op_ctx *ctx, float s, const tensor *x, tensor *y);
  void (*scale_backward)(op_ctx *ctx, float s, const tensor *dy, tensor *dx);

  /* activation (kernels/cpu/activation.h) */
  void (*swish_forward)(op_ctx *ctx, const tensor *x, tensor *y);
  void (*swish_backward)(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx);
  void (*elu_forward)(op_ctx *ctx, const tensor *x, tensor *y);
  void (*elu_backward)(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx);
  void (*relu_forward)(op_ctx *ctx, const tensor *x, tensor *y);
  void (*relu_backward)(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx);
  void (*sigmoid_forward)(op_ctx *ctx, const tensor *x, tensor *y);
  void (*sigmoid_backward)(op_ctx *ctx, const tensor *y, const tensor *dy, tensor *dx);
  void (*soft_clamp_forward)(op_ctx *ctx, const tensor *x, tensor *y);
  void (*soft_clamp_backward)(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx);

  /* batchnorm (kernels/cpu/batchnorm.h) */
  void (*batchnorm_forward_train)(op_ctx *ctx, const batchnorm_params *p, const bn_sync *sync,
                                  const tensor *x, const tensor *gamma, const tensor *beta,
                                  tensor *running_mean, tensor *running_var, tensor *y,
                                  tensor *save_mean, tensor *save_invstd);
  void (*batchnorm_backward_train)(op_ctx *ctx, const bn_sync *sync, const tensor *x,
                                   const tensor *gamma, const tensor *save_mean,
                                   const tensor *save_invstd, const tensor *dy, tensor *dx,
                                   tensor *dgamma, tensor *dbeta);
  void (*batchnorm_local_sums)(op_ctx *ctx, const tensor *x, double *sums);
  void (*batchnorm_normalize)(op_ctx *ctx, const batchnorm_params *p, const double *sums,
                              const tensor *x, const tensor *gamma, const tensor *beta,
                              tensor *running_mean, tensor *running_var, tensor *y,
                              tensor *save_mean, tensor *save_invstd);
  void (*batchnorm_backward_sums)(op_ctx *ctx, const tensor *x, const tensor *save_mean,
                                  const tensor *save_invstd, const tensor *dy, double *sums,
                                  tensor *dgamma, tensor *dbeta);
  void (*batchnorm_backward_input)(op_ctx *ctx, const double *sums, const tensor *x,
                                   const tensor *gamma, const tensor *save_mean,
                                   const tensor *save_invstd, const tensor *dy, tensor *dx);
  void (*batchnorm_forward_eval)(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                 const tensor *gamma, const tensor *beta,
                                 const tensor *running_mean, const tensor *running_var, tensor *y);
  void (*batchnorm_backward_eval)(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                  const tensor *gamma, const tensor *running_mean,
                                  const tensor *running_var, const tensor *dy, tensor *dx,
                                  tensor *dgamma, tensor *dbeta);

  /* bn_swish (kernels/cpu/bn_swish.h) */
  void (*bn_swish_forward_train)(op_ctx *ctx, const batchnorm_params *p, const bn_sync *sync,
                                 const tensor *x, const tensor *gamma, const tensor *beta,
                                 tensor *running_mean, tensor *running_var, tensor *y,
                                 tensor *save_mean, tensor *save_invstd);
  void (*bn_swish_backward_train)(op_ctx *ctx, const bn_sync *sync, const tensor *x,
                                  const tensor *gamma, const tensor *beta, const tensor *save_mean,
                                  const tensor *save_invstd, const tensor *dy, tensor *dx,
                                  tensor *dgamma, tensor *dbeta);
  void (*bn_swish_normalize)(op_ctx *ctx, const batchnorm_params *p, const double *sums,
                             const tensor *x, const tensor *gamma, const tensor *beta,
                             tensor *running_mean, tensor *running_var, tensor *y,
                             tensor *save_mean, tensor *save_invstd);
  void (*bn_swish_backward_dz)(op_ctx *ctx, const tensor *x, const tensor *gamma,
                               const tensor *beta, const tensor *save_mean,
                               const tensor *save_invstd, const tensor *dy, tensor *dz);
  void (*bn_swish_forward_eval)(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                const tensor *gamma, const tensor *beta, const tensor *running_mean,
                                const tensor *running_var, tensor *y);
  void (*bn_swish_backward_eval)(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                 const tensor *gamma, const tensor *beta,
                                 const tensor *running_mean, const tensor *running_var,
                                 const tensor *dy, tensor *dx, tensor *dgamma, tensor *dbeta);

  /* squeeze_excite (kernels/cpu/squeeze_excite.h) */
  void (*squeeze_excite_forward)(op_ctx *ctx, const tensor *x, const tensor *w1, const tensor *b1,
                                 const tensor *w2, const tensor *b2, tensor *y, tensor *saved);
  void (*squeeze_excite_backward)(op_ctx *ctx, const tensor *x, const tensor *w1, const tensor *w2,
                                  const tensor *saved, const tensor *dy, tensor *dx, tensor *dw1,
                                  tensor *db1, tensor *dw2, tensor *db2);

  /* channels (kernels/cpu/channels.h) */
  void (*concat_channels_forward)(op_ctx *ctx, int n, const tensor *const *xs, tensor *y);
  void (*concat_channels_backward)(op_ctx *ctx, int n, const tensor *dy, tensor *const *dxs);
  void (*split_channels_forward)(op_ctx *ctx, const tensor *x, int n, tensor *const *ys);
  void (*split_channels_backward)(op_ctx *ctx, int n, const tensor *const *dys, tensor *dx);

  /* upsample (kernels/cpu/upsample.h) */
  void (*upsample_nearest2x_forward)(op_ctx *ctx, const tensor *x, tensor *y);
  void (*upsample_nearest2x_backward)(op_ctx *ctx, const tensor *dy, tensor *dx);
  void (*upsample_bilinear2x_forward)(op_ctx *ctx, const tensor *x, tensor *y);
  void (*upsample_bilinear2x_backward)(op_ctx *ctx, const tensor *dy, tensor *dx);

  /* conv (kernels/cpu/conv.h) */
  void (*conv2d_forward)(op_ctx *ctx, const conv2d_params *p, const tensor *x, const tensor *w,
                         const tensor *mask, const tensor *b, tensor *y);
  void (*conv2d_backward)(op_ctx *ctx, const conv2d_params *p, const tensor *x, const tensor *w,
                          const tensor *mask, const tensor *dy, tensor *dx, tensor *dw, tensor *db);

  /* weight_norm (kernels/cpu/weight_norm.h) */
  void (*weight_norm_forward)(op_ctx *ctx, const tensor *v, const tensor *log_g, const tensor *mask,
                              tensor *w, tensor *norm_saved);
  void (*weight_norm_backward)(op_ctx *ctx, const tensor *v, const tensor *log_g,
                               const tensor *mask, const tensor *norm_saved, const tensor *dw,
                               tensor *dv, tensor *dlog_g);

  /* factorized_reduce (kernels/cpu/factorized_reduce.h) */
  void (*factorized_reduce_forward)(op_ctx *ctx, const tensor *x, const tensor *const w[4],
                                    const tensor *const b[4], tensor *y);
  void (*factorized_reduce_backward)(op_ctx *ctx, const tensor *x, const tensor *const w[4],
                                     const tensor *dy, tensor *dx, tensor *const dw[4],
                                     tensor *const db[4]);

  /* normal (kernels/cpu/normal.h) */
  void (*normal_params_forward)(op_ctx *ctx, const tensor *mu_raw, const tensor *ls_raw, float t,
                                tensor *mu, tensor *sigma);
  void (*normal_params_backward)(op_ctx *ctx, const tensor *mu_raw, const tensor *ls_raw, float t,
                                 const tensor *dmu, const tensor *dsigma, tensor *dmu_raw,
                                 tensor *dls_raw);
  void (*normal_sample_forward)(op_ctx *ctx, const tensor *mu, const tensor *sigma,
                                const tensor *eps, tensor *z);
  void (*normal_sample_backward)(op_ctx *ctx, const tensor *eps, const tensor *dz, tensor *dmu,
                                 tensor *dsigma);
  void (*normal_log_density_forward)(op_ctx *ctx, const tensor *z, const tensor *mu,
                                     const tensor *sigma, tensor *logp);
  void (*normal_log_density_backward)(op_ctx *ctx, const tensor *z, const tensor *mu,
                                      const tensor *sigma, const tensor *dlogp, tensor *dz,
                                      tensor *dmu, tensor *dsigma);
  void (*normal_kl_forward)(op_ctx *ctx, const tensor *mu_q, const tensor *sigma_q,
                            const tensor *mu_p, const tensor *sigma_p, tensor *kl);
  void (*normal_kl_backward)(op_ctx *ctx, const tensor *mu_q, const tensor *sigma_q,
                             const tensor *mu_p, const tensor *sigma_p, const tensor *dkl,
                             tensor *dmu_q, tensor *dsigma_q, tensor *dmu_p, tensor *dsigma_p);

  /* dmol (kernels/cpu/dmol.h) */
  void (*dmol_log_likelihood_forward)(op_ctx *ctx, const dmol_params *p, const tensor *logits,
                                      const tensor *x, tensor *logp);
  void (*dmol_log_likelihood_backward)(op_ctx *ctx, const dmol_params *p, const tensor *logits,
                                       const tensor *x, const tensor *dlogp, tensor *dlogits);
  void (*dmol_sample)(op_ctx *ctx, const dmol_params *p, float t, const tensor *logits,
                      const tensor *u_mix, const tensor *u_logistic, tensor *x);
  void (*dmol_mean)(op_ctx *ctx, const dmol_params *p, const tensor *logits, tensor *x);

  /* bernoulli (kernels/cpu/bernoulli.h) */
  void (*bernoulli_log_likelihood_forward)(op_ctx *ctx, const tensor *logits, const tensor *x,
                                           tensor *logp);
  void (*bernoulli_log_likelihood_backward)(op_ctx *ctx, const tensor *logits, const tensor *x,
                                            const tensor *dlogp, tensor *dlogits);
  void (*bernoulli_mean)(op_ctx *ctx, const tensor *logits, tensor *probs);

  /* spectral (kernels/cpu/spectral.h) */
  void (*spectral_normalize)(op_ctx *ctx, tensor *a);
  void (*spectral_power_iteration)(op_ctx *ctx, const tensor *W, tensor *u, tensor *v, int iters);
  void (*spectral_sigma_forward)(op_ctx *ctx, const tensor *W, const tensor *u, const tensor *v,
                                 tensor *sigma);
  void (*spectral_sigma_backward)(op_ctx *ctx, const tensor *u, const tensor *v,
                                  const tensor *dsigma, tensor *dW);
  void (*bn_max_abs_forward)(op_ctx *ctx, const tensor *gamma, tensor *out);
  void (*bn_max_abs_backward)(op_ctx *ctx, const tensor *gamma, const tensor *dout, tensor *dgamma);

  /* optim (kernels/cpu/optim.h) */
  void (*adamax_step)(op_ctx *ctx, const adamax_params *p, tensor *param, const tensor *grad,
                      tensor *m, tensor *u);
  void (*adam_step)(op_ctx *ctx, const adam_params *p, tensor *param, const tensor *grad, tensor *m,
                    tensor *v);
  double (*grad_norm_sq)(op_ctx *ctx, const tensor *g);
  int64_t (*nonfinite_count)(op_ctx *ctx, const tensor *x);

  /* objective (kernels/cpu/objective.h): step values on the device */
  void (*reduce_to_scalar)(op_ctx *ctx, const tensor *x, scalar_reduce f, double scale,
                           double *out);
  void (*fill_from_scalar)(op_ctx *ctx, const double *s, double scale, tensor *y);
  void (*objective_combine)(op_ctx *ctx, const objective_params *p, double *v);
  void (*optim_gate)(op_ctx *ctx, double grad_clip, double *v);

  /* reduce (kernels/cpu/reduce.h) */
  void (*sum_per_sample_forward)(op_ctx *ctx, const tensor *x, tensor *y);
  void (*sum_per_sample_backward)(op_ctx *ctx, const tensor *dy, tensor *dx);
  void (*sum_region_per_sample_forward)(op_ctx *ctx, const tensor *x, int y0, int x0, int h, int w,
                                        tensor *y);
  void (*sum_region_per_sample_backward)(op_ctx *ctx, int y0, int x0, int h, int w,
                                         const tensor *dy, tensor *dx);
  void (*mean_over_batch_forward)(op_ctx *ctx, const tensor *x, tensor *y);
  void (*mean_over_batch_backward)(op_ctx *ctx, const tensor *dy, tensor *dx);
} op_backend;

/* The CPU reference backend (always built). */
extern const op_backend op_backend_cpu;
/* The backend for a device, or NULL when it is not built into this binary. */
const op_backend *op_backend_get(nvae_device device);

#ifdef __cplusplus
}
#endif

#endif
