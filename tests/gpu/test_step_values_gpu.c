/* The step-value ops (kernels/cpu/objective.h: reduce_to_scalar, fill_from_scalar,
 * objective_combine, optim_gate) and the gated optimizers (adamax_params.gate, adam_params.gate)
 * on the CUDA backend against the CPU backend, on the same random inputs: one table of cases, one
 * report line per case. These ops read and write DOUBLE step values on the device, which the
 * float32 op-case table (tests/ops/op_case.h) does not describe; hence a table of their own.
 *
 * Bounds: double results within 1e-12 relative per value (the sums differ from the CPU's by the
 * order of double additions only; objective_combine and optim_gate are the CPU's arithmetic);
 * counts of non-finite values, fills and skipped optimizer steps bit for bit; gated optimizer
 * steps within OPCASE_TOL_DEV like the ungated cases of tests/ops/cases_optim.c. The CPU's
 * reduce_to_scalar is also checked against a plain loop here.
 *
 * Usage: test_step_values_gpu [--cpu] [--seed N]. Skipped (77) without a visible GPU; --cpu runs
 * the "device" side on the CPU backend too, which checks this test's plumbing on any machine.
 */
#include "kernels/backend.h"
#include "kernels/cuda_backend.h"
#include "tests/gpu/backend_entries.h"
#include "tests/ops/op_case.h"
#include "tests/test_util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOL_STEP 1e-12

typedef enum { RUN_REDUCE, RUN_FILL, RUN_COMBINE, RUN_GATE, RUN_ADAMAX, RUN_ADAM } step_run;
enum { GATE_NONE = 0, GATE_SKIP = 1, GATE_HALF = 2 };

typedef struct step_case {
  step_run run;
  const char *label;
  /* reduce: {n, scalar_reduce, inject NaN/±Inf}; fill: {n, s NULL}; combine: {N, balance};
   * adamax / adam: {n, step, GATE_*} */
  int ip[3];
  /* reduce: {scale, out[0] before}; fill: {scale, s[0]}; combine: {β, λ, D}; gate: {grad_clip,
   * Σg²}; adamax / adam: {lr, weight_decay, eps} */
  double fp[3];
} step_case;

// clang-format off
#define REDUCE4(name, mode, inject, scale)                                                         \
  {RUN_REDUCE, name " n1", {1, mode, inject}, {scale, 0.75}},                                      \
  {RUN_REDUCE, name " n37", {37, mode, inject}, {scale, 0.75}},                                    \
  {RUN_REDUCE, name " n8192 (one chunk)", {8192, mode, inject}, {scale, 0.75}},                    \
  {RUN_REDUCE, name " n24581 (3 chunks + 5)", {3 * 8192 + 5, mode, inject}, {scale, 0.75}}

static const step_case cases[] = {
    REDUCE4("sum", SCALAR_SUM, 0, 0.5),
    REDUCE4("abs", SCALAR_ABS, 0, -1.0 / 3),
    REDUCE4("square", SCALAR_SQUARE, 0, 1.0),
    REDUCE4("nonfinite NaN/Inf", SCALAR_NONFINITE, 1, 2.0),
    REDUCE4("count", SCALAR_COUNT, 1, 1.0),
    {RUN_FILL, "n1000 s NULL", {1000, 1}, {-0.125, 0}},
    {RUN_FILL, "n70001 s set", {70001, 0}, {1.0 / 24, 3.7}},
    {RUN_COMBINE, "N1 no balance", {1, 0}, {0.7, 0.1, 3072}},
    {RUN_COMBINE, "N5 no balance", {5, 0}, {1.0, 0.01, 784}},
    {RUN_COMBINE, "N1 balance", {1, 1}, {0.7, 0.1, 3072}},
    {RUN_COMBINE, "N5 balance", {5, 1}, {0.3, 0.05, 12288}},
    {RUN_GATE, "clip 0 (none), norm 2", {0}, {0, 4.0}},
    {RUN_GATE, "clip 1 below norm 2", {0}, {1.0, 4.0}},
    {RUN_GATE, "clip 5 above norm 2", {0}, {5.0, 4.0}},
    {RUN_ADAMAX, "n1000 t1 gate NULL", {1000, 1, GATE_NONE}, {1e-2, 3e-4, 1e-3}},
    {RUN_ADAMAX, "n1000 t1 gate skip (NaN grads)", {1000, 1, GATE_SKIP}, {1e-2, 3e-4, 1e-3}},
    {RUN_ADAMAX, "n777 t9 gate scale 0.5", {777, 9, GATE_HALF}, {8e-3, 3e-4, 1e-3}},
    {RUN_ADAM, "n1000 t3 gate NULL", {1000, 3, GATE_NONE}, {1e-3, 3e-4, 1e-8}},
    {RUN_ADAM, "n1000 t3 gate skip (NaN grads)", {1000, 3, GATE_SKIP}, {1e-3, 3e-4, 1e-8}},
    {RUN_ADAM, "n333 t12 gate scale 0.5", {333, 12, GATE_HALF}, {2e-3, 0, 1e-8}},
};
// clang-format on
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static const char *run_name(step_run r) {
  static const char *const names[] = {"reduce_to_scalar", "fill_from_scalar", "objective_combine",
                                      "optim_gate",       "adamax gated",     "adam gated"};
  return names[r];
}

