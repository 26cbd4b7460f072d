/* conv2d on the CPU: shape checks, mask, bias, and the choice of path (see conv.h, conv_impl.h). */
#include "kernels/cpu/conv.h"

#include "kernels/cpu/conv_impl.h"

#include <string.h>

/* Geometry from x and w; checks w, mask and the output (y or dy) against it. */
static conv_geom conv_geom_make(const conv2d_params *p, const tensor *x, const tensor *w,
                                const tensor *mask, const tensor *y) {
  NVAE_ASSERT(p->stride >= 1 && p->pad >= 0 && p->groups >= 1,
              "conv2d: stride %d, pad %d, groups %d", p->stride, p->pad, p->groups);
  TENSOR_EXPECT_4D(x, -1, -1, -1, -1);
  conv_geom g;
  g.n = x->shape[0], g.cin = x->shape[1], g.h = x->shape[2], g.w = x->shape[3];
  g.stride = p->stride, g.pad = p->pad, g.groups = p->groups;
  NVAE_ASSERT(g.cin % g.groups == 0, "conv2d: %lld input channels in %d groups", (long long)g.cin,
              g.groups);
  TENSOR_EXPECT_4D(w, -1, g.cin / g.groups, -1, -1);
  g.cout = w->shape[0], g.kh = w->shape[2], g.kw = w->shape[3];
  NVAE_ASSERT(g.cout % g.groups == 0, "conv2d: %lld output channels in %d groups",
              (long long)g.cout, g.groups);
  NVAE_ASSERT(g.h + 2 * g.pad >= g.kh && g.w + 2 * g.pad >= g.kw,
              "conv2d: %lldx%lld kernel on a %lldx%lld image padded by %d", (long long)g.kh,
              (long long)g.kw, (long long)g.h, (long long)g.w, g.pad);
  g.ho = (g.h + 2 * g.pad - g.kh) / g.stride + 1;
  g.wo = (g.w + 2 * g.pad - g.kw) / g.stride + 1;
  if (mask) TENSOR_EXPECT_SAME(mask, w);
  TENSOR_EXPECT_4D(y, g.n, g.cout, g.ho, g.wo);
  return g;
}

static int conv_is_depthwise(const conv_geom *g) {
  return g->groups == g->cin && g->cout == g->cin;
}

static int64_t path_work_floats(const conv_geom *g) {
  return conv_is_depthwise(g) ? conv_depthwise_work_floats(g) : conv_gemm_work_floats(g);
}

/* Scratch floats rounded up to whole 64-byte lines, so that every carved region stays aligned. */
static int64_t round16(int64_t floats) { return (floats + 15) / 16 * 16; }

void conv2d_forward_cpu(op_ctx *ctx, const conv2d_params *p, const tensor *x, const tensor *w,
                        const tensor *mask, const tensor *b, tensor *y) {
  conv_geom g = conv_geom_make(p, x, w, mask, y);
  if (b) TENSOR_EXPECT_1D(b, g.cout);
  const int64_t wn = tensor_numel(w);
  const int64_t wfl = mask ? round16(wn) : 0;
  float *scratch = op_ctx_scratch(ctx, (size_t)(wfl + path_work_floats(&g)) * sizeof(float));
  float *work = scratch + wfl;

  const float *wv = tensor_f32(w); /* the effective weight w⊙mask [cout, cin/groups, kh, kw] */
  if (mask) {
    const float *m = tensor_f32(mask);
    for (int64_t i = 0; i < wn; i++)
      scratch[i] = wv[i] * m[i];
    wv = scratch;
  }
  const float *xv = tensor_f32(x), *bv = b ? tensor_f32(b) : NULL;
  float *yv = tensor_f32(y); /* [n, cout, ho, wo] */
  if (conv_is_depthwise(&g)) {
    conv_depthwise_forward_cpu(&g, xv, wv, bv, yv, work);
    return;
  }
  conv_gemm_forward_cpu(&g, xv, wv, yv, work);
  if (!bv) return;
  /* no OpenMP on the sgemm path: see im2col.c */
  const int64_t planes = g.n * g.cout, howo = g.ho * g.wo;
  for (int64_t q = 0; q < planes; q++) {
    float *yq = yv + q * howo, bq = bv[q % g.cout];
#pragma omp simd
    for (int64_t i = 0; i < howo; i++)
      yq[i] += bq;
  }
}

/* db [cout] += Σ_{n, oh, ow} dy [n, cout, ho, wo]; partial sums per plane in float, total in
 * double (a batch of 64x64 planes sums 10^5 terms). One memory-bound pass: no OpenMP, which
 * would leave threads spinning next to OpenBLAS's (see im2col.c). */
static void bias_backward(const conv_geom *g, const float *dy, float *db) {
  const int64_t howo = g->ho * g->wo;
  for (int64_t c = 0; c < g->cout; c++) {
    double total = 0;
    for (int64_t n = 0; n < g->n; n++) {
      const float *d = dy + (n * g->cout + c) * howo;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < howo; i++)
        s += d[i];
      total += s;
    }
    db[c] += (float)total;
  }
}

void conv2d_backward_cpu(op_ctx *ctx, const conv2d_params *p, const tensor *x, const tensor *w,
                         const tensor *mask, const tensor *dy, tensor *dx, tensor *dw, tensor *db) {
  conv_geom g = conv_geom_make(p, x, w, mask, dy);
  if (dx) TENSOR_EXPECT_SAME(dx, x);
  if (dw) TENSOR_EXPECT_SAME(dw, w);
  if (db) TENSOR_EXPECT_1D(db, g.cout);
  const float *dyv = tensor_f32(dy);
  if (db) bias_backward(&g, dyv, tensor_f32(db));
  if (!dx && !dw) return;

  /* With a mask the paths see w_eff = w⊙mask and accumulate into a zeroed d(w_eff), which is
   * masked into dw at the end (d w = d w_eff ⊙ mask). Without one they accumulate into dw. */
  const int64_t wn = tensor_numel(w);
  const int64_t wfl = mask ? round16(wn) : 0, dwfl = mask && dw ? round16(wn) : 0;
  float *scratch = op_ctx_scratch(ctx, (size_t)(wfl + dwfl + path_work_floats(&g)) * sizeof(float));
  float *weff = scratch, *dweff = scratch + wfl, *work = scratch + wfl + dwfl;
  const float *wv = tensor_f32(w);
  float *dwv = dw ? tensor_f32(dw) : NULL;
  const float *m = mask ? tensor_f32(mask) : NULL;
  if (mask) {
    for (int64_t i = 0; i < wn; i++)
      weff[i] = wv[i] * m[i];
    wv = weff;
    if (dw) {
      memset(dweff, 0, (size_t)wn * sizeof(float));
      dwv = dweff;
    }
  }
  const float *xv = tensor_f32(x);
  float *dxv = dx ? tensor_f32(dx) : NULL;
  if (conv_is_depthwise(&g))
    conv_depthwise_backward_cpu(&g, xv, wv, dyv, dxv, dwv, work);
  else
    conv_gemm_backward_cpu(&g, xv, wv, dyv, dxv, dwv, work);
  if (mask && dw) {
    float *out = tensor_f32(dw);
    for (int64_t i = 0; i < wn; i++)
      out[i] += dweff[i] * m[i];
  }
}
