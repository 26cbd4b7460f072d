/* Per-sample reductions on the GPU: see kernels/cpu/reduce.h. Sums in double, deterministic: a
 * sample's elements are split into a fixed number of chunks (a function of the sample size only),
 * one block sums a chunk (tree), a second kernel adds a sample's chunk sums in order. */
#include "kernels/cuda/ops_common.cuh"

#define RED_CHUNK 16384 /* elements per block of the first pass */
#define RED_THREADS 256

/* Which elements a row (sample) sums: the whole sample [k], or a window of an image. */
typedef struct red_src {
  const float *x;
  int64_t k;      /* elements per row in the reduction (whole: per-sample count) */
  int64_t stride; /* elements between rows of x */
  int region;     /* 0: whole sample; 1: window */
  int64_t C, H, W, y0, x0, h, w;
} red_src;

__device__ __forceinline__ float red_load(const red_src &s, int64_t row, int64_t e) {
  if (!s.region) return s.x[row * s.stride + e];
  int64_t hw = s.h * s.w, c = e / hw, r = (e % hw) / s.w, q = e % s.w;
  return s.x[row * s.stride + (c * s.H + s.y0 + r) * s.W + s.x0 + q];
}

/* grid (chunks, rows): part[row * chunks + chunk] */
__global__ void red_chunks_kernel(red_src s, int64_t chunk, double *part) {
  int64_t row = blockIdx.y, lo = (int64_t)blockIdx.x * chunk;
  int64_t hi = lo + chunk < s.k ? lo + chunk : s.k;
  double acc = 0;
  for (int64_t e = lo + threadIdx.x; e < hi; e += blockDim.x)
    acc += red_load(s, row, e);
  acc = ops_block_sum(acc);
  if (threadIdx.x == 0) part[row * gridDim.x + blockIdx.x] = acc;
}

/* one thread per row: y[row] = (float)(Σ_chunks part · scale) */
__global__ void red_rows_kernel(const double *part, int64_t rows, int64_t chunks, double div,
                                float *y) {
  OPS_FOR(r, rows) {
    double s = 0;
    for (int64_t b = 0; b < chunks; b++)
      s += part[r * chunks + b];
    y[r] = (float)(div == 1.0 ? s : s / div);
  }
}

/* y[row] = Σ (or mean, div) over the row's elements */
static void red_rows(op_ctx *ctx, const red_src &src, int64_t rows, double div, float *y) {
  cudaStream_t st = cuda_ctx_stream(ctx);
  if (rows == 0) return;
  int64_t chunks = (src.k + RED_CHUNK - 1) / RED_CHUNK;
  if (chunks < 1) chunks = 1;
  NVAE_ASSERT(rows <= OPS_MAX_GRID_Y, "reduction over %lld samples", (long long)rows);
  OpsScratch sc(ctx, ops_pad((size_t)(rows * chunks) * sizeof(double)));
  double *part = sc.take<double>(rows * chunks); /* [rows, chunks] */
  dim3 grid((unsigned)chunks, (unsigned)rows, 1);
  red_chunks_kernel<<<grid, RED_THREADS, 0, st>>>(src, RED_CHUNK, part);
  CUDA_CHECK_LAUNCH();
  red_rows_kernel<<<ops_blocks(rows), OPS_THREADS, 0, st>>>(part, rows, chunks, div, y);
  CUDA_CHECK_LAUNCH();
}

/* dx[n, ...] += dy[n] (whole sample) */
__global__ void red_bcast_kernel(const float *g, int64_t k, float *dx, int64_t total) {
  OPS_FOR(t, total) dx[t] += g[t / k];
}

/* dx += dy[n] inside the window: one thread per window element */
__global__ void red_bcast_region_kernel(const float *g, int64_t N, int64_t C, int64_t H, int64_t W,
                                        int y0, int x0, int h, int w, float *dx) {
  int64_t per = C * h * w;
  OPS_FOR(t, N * per) {
    int64_t n = t / per, e = t % per, c = e / ((int64_t)h * w), r = (e / w) % h, q = e % w;
    dx[((n * C + c) * H + y0 + r) * W + x0 + q] += g[n];
  }
}

/* dx[n] += dy[0] / N, the division on the device as the CPU does it in float */
__global__ void mean_bwd_kernel(const float *dy, int64_t n, float *dx) {
  float g = dy[0] / (float)n;
  OPS_FOR(i, n) dx[i] += g;
}

