/* Per-element math of the CUDA op kernels, written once for host and device.
 *
 * Every function here is the formula of the matching CPU reference op (kernels/cpu/<family>.c),
 * transcribed expression by expression: the CUDA kernels (kernels/cuda/ops_*.cu) call these on
 * the device, and tests/unit/test_cuda_math.c, compiled by the C compiler on a machine without a
 * GPU, calls the very same functions on the host and compares them with the CPU ops on many
 * inputs. That is the CPU-side evidence that the GPU formulas are the reference ones; what it
 * cannot show is the device's libm (CUDA's expf/logf/tanhf differ from glibc's by an ulp or two),
 * which the GPU-vs-CPU op test covers on a GPU.
 *
 * Plain C11 when included from C; __host__ __device__ when included from CUDA.
 */
#ifndef NVAE_KERNELS_CUDA_OPS_MATH_H
#define NVAE_KERNELS_CUDA_OPS_MATH_H

#include "kernels/op_types.h"

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define OM_FN static inline __host__ __device__
#else
#define OM_FN static inline
#endif

/* ---- activations (kernels/cpu/activation.h) ---- */

/* σ(x) = 1/(1 + e^-x), the activation/SE form (inf for x → -∞ gives 0, no NaN) */
OM_FN float om_sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }
OM_FN float om_swishf(float x) { return x * om_sigmoidf(x); }
/* d/dx x·σ(x) = σ(x)(1 + x(1 - σ(x))) */
OM_FN float om_swish_gradf(float x) {
  float s = om_sigmoidf(x);
  return s * (1.0f + x * (1.0f - s));
}
OM_FN float om_eluf(float x) { return x > 0 ? x : expm1f(x); }
OM_FN float om_elu_gradf(float x) { return x > 0 ? 1.0f : expf(x); }
OM_FN float om_reluf(float x) { return x > 0 ? x : 0.0f; }
OM_FN float om_relu_gradf(float x) { return x > 0 ? 1.0f : 0.0f; }
/* sigmoid's backward takes the OUTPUT y */
OM_FN float om_sigmoid_grad_from_yf(float y) { return y * (1.0f - y); }
/* 5·tanh(x/5) and its derivative 1 - tanh²(x/5) */
OM_FN float om_soft_clampf(float x) { return 5.0f * tanhf(x / 5.0f); }
OM_FN float om_soft_clamp_gradf(float x) { return 1.0f - tanhf(x / 5.0f) * tanhf(x / 5.0f); }

/* Overflow-free forms used by the likelihoods (dmol.c, bernoulli.c). */
OM_FN float om_sigmoid_stablef(float v) {
  if (v >= 0) return 1.0f / (1.0f + expf(-v));
  float e = expf(v);
  return e / (1.0f + e);
}
OM_FN float om_log_sigmoidf(float v) { return fminf(v, 0.0f) - log1pf(expf(-fabsf(v))); }
OM_FN float om_softplusf(float v) { return fmaxf(v, 0.0f) + log1pf(expf(-fabsf(v))); }

/* ---- BatchNorm (kernels/cpu/batchnorm.h) ---- */

/* (x - mean) * scale + shift with a separate multiply and add as the CPU computes it: on the
 * device, nvcc would otherwise fuse them into one FMA, and bn_swish's backward, which recomputes
 * this value, should see the forward's bits. */
OM_FN float om_bn_affinef(float x, float mean, float scale, float shift) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(__fmul_rn(x - mean, scale), shift);
#else
  return (x - mean) * scale + shift;
#endif
}

/* ---- Normal (kernels/cpu/normal.h) ---- */

#define OM_HALF_LOG_2PI 0.91893853320467274178f

