#define _POSIX_C_SOURCE 199309L
/* Smoke test of the NVAE model (trainer/model.h) on the CPU backend: for the tiny (DMOL), tiny-nf
 * (DMOL + flows) and fmnist-small (Bernoulli, 28×28 in 32×32) architectures: create, init, one
 * training step on random data with finite losses of plausible size, a few Adamax steps on one
 * batch lowering the loss, evaluation and reconstruction, prior samples in [0,1]. */
#include "kernels/backend.h"
#include "tests/model/model_test_archs.h"
#include "tests/test_util.h"
#include "trainer/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Random batch: DMOL data on the 8-bit grid, Bernoulli data binary inside the 28×28 window. */
static void make_batch(const model_arch *a, int B, float *x, uint64_t seed) {
  int64_t n = (int64_t)B * a->image_channels * a->image_size * a->image_size;
  test_fill_uniform(x, n, 0.0f, 1.0f, seed, 7);
  for (int64_t i = 0; i < n; i++) {
    if (a->decoder == MODEL_DECODER_BERNOULLI) {
      int64_t p = i % (a->image_size * a->image_size);
      int r = (int)(p / a->image_size), c = (int)(p % a->image_size);
      int inside = r >= 2 && r < 30 && c >= 2 && c < 30;
      x[i] = inside && x[i] < 0.3f ? 1.0f : 0.0f;
    } else {
      x[i] = floorf(x[i] * 255.0f + 0.5f) / 255.0f;
    }
  }
}

static void run_arch(const char *name, model_arch a, int B, int adamax_steps) {
  printf("== %s (batch %d)\n", name, B);
  op_ctx ctx = op_ctx_cpu();
  model_options opt = {0};
  opt.max_batch = B;
  opt.dmol_upper_edge = 0.99f;
  opt.num_x_bits = 8;
  if (a.decoder == MODEL_DECODER_BERNOULLI) {
    opt.crop_y0 = opt.crop_x0 = 2;
    opt.crop_h = opt.crop_w = 28;
  }
  model *m = NULL;
  nvae_err e = {0};
  int rc = model_create(&a, &opt, &ctx, &m, &e);
  CHECK(rc == 0, "%s: model_create: %s", name, e.msg);
  if (rc) return;
  model_init_params(m, 1);
  const registry *r = model_registry(m);
  int64_t npix = (int64_t)B * a.image_channels * a.image_size * a.image_size;
  float *x = malloc((size_t)npix * sizeof(float));
  make_batch(&a, B, x, 3);
  uint32_t keys[256];
  for (int i = 0; i < B; i++)
    keys[i] = (uint32_t)i;
  model_batch b = {x, B, keys, 1, 0};
  model_objective o = {1e-3, 1, 0.01, 4, 0};
  model_losses L;
  double t0 = now_s();
  model_train_step(m, &ctx, &b, &o, &L);
  double dt = now_s() - t0;
  printf("  step %.3f s: loss %.3f recon %.3f kl %.3f sr %.3f bnreg %.3f bpd %.3f\n", dt, L.loss,
         L.recon, L.kl, L.sr, L.bnreg, L.bpd);
  CHECK(isfinite(L.loss) && isfinite(L.recon) && isfinite(L.kl) && isfinite(L.sr),
        "%s: non-finite losses", name);
  CHECK(L.recon > 0 && L.kl > 0 && L.sr > 0, "%s: implausible terms", name);
  CHECK(fabs(L.bnreg - r->n_bns) < 1e-6, "%s: BNreg %.6f at init, expected %d", name, L.bnreg,
        r->n_bns);
  CHECK(L.n_groups == r->n_groups, "%s: %d groups", name, L.n_groups);
  /* gradient present and finite */
  float *g = model_grads(m);
  double gn = 0;
  for (int64_t i = 0; i < r->param_arena_numel; i++)
    gn += (double)g[i] * g[i];
  CHECK(isfinite(gn) && gn > 0, "%s: gradient norm² %g", name, gn);

  /* Adamax on one batch lowers the loss */
  float *mom = calloc((size_t)r->param_arena_numel, sizeof(float));
  float *u = calloc((size_t)r->param_arena_numel, sizeof(float));
  tensor tp = tensor_1d(model_params(m), r->param_arena_numel);
  tensor tg = tensor_1d(model_grads(m), r->param_arena_numel);
  tensor tm = tensor_1d(mom, r->param_arena_numel), tu = tensor_1d(u, r->param_arena_numel);
  double first = L.loss, last = L.loss;
  for (int s = 1; s <= adamax_steps; s++) {
    adamax_params ap = {2e-3, 0.9, 0.999, 1e-3, 3e-4, s, NULL};
    ctx.ops->adamax_step(&ctx, &ap, &tp, &tg, &tm, &tu);
    b.step = (uint32_t)s;
    b.step = 0; /* same ε: the loss of one fixed problem */
    model_train_step(m, &ctx, &b, &o, &L);
    last = L.loss;
  }
  printf("  %d Adamax steps: loss %.3f -> %.3f\n", adamax_steps, first, last);
  CHECK(isfinite(last) && last < first, "%s: loss did not decrease (%.4f -> %.4f)", name, first,
        last);

  /* evaluation */
  double nelbo[256], logpx[256];
  model_eval_batch(m, &ctx, &b, 3, nelbo, logpx);
  /* With flows the KL is log q − log p at the sample, so nelbo_k = −log w_k and Jensen gives
   * −log p̂ ≤ mean_k nelbo_k exactly; the analytic KL breaks that identity. */
  for (int i = 0; i < B; i++) {
    CHECK(isfinite(nelbo[i]) && isfinite(logpx[i]), "%s: eval image %d: nelbo %.3f, -log p %.3f",
          name, i, nelbo[i], -logpx[i]);
    if (a.num_nf > 0)
      CHECK(-logpx[i] <= nelbo[i] * (1 + 1e-6), "%s: image %d: -log p %.4f > nelbo %.4f", name, i,
            -logpx[i], nelbo[i]);
  }
  printf("  eval: nelbo %.3f  -log p (3 IW) %.3f\n", nelbo[0], -logpx[0]);
  float *img = malloc((size_t)npix * sizeof(float));
  model_reconstruct(m, &ctx, &b, img);
  int ok = 1;
  for (int64_t i = 0; i < npix; i++)
    ok &= img[i] >= 0.0f && img[i] <= 1.0f;
  CHECK(ok, "%s: reconstruction outside [0,1]", name);
  model_sample(m, &ctx, B, 0.7f, 5, 0, img);
  ok = 1;
  for (int64_t i = 0; i < npix; i++)
    ok &= img[i] >= 0.0f && img[i] <= 1.0f;
  CHECK(ok, "%s: samples outside [0,1]", name);
  model_readjust_bn(m, &ctx, 2, B, 0.7f, 5);
  model_sample(m, &ctx, B, 0.7f, 5, 0, img);
  ok = 1;
  for (int64_t i = 0; i < npix; i++)
    ok &= isfinite(img[i]) && img[i] >= 0.0f && img[i] <= 1.0f;
  CHECK(ok, "%s: samples after BN re-adjustment outside [0,1]", name);
  free(img);
  free(mom);
  free(u);
  free(x);
  model_free(m);
  op_ctx_free(&ctx);
}

