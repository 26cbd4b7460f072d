/* The CUDA backend's op table and op contexts (kernels/cuda_backend.h).
 *
 * The table is built once, on first use, without touching the GPU: memory and Philox entries here,
 * the conv entries from conv_cudnn.cu, every other op from cuda_backend_fill_ops()
 * (kernels/cuda/ops_*.cu). A context owns a stream, a cuDNN handle bound to it, one device
 * workspace that op_ctx_scratch() grows, and the conv algorithm cache.
 *
 * Ordering: every entry queues its work on the context's stream. The stream is created with the
 * default flags, so it also waits for (and is waited on by) the legacy default stream that plain
 * cudaMemcpy / cudaMemset calls elsewhere use; to_host and from_host return when the copy is done.
 * The queued copies return at once: to_host_async is queued on the context's stream;
 * from_host_async runs on the context's second, non-blocking COPY stream, after the caller's fence
 * (or after everything queued so far), and the context's stream waits for it before any work
 * queued later. A fence is an event recorded on the context's stream; fence_sync is the host's
 * only wait inside a step.
 *
 * Status: compiled and linked on a machine without a GPU; none of this has run on a GPU yet
 * (tests/gpu/test_ops_gpu.c and tools/gpu-check.sh are the checks that will run it).
 */
#include "kernels/backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ctx.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda_backend.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

cudaStream_t cuda_ctx_stream(const op_ctx *ctx) { return (cudaStream_t)ctx->stream; }

/* ---- memory ---- */

static void *cuda_alloc(size_t bytes) {
  void *p = cuda_malloc(bytes); /* cudaMalloc: 256-byte aligned; fatal with CUDA's text on OOM */
  NVAE_ASSERT(((uintptr_t)p & 63u) == 0, "cudaMalloc returned %p, not 64-byte aligned", p);
  return p;
}

static void cuda_free_entry(void *p) { cuda_free(p); }

static void cuda_zero(op_ctx *ctx, void *p, size_t bytes) {
  if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_ctx_stream(ctx)));
}

static void cuda_copy(op_ctx *ctx, void *dst, const void *src, size_t bytes) {
  if (bytes && dst != src)
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_ctx_stream(ctx)));
}

static void cuda_to_host(op_ctx *ctx, void *host, const void *dev, size_t bytes) {
  if (!bytes) return;
  CUDA_CHECK(cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost, cuda_ctx_stream(ctx)));
  CUDA_CHECK(cudaStreamSynchronize(cuda_ctx_stream(ctx)));
}

static void cuda_from_host(op_ctx *ctx, void *dev, const void *host, size_t bytes) {
  if (!bytes) return;
  CUDA_CHECK(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, cuda_ctx_stream(ctx)));
  /* synchronous by contract: the caller may reuse `host` as soon as this returns */
  CUDA_CHECK(cudaStreamSynchronize(cuda_ctx_stream(ctx)));
}

/* ---- queued copies and fences (backend.h) ---- */

struct op_fence {
  cudaEvent_t ev; /* recorded on the context's stream; with timing, for fence_elapsed_ms */
};

static void *cuda_host_alloc(size_t bytes) {
  void *p = NULL;
  /* Portable: the entry takes no context, so the pages must not belong to whichever device
   * happens to be current. Out of pinned memory is not fatal (backend.h): NULL, the caller's to
   * handle. */
  if (cudaHostAlloc(&p, bytes ? bytes : 64, cudaHostAllocPortable) != cudaSuccess) {
    (void)cudaGetLastError(); /* reset the thread's last error, or the next launch check reports
                                 this failure as its own */
    return NULL;
  }
  return p;
}

static void cuda_host_free(void *p) {
  if (p) CUDA_CHECK(cudaFreeHost(p));
}

static op_fence *cuda_fence_new(op_ctx *ctx) {
  op_fence *f = nvae_calloc(1, sizeof *f);
  CUDA_CHECK(cudaEventCreateWithFlags(&f->ev, cudaEventDefault)); /* timing: nvae-bench */
  return f;
}