OM_FN float om_normal_muf(float mu_raw) { return 5.0f * tanhf(mu_raw / 5.0f); }
OM_FN float om_normal_sigmaf(float ls_raw, float t) {
  return (expf(5.0f * tanhf(ls_raw / 5.0f)) + 0.01f) * t;
}
OM_FN float om_normal_dmu_rawf(float mu_raw, float dmu) {
  float th = tanhf(mu_raw / 5.0f);
  return dmu * (1.0f - th * th);
}
OM_FN float om_normal_dls_rawf(float ls_raw, float t, float dsigma) {
  float th = tanhf(ls_raw / 5.0f);
  return dsigma * t * expf(5.0f * th) * (1.0f - th * th);
}
OM_FN float om_normal_log_densityf(float z, float mu, float sigma) {
  float u = (z - mu) / sigma;
  return -0.5f * u * u - OM_HALF_LOG_2PI - logf(sigma);
}
/* gu = d logp/d mu = -d logp/d z; *ds = d logp/d sigma; both times g */
OM_FN float om_normal_log_density_grad(float z, float mu, float sigma, float g, float *ds) {
  float inv = 1.0f / sigma;
  float u = (z - mu) * inv;
  *ds = g * (u * u - 1.0f) * inv;
  return g * u * inv;
}
OM_FN float om_normal_klf(float mq, float sq, float mp, float sp) {
  float inv = 1.0f / sp;
  float d = (mq - mp) * inv, r = sq * inv;
  return 0.5f * (d * d + r * r) - 0.5f - (logf(sq) - logf(sp));
}
/* gradients of g·KL: returns d/dmu_q (d/dmu_p is its negative); *dsq, *dsp */
OM_FN float om_normal_kl_grad(float mq, float sq, float mp, float sp, float g, float *dsq,
                              float *dsp) {
  float inv = 1.0f / sp;
  float d = (mq - mp) * inv, r = sq * inv;
  *dsq = g * (r * inv - 1.0f / sq);
  *dsp = g * (1.0f - d * d - r * r) * inv;
  return g * d * inv;
}

/* ---- Bernoulli (kernels/cpu/bernoulli.h) ---- */

OM_FN float om_bernoulli_logpf(float l, float x) { return x * l - om_softplusf(l); }
OM_FN float om_bernoulli_gradf(float l, float x) { return x - om_sigmoid_stablef(l); }

/* ---- ×2 upsampling (kernels/cpu/upsample.h) ---- */

/* Bilinear align_corners=True tap of output index o on an n-long input axis: the same float
 * products as the CPU's up_taps(), so the index choices agree bit for bit. */
OM_FN void om_up_tap(int64_t n, int64_t o, int64_t *i0, int64_t *i1, float *l) {
  float scale = n > 1 ? (float)(n - 1) / (float)(2 * n - 1) : 0.0f;
  float src = scale * (float)o;
  int64_t a = (int64_t)src; /* src >= 0: truncation is floor */
  if (a > n - 1) a = n - 1;
  float w = src - (float)a;
  *i0 = a;
  *i1 = a < n - 1 ? a + 1 : a;
  *l = w < 0 ? 0 : (w > 1 ? 1 : w);
}

/* y[oi, oj] of one plane xp [h, w] */
OM_FN float om_bilinear2x_at(const float *xp, int64_t h, int64_t w, int64_t oi, int64_t oj) {
  int64_t r0, r1, c0, c1;
  float lh, lw;
  om_up_tap(h, oi, &r0, &r1, &lh);
  om_up_tap(w, oj, &c0, &c1, &lw);
  float top = (1 - lw) * xp[r0 * w + c0] + lw * xp[r0 * w + c1];
  float bot = (1 - lw) * xp[r1 * w + c0] + lw * xp[r1 * w + c1];
  return (1 - lh) * top + lh * bot;
}

/* Weight with which output index o of the 2n-long axis reads input index i (0 if it does not). */
OM_FN float om_up_weight(int64_t n, int64_t o, int64_t i, int *hit) {
  int64_t i0, i1;
  float l;
  om_up_tap(n, o, &i0, &i1, &l);
  *hit = i0 == i || i1 == i;
  return (i0 == i ? 1 - l : 0.0f) + (i1 == i ? l : 0.0f);
}

/* The bilinear backward as a GATHER: d x[i, j] = Σ over the outputs that read (i, j) of their
 * weight times dy, so every input element is owned by one thread and no atomics are needed (the
 * CPU scatters per plane instead; the sums agree to rounding). Output o reads input floor(o·s) and
 * the one after, s = (n-1)/(2n-1) in [1/3, 1/2) for n >= 2, so the outputs that read input i lie in
 * [2i-2, 2i+3]; the window [2i-3, 2i+4] leaves one index of margin for the float rounding of o·s.
 */
