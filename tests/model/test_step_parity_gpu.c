/* Whole-step parity of the CUDA backend with the CPU backend (issue #8, label gpu): the tiny
 * architecture with flows off and on (tests/model/model_test_archs.h), batch 4, the same Philox
 * initialisation and noise on both backends (Philox is keyed, not sequential), TF32 off:
 *   - one training step: loss terms within 1e-5 relative; the gradient arena
 *     ‖g_gpu − g_cpu‖ ≤ 1e-4‖g_cpu‖ + 1e-6·√n;
 *   - five Adamax steps on fresh batches, queued as the trainer queues them (no loss read-back
 *     after the first step; the non-finite count, gradient norm, clipping factor and gated update
 *     in the step values on the device): parameters within 1e-4 relative (‖·‖ of the arena),
 *     the gradient norm of step 1 within 1e-5 and the last step's loss terms within 1e-4.
 * The tolerances are those of the CPU-vs-PyTorch parity test (tests/model/test_model_parity.c).
 * Exit 77 (skipped) without a visible GPU or without the CUDA backend in this build: never a
 * pass that did not run. --cpu runs the CPU backend on both sides (the test's own plumbing). */
#include "kernels/backend.h"
#include "trainer/model_arch.h"
#include "tests/test_util.h"
#include "trainer/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B 4

static void make_batch(const model_arch *a, float *x, uint64_t seed) {
  int64_t n = (int64_t)B * a->image_channels * a->image_size * a->image_size;
  test_fill_uniform(x, n, 0.0f, 1.0f, seed, 7);
  for (int64_t i = 0; i < n; i++)
    x[i] = floorf(x[i] * 255.0f + 0.5f) / 255.0f;
}

/* ‖a − b‖ and ‖b‖ of two host arrays, in double. */
static void diff_norms(const float *a, const float *b, int64_t n, double *d, double *ref) {
  double s = 0, r = 0;
  for (int64_t i = 0; i < n; i++) {
    double t = (double)a[i] - (double)b[i];
    s += t * t;
    r += (double)b[i] * (double)b[i];
  }
  *d = sqrt(s);
  *ref = sqrt(r);
}

static float *arena_to_host(op_ctx *ctx, const float *arena, int64_t n) {
  float *h = malloc((size_t)n * sizeof(float));
  ctx->ops->to_host(ctx, h, arena, (size_t)n * sizeof(float));
  return h;
}

static void check_terms(const char *name, const model_losses *g, const model_losses *c) {
  const struct {
    const char *what;
    double a, b;
  } t[] = {{"loss", g->loss, c->loss},   {"recon", g->recon, c->recon}, {"kl", g->kl, c->kl},
           {"sr", g->sr, c->sr},         {"bnreg", g->bnreg, c->bnreg}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    double rel = fabs(t[i].a - t[i].b) / fmax(fabs(t[i].b), 1e-30);
    CHECK(rel <= 1e-5 || fabs(t[i].a - t[i].b) <= 1e-9, "%s: %s gpu %.9g cpu %.9g (rel %.3g)",
          name, t[i].what, t[i].a, t[i].b, rel);
  }
}

static int cpu_only; /* --cpu */

