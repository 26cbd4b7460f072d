/* Depthwise convolution (groups == cin == cout, the 5x5 of every MBConv) by direct loops: see
 * conv_impl.h. im2col would copy each input kh*kw times to feed a matrix product with one row.
 *
 * Every plane is first copied into a zero-padded buffer, so the loops below have no bounds
 * checks. The two kernels keep DW_BLOCK outputs (or DW_BLOCK partial sums per tap) in registers
 * while they run over all taps, instead of re-reading an output row once per tap: that
 * load/store chain made a plain loop 4-5x slower. They are compiled once per x86 ISA level
 * (target_clones: SSE2, AVX2, AVX-512) and picked at load time. The build targets baseline x86-64,
 * and floating-point contraction is off in ISO C, so every clone does the same multiplies and
 * adds in the same order: results are bit-identical whichever clone runs.
 *
 *   forward   y  = correlate(pad(x), w) + b
 *   dx        stride 1: dx += correlate(pad(dy), w flipped), the same kernel as forward;
 *             other strides: scatter w·dy into a padded buffer, then add its image part to dx
 *   dw        dw[tap] += Σ dy · (x shifted by tap), DW_BLOCK partial sums per tap
 * Threads: OpenMP over (image, channel) planes forward; over channels backward, so that each
 * thread owns its channels' dw without atomics. Each thread has its own buffers in `work`.
 */
#include "kernels/cpu/conv_impl.h"

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__)
#define DW_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DW_CLONES
#endif

#define DW_BLOCK 16 /* outputs per register block: one AVX-512 vector, two AVX2, four SSE */
#define DW_OMP_MIN_MACS 65536

static int max_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

static int thread_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* A zero-padded plane: rows/cols of the buffer, and where the source's (0, 0) lands. */
typedef struct dw_pad {
  int64_t hp, wp, pad;
} dw_pad;

/* Input padded for the forward taps (and for dw): only the rows/cols the taps reach. */
static dw_pad pad_for_x(const conv_geom *g) {
  dw_pad p = {(g->ho - 1) * g->stride + g->kh, (g->wo - 1) * g->stride + g->kw, g->pad};
  return p;
}

/* dy padded so that correlating it with the flipped kernel gives dx [h, w] (stride 1 only). */
static dw_pad pad_for_dy(const conv_geom *g) {
  dw_pad p = {g->h + g->kh - 1, g->w + g->kw - 1, g->kh - 1 - g->pad};
  return p;
}

/* dx as a correlation needs stride 1, a square kernel and pad <= k - 1 (dy's padding k-1-pad
 * must not be negative). */
static int dx_by_correlation(const conv_geom *g) {
  return g->stride == 1 && g->kh == g->kw && g->pad <= g->kh - 1;
}

static int64_t dw_pad_floats(dw_pad p) { return p.hp * p.wp; }
static int64_t round16(int64_t floats) { return (floats + 15) / 16 * 16; }

/* Where each thread's buffers lie in its slice of `work` (offsets in floats). */
typedef struct dw_layout {
  int64_t xpad;  /* padded x plane */
  int64_t other; /* padded dy plane (dx by correlation) or the scatter target */
  int64_t taps;  /* [kh*kw, DW_BLOCK] partial sums for dw */
  int64_t wflip; /* [kh*kw] the kernel rotated by 180° */
  int64_t dwsum; /* [kh*kw] doubles: one channel's dw summed over images */
  int64_t total;
} dw_layout;

static dw_layout layout_of(const conv_geom *g) {
  const int64_t kk = g->kh * g->kw, a = dw_pad_floats(pad_for_x(g));
  int64_t b = a;
  if (dx_by_correlation(g) && dw_pad_floats(pad_for_dy(g)) > b) b = dw_pad_floats(pad_for_dy(g));
  dw_layout l;
  l.xpad = 0;
  l.other = round16(a);
  l.taps = l.other + round16(b);
  l.wflip = l.taps + round16(kk * DW_BLOCK);
  l.dwsum = l.wflip + round16(kk);
  l.total = l.dwsum + round16(2 * kk);
  return l;
}

int64_t conv_depthwise_work_floats(const conv_geom *g) {
  return (int64_t)max_threads() * layout_of(g).total;
}

/* dst [p.hp, p.wp] = src [h, w] placed at (p.pad, p.pad), zero elsewhere; parts of src beyond
 * the buffer are dropped (the taps never reach them). */
static void pad_plane(const float *src, int64_t h, int64_t w, dw_pad p, float *dst) {
  memset(dst, 0, (size_t)dw_pad_floats(p) * sizeof(float));
  const int64_t cols = w < p.wp - p.pad ? w : p.wp - p.pad;
  for (int64_t r = 0; r < h && r + p.pad < p.hp && cols > 0; r++)
    memcpy(dst + (r + p.pad) * p.wp + p.pad, src + r * w, (size_t)cols * sizeof(float));
}

