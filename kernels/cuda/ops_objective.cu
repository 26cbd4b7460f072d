/* Step values on the GPU: see kernels/cpu/objective.h. Every op here is queued on the context's
 * stream and returns at once; the step values stay on the device until the host logs them.
 *
 * reduce_to_scalar is deterministic and shares its passes with grad_norm_sq (ops_optim.cu): one
 * block sums each chunk of OPS_SCALAR_CHUNK elements in double (the CPU's 8192-element blocks),
 * then one block adds the chunk sums in index order (a contiguous run per thread, then the fixed
 * tree). The bits differ from the CPU's sequential sums by double rounding only (~1e-16 relative).
 *
 * objective_combine and optim_gate are one thread of the CPU's double arithmetic. nvcc contracts
 * a·b + c into one FMA by default, which the CPU build does not; the products that feed a sum are
 * written with __dmul_rn / __dadd_rn (never contracted) so that the device gets the CPU's bits. */
#include "kernels/cuda/ops_common.cuh"

#define SCALAR_THREADS 256
/* log(2.0) correctly rounded, as the CPU's libm gives it; a literal, so no device log() call */
#define OBJ_LN2 0.69314718055994530942

__device__ __forceinline__ double scalar_elem(scalar_reduce f, float x) {
  switch (f) {
  case SCALAR_ABS: return fabs((double)x);
  case SCALAR_SQUARE: return (double)x * x;
  case SCALAR_NONFINITE: return isfinite(x) ? 0.0 : 1.0;
  case SCALAR_COUNT: return 1.0;
  default: return (double)x;
  }
}

/* part[b] = Σ f(x_i) over chunk b, in double (f is the same for the whole grid: no divergence) */
__global__ void scalar_chunks_kernel(const float *x, int64_t n, scalar_reduce f, double *part) {
  int64_t lo = (int64_t)blockIdx.x * OPS_SCALAR_CHUNK;
  int64_t hi = lo + OPS_SCALAR_CHUNK < n ? lo + OPS_SCALAR_CHUNK : n;
  double s = 0;
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x)
    s += scalar_elem(f, x[i]);
  s = ops_block_sum(s);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

/* out[0] += scale · Σ part[0 .. nb), one block: contiguous runs per thread, then the tree */
__global__ void scalar_total_kernel(const double *part, int64_t nb, double scale, double *out) {
  int64_t per = (nb + blockDim.x - 1) / blockDim.x;
  int64_t lo = threadIdx.x * per, hi = lo + per < nb ? lo + per : nb;
  double s = 0;
  for (int64_t b = lo; b < hi; b++)
    s += part[b];
  s = ops_block_sum(s);
  if (threadIdx.x == 0) out[0] = __dadd_rn(out[0], __dmul_rn(scale, s));
}

void ops_scalar_reduce(cudaStream_t s, const float *x, int64_t n, scalar_reduce f, double scale,
                       double *part, double *out) {
  int64_t nb = ops_scalar_chunks(n);
  if (nb == 0) return;
  NVAE_ASSERT(nb < (1ll << 31), "reduce_to_scalar: %lld elements", (long long)n);
  scalar_chunks_kernel<<<(unsigned)nb, SCALAR_THREADS, 0, s>>>(x, n, f, part);
  CUDA_CHECK_LAUNCH();
  scalar_total_kernel<<<1, SCALAR_THREADS, 0, s>>>(part, nb, scale, out);
  CUDA_CHECK_LAUNCH();
}

void cuda_reduce_to_scalar(op_ctx *ctx, const tensor *x, scalar_reduce f, double scale,
                           double *out) {
  int64_t n = tensor_numel(x), nb = ops_scalar_chunks(n);
  if (nb == 0) return;
  OpsScratch sc(ctx, ops_pad((size_t)nb * sizeof(double)));
  ops_scalar_reduce(cuda_ctx_stream(ctx), tensor_f32(x), n, f, scale, sc.take<double>(nb), out);
}

__global__ void fill_scalar_kernel(const double *s, double scale, float *y, int64_t n) {
  float v = (float)__dmul_rn(scale, s ? s[0] : 1.0);
  OPS_FOR(i, n) y[i] = v;
}

void cuda_fill_from_scalar(op_ctx *ctx, const double *s, double scale, tensor *y) {
  int64_t n = tensor_numel(y);
  if (n == 0) return;
  fill_scalar_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(s, scale,
                                                                              tensor_f32(y), n);
  CUDA_CHECK_LAUNCH();
}

/* objective_combine_cpu line by line; a few hundred flops, not worth more than one thread */
__global__ void objective_combine_kernel(objective_params p, double *v) {
  const int N = p.n_groups;
  if (p.balance) {
    double mean_r = 0;
    for (int g = 0; g < N; g++) {
      v[STEPV_GAMMA(N, g)] =
          (v[STEPV_KL_ABS(N, g)] / v[STEPV_COUNT(N)] + 0.01) / v[STEPV_ALPHA(N, g)];
      mean_r += v[STEPV_GAMMA(N, g)] / N;
    }
    for (int g = 0; g < N; g++)
      v[STEPV_GAMMA(N, g)] /= mean_r;
  } else {
    for (int g = 0; g < N; g++)
      v[STEPV_GAMMA(N, g)] = 1.0;
  }
  double kl = 0, klw = 0;
  for (int g = 0; g < N; g++) {
    kl += v[STEPV_KL_MEAN(N, g)];
    klw = __dadd_rn(klw, __dmul_rn(v[STEPV_GAMMA(N, g)], v[STEPV_KL_MEAN(N, g)]));
  }
  v[STEPV_KL] = kl;
  v[STEPV_NELBO] = v[STEPV_RECON] + kl;
  v[STEPV_BPD] = v[STEPV_NELBO] / (p.num_output * OBJ_LN2);
  v[STEPV_LOSS] = __dadd_rn(__dadd_rn(v[STEPV_RECON], __dmul_rn(p.beta, klw)),
                            __dmul_rn(p.lambda, v[STEPV_SR] + v[STEPV_BNREG]));
}

void cuda_objective_combine(op_ctx *ctx, const objective_params *p, double *v) {
  NVAE_ASSERT(p->n_groups >= 1, "objective_combine: %d groups", p->n_groups);
  objective_combine_kernel<<<1, 1, 0, cuda_ctx_stream(ctx)>>>(*p, v);
  CUDA_CHECK_LAUNCH();
}

/* optim_gate_cpu: sqrt and division are correctly rounded on the device too */
__global__ void optim_gate_kernel(double grad_clip, double *v) {
  double norm = sqrt(v[STEPV_GNORM_SQ]);
  v[STEPV_GNORM] = norm;
  v[STEPV_SCALE] =
      grad_clip > 0 && norm > grad_clip ? (double)(float)(grad_clip / (norm + 1e-6)) : 1.0;
}

void cuda_optim_gate(op_ctx *ctx, double grad_clip, double *v) {
  optim_gate_kernel<<<1, 1, 0, cuda_ctx_stream(ctx)>>>(grad_clip, v);
  CUDA_CHECK_LAUNCH();
}
