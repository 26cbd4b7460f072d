/* conv2d on the GPU through cuDNN's convolution API (NCHW, float32; same contract as
 * kernels/cpu/conv.h: groups incl. depthwise, stride, symmetric zero padding, nullable bias and
 * mask, gradients ACCUMULATED).
 *
 * - Masked weights: w⊙mask is written into the context's workspace and cuDNN sees that; the weight
 *   gradient then goes to a workspace buffer (beta = 0) and dw += d(w⊙mask)⊙mask.
 * - Accumulation: backward data and backward filter run with beta = 1 (dx += ..., dw += ...).
 *   The bias gradient is our own kernel (one block per channel, a fixed-order tree in double), so
 *   it is deterministic whatever the mode.
 * - Algorithms: cudnnGet*Algorithm_v7 heuristics (no timing runs, so the choice is the same on
 *   every run) filtered by: status OK, workspace <= the context's limit, CUDNN_DETERMINISTIC when
 *   ctx->deterministic, and no tensor-op (TF32) math unless ctx->allow_tf32. The candidates are
 *   cached per (shape, stride, pad, groups, deterministic, allow_tf32) with the descriptors; a
 *   candidate that cuDNN refuses at run time (CUDNN_STATUS_NOT_SUPPORTED) is dropped for the next.
 * - TF32: the convolution descriptor's math type is CUDNN_FMA_MATH (no tensor cores: true float32)
 *   unless ctx->allow_tf32, then CUDNN_TENSOR_OP_MATH. Off by default (op_ctx_cuda).
 * - Workspace: one op_ctx_scratch() call per op holds [w⊙mask | d(w⊙mask) | cuDNN workspace].
 *
 * cuDNN 9 still ships this (legacy) API; its header marks it deprecated only when
 * CUDNN_WARN_DEPRECATED is defined. Status: compiled here without a GPU; NOT yet run on a GPU.
 */
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ctx.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

