/* ×2 upsampling on the CPU: see upsample.h. Every loop runs over (n, c) planes; one thread owns a
 * plane, which is what makes the bilinear scatter-add deterministic without atomics. */
#include "kernels/cpu/upsample.h"

#define UP_PARALLEL_MIN 16384

typedef struct up_dims {
  int64_t planes, h, w; /* input plane; the output plane is 2h × 2w */
} up_dims;

static up_dims up_dims_of(const tensor *small, const tensor *big) {
  TENSOR_EXPECT_4D(small, -1, -1, -1, -1);
  TENSOR_EXPECT_4D(big, small->shape[0], small->shape[1], 2 * small->shape[2], 2 * small->shape[3]);
  up_dims d = {small->shape[0] * small->shape[1], small->shape[2], small->shape[3]};
  return d;
}

/* ---- nearest ---- */

void upsample_nearest2x_forward_cpu(op_ctx *ctx, const tensor *x, tensor *y) {
  up_dims d = up_dims_of(x, y);
  const float *px = tensor_f32(x);
  float *py = tensor_f32(y);
  int64_t ow = 2 * d.w;
#pragma omp parallel for if (d.planes * d.h * d.w > UP_PARALLEL_MIN)
  for (int64_t p = 0; p < d.planes; p++) {
    const float *xp = px + p * d.h * d.w; /* [H, W] */
    float *yp = py + p * 4 * d.h * d.w;   /* [2H, 2W] */
    for (int64_t oi = 0; oi < 2 * d.h; oi++)
      for (int64_t oj = 0; oj < ow; oj++)
        yp[oi * ow + oj] = xp[(oi / 2) * d.w + oj / 2];
  }
}

void upsample_nearest2x_backward_cpu(op_ctx *ctx, const tensor *dy, tensor *dx) {
  up_dims d = up_dims_of(dx, dy);
  const float *pdy = tensor_f32(dy);
  float *pdx = tensor_f32(dx);
  int64_t ow = 2 * d.w;
#pragma omp parallel for if (d.planes * d.h * d.w > UP_PARALLEL_MIN)
  for (int64_t p = 0; p < d.planes; p++) {
    const float *gp = pdy + p * 4 * d.h * d.w; /* [2H, 2W] */
    float *dp = pdx + p * d.h * d.w;           /* [H, W] */
    for (int64_t i = 0; i < d.h; i++)
      for (int64_t j = 0; j < d.w; j++) {
        const float *g = gp + 2 * i * ow + 2 * j;
        dp[i * d.w + j] += (g[0] + g[1]) + (g[ow] + g[ow + 1]);
      }
  }
}

/* ---- bilinear, align_corners = True ---- */

/* Where output index o of a 2n-long axis reads from: between i0 and i1 with weight l on i1. */
typedef struct up_tap {
  int64_t i0, i1;
  float l;
} up_tap;

/* Taps of a 2n-long output axis over an n-long input axis. The scale and the source index are
 * float products like PyTorch's CPU kernel, so index choices at exact-integer sources agree. */
static void up_taps(int64_t n, up_tap *taps) {
  float scale = n > 1 ? (float)(n - 1) / (float)(2 * n - 1) : 0.0f;
  for (int64_t o = 0; o < 2 * n; o++) {
    float src = scale * (float)o;
    int64_t i0 = (int64_t)src; /* src >= 0: truncation is floor */
    if (i0 > n - 1) i0 = n - 1;
    float l = src - (float)i0;
    taps[o].i0 = i0;
    taps[o].i1 = i0 < n - 1 ? i0 + 1 : i0;
    taps[o].l = l < 0 ? 0 : (l > 1 ? 1 : l);
  }
}

/* scratch: row taps [2H] then column taps [2W] */
static up_tap *up_tables(op_ctx *ctx, up_dims d) {
  up_tap *t = op_ctx_scratch(ctx, (size_t)(2 * d.h + 2 * d.w) * sizeof(up_tap));
  up_taps(d.h, t);
  up_taps(d.w, t + 2 * d.h);
  return t;
}

void upsample_bilinear2x_forward_cpu(op_ctx *ctx, const tensor *x, tensor *y) {
  up_dims d = up_dims_of(x, y);
  const up_tap *rows = up_tables(ctx, d), *cols = rows + 2 * d.h;
  const float *px = tensor_f32(x);
  float *py = tensor_f32(y);
  int64_t ow = 2 * d.w;
#pragma omp parallel for if (d.planes * d.h * d.w > UP_PARALLEL_MIN)
  for (int64_t p = 0; p < d.planes; p++) {
    const float *xp = px + p * d.h * d.w; /* [H, W] */
    float *yp = py + p * 4 * d.h * d.w;   /* [2H, 2W] */
    for (int64_t oi = 0; oi < 2 * d.h; oi++) {
      const float *r0 = xp + rows[oi].i0 * d.w, *r1 = xp + rows[oi].i1 * d.w;
      float lh = rows[oi].l;
      for (int64_t oj = 0; oj < ow; oj++) {
        up_tap c = cols[oj];
        float top = (1 - c.l) * r0[c.i0] + c.l * r0[c.i1];
        float bot = (1 - c.l) * r1[c.i0] + c.l * r1[c.i1];
        yp[oi * ow + oj] = (1 - lh) * top + lh * bot;
      }
    }
  }
}

void upsample_bilinear2x_backward_cpu(op_ctx *ctx, const tensor *dy, tensor *dx) {
  up_dims d = up_dims_of(dx, dy);
  const up_tap *rows = up_tables(ctx, d), *cols = rows + 2 * d.h;
  const float *pdy = tensor_f32(dy);
  float *pdx = tensor_f32(dx);
  int64_t ow = 2 * d.w;
#pragma omp parallel for if (d.planes * d.h * d.w > UP_PARALLEL_MIN)
  for (int64_t p = 0; p < d.planes; p++) {
    const float *gp = pdy + p * 4 * d.h * d.w; /* [2H, 2W] */
    float *dp = pdx + p * d.h * d.w;           /* [H, W] */
    for (int64_t oi = 0; oi < 2 * d.h; oi++) {
      float *r0 = dp + rows[oi].i0 * d.w, *r1 = dp + rows[oi].i1 * d.w;
      float lh = rows[oi].l;
      for (int64_t oj = 0; oj < ow; oj++) {
        up_tap c = cols[oj];
        float g = gp[oi * ow + oj], top = (1 - lh) * g, bot = lh * g;
        r0[c.i0] += (1 - c.l) * top;
        r0[c.i1] += c.l * top;
        r1[c.i0] += (1 - c.l) * bot;
        r1[c.i1] += c.l * bot;
      }
    }
  }
}
