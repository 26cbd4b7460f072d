/* Spectral regularisation and BN regulariser (kernels/cpu/spectral.c), NVAE.md §3.4 and §3.5:
 *  - the power iteration converges to the largest singular value, checked without an SVD:
 *    sigma^ >= ||W x|| for random unit x, and W^T u ~ sigma^ v after 100 iterations; and exactly
 *    on a matrix built with a known spectrum (Householder reflections around a diagonal);
 *  - the 1e-3 normalisation floor (tiny and zero matrices: small vectors, no NaN);
 *  - the same bits with one and two threads (u, v are checkpointed state);
 *  - sigma backward accumulates u v^T; BN max-abs splits the gradient among tied maxima. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/cpu/spectral.h"
#include "tests/test_util.h"

static double norm2(const double *a, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += a[i] * a[i];
  return sqrt(s);
}

/* y = W x (trans 0) or W^T x (trans 1), double. */
static void matvec(const float *W, int64_t R, int64_t C, const double *x, double *y, int trans) {
  int64_t n_out = trans ? C : R;
  for (int64_t i = 0; i < n_out; i++) y[i] = 0;
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = 0; c < C; c++) {
      if (trans)
        y[c] += (double)W[r * C + c] * x[r];
      else
        y[r] += (double)W[r * C + c] * x[c];
    }
}

static void random_unit(float *a, int64_t n, uint32_t tag) {
  test_fill_uniform(a, n, -1, 1, 11, tag);
  tensor t = tensor_1d(a, n);
  op_ctx ctx = op_ctx_cpu();
  spectral_normalize_cpu(&ctx, &t);
  op_ctx_free(&ctx);
}

/* Power iteration on W [R, C] from random unit u, v; returns sigma^ and leaves u, v. */
static double run_power(const float *W, int64_t R, int64_t C, float *u, float *v, int iters) {
  op_ctx ctx = op_ctx_cpu();
  random_unit(u, R, 21);
  random_unit(v, C, 22);
  tensor tW = tensor_2d((float *)W, R, C), tu = tensor_1d(u, R), tv = tensor_1d(v, C);
  spectral_power_iteration_cpu(&ctx, &tW, &tu, &tv, iters);
  float s;
  tensor ts = tensor_1d(&s, 1);
  spectral_sigma_forward_cpu(&ctx, &tW, &tu, &tv, &ts);
  op_ctx_free(&ctx);
  return s;
}

static void test_random_matrix(void) {
  enum { R = 37, C = 23 };
  float W[R * C], u[R], v[C], x[C];
  test_fill_uniform(W, R * C, -1, 1, 5, 1);
  double sigma = run_power(W, R, C, u, v, 100);
  double xd[C], y[R], ud[R], wtu[C];
  /* sigma^ is an upper bound of ||W x|| over unit x */
  double worst = 0;
  for (int k = 0; k < 500; k++) {
    random_unit(x, C, 100u + (uint32_t)k);
    for (int i = 0; i < C; i++) xd[i] = x[i];
    matvec(W, R, C, xd, y, 0);
    worst = fmax(worst, norm2(y, R));
  }
  CHECK(sigma >= worst * (1 - 1e-6), "sigma^ %.7g below ||W x|| = %.7g for a unit x", sigma, worst);
  CHECK(sigma > 0.5 * worst, "sigma^ %.7g implausibly small vs %.7g", sigma, worst);
  /* (u, v) is a singular pair: W^T u = sigma v */
  for (int i = 0; i < R; i++) ud[i] = u[i];
  matvec(W, R, C, ud, wtu, 1);
  double res = 0;
  for (int i = 0; i < C; i++) res += (wtu[i] - sigma * v[i]) * (wtu[i] - sigma * v[i]);
  res = sqrt(res);
  CHECK(res < 1e-4 * sigma, "||W^T u - sigma v|| = %.3g (sigma %.5g)", res, sigma);
  double nu = 0, nv = 0;
  for (int i = 0; i < R; i++) nu += (double)u[i] * u[i];
  for (int i = 0; i < C; i++) nv += (double)v[i] * v[i];
  CHECK(fabs(sqrt(nu) - 1) < 1e-6 && fabs(sqrt(nv) - 1) < 1e-6, "u, v not unit: %g %g", sqrt(nu),
        sqrt(nv));
  printf("random 37x23: sigma^ %.6f, best random ||Wx|| %.6f, residual %.2e\n", sigma, worst, res);
}

