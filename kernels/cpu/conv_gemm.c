/* Dense and grouped convolutions as im2col + cblas_sgemm: see conv_impl.h.
 *
 * Per image and group, with Cg = cin/groups input and Og = cout/groups output channels and
 * K = Cg*kh*kw rows of the column matrix col [K, ho*wo]:
 *   forward      y_g  [Og, ho*wo]  = w_g [Og, K] · col
 *   backward w   dw_g [Og, K]     += dy_g [Og, ho*wo] · colᵀ
 *   backward x   dcol [K, ho*wo]   = w_gᵀ · dy_g,  then dx += col2im(dcol)
 * A 1x1 stride-1 unpadded convolution skips im2col (the image [cin, h*w] is its own column
 * matrix) and accumulates dx straight from sgemm (beta = 1).
 *
 * Threads: only OpenBLAS's, inside sgemm (im2col.c says why the copies are not on OpenMP's).
 * The column matrices of a chunk of images (up to CONV_COL_CHUNK_FLOATS) are built first, then
 * consumed by back-to-back sgemm calls.
 */
#include "kernels/cpu/conv_impl.h"

#include <cblas.h>

/* Column matrices of a chunk of images may take this much scratch (at least one image). Small
 * enough to stay in cache between im2col and sgemm: 2-3% faster than whole-batch chunks on the
 * 3x3 bench case, and the scratch stays small. */
#define CONV_COL_CHUNK_FLOATS (2ll << 20) /* 8 MiB */

static int conv_is_pointwise(const conv_geom *g) {
  return g->kh == 1 && g->kw == 1 && g->stride == 1 && g->pad == 0;
}

static int64_t images_per_chunk(const conv_geom *g) {
  int64_t per_image = conv_col_rows(g) * g->ho * g->wo;
  int64_t nb = CONV_COL_CHUNK_FLOATS / (per_image > 0 ? per_image : 1);
  if (nb < 1) nb = 1;
  return nb < g->n ? nb : g->n;
}

int64_t conv_gemm_work_floats(const conv_geom *g) {
  if (conv_is_pointwise(g)) return 0;
  return images_per_chunk(g) * conv_col_rows(g) * g->ho * g->wo;
}

void conv_gemm_forward_cpu(const conv_geom *g, const float *x, const float *w, float *y,
                           float *work) {
  const int64_t og = g->cout / g->groups, k = conv_col_rows(g) / g->groups;
  const int64_t howo = g->ho * g->wo, nb_max = images_per_chunk(g);
  const int pointwise = conv_is_pointwise(g);
  for (int64_t n0 = 0; n0 < g->n; n0 += nb_max) {
    int64_t nb = g->n - n0 < nb_max ? g->n - n0 : nb_max;
    /* col [nb][groups][k][howo] */
    const float *col = x + n0 * g->cin * g->h * g->w;
    if (!pointwise) {
      im2col_batch_cpu(g, x, n0, nb, work);
      col = work;
    }
    for (int64_t n = 0; n < nb; n++)
      for (int grp = 0; grp < g->groups; grp++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)og, (int)howo, (int)k, 1.0f,
                    w + grp * og * k, (int)k, col + (n * g->groups + grp) * k * howo, (int)howo,
                    0.0f, y + ((n0 + n) * g->cout + grp * og) * howo, (int)howo);
  }
}

void conv_gemm_backward_cpu(const conv_geom *g, const float *x, const float *w, const float *dy,
                            float *dx, float *dw, float *work) {
  const int64_t og = g->cout / g->groups, k = conv_col_rows(g) / g->groups;
  const int64_t howo = g->ho * g->wo, nb_max = images_per_chunk(g);
  const int pointwise = conv_is_pointwise(g);
  for (int64_t n0 = 0; n0 < g->n; n0 += nb_max) {
    int64_t nb = g->n - n0 < nb_max ? g->n - n0 : nb_max;
    const float *col = x + n0 * g->cin * g->h * g->w;
    if (dw && !pointwise) {
      im2col_batch_cpu(g, x, n0, nb, work);
      col = work;
    }
    for (int64_t n = 0; n < nb; n++) {
      for (int grp = 0; grp < g->groups; grp++) {
        const float *dy_g = dy + ((n0 + n) * g->cout + grp * og) * howo; /* [og, howo] */
        const float *w_g = w + grp * og * k;                             /* [og, k] */
        int64_t col_at = (n * g->groups + grp) * k * howo;               /* [k, howo] */
        if (dw)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)og, (int)k, (int)howo, 1.0f,
                      dy_g, (int)howo, col + col_at, (int)howo, 1.0f, dw + grp * og * k, (int)k);
        if (!dx) continue;
        /* pointwise: dx_g += w_gᵀ·dy_g directly; else dcol overwrites the (used) column block */
        float *dst = pointwise ? dx + (n0 + n) * g->cin * howo + grp * k * howo : work + col_at;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)howo, (int)og, 1.0f, w_g,
                    (int)k, dy_g, (int)howo, pointwise ? 1.0f : 0.0f, dst, (int)howo);
      }
    }
    if (dx && !pointwise) col2im_batch_add_cpu(g, work, n0, nb, dx);
  }
}