/* Elements per sample of x [N, ...]. */
static int64_t per_sample(const tensor *x) {
  NVAE_ASSERT(x->ndim >= 1 && x->shape[0] > 0, "reduction over an empty batch");
  return tensor_numel(x) / x->shape[0];
}

typedef struct region_geom {
  int64_t N, C, H, W; /* C = 1 for [N, H, W] */
} region_geom;

static region_geom region_check(const tensor *x, int y0, int x0, int h, int w) {
  NVAE_ASSERT(x->ndim == 3 || x->ndim == 4,
              "sum_region_per_sample: x must be [N, C, H, W] or [N, H, W], got %d dims", x->ndim);
  region_geom g = {x->shape[0], x->ndim == 4 ? x->shape[1] : 1, x->shape[x->ndim - 2],
                   x->shape[x->ndim - 1]};
  NVAE_ASSERT(y0 >= 0 && x0 >= 0 && h >= 0 && w >= 0 && y0 + h <= g.H && x0 + w <= g.W,
              "sum_region_per_sample: window (y0 %d, x0 %d, h %d, w %d) outside a %lldx%lld image",
              y0, x0, h, w, (long long)g.H, (long long)g.W);
  return g;
}

void cuda_sum_per_sample_forward(op_ctx *ctx, const tensor *x, tensor *y) {
  int64_t N = x->shape[0], k = per_sample(x);
  OPS_EXPECT_1D(y, N);
  red_src s = {};
  s.x = tensor_f32(x), s.k = k, s.stride = k;
  red_rows(ctx, s, N, 1.0, tensor_f32(y));
}

void cuda_sum_per_sample_backward(op_ctx *ctx, const tensor *dy, tensor *dx) {
  int64_t N = dx->shape[0], k = per_sample(dx);
  OPS_EXPECT_1D(dy, N);
  if (N * k == 0) return;
  red_bcast_kernel<<<ops_blocks(N * k), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(dy), k, tensor_f32(dx), N * k);
  CUDA_CHECK_LAUNCH();
}

void cuda_sum_region_per_sample_forward(op_ctx *ctx, const tensor *x, int y0, int x0, int h, int w,
                                        tensor *y) {
  region_geom g = region_check(x, y0, x0, h, w);
  OPS_EXPECT_1D(y, g.N);
  red_src s = {};
  s.x = tensor_f32(x), s.k = g.C * h * w, s.stride = g.C * g.H * g.W, s.region = 1;
  s.C = g.C, s.H = g.H, s.W = g.W, s.y0 = y0, s.x0 = x0, s.h = h, s.w = w;
  red_rows(ctx, s, g.N, 1.0, tensor_f32(y));
}

void cuda_sum_region_per_sample_backward(op_ctx *ctx, int y0, int x0, int h, int w,
                                         const tensor *dy, tensor *dx) {
  region_geom g = region_check(dx, y0, x0, h, w);
  OPS_EXPECT_1D(dy, g.N);
  int64_t total = g.N * g.C * h * w;
  if (total == 0) return;
  red_bcast_region_kernel<<<ops_blocks(total), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(dy), g.N, g.C, g.H, g.W, y0, x0, h, w, tensor_f32(dx));
  CUDA_CHECK_LAUNCH();
}

void cuda_mean_over_batch_forward(op_ctx *ctx, const tensor *x, tensor *y) {
  OPS_EXPECT_1D(x, -1);
  OPS_EXPECT_1D(y, 1);
  NVAE_ASSERT(x->shape[0] > 0, "mean over an empty batch");
  red_src s = {};
  s.x = tensor_f32(x), s.k = x->shape[0], s.stride = 0;
  red_rows(ctx, s, 1, (double)x->shape[0], tensor_f32(y));
}

void cuda_mean_over_batch_backward(op_ctx *ctx, const tensor *dy, tensor *dx) {
  OPS_EXPECT_1D(dy, 1);
  OPS_EXPECT_1D(dx, -1);
  if (dx->shape[0] == 0) return;
  mean_bwd_kernel<<<ops_blocks(dx->shape[0]), OPS_THREADS, 0, cuda_ctx_stream(ctx)>>>(
      tensor_f32(dy), dx->shape[0], tensor_f32(dx));
  CUDA_CHECK_LAUNCH();
}