OM_FN float om_bilinear2x_grad_at(const float *gp, int64_t h, int64_t w, int64_t i, int64_t j) {
  int64_t ow = 2 * w;
  int64_t oi0 = 2 * i - 3 > 0 ? 2 * i - 3 : 0, oi1 = 2 * i + 4 < 2 * h - 1 ? 2 * i + 4 : 2 * h - 1;
  int64_t oj0 = 2 * j - 3 > 0 ? 2 * j - 3 : 0, oj1 = 2 * j + 4 < ow - 1 ? 2 * j + 4 : ow - 1;
  float acc = 0;
  for (int64_t oi = oi0; oi <= oi1; oi++) {
    int hr;
    float wr = om_up_weight(h, oi, i, &hr);
    if (!hr) continue;
    for (int64_t oj = oj0; oj <= oj1; oj++) {
      int hc;
      float wc = om_up_weight(w, oj, j, &hc);
      if (hc) acc += wc * (wr * gp[oi * ow + oj]);
    }
  }
  return acc;
}

/* ---- DMOL (kernels/cpu/dmol.h): one pixel, all colours and components ---- */

#define OM_DMOL_MAX_MIX 64
#define OM_DMOL_LOG_SCALE_MIN -7.0f
#define OM_DMOL_LOWER_EDGE -0.999f
#define OM_DMOL_LOG_CDF_DELTA_MIN -11.512925465f /* log(1e-5) */

typedef struct om_bin_geom {
  float half_bin;   /* 1/K on the [-1, 1] scale */
  float log_k_half; /* log(K/2) */
  float upper_edge;
} om_bin_geom;

/* log P(bin of xt) for one logistic (mean mu, clamped log-scale s) and, when dmu/ds are non-NULL,
 * its derivatives with respect to mu and s. */
OM_FN float om_dmol_bin_log_prob(const om_bin_geom *g, float xt, float mu, float s, float *dmu,
                                 float *ds) {
  float cen = xt - mu, inv = expf(-s);
  float plus = inv * (cen + g->half_bin), minus = inv * (cen - g->half_bin);
  float lp, dcen, dsv;
  if (xt < OM_DMOL_LOWER_EDGE) { /* open bottom bin: log sigma(plus) */
    lp = om_log_sigmoidf(plus);
    float d = om_sigmoid_stablef(-plus);
    dcen = inv * d, dsv = -plus * d;
  } else if (xt > g->upper_edge) { /* open top bin: log(1 - sigma(minus)) */
    lp = om_log_sigmoidf(-minus);
    float d = -om_sigmoid_stablef(minus);
    dcen = inv * d, dsv = -minus * d;
  } else {
    float gap = plus - minus;
    float log_delta = om_log_sigmoidf(plus) + om_log_sigmoidf(-minus) + logf(-expm1f(-gap));
    if (log_delta > OM_DMOL_LOG_CDF_DELTA_MIN) {
      lp = log_delta;
      float sp = om_sigmoid_stablef(-plus), sm = om_sigmoid_stablef(minus);
      dcen = inv * (sp - sm);
      dsv = -(plus * sp - minus * sm + gap / expm1f(gap));
    } else { /* density at the bin centre */
      float mid = inv * cen;
      lp = -fabsf(mid) - 2.0f * log1pf(expf(-fabsf(mid))) - s - g->log_k_half;
      float d = 1.0f - 2.0f * om_sigmoid_stablef(mid);
      dcen = inv * d, dsv = -1.0f - mid * d;
    }
  }
  if (dmu) *dmu = -dcen;
  if (ds) *ds = dsv;
  return lp;
}

/* Channel offsets of colour c, component m. */
OM_FN int om_dmol_ch_mean(int M, int c, int m) { return M + c * 3 * M + m; }
OM_FN int om_dmol_ch_scale(int M, int c, int m) { return M + c * 3 * M + M + m; }
OM_FN int om_dmol_ch_coef(int M, int c, int m) { return M + c * 3 * M + 2 * M + m; }

/* One pixel: l = its logits (channel stride hw), xt = observed 2x - 1 per colour. */
typedef struct om_pixel {
  const float *l;
  int64_t hw;
  float xt[3];
} om_pixel;

OM_FN float om_dmol_coupled_mean(const om_pixel *px, int M, int c, int m) {
  int64_t hw = px->hw;
  float mu = px->l[om_dmol_ch_mean(M, c, m) * hw];
  if (c == 1) mu += tanhf(px->l[om_dmol_ch_coef(M, 0, m) * hw]) * px->xt[0];
  if (c == 2)
    mu += tanhf(px->l[om_dmol_ch_coef(M, 1, m) * hw]) * px->xt[0] +
          tanhf(px->l[om_dmol_ch_coef(M, 2, m) * hw]) * px->xt[1];
  return mu;
}

