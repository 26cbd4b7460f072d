/* The CUDA C kernels of the op API: every entry of op_backend (kernels/backend.h) except memory
 * management, the Philox fills and the convolutions (cuDNN), with the signature and the semantics
 * of the CPU reference beside it (kernels/cpu/<family>.h): shapes, nullable arguments, gradients
 * ACCUMULATED (+=) in every backward. One file per CPU family: kernels/cuda/ops_<family>.cu.
 *
 * Pointers: every tensor's data is DEVICE memory. The scalars of the signatures stay on the host
 * as on the CPU: float/double/int arguments by value, the parameter structs, the return values of
 * grad_norm_sq and nonfinite_count (the call waits for the device), and the `double *sums` of the
 * batchnorm halves (batchnorm_local_sums, _normalize, _backward_sums, _backward_input,
 * bn_swish_normalize): HOST buffers of [2C + 1] doubles, exactly the CPU's, so that the caller can
 * hand them to an MPI all-reduce between the halves. That is the MPI-transport path of sync-BN;
 * the whole-op *_train entries give their device sums to the bn_sync hook's allreduce_sum_dev
 * (NCCL, queued on the stream) when it is set, else copy them to the host around allreduce_sum,
 * and do neither when sync is NULL. The step values of the objective family (the `double *` of
 * reduce_to_scalar, fill_from_scalar, objective_combine, optim_gate) and the optimizers' gate are
 * DEVICE memory: a training step queues without a host round trip.
 *
 * Every op is enqueued on the context's stream (cuda_ctx_stream) and returns without waiting,
 * except where a host value is produced or consumed (see above). Reductions are deterministic:
 * fixed grids that depend only on the shapes, block-level tree reductions and a second pass in a
 * fixed order, no floating-point atomics; BN, weight-norm, SE, reduction and spectral sums
 * accumulate in double like the CPU reference.
 */
#ifndef NVAE_KERNELS_CUDA_CUDA_OPS_H
#define NVAE_KERNELS_CUDA_CUDA_OPS_H

#include "kernels/backend.h"

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The stream an op runs on: the op context's cudaStream_t. Defined with the CUDA op context in
 * kernels/cuda/backend_cuda.c (also declared, identically, in kernels/cuda/cuda_ctx.h). Temporary
 * device memory of an op comes from ONE op_ctx_scratch(ctx, bytes) call (ops_common.cuh). */
cudaStream_t cuda_ctx_stream(const op_ctx *ctx);

/* Sets every entry listed below in b (leaves the memory, Philox and conv entries alone). */
void cuda_backend_fill_ops(op_backend *b);

/* arith (kernels/cpu/arith.h) */
void cuda_add_scaled_forward(op_ctx *ctx, const tensor *a, float s, const tensor *b, tensor *y);
void cuda_add_scaled_backward(op_ctx *ctx, float s, const tensor *dy, tensor *da, tensor *db);
void cuda_scale_forward(op_ctx *ctx, float s, const tensor *x, tensor *y);
void cuda_scale_backward(op_ctx *ctx, float s, const tensor *dy, tensor *dx);

/* activation (kernels/cpu/activation.h) */
void cuda_swish_forward(op_ctx *ctx, const tensor *x, tensor *y);
void cuda_swish_backward(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx);
void cuda_elu_forward(op_ctx *ctx, const tensor *x, tensor *y);
void cuda_elu_backward(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx);
void cuda_relu_forward(op_ctx *ctx, const tensor *x, tensor *y);
void cuda_relu_backward(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx);
void cuda_sigmoid_forward(op_ctx *ctx, const tensor *x, tensor *y);
void cuda_sigmoid_backward(op_ctx *ctx, const tensor *y, const tensor *dy, tensor *dx);
void cuda_soft_clamp_forward(op_ctx *ctx, const tensor *x, tensor *y);
void cuda_soft_clamp_backward(op_ctx *ctx, const tensor *x, const tensor *dy, tensor *dx);