/* Hooks of a one-rank "world": the all-reduce is the identity, so results must equal the
 * hook-free run bit for bit; the call count shows that sync-BN and global KL balancing use them.
 * The second model is built for a larger batch than it is given. */
static int hook_calls;
static void identity_allreduce(void *arg, double *buf, int n) {
  (void)arg;
  (void)buf;
  (void)n;
  hook_calls++;
}

static void run_hooks(void) {
  model_arch a;
  nvae_err e = {0};
  model_arch_preset("tiny", &a, &e);
  op_ctx ctx = op_ctx_cpu();
  model_options opt = {0};
  opt.max_batch = 2;
  model *m[2] = {NULL, NULL};
  for (int k = 0; k < 2; k++) {
    if (k == 1) { /* also a larger arena than the batch: views must not depend on it */
      opt.max_batch = 5;
      opt.sync_bn = opt.kl_balance_global = 1;
      opt.hooks.allreduce_sum = identity_allreduce;
    }
    NVAE_ASSERT(model_create(&a, &opt, &ctx, &m[k], &e) == 0, "%s", e.msg);
    model_init_params(m[k], 3);
  }
  int64_t npix = 2 * 3 * 32 * 32;
  float *x = malloc((size_t)npix * sizeof(float));
  make_batch(&a, 2, x, 4);
  uint32_t keys[2] = {7, 8};
  model_batch b = {x, 2, keys, 9, 1};
  model_objective o = {0.5, 1, 0.01, 4, 0};
  model_losses L[2];
  hook_calls = 0;
  model_train_step(m[0], &ctx, &b, &o, &L[0]);
  CHECK(hook_calls == 0, "hooks called without being set");
  model_train_step(m[1], &ctx, &b, &o, &L[1]);
  const registry *r = model_registry(m[0]);
  /* forward and backward of every BN, plus one KL-balancing reduction */
  CHECK(hook_calls == 2 * r->n_bns + 1, "%d hook calls, expected %d", hook_calls, 2 * r->n_bns + 1);
  CHECK(L[0].loss == L[1].loss, "loss with identity hooks %.9g vs %.9g", L[1].loss, L[0].loss);
  CHECK(memcmp(model_grads(m[0]), model_grads(m[1]),
               (size_t)r->param_arena_numel * sizeof(float)) == 0,
        "gradients differ with identity hooks");
  printf("== hooks: %d all-reduce calls, results identical\n", hook_calls);
  free(x);
  model_free(m[0]);
  model_free(m[1]);
  op_ctx_free(&ctx);
}

