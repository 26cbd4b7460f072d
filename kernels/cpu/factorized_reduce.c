/* FactorizedReduce on the CPU: see factorized_reduce.h.
 *
 * Conv k is a 1x1 stride-2 convolution, i.e. a matrix product on one pixel phase of x: the phase
 * is gathered into xs [C, H/2·W/2] per image (a chunk of images at a time),
 * then y_k [Ck, H/2·W/2] = w_k [Ck, C] · xs by cblas_sgemm. Backward reuses the same buffer:
 * dw_k += dy_k · xsᵀ, then xs is overwritten by w_kᵀ · dy_k and scattered back into dx's phase.
 * Threads: only OpenBLAS's, inside sgemm; the copies stay single-threaded (see im2col.c).
 */
#include "kernels/cpu/factorized_reduce.h"

#include <cblas.h>

#define FR_CHUNK_FLOATS (8ll << 20) /* 32 MiB of gathered phases at a time (at least one image) */

/* Pixel phase (row, col) read by conv k: x, x[1:, 1:], x[:, 1:], x[1:, :]. */
static const int phase_row[4] = {0, 1, 0, 1};
static const int phase_col[4] = {0, 1, 1, 0};

typedef struct fr_geom {
  int64_t n, c, h, w, cout, h2, w2;
} fr_geom;

static fr_geom fr_geom_make(const tensor *x, const tensor *const w[4], const tensor *y) {
  TENSOR_EXPECT_4D(x, -1, -1, -1, -1);
  fr_geom g = {.n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3]};
  g.h2 = g.h / 2, g.w2 = g.w / 2;
  NVAE_ASSERT(g.h % 2 == 0 && g.w % 2 == 0, "factorized_reduce: %lldx%lld input, want even sizes",
              (long long)g.h, (long long)g.w);
  TENSOR_EXPECT_4D(y, g.n, -1, g.h2, g.w2);
  g.cout = y->shape[1];
  for (int k = 0; k < 4; k++)
    TENSOR_EXPECT_4D(w[k], factorized_reduce_channels(g.cout, k), g.c, 1, 1);
  return g;
}

static int64_t images_per_chunk(const fr_geom *g) {
  int64_t per_image = g->c * g->h2 * g->w2;
  int64_t nb = FR_CHUNK_FLOATS / (per_image > 0 ? per_image : 1);
  if (nb < 1) nb = 1;
  return nb < g->n ? nb : g->n;
}

/* xs [nb, C, h2, w2] = phase k of images n0 .. n0+nb-1 of x [N, C, H, W] */
static void gather_phase(const fr_geom *g, int k, const float *x, int64_t n0, int64_t nb,
                         float *xs) {
  const int64_t planes = nb * g->c;
  for (int64_t q = 0; q < planes; q++) {
    const float *src = x + (n0 * g->c + q) * g->h * g->w + phase_row[k] * g->w + phase_col[k];
    float *dst = xs + q * g->h2 * g->w2;
    for (int64_t i = 0; i < g->h2; i++)
      for (int64_t j = 0; j < g->w2; j++)
        dst[i * g->w2 + j] = src[2 * i * g->w + 2 * j];
  }
}

/* phase k of dx [N, C, H, W] += dxs [nb, C, h2, w2] */
static void scatter_phase_add(const fr_geom *g, int k, const float *dxs, int64_t n0, int64_t nb,
                              float *dx) {
  const int64_t planes = nb * g->c;
  for (int64_t q = 0; q < planes; q++) {
    float *dst = dx + (n0 * g->c + q) * g->h * g->w + phase_row[k] * g->w + phase_col[k];
    const float *src = dxs + q * g->h2 * g->w2;
    for (int64_t i = 0; i < g->h2; i++)
      for (int64_t j = 0; j < g->w2; j++)
        dst[2 * i * g->w + 2 * j] += src[i * g->w2 + j];
  }
}

