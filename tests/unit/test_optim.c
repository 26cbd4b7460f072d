/* Optimizer steps and gradient statistics (kernels/cpu/optim.c) against straightforward
 * double-precision implementations of NVAE.md §4.1 (Adamax) and torch.optim.Adam, over several
 * steps; hand-computed first steps; grad norm and non-finite count with NaN/Inf injected; the same
 * bits for one and two threads. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/cpu/optim.h"
#include "tests/test_util.h"

#define N 4099 /* odd, and not a multiple of any block size */
#define STEPS 6

typedef struct opt_ref {
  double *th, *m, *s;
} opt_ref;

static double rel_l2(const float *a, const double *b, int64_t n) {
  return test_rel_err_fd(a, b, n);
}

/* Adamax, NVAE.md §4.1, in double. */
static void adamax_ref_step(const adamax_params *p, opt_ref *r, const float *g32, int64_t n) {
  double clr = p->lr / (1.0 - pow(p->beta1, p->step));
  for (int64_t i = 0; i < n; i++) {
    double g = g32[i] + p->weight_decay * r->th[i];
    r->m[i] = p->beta1 * r->m[i] + (1 - p->beta1) * g;
    r->s[i] = fmax(p->beta2 * r->s[i], fabs(g) + p->eps);
    r->th[i] -= clr * r->m[i] / r->s[i];
  }
}

/* torch.optim.Adam with L2 weight decay, in double. */
static void adam_ref_step(const adam_params *p, opt_ref *r, const float *g32, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    double g = g32[i] + p->weight_decay * r->th[i];
    r->m[i] = p->beta1 * r->m[i] + (1 - p->beta1) * g;
    r->s[i] = p->beta2 * r->s[i] + (1 - p->beta2) * g * g;
    double mhat = r->m[i] / (1 - pow(p->beta1, p->step));
    double vhat = r->s[i] / (1 - pow(p->beta2, p->step));
    r->th[i] -= p->lr * mhat / (sqrt(vhat) + p->eps);
  }
}

/* Gradients of step k: a mix of scales, and a stretch of exact zeros (so u decays to eps). */
static void make_grad(float *g, int64_t n, int k) {
  test_fill_uniform(g, n, -1, 1, 42, 10u + (uint32_t)k);
  for (int64_t i = 0; i < n; i++) g[i] *= (i % 3 == 0) ? 1e-3f : (i % 3 == 1 ? 0.1f : 2.0f);
  for (int64_t i = 100; i < 200; i++) g[i] = 0;
}

static void run_multi_step(int use_adam) {
  float *th = malloc(N * sizeof(float)), *th0 = malloc(N * sizeof(float));
  float *m = calloc(N, sizeof(float)), *s = calloc(N, sizeof(float)),
        *g = malloc(N * sizeof(float));
  opt_ref r = {malloc(N * sizeof(double)), calloc(N, sizeof(double)), calloc(N, sizeof(double))};
  test_fill_uniform(th, N, -1, 1, 42, 1);
  memcpy(th0, th, N * sizeof(float));
  for (int i = 0; i < N; i++) r.th[i] = th[i];
  tensor tth = tensor_1d(th, N), tg = tensor_1d(g, N), tm = tensor_1d(m, N), ts = tensor_1d(s, N);
  op_ctx ctx = op_ctx_cpu();
  for (int k = 1; k <= STEPS; k++) {
    make_grad(g, N, k);
    if (use_adam) {
      adam_params p = {1e-2, 0.9, 0.999, 1e-8, 3e-4, k, NULL};
      adam_step_cpu(&ctx, &p, &tth, &tg, &tm, &ts);
      adam_ref_step(&p, &r, g, N);
    } else {
      adamax_params p = {1e-2, 0.9, 0.999, 1e-3, 3e-4, k, NULL};
      adamax_step_cpu(&ctx, &p, &tth, &tg, &tm, &ts);
      adamax_ref_step(&p, &r, g, N);
    }
  }
  /* compare the CHANGE of the parameters (theta itself would hide errors in small updates) */
  double *dref = malloc(N * sizeof(double));
  float *dgot = malloc(N * sizeof(float));
  for (int i = 0; i < N; i++) dref[i] = r.th[i] - th0[i], dgot[i] = th[i] - th0[i];
  const char *name = use_adam ? "adam" : "adamax";
  double e_th = rel_l2(dgot, dref, N), e_m = rel_l2(m, r.m, N), e_s = rel_l2(s, r.s, N);
  CHECK(e_th < 1e-5, "%s: %d steps, parameter change rel err %.3g", name, STEPS, e_th);
  CHECK(e_m < 1e-6, "%s: first moment rel err %.3g", name, e_m);
  CHECK(e_s < 1e-6, "%s: second state rel err %.3g", name, e_s);
  printf("%s: %d steps: rel err dtheta %.2e, m %.2e, state %.2e\n", name, STEPS, e_th, e_m, e_s);
  if (!use_adam) /* zero gradients, zero weight decay: u = max(b2 u, 0 + eps) >= eps */
    for (int i = 100; i < 200; i++)
      CHECK(s[i] >= 1e-3f * 0.9999f, "adamax u[%d] = %g < eps", i, s[i]);
  op_ctx_free(&ctx);
  free(th), free(th0), free(m), free(s), free(g), free(r.th), free(r.m), free(r.s), free(dref);
  free(dgot);
}

