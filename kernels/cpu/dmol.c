/* Discretised mixture of logistics on the CPU: see dmol.h. One pixel (all colours, all
 * components) is one unit of work; pixels are independent, so the loops are parallel over them. */
#include "kernels/cpu/dmol.h"

#include <math.h>

#define LOG_SCALE_MIN -7.0f
#define LOWER_EDGE -0.999f
#define LOG_CDF_DELTA_MIN -11.512925465f /* log(1e-5): the cdf_delta > 1e-5 test, in log space */

dmol_params dmol_params_default(int channels, int num_mix, int num_bits) {
  dmol_params p = {num_mix, channels, num_bits, 0.99f, 0};
  return p;
}

int dmol_param_channels(const dmol_params *p) {
  return p->channels == 3 ? 10 * p->num_mix : 3 * p->num_mix;
}

static void check_params(const dmol_params *p) {
  NVAE_ASSERT(p->channels == 1 || p->channels == 3, "dmol: channels must be 1 or 3, got %d",
              p->channels);
  NVAE_ASSERT(p->num_mix >= 1 && p->num_mix <= DMOL_MAX_MIX, "dmol: num_mix %d not in [1, %d]",
              p->num_mix, DMOL_MAX_MIX);
  NVAE_ASSERT(p->num_bits >= 1 && p->num_bits <= 16, "dmol: num_bits %d", p->num_bits);
}

/* [N, H, W], or [N, 1, H, W] for callers that keep 4-d views. */
static void expect_pixel_map(const tensor *t, const char *what, int64_t n, int64_t h, int64_t w) {
  if (t->ndim == 4)
    tensor_expect_at(t, what, 4, (const int64_t[]){n, 1, h, w}, __FILE__, __LINE__);
  else
    tensor_expect_at(t, what, 3, (const int64_t[]){n, h, w}, __FILE__, __LINE__);
}

/* Channel offsets of colour c, component m (see the layout in dmol.h). */
static inline int ch_mean(int M, int c, int m) { return M + c * 3 * M + m; }
static inline int ch_scale(int M, int c, int m) { return M + c * 3 * M + M + m; }
static inline int ch_coef(int M, int c, int m) { return M + c * 3 * M + 2 * M + m; }

static inline float log_sigmoidf(float v) { return fminf(v, 0.0f) - log1pf(expf(-fabsf(v))); }
static inline float sigmoidf(float v) {
  if (v >= 0) return 1.0f / (1.0f + expf(-v));
  float e = expf(v);
  return e / (1.0f + e);
}

typedef struct bin_geom {
  float half_bin;   /* 1/K on the [-1, 1] scale */
  float log_k_half; /* log(K/2): turns the density at the bin centre into a bin mass */
  float upper_edge;
} bin_geom;

/* log P(bin of xt) for one logistic (mean mu, clamped log-scale s); when dmu/ds are non-NULL also
 * the derivatives with respect to mu and s. */
static inline float bin_log_prob(const bin_geom *g, float xt, float mu, float s, float *dmu,
                                 float *ds) {
  float cen = xt - mu, inv = expf(-s);
  float plus = inv * (cen + g->half_bin), minus = inv * (cen - g->half_bin);
  float lp, dcen, dsv;
  if (xt < LOWER_EDGE) { /* open bottom bin: log sigma(plus) */
    lp = log_sigmoidf(plus);
    float d = sigmoidf(-plus);
    dcen = inv * d, dsv = -plus * d;
  } else if (xt > g->upper_edge) { /* open top bin: log(1 - sigma(minus)) */
    lp = log_sigmoidf(-minus);
    float d = -sigmoidf(minus);
    dcen = inv * d, dsv = -minus * d;
  } else {
    float gap = plus - minus; /* > 0; 0 only when inv underflows, which selects the pdf branch */
    float log_delta = log_sigmoidf(plus) + log_sigmoidf(-minus) + logf(-expm1f(-gap));
    if (log_delta > LOG_CDF_DELTA_MIN) {
      lp = log_delta;
      float sp = sigmoidf(-plus), sm = sigmoidf(minus);
      /* the 1/expm1(gap) terms of d/dplus and d/dminus cancel in d/dcen */
      dcen = inv * (sp - sm);
      dsv = -(plus * sp - minus * sm + gap / expm1f(gap));
    } else { /* too little mass for a difference of cdfs: density at the centre */
      float mid = inv * cen;
      /* mid - 2 softplus(mid) written without its cancellation for large |mid| */
      lp = -fabsf(mid) - 2.0f * log1pf(expf(-fabsf(mid))) - s - g->log_k_half;
      float d = 1.0f - 2.0f * sigmoidf(mid);
      dcen = inv * d, dsv = -1.0f - mid * d;
    }
  }
  if (dmu) *dmu = -dcen;
  if (ds) *ds = dsv;
  return lp;
}