void factorized_reduce_forward_cpu(op_ctx *ctx, const tensor *x, const tensor *const w[4],
                                   const tensor *const b[4], tensor *y) {
  fr_geom g = fr_geom_make(x, w, y);
  const int64_t hw2 = g.h2 * g.w2, nb_max = images_per_chunk(&g);
  float *xs = op_ctx_scratch(ctx, (size_t)(nb_max * g.c * hw2) * sizeof(float));
  const float *xv = tensor_f32(x);
  float *yv = tensor_f32(y); /* [N, Cout, h2, w2] */
  int64_t first = 0;         /* first output channel of conv k */
  for (int k = 0; k < 4; k++) {
    const int64_t ck = factorized_reduce_channels(g.cout, k);
    TENSOR_EXPECT_1D(b[k], ck);
    const float *wk = tensor_f32(w[k]); /* [ck, C] */
    for (int64_t n0 = 0; n0 < g.n; n0 += nb_max) {
      int64_t nb = g.n - n0 < nb_max ? g.n - n0 : nb_max;
      gather_phase(&g, k, xv, n0, nb, xs);
      for (int64_t n = 0; n < nb; n++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)ck, (int)hw2, (int)g.c, 1.0f,
                    wk, (int)g.c, xs + n * g.c * hw2, (int)hw2, 0.0f,
                    yv + ((n0 + n) * g.cout + first) * hw2, (int)hw2);
    }
    const float *bk = tensor_f32(b[k]);
    for (int64_t q = 0; q < g.n * ck; q++) {
      float *yq = yv + ((q / ck) * g.cout + first + q % ck) * hw2, bq = bk[q % ck];
      for (int64_t i = 0; i < hw2; i++)
        yq[i] += bq;
    }
    first += ck;
  }
}

void factorized_reduce_backward_cpu(op_ctx *ctx, const tensor *x, const tensor *const w[4],
                                    const tensor *dy, tensor *dx, tensor *const dw[4],
                                    tensor *const db[4]) {
  fr_geom g = fr_geom_make(x, w, dy);
  if (dx) TENSOR_EXPECT_SAME(dx, x);
  const int64_t hw2 = g.h2 * g.w2, nb_max = images_per_chunk(&g);
  float *xs = op_ctx_scratch(ctx, (size_t)(nb_max * g.c * hw2) * sizeof(float));
  const float *xv = tensor_f32(x), *dyv = tensor_f32(dy);
  float *dxv = dx ? tensor_f32(dx) : NULL;
  int64_t first = 0;
  for (int k = 0; k < 4; k++) {
    const int64_t ck = factorized_reduce_channels(g.cout, k);
    tensor *dwt = dw ? dw[k] : NULL, *dbt = db ? db[k] : NULL;
    if (dwt) TENSOR_EXPECT_SAME(dwt, w[k]);
    if (dbt) TENSOR_EXPECT_1D(dbt, ck);
    const float *wk = tensor_f32(w[k]);
    float *dwk = dwt ? tensor_f32(dwt) : NULL;
    for (int64_t n0 = 0; n0 < g.n && (dwk || dxv); n0 += nb_max) {
      int64_t nb = g.n - n0 < nb_max ? g.n - n0 : nb_max;
      if (dwk) gather_phase(&g, k, xv, n0, nb, xs);
      for (int64_t n = 0; n < nb; n++) {
        const float *dyk = dyv + ((n0 + n) * g.cout + first) * hw2; /* [ck, hw2] */
        float *xsn = xs + n * g.c * hw2;                            /* [C, hw2] */
        if (dwk)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ck, (int)g.c, (int)hw2, 1.0f,
                      dyk, (int)hw2, xsn, (int)hw2, 1.0f, dwk, (int)g.c);
        if (dxv)
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g.c, (int)hw2, (int)ck, 1.0f,
                      wk, (int)g.c, dyk, (int)hw2, 0.0f, xsn, (int)hw2);
      }
      if (dxv) scatter_phase_add(&g, k, xs, n0, nb, dxv);
    }
    if (dbt) {
      float *dbk = tensor_f32(dbt);
      for (int64_t o = 0; o < ck; o++) {
        double total = 0;
        for (int64_t n = 0; n < g.n; n++) {
          const float *d = dyv + (n * g.cout + first + o) * hw2;
          for (int64_t i = 0; i < hw2; i++)
            total += d[i];
        }
        dbk[o] += (float)total;
      }
    }
    first += ck;
  }
}