/* yr [DW_BLOCK] += Σ_{i,j} w[i, j] · xs[i·wp + j + v·s]. Inlined with s = 1 as a constant for the
 * unit-stride case, so its loads are contiguous; acc stays in registers across the taps. */
static inline __attribute__((always_inline)) void correlate_block(const float *xs, int64_t wp,
                                                                  const float *w, int64_t kh,
                                                                  int64_t kw, int64_t s,
                                                                  float *yr) {
  float acc[DW_BLOCK];
  for (int v = 0; v < DW_BLOCK; v++)
    acc[v] = yr[v];
  for (int64_t i = 0; i < kh; i++)
    for (int64_t j = 0; j < kw; j++) {
      const float wv = w[i * kw + j], *xt = xs + i * wp + j;
      for (int v = 0; v < DW_BLOCK; v++)
        acc[v] += wv * xt[v * s];
    }
  for (int v = 0; v < DW_BLOCK; v++)
    yr[v] = acc[v];
}

/* y [ho, wo] = (accumulate ? y : bias) + Σ_{i,j} w[i, j] · xp[oh·s + i, ow·s + j] */
DW_CLONES
static void correlate_plane(const float *xp, int64_t wp, const float *w, int64_t kh, int64_t kw,
                            int64_t s, float bias, int accumulate, float *y, int64_t ho,
                            int64_t wo) {
  if (!accumulate)
    for (int64_t q = 0; q < ho * wo; q++)
      y[q] = bias;
  for (int64_t oh = 0; oh < ho; oh++) {
    float *yr = y + oh * wo;
    const float *xr = xp + oh * s * wp;
    int64_t ow0 = 0;
    for (; ow0 + DW_BLOCK <= wo; ow0 += DW_BLOCK) {
      if (s == 1)
        correlate_block(xr + ow0, wp, w, kh, kw, 1, yr + ow0);
      else
        correlate_block(xr + ow0 * s, wp, w, kh, kw, s, yr + ow0);
    }
    for (int64_t ow = ow0; ow < wo; ow++) { /* narrow planes (wo < DW_BLOCK) and the tail */
      float acc = yr[ow];
      for (int64_t i = 0; i < kh; i++)
        for (int64_t j = 0; j < kw; j++)
          acc += w[i * kw + j] * xr[i * wp + ow * s + j];
      yr[ow] = acc;
    }
  }
}

/* acc [kh·kw, DW_BLOCK] += d[v] · xs[i·wp + j + v·s] for every tap (i, j): a block of DW_BLOCK
 * columns of one output row. Inlined with s = 1 as a constant for the unit-stride case. */
static inline __attribute__((always_inline)) void tap_sums_block(const float *xs, int64_t wp,
                                                                 const float *dyr, int64_t kh,
                                                                 int64_t kw, int64_t s,
                                                                 float *acc) {
  float d[DW_BLOCK];
  for (int v = 0; v < DW_BLOCK; v++)
    d[v] = dyr[v];
  for (int64_t i = 0; i < kh; i++)
    for (int64_t j = 0; j < kw; j++) {
      float *a = acc + (i * kw + j) * DW_BLOCK;
      const float *xt = xs + i * wp + j;
#pragma omp simd /* a never overlaps xt: without this the compiler keeps the loop scalar */
      for (int v = 0; v < DW_BLOCK; v++)
        a[v] += d[v] * xt[v * s];
    }
}

/* acc [kh·kw, DW_BLOCK] += partial sums of dy[oh, ow] · xp[oh·s + i, ow·s + j] per tap (i, j);
 * lane v of tap t collects the columns ow ≡ v (mod DW_BLOCK). */
DW_CLONES
static void tap_sums_plane(const float *xp, int64_t wp, const float *dy, int64_t kh, int64_t kw,
                           int64_t s, int64_t ho, int64_t wo, float *acc) {
  for (int64_t oh = 0; oh < ho; oh++) {
    const float *dyr = dy + oh * wo, *xr = xp + oh * s * wp;
    int64_t ow0 = 0;
    for (; ow0 + DW_BLOCK <= wo; ow0 += DW_BLOCK) {
      if (s == 1)
        tap_sums_block(xr + ow0, wp, dyr + ow0, kh, kw, 1, acc);
      else
        tap_sums_block(xr + ow0 * s, wp, dyr + ow0, kh, kw, s, acc);
    }
    for (int64_t ow = ow0; ow < wo; ow++)
      for (int64_t i = 0; i < kh; i++)
        for (int64_t j = 0; j < kw; j++)
          acc[(i * kw + j) * DW_BLOCK + ow % DW_BLOCK] += dyr[ow] * xr[i * wp + ow * s + j];
  }
}

