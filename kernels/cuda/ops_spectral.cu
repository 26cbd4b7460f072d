/* Spectral regularisation and the BN weight regulariser on the GPU: see kernels/cpu/spectral.h.
 * u and v are checkpointed state, so every product here is deterministic: Wᵀu is one thread per
 * column summing the rows in order (the CPU's order, in double), Wv and uᵀWv are one block per row
 * with a double tree sum, norms are one block's double tree sum. */
#include "kernels/cpu/spectral.h"
#include "kernels/cuda/ops_common.cuh"

#define SPEC_NORM_THREADS 1024

/* a <- a / max(‖a‖, floor), one block (the vectors are a layer's rows or columns: ≤ ~10^4). */
__global__ void spec_normalize_kernel(float *a, int64_t n) {
  double ss = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    ss += (double)a[i] * a[i];
  ss = ops_block_sum_all(ss);
  float inv = (float)(1.0 / fmax(sqrt(ss), (double)SPECTRAL_NORM_FLOOR));
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    a[i] *= inv;
}

/* v[c] = Σ_r u[r]·W[r, c], rows in order, in double: one thread per column (coalesced rows). */
__global__ void spec_wt_u_kernel(const float *w, const float *u, int64_t rows, int64_t cols,
                                 float *v) {
  OPS_FOR(c, cols) {
    double acc = 0;
    for (int64_t r = 0; r < rows; r++)
      acc += (double)u[r] * w[r * cols + c];
    v[c] = (float)acc;
  }
}

/* out[r] = scale_r · Σ_c W[r, c]·v[c], one block per row; scale_r = u[r] when u is given
 * (the terms of uᵀWv, kept in double), else 1 and the result is stored as float in outf. */
__global__ void spec_w_v_kernel(const float *w, const float *v, const float *u, int64_t cols,
                                float *outf, double *outd) {
  int64_t r = blockIdx.x;
  const float *wr = w + r * cols;
  double d = 0;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    d += (double)wr[c] * v[c];
  d = ops_block_sum(d);
  if (threadIdx.x == 0) {
    if (outd)
      outd[r] = (double)u[r] * d;
    else
      outf[r] = (float)d;
  }
}

/* sigma[0] = Σ_r terms[r], in row order (one block, each thread a contiguous run, then the tree) */
__global__ void spec_sum_rows_kernel(const double *terms, int64_t rows, float *sigma) {
  int64_t per = (rows + blockDim.x - 1) / blockDim.x;
  int64_t lo = threadIdx.x * per, hi = lo + per < rows ? lo + per : rows;
  double s = 0;
  for (int64_t r = lo; r < hi; r++)
    s += terms[r];
  s = ops_block_sum(s);
  if (threadIdx.x == 0) sigma[0] = (float)s;
}

/* dW[r, c] += (dsigma·u[r])·v[c] (dsigma read on the device) */
__global__ void spec_outer_kernel(const float *u, const float *v, const float *dsigma, int64_t rows,
                                  int64_t cols, float *dw) {
  float g = dsigma[0];
  OPS_FOR(t, rows * cols) {
    int64_t r = t / cols, c = t % cols;
    float gu = g * u[r];
    dw[t] += gu * v[c];
  }
}

/* One block over gamma [n]: max |gamma| and, when backward, the number of channels that reach it
 * and dgamma_k += sign(gamma_k)·dout/ties there. */
__global__ void bn_max_abs_kernel(const float *gamma, int64_t n, float *out, const float *dout,
                                  float *dgamma) {
  __shared__ float wmax[32];
  __shared__ float m_all;
  float m = 0;
  for (int64_t k = threadIdx.x; k < n; k += blockDim.x)
    m = fmaxf(m, fabsf(gamma[k]));
  for (int o = 16; o > 0; o >>= 1)
    m = fmaxf(m, __shfl_down_sync(0xffffffffu, m, o));
  if ((threadIdx.x & 31) == 0) wmax[threadIdx.x >> 5] = m;
  __syncthreads();
  if (threadIdx.x == 0) {
    float v = 0;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++)
      v = fmaxf(v, wmax[w]);
    m_all = v;
    if (out) out[0] = v;
  }
  __syncthreads();
  if (!dgamma) return;
  m = m_all;
  long long ties = 0;
  for (int64_t k = threadIdx.x; k < n; k += blockDim.x)
    ties += fabsf(gamma[k]) == m;
  ties = ops_block_sum_all(ties);
  float share = dout[0] / (float)ties;
  for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
    float g = gamma[k];
    if (fabsf(g) == m) dgamma[k] += g > 0 ? share : (g < 0 ? -share : 0.0f);
  }
}