/* --bench: median wall and process CPU time of a training step (forward, objective, backward,
 * Adamax) of fmnist-small at batch 32 (compare: tests/reference/test_reference.py --bench). */
static int bench(int B, int steps) {
  model_arch a = model_test_fmnist_small();
  op_ctx ctx = op_ctx_cpu();
  model_options opt = {0};
  opt.max_batch = B;
  opt.crop_y0 = opt.crop_x0 = 2;
  opt.crop_h = opt.crop_w = 28;
  model *m = NULL;
  nvae_err e = {0};
  if (model_create(&a, &opt, &ctx, &m, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  model_init_params(m, 1);
  const registry *r = model_registry(m);
  int64_t npix = (int64_t)B * 32 * 32, n = r->param_arena_numel;
  float *x = malloc((size_t)npix * sizeof(float));
  make_batch(&a, B, x, 3);
  uint32_t *keys = malloc((size_t)B * sizeof(uint32_t));
  for (int i = 0; i < B; i++)
    keys[i] = (uint32_t)i;
  float *mom = calloc((size_t)n, sizeof(float)), *u = calloc((size_t)n, sizeof(float));
  tensor tp = tensor_1d(model_params(m), n), tg = tensor_1d(model_grads(m), n);
  tensor tm = tensor_1d(mom, n), tu = tensor_1d(u, n);
  model_objective o = {1e-3, 1, 0.01, 4, 0};
  model_losses L;
  double wall[64], cpu[64];
  for (int s = 0; s <= steps && s < 64; s++) {
    model_batch b = {x, B, keys, 1, (uint32_t)s};
    double t0 = now_s(), c0 = (double)clock() / CLOCKS_PER_SEC;
    model_train_step(m, &ctx, &b, &o, &L);
    adamax_params ap = {1e-3, 0.9, 0.999, 1e-3, 3e-4, s + 1, NULL};
    ctx.ops->adamax_step(&ctx, &ap, &tp, &tg, &tm, &tu);
    wall[s] = now_s() - t0;
    cpu[s] = (double)clock() / CLOCKS_PER_SEC - c0;
  }
  /* step 0 runs 40 power iterations: leave it out; median of the rest */
  for (int i = 1; i <= steps; i++)
    for (int j = i + 1; j <= steps; j++) {
      if (wall[j] < wall[i]) {
        double t = wall[i];
        wall[i] = wall[j];
        wall[j] = t;
      }
      if (cpu[j] < cpu[i]) {
        double t = cpu[i];
        cpu[i] = cpu[j];
        cpu[j] = t;
      }
    }
  printf("bench fmnist-small batch %d: train step + Adamax %.3f s wall, %.3f s CPU (median of "
         "%d; loss %.2f)\n",
         B, wall[1 + (steps - 1) / 2], cpu[1 + (steps - 1) / 2], steps, L.loss);
  free(x);
  free(keys);
  free(mom);
  free(u);
  model_free(m);
  op_ctx_free(&ctx);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--bench") == 0) return bench(32, 5);
  nvae_err e = {0};
  model_arch a;
  model_arch_preset("tiny", &a, &e);
  run_arch("tiny", a, 4, 5);
  model_arch_preset("tiny-nf", &a, &e);
  run_arch("tiny-nf", a, 4, 5);
  run_arch("fmnist-small", model_test_fmnist_small(), 4, 5);
  run_hooks();
  return test_finish("test_model_smoke");
}