static bin_geom make_geom(const dmol_params *p) {
  float k = (float)((1 << p->num_bits) - 1);
  bin_geom g = {1.0f / k, logf(k / 2.0f), p->upper_edge};
  return g;
}

/* Per-pixel views: element (ch, pixel) of sample n is base[ch * hw]. */
typedef struct pixel {
  const float *l; /* logits of this pixel, stride hw */
  float xt[3];    /* observed x~ = 2x - 1 per colour */
} pixel;

/* Coupled mean of colour c, component m. */
static inline float coupled_mean(const pixel *px, int M, int c, int m, int64_t hw) {
  float mu = px->l[ch_mean(M, c, m) * hw];
  if (c == 1) mu += tanhf(px->l[ch_coef(M, 0, m) * hw]) * px->xt[0];
  if (c == 2)
    mu += tanhf(px->l[ch_coef(M, 1, m) * hw]) * px->xt[0] +
          tanhf(px->l[ch_coef(M, 2, m) * hw]) * px->xt[1];
  return mu;
}

/* a[m] = log_softmax(pi)_m + sum_c lp_{c,m}; returns log p(pixel) = logsumexp_m a[m]. log_pi gets
 * log_softmax(pi). */
static float pixel_log_prob(const bin_geom *g, const pixel *px, int M, int C, int64_t hw, float *a,
                            float *log_pi) {
  float pmax = -INFINITY;
  for (int m = 0; m < M; m++) pmax = fmaxf(pmax, px->l[m * hw]);
  float z = 0;
  for (int m = 0; m < M; m++) z += expf(px->l[m * hw] - pmax);
  float lz = pmax + logf(z);
  float amax = -INFINITY;
  for (int m = 0; m < M; m++) {
    log_pi[m] = px->l[m * hw] - lz;
    a[m] = log_pi[m];
    for (int c = 0; c < C; c++) {
      float s = fmaxf(px->l[ch_scale(M, c, m) * hw], LOG_SCALE_MIN);
      a[m] += bin_log_prob(g, px->xt[c], coupled_mean(px, M, c, m, hw), s, NULL, NULL);
    }
    amax = fmaxf(amax, a[m]);
  }
  float sum = 0;
  for (int m = 0; m < M; m++) sum += expf(a[m] - amax);
  return amax + logf(sum);
}

typedef struct dmol_shape {
  int64_t n, h, w, hw, cp;
} dmol_shape;

static dmol_shape check_shapes(const dmol_params *p, const tensor *logits, const tensor *x) {
  check_params(p);
  TENSOR_EXPECT_4D(logits, -1, dmol_param_channels(p), -1, -1);
  TENSOR_EXPECT_4D(x, logits->shape[0], p->channels, logits->shape[2], logits->shape[3]);
  dmol_shape s = {logits->shape[0], logits->shape[2], logits->shape[3],
                  logits->shape[2] * logits->shape[3], logits->shape[1]};
  return s;
}

static pixel load_pixel(const float *lg, const float *xs, const dmol_shape *sh, int C, int64_t n,
                        int64_t i) {
  pixel px;
  px.l = lg + n * sh->cp * sh->hw + i;
  for (int c = 0; c < C; c++) px.xt[c] = 2.0f * xs[(n * C + c) * sh->hw + i] - 1.0f;
  return px;
}