static void run_arch(const char *name, model_arch a) {
  op_ctx ctx[2];
  char err[256];
  ctx[0] = op_ctx_cpu();
  if (cpu_only) {
    ctx[1] = op_ctx_cpu();
  } else if (op_ctx_for_device(DEVICE_CUDA, 0, &ctx[1], err, sizeof err)) {
    printf("%s: %s\n", name, err);
    return;
  }
  ctx[1].allow_tf32 = 0;
  model_options opt = {0};
  opt.max_batch = B;
  opt.dmol_upper_edge = 0.99f;
  opt.num_x_bits = 8;
  model *m[2] = {NULL, NULL};
  nvae_err e = {0};
  for (int k = 0; k < 2; k++) {
    int rc = model_create(&a, &opt, &ctx[k], &m[k], &e);
    CHECK(rc == 0, "%s: model_create on %s: %s", name, k ? "cuda" : "cpu", e.msg);
    if (rc) return;
    model_init_params(m[k], 1);
  }
  const registry *r = model_registry(m[0]);
  const int64_t n = r->param_arena_numel;
  const int64_t npix = (int64_t)B * a.image_channels * a.image_size * a.image_size;
  float *x = malloc((size_t)npix * sizeof(float));
  uint32_t keys[B];
  for (int i = 0; i < B; i++)
    keys[i] = (uint32_t)i;
  model_objective ob = {0.5, 1, 0.1, 4, 1};
  model_losses L[2];
  adamax_params ap = {1e-3, 0.9, 0.999, 1e-3, 3e-4, 0, NULL};
  float *opt_m[2], *opt_u[2];
  for (int k = 0; k < 2; k++) {
    opt_m[k] = ctx[k].ops->alloc((size_t)n * sizeof(float));
    opt_u[k] = ctx[k].ops->alloc((size_t)n * sizeof(float));
    ctx[k].ops->zero(&ctx[k], opt_m[k], (size_t)n * sizeof(float));
    ctx[k].ops->zero(&ctx[k], opt_u[k], (size_t)n * sizeof(float));
  }
  const double grad_clip = 1e30; /* the gate's arithmetic runs; no clipping: parity of the update */
  for (int step = 0; step < 6; step++) {
    make_batch(&a, x, 100 + (uint64_t)step);
    model_batch mb = {x, B, keys, 5, (uint32_t)step};
    for (int k = 0; k < 2; k++)
      model_train_step(m[k], &ctx[k], &mb, &ob, step == 0 ? &L[k] : NULL);
    if (step == 0) { /* one step: loss terms and the gradient */
      check_terms(name, &L[1], &L[0]);
      float *gg = arena_to_host(&ctx[1], model_grads(m[1]), n);
      float *gc = arena_to_host(&ctx[0], model_grads(m[0]), n);
      double d, ref;
      diff_norms(gg, gc, n, &d, &ref);
      CHECK(d <= 1e-4 * ref + 1e-6 * sqrt((double)n),
            "%s: gradient ||g_gpu - g_cpu|| %.3g > 1e-4 ||g_cpu|| (%.3g) + 1e-6 sqrt(n)", name, d,
            ref);
      printf("%s: step 1: loss gpu %.9g cpu %.9g; gradient diff %.3g of norm %.3g (n %lld)\n",
             name, L[1].loss, L[0].loss, d, ref, (long long)n);
      free(gg);
      free(gc);
    }
    if (step == 5) break; /* five updates: after steps 0..4 */
    double head[2][STEPV_HEAD];
    for (int k = 0; k < 2; k++) { /* the trainer's update, queued (train.c, train_optim.c) */
      const op_backend *o = ctx[k].ops;
      double *v = model_step_values(m[k]);
      tensor p = tensor_on(tensor_1d(model_params(m[k]), n), ctx[k].device);
      tensor g = tensor_on(tensor_1d(model_grads(m[k]), n), ctx[k].device);
      tensor mm = tensor_on(tensor_1d(opt_m[k], n), ctx[k].device);
      tensor uu = tensor_on(tensor_1d(opt_u[k], n), ctx[k].device);
      o->reduce_to_scalar(&ctx[k], &g, SCALAR_NONFINITE, 1.0, v + STEPV_BAD);
      o->reduce_to_scalar(&ctx[k], &g, SCALAR_SQUARE, 1.0, v + STEPV_GNORM_SQ);
      o->optim_gate(&ctx[k], grad_clip, v);
      ap.step = step + 1;
      ap.gate = v + STEPV_BAD;
      o->adamax_step(&ctx[k], &ap, &p, &g, &mm, &uu);
      o->to_host(&ctx[k], head[k], v, sizeof head[k]);
    }
    CHECK(head[0][STEPV_BAD] == 0 && head[1][STEPV_BAD] == 0 && head[1][STEPV_SCALE] == 1.0,
          "%s: step %d: non-finite count gpu %g cpu %g, scale %g", name, step + 1,
          head[1][STEPV_BAD], head[0][STEPV_BAD], head[1][STEPV_SCALE]);
    const double gn = fabs(head[1][STEPV_GNORM] - head[0][STEPV_GNORM]) / head[0][STEPV_GNORM];
    CHECK(step > 0 || gn <= 1e-5, "%s: gradient norm gpu %.9g cpu %.9g", name,
          head[1][STEPV_GNORM], head[0][STEPV_GNORM]);
    if (step == 4) { /* the last step's terms, read from the step values (no model_losses) */
      const int idx[] = {STEPV_LOSS, STEPV_RECON, STEPV_KL, STEPV_SR, STEPV_BNREG};
      for (int i = 0; i < 5; i++) {
        double a0 = head[0][idx[i]], a1 = head[1][idx[i]];
        CHECK(fabs(a1 - a0) <= 1e-4 * fabs(a0) + 1e-9, "%s: step 5 value %d: gpu %.9g cpu %.9g",
              name, idx[i], a1, a0);
      }
    }
  }
  float *pg = arena_to_host(&ctx[1], model_params(m[1]), n);
  float *pc = arena_to_host(&ctx[0], model_params(m[0]), n);
  double d, ref;
  diff_norms(pg, pc, n, &d, &ref);
  CHECK(d <= 1e-4 * ref, "%s: parameters after 5 steps: ||p_gpu - p_cpu|| %.3g > 1e-4 x %.3g",
        name, d, ref);
  printf("%s: after 5 Adamax steps: parameter diff %.3g of norm %.3g\n", name, d, ref);
  free(pg);
  free(pc);
  free(x);
  for (int k = 0; k < 2; k++) {
    ctx[k].ops->free(opt_m[k]);
    ctx[k].ops->free(opt_u[k]);
    model_free(m[k]);
    op_ctx_free(&ctx[k]);
  }
}

int main(int argc, char **argv) {
  cpu_only = argc > 1 && !strcmp(argv[1], "--cpu");
  if (!cpu_only && op_device_count(DEVICE_CUDA) < 1)
    return test_skip("test_step_parity_gpu", "no CUDA device visible (or no CUDA backend built)");
  const char *names[] = {"tiny", "tiny-nf"}; /* flows off and on */
  for (int i = 0; i < 2; i++) {
    model_arch a;
    nvae_err e = {0};
    CHECK(model_arch_preset(names[i], &a, &e) == 0, "%s: %s", names[i], e.msg);
    run_arch(names[i], a);
  }
  return test_finish("test_step_parity_gpu");
}
