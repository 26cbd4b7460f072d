/* Channel concatenation and split on the GPU: see kernels/cpu/channels.h. In NCHW a sample's
 * channels are contiguous, so piece i of sample s is one block of C_i·H·W floats at channel
 * offset ΣC_<i of the whole's sample s: one copy (or accumulate) kernel per piece. */
#include "kernels/cuda/ops_common.cuh"

#define CH_MAX_PIECES 64

/* Channel extent of every piece (a NULL piece gets what the others leave), after checking that
 * every piece matches the whole in N, H, W and that the channels add up. */
static void ch_extents(const tensor *whole, int n, const tensor *const *pieces, int64_t *extent) {
  OPS_EXPECT_4D(whole, -1, -1, -1, -1);
  int64_t known = 0, missing = -1;
  for (int i = 0; i < n; i++) {
    if (!pieces[i]) {
      NVAE_ASSERT(missing < 0, "channel pieces %lld and %d are both NULL: extents unknown",
                  (long long)missing, i);
      missing = i;
      continue;
    }
    OPS_EXPECT_AT(pieces[i], "piece", 4, whole->shape[0], -1, whole->shape[2], whole->shape[3]);
    extent[i] = pieces[i]->shape[1];
    known += extent[i];
  }
  if (missing >= 0) extent[missing] = whole->shape[1] - known;
  NVAE_ASSERT(known <= whole->shape[1] && (missing >= 0 || known == whole->shape[1]),
              "channel pieces add up to %lld channels, the whole has %lld", (long long)known,
              (long long)whole->shape[1]);
}

/* Between the whole and one piece at channel offset c0 (in elements: c0·H·W): to_whole picks the
 * direction, accumulate adds instead of copying. */
template <bool TO_WHOLE, bool ACCUMULATE>
__global__ void ch_move_kernel(float *whole, int64_t wstride, int64_t off, float *piece,
                               int64_t block, int64_t nn) {
  OPS_FOR(t, nn * block) {
    int64_t s = t / block, i = t % block;
    float *w = whole + s * wstride + off + i;
    float *p = piece + t;
    if (TO_WHOLE) {
      if (ACCUMULATE)
        *w += *p;
      else
        *w = *p;
    } else {
      if (ACCUMULATE)
        *p += *w;
      else
        *p = *w;
    }
  }
}

static void ch_walk(op_ctx *ctx, const tensor *whole, int n, const tensor *const *pieces,
                    int to_whole, int accumulate) {
  NVAE_ASSERT(n >= 1 && n <= CH_MAX_PIECES, "channel concat/split of %d pieces (1..%d)", n,
              CH_MAX_PIECES);
  int64_t extent[CH_MAX_PIECES];
  ch_extents(whole, n, pieces, extent);
  cudaStream_t s = cuda_ctx_stream(ctx);
  int64_t nn = whole->shape[0], hw = whole->shape[2] * whole->shape[3];
  int64_t wstride = whole->shape[1] * hw, c0 = 0;
  float *pw = tensor_f32(whole);
  for (int i = 0; i < n; i++) {
    if (pieces[i] && extent[i] > 0 && nn > 0 && hw > 0) {
      int64_t block = extent[i] * hw, total = nn * block;
      float *pp = tensor_f32(pieces[i]);
      unsigned g = ops_blocks(total);
      if (to_whole && accumulate)
        ch_move_kernel<true, true><<<g, OPS_THREADS, 0, s>>>(pw, wstride, c0 * hw, pp, block, nn);
      else if (to_whole)
        ch_move_kernel<true, false><<<g, OPS_THREADS, 0, s>>>(pw, wstride, c0 * hw, pp, block, nn);
      else if (accumulate)
        ch_move_kernel<false, true><<<g, OPS_THREADS, 0, s>>>(pw, wstride, c0 * hw, pp, block, nn);
      else
        ch_move_kernel<false, false><<<g, OPS_THREADS, 0, s>>>(pw, wstride, c0 * hw, pp, block, nn);
      CUDA_CHECK_LAUNCH();
    }
    c0 += extent[i];
  }
}

void cuda_concat_channels_forward(op_ctx *ctx, int n, const tensor *const *xs, tensor *y) {
  for (int i = 0; i < n; i++)
    NVAE_ASSERT(xs[i], "concat_channels: input %d is NULL", i);
  ch_walk(ctx, y, n, xs, 1, 0);
}

void cuda_concat_channels_backward(op_ctx *ctx, int n, const tensor *dy, tensor *const *dxs) {
  ch_walk(ctx, dy, n, (const tensor *const *)dxs, 0, 1);
}

void cuda_split_channels_forward(op_ctx *ctx, const tensor *x, int n, tensor *const *ys) {
  for (int i = 0; i < n; i++)
    NVAE_ASSERT(ys[i], "split_channels: output %d is NULL", i);
  ch_walk(ctx, x, n, (const tensor *const *)ys, 0, 0);
}

void cuda_split_channels_backward(op_ctx *ctx, int n, const tensor *const *dys, tensor *dx) {
  ch_walk(ctx, dx, n, dys, 1, 1);
}