/* batchnorm (kernels/cpu/batchnorm.h) */
void cuda_batchnorm_forward_train(op_ctx *ctx, const batchnorm_params *p, const bn_sync *sync,
                                  const tensor *x, const tensor *gamma, const tensor *beta,
                                  tensor *running_mean, tensor *running_var, tensor *y,
                                  tensor *save_mean, tensor *save_invstd);
void cuda_batchnorm_backward_train(op_ctx *ctx, const bn_sync *sync, const tensor *x,
                                   const tensor *gamma, const tensor *save_mean,
                                   const tensor *save_invstd, const tensor *dy, tensor *dx,
                                   tensor *dgamma, tensor *dbeta);
void cuda_batchnorm_local_sums(op_ctx *ctx, const tensor *x, double *sums);
void cuda_batchnorm_normalize(op_ctx *ctx, const batchnorm_params *p, const double *sums,
                              const tensor *x, const tensor *gamma, const tensor *beta,
                              tensor *running_mean, tensor *running_var, tensor *y,
                              tensor *save_mean, tensor *save_invstd);
void cuda_batchnorm_backward_sums(op_ctx *ctx, const tensor *x, const tensor *save_mean,
                                  const tensor *save_invstd, const tensor *dy, double *sums,
                                  tensor *dgamma, tensor *dbeta);
void cuda_batchnorm_backward_input(op_ctx *ctx, const double *sums, const tensor *x,
                                   const tensor *gamma, const tensor *save_mean,
                                   const tensor *save_invstd, const tensor *dy, tensor *dx);
void cuda_batchnorm_forward_eval(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                 const tensor *gamma, const tensor *beta,
                                 const tensor *running_mean, const tensor *running_var, tensor *y);
void cuda_batchnorm_backward_eval(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                  const tensor *gamma, const tensor *running_mean,
                                  const tensor *running_var, const tensor *dy, tensor *dx,
                                  tensor *dgamma, tensor *dbeta);

/* bn_swish (kernels/cpu/bn_swish.h) */
void cuda_bn_swish_forward_train(op_ctx *ctx, const batchnorm_params *p, const bn_sync *sync,
                                 const tensor *x, const tensor *gamma, const tensor *beta,
                                 tensor *running_mean, tensor *running_var, tensor *y,
                                 tensor *save_mean, tensor *save_invstd);
void cuda_bn_swish_backward_train(op_ctx *ctx, const bn_sync *sync, const tensor *x,
                                  const tensor *gamma, const tensor *beta, const tensor *save_mean,
                                  const tensor *save_invstd, const tensor *dy, tensor *dx,
                                  tensor *dgamma, tensor *dbeta);
void cuda_bn_swish_normalize(op_ctx *ctx, const batchnorm_params *p, const double *sums,
                             const tensor *x, const tensor *gamma, const tensor *beta,
                             tensor *running_mean, tensor *running_var, tensor *y,
                             tensor *save_mean, tensor *save_invstd);
void cuda_bn_swish_backward_dz(op_ctx *ctx, const tensor *x, const tensor *gamma,
                               const tensor *beta, const tensor *save_mean,
                               const tensor *save_invstd, const tensor *dy, tensor *dz);
void cuda_bn_swish_forward_eval(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                const tensor *gamma, const tensor *beta, const tensor *running_mean,
                                const tensor *running_var, tensor *y);
void cuda_bn_swish_backward_eval(op_ctx *ctx, const batchnorm_params *p, const tensor *x,
                                 const tensor *gamma, const tensor *beta,
                                 const tensor *running_mean, const tensor *running_var,
                                 const tensor *dy, tensor *dx, tensor *dgamma, tensor *dbeta);

/* squeeze_excite (kernels/cpu/squeeze_excite.h) */
void cuda_squeeze_excite_forward(op_ctx *ctx, const tensor *x, const tensor *w1, const tensor *b1,
                                 const tensor *w2, const tensor *b2, tensor *y, tensor *saved);