void cuda_spectral_normalize(op_ctx *ctx, tensor *a) {
  int64_t n = tensor_numel(a);
  spec_normalize_kernel<<<1, SPEC_NORM_THREADS, 0, cuda_ctx_stream(ctx)>>>(tensor_f32(a), n);
  CUDA_CHECK_LAUNCH();
}

void cuda_spectral_power_iteration(op_ctx *ctx, const tensor *W, tensor *u, tensor *v, int iters) {
  OPS_EXPECT_2D(W, -1, -1);
  int64_t rows = W->shape[0], cols = W->shape[1];
  OPS_EXPECT_1D(u, rows);
  OPS_EXPECT_1D(v, cols);
  cudaStream_t s = cuda_ctx_stream(ctx);
  const float *w = tensor_f32(W);
  float *pu = tensor_f32(u), *pv = tensor_f32(v);
  for (int it = 0; it < iters; it++) {
    spec_wt_u_kernel<<<ops_blocks(cols), OPS_THREADS, 0, s>>>(w, pu, rows, cols, pv);
    CUDA_CHECK_LAUNCH();
    spec_normalize_kernel<<<1, SPEC_NORM_THREADS, 0, s>>>(pv, cols);
    CUDA_CHECK_LAUNCH();
    if (rows > 0) {
      spec_w_v_kernel<<<(unsigned)rows, ops_row_threads(cols), 0, s>>>(w, pv, nullptr, cols, pu,
                                                                       nullptr);
      CUDA_CHECK_LAUNCH();
    }
    spec_normalize_kernel<<<1, SPEC_NORM_THREADS, 0, s>>>(pu, rows);
    CUDA_CHECK_LAUNCH();
  }
}

void cuda_spectral_sigma_forward(op_ctx *ctx, const tensor *W, const tensor *u, const tensor *v,
                                 tensor *sigma) {
  OPS_EXPECT_2D(W, -1, -1);
  int64_t rows = W->shape[0], cols = W->shape[1];
  OPS_EXPECT_1D(u, rows);
  OPS_EXPECT_1D(v, cols);
  OPS_EXPECT_1D(sigma, 1);
  cudaStream_t s = cuda_ctx_stream(ctx);
  OpsScratch sc(ctx, ops_pad((size_t)rows * sizeof(double)));
  double *terms = sc.take<double>(rows); /* [rows] u[r]·(Wv)[r] */
  if (rows > 0) {
    spec_w_v_kernel<<<(unsigned)rows, ops_row_threads(cols), 0, s>>>(
        tensor_f32(W), tensor_f32(v), tensor_f32(u), cols, nullptr, terms);
    CUDA_CHECK_LAUNCH();
  }
  spec_sum_rows_kernel<<<1, OPS_THREADS, 0, s>>>(terms, rows, tensor_f32(sigma));
  CUDA_CHECK_LAUNCH();
}

void cuda_spectral_sigma_backward(op_ctx *ctx, const tensor *u, const tensor *v,
                                  const tensor *dsigma, tensor *dW) {
  OPS_EXPECT_1D(u, -1);
  OPS_EXPECT_1D(v, -1);
  int64_t rows = u->shape[0], cols = v->shape[0];
  OPS_EXPECT_2D(dW, rows, cols);
  OPS_EXPECT_1D(dsigma, 1);
  if (rows * cols == 0) return;
  spec_outer_kernel<<<ops_blocks(rows * cols), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(u), tensor_f32(v), tensor_f32(dsigma), rows, cols, tensor_f32(dW));
  CUDA_CHECK_LAUNCH();
}

void cuda_bn_max_abs_forward(op_ctx *ctx, const tensor *gamma, tensor *out) {
  OPS_EXPECT_1D(gamma, -1);
  OPS_EXPECT_1D(out, 1);
  bn_max_abs_kernel<<<1, OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(tensor_f32(gamma), gamma->shape[0],
                                                                 tensor_f32(out), nullptr, nullptr);
  CUDA_CHECK_LAUNCH();
}

void cuda_bn_max_abs_backward(op_ctx *ctx, const tensor *gamma, const tensor *dout,
                              tensor *dgamma) {
  OPS_EXPECT_1D(gamma, -1);
  OPS_EXPECT_1D(dout, 1);
  TENSOR_EXPECT_SAME(dgamma, gamma);
  bn_max_abs_kernel<<<1, OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(gamma), gamma->shape[0], nullptr, tensor_f32(dout), tensor_f32(dgamma));
  CUDA_CHECK_LAUNCH();
}