static double cuda_fence_elapsed_ms(op_fence *start, op_fence *end) {
  float ms = 0;
  CUDA_CHECK(cudaEventElapsedTime(&ms, start->ev, end->ev));
  return ms;
}

static void cuda_fence_free(op_fence *f) {
  if (!f) return;
  CUDA_CHECK(cudaEventDestroy(f->ev));
  nvae_free(f);
}

static void cuda_fence_record(op_ctx *ctx, op_fence *f) {
  CUDA_CHECK(cudaEventRecord(f->ev, cuda_ctx_stream(ctx)));
}

/* A fence never recorded has passed (cudaEventSynchronize returns at once), as on the CPU. */
static void cuda_fence_sync(op_ctx *ctx, op_fence *f) { CUDA_CHECK(cudaEventSynchronize(f->ev)); }

/* The upload of the next batch is queued after the optimizer of the step before, but it needs to
 * wait only for the fence after the last read of its buffer (`after`), so on the copy stream it
 * overlaps that step's optimizer and all-reduce tail instead of waiting behind them; the
 * context's stream then waits for it before the next forward. */
static void cuda_from_host_async(op_ctx *ctx, void *dev, const void *host, size_t bytes,
                                 op_fence *after) {
  if (!bytes) return;
  cuda_ctx_state *st = cuda_ctx_state_of(ctx);
  cudaStream_t s = cuda_ctx_stream(ctx);
  cudaEvent_t before = st->copy_after;
  if (after)
    before = after->ev;
  else
    CUDA_CHECK(cudaEventRecord(st->copy_after, s)); /* after everything queued on ctx so far */
  CUDA_CHECK(cudaStreamWaitEvent(st->copy_stream, before, 0));
  CUDA_CHECK(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, st->copy_stream));
  CUDA_CHECK(cudaEventRecord(st->copy_done, st->copy_stream));
  CUDA_CHECK(cudaStreamWaitEvent(s, st->copy_done, 0));
}

static void cuda_to_host_async(op_ctx *ctx, void *host, const void *dev, size_t bytes) {
  if (bytes)
    CUDA_CHECK(cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost, cuda_ctx_stream(ctx)));
}

/* ---- Philox fills (kernels/cuda/random.cu; the CPU's numbers) ---- */

static void cuda_fill_uniform(op_ctx *ctx, const philox_stream *s, uint32_t first_sample,
                              int64_t n_samples, int64_t n_per_sample, float *out) {
  philox_fill_uniform_cuda(s, first_sample, n_samples, n_per_sample, out, ctx->stream);
}

static void cuda_fill_normal(op_ctx *ctx, const philox_stream *s, uint32_t first_sample,
                             int64_t n_samples, int64_t n_per_sample, float *out) {
  philox_fill_normal_cuda(s, first_sample, n_samples, n_per_sample, out, ctx->stream);
}

/* ---- the table ---- */

static op_backend cuda_table;
static pthread_once_t cuda_table_once = PTHREAD_ONCE_INIT;

static void cuda_table_build(void) {
  memset(&cuda_table, 0, sizeof cuda_table);
  cuda_backend_fill_ops(&cuda_table); /* kernels/cuda/ops_*.cu: every other op */
  cuda_table.name = "cuda";
  cuda_table.device = DEVICE_CUDA;
  cuda_table.alloc = cuda_alloc;
  cuda_table.free = cuda_free_entry;
  cuda_table.zero = cuda_zero;
  cuda_table.copy = cuda_copy;
  cuda_table.to_host = cuda_to_host;
  cuda_table.from_host = cuda_from_host;
  cuda_table.host_alloc = cuda_host_alloc;
  cuda_table.host_free = cuda_host_free;
  cuda_table.fence_new = cuda_fence_new;
  cuda_table.fence_free = cuda_fence_free;
  cuda_table.fence_record = cuda_fence_record;
  cuda_table.fence_sync = cuda_fence_sync;
  cuda_table.fence_elapsed_ms = cuda_fence_elapsed_ms;
  cuda_table.from_host_async = cuda_from_host_async;
  cuda_table.to_host_async = cuda_to_host_async;
  cuda_table.philox_fill_uniform = cuda_fill_uniform;
  cuda_table.philox_fill_normal = cuda_fill_normal;
  cuda_table.conv2d_forward = conv2d_forward_cuda;
  cuda_table.conv2d_backward = conv2d_backward_cuda;
}

