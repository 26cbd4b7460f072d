/* The step-value ops (kernels/cpu/objective.c) and the optimizers' gate (optim.c) against
 * straightforward double computations: reductions of every mode with accumulation into a non-zero
 * value and across block boundaries, the fill, KL balancing (NVAE.md §3.3) and the loss terms,
 * the clipping factor of torch.nn.utils.clip_grad_norm_, and gated Adamax/Adam (skip leaves
 * every buffer untouched; a scale equals the ungated update of scaled gradients, bit for bit). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/objective.h"
#include "kernels/cpu/optim.h"
#include "tests/test_util.h"

static void check_reduce(op_ctx *ctx, int64_t n) {
  float *x = malloc((size_t)n * sizeof(float));
  test_fill_uniform(x, n, -3, 3, 7, (uint32_t)n);
  if (n > 5) x[5] = NAN;
  if (n > 30) x[n - 1] = INFINITY;
  tensor t = tensor_1d(x, n);
  for (int f = SCALAR_SUM; f <= SCALAR_COUNT; f++) {
    double ref = 0;
    int finite = 1;
    for (int64_t i = 0; i < n; i++) {
      double v = x[i];
      double r = f == SCALAR_SUM      ? v
                 : f == SCALAR_ABS    ? fabs(v)
                 : f == SCALAR_SQUARE ? v * v
                 : f == SCALAR_COUNT  ? 1.0
                                      : (isfinite(x[i]) ? 0.0 : 1.0);
      if (!isfinite(r)) finite = 0;
      ref += r;
    }
    double out = 2.5; /* accumulates */
    reduce_to_scalar_cpu(ctx, &t, (scalar_reduce)f, -0.5, &out);
    double want = 2.5 - 0.5 * ref;
    if (!finite || !isfinite(want)) {
      CHECK(!isfinite(out), "reduce mode %d n %lld: %g, expected non-finite", f, (long long)n, out);
    } else {
      CHECK_CLOSE(out, want, 1e-12, 1e-12, "reduce_to_scalar");
    }
  }
  /* exact values: the non-finite count and the element count */
  double bad = 0, count = 0;
  reduce_to_scalar_cpu(ctx, &t, SCALAR_NONFINITE, 1.0, &bad);
  reduce_to_scalar_cpu(ctx, &t, SCALAR_COUNT, 1.0, &count);
  CHECK(bad == (n > 30 ? 2 : n > 5 ? 1 : 0), "non-finite count %g for n %lld", bad, (long long)n);
  CHECK(count == (double)n, "count %g for n %lld", count, (long long)n);
  free(x);
}

static void check_fill(op_ctx *ctx) {
  float y[7];
  tensor t = tensor_1d(y, 7);
  double s = 3.0;
  fill_from_scalar_cpu(ctx, &s, -0.25, &t);
  for (int i = 0; i < 7; i++) CHECK(y[i] == -0.75f, "fill [%d] = %g", i, y[i]);
  fill_from_scalar_cpu(ctx, NULL, 1.0 / 3.0, &t);
  for (int i = 0; i < 7; i++) CHECK(y[i] == (float)(1.0 / 3.0), "fill NULL [%d] = %g", i, y[i]);
}

static void check_combine(op_ctx *ctx, int N, int balance) {
  double *v = calloc((size_t)STEPV_LEN(N), sizeof(double));
  double alpha[8], klm[8], kla[8];
  v[STEPV_RECON] = 123.25;
  v[STEPV_SR] = 4.5;
  v[STEPV_BNREG] = 2.0;
  v[STEPV_COUNT(N)] = 32;
  for (int g = 0; g < N; g++) {
    alpha[g] = 1.0 + g * 0.75;
    klm[g] = 0.5 + 3.0 * g;
    kla[g] = 32 * (0.6 + 3.0 * g);
    v[STEPV_ALPHA(N, g)] = alpha[g];
    v[STEPV_KL_MEAN(N, g)] = klm[g];
    v[STEPV_KL_ABS(N, g)] = kla[g];
  }
  objective_params p = {N, balance, 0.3, 0.01, 3 * 32 * 32};
  objective_combine_cpu(ctx, &p, v);
  double r[8], mean = 0;
  for (int g = 0; g < N; g++) {
    r[g] = balance ? (kla[g] / 32 + 0.01) / alpha[g] : 1.0;
    mean += r[g] / N;
  }
  double kl = 0, klw = 0;
  for (int g = 0; g < N; g++) {
    double gam = balance ? r[g] / mean : 1.0;
    CHECK_CLOSE(v[STEPV_GAMMA(N, g)], gam, 0, 1e-14, "gamma");
    kl += klm[g];
    klw += gam * klm[g];
  }
  CHECK_CLOSE(v[STEPV_KL], kl, 0, 1e-14, "kl");
  CHECK_CLOSE(v[STEPV_NELBO], 123.25 + kl, 0, 1e-14, "nelbo");
  CHECK_CLOSE(v[STEPV_BPD], (123.25 + kl) / (3 * 32 * 32 * log(2.0)), 0, 1e-14, "bpd");
  CHECK_CLOSE(v[STEPV_LOSS], 123.25 + 0.3 * klw + 0.01 * 6.5, 0, 1e-14, "loss");
  free(v);
}