/* a[m] = log_softmax(pi)_m + Σ_c lp_{c,m}; returns logsumexp_m a[m]; log_pi = log_softmax(pi). */
OM_FN float om_dmol_pixel_log_prob(const om_bin_geom *g, const om_pixel *px, int M, int C, float *a,
                                   float *log_pi) {
  int64_t hw = px->hw;
  float pmax = -INFINITY;
  for (int m = 0; m < M; m++)
    pmax = fmaxf(pmax, px->l[m * hw]);
  float z = 0;
  for (int m = 0; m < M; m++)
    z += expf(px->l[m * hw] - pmax);
  float lz = pmax + logf(z);
  float amax = -INFINITY;
  for (int m = 0; m < M; m++) {
    log_pi[m] = px->l[m * hw] - lz;
    a[m] = log_pi[m];
    for (int c = 0; c < C; c++) {
      float s = fmaxf(px->l[om_dmol_ch_scale(M, c, m) * hw], OM_DMOL_LOG_SCALE_MIN);
      a[m] += om_dmol_bin_log_prob(g, px->xt[c], om_dmol_coupled_mean(px, M, c, m), s, 0, 0);
    }
    amax = fmaxf(amax, a[m]);
  }
  float sum = 0;
  for (int m = 0; m < M; m++)
    sum += expf(a[m] - amax);
  return amax + logf(sum);
}

/* d[ch * hw] += gout · d logp / d logits[ch] for this pixel (d points at the pixel's first
 * channel of dlogits). */
OM_FN void om_dmol_pixel_backward(const om_bin_geom *g, const om_pixel *px, int M, int C,
                                  float gout, float *d) {
  float a[OM_DMOL_MAX_MIX], log_pi[OM_DMOL_MAX_MIX];
  int64_t hw = px->hw;
  float lp = om_dmol_pixel_log_prob(g, px, M, C, a, log_pi);
  for (int m = 0; m < M; m++) {
    float r = expf(a[m] - lp); /* responsibility p(m | pixel) */
    d[m * hw] += gout * (r - expf(log_pi[m]));
    float gm = gout * r;
    for (int c = 0; c < C; c++) {
      float s_raw = px->l[om_dmol_ch_scale(M, c, m) * hw];
      float dmu, ds;
      om_dmol_bin_log_prob(g, px->xt[c], om_dmol_coupled_mean(px, M, c, m),
                           fmaxf(s_raw, OM_DMOL_LOG_SCALE_MIN), &dmu, &ds);
      d[om_dmol_ch_mean(M, c, m) * hw] += gm * dmu;
      if (s_raw >= OM_DMOL_LOG_SCALE_MIN) d[om_dmol_ch_scale(M, c, m) * hw] += gm * ds;
      if (c == 1) {
        float a0 = tanhf(px->l[om_dmol_ch_coef(M, 0, m) * hw]);
        d[om_dmol_ch_coef(M, 0, m) * hw] += gm * dmu * px->xt[0] * (1.0f - a0 * a0);
      } else if (c == 2) {
        float a1 = tanhf(px->l[om_dmol_ch_coef(M, 1, m) * hw]);
        float a2 = tanhf(px->l[om_dmol_ch_coef(M, 2, m) * hw]);
        d[om_dmol_ch_coef(M, 1, m) * hw] += gm * dmu * px->xt[0] * (1.0f - a1 * a1);
        d[om_dmol_ch_coef(M, 2, m) * hw] += gm * dmu * px->xt[1] * (1.0f - a2 * a2);
      }
    }
  }
}

OM_FN float om_clamp1f(float v) { return fminf(fmaxf(v, -1.0f), 1.0f); }
OM_FN float om_clip_uniformf(float u) { return fminf(fmaxf(u, 1e-5f), 1.0f - 1e-5f); }

/* Couple and clamp colours in order, then map to [0, 1]: out[c * stride]. */
OM_FN void om_dmol_couple_and_store(float *x, const float *coef, int C, float *out,
                                    int64_t stride) {
  x[0] = om_clamp1f(x[0]);
  if (C == 3) {
    x[1] = om_clamp1f(x[1] + coef[0] * x[0]);
    x[2] = om_clamp1f(x[2] + coef[1] * x[0] + coef[2] * x[1]);
  }
  for (int c = 0; c < C; c++)
    out[c * stride] = 0.5f * x[c] + 0.5f;
}

/* One pixel of dmol_sample: l = logits (stride hw), um = u_mix (stride hw), ul = u_logistic
 * (stride hw), out = x (stride hw). */