void dmol_log_likelihood_forward_cpu(op_ctx *ctx, const dmol_params *p, const tensor *logits,
                                     const tensor *x, tensor *logp) {
  dmol_shape sh = check_shapes(p, logits, x);
  expect_pixel_map(logp, "logp", sh.n, sh.h, sh.w);
  const float *lg = tensor_f32(logits), *xs = tensor_f32(x);
  float *out = tensor_f32(logp);
  bin_geom g = make_geom(p);
  int M = p->num_mix, C = p->channels;
#pragma omp parallel for collapse(2) if (sh.n * sh.hw > 1024)
  for (int64_t n = 0; n < sh.n; n++)
    for (int64_t i = 0; i < sh.hw; i++) {
      float a[DMOL_MAX_MIX], log_pi[DMOL_MAX_MIX];
      pixel px = load_pixel(lg, xs, &sh, C, n, i);
      out[n * sh.hw + i] = pixel_log_prob(&g, &px, M, C, sh.hw, a, log_pi);
    }
}

void dmol_log_likelihood_backward_cpu(op_ctx *ctx, const dmol_params *p, const tensor *logits,
                                      const tensor *x, const tensor *dlogp, tensor *dlogits) {
  dmol_shape sh = check_shapes(p, logits, x);
  expect_pixel_map(dlogp, "dlogp", sh.n, sh.h, sh.w);
  TENSOR_EXPECT_SAME(dlogits, logits);
  const float *lg = tensor_f32(logits), *xs = tensor_f32(x), *gp = tensor_f32(dlogp);
  float *dl = tensor_f32(dlogits);
  bin_geom g = make_geom(p);
  int M = p->num_mix, C = p->channels;
  int64_t hw = sh.hw;
#pragma omp parallel for collapse(2) if (sh.n * sh.hw > 1024)
  for (int64_t n = 0; n < sh.n; n++)
    for (int64_t i = 0; i < sh.hw; i++) {
      float a[DMOL_MAX_MIX], log_pi[DMOL_MAX_MIX];
      pixel px = load_pixel(lg, xs, &sh, C, n, i);
      float lp = pixel_log_prob(&g, &px, M, C, hw, a, log_pi);
      float gout = gp[n * hw + i];
      float *d = dl + n * sh.cp * hw + i;
      for (int m = 0; m < M; m++) {
        /* responsibility r_m = p(m | pixel); d logp / d pi_m = r_m - softmax(pi)_m */
        float r = expf(a[m] - lp);
        d[m * hw] += gout * (r - expf(log_pi[m]));
        float gm = gout * r;
        for (int c = 0; c < C; c++) {
          float s_raw = px.l[ch_scale(M, c, m) * hw];
          float dmu, ds;
          bin_log_prob(&g, px.xt[c], coupled_mean(&px, M, c, m, hw), fmaxf(s_raw, LOG_SCALE_MIN),
                       &dmu, &ds);
          d[ch_mean(M, c, m) * hw] += gm * dmu;
          if (s_raw >= LOG_SCALE_MIN) d[ch_scale(M, c, m) * hw] += gm * ds;
          /* coupling: slot 0 feeds G from R; slots 1, 2 feed B from R and G */
          if (c == 1) {
            float a0 = tanhf(px.l[ch_coef(M, 0, m) * hw]);
            d[ch_coef(M, 0, m) * hw] += gm * dmu * px.xt[0] * (1.0f - a0 * a0);
          } else if (c == 2) {
            float a1 = tanhf(px.l[ch_coef(M, 1, m) * hw]);
            float a2 = tanhf(px.l[ch_coef(M, 2, m) * hw]);
            d[ch_coef(M, 1, m) * hw] += gm * dmu * px.xt[0] * (1.0f - a1 * a1);
            d[ch_coef(M, 2, m) * hw] += gm * dmu * px.xt[1] * (1.0f - a2 * a2);
          }
        }
      }
    }
}

static inline float clamp1(float v) { return fminf(fmaxf(v, -1.0f), 1.0f); }
static inline float clip_uniform(float u) { return fminf(fmaxf(u, 1e-5f), 1.0f - 1e-5f); }