namespace {

constexpr int kMaxCand = 16;

struct ConvKey {
  int n, cin, h, w, cout, kh, kw, stride, pad, groups, det, tf32;
  bool operator==(const ConvKey &o) const { return memcmp(this, &o, sizeof o) == 0; }
};

struct Cand {
  int algo;
  size_t ws;
};

/* Candidates of one direction, best first; `at` is the one in use, -1 = not chosen yet. */
struct CandList {
  int n = 0, at = -1;
  Cand c[kMaxCand];
};

struct ConvPlan {
  ConvKey key;
  int ho, wo;
  cudnnTensorDescriptor_t xd, yd, bd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  CandList fwd, bwd_data, bwd_filter;
};

struct ConvCache {
  int n = 0, cap = 0;
  ConvPlan **plans = nullptr;
};

int to_int(int64_t v, const char *what) {
  NVAE_ASSERT(v >= 0 && v <= INT_MAX, "conv2d (cuDNN): %s = %lld does not fit cuDNN's int", what,
              (long long)v);
  return (int)v;
}

/* Same checks and messages as the CPU op (kernels/cpu/conv.c). */
ConvKey conv_key_make(const op_ctx *ctx, const conv2d_params *p, const tensor *x, const tensor *w,
                      const tensor *mask, const tensor *y) {
  NVAE_ASSERT(p->stride >= 1 && p->pad >= 0 && p->groups >= 1,
              "conv2d: stride %d, pad %d, groups %d", p->stride, p->pad, p->groups);
  TENSOR_EXPECT_4D(x, -1, -1, -1, -1);
  NVAE_ASSERT(x->shape[1] % p->groups == 0, "conv2d: %lld input channels in %d groups",
              (long long)x->shape[1], p->groups);
  TENSOR_EXPECT_4D(w, -1, x->shape[1] / p->groups, -1, -1);
  NVAE_ASSERT(w->shape[0] % p->groups == 0, "conv2d: %lld output channels in %d groups",
              (long long)w->shape[0], p->groups);
  NVAE_ASSERT(x->shape[2] + 2 * p->pad >= w->shape[2] && x->shape[3] + 2 * p->pad >= w->shape[3],
              "conv2d: %lldx%lld kernel on a %lldx%lld image padded by %d", (long long)w->shape[2],
              (long long)w->shape[3], (long long)x->shape[2], (long long)x->shape[3], p->pad);
  if (mask) TENSOR_EXPECT_SAME(mask, w);
  ConvKey k;
  memset(&k, 0, sizeof k); /* the key is compared with memcmp */
  k.n = to_int(x->shape[0], "N");
  k.cin = to_int(x->shape[1], "Cin");
  k.h = to_int(x->shape[2], "H");
  k.w = to_int(x->shape[3], "W");
  k.cout = to_int(w->shape[0], "Cout");
  k.kh = to_int(w->shape[2], "kh");
  k.kw = to_int(w->shape[3], "kw");
  k.stride = p->stride;
  k.pad = p->pad;
  k.groups = p->groups;
  k.det = ctx->deterministic ? 1 : 0;
  k.tf32 = ctx->allow_tf32 ? 1 : 0;
  int64_t ho = ((int64_t)k.h + 2 * k.pad - k.kh) / k.stride + 1;
  int64_t wo = ((int64_t)k.w + 2 * k.pad - k.kw) / k.stride + 1;
  TENSOR_EXPECT_4D(y, k.n, k.cout, ho, wo);
  to_int(tensor_numel(x), "x elements");
  to_int(tensor_numel(y), "y elements");
  return k;
}

ConvPlan *plan_create(const ConvKey &k) {
  ConvPlan *pl = new ConvPlan();
  pl->key = k;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&pl->xd));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&pl->yd));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&pl->bd));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&pl->wd));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&pl->cd));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(pl->xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, k.n, k.cin,
                                         k.h, k.w));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(pl->wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k.cout,
                                         k.cin / k.groups, k.kh, k.kw));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(pl->cd, k.pad, k.pad, k.stride, k.stride, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionGroupCount(pl->cd, k.groups));
  /* FMA math: no tensor cores, so no TF32 rounding of the operands */
  CUDNN_CHECK(cudnnSetConvolutionMathType(pl->cd, k.tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  int n, c, h, w;
  CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(pl->cd, pl->xd, pl->wd, &n, &c, &h, &w));
  int64_t ho = ((int64_t)k.h + 2 * k.pad - k.kh) / k.stride + 1;
  int64_t wo = ((int64_t)k.w + 2 * k.pad - k.kw) / k.stride + 1;
  NVAE_ASSERT(n == k.n && c == k.cout && h == ho && w == wo,
              "conv2d (cuDNN): output [%d, %d, %d, %d], expected [%d, %d, %lld, %lld]", n, c, h, w,
              k.n, k.cout, (long long)ho, (long long)wo);
  pl->ho = h;
  pl->wo = w;
  CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(pl->yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, k.n, k.cout, h, w));
  CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(pl->bd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, k.cout, 1, 1));
  return pl;
}

void plan_destroy(ConvPlan *pl) {
  CUDNN_CHECK(cudnnDestroyTensorDescriptor(pl->xd));
  CUDNN_CHECK(cudnnDestroyTensorDescriptor(pl->yd));
  CUDNN_CHECK(cudnnDestroyTensorDescriptor(pl->bd));
  CUDNN_CHECK(cudnnDestroyFilterDescriptor(pl->wd));
  CUDNN_CHECK(cudnnDestroyConvolutionDescriptor(pl->cd));
  delete pl;
}

ConvPlan *plan_get(op_ctx *ctx, const ConvKey &k) {
  cuda_ctx_state *st = cuda_ctx_state_of(ctx);
  NVAE_ASSERT(st, "conv2d (cuDNN): not a CUDA op context (use op_ctx_cuda)");
  ConvCache *cache = static_cast<ConvCache *>(st->conv_cache);
  if (!cache) {
    cache = new ConvCache();
    st->conv_cache = cache;
  }
  for (int i = 0; i < cache->n; i++)
    if (cache->plans[i]->key == k) return cache->plans[i];
  if (cache->n == cache->cap) {
    cache->cap = cache->cap ? 2 * cache->cap : 16;
    cache->plans = static_cast<ConvPlan **>(
        nvae_realloc(cache->plans, (size_t)cache->cap * sizeof(ConvPlan *)));
  }
  ConvPlan *pl = plan_create(k);
  cache->plans[cache->n++] = pl;
  return pl;
}