/* I - 2 h h^T / (h^T h) applied to the rows (left) or columns (right) of A [R, C]. */
static void householder(double *A, int64_t R, int64_t C, const double *h, int left) {
  int64_t n = left ? R : C;
  double hh = 0;
  for (int64_t i = 0; i < n; i++) hh += h[i] * h[i];
  if (left) {
    for (int64_t c = 0; c < C; c++) {
      double d = 0;
      for (int64_t r = 0; r < R; r++) d += h[r] * A[r * C + c];
      for (int64_t r = 0; r < R; r++) A[r * C + c] -= 2 * h[r] * d / hh;
    }
  } else {
    for (int64_t r = 0; r < R; r++) {
      double d = 0;
      for (int64_t c = 0; c < C; c++) d += A[r * C + c] * h[c];
      for (int64_t c = 0; c < C; c++) A[r * C + c] -= 2 * h[c] * d / hh;
    }
  }
}

static void test_known_spectrum(void) {
  enum { R = 12, C = 9 };
  const double sv[C] = {3.0, 2.0, 1.5, 1.0, 0.7, 0.5, 0.3, 0.2, 0.1};
  double A[R * C] = {0}, h1[R], h2[C];
  for (int i = 0; i < C; i++) A[i * C + i] = sv[i];
  float tmp[R + C];
  test_fill_uniform(tmp, R + C, -1, 1, 9, 3);
  for (int i = 0; i < R; i++) h1[i] = tmp[i];
  for (int i = 0; i < C; i++) h2[i] = tmp[R + i];
  householder(A, R, C, h1, 1); /* orthogonal transforms keep the singular values */
  householder(A, R, C, h2, 0);
  float W[R * C], u[R], v[C];
  for (int i = 0; i < R * C; i++) W[i] = (float)A[i];
  double s100 = run_power(W, R, C, u, v, 100);
  CHECK_CLOSE(s100, 3.0, 0, 1e-5, "sigma^ of a matrix with singular values 3, 2, ...");
  /* a few iterations already get close; 4 per step then keep it converged */
  double s4 = run_power(W, R, C, u, v, 4);
  CHECK(s4 <= 3.0 * (1 + 1e-6) && s4 > 2.0, "sigma^ after 4 iterations %.6f", s4);
  printf("known spectrum: sigma^ %.7f after 100, %.7f after 4 iterations (true 3)\n", s100, s4);
}

static void test_floor(void) {
  op_ctx ctx = op_ctx_cpu();
  /* normalize: unit for ordinary vectors, x1000 below the 1e-3 floor */
  float a[5] = {3, 4, 0, 0, 0}, b[3] = {1e-4f, -2e-4f, 2e-4f};
  tensor ta = tensor_1d(a, 5), tb = tensor_1d(b, 3);
  spectral_normalize_cpu(&ctx, &ta);
  spectral_normalize_cpu(&ctx, &tb);
  CHECK_CLOSE(a[0], 0.6, 1e-7, 0, "normalize (3, 4)");
  CHECK_CLOSE(a[1], 0.8, 1e-7, 0, "normalize (3, 4)");
  CHECK_CLOSE(b[1], -0.2, 1e-7, 0, "normalize below the floor divides by 1e-3");

  /* tiny W: v = W^T u / 1e-3 (its norm is below the floor) */
  enum { R = 6, C = 4 };
  float W[R * C], u[R], v[C];
  test_fill_uniform(W, R * C, -1e-6f, 1e-6f, 3, 1);
  random_unit(u, R, 5);
  double ud[R], want[C];
  for (int i = 0; i < R; i++) ud[i] = u[i];
  matvec(W, R, C, ud, want, 1);
  tensor tW = tensor_2d(W, R, C), tu = tensor_1d(u, R), tv = tensor_1d(v, C);
  memset(v, 0, sizeof v);
  /* one iteration changes u too; compare v, which only depends on the starting u */
  spectral_power_iteration_cpu(&ctx, &tW, &tu, &tv, 1);
  for (int i = 0; i < C; i++) want[i] *= 1e3;
  CHECK(test_rel_err_fd(v, want, C) < 1e-6, "tiny W: v = W^T u / 1e-3, rel err %.3g",
        test_rel_err_fd(v, want, C));
  /* zero W: everything becomes 0, nothing NaN */
  memset(W, 0, sizeof W);
  random_unit(u, R, 6);
  spectral_power_iteration_cpu(&ctx, &tW, &tu, &tv, 3);
  int ok = 1;
  for (int i = 0; i < R; i++) ok &= u[i] == 0;
  for (int i = 0; i < C; i++) ok &= v[i] == 0;
  CHECK(ok, "zero W: u and v must be exactly 0 (no NaN)");
  op_ctx_free(&ctx);
}

