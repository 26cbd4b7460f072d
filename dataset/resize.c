/* Pillow-equivalent triangle-filter resize: see resize.h. The order of floating-point operations
 * below follows Pillow's precompute_coeffs/normalize_coeffs_8bpc, because the fixed-point weights
 * (and so the output bits) depend on it. */
#include "dataset/resize.h"

#include "kernels/base/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { PRECISION_BITS = 32 - 8 - 2 };

static double triangle(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

static void axis_init(resize_axis *a, int in, int out) {
  double scale = (double)in / out;
  double filterscale = scale < 1.0 ? 1.0 : scale; /* widen the support only when shrinking */
  double support = 1.0 * filterscale;             /* the triangle's support is 1 */
  a->in = in;
  a->out = out;
  a->ksize = (int)ceil(support) * 2 + 1;
  a->first = nvae_malloc(sizeof(int) * (size_t)out);
  a->count = nvae_malloc(sizeof(int) * (size_t)out);
  a->weight = nvae_calloc((size_t)out * (size_t)a->ksize, sizeof(int32_t));
  double *k = nvae_malloc(sizeof(double) * (size_t)a->ksize);
  for (int o = 0; o < out; o++) {
    double center = (o + 0.5) * scale;
    double ss = 1.0 / filterscale;
    int xmin = (int)(center - support + 0.5); /* truncation, as in Pillow */
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in) xmax = in;
    xmax -= xmin;
    if (xmax > a->ksize) xmax = a->ksize;
    double ww = 0.0;
    for (int x = 0; x < xmax; x++) {
      double w = triangle((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; x++) {
      if (ww != 0.0) k[x] /= ww;
      /* round half away from zero into 22 fractional bits */
      a->weight[(size_t)o * a->ksize + x] = k[x] < 0
                                                ? (int32_t)(-0.5 + k[x] * (1 << PRECISION_BITS))
                                                : (int32_t)(0.5 + k[x] * (1 << PRECISION_BITS));
    }
    a->first[o] = xmin;
    a->count[o] = xmax;
  }
  free(k);
}

static void axis_free(resize_axis *a) {
  free(a->first);
  free(a->count);
  free(a->weight);
  memset(a, 0, sizeof *a);
}

void resize_plan_init(resize_plan *p, int in_w, int in_h, int out_w, int out_h, int channels) {
  axis_init(&p->x, in_w, out_w);
  axis_init(&p->y, in_h, out_h);
  p->channels = channels;
}

void resize_plan_free(resize_plan *p) {
  axis_free(&p->x);
  axis_free(&p->y);
}

size_t resize_scratch_bytes(const resize_plan *p) {
  return (size_t)p->y.in * (size_t)p->x.out * (size_t)p->channels;
}

static inline uint8_t clip8(int32_t v) {
  if (v >= (1 << PRECISION_BITS << 8)) return 255;
  if (v <= 0) return 0;
  return (uint8_t)(v >> PRECISION_BITS);
}

void resize_apply(const resize_plan *p, const uint8_t *src, int64_t src_stride, uint8_t *scratch,
                  uint8_t *dst) {
  const int C = p->channels;
  const resize_axis *ax = &p->x, *ay = &p->y;
  /* Integer sums are exact, so the loop order is free: it is chosen for speed (all channels of
   * a pixel at once horizontally; whole rows at once vertically, which vectorises). */
  /* Horizontal pass: [in_h, in_w] -> scratch [in_h, out_w], rounded to uint8 like Pillow. */
  for (int y = 0; y < ay->in; y++) {
    const uint8_t *row = src + y * src_stride;
    uint8_t *out = scratch + (size_t)y * ax->out * C;
    for (int o = 0; o < ax->out; o++) {
      const int32_t *w = ax->weight + (size_t)o * ax->ksize;
      const uint8_t *s = row + (size_t)ax->first[o] * C;
      const int n = ax->count[o];
      if (C == 3) {
        int32_t a0 = 1 << (PRECISION_BITS - 1), a1 = a0, a2 = a0;
        for (int k = 0; k < n; k++) {
          a0 += s[3 * k] * w[k];
          a1 += s[3 * k + 1] * w[k];
          a2 += s[3 * k + 2] * w[k];
        }
        out[3 * o] = clip8(a0);
        out[3 * o + 1] = clip8(a1);
        out[3 * o + 2] = clip8(a2);
      } else {
        for (int c = 0; c < C; c++) {
          int32_t acc = 1 << (PRECISION_BITS - 1);
          for (int k = 0; k < n; k++)
            acc += s[k * C + c] * w[k];
          out[o * C + c] = clip8(acc);
        }
      }
    }
  }
  /* Vertical pass: scratch [in_h, out_w] -> dst [out_h, out_w]. */
  const size_t row_bytes = (size_t)ax->out * C;
  int32_t acc[4096];
  for (int o = 0; o < ay->out; o++) {
    const int32_t *w = ay->weight + (size_t)o * ay->ksize;
    const uint8_t *s = scratch + (size_t)ay->first[o] * row_bytes;
    uint8_t *out = dst + (size_t)o * row_bytes;
    for (size_t i0 = 0; i0 < row_bytes; i0 += 4096) {
      size_t len = row_bytes - i0 < 4096 ? row_bytes - i0 : 4096;
      for (size_t i = 0; i < len; i++)
        acc[i] = 1 << (PRECISION_BITS - 1);
      for (int k = 0; k < ay->count[o]; k++) {
        const uint8_t *r = s + (size_t)k * row_bytes + i0;
        const int32_t wk = w[k];
        for (size_t i = 0; i < len; i++)
          acc[i] += r[i] * wk;
      }
      for (size_t i = 0; i < len; i++)
        out[i0 + i] = clip8(acc[i]);
    }
  }
}
