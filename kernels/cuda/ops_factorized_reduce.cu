/* FactorizedReduce on the GPU: see kernels/cpu/factorized_reduce.h. Four 1x1 stride-2 convs with
 * bias on the pixel phases (0,0), (1,1), (0,1), (1,0) of x, concatenated along channels. They are
 * tiny matrix products on strided slices, so they run as direct kernels here rather than four
 * cuDNN calls plus gathers and a concat:
 *   forward:  one thread per output element, a float dot product over C (what sgemm does);
 *   dx:       one thread per input element (its phase picks the conv), dot product over Ck;
 *   dw, db:   one block per weight / bias element, a double tree sum over N·H/2·W/2, so the
 *             batch reduction is deterministic and needs no atomics. */
#include "kernels/cpu/factorized_reduce.h"
#include "kernels/cuda/ops_common.cuh"

typedef struct fr_geom {
  int64_t n, c, h, w, cout, h2, w2;
  int64_t first[5]; /* first output channel of conv k; first[4] = cout */
} fr_geom;

typedef struct fr_ptrs {
  const float *w[4]; /* [Ck, C] */
  const float *b[4]; /* [Ck] */
  float *dw[4], *db[4];
} fr_ptrs;

/* conv k of output channel oc */
__device__ __forceinline__ int fr_conv_of(const fr_geom &g, int64_t oc) {
  return oc < g.first[1] ? 0 : oc < g.first[2] ? 1 : oc < g.first[3] ? 2 : 3;
}
/* pixel phase (row, col) read by conv k: x, x[1:, 1:], x[:, 1:], x[1:, :] */
__device__ __forceinline__ int fr_phase_row(int k) { return k == 1 || k == 3; }
__device__ __forceinline__ int fr_phase_col(int k) { return k == 1 || k == 2; }

__global__ void fr_forward_kernel(fr_geom g, fr_ptrs p, const float *x, float *y) {
  int64_t hw2 = g.h2 * g.w2;
  OPS_FOR(t, g.n * g.cout * hw2) {
    int64_t n = t / (g.cout * hw2), r = t % (g.cout * hw2), oc = r / hw2, q = r % hw2;
    int64_t i = q / g.w2, j = q % g.w2;
    int k = fr_conv_of(g, oc);
    int64_t o = oc - g.first[k];
    const float *wk = p.w[k] + o * g.c; /* [C] */
    const float *xs =
        x + n * g.c * g.h * g.w + (2 * i + fr_phase_row(k)) * g.w + 2 * j + fr_phase_col(k);
    float acc = 0;
    for (int64_t c = 0; c < g.c; c++)
      acc += wk[c] * xs[c * g.h * g.w];
    y[t] = acc + p.b[k][o];
  }
}

/* dx[n, c, r, q] += Σ_o w_k[o, c]·dy[n, first_k + o, r/2, q/2], k = the phase of (r, q) */
__global__ void fr_dx_kernel(fr_geom g, fr_ptrs p, const float *dy, float *dx) {
  int64_t hw = g.h * g.w, hw2 = g.h2 * g.w2;
  OPS_FOR(t, g.n * g.c * hw) {
    int64_t n = t / (g.c * hw), rem = t % (g.c * hw), c = rem / hw, pix = rem % hw;
    int64_t r = pix / g.w, q = pix % g.w;
    int pr = (int)(r & 1), pc = (int)(q & 1);
    int k = pr == pc ? pr : (pc ? 2 : 3);
    int64_t ck = g.first[k + 1] - g.first[k];
    const float *wk = p.w[k] + c; /* stride C */
    const float *gk =
        dy + (n * g.cout + g.first[k]) * hw2 + (r / 2) * g.w2 + q / 2; /* stride hw2 */
    float acc = 0;
    for (int64_t o = 0; o < ck; o++)
      acc += wk[o * g.c] * gk[o * hw2];
    dx[t] += acc;
  }
}

/* One block per (oc, c): dw_k[o, c] += Σ_{n, i, j} dy[n, oc, i, j]·x[n, c, 2i + pr, 2j + pc] */
__global__ void fr_dw_kernel(fr_geom g, fr_ptrs p, const float *x, const float *dy) {
  int64_t oc = blockIdx.x / g.c, c = blockIdx.x % g.c;
  int k = fr_conv_of(g, oc);
  if (!p.dw[k]) return; /* uniform over the block */
  int64_t hw2 = g.h2 * g.w2, o = oc - g.first[k];
  int pr = fr_phase_row(k), pc = fr_phase_col(k);
  double s = 0;
  for (int64_t n = 0; n < g.n; n++) {
    const float *gp = dy + (n * g.cout + oc) * hw2;                  /* [h2, w2] */
    const float *xp = x + (n * g.c + c) * g.h * g.w + pr * g.w + pc; /* phase of [H, W] */
    for (int64_t q = threadIdx.x; q < hw2; q += blockDim.x) {
      int64_t i = q / g.w2, j = q % g.w2;
      s += (double)gp[q] * xp[2 * i * g.w + 2 * j];
    }
  }
  s = ops_block_sum(s);
  if (threadIdx.x == 0) p.dw[k][o * g.c + c] += (float)s;
}