/* A case's buffers on the host: up to 4 float buffers of nf elements, nd doubles. */
typedef struct step_io {
  int n_f;
  int64_t nf, nd;
  float *f[4]; /* reduce: x; fill: y; optimizers: param, grad, m, s */
  double *d;   /* reduce: out; fill: s; combine / gate: v; optimizers: gate */
} step_io;

static void io_alloc(step_io *io, int n_f, int64_t nf, int64_t nd) {
  memset(io, 0, sizeof *io);
  io->n_f = n_f, io->nf = nf, io->nd = nd;
  for (int i = 0; i < n_f; i++)
    io->f[i] = nvae_calloc((size_t)nf, sizeof(float));
  io->d = nvae_calloc((size_t)(nd ? nd : 1), sizeof(double));
}

static void io_free(step_io *io) {
  for (int i = 0; i < io->n_f; i++)
    nvae_free(io->f[i]);
  nvae_free(io->d);
}

static void fill_doubles(double *d, int64_t n, float lo, float hi, uint64_t seed, uint32_t tag) {
  float *t = nvae_malloc((size_t)n * sizeof(float));
  test_fill_uniform(t, n, lo, hi, seed, tag);
  for (int64_t i = 0; i < n; i++)
    d[i] = (double)t[i] * (1.0 + 1e-9 * (double)i); /* past float's 24 bits */
  nvae_free(t);
}

static void make_inputs(const step_case *c, uint64_t seed, step_io *in) {
  switch (c->run) {
  case RUN_REDUCE:
    io_alloc(in, 1, c->ip[0], 1);
    test_fill_uniform(in->f[0], in->nf, -2, 2, seed, 1);
    for (int j = 0; c->ip[2] && j < 3; j++) /* distinct positions when n > 3 (7919 is prime) */
      in->f[0][(j * 7919 + 3) % in->nf] = j == 0 ? NAN : (j == 1 ? INFINITY : -INFINITY);
    in->d[0] = c->fp[1];
    break;
  case RUN_FILL:
    io_alloc(in, 1, c->ip[0], 1);
    for (int64_t i = 0; i < in->nf; i++)
      in->f[0][i] = NAN; /* an element the op does not write fails */
    in->d[0] = c->fp[1];
    break;
  case RUN_COMBINE:
  case RUN_GATE: {
    int N = c->run == RUN_COMBINE ? c->ip[0] : 1;
    io_alloc(in, 0, 0, STEPV_LEN(N));
    fill_doubles(in->d, in->nd, 0.5f, 4.0f, seed, 2); /* positive: counts, |KL| sums, α */
    if (c->run == RUN_GATE) in->d[STEPV_GNORM_SQ] = c->fp[1];
    break;
  }
  case RUN_ADAMAX:
  case RUN_ADAM:
    io_alloc(in, 4, c->ip[0], c->ip[2] == GATE_NONE ? 0 : 2);
    test_fill_uniform(in->f[0], in->nf, -1, 1, seed, 3);
    test_fill_uniform(in->f[1], in->nf, -0.05f, 0.05f, seed, 4);
    test_fill_uniform(in->f[2], in->nf, -0.02f, 0.02f, seed, 5);
    test_fill_uniform(in->f[3], in->nf, 0, 0.03f, seed, 6); /* u or v: >= 0 */
    if (c->ip[2] == GATE_SKIP) {
      in->f[1][in->nf / 2] = NAN; /* why a step is skipped: it must not reach the parameters */
      in->d[0] = 2, in->d[1] = 0.5;
    } else if (c->ip[2] == GATE_HALF) {
      in->d[0] = 0, in->d[1] = 0.5;
    }
    break;
  }
}

