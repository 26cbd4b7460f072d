/* The per-element math of the CUDA kernels (kernels/cuda/ops_math.h) against the CPU reference ops,
 * on the host. The CUDA kernels call exactly these functions on the device, so this is the
 * CPU-side evidence that the GPU formulas are the reference ones (activations, soft clamp, Normal
 * parameters / log-density / KL and their gradients, Bernoulli, DMOL 1 and 3 channels: per-pixel
 * log-likelihood, its gradient, sampling, mean; nearest and bilinear ×2 upsampling, including the
 * GATHER form of the bilinear backward that replaces the CPU's scatter on the GPU; Adamax and Adam
 * element updates). It runs without a GPU and compares on many random inputs; the tolerances only
 * absorb the CPU ops' vectorised libm (OpenMP simd) against scalar calls and the gather's different
 * summation order. What it cannot show is CUDA's libm on the device (an ulp or two from glibc's):
 * the GPU-vs-CPU op test covers that on a GPU. */
#include "kernels/cpu/activation.h"
#include "kernels/cpu/bernoulli.h"
#include "kernels/cpu/dmol.h"
#include "kernels/cpu/normal.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/upsample.h"
#include "kernels/cuda/ops_math.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_ELEM 20000

/* Every element within atol + rtol·|want|; reports the worst one. */
static void compare(const char *what, const float *got, const float *want, int64_t n, double atol,
                    double rtol) {
  int64_t bad = 0, worst_at = -1;
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - (double)want[i]);
    int same_nan = isnan(got[i]) && isnan(want[i]);
    if (same_nan) continue;
    if (!(d <= atol + rtol * fabs((double)want[i]))) bad++;
    if (!(d <= worst)) worst = d, worst_at = i;
  }
  CHECK(bad == 0, "%s: %lld of %lld elements differ, worst at %lld: %.9g vs %.9g", what,
        (long long)bad, (long long)n, (long long)worst_at, worst_at >= 0 ? got[worst_at] : 0.0,
        worst_at >= 0 ? want[worst_at] : 0.0);
}