OM_FN void om_dmol_sample_pixel(const float *l, const float *um, const float *ul, int64_t hw, int M,
                                int C, float t, float noise_scale, float *out) {
  int best = 0;
  float best_v = -INFINITY;
  for (int m = 0; m < M; m++) { /* Gumbel-max; the first maximum wins ties */
    float u = om_clip_uniformf(um[m * hw]);
    float v = l[m * hw] / t - logf(-logf(u));
    if (v > best_v) best_v = v, best = m;
  }
  float xv[3] = {0, 0, 0}, coef[3] = {0, 0, 0};
  for (int c = 0; c < C; c++) {
    float u = om_clip_uniformf(ul[c * hw]);
    float s = fmaxf(l[om_dmol_ch_scale(M, c, best) * hw], OM_DMOL_LOG_SCALE_MIN);
    xv[c] = l[om_dmol_ch_mean(M, c, best) * hw] + expf(s) * noise_scale * (logf(u) - log1pf(-u));
    if (C == 3) coef[c] = tanhf(l[om_dmol_ch_coef(M, c, best) * hw]);
  }
  om_dmol_couple_and_store(xv, coef, C, out, hw);
}

/* One pixel of dmol_mean. */
OM_FN void om_dmol_mean_pixel(const float *l, int64_t hw, int M, int C, float *out) {
  float pmax = -INFINITY, w[OM_DMOL_MAX_MIX], z = 0;
  for (int m = 0; m < M; m++)
    pmax = fmaxf(pmax, l[m * hw]);
  for (int m = 0; m < M; m++)
    z += w[m] = expf(l[m * hw] - pmax);
  float xv[3] = {0, 0, 0}, coef[3] = {0, 0, 0};
  for (int m = 0; m < M; m++) {
    float wm = w[m] / z;
    for (int c = 0; c < C; c++) {
      xv[c] += wm * l[om_dmol_ch_mean(M, c, m) * hw];
      if (C == 3) coef[c] += wm * tanhf(l[om_dmol_ch_coef(M, c, m) * hw]);
    }
  }
  om_dmol_couple_and_store(xv, coef, C, out, hw);
}

/* ---- optimizers (kernels/cpu/optim.h): the float32 constants, then one element ---- */

typedef struct om_adamax_k {
  float b1, b2, eps, c1, wd, clr;
} om_adamax_k;

typedef struct om_adam_k {
  float b1, b2, eps, c1, c2, wd, step_size, bc2_sqrt;
} om_adam_k;

/* Host side: the constants as adamax_step_cpu / adam_step_cpu compute them (double, then float). */
static inline om_adamax_k om_adamax_consts(const adamax_params *p) {
  om_adamax_k k;
  k.b1 = (float)p->beta1, k.b2 = (float)p->beta2, k.eps = (float)p->eps;
  k.c1 = (float)(1.0 - p->beta1); /* complements in double: 1 - 0.999f is 1.3e-5 off */
  k.wd = (float)p->weight_decay;
  k.clr = (float)(p->lr / (1.0 - pow(p->beta1, p->step)));
  return k;
}

static inline om_adam_k om_adam_consts(const adam_params *p) {
  om_adam_k k;
  k.b1 = (float)p->beta1, k.b2 = (float)p->beta2, k.eps = (float)p->eps;
  k.c1 = (float)(1.0 - p->beta1), k.c2 = (float)(1.0 - p->beta2);
  k.wd = (float)p->weight_decay;
  k.step_size = (float)(p->lr / (1.0 - pow(p->beta1, p->step)));
  k.bc2_sqrt = (float)sqrt(1.0 - pow(p->beta2, p->step));
  return k;
}

OM_FN void om_adamax_elem(const om_adamax_k *k, float *th, float *m, float *u, float g) {
  float gi = g + k->wd * *th;
  *m = k->b1 * *m + k->c1 * gi;
  *u = fmaxf(k->b2 * *u, fabsf(gi) + k->eps);
  *th -= k->clr * (*m / *u);
}

OM_FN void om_adam_elem(const om_adam_k *k, float *th, float *m, float *v, float g) {
  float gi = g + k->wd * *th;
  *m = k->b1 * *m + k->c1 * gi;
  *v = k->b2 * *v + k->c2 * gi * gi;
  float denom = sqrtf(*v) / k->bc2_sqrt + k->eps;
  *th -= k->step_size * (*m / denom);
}

#endif