/* Couple and clamp colours in order (x holds uncoupled values on the [-1, 1] scale), then map
 * to [0, 1]; coef[c] = tanh'd coefficient of slot c. */
static void couple_and_store(float *x, const float *coef, int C, float *out, int64_t stride) {
  x[0] = clamp1(x[0]);
  if (C == 3) {
    x[1] = clamp1(x[1] + coef[0] * x[0]);
    x[2] = clamp1(x[2] + coef[1] * x[0] + coef[2] * x[1]);
  }
  for (int c = 0; c < C; c++) out[c * stride] = 0.5f * x[c] + 0.5f;
}

void dmol_sample_cpu(op_ctx *ctx, const dmol_params *p, float t, const tensor *logits,
                     const tensor *u_mix, const tensor *u_logistic, tensor *x) {
  dmol_shape sh = check_shapes(p, logits, x);
  NVAE_ASSERT(t > 0, "dmol_sample: temperature must be > 0, got %g", t);
  int M = p->num_mix, C = p->channels;
  TENSOR_EXPECT_4D(u_mix, sh.n, M, sh.h, sh.w);
  TENSOR_EXPECT_SAME(u_logistic, x);
  const float *lg = tensor_f32(logits), *um = tensor_f32(u_mix), *ul = tensor_f32(u_logistic);
  float *out = tensor_f32(x);
  int64_t hw = sh.hw;
  float noise_scale = p->noise_times_t ? t : 1.0f / t;
#pragma omp parallel for collapse(2) if (sh.n * sh.hw > 1024)
  for (int64_t n = 0; n < sh.n; n++)
    for (int64_t i = 0; i < hw; i++) {
      const float *l = lg + n * sh.cp * hw + i;
      /* Gumbel-max: the first maximum wins ties, as argmax does */
      int best = 0;
      float best_v = -INFINITY;
      for (int m = 0; m < M; m++) {
        float u = clip_uniform(um[(n * M + m) * hw + i]);
        float v = l[m * hw] / t - logf(-logf(u));
        if (v > best_v) best_v = v, best = m;
      }
      float xv[3], coef[3] = {0, 0, 0};
      for (int c = 0; c < C; c++) {
        float u = clip_uniform(ul[(n * C + c) * hw + i]);
        float s = fmaxf(l[ch_scale(M, c, best) * hw], LOG_SCALE_MIN);
        xv[c] = l[ch_mean(M, c, best) * hw] + expf(s) * noise_scale * (logf(u) - log1pf(-u));
        if (C == 3) coef[c] = tanhf(l[ch_coef(M, c, best) * hw]);
      }
      couple_and_store(xv, coef, C, out + n * C * hw + i, hw);
    }
}

void dmol_mean_cpu(op_ctx *ctx, const dmol_params *p, const tensor *logits, tensor *x) {
  dmol_shape sh = check_shapes(p, logits, x);
  int M = p->num_mix, C = p->channels;
  const float *lg = tensor_f32(logits);
  float *out = tensor_f32(x);
  int64_t hw = sh.hw;
#pragma omp parallel for collapse(2) if (sh.n * sh.hw > 1024)
  for (int64_t n = 0; n < sh.n; n++)
    for (int64_t i = 0; i < hw; i++) {
      const float *l = lg + n * sh.cp * hw + i;
      float pmax = -INFINITY, w[DMOL_MAX_MIX], z = 0;
      for (int m = 0; m < M; m++) pmax = fmaxf(pmax, l[m * hw]);
      for (int m = 0; m < M; m++) z += w[m] = expf(l[m * hw] - pmax);
      float xv[3] = {0, 0, 0}, coef[3] = {0, 0, 0};
      for (int m = 0; m < M; m++) {
        float wm = w[m] / z;
        for (int c = 0; c < C; c++) {
          xv[c] += wm * l[ch_mean(M, c, m) * hw];
          if (C == 3) coef[c] += wm * tanhf(l[ch_coef(M, c, m) * hw]);
        }
      }
      couple_and_store(xv, coef, C, out + n * C * hw + i, hw);
    }
}