/* Runs case c on ctx: inputs uploaded, the op, results downloaded into out (allocated here). */
static void run_side(const step_case *c, op_ctx *ctx, const step_io *in, step_io *out) {
  const op_backend *ops = ctx->ops;
  float *f[4] = {0};
  for (int i = 0; i < in->n_f; i++) {
    f[i] = ops->alloc((size_t)in->nf * sizeof(float));
    ops->from_host(ctx, f[i], in->f[i], (size_t)in->nf * sizeof(float));
  }
  double *d = NULL;
  if (in->nd) {
    d = ops->alloc((size_t)in->nd * sizeof(double));
    ops->from_host(ctx, d, in->d, (size_t)in->nd * sizeof(double));
  }
  tensor t[4];
  memset(t, 0, sizeof t);
  for (int i = 0; i < in->n_f; i++)
    t[i] = tensor_on(tensor_1d(f[i], in->nf), ctx->device);
  switch (c->run) {
  case RUN_REDUCE: ops->reduce_to_scalar(ctx, &t[0], (scalar_reduce)c->ip[1], c->fp[0], d); break;
  case RUN_FILL: ops->fill_from_scalar(ctx, c->ip[1] ? NULL : d, c->fp[0], &t[0]); break;
  case RUN_COMBINE: {
    objective_params p = {c->ip[0], c->ip[1], c->fp[0], c->fp[1], c->fp[2]};
    ops->objective_combine(ctx, &p, d);
    break;
  }
  case RUN_GATE: ops->optim_gate(ctx, c->fp[0], d); break;
  case RUN_ADAMAX: {
    adamax_params p = {c->fp[0], 0.9, 0.999, c->fp[2], c->fp[1], c->ip[1], d};
    ops->adamax_step(ctx, &p, &t[0], &t[1], &t[2], &t[3]);
    break;
  }
  case RUN_ADAM: {
    adam_params p = {c->fp[0], 0.9, 0.999, c->fp[2], c->fp[1], c->ip[1], d};
    ops->adam_step(ctx, &p, &t[0], &t[1], &t[2], &t[3]);
    break;
  }
  }
  io_alloc(out, in->n_f, in->nf, in->nd);
  for (int i = 0; i < in->n_f; i++) {
    ops->to_host(ctx, out->f[i], f[i], (size_t)in->nf * sizeof(float));
    ops->free(f[i]);
  }
  if (d) {
    ops->to_host(ctx, out->d, d, (size_t)in->nd * sizeof(double));
    ops->free(d);
  }
}

/* |a - b| / |b|; 0 when both are the same NaN-or-value, Inf when only one is NaN or b is 0 */
static double rel_err_d(double a, double b) {
  if (a == b || (isnan(a) && isnan(b))) return 0;
  if (isnan(a) || isnan(b) || b == 0) return INFINITY;
  return fabs(a - b) / fabs(b);
}

/* out[0] + scale · Σ f(x) by a plain loop in long double: checks the CPU reference itself */
static double reduce_plain(const step_case *c, const step_io *in) {
  long double s = 0;
  for (int64_t i = 0; i < in->nf; i++) {
    float x = in->f[0][i];
    switch ((scalar_reduce)c->ip[1]) {
    case SCALAR_ABS: s += fabsl((long double)x); break;
    case SCALAR_SQUARE: s += (long double)x * x; break;
    case SCALAR_NONFINITE: s += isfinite(x) ? 0 : 1; break;
    case SCALAR_COUNT: s += 1; break;
    default: s += x;
    }
  }
  return (double)((long double)c->fp[1] + (long double)c->fp[0] * s);
}