/* First steps by hand. */
static void test_first_steps(void) {
  op_ctx ctx = op_ctx_cpu();
  /* Adamax, lr 0.01, no decay: m = 0.1 g, u = |g| + eps, theta -= lr / 0.1 * m / u */
  float th[3] = {0.5f, -0.25f, 1.0f}, g[3] = {0.2f, -0.004f, 0.0f}, m[3] = {0}, u[3] = {0};
  tensor tt = tensor_1d(th, 3), tg = tensor_1d(g, 3), tm = tensor_1d(m, 3), tu = tensor_1d(u, 3);
  adamax_params p = {0.01, 0.9, 0.999, 1e-3, 0.0, 1, NULL};
  adamax_step_cpu(&ctx, &p, &tt, &tg, &tm, &tu);
  CHECK_CLOSE(th[0], 0.5 - 0.01 * 0.2 / 0.201, 1e-7, 0, "adamax step 1, theta[0]");
  CHECK_CLOSE(th[1], -0.25 + 0.01 * 0.004 / 0.005, 1e-7, 0, "adamax step 1, theta[1]");
  CHECK_CLOSE(th[2], 1.0, 0, 0, "adamax step 1, zero gradient leaves theta");
  CHECK_CLOSE(u[2], 1e-3, 1e-10, 0, "adamax: eps inside the max (u of a zero gradient)");
  /* step 2 with a large old u: u = b2 u wins the max */
  u[0] = 10.0f;
  float m0 = m[0], th0 = th[0];
  p.step = 2;
  adamax_step_cpu(&ctx, &p, &tt, &tg, &tm, &tu);
  double m_exp = 0.9 * m0 + 0.1 * 0.2;
  CHECK_CLOSE(u[0], 9.99, 1e-5, 0, "adamax: u = b2 u when larger");
  CHECK_CLOSE(th[0], th0 - 0.01 / (1 - 0.81) * m_exp / 9.99, 1e-7, 0, "adamax step 2, theta[0]");
  /* coupled weight decay enters g: theta 2, g 0, wd 0.5 -> g = 1 */
  float th2 = 2.0f, g2 = 0.0f, m2 = 0, u2 = 0;
  tensor a = tensor_1d(&th2, 1), b = tensor_1d(&g2, 1), c = tensor_1d(&m2, 1),
         d = tensor_1d(&u2, 1);
  adamax_params pw = {0.01, 0.9, 0.999, 1e-3, 0.5, 1, NULL};
  adamax_step_cpu(&ctx, &pw, &a, &b, &c, &d);
  CHECK_CLOSE(m2, 0.1, 1e-7, 0, "adamax: coupled weight decay in m");
  CHECK_CLOSE(th2, 2.0 - 0.01 * 1.0 / 1.001, 1e-7, 0, "adamax: coupled weight decay in theta");
  CHECK(g2 == 0.0f, "adamax must not modify the gradient buffer");

  /* Adam step 1: m^ = g, v^ = g^2, theta -= lr g / (|g| + eps) */
  float ta[2] = {0.5f, -1.0f}, ga[2] = {0.3f, -0.02f}, ma[2] = {0}, va[2] = {0};
  tensor xa = tensor_1d(ta, 2), xg = tensor_1d(ga, 2), xm = tensor_1d(ma, 2), xv = tensor_1d(va, 2);
  adam_params q = {0.001, 0.9, 0.999, 1e-3, 0.0, 1, NULL};
  adam_step_cpu(&ctx, &q, &xa, &xg, &xm, &xv);
  CHECK_CLOSE(ta[0], 0.5 - 0.001 * 0.3 / 0.301, 1e-7, 0, "adam step 1, theta[0]");
  CHECK_CLOSE(ta[1], -1.0 + 0.001 * 0.02 / 0.021, 1e-7, 0, "adam step 1, theta[1]");
  CHECK_CLOSE(va[0], 0.001 * 0.09, 1e-10, 1e-6, "adam step 1, v[0]");
  op_ctx_free(&ctx);
}