static void check_gate(op_ctx *ctx) {
  double v[STEPV_HEAD] = {0};
  v[STEPV_GNORM_SQ] = 25.0;
  optim_gate_cpu(ctx, 0.0, v);
  CHECK(v[STEPV_GNORM] == 5.0 && v[STEPV_SCALE] == 1.0, "no clip: norm %g scale %g",
        v[STEPV_GNORM], v[STEPV_SCALE]);
  optim_gate_cpu(ctx, 10.0, v);
  CHECK(v[STEPV_SCALE] == 1.0, "norm below the clip: scale %g", v[STEPV_SCALE]);
  optim_gate_cpu(ctx, 2.0, v);
  CHECK(v[STEPV_SCALE] == (double)(float)(2.0 / (5.0 + 1e-6)), "clip: scale %.17g",
        v[STEPV_SCALE]);
}

enum { NO = 1000 };

static void check_gated_optim(op_ctx *ctx, int adam) {
  float th[3][NO], g[NO], gs[NO], m[3][NO], s[3][NO];
  test_fill_uniform(g, NO, -1, 1, 3, 1);
  for (int k = 0; k < 3; k++) {
    test_fill_uniform(th[k], NO, -1, 1, 3, 2);
    test_fill_uniform(m[k], NO, -0.1f, 0.1f, 3, 3);
    test_fill_uniform(s[k], NO, 0.01f, 0.1f, 3, 4);
  }
  const float scale = (float)(2.0 / 3.0);
  for (int i = 0; i < NO; i++) gs[i] = g[i] * scale;
  double skip[2] = {1.0, 1.0}, half[2] = {0.0, 2.0 / 3.0};
  tensor tg = tensor_1d(g, NO), tgs = tensor_1d(gs, NO);
  tensor t[3], tm[3], ts[3];
  for (int k = 0; k < 3; k++)
    t[k] = tensor_1d(th[k], NO), tm[k] = tensor_1d(m[k], NO), ts[k] = tensor_1d(s[k], NO);
  float before[NO];
  memcpy(before, th[0], sizeof before);
  if (adam) {
    adam_params a = {1e-2, 0.9, 0.999, 1e-8, 3e-4, 3, skip};
    adam_step_cpu(ctx, &a, &t[0], &tg, &tm[0], &ts[0]);
    a.gate = half;
    adam_step_cpu(ctx, &a, &t[1], &tg, &tm[1], &ts[1]);
    a.gate = NULL;
    adam_step_cpu(ctx, &a, &t[2], &tgs, &tm[2], &ts[2]);
  } else {
    adamax_params a = {1e-2, 0.9, 0.999, 1e-3, 3e-4, 3, skip};
    adamax_step_cpu(ctx, &a, &t[0], &tg, &tm[0], &ts[0]);
    a.gate = half;
    adamax_step_cpu(ctx, &a, &t[1], &tg, &tm[1], &ts[1]);
    a.gate = NULL;
    adamax_step_cpu(ctx, &a, &t[2], &tgs, &tm[2], &ts[2]);
  }
  CHECK(!memcmp(before, th[0], sizeof before), "%s: a skipped update changed parameters",
        adam ? "adam" : "adamax");
  CHECK(!memcmp(th[1], th[2], sizeof th[1]) && !memcmp(m[1], m[2], sizeof m[1]) &&
            !memcmp(s[1], s[2], sizeof s[1]),
        "%s: gate scale differs from scaled gradients", adam ? "adam" : "adamax");
}

int main(void) {
  op_ctx ctx = op_ctx_cpu();
  const int64_t sizes[] = {1, 37, 8192, 3 * 8192 + 5};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) check_reduce(&ctx, sizes[i]);
  check_fill(&ctx);
  for (int N = 1; N <= 5; N += 4)
    for (int b = 0; b <= 1; b++) check_combine(&ctx, N, b);
  check_gate(&ctx);
  check_gated_optim(&ctx, 0);
  check_gated_optim(&ctx, 1);
  op_ctx_free(&ctx);
  return test_finish("test_objective");
}