const op_backend *op_backend_cuda(void) {
  pthread_once(&cuda_table_once, cuda_table_build);
  return &cuda_table;
}

/* ---- contexts ---- */

op_ctx op_ctx_cuda(int gpu_index) {
  op_ctx c;
  memset(&c, 0, sizeof c);
  c.ops = op_backend_cuda();
  c.device = DEVICE_CUDA;
  c.deterministic = 0;
  c.allow_tf32 = 0; /* parity with the float32 CPU reference; TF32 is an explicit opt-in */
  CUDA_CHECK(cudaSetDevice(gpu_index));
  cudaStream_t stream;
  CUDA_CHECK(cudaStreamCreate(&stream));
  c.stream = stream;
  cuda_ctx_state *st = nvae_calloc(1, sizeof *st);
  st->device = gpu_index;
  st->workspace_limit = CUDA_CONV_WORKSPACE_LIMIT;
  CUDNN_CHECK(cudnnCreate(&st->cudnn));
  CUDNN_CHECK(cudnnSetStream(st->cudnn, stream));
  CUDA_CHECK(cudaStreamCreateWithFlags(&st->copy_stream, cudaStreamNonBlocking));
  CUDA_CHECK(cudaEventCreateWithFlags(&st->copy_after, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventCreateWithFlags(&st->copy_done, cudaEventDisableTiming));
  c.backend_state = st;
  return c;
}

void *cuda_ctx_scratch(op_ctx *ctx, size_t bytes) {
  if (bytes > ctx->scratch_bytes) {
    if (ctx->scratch) {
      /* work queued earlier on this stream may still read the old buffer */
      CUDA_CHECK(cudaStreamSynchronize(cuda_ctx_stream(ctx)));
      CUDA_CHECK(cudaFree(ctx->scratch));
    }
    size_t want = bytes + bytes / 4; /* geometric growth: shape sweeps do not reallocate each op */
    CUDA_CHECK(cudaMalloc(&ctx->scratch, want));
    ctx->scratch_bytes = want;
  }
  return ctx->scratch;
}

void cuda_ctx_synchronize(op_ctx *ctx) {
  cuda_ctx_state *st = cuda_ctx_state_of(ctx);
  CUDA_CHECK(cudaStreamSynchronize(cuda_ctx_stream(ctx)));
  /* an upload that no later work waited for yet is still queued work of this context */
  if (st && st->copy_stream) CUDA_CHECK(cudaStreamSynchronize(st->copy_stream));
}

void cuda_ctx_release(op_ctx *ctx) {
  cuda_ctx_state *st = cuda_ctx_state_of(ctx);
  if (ctx->stream) CUDA_CHECK(cudaStreamSynchronize(cuda_ctx_stream(ctx)));
  if (ctx->scratch) CUDA_CHECK(cudaFree(ctx->scratch));
  if (st) {
    conv_cudnn_cache_free(st->conv_cache);
    if (st->cudnn) CUDNN_CHECK(cudnnDestroy(st->cudnn));
    if (st->copy_stream) {
      /* the caller frees the pinned buffers of pending uploads once we return */
      CUDA_CHECK(cudaStreamSynchronize(st->copy_stream));
      CUDA_CHECK(cudaStreamDestroy(st->copy_stream));
    }
    if (st->copy_after) CUDA_CHECK(cudaEventDestroy(st->copy_after));
    if (st->copy_done) CUDA_CHECK(cudaEventDestroy(st->copy_done));
    nvae_free(st);
  }
  if (ctx->stream) CUDA_CHECK(cudaStreamDestroy(cuda_ctx_stream(ctx)));
  ctx->stream = NULL;
  ctx->backend_state = NULL;
  ctx->scratch = NULL;
  ctx->scratch_bytes = 0;
}
