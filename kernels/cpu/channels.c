/* Channel concatenation and split on the CPU: see channels.h. In NCHW a sample's channels are
 * contiguous, so piece i of sample s is one block of C_i·H·W floats at channel offset ΣC_<i of
 * the whole's sample s. */
#include "kernels/cpu/channels.h"

#include <string.h>

#define CH_PARALLEL_MIN 65536
#define CH_MAX_PIECES 64

/* Channel extent of every piece (a NULL piece gets what the others leave), after checking that
 * every piece matches the whole in N, H, W and that the channels add up. */
static void ch_extents(const tensor *whole, int n, const tensor *const *pieces, int64_t *extent) {
  TENSOR_EXPECT_4D(whole, -1, -1, -1, -1);
  int64_t known = 0, missing = -1;
  for (int i = 0; i < n; i++) {
    if (!pieces[i]) {
      NVAE_ASSERT(missing < 0, "channel pieces %lld and %d are both NULL: extents unknown",
                  (long long)missing, i);
      missing = i;
      continue;
    }
    TENSOR_EXPECT_4D(pieces[i], whole->shape[0], -1, whole->shape[2], whole->shape[3]);
    extent[i] = pieces[i]->shape[1];
    known += extent[i];
  }
  if (missing >= 0) extent[missing] = whole->shape[1] - known;
  NVAE_ASSERT(known <= whole->shape[1] && (missing >= 0 || known == whole->shape[1]),
              "channel pieces add up to %lld channels, the whole has %lld", (long long)known,
              (long long)whole->shape[1]);
}

/* Between the whole and one piece at channel offset c0: copy (accumulate = 0) or add
 * (accumulate = 1); to_whole picks the direction. */
static void ch_move(const tensor *whole, int64_t c0, const tensor *piece, int to_whole,
                    int accumulate) {
  int64_t nn = whole->shape[0], hw = whole->shape[2] * whole->shape[3];
  int64_t block = piece->shape[1] * hw, wstride = whole->shape[1] * hw;
  float *pw = tensor_f32(whole), *pp = tensor_f32(piece);
#pragma omp parallel for if (nn * block > CH_PARALLEL_MIN)
  for (int64_t s = 0; s < nn; s++) {
    float *w = pw + s * wstride + c0 * hw; /* [C_i*H*W] */
    float *p = pp + s * block;
    float *dst = to_whole ? w : p;
    const float *src = to_whole ? p : w;
    if (accumulate)
      for (int64_t i = 0; i < block; i++)
        dst[i] += src[i];
    else
      memcpy(dst, src, (size_t)block * sizeof(float));
  }
}

/* Walks the pieces in order with their channel offsets. */
static void ch_walk(const tensor *whole, int n, const tensor *const *pieces, int to_whole,
                    int accumulate) {
  NVAE_ASSERT(n >= 1 && n <= CH_MAX_PIECES, "channel concat/split of %d pieces (1..%d)", n,
              CH_MAX_PIECES);
  int64_t extent[CH_MAX_PIECES];
  ch_extents(whole, n, pieces, extent);
  int64_t c0 = 0;
  for (int i = 0; i < n; i++) {
    if (pieces[i]) ch_move(whole, c0, pieces[i], to_whole, accumulate);
    c0 += extent[i];
  }
}

void concat_channels_forward_cpu(op_ctx *ctx, int n, const tensor *const *xs, tensor *y) {
  for (int i = 0; i < n; i++)
    NVAE_ASSERT(xs[i], "concat_channels: input %d is NULL", i);
  ch_walk(y, n, xs, 1, 0);
}

void concat_channels_backward_cpu(op_ctx *ctx, int n, const tensor *dy, tensor *const *dxs) {
  ch_walk(dy, n, (const tensor *const *)dxs, 0, 1);
}

void split_channels_forward_cpu(op_ctx *ctx, const tensor *x, int n, tensor *const *ys) {
  for (int i = 0; i < n; i++)
    NVAE_ASSERT(ys[i], "split_channels: output %d is NULL", i);
  ch_walk(x, n, (const tensor *const *)ys, 0, 0);
}

void split_channels_backward_cpu(op_ctx *ctx, int n, const tensor *const *dys, tensor *dx) {
  ch_walk(dx, n, dys, 1, 1);
}