void cuda_squeeze_excite_backward(op_ctx *ctx, const tensor *x, const tensor *w1, const tensor *w2,
                                  const tensor *saved, const tensor *dy, tensor *dx, tensor *dw1,
                                  tensor *db1, tensor *dw2, tensor *db2);

/* channels (kernels/cpu/channels.h) */
void cuda_concat_channels_forward(op_ctx *ctx, int n, const tensor *const *xs, tensor *y);
void cuda_concat_channels_backward(op_ctx *ctx, int n, const tensor *dy, tensor *const *dxs);
void cuda_split_channels_forward(op_ctx *ctx, const tensor *x, int n, tensor *const *ys);
void cuda_split_channels_backward(op_ctx *ctx, int n, const tensor *const *dys, tensor *dx);

/* upsample (kernels/cpu/upsample.h) */
void cuda_upsample_nearest2x_forward(op_ctx *ctx, const tensor *x, tensor *y);
void cuda_upsample_nearest2x_backward(op_ctx *ctx, const tensor *dy, tensor *dx);
void cuda_upsample_bilinear2x_forward(op_ctx *ctx, const tensor *x, tensor *y);
void cuda_upsample_bilinear2x_backward(op_ctx *ctx, const tensor *dy, tensor *dx);

/* weight_norm (kernels/cpu/weight_norm.h) */
void cuda_weight_norm_forward(op_ctx *ctx, const tensor *v, const tensor *log_g, const tensor *mask,
                              tensor *w, tensor *norm_saved);
void cuda_weight_norm_backward(op_ctx *ctx, const tensor *v, const tensor *log_g,
                               const tensor *mask, const tensor *norm_saved, const tensor *dw,
                               tensor *dv, tensor *dlog_g);

/* factorized_reduce (kernels/cpu/factorized_reduce.h) */
void cuda_factorized_reduce_forward(op_ctx *ctx, const tensor *x, const tensor *const w[4],
                                    const tensor *const b[4], tensor *y);
void cuda_factorized_reduce_backward(op_ctx *ctx, const tensor *x, const tensor *const w[4],
                                     const tensor *dy, tensor *dx, tensor *const dw[4],
                                     tensor *const db[4]);

/* normal (kernels/cpu/normal.h) */
void cuda_normal_params_forward(op_ctx *ctx, const tensor *mu_raw, const tensor *ls_raw, float t,
                                tensor *mu, tensor *sigma);
void cuda_normal_params_backward(op_ctx *ctx, const tensor *mu_raw, const tensor *ls_raw, float t,
                                 const tensor *dmu, const tensor *dsigma, tensor *dmu_raw,
                                 tensor *dls_raw);
void cuda_normal_sample_forward(op_ctx *ctx, const tensor *mu, const tensor *sigma,
                                const tensor *eps, tensor *z);
void cuda_normal_sample_backward(op_ctx *ctx, const tensor *eps, const tensor *dz, tensor *dmu,
                                 tensor *dsigma);
void cuda_normal_log_density_forward(op_ctx *ctx, const tensor *z, const tensor *mu,
                                     const tensor *sigma, tensor *logp);
void cuda_normal_log_density_backward(op_ctx *ctx, const tensor *z, const tensor *mu,
                                      const tensor *sigma, const tensor *dlogp, tensor *dz,
                                      tensor *dmu, tensor *dsigma);
void cuda_normal_kl_forward(op_ctx *ctx, const tensor *mu_q, const tensor *sigma_q,
                            const tensor *mu_p, const tensor *sigma_p, tensor *kl);
void cuda_normal_kl_backward(op_ctx *ctx, const tensor *mu_q, const tensor *sigma_q,
                             const tensor *mu_p, const tensor *sigma_p, const tensor *dkl,
                             tensor *dmu_q, tensor *dsigma_q, tensor *dmu_p, tensor *dsigma_p);