/* Compares the device's results with the CPU's; returns the worst err / bound (0 bounds: bits). */
static double compare(const step_case *c, const step_io *in, const step_io *ref, const step_io *dev,
                      double *worst_err) {
  double worst = 0, err;
  *worst_err = 0;
#define TAKE(e, bound, ...)                                                                        \
  do {                                                                                             \
    err = (e);                                                                                     \
    CHECK(err <= (bound), __VA_ARGS__);                                                            \
    double r_ = (bound) > 0 ? err / (bound) : (err > 0 ? INFINITY : 0);                            \
    if (!(r_ <= worst)) worst = r_;                                                                \
    if (!(err <= *worst_err)) *worst_err = err;                                                    \
  } while (0)
  switch (c->run) {
  case RUN_REDUCE: {
    const int exact = c->ip[1] == SCALAR_NONFINITE || c->ip[1] == SCALAR_COUNT;
    double bound = exact ? 0 : TOL_STEP, plain = reduce_plain(c, in);
    TAKE(rel_err_d(ref->d[0], plain), bound, "%s [%s]: CPU %.17g, plain loop %.17g",
         run_name(c->run), c->label, ref->d[0], plain);
    TAKE(rel_err_d(dev->d[0], ref->d[0]), bound, "%s [%s]: device %.17g, CPU %.17g",
         run_name(c->run), c->label, dev->d[0], ref->d[0]);
    break;
  }
  case RUN_FILL: {
    float want = (float)(c->fp[0] * (c->ip[1] ? 1.0 : c->fp[1]));
    int64_t wrong = 0;
    for (int64_t i = 0; i < in->nf; i++)
      wrong += memcmp(&dev->f[0][i], &want, sizeof want) != 0 ||
               memcmp(&ref->f[0][i], &want, sizeof want) != 0;
    TAKE((double)wrong, 0, "%s [%s]: %lld of %lld elements not %.9g", run_name(c->run), c->label,
         (long long)wrong, (long long)in->nf, want);
    break;
  }
  case RUN_COMBINE:
  case RUN_GATE:
    for (int64_t i = 0; i < in->nd; i++)
      TAKE(rel_err_d(dev->d[i], ref->d[i]), TOL_STEP, "%s [%s]: v[%lld] device %.17g, CPU %.17g",
           run_name(c->run), c->label, (long long)i, dev->d[i], ref->d[i]);
    break;
  case RUN_ADAMAX:
  case RUN_ADAM:
    for (int i = 0; i < 4; i++) {
      if (i == 1) continue; /* the gradient is an input only */
      if (c->ip[2] == GATE_SKIP) {
        int same = !memcmp(dev->f[i], in->f[i], (size_t)in->nf * sizeof(float)) &&
                   !memcmp(ref->f[i], in->f[i], (size_t)in->nf * sizeof(float));
        TAKE(same ? 0.0 : 1.0, 0, "%s [%s]: buffer %d changed by a skipped step", run_name(c->run),
             c->label, i);
      } else {
        TAKE(test_rel_err_ff(dev->f[i], ref->f[i], in->nf), OPCASE_TOL_DEV,
             "%s [%s]: buffer %d rel err %.3g vs the CPU", run_name(c->run), c->label, i, err);
      }
    }
    break;
  }
#undef TAKE
  return worst;
}

int main(int argc, char **argv) {
  int on_cpu = 0;
  uint64_t seed = (uint64_t)time(NULL);
  for (int a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "--cpu"))
      on_cpu = 1;
    else if (!strcmp(argv[a], "--seed") && a + 1 < argc)
      seed = strtoull(argv[++a], NULL, 0);
  }
  op_ctx dev;
  if (on_cpu) {
    dev = op_ctx_cpu();
  } else {
    if (cuda_device_count() == 0)
      return test_skip("test_step_values_gpu", "no CUDA device visible");
    int missing = backend_missing_entries(op_backend_cuda());
    CHECK(missing == 0, "the CUDA op table has %d unset entries (listed above)", missing);
    if (missing) return test_finish("test_step_values_gpu");
    dev = op_ctx_cuda(0);
  }
  printf("device side: %s\nseed: %llu (rerun with --seed %llu)\n", dev.ops->name,
         (unsigned long long)seed, (unsigned long long)seed);
  op_ctx ref = op_ctx_cpu();
  int failed = 0;
  for (int k = 0; k < N_CASES; k++) {
    const step_case *c = &cases[k];
    step_io in, r_ref, r_dev;
    int before = test_failures;
    make_inputs(c, seed + (uint64_t)k, &in);
    run_side(c, &ref, &in, &r_ref);
    run_side(c, &dev, &in, &r_dev);
    double err, ratio = compare(c, &in, &r_ref, &r_dev, &err);
    int bad = test_failures > before;
    failed += bad;
    printf("%-4s %-18s %-32s worst rel err %.2e (%.2f of bound)\n", bad ? "FAIL" : "ok",
           run_name(c->run), c->label, err, ratio);
    io_free(&in);
    io_free(&r_ref);
    io_free(&r_dev);
  }
  printf("%d step-value cases, %d failed\n", N_CASES, failed);
  op_ctx_free(&dev);
  op_ctx_free(&ref);
  return test_finish("test_step_values_gpu");
}
