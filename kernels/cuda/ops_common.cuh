/* Shared by the CUDA op kernels (kernels/cuda/ops_*.cu): launch shapes, deterministic block
 * reductions, temporary device memory, the host side of the sync-BN hook. CUDA sources only.
 *
 * Determinism: every grid below is a function of the tensor shapes only (never of the device's
 * multiprocessor count), a thread walks its elements in a fixed order, and blocks combine values
 * with the fixed shuffle tree of block_sum(); partial results go to memory and a second kernel
 * combines them in index order. So a reduction gives the same bits on every run and every card
 * of the same architecture; no floating-point atomics are used anywhere.
 */
#ifndef NVAE_KERNELS_CUDA_OPS_COMMON_CUH
#define NVAE_KERNELS_CUDA_OPS_COMMON_CUH

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/ops_math.h"

#include <stdint.h>

#define OPS_THREADS 256
#define OPS_MAX_BLOCKS 16384 /* element-wise kernels loop (grid-stride) beyond this */
#define OPS_MAX_GRID_Y 65535

/* Blocks for an element-wise kernel over n elements with a grid-stride loop. */
static inline unsigned ops_blocks(int64_t n, int threads = OPS_THREADS) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  return (unsigned)(b < OPS_MAX_BLOCKS ? b : OPS_MAX_BLOCKS);
}

/* Threads of a block that reduces or walks one row of `len` elements: a multiple of 32, at most
 * 256, no more than the row needs. */
static inline int ops_row_threads(int64_t len) {
  int t = 32;
  while (t < 256 && t < len)
    t *= 2;
  return t;
}

/* Plane-wise launches: grid.x = one block row per (n, c) plane, grid.y = blocks along the plane
 * (so per-channel constants are loaded once per block, not divided out per element). */
static inline dim3 ops_plane_grid(int64_t planes, int64_t hw) {
  int64_t y = (hw + OPS_THREADS * 4 - 1) / (OPS_THREADS * 4);
  if (y < 1) y = 1;
  if (y > OPS_MAX_GRID_Y) y = OPS_MAX_GRID_Y;
  NVAE_ASSERT(planes >= 1 && planes < (1ll << 31), "too many planes for one launch: %lld",
              (long long)planes);
  return dim3((unsigned)planes, (unsigned)y, 1);
}

/* Shape checks (kernels/tensor.h's TENSOR_EXPECT_*D build their shape as a C compound literal,
 * which C++ rejects for run-time extents): -1 matches any extent; fatal with file:line. */
#define OPS_EXPECT_AT(t, what, nd, ...)                                                            \
  do {                                                                                             \
    const int64_t shape_[] = {__VA_ARGS__};                                                        \
    tensor_expect_at((t), (what), (nd), shape_, __FILE__, __LINE__);                               \
  } while (0)
#define OPS_EXPECT_4D(t, n, c, h, w) OPS_EXPECT_AT(t, #t, 4, (n), (c), (h), (w))
#define OPS_EXPECT_3D(t, n, h, w) OPS_EXPECT_AT(t, #t, 3, (n), (h), (w))
#define OPS_EXPECT_2D(t, r, c) OPS_EXPECT_AT(t, #t, 2, (r), (c))
#define OPS_EXPECT_1D(t, n) OPS_EXPECT_AT(t, #t, 1, (n))

/* Float data of an optional tensor. */
static inline float *ops_opt_f32(const tensor *t) { return t ? tensor_f32(t) : nullptr; }

/* Grid-stride loop over [0, n). */
#define OPS_FOR(i, n)                                                                              \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                        \
       i += (int64_t)gridDim.x * blockDim.x)
/* Loop over one plane's hw elements inside a plane-wise launch (see ops_plane_grid). */
#define OPS_FOR_PLANE(i, hw)                                                                       \
  for (int64_t i = (int64_t)blockIdx.y * blockDim.x + threadIdx.x; i < (hw);                       \
       i += (int64_t)gridDim.y * blockDim.x)

/* Sum over a warp by a fixed shuffle tree; lane 0 holds the result. */
template <typename T> __device__ __forceinline__ T ops_warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}

/* Sum over the block (blockDim.x a multiple of 32, <= 1024) in a fixed order; the result is valid
 * in thread 0. Every thread of the block must call it; consecutive calls are safe. */
template <typename T> __device__ T ops_block_sum(T v) {
  __shared__ T part[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = ops_warp_sum(v);
  __syncthreads(); /* the previous call's readers are done with part[] */
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < nwarps ? part[lane] : (T)0;
    v = ops_warp_sum(v);
  }
  return v;
}

/* The same sum, broadcast to every thread of the block. */
template <typename T> __device__ T ops_block_sum_all(T v) {
  __shared__ T result;
  v = ops_block_sum(v);
  if (threadIdx.x == 0) result = v;
  __syncthreads();
  v = result;
  __syncthreads(); /* the next call may overwrite result */
  return v;
}

/* One op's temporary device buffers, carved out of ONE op_ctx_scratch() call (the CUDA backend's
 * contract, kernels/cuda/cuda_ctx.h: a second call may move the buffer). The scratch is the
 * context's, reused by the next op on the same stream, which stream order makes safe. Usage:
 *   size_t total = ops_pad(n1 * sizeof(double)) + ops_pad(n2 * sizeof(float));
 *   OpsScratch sc(ctx, total);
 *   double *a = sc.take<double>(n1); float *b = sc.take<float>(n2);   */
static inline size_t ops_pad(size_t bytes) { return (bytes + 255) & ~(size_t)255; }

struct OpsScratch {
  char *base;
  size_t off, total;
  OpsScratch(op_ctx *ctx, size_t bytes)
      : base((char *)op_ctx_scratch(ctx, bytes)), off(0), total(bytes) {}
  template <typename T> T *take(size_t n) {
    T *p = (T *)(base + off);
    off += ops_pad(n * sizeof(T));
    NVAE_ASSERT(off <= total, "op scratch: %zu bytes taken of %zu", off, total);
    return p;
  }
};

/* The deterministic sum of reduce_to_scalar and grad_norm_sq (ops_objective.cu): out[0] +=
 * scale · Σ f(x_i) over n floats, f a scalar_reduce (kernels/cpu/objective.h), by chunks of
 * OPS_SCALAR_CHUNK elements (the CPU's blocks). part: ops_scalar_chunks(n) doubles of scratch;
 * out: 1 double on the device. Queued on s. */
#define OPS_SCALAR_CHUNK 8192
static inline int64_t ops_scalar_chunks(int64_t n) {
  return (n + OPS_SCALAR_CHUNK - 1) / OPS_SCALAR_CHUNK;
}
void ops_scalar_reduce(cudaStream_t s, const float *x, int64_t n, scalar_reduce f, double scale,
                       double *part, double *out);

/* Host <-> device copies that return when the data has arrived (host buffers are the caller's). */
void ops_copy_d2h(cudaStream_t s, void *host, const void *dev, size_t bytes);
void ops_copy_h2d(cudaStream_t s, void *dev, const void *host, size_t bytes);

/* The bn_sync hook on device sums [len]: allreduce_sum_dev on the device sums, queued on s, when
 * the hook has it (NCCL); else the MPI-transport path: copy to the host, all-reduce there, copy
 * back. Nothing happens when sync is NULL (local BN). */
void ops_bn_allreduce(cudaStream_t s, const bn_sync *sync, double *dev_sums, int len);

#endif