/* dxp [hp, wp] += w[i, j] · dy[oh, ow] at (oh·s + i, ow·s + j): the adjoint of the forward taps,
 * for strides where dx is not a correlation. */
static void scatter_plane(float *dxp, int64_t wp, const float *w, int64_t kh, int64_t kw, int64_t s,
                          const float *dy, int64_t ho, int64_t wo) {
  for (int64_t oh = 0; oh < ho; oh++)
    for (int64_t i = 0; i < kh; i++)
      for (int64_t j = 0; j < kw; j++) {
        float wv = w[i * kw + j], *ds = dxp + (oh * s + i) * wp + j;
        const float *dyr = dy + oh * wo;
        for (int64_t ow = 0; ow < wo; ow++)
          ds[ow * s] += wv * dyr[ow];
      }
}

/* dst [h, w] += the part of src [p.hp, p.wp] that lies on the image. */
static void unpad_plane_add(const float *src, dw_pad p, int64_t h, int64_t w, float *dst) {
  for (int64_t r = 0; r < h && r + p.pad < p.hp; r++) {
    const float *s = src + (r + p.pad) * p.wp + p.pad;
    float *d = dst + r * w;
    int64_t cols = w < p.wp - p.pad ? w : p.wp - p.pad;
#pragma omp simd
    for (int64_t c = 0; c < cols; c++)
      d[c] += s[c];
  }
}

void conv_depthwise_forward_cpu(const conv_geom *g, const float *x, const float *w, const float *b,
                                float *y, float *work) {
  const int64_t planes = g->n * g->cout, kk = g->kh * g->kw;
  const int64_t hw = g->h * g->w, howo = g->ho * g->wo;
  const dw_pad px = pad_for_x(g);
  const int64_t per_thread = layout_of(g).total;
#pragma omp parallel for schedule(static) if (planes * howo * kk > DW_OMP_MIN_MACS)
  for (int64_t q = 0; q < planes; q++) {
    int64_t c = q % g->cout;
    float *xp = work + thread_id() * per_thread;
    pad_plane(x + q * hw, g->h, g->w, px, xp);
    correlate_plane(xp, px.wp, w + c * kk, g->kh, g->kw, g->stride, b ? b[c] : 0.0f, 0,
                    y + q * howo, g->ho, g->wo);
  }
}

void conv_depthwise_backward_cpu(const conv_geom *g, const float *x, const float *w,
                                 const float *dy, float *dx, float *dw, float *work) {
  const int64_t kk = g->kh * g->kw, hw = g->h * g->w, howo = g->ho * g->wo;
  const int64_t macs = g->n * g->cout * howo * kk;
  const dw_pad px = pad_for_x(g), pdy = pad_for_dy(g);
  const int correlate_dx = dx_by_correlation(g);
  const dw_layout l = layout_of(g);
#pragma omp parallel for schedule(static) if (macs > DW_OMP_MIN_MACS)
  for (int64_t c = 0; c < g->cout; c++) {
    float *mine = work + thread_id() * l.total;
    float *bufa = mine + l.xpad, *bufb = mine + l.other, *acc = mine + l.taps;
    float *wflip = mine + l.wflip;
    double *dw_c = (double *)(mine + l.dwsum); /* per-image sums in float, over images in double */
    const float *wc = w + c * kk;
    for (int64_t t = 0; t < kk; t++)
      wflip[t] = wc[kk - 1 - t], dw_c[t] = 0;
    for (int64_t n = 0; n < g->n; n++) {
      const int64_t q = n * g->cout + c;
      if (dw) {
        pad_plane(x + q * hw, g->h, g->w, px, bufa);
        memset(acc, 0, (size_t)(kk * DW_BLOCK) * sizeof(float));
        tap_sums_plane(bufa, px.wp, dy + q * howo, g->kh, g->kw, g->stride, g->ho, g->wo, acc);
        for (int64_t t = 0; t < kk; t++) {
          float s = 0;
          for (int v = 0; v < DW_BLOCK; v++)
            s += acc[t * DW_BLOCK + v];
          dw_c[t] += s;
        }
      }
      if (dx && correlate_dx) {
        pad_plane(dy + q * howo, g->ho, g->wo, pdy, bufb);
        correlate_plane(bufb, pdy.wp, wflip, g->kh, g->kw, 1, 0.0f, 1, dx + q * hw, g->h, g->w);
      } else if (dx) {
        memset(bufb, 0, (size_t)dw_pad_floats(px) * sizeof(float));
        scatter_plane(bufb, px.wp, wc, g->kh, g->kw, g->stride, dy + q * howo, g->ho, g->wo);
        unpad_plane_add(bufb, px, g->h, g->w, dx + q * hw);
      }
    }
    if (dw)
      for (int64_t t = 0; t < kk; t++)
        dw[c * kk + t] += (float)dw_c[t];
  }
}