static void test_stats(void) {
  op_ctx ctx = op_ctx_cpu();
  int64_t n = 100000;
  float *x = malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++) x[i] = (float)(i + 1);
  tensor t = tensor_1d(x, n);
  double want = (double)n * (n + 1) * (2 * n + 1) / 6; /* exact in double */
  CHECK(grad_norm_sq_cpu(&ctx, &t) == want, "grad_norm_sq of 1..n: %.17g vs %.17g",
        grad_norm_sq_cpu(&ctx, &t), want);
  CHECK(nonfinite_count_cpu(&ctx, &t) == 0, "no non-finite in 1..n");

  /* the same bits for any thread count */
  test_fill_uniform(x, n, -3, 3, 7, 1);
  double one = 0, two = 0;
#ifdef _OPENMP
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  one = grad_norm_sq_cpu(&ctx, &t);
  omp_set_num_threads(2);
  two = grad_norm_sq_cpu(&ctx, &t);
  omp_set_num_threads(saved);
#else
  one = two = grad_norm_sq_cpu(&ctx, &t);
#endif
  CHECK(memcmp(&one, &two, sizeof one) == 0,
        "grad_norm_sq differs with 1 and 2 threads: %.17g %.17g", one, two);

  /* NaN / Inf injected */
  x[17] = NAN;
  x[n - 1] = INFINITY;
  x[5000] = -INFINITY;
  x[6000] = FLT_MAX;        /* finite: not counted */
  x[7000] = FLT_MIN / 4.0f; /* subnormal: finite */
  CHECK(nonfinite_count_cpu(&ctx, &t) == 3, "nonfinite count %lld, want 3",
        (long long)nonfinite_count_cpu(&ctx, &t));
  CHECK(!isfinite(grad_norm_sq_cpu(&ctx, &t)), "grad_norm_sq with NaN/Inf must be non-finite");
  x[17] = 0, x[n - 1] = 0, x[5000] = 0;
  CHECK(nonfinite_count_cpu(&ctx, &t) == 0, "nonfinite count after repair");
  /* FLT_MAX^2 overflows float but not the double accumulator */
  CHECK(isfinite(grad_norm_sq_cpu(&ctx, &t)), "grad_norm_sq accumulates in double");
  tensor empty = tensor_1d(x, 0);
  CHECK(grad_norm_sq_cpu(&ctx, &empty) == 0.0, "grad_norm_sq of nothing");
  free(x);
  op_ctx_free(&ctx);
}

int main(void) {
  run_multi_step(0);
  run_multi_step(1);
  test_first_steps();
  test_stats();
  return test_finish("test_optim");
}