/* dmol (kernels/cpu/dmol.h) */
void cuda_dmol_log_likelihood_forward(op_ctx *ctx, const dmol_params *p, const tensor *logits,
                                      const tensor *x, tensor *logp);
void cuda_dmol_log_likelihood_backward(op_ctx *ctx, const dmol_params *p, const tensor *logits,
                                       const tensor *x, const tensor *dlogp, tensor *dlogits);
void cuda_dmol_sample(op_ctx *ctx, const dmol_params *p, float t, const tensor *logits,
                      const tensor *u_mix, const tensor *u_logistic, tensor *x);
void cuda_dmol_mean(op_ctx *ctx, const dmol_params *p, const tensor *logits, tensor *x);

/* bernoulli (kernels/cpu/bernoulli.h) */
void cuda_bernoulli_log_likelihood_forward(op_ctx *ctx, const tensor *logits, const tensor *x,
                                           tensor *logp);
void cuda_bernoulli_log_likelihood_backward(op_ctx *ctx, const tensor *logits, const tensor *x,
                                            const tensor *dlogp, tensor *dlogits);
void cuda_bernoulli_mean(op_ctx *ctx, const tensor *logits, tensor *probs);

/* spectral (kernels/cpu/spectral.h) */
void cuda_spectral_normalize(op_ctx *ctx, tensor *a);
void cuda_spectral_power_iteration(op_ctx *ctx, const tensor *W, tensor *u, tensor *v, int iters);
void cuda_spectral_sigma_forward(op_ctx *ctx, const tensor *W, const tensor *u, const tensor *v,
                                 tensor *sigma);
void cuda_spectral_sigma_backward(op_ctx *ctx, const tensor *u, const tensor *v,
                                  const tensor *dsigma, tensor *dW);
void cuda_bn_max_abs_forward(op_ctx *ctx, const tensor *gamma, tensor *out);
void cuda_bn_max_abs_backward(op_ctx *ctx, const tensor *gamma, const tensor *dout, tensor *dgamma);

/* optim (kernels/cpu/optim.h) */
void cuda_adamax_step(op_ctx *ctx, const adamax_params *p, tensor *param, const tensor *grad,
                      tensor *m, tensor *u);
void cuda_adam_step(op_ctx *ctx, const adam_params *p, tensor *param, const tensor *grad, tensor *m,
                    tensor *v);
double cuda_grad_norm_sq(op_ctx *ctx, const tensor *g);
int64_t cuda_nonfinite_count(op_ctx *ctx, const tensor *x);

/* objective (kernels/cpu/objective.h): step values, doubles on the device */
void cuda_reduce_to_scalar(op_ctx *ctx, const tensor *x, scalar_reduce f, double scale,
                           double *out);
void cuda_fill_from_scalar(op_ctx *ctx, const double *s, double scale, tensor *y);
void cuda_objective_combine(op_ctx *ctx, const objective_params *p, double *v);
void cuda_optim_gate(op_ctx *ctx, double grad_clip, double *v);

/* reduce (kernels/cpu/reduce.h) */
void cuda_sum_per_sample_forward(op_ctx *ctx, const tensor *x, tensor *y);
void cuda_sum_per_sample_backward(op_ctx *ctx, const tensor *dy, tensor *dx);
void cuda_sum_region_per_sample_forward(op_ctx *ctx, const tensor *x, int y0, int x0, int h, int w,
                                        tensor *y);
void cuda_sum_region_per_sample_backward(op_ctx *ctx, int y0, int x0, int h, int w,
                                         const tensor *dy, tensor *dx);
void cuda_mean_over_batch_forward(op_ctx *ctx, const tensor *x, tensor *y);
void cuda_mean_over_batch_backward(op_ctx *ctx, const tensor *dy, tensor *dx);

#ifdef __cplusplus
}
#endif

#endif