/* Keeps a heuristic result if it meets the context's rules. TF32 off: entries that would run on
 * tensor cores (TENSOR_OP math) are refused; the descriptor's FMA math type governs execution. */
template <typename Perf>
void cand_filter(const Perf *perf, int returned, const ConvKey &k, size_t limit, CandList *out,
                 const char *dir) {
  out->n = 0;
  for (int i = 0; i < returned && out->n < kMaxCand; i++) {
    const Perf &q = perf[i];
    if (q.status != CUDNN_STATUS_SUCCESS) continue;
    if (k.det && q.determinism != CUDNN_DETERMINISTIC) continue;
    if (q.memory > limit) continue;
    if (!k.tf32 &&
        (q.mathType == CUDNN_TENSOR_OP_MATH || q.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    bool dup = false;
    for (int j = 0; j < out->n; j++)
      dup |= out->c[j].algo == (int)q.algo;
    if (dup) continue;
    out->c[out->n].algo = (int)q.algo;
    out->c[out->n].ws = q.memory;
    out->n++;
  }
  NVAE_ASSERT(out->n > 0,
              "conv2d (cuDNN): no %s algorithm for N%d Cin%d %dx%d -> Cout%d k%dx%d s%d p%d g%d "
              "(deterministic %d, tf32 %d, workspace limit %zu MiB; %d heuristic results)",
              dir, k.n, k.cin, k.h, k.w, k.cout, k.kh, k.kw, k.stride, k.pad, k.groups, k.det,
              k.tf32, limit >> 20, returned);
  out->at = 0;
}

void choose_fwd(op_ctx *ctx, ConvPlan *pl) {
  if (pl->fwd.at >= 0) return;
  cuda_ctx_state *st = cuda_ctx_state_of(ctx);
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(st->cudnn, pl->xd, pl->wd, pl->cd, pl->yd,
                                                     CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned,
                                                     perf));
  cand_filter(perf, returned, pl->key, st->workspace_limit, &pl->fwd, "forward");
}

void choose_bwd_data(op_ctx *ctx, ConvPlan *pl) {
  if (pl->bwd_data.at >= 0) return;
  cuda_ctx_state *st = cuda_ctx_state_of(ctx);
  cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  int returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(st->cudnn, pl->wd, pl->yd, pl->cd, pl->xd,
                                                          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                          &returned, perf));
  cand_filter(perf, returned, pl->key, st->workspace_limit, &pl->bwd_data, "backward-data");
}

void choose_bwd_filter(op_ctx *ctx, ConvPlan *pl) {
  if (pl->bwd_filter.at >= 0) return;
  cuda_ctx_state *st = cuda_ctx_state_of(ctx);
  cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  int returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
      st->cudnn, pl->xd, pl->yd, pl->cd, pl->wd, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &returned,
      perf));
  cand_filter(perf, returned, pl->key, st->workspace_limit, &pl->bwd_filter, "backward-filter");
}

/* A refused candidate (NOT_SUPPORTED before any launch) moves on to the next one; anything else
 * is fatal with cuDNN's text at the caller's line. Returns 1 when the call ran. */
bool cand_ran(cudnnStatus_t s, CandList *l, const char *what, const char *file, int line) {
  if (s == CUDNN_STATUS_SUCCESS) return true;
  if (s == CUDNN_STATUS_NOT_SUPPORTED && l->at + 1 < l->n) {
    l->at++;
    return false;
  }
  nvae_fatal_at(file, line, "cuDNN error: %s (in %s, algorithm %d)", cudnnGetErrorString(s), what,
                l->c[l->at].algo);
}