static float *fvec(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* ---- activations ---- */

typedef void (*act_fwd_fn)(op_ctx *, const tensor *, tensor *);
typedef void (*act_bwd_fn)(op_ctx *, const tensor *, const tensor *, tensor *);

static void check_activation(const char *name, act_fwd_fn fwd, act_bwd_fn bwd, float (*f)(float),
                             float (*g)(float), int grad_from_output) {
  op_ctx ctx = op_ctx_cpu();
  int64_t n = N_ELEM;
  float *x = fvec(n), *y = fvec(n), *dy = fvec(n), *dx = fvec(n), *want = fvec(n);
  test_fill_uniform(x, n, -30, 30, 7, 1);
  test_fill_uniform(x + n / 2, n / 2, -3, 3, 7, 2); /* half of them where the curves bend */
  x[0] = 0, x[1] = -0.0f, x[2] = 88, x[3] = -88, x[4] = -104, x[5] = 1e-30f;
  test_fill_uniform(dy, n, -1, 1, 7, 3);
  tensor tx = tensor_1d(x, n), ty = tensor_1d(y, n), tdy = tensor_1d(dy, n), tdx = tensor_1d(dx, n);
  fwd(&ctx, &tx, &ty);
  for (int64_t i = 0; i < n; i++)
    want[i] = f(x[i]);
  char what[96];
  snprintf(what, sizeof what, "%s forward", name);
  compare(what, want, y, n, 1e-6, 1e-5);
  /* backward from the saved input, or from the output for sigmoid */
  bwd(&ctx, grad_from_output ? &ty : &tx, &tdy, &tdx);
  for (int64_t i = 0; i < n; i++)
    want[i] = g(grad_from_output ? y[i] : x[i]) * dy[i];
  snprintf(what, sizeof what, "%s backward", name);
  compare(what, want, dx, n, 1e-6, 1e-5);
  free(x), free(y), free(dy), free(dx), free(want);
  op_ctx_free(&ctx);
}

static void test_activations(void) {
  check_activation("swish", swish_forward_cpu, swish_backward_cpu, om_swishf, om_swish_gradf, 0);
  check_activation("elu", elu_forward_cpu, elu_backward_cpu, om_eluf, om_elu_gradf, 0);
  check_activation("relu", relu_forward_cpu, relu_backward_cpu, om_reluf, om_relu_gradf, 0);
  check_activation("sigmoid", sigmoid_forward_cpu, sigmoid_backward_cpu, om_sigmoidf,
                   om_sigmoid_grad_from_yf, 1);
  check_activation("soft_clamp", soft_clamp_forward_cpu, soft_clamp_backward_cpu, om_soft_clampf,
                   om_soft_clamp_gradf, 0);
  /* the header's own helpers are the CPU ones */
  for (float x = -20; x <= 20; x += 0.37f) {
    CHECK(om_sigmoidf(x) == act_sigmoidf(x), "sigmoid(%g)", x);
    CHECK(om_swish_gradf(x) == act_swish_gradf(x), "swish'(%g)", x);
  }
}

/* ---- Normal ---- */

static void test_normal(void) {
  op_ctx ctx = op_ctx_cpu();
  int64_t n = N_ELEM;
  float *a = fvec(n), *b = fvec(n), *c = fvec(n), *d = fvec(n), *g = fvec(n), *o1 = fvec(n);
  float *o2 = fvec(n), *o3 = fvec(n), *o4 = fvec(n), *w1 = fvec(n), *w2 = fvec(n), *w3 = fvec(n);
  float *w4 = fvec(n);
  test_fill_uniform(a, n, -12, 12, 9, 1);
  test_fill_uniform(b, n, -12, 12, 9, 2);
  test_fill_uniform(g, n, -1, 1, 9, 3);
  float t = 0.7f;
  tensor ta = tensor_1d(a, n), tb = tensor_1d(b, n), tc = tensor_1d(c, n), td = tensor_1d(d, n);
  tensor tg = tensor_1d(g, n), t1 = tensor_1d(o1, n), t2 = tensor_1d(o2, n);
  tensor t3 = tensor_1d(o3, n), t4 = tensor_1d(o4, n);

  /* params: a = mu_raw, b = ls_raw -> c = mu, d = sigma */
  normal_params_forward_cpu(&ctx, &ta, &tb, t, &tc, &td);
  for (int64_t i = 0; i < n; i++)
    w1[i] = om_normal_muf(a[i]), w2[i] = om_normal_sigmaf(b[i], t);
  compare("normal_params mu", w1, c, n, 1e-6, 1e-5);
  compare("normal_params sigma", w2, d, n, 1e-6, 1e-5);
  memset(o1, 0, (size_t)n * 4), memset(o2, 0, (size_t)n * 4);
  normal_params_backward_cpu(&ctx, &ta, &tb, t, &tg, &tg, &t1, &t2);
  for (int64_t i = 0; i < n; i++)
    w1[i] = om_normal_dmu_rawf(a[i], g[i]), w2[i] = om_normal_dls_rawf(b[i], t, g[i]);
  compare("normal_params dmu_raw", w1, o1, n, 1e-6, 1e-5);
  compare("normal_params dls_raw", w2, o2, n, 1e-6, 1e-5);

  /* log-density of z = a at mu = c, sigma = d */
  normal_log_density_forward_cpu(&ctx, &ta, &tc, &td, &t1);
  for (int64_t i = 0; i < n; i++)
    w1[i] = om_normal_log_densityf(a[i], c[i], d[i]);
  compare("normal_log_density", w1, o1, n, 1e-5, 1e-5);
  memset(o1, 0, (size_t)n * 4), memset(o2, 0, (size_t)n * 4), memset(o3, 0, (size_t)n * 4);
  normal_log_density_backward_cpu(&ctx, &ta, &tc, &td, &tg, &t1, &t2, &t3);
  for (int64_t i = 0; i < n; i++) {
    float ds, gu = om_normal_log_density_grad(a[i], c[i], d[i], g[i], &ds);
    w1[i] = -gu, w2[i] = gu, w3[i] = ds;
  }
  compare("normal_log_density dz", w1, o1, n, 1e-5, 1e-5);
  compare("normal_log_density dmu", w2, o2, n, 1e-5, 1e-5);
  compare("normal_log_density dsigma", w3, o3, n, 1e-5, 1e-5);

  /* KL(q = (c, d) || p = (a scaled, sigma from b)) */
  float *mp = fvec(n), *sp = fvec(n);
  for (int64_t i = 0; i < n; i++)
    mp[i] = om_normal_muf(a[i] * 0.5f), sp[i] = om_normal_sigmaf(-b[i], 1);
  tensor tmp = tensor_1d(mp, n), tsp = tensor_1d(sp, n);
  normal_kl_forward_cpu(&ctx, &tc, &td, &tmp, &tsp, &t1);
  for (int64_t i = 0; i < n; i++)
    w1[i] = om_normal_klf(c[i], d[i], mp[i], sp[i]);
  compare("normal_kl", w1, o1, n, 1e-5, 1e-5);
  memset(o1, 0, (size_t)n * 4), memset(o2, 0, (size_t)n * 4), memset(o3, 0, (size_t)n * 4);
  memset(o4, 0, (size_t)n * 4);
  normal_kl_backward_cpu(&ctx, &tc, &td, &tmp, &tsp, &tg, &t1, &t2, &t3, &t4);
  for (int64_t i = 0; i < n; i++) {
    float dsq, dsp, gd = om_normal_kl_grad(c[i], d[i], mp[i], sp[i], g[i], &dsq, &dsp);
    w1[i] = gd, w2[i] = dsq, w3[i] = -gd, w4[i] = dsp;
  }
  compare("normal_kl dmu_q", w1, o1, n, 1e-5, 1e-5);
  compare("normal_kl dsigma_q", w2, o2, n, 1e-5, 1e-5);
  compare("normal_kl dmu_p", w3, o3, n, 1e-5, 1e-5);
  compare("normal_kl dsigma_p", w4, o4, n, 1e-5, 1e-5);
  free(a), free(b), free(c), free(d), free(g), free(o1), free(o2), free(o3), free(o4);
  free(w1), free(w2), free(w3), free(w4), free(mp), free(sp);
  op_ctx_free(&ctx);
}

/* ---- Bernoulli ---- */

static void test_bernoulli(void) {
  op_ctx ctx = op_ctx_cpu();
  enum { B = 3, C = 2, H = 9, W = 11 };
  int64_t n = B * C * H * W, np = B * H * W;
  float *l = fvec(n), *x = fvec(n), *g = fvec(np), *lp = fvec(np), *dl = fvec(n), *w = fvec(n);
  test_fill_uniform(l, n, -40, 40, 5, 1);
  test_fill_uniform(x, n, 0, 1, 5, 2);
  for (int64_t i = 0; i < n / 2; i++)
    x[i] = x[i] > 0.5f; /* binary and fractional targets */
  test_fill_uniform(g, np, -1, 1, 5, 3);
  tensor tl = tensor_4d(l, B, C, H, W), tx = tensor_4d(x, B, C, H, W);
  tensor tlp = tensor_4d(lp, B, 1, H, W), tg = tensor_4d(g, B, 1, H, W);
  tensor tdl = tensor_4d(dl, B, C, H, W);
  bernoulli_log_likelihood_forward_cpu(&ctx, &tl, &tx, &tlp);
  for (int64_t b = 0; b < B; b++)
    for (int64_t i = 0; i < H * W; i++) {
      float acc = 0;
      for (int64_t c = 0; c < C; c++) {
        int64_t k = (b * C + c) * H * W + i;
        acc += om_bernoulli_logpf(l[k], x[k]);
      }
      w[b * H * W + i] = acc;
    }
  compare("bernoulli logp", w, lp, np, 1e-5, 1e-5);
  bernoulli_log_likelihood_backward_cpu(&ctx, &tl, &tx, &tg, &tdl);
  for (int64_t k = 0; k < n; k++) {
    int64_t b = k / (C * H * W), i = k % (H * W);
    w[k] = g[b * H * W + i] * om_bernoulli_gradf(l[k], x[k]);
  }
  compare("bernoulli dlogits", w, dl, n, 1e-6, 1e-5);
  bernoulli_mean_cpu(&ctx, &tl, &tdl);
  for (int64_t k = 0; k < n; k++)
    w[k] = om_sigmoid_stablef(l[k]);
  compare("bernoulli mean", w, dl, n, 1e-7, 1e-6);
  free(l), free(x), free(g), free(lp), free(dl), free(w);
  op_ctx_free(&ctx);
}

/* ---- DMOL ---- */

static void check_dmol(int channels, int num_mix, int num_bits, float upper_edge, int noise_times_t,
                       float t) {
  op_ctx ctx = op_ctx_cpu();
  dmol_params p = dmol_params_default(channels, num_mix, num_bits);
  p.upper_edge = upper_edge;
  p.noise_times_t = noise_times_t;
  enum { B = 2, H = 7, W = 9 };
  int64_t hw = H * W, cp = dmol_param_channels(&p), C = channels, M = num_mix;
  int64_t nl = B * cp * hw, nx = B * C * hw, np = B * hw;
  float *l = fvec(nl), *x = fvec(nx), *g = fvec(np), *lp = fvec(np), *dl = fvec(nl);
  float *wl = fvec(nl), *wp = fvec(np), *um = fvec(B * M * hw), *ul = fvec(nx), *xs = fvec(nx);
  float *ws = fvec(nx);
  test_fill_uniform(l, nl, -3, 3, 13, 1);
  /* log-scales: some below the -7 clamp, some very small scales (pdf branch), most moderate */
  for (int64_t b = 0; b < B; b++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t m = 0; m < M; m++) {
        float *s = l + (b * cp + om_dmol_ch_scale((int)M, (int)c, (int)m)) * hw;
        test_fill_uniform(s, hw, -9, 1, 13, (uint32_t)(100 + (b * C + c) * M + m));
      }
  int K = (1 << num_bits) - 1;
  test_fill_uniform(x, nx, 0, 1, 13, 2);
  for (int64_t i = 0; i < nx; i++)
    x[i] = floorf(x[i] * K + 0.5f) / K;          /* bin centres */
  x[0] = 0, x[1] = 1, x[2] = (float)(K - 1) / K; /* both open bins and the 0.99 quirk */
  test_fill_uniform(g, np, -1, 1, 13, 3);
  test_fill_uniform(um, B * M * hw, 0, 1, 13, 4);
  test_fill_uniform(ul, nx, 0, 1, 13, 5);
  um[0] = 0, ul[0] = 1; /* the clipping of the uniforms */

  tensor tl = tensor_4d(l, B, cp, H, W), tx = tensor_4d(x, B, C, H, W);
  tensor tlp = tensor_4d(lp, B, 1, H, W), tg = tensor_4d(g, B, 1, H, W);
  tensor tdl = tensor_4d(dl, B, cp, H, W), tum = tensor_4d(um, B, M, H, W);
  tensor tul = tensor_4d(ul, B, C, H, W), txs = tensor_4d(xs, B, C, H, W);
  om_bin_geom geom = {1.0f / (float)K, logf((float)K / 2.0f), upper_edge};
  char what[128];

  dmol_log_likelihood_forward_cpu(&ctx, &p, &tl, &tx, &tlp);
  for (int64_t b = 0; b < B; b++)
    for (int64_t i = 0; i < hw; i++) {
      float a[OM_DMOL_MAX_MIX], log_pi[OM_DMOL_MAX_MIX];
      om_pixel px = {l + b * cp * hw + i, hw, {0, 0, 0}};
      for (int64_t c = 0; c < C; c++)
        px.xt[c] = 2.0f * x[(b * C + c) * hw + i] - 1.0f;
      wp[b * hw + i] = om_dmol_pixel_log_prob(&geom, &px, (int)M, (int)C, a, log_pi);
    }
  snprintf(what, sizeof what, "dmol C=%d M=%d bits=%d edge=%g logp", channels, num_mix, num_bits,
           upper_edge);
  compare(what, wp, lp, np, 1e-5, 1e-5);

  dmol_log_likelihood_backward_cpu(&ctx, &p, &tl, &tx, &tg, &tdl);
  for (int64_t b = 0; b < B; b++)
    for (int64_t i = 0; i < hw; i++) {
      om_pixel px = {l + b * cp * hw + i, hw, {0, 0, 0}};
      for (int64_t c = 0; c < C; c++)
        px.xt[c] = 2.0f * x[(b * C + c) * hw + i] - 1.0f;
      om_dmol_pixel_backward(&geom, &px, (int)M, (int)C, g[b * hw + i], wl + b * cp * hw + i);
    }
  snprintf(what, sizeof what, "dmol C=%d M=%d bits=%d edge=%g dlogits", channels, num_mix, num_bits,
           upper_edge);
  compare(what, wl, dl, nl, 1e-5, 1e-4);

  dmol_sample_cpu(&ctx, &p, t, &tl, &tum, &tul, &txs);
  float noise_scale = noise_times_t ? t : 1.0f / t;
  for (int64_t b = 0; b < B; b++)
    for (int64_t i = 0; i < hw; i++)
      om_dmol_sample_pixel(l + b * cp * hw + i, um + b * M * hw + i, ul + b * C * hw + i, hw,
                           (int)M, (int)C, t, noise_scale, ws + b * C * hw + i);
  snprintf(what, sizeof what, "dmol C=%d M=%d sample t=%g noise_times_t=%d", channels, num_mix, t,
           noise_times_t);
  compare(what, ws, xs, nx, 1e-6, 1e-5);

  dmol_mean_cpu(&ctx, &p, &tl, &txs);
  for (int64_t b = 0; b < B; b++)
    for (int64_t i = 0; i < hw; i++)
      om_dmol_mean_pixel(l + b * cp * hw + i, hw, (int)M, (int)C, ws + b * C * hw + i);
  snprintf(what, sizeof what, "dmol C=%d M=%d mean", channels, num_mix);
  compare(what, ws, xs, nx, 1e-6, 1e-5);

  free(l), free(x), free(g), free(lp), free(dl), free(wl), free(wp), free(um), free(ul);
  free(xs), free(ws);
  op_ctx_free(&ctx);
}

static void test_dmol(void) {
  check_dmol(3, 10, 8, 0.99f, 0, 0.7f);
  check_dmol(1, 10, 8, 0.99f, 0, 1.0f);
  check_dmol(3, 5, 5, 0.999f, 1, 0.6f);
  check_dmol(1, 3, 5, 0.999f, 1, 1.3f);
}

/* ---- upsampling ---- */

static void check_upsample(int64_t planes, int64_t h, int64_t w) {
  op_ctx ctx = op_ctx_cpu();
  int64_t ns = planes * h * w, nb = 4 * ns;
  float *x = fvec(ns), *y = fvec(nb), *g = fvec(nb), *dx = fvec(ns), *want = fvec(nb);
  test_fill_uniform(x, ns, -1, 1, 17, 1);
  test_fill_uniform(g, nb, -1, 1, 17, 2);
  tensor tx = tensor_4d(x, 1, planes, h, w), ty = tensor_4d(y, 1, planes, 2 * h, 2 * w);
  tensor tg = tensor_4d(g, 1, planes, 2 * h, 2 * w), tdx = tensor_4d(dx, 1, planes, h, w);
  char what[96];

  upsample_bilinear2x_forward_cpu(&ctx, &tx, &ty);
  for (int64_t p = 0; p < planes; p++)
    for (int64_t oi = 0; oi < 2 * h; oi++)
      for (int64_t oj = 0; oj < 2 * w; oj++)
        want[(p * 2 * h + oi) * 2 * w + oj] = om_bilinear2x_at(x + p * h * w, h, w, oi, oj);
  snprintf(what, sizeof what, "bilinear2x forward %lldx%lld", (long long)h, (long long)w);
  compare(what, want, y, nb, 1e-7, 1e-6);

  upsample_bilinear2x_backward_cpu(&ctx, &tg, &tdx); /* dx starts at 0 */
  for (int64_t p = 0; p < planes; p++)
    for (int64_t i = 0; i < h; i++)
      for (int64_t j = 0; j < w; j++)
        want[p * h * w + i * w + j] = om_bilinear2x_grad_at(g + p * 4 * h * w, h, w, i, j);
  snprintf(what, sizeof what, "bilinear2x backward (gather) %lldx%lld", (long long)h, (long long)w);
  compare(what, want, dx, ns, 1e-6, 1e-5);
  free(x), free(y), free(g), free(dx), free(want);
  op_ctx_free(&ctx);
}

/* The gather's window: every output o of a 2n-long axis reads inputs within [o/2 - 2, o/2 + 2],
 * i.e. input i is read only by outputs in [2i - 3, 2i + 4]. Exhaustive over n. */
static void test_upsample_window(void) {
  int64_t bad = 0;
  for (int64_t n = 1; n <= 3000; n++)
    for (int64_t o = 0; o < 2 * n; o++) {
      int64_t i0, i1;
      float l;
      om_up_tap(n, o, &i0, &i1, &l);
      bad += o < 2 * i0 - 3 || o > 2 * i0 + 4 || o < 2 * i1 - 3 || o > 2 * i1 + 4;
      bad += i0 < 0 || i1 >= n || l < 0 || l > 1;
    }
  CHECK(bad == 0, "bilinear taps outside the gather window: %lld", (long long)bad);
  int64_t sizes[][2] = {{1, 1}, {1, 5},   {2, 2},   {3, 7},  {4, 4},   {5, 3},
                        {8, 8}, {13, 16}, {16, 16}, {31, 9}, {32, 32}, {64, 48}};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
    check_upsample(3, sizes[k][0], sizes[k][1]);
}

/* ---- optimizers ---- */

static void test_optim(void) {
  op_ctx ctx = op_ctx_cpu();
  int64_t n = 4099;
  float *th = fvec(n), *m = fvec(n), *u = fvec(n), *g = fvec(n);
  float *th2 = fvec(n), *m2 = fvec(n), *u2 = fvec(n);
  test_fill_uniform(th, n, -1, 1, 19, 1);
  memcpy(th2, th, (size_t)n * 4);
  tensor tth = tensor_1d(th, n), tm = tensor_1d(m, n), tu = tensor_1d(u, n), tg = tensor_1d(g, n);
  for (int step = 1; step <= 5; step++) {
    test_fill_uniform(g, n, -2, 2, 19, 10u + (uint32_t)step);
    adamax_params p = {1e-2, 0.9, 0.999, 1e-3, 3e-4, step, NULL};
    adamax_step_cpu(&ctx, &p, &tth, &tg, &tm, &tu);
    om_adamax_k k = om_adamax_consts(&p);
    for (int64_t i = 0; i < n; i++)
      om_adamax_elem(&k, &th2[i], &m2[i], &u2[i], g[i]);
  }
  compare("adamax param", th2, th, n, 0, 0);
  compare("adamax m", m2, m, n, 0, 0);
  compare("adamax u", u2, u, n, 0, 0);
  memset(m, 0, (size_t)n * 4), memset(u, 0, (size_t)n * 4);
  memset(m2, 0, (size_t)n * 4), memset(u2, 0, (size_t)n * 4);
  for (int step = 1; step <= 5; step++) {
    test_fill_uniform(g, n, -2, 2, 19, 20u + (uint32_t)step);
    adam_params p = {1e-3, 0.9, 0.999, 1e-8, 1e-4, step, NULL};
    adam_step_cpu(&ctx, &p, &tth, &tg, &tm, &tu);
    om_adam_k k = om_adam_consts(&p);
    for (int64_t i = 0; i < n; i++)
      om_adam_elem(&k, &th2[i], &m2[i], &u2[i], g[i]);
  }
  compare("adam param", th2, th, n, 0, 0);
  compare("adam m", m2, m, n, 0, 0);
  compare("adam v", u2, u, n, 0, 0);
  free(th), free(m), free(u), free(g), free(th2), free(m2), free(u2);
  op_ctx_free(&ctx);
}

/* ---- BN affine ---- */

static void test_bn_affine(void) {
  float x[] = {-3.5f, 0.25f, 7.0f, 1e-3f}, m = 0.3f, s = 1.7f, b = -0.2f;
  for (int i = 0; i < 4; i++)
    CHECK(om_bn_affinef(x[i], m, s, b) == (x[i] - m) * s + b, "bn affine of %g", x[i]);
}

int main(void) {
  test_activations();
  test_normal();
  test_bernoulli();
  test_dmol();
  test_upsample_window();
  test_optim();
  test_bn_affine();
  return test_finish("test_cuda_math");
}
