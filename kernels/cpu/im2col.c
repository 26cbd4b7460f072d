/* im2col and its adjoint for the sgemm convolution path: see conv_impl.h.
 *
 * Single-threaded on purpose: these memory-bound copies sit between sgemm calls, and an OpenMP
 * team here leaves its threads spinning (libgomp's default wait policy) while OpenBLAS's threads
 * want the same cores. On the 3x3 128->128 32x32 batch-8 bench case with 2 threads, forward took
 * 68 ms wall / 46 ms CPU with OpenMP copies and 42 ms / 30 ms without; the copies are ~9% of the
 * op's single-threaded forward+backward time. */
#include "kernels/cpu/conv_impl.h"

#include <string.h>

/* Output columns ow in [*ow0, *ow1) read an input column ow*s + off inside [0, w). */
static void valid_cols(int64_t off, int64_t s, int64_t w, int64_t wo, int64_t *ow0, int64_t *ow1) {
  int64_t lo = off >= 0 ? 0 : (-off + s - 1) / s;
  int64_t hi = w - 1 - off < 0 ? 0 : (w - 1 - off) / s + 1;
  if (hi > wo) hi = wo;
  if (lo > hi) lo = hi;
  *ow0 = lo;
  *ow1 = hi;
}

/* One row of the column matrix: tap (i, j) of one input plane [h, w] -> row [ho, wo]. */
static void im2col_row(const conv_geom *g, const float *plane, int64_t i, int64_t j, float *row) {
  const int64_t s = g->stride, off = j - g->pad;
  int64_t ow0, ow1;
  valid_cols(off, s, g->w, g->wo, &ow0, &ow1);
  for (int64_t oh = 0; oh < g->ho; oh++) {
    float *dst = row + oh * g->wo;
    int64_t ih = oh * s - g->pad + i;
    if (ih < 0 || ih >= g->h || ow0 == ow1) {
      memset(dst, 0, (size_t)g->wo * sizeof(float));
      continue;
    }
    const float *src = plane + ih * g->w;
    for (int64_t ow = 0; ow < ow0; ow++)
      dst[ow] = 0;
    if (s == 1)
      memcpy(dst + ow0, src + ow0 + off, (size_t)(ow1 - ow0) * sizeof(float));
    else
      for (int64_t ow = ow0; ow < ow1; ow++)
        dst[ow] = src[ow * s + off];
    for (int64_t ow = ow1; ow < g->wo; ow++)
      dst[ow] = 0;
  }
}

void im2col_batch_cpu(const conv_geom *g, const float *x, int64_t n0, int64_t nb, float *col) {
  const int64_t kk = g->kh * g->kw, howo = g->ho * g->wo;
  const int64_t rows = nb * g->cin * kk; /* over all images of the chunk */
  for (int64_t r = 0; r < rows; r++) {
    int64_t plane = r / kk, tap = r % kk; /* plane = image-in-chunk * cin + channel */
    const float *src = x + (n0 * g->cin + plane) * g->h * g->w;
    im2col_row(g, src, tap / g->kw, tap % g->kw, col + r * howo);
  }
}

/* plane [h, w] += the kh*kw rows of one input channel (rows of one channel touch only its own
 * plane). */
static void col2im_plane_add(const conv_geom *g, const float *rows, float *plane) {
  const int64_t s = g->stride, howo = g->ho * g->wo;
  for (int64_t i = 0; i < g->kh; i++) {
    for (int64_t j = 0; j < g->kw; j++) {
      const float *row = rows + (i * g->kw + j) * howo;
      const int64_t off = j - g->pad;
      int64_t ow0, ow1;
      valid_cols(off, s, g->w, g->wo, &ow0, &ow1);
      for (int64_t oh = 0; oh < g->ho; oh++) {
        int64_t ih = oh * s - g->pad + i;
        if (ih < 0 || ih >= g->h) continue;
        float *dst = plane + ih * g->w;
        const float *src = row + oh * g->wo;
#pragma omp simd
        for (int64_t ow = ow0; ow < ow1; ow++)
          dst[ow * s + off] += src[ow];
      }
    }
  }
}

void col2im_batch_add_cpu(const conv_geom *g, const float *col, int64_t n0, int64_t nb, float *x) {
  const int64_t kk = g->kh * g->kw, howo = g->ho * g->wo;
  const int64_t planes = nb * g->cin;
  for (int64_t q = 0; q < planes; q++)
    col2im_plane_add(g, col + q * kk * howo, x + (n0 * g->cin + q) * g->h * g->w);
}