size_t align256(size_t b) { return (b + 255) & ~(size_t)255; }

__global__ void mask_mul_kernel(const float *w, const float *m, float *out, int64_t n) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = w[i] * m[i];
}

__global__ void mask_acc_kernel(const float *g, const float *m, float *dw, int64_t n) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dw[i] += g[i] * m[i];
}

constexpr int kBiasThreads = 256;

/* db[c] += Σ_{n, i} dy[n, c, i]: block c; each thread sums a fixed strided subset in float per
 * plane and in double across planes, then a fixed tree in shared memory: same bits every run. */
__global__ void bias_grad_kernel(const float *dy, float *db, int n, int cout, int64_t plane) {
  __shared__ double part[kBiasThreads];
  int c = blockIdx.x;
  double total = 0;
  for (int img = 0; img < n; img++) {
    const float *d = dy + ((int64_t)img * cout + c) * plane;
    float s = 0;
    for (int64_t i = threadIdx.x; i < plane; i += kBiasThreads)
      s += d[i];
    total += s;
  }
  part[threadIdx.x] = total;
  __syncthreads();
  for (int half = kBiasThreads / 2; half > 0; half /= 2) {
    if ((int)threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[c] += (float)part[0];
}

void launch_elementwise(void (*kern)(const float *, const float *, float *, int64_t),
                        const float *a, const float *b, float *out, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  int block = 256;
  unsigned grid = (unsigned)((n + block - 1) / block);
  kern<<<grid, block, 0, s>>>(a, b, out, n);
  CUDA_CHECK_LAUNCH();
}

} // namespace

extern "C" void conv2d_forward_cuda(op_ctx *ctx, const conv2d_params *p, const tensor *x,
                                    const tensor *w, const tensor *mask, const tensor *b,
                                    tensor *y) {
  ConvKey k = conv_key_make(ctx, p, x, w, mask, y);
  if (b) TENSOR_EXPECT_1D(b, k.cout);
  ConvPlan *pl = plan_get(ctx, k);
  cuda_ctx_state *st = cuda_ctx_state_of(ctx);
  cudaStream_t s = cuda_ctx_stream(ctx);
  choose_fwd(ctx, pl);
  const int64_t wn = tensor_numel(w);
  const size_t wbytes = mask ? align256((size_t)wn * sizeof(float)) : 0;
  const float one = 1.0f, zero = 0.0f;
  for (;;) {
    const Cand &cd = pl->fwd.c[pl->fwd.at];
    char *scratch = static_cast<char *>(op_ctx_scratch(ctx, wbytes + cd.ws + 256));
    const float *wv = tensor_f32(w);
    if (mask) {
      float *weff = reinterpret_cast<float *>(scratch);
      launch_elementwise(mask_mul_kernel, wv, tensor_f32(mask), weff, wn, s);
      wv = weff;
    }
    /* beta = 0: y is written, never read (it may hold NaN poison) */
    cudnnStatus_t r = cudnnConvolutionForward(st->cudnn, &one, pl->xd, tensor_f32(x), pl->wd, wv,
                                              pl->cd, (cudnnConvolutionFwdAlgo_t)cd.algo,
                                              cd.ws ? scratch + wbytes : nullptr, cd.ws, &zero,
                                              pl->yd, tensor_f32(y));
    if (cand_ran(r, &pl->fwd, "cudnnConvolutionForward", __FILE__, __LINE__)) break;
  }
  if (b)
    CUDNN_CHECK(
        cudnnAddTensor(st->cudnn, &one, pl->bd, tensor_f32(b), &one, pl->yd, tensor_f32(y)));
}

extern "C" void conv2d_backward_cuda(op_ctx *ctx, const conv2d_params *p, const tensor *x,
                                     const tensor *w, const tensor *mask, const tensor *dy,
                                     tensor *dx, tensor *dw, tensor *db) {
  ConvKey k = conv_key_make(ctx, p, x, w, mask, dy);
  if (dx) TENSOR_EXPECT_SAME(dx, x);
  if (dw) TENSOR_EXPECT_SAME(dw, w);
  if (db) TENSOR_EXPECT_1D(db, k.cout);
  ConvPlan *pl = plan_get(ctx, k);
  cuda_ctx_state *st = cuda_ctx_state_of(ctx);
  cudaStream_t s = cuda_ctx_stream(ctx);
  if (db && k.n > 0) {
    bias_grad_kernel<<<k.cout, kBiasThreads, 0, s>>>(tensor_f32(dy), tensor_f32(db), k.n, k.cout,
                                                     (int64_t)pl->ho * pl->wo);
    CUDA_CHECK_LAUNCH();
  }
  if (!dx && !dw) return;
  if (dx) choose_bwd_data(ctx, pl);
  if (dw) choose_bwd_filter(ctx, pl);

  const int64_t wn = tensor_numel(w);
  const size_t wbytes = mask ? align256((size_t)wn * sizeof(float)) : 0;
  const size_t dwbytes = mask && dw ? align256((size_t)wn * sizeof(float)) : 0;
  const float one = 1.0f, zero = 0.0f;
  /* Both directions share the workspace region (they run one after the other on one stream).
   * The masked weight stays at the front of the scratch; re-derived after each (re)allocation. */
  for (;;) {
    size_t ws = 0;
    if (dx) ws = pl->bwd_data.c[pl->bwd_data.at].ws;
    if (dw)
      ws =
          ws > pl->bwd_filter.c[pl->bwd_filter.at].ws ? ws : pl->bwd_filter.c[pl->bwd_filter.at].ws;
    char *scratch = static_cast<char *>(op_ctx_scratch(ctx, wbytes + dwbytes + ws + 256));
    char *work = scratch + wbytes + dwbytes;
    const float *wv = tensor_f32(w);
    if (mask) {
      float *weff = reinterpret_cast<float *>(scratch);
      launch_elementwise(mask_mul_kernel, wv, tensor_f32(mask), weff, wn, s);
      wv = weff;
    }
    if (dx) {
      const Cand &cd = pl->bwd_data.c[pl->bwd_data.at];
      cudnnStatus_t r = cudnnConvolutionBackwardData(
          st->cudnn, &one, pl->wd, wv, pl->yd, tensor_f32(dy), pl->cd,
          (cudnnConvolutionBwdDataAlgo_t)cd.algo, cd.ws ? work : nullptr, cd.ws, &one, pl->xd,
          tensor_f32(dx)); /* beta = 1: dx += */
      if (!cand_ran(r, &pl->bwd_data, "cudnnConvolutionBackwardData", __FILE__, __LINE__))
        continue; /* nothing was written: retry with the next candidate */
    }
    if (dw) {
      const Cand &cd = pl->bwd_filter.c[pl->bwd_filter.at];
      float *target = mask ? reinterpret_cast<float *>(scratch + wbytes) : tensor_f32(dw);
      cudnnStatus_t r = cudnnConvolutionBackwardFilter(
          st->cudnn, &one, pl->xd, tensor_f32(x), pl->yd, tensor_f32(dy), pl->cd,
          (cudnnConvolutionBwdFilterAlgo_t)cd.algo, cd.ws ? work : nullptr, cd.ws,
          mask ? &zero : &one, pl->wd, target); /* masked: d(w⊙mask) = ..., else dw += */
      if (!cand_ran(r, &pl->bwd_filter, "cudnnConvolutionBackwardFilter", __FILE__, __LINE__)) {
        dx = nullptr; /* dx is done: only the filter gradient is retried */
        continue;
      }
      if (mask)
        launch_elementwise(mask_acc_kernel, target, tensor_f32(mask), tensor_f32(dw), wn, s);
    }
    break;
  }
}

extern "C" void conv_cudnn_cache_free(void *cache_ptr) {
  ConvCache *cache = static_cast<ConvCache *>(cache_ptr);
  if (!cache) return;
  for (int i = 0; i < cache->n; i++)
    plan_destroy(cache->plans[i]);
  nvae_free(cache->plans);
  delete cache;
}