/* One block per output channel: db_k[o] += Σ_{n, i, j} dy[n, oc, i, j] */
__global__ void fr_db_kernel(fr_geom g, fr_ptrs p, const float *dy) {
  int64_t oc = blockIdx.x;
  int k = fr_conv_of(g, oc);
  if (!p.db[k]) return;
  int64_t hw2 = g.h2 * g.w2;
  double s = 0;
  for (int64_t n = 0; n < g.n; n++) {
    const float *gp = dy + (n * g.cout + oc) * hw2;
    for (int64_t q = threadIdx.x; q < hw2; q += blockDim.x)
      s += gp[q];
  }
  s = ops_block_sum(s);
  if (threadIdx.x == 0) p.db[k][oc - g.first[k]] += (float)s;
}

static fr_geom fr_geom_make(const tensor *x, const tensor *const w[4], const tensor *y) {
  OPS_EXPECT_4D(x, -1, -1, -1, -1);
  fr_geom g = {};
  g.n = x->shape[0], g.c = x->shape[1], g.h = x->shape[2], g.w = x->shape[3];
  g.h2 = g.h / 2, g.w2 = g.w / 2;
  NVAE_ASSERT(g.h % 2 == 0 && g.w % 2 == 0, "factorized_reduce: %lldx%lld input, want even sizes",
              (long long)g.h, (long long)g.w);
  OPS_EXPECT_4D(y, g.n, -1, g.h2, g.w2);
  g.cout = y->shape[1];
  g.first[0] = 0;
  for (int k = 0; k < 4; k++) {
    int64_t ck = factorized_reduce_channels(g.cout, k);
    OPS_EXPECT_AT(w[k], "w[k]", 4, ck, g.c, 1, 1);
    g.first[k + 1] = g.first[k] + ck;
  }
  return g;
}

void cuda_factorized_reduce_forward(op_ctx *ctx, const tensor *x, const tensor *const w[4],
                                    const tensor *const b[4], tensor *y) {
  fr_geom g = fr_geom_make(x, w, y);
  fr_ptrs p = {};
  for (int k = 0; k < 4; k++) {
    OPS_EXPECT_AT(b[k], "b[k]", 1, g.first[k + 1] - g.first[k]);
    p.w[k] = tensor_f32(w[k]);
    p.b[k] = tensor_f32(b[k]);
  }
  int64_t n = g.n * g.cout * g.h2 * g.w2;
  if (n == 0) return;
  fr_forward_kernel<<<ops_blocks(n), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(g, p, tensor_f32(x),
                                                                             tensor_f32(y));
  CUDA_CHECK_LAUNCH();
}

void cuda_factorized_reduce_backward(op_ctx *ctx, const tensor *x, const tensor *const w[4],
                                     const tensor *dy, tensor *dx, tensor *const dw[4],
                                     tensor *const db[4]) {
  fr_geom g = fr_geom_make(x, w, dy);
  if (dx) TENSOR_EXPECT_SAME(dx, x);
  fr_ptrs p = {};
  int any_dw = 0, any_db = 0;
  for (int k = 0; k < 4; k++) {
    int64_t ck = g.first[k + 1] - g.first[k];
    tensor *dwt = dw ? dw[k] : nullptr, *dbt = db ? db[k] : nullptr;
    if (dwt) TENSOR_EXPECT_SAME(dwt, w[k]);
    if (dbt) OPS_EXPECT_AT(dbt, "db[k]", 1, ck);
    p.w[k] = tensor_f32(w[k]);
    p.dw[k] = ops_opt_f32(dwt);
    p.db[k] = ops_opt_f32(dbt);
    any_dw |= dwt != nullptr && ck > 0;
    any_db |= dbt != nullptr && ck > 0;
  }
  cudaStream_t s = cuda_ctx_stream(ctx);
  int64_t hw2 = g.h2 * g.w2;
  if (g.n == 0 || hw2 == 0) return;
  if (dx && g.c > 0) {
    fr_dx_kernel<<<ops_blocks(g.n * g.c * g.h * g.w), OPS_THREADS, 0, s>>>(g, p, tensor_f32(dy),
                                                                           tensor_f32(dx));
    CUDA_CHECK_LAUNCH();
  }
  if (any_dw && g.c > 0) {
    fr_dw_kernel<<<(unsigned)(g.cout * g.c), ops_row_threads(hw2), 0, s>>>(g, p, tensor_f32(x),
                                                                           tensor_f32(dy));
    CUDA_CHECK_LAUNCH();
  }
  if (any_db) {
    fr_db_kernel<<<(unsigned)g.cout, ops_row_threads(hw2), 0, s>>>(g, p, tensor_f32(dy));
    CUDA_CHECK_LAUNCH();
  }
}
