/* Optimizer steps and gradient statistics on the GPU: see kernels/cpu/optim.h. The per-element
 * updates are om_adamax_elem / om_adam_elem (ops_math.h) with the float32 constants computed on
 * the host exactly as the CPU computes them. grad_norm_sq and nonfinite_count return host values:
 * they wait for the stream.
 *
 * grad_norm_sq is deterministic: chunks of NORM_CHUNK elements (a fixed split of the buffer, like
 * the CPU's 8192-element blocks) are summed by one block each in double, and one block then adds
 * the chunk sums, each thread a contiguous run in index order, then the tree. The bits differ
 * from the CPU's sequential block sums by double rounding only (~1e-16 relative). */
#include "kernels/cuda/ops_common.cuh"

#define NORM_CHUNK 8192
#define NORM_THREADS 256

static int64_t check_flat(const tensor *param, const tensor *grad, const tensor *s1,
                          const tensor *s2) {
  int64_t n = tensor_numel(param);
  NVAE_ASSERT(tensor_numel(grad) == n && tensor_numel(s1) == n && tensor_numel(s2) == n,
              "optimizer: param has %lld elements, grad %lld, state %lld and %lld", (long long)n,
              (long long)tensor_numel(grad), (long long)tensor_numel(s1),
              (long long)tensor_numel(s2));
  return n;
}

__global__ void adamax_kernel(om_adamax_k k, float *th, const float *g, float *m, float *u,
                              int64_t n) {
  OPS_FOR(i, n) {
    float t = th[i], mi = m[i], ui = u[i];
    om_adamax_elem(&k, &t, &mi, &ui, g[i]);
    th[i] = t, m[i] = mi, u[i] = ui;
  }
}

__global__ void adam_kernel(om_adam_k k, float *th, const float *g, float *m, float *v, int64_t n) {
  OPS_FOR(i, n) {
    float t = th[i], mi = m[i], vi = v[i];
    om_adam_elem(&k, &t, &mi, &vi, g[i]);
    th[i] = t, m[i] = mi, v[i] = vi;
  }
}

/* part[b] = Σ x² over chunk b, in double */
__global__ void norm_chunks_kernel(const float *x, int64_t n, double *part) {
  int64_t lo = (int64_t)blockIdx.x * NORM_CHUNK, hi = lo + NORM_CHUNK < n ? lo + NORM_CHUNK : n;
  double s = 0;
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x)
    s += (double)x[i] * x[i];
  s = ops_block_sum(s);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

/* out[0] = Σ part[0 .. nb), one block: contiguous runs per thread, then the tree */
__global__ void sum_parts_kernel(const double *part, int64_t nb, double *out) {
  int64_t per = (nb + blockDim.x - 1) / blockDim.x;
  int64_t lo = threadIdx.x * per, hi = lo + per < nb ? lo + per : nb;
  double s = 0;
  for (int64_t b = lo; b < hi; b++)
    s += part[b];
  s = ops_block_sum(s);
  if (threadIdx.x == 0) out[0] = s;
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
      om_adamax_consts(p), tensor_f32(param), tensor_f32(grad), tensor_f32(m), tensor_f32(u), n);
  CUDA_CHECK_LAUNCH();
}

void cuda_adam_step(op_ctx *ctx, const adam_params *p, tensor *param, const tensor *grad, tensor *m,
                    tensor *v) {
  NVAE_ASSERT(p->step >= 1, "adam: step is 1-based, got %d", p->step);
  int64_t n = check_flat(param, grad, m, v);
  if (n == 0) return;
  adam_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      om_adam_consts(p), tensor_f32(param), tensor_f32(grad), tensor_f32(m), tensor_f32(v), n);
  CUDA_CHECK_LAUNCH();
}

double cuda_grad_norm_sq(op_ctx *ctx, const tensor *g) {
  int64_t n = tensor_numel(g);
  int64_t nb = (n + NORM_CHUNK - 1) / NORM_CHUNK;
  if (nb == 0) return 0.0;
  NVAE_ASSERT(nb < (1ll << 31), "grad_norm_sq: %lld elements", (long long)n);
  cudaStream_t s = cuda_ctx_stream(ctx);
  OpsScratch sc(ctx, ops_pad((size_t)(nb + 1) * sizeof(double)));
  double *pp = sc.take<double>(nb + 1); /* [nb] chunk sums, then the total */
  norm_chunks_kernel<<<(unsigned)nb, NORM_THREADS, 0, s>>>(tensor_f32(g), n, pp);
  CUDA_CHECK_LAUNCH();
  sum_parts_kernel<<<1, NORM_THREADS, 0, s>>>(pp, nb, pp + nb);
  CUDA_CHECK_LAUNCH();
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