static void test_threads_bits(void) {
  /* big enough for the parallel path (rows * cols > 262144) */
  int64_t R = 600, C = 500;
  float *W = malloc((size_t)(R * C) * sizeof(float));
  float *u1 = malloc((size_t)R * sizeof(float)), *v1 = malloc((size_t)C * sizeof(float));
  float *u2 = malloc((size_t)R * sizeof(float)), *v2 = malloc((size_t)C * sizeof(float));
  test_fill_uniform(W, R * C, -1, 1, 8, 1);
#ifdef _OPENMP
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  run_power(W, R, C, u1, v1, 4);
  omp_set_num_threads(2);
  run_power(W, R, C, u2, v2, 4);
  omp_set_num_threads(saved);
#else
  run_power(W, R, C, u1, v1, 4);
  run_power(W, R, C, u2, v2, 4);
#endif
  CHECK(!memcmp(u1, u2, (size_t)R * sizeof(float)) && !memcmp(v1, v2, (size_t)C * sizeof(float)),
        "power iteration differs between 1 and 2 threads");
  free(W), free(u1), free(v1), free(u2), free(v2);
}

static void test_sigma_backward(void) {
  op_ctx ctx = op_ctx_cpu();
  float u[2] = {0.6f, -0.8f}, v[3] = {1, 2, -1}, ds = 0.5f, dW[6] = {1, 1, 1, 1, 1, 1};
  tensor tu = tensor_1d(u, 2), tv = tensor_1d(v, 3), tds = tensor_1d(&ds, 1),
         tdW = tensor_2d(dW, 2, 3);
  spectral_sigma_backward_cpu(&ctx, &tu, &tv, &tds, &tdW);
  const float want[6] = {1.3f, 1.6f, 0.7f, 0.6f, 0.2f, 1.4f}; /* 1 + 0.5 u_r v_c */
  for (int i = 0; i < 6; i++) CHECK_CLOSE(dW[i], want[i], 1e-6, 0, "dW += dsigma u v^T");
  op_ctx_free(&ctx);
}

static void test_bn_max_abs(void) {
  op_ctx ctx = op_ctx_cpu();
  float g[5] = {1.0f, -1.0f, 0.5f, 1.0f, -0.25f}, out = NAN, d = 0.6f;
  float dg[5] = {0.1f, 0.1f, 0.1f, 0.1f, 0.1f};
  tensor tg = tensor_1d(g, 5), to = tensor_1d(&out, 1), td = tensor_1d(&d, 1),
         tdg = tensor_1d(dg, 5);
  bn_max_abs_forward_cpu(&ctx, &tg, &to);
  CHECK(out == 1.0f, "max |gamma| = %g, want 1", out);
  bn_max_abs_backward_cpu(&ctx, &tg, &td, &tdg);
  /* three tied maxima (1, -1, 1) share 0.6; the sign follows gamma; accumulated onto 0.1 */
  const float want[5] = {0.3f, -0.1f, 0.1f, 0.3f, 0.1f};
  for (int i = 0; i < 5; i++) CHECK_CLOSE(dg[i], want[i], 1e-6, 0, "tied BN max-abs gradient");
  /* all ones (the state at initialisation): the gradient is split over every channel */
  float ones[4] = {1, 1, 1, 1}, d1[4] = {0};
  tensor t1 = tensor_1d(ones, 4), td1 = tensor_1d(d1, 4);
  bn_max_abs_backward_cpu(&ctx, &t1, &td, &td1);
  for (int i = 0; i < 4; i++) CHECK_CLOSE(d1[i], 0.15, 1e-7, 0, "gamma = 1 everywhere");
  /* all zero: max 0, no NaN, no gradient (sign 0) */
  float zeros[3] = {0, 0, 0}, d0[3] = {0};
  tensor tz = tensor_1d(zeros, 3), td0 = tensor_1d(d0, 3);
  bn_max_abs_forward_cpu(&ctx, &tz, &to);
  bn_max_abs_backward_cpu(&ctx, &tz, &td, &td0);
  CHECK(out == 0.0f && d0[0] == 0 && d0[1] == 0 && d0[2] == 0, "zero gamma");
  op_ctx_free(&ctx);
}

int main(void) {
  test_random_matrix();
  test_known_spectrum();
  test_floor();
  test_threads_bits();
  test_sigma_backward();
  test_bn_max_abs();
  return test_finish("test_spectral");
}
