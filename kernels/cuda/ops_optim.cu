/* Optimizer steps and gradient statistics on the GPU: see kernels/cpu/optim.h. The per-element
 * updates are om_adamax_elem / om_adam_elem (ops_math.h) with the float32 constants computed on
 * the host exactly as the CPU computes them. grad_norm_sq and nonfinite_count return host values:
 * they wait for the stream.
 *
 * The gate (op_types.h: adamax_params.gate, nullable) stays on the device, where optim_gate
 * wrote it: every thread reads gate[0] (> 0: non-finite gradients somewhere, skip the update) and
 * gate[1] (the clipping factor, applied to the gradient before om_*_elem as the CPU does), so
 * the decision to step needs no host round trip.
 *
 * grad_norm_sq is deterministic: the passes of reduce_to_scalar (ops_scalar_reduce,
 * ops_objective.cu) with SCALAR_SQUARE, so both give the same bits. */
#include "kernels/cuda/ops_common.cuh"

static int64_t check_flat(const tensor *param, const tensor *grad, const tensor *s1,
                          const tensor *s2) {
  int64_t n = tensor_numel(param);
  NVAE_ASSERT(tensor_numel(grad) == n && tensor_numel(s1) == n && tensor_numel(s2) == n,
              "optimizer: param has %lld elements, grad %lld, state %lld and %lld", (long long)n,
              (long long)tensor_numel(grad), (long long)tensor_numel(s1),
              (long long)tensor_numel(s2));
  return n;
}

__global__ void adamax_kernel(om_adamax_k k, const double *gate, float *th, const float *g,
                              float *m, float *u, int64_t n) {
  /* the same decision in every thread (no __syncthreads below); NaN in gate[0] does not skip,
   * as on the CPU */
  if (gate && gate[0] > 0) return;
  const float gs = gate ? (float)gate[1] : 1.0f;
  OPS_FOR(i, n) {
    float t = th[i], mi = m[i], ui = u[i];
    om_adamax_elem(&k, &t, &mi, &ui, g[i] * gs);
    th[i] = t, m[i] = mi, u[i] = ui;
  }
}

__global__ void adam_kernel(om_adam_k k, const double *gate, float *th, const float *g, float *m,
                            float *v, int64_t n) {
  if (gate && gate[0] > 0) return;
  const float gs = gate ? (float)gate[1] : 1.0f;
  OPS_FOR(i, n) {
    float t = th[i], mi = m[i], vi = v[i];
    om_adam_elem(&k, &t, &mi, &vi, g[i] * gs);
    th[i] = t, m[i] = mi, v[i] = vi;
  }
}

/* count of NaN / ±Inf: per-block integer counts, then an integer atomic (exact, so deterministic)
 */
__global__ void nonfinite_kernel(const float *x, int64_t n, unsigned long long *count) {
  long long bad = 0;
  OPS_FOR(i, n) bad += !isfinite(x[i]);
  bad = ops_block_sum(bad);
  if (threadIdx.x == 0 && bad) atomicAdd(count, (unsigned long long)bad);
}

void cuda_adamax_step(op_ctx *ctx, const adamax_params *p, tensor *param, const tensor *grad,
                      tensor *m, tensor *u) {
  NVAE_ASSERT(p->step >= 1, "adamax: step is 1-based, got %d", p->step);
  int64_t n = check_flat(param, grad, m, u);
  if (n == 0) return;
  adamax_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      om_adamax_consts(p), p->gate, tensor_f32(param), tensor_f32(grad), tensor_f32(m),
      tensor_f32(u), n);
  CUDA_CHECK_LAUNCH();
}

void cuda_adam_step(op_ctx *ctx, const adam_params *p, tensor *param, const tensor *grad, tensor *m,
                    tensor *v) {
  NVAE_ASSERT(p->step >= 1, "adam: step is 1-based, got %d", p->step);
  int64_t n = check_flat(param, grad, m, v);
  if (n == 0) return;
  adam_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      om_adam_consts(p), p->gate, tensor_f32(param), tensor_f32(grad), tensor_f32(m), tensor_f32(v),
      n);
  CUDA_CHECK_LAUNCH();
}

double cuda_grad_norm_sq(op_ctx *ctx, const tensor *g) {
  int64_t n = tensor_numel(g), nb = ops_scalar_chunks(n);
  if (nb == 0) return 0.0;
  cudaStream_t s = cuda_ctx_stream(ctx);
  OpsScratch sc(ctx, ops_pad((size_t)(nb + 1) * sizeof(double)));
  double *pp = sc.take<double>(nb + 1); /* [nb] chunk sums, then the total */
  /* out[0] = 0 + 1·Σ: the bits of reduce_to_scalar into a zeroed value */
  CUDA_CHECK(cudaMemsetAsync(pp + nb, 0, sizeof(double), s));
  ops_scalar_reduce(s, tensor_f32(g), n, SCALAR_SQUARE, 1.0, pp, pp + nb);
  double total;
  ops_copy_d2h(s, &total, pp + nb, sizeof total);
  return total;
}

int64_t cuda_nonfinite_count(op_ctx *ctx, const tensor *x) {
  int64_t n = tensor_numel(x);
  if (n == 0) return 0;
  cudaStream_t s = cuda_ctx_stream(ctx);
  OpsScratch sc(ctx, ops_pad(sizeof(unsigned long long)));
  unsigned long long *count = sc.take<unsigned long long>(1);
  CUDA_CHECK(cudaMemsetAsync(count, 0, sizeof *count, s));
  nonfinite_kernel<<<ops_blocks(n), OPS_THREADS, 0, s>>>(tensor_f32(x), n, count);
  CUDA_CHECK_LAUNCH();
  unsigned long long bad;
  ops_copy_d2h(s, &bad, count, sizeof bad);
  return (int64_t)bad;
}
