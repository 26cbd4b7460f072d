/* The pieces conv.c dispatches to (private to kernels/cpu/conv*.c and im2col.c).
 *
 * conv.c checks shapes, applies the mask and the bias and picks a path:
 *   conv_gemm.c       dense and grouped convolutions: im2col (im2col.c) + cblas_sgemm
 *   conv_depthwise.c  groups == Cin == Cout: direct loops over zero-padded planes
 * Each path gets a `work` buffer of the size its *_work_floats() asks for, carved by conv.c from
 * the op context's scratch (which holds only one allocation at a time).
 */
#ifndef NVAE_KERNELS_CPU_CONV_IMPL_H
#define NVAE_KERNELS_CPU_CONV_IMPL_H

#include <stdint.h>

/* Shapes of one convolution: x [n, cin, h, w], w [cout, cin/groups, kh, kw], y [n, cout, ho, wo].
 */
typedef struct conv_geom {
  int64_t n, cin, h, w;
  int64_t cout, kh, kw;
  int64_t ho, wo;
  int stride, pad, groups;
} conv_geom;

/* Rows of the column matrix of one image: one per (input channel, tap), all groups stacked. */
static inline int64_t conv_col_rows(const conv_geom *g) { return g->cin * g->kh * g->kw; }

/* ---- im2col.c ---- */
/* col [nb][cin*kh*kw][ho*wo]: row (c*kh + i)*kw + j holds x[n, c, oh*s - pad + i, ow*s - pad + j]
 * (0 outside the image) for the nb images n0 .. n0+nb-1 of x [n, cin, h, w]. */
void im2col_batch_cpu(const conv_geom *g, const float *x, int64_t n0, int64_t nb, float *col);
/* x [n, cin, h, w] += the adjoint of im2col_batch_cpu applied to col (same layout). */
void col2im_batch_add_cpu(const conv_geom *g, const float *col, int64_t n0, int64_t nb, float *x);

/* ---- conv_gemm.c ---- */
int64_t conv_gemm_work_floats(const conv_geom *g);
/* y = conv(x, w) without bias. */
void conv_gemm_forward_cpu(const conv_geom *g, const float *x, const float *w, float *y,
                           float *work);
/* dx += conv^T(dy, w), dw += corr(dy, x); either may be NULL. */
void conv_gemm_backward_cpu(const conv_geom *g, const float *x, const float *w, const float *dy,
                            float *dx, float *dw, float *work);

/* ---- conv_depthwise.c ---- */
int64_t conv_depthwise_work_floats(const conv_geom *g);
/* y = conv(x, w) + b (b nullable). */
void conv_depthwise_forward_cpu(const conv_geom *g, const float *x, const float *w, const float *b,
                                float *y, float *work);
/* dx += ..., dw += ...; either may be NULL. */
void conv_depthwise_backward_cpu(const conv_geom *g, const float *x, const float *w,
                                 const float *dy, float *dx, float *dw, float *work);

#endif
