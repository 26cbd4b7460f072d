/* The op-case checks: float32 forward vs the double reference, backward vs central finite
 * differences of the double reference, unwritten outputs (NaN poison) and gradient accumulation.
 * See op_case.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/random.h"
#include "tests/ops/op_case.h"
#include "tests/test_util.h"

#define FD_MAX_FULL 512 /* inputs up to this size: every element; larger: a random subset */
#define FD_SUBSET 192

void opcase_add_in(opcase_io *io, const char *name, int ndim, const int64_t *shape, int diff,
                   float lo, float hi) {
  NVAE_ASSERT(io->n_in < OPCASE_MAX_IO, "too many inputs");
  opcase_tensor *t = &io->in[io->n_in++];
  memset(t, 0, sizeof *t);
  t->name = name;
  t->ndim = ndim;
  for (int i = 0; i < 4; i++) t->shape[i] = i < ndim ? shape[i] : 1;
  t->diff = diff;
  t->lo = lo;
  t->hi = hi;
}

void opcase_add_out(opcase_io *io, const char *name, int ndim, const int64_t *shape) {
  NVAE_ASSERT(io->n_out < OPCASE_MAX_IO, "too many outputs");
  opcase_tensor *t = &io->out[io->n_out++];
  memset(t, 0, sizeof *t);
  t->name = name;
  t->ndim = ndim;
  for (int i = 0; i < 4; i++) t->shape[i] = i < ndim ? shape[i] : 1;
  t->diff = 1;
}

int64_t opcase_numel(const opcase_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

/* sum_o sum_j w[o][j] * out[o][j] over the outputs that are part of the loss */
static double ref_loss(const op_case *c, const opcase_io *io, double *const *in, double **out,
                       double *const *w) {
  c->forward_ref(c, io, in, out);
  double l = 0;
  for (int o = 0; o < io->n_out; o++) {
    if (!io->out[o].diff) continue;
    int64_t n = opcase_numel(&io->out[o]);
    for (int64_t j = 0; j < n; j++) l += w[o][j] * out[o][j];
  }
  return l;
}

tensor opcase_view(const op_ctx *ctx, const opcase_tensor *t, float *p) {
  tensor v = tensor_4d(p, t->shape[0], t->shape[1], t->shape[2], t->shape[3]);
  v.ndim = t->ndim;
  v.device = ctx->device;
  return v;
}

/* The case's float inputs on the host: uniform in each input's range (integers where asked), then
 * the case's fixup. Shared by the finite-difference check and the backend comparison. */
static void init_inputs(const opcase_io *io, uint64_t seed, float **in32) {
  for (int i = 0; i < io->n_in; i++) {
    const opcase_tensor *t = &io->in[i];
    int64_t n = opcase_numel(t);
    float lo = t->lo, hi = t->hi;
    if (lo == 0 && hi == 0) lo = -1, hi = 1;
    in32[i] = nvae_malloc((size_t)n * sizeof(float));
    test_fill_uniform(in32[i], n, lo, hi, seed, 100u + (uint32_t)i);
    if (t->integer)
      for (int64_t j = 0; j < n; j++)
        in32[i][j] = floorf(in32[i][j] + 0.5f);
  }
  if (io->fixup_f32) io->fixup_f32(io, in32);
}

int opcase_check(const op_case *c, op_ctx *ctx, uint64_t seed, int verbose) {
  NVAE_ASSERT(ctx->device == DEVICE_CPU, "opcase_check works on host buffers: a CPU context");
  opcase_io io;
  memset(&io, 0, sizeof io);
  c->describe(c, &io);
  double tol_fwd = io.tol_fwd > 0 ? io.tol_fwd : 1e-5;
  double tol_bwd = io.tol_bwd > 0 ? io.tol_bwd : 1e-4;
  double h = io.fd_step > 0 ? io.fd_step : 1e-6;
  int before = test_failures;

  float *in32[OPCASE_MAX_IO] = {0}, *out32[OPCASE_MAX_IO] = {0}, *dout32[OPCASE_MAX_IO] = {0};
  float *din32[OPCASE_MAX_IO] = {0}, *din0[OPCASE_MAX_IO] = {0};
  double *in64[OPCASE_MAX_IO] = {0}, *out64[OPCASE_MAX_IO] = {0}, *w64[OPCASE_MAX_IO] = {0};

  init_inputs(&io, seed, in32);
  for (int i = 0; i < io.n_in; i++) {
    int64_t n = opcase_numel(&io.in[i]);
    in64[i] = nvae_malloc((size_t)n * sizeof(double));
    for (int64_t j = 0; j < n; j++) in64[i][j] = in32[i][j];
  }
  for (int o = 0; o < io.n_out; o++) {
    int64_t n = opcase_numel(&io.out[o]);
    out32[o] = nvae_malloc((size_t)n * sizeof(float));
    out64[o] = nvae_malloc((size_t)n * sizeof(double));
    dout32[o] = nvae_malloc((size_t)n * sizeof(float));
    w64[o] = nvae_malloc((size_t)n * sizeof(double));
    for (int64_t j = 0; j < n; j++) out32[o][j] = NAN; /* poison: unwritten elements fail */
    test_fill_uniform(dout32[o], n, -1, 1, seed, 200u + (uint32_t)o);
    for (int64_t j = 0; j < n; j++) {
      if (!io.out[o].diff) dout32[o][j] = 0;
      w64[o][j] = dout32[o][j];
    }
  }

  /* 1. forward: float32 op vs double reference */
  c->forward(c, ctx, &io, in32, out32);
  c->forward_ref(c, &io, in64, out64);
  for (int o = 0; o < io.n_out; o++) {
    int64_t n = opcase_numel(&io.out[o]);
    double err = test_rel_err_fd(out32[o], out64[o], n);
    CHECK(err <= tol_fwd, "%s [%s] forward output '%s': rel err %.3g > %.3g", c->family, c->label,
          io.out[o].name, err, tol_fwd);
    if (verbose)
      printf("  %-14s %-34s fwd %-10s rel err %.2e (bound %.0e)\n", c->family, c->label,
             io.out[o].name, err, tol_fwd);
  }

  /* 2. backward vs central differences of the double reference (on the same inputs) */
  if (c->backward && !(c->flags & OPCASE_NO_FD)) {
    for (int i = 0; i < io.n_in; i++) {
      if (!io.in[i].diff) continue;
      int64_t n = opcase_numel(&io.in[i]);
      din32[i] = nvae_malloc((size_t)n * sizeof(float));
      din0[i] = nvae_malloc((size_t)n * sizeof(float));
      test_fill_uniform(din0[i], n, -0.5f, 0.5f, seed, 300u + (uint32_t)i);
      memcpy(din32[i], din0[i], (size_t)n * sizeof(float));
    }
    c->backward(c, ctx, &io, in32, out32, dout32, din32);
    double *scratch_out[OPCASE_MAX_IO];
    for (int o = 0; o < io.n_out; o++)
      scratch_out[o] = nvae_malloc((size_t)opcase_numel(&io.out[o]) * sizeof(double));
    for (int i = 0; i < io.n_in; i++) {
      if (!io.in[i].diff) continue;
      int64_t n = opcase_numel(&io.in[i]);
      int64_t m = n <= FD_MAX_FULL ? n : FD_SUBSET;
      uint32_t *pick = nvae_malloc((size_t)m * sizeof(uint32_t));
      if (m == n) {
        for (int64_t k = 0; k < m; k++) pick[k] = (uint32_t)k;
      } else {
        philox_stream s = {seed, PHILOX_TEST, 400u + (uint32_t)i};
        philox_fill_u32_cpu(&s, 0, 1, m, pick);
        for (int64_t k = 0; k < m; k++) pick[k] %= (uint32_t)n;
      }
      double num = 0, den = 0, worst = 0;
      int64_t worst_at = -1;
      for (int64_t k = 0; k < m; k++) {
        int64_t j = pick[k];
        double x0 = in64[i][j];
        double step = h * fmax(1.0, fabs(x0));
        in64[i][j] = x0 + step;
        double lp = ref_loss(c, &io, in64, scratch_out, w64);
        in64[i][j] = x0 - step;
        double lm = ref_loss(c, &io, in64, scratch_out, w64);
        in64[i][j] = x0;
        double fd = (lp - lm) / (2 * step);
        double got = (double)din32[i][j] - (double)din0[i][j];
        num += (got - fd) * (got - fd);
        den += fd * fd;
        if (fabs(got - fd) > worst) worst = fabs(got - fd), worst_at = j;
      }
      double err = num != num ? INFINITY : sqrt(num) / fmax(sqrt(den), 1e-12);
      CHECK(err <= tol_bwd,
            "%s [%s] gradient of '%s': rel err %.3g > %.3g (worst element %lld, |diff| %.3g)",
            c->family, c->label, io.in[i].name, err, tol_bwd, (long long)worst_at, worst);
      if (verbose)
        printf("  %-14s %-34s bwd d%-9s rel err %.2e (bound %.0e, %lld of %lld elements)\n",
               c->family, c->label, io.in[i].name, err, tol_bwd, (long long)m, (long long)n);
      nvae_free(pick);
    }
    for (int o = 0; o < io.n_out; o++) nvae_free(scratch_out[o]);
  }

  for (int i = 0; i < OPCASE_MAX_IO; i++) {
    nvae_free(in32[i]);
    nvae_free(in64[i]);
    nvae_free(din32[i]);
    nvae_free(din0[i]);
    nvae_free(out32[i]);
    nvae_free(out64[i]);
    nvae_free(dout32[i]);
    nvae_free(w64[i]);
  }
  return test_failures - before;
}

/* ======================= backend against backend (opcase_compare) ======================= */

static float *upload(op_ctx *ctx, const float *host, int64_t n) {
  float *d = ctx->ops->alloc((size_t)n * sizeof(float));
  ctx->ops->from_host(ctx, d, host, (size_t)n * sizeof(float));
  return d;
}

static float *download(op_ctx *ctx, const float *dev, int64_t n) {
  float *h = nvae_malloc((size_t)n * sizeof(float));
  ctx->ops->to_host(ctx, h, dev, (size_t)n * sizeof(float));
  return h;
}

static void free_dev(op_ctx *ctx, float **p) {
  for (int i = 0; i < OPCASE_MAX_IO; i++)
    if (p[i]) ctx->ops->free(p[i]), p[i] = NULL;
}

/* What one backend produced for a case: forward outputs, the gradients backward added to zeroed
 * buffers (g), and the results of a second backward onto buffers pre-filled with din0 (acc). */
typedef struct side_result {
  float *out[OPCASE_MAX_IO], *g[OPCASE_MAX_IO], *acc[OPCASE_MAX_IO];
} side_result;

static void run_side(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in32,
                     float *const *poison, float *const *dout32, float *const *zeros,
                     float *const *din0, side_result *r) {
  float *in[OPCASE_MAX_IO] = {0}, *out[OPCASE_MAX_IO] = {0}, *dout[OPCASE_MAX_IO] = {0};
  float *din[OPCASE_MAX_IO] = {0};
  for (int i = 0; i < io->n_in; i++)
    in[i] = upload(ctx, in32[i], opcase_numel(&io->in[i]));
  for (int o = 0; o < io->n_out; o++) {
    int64_t n = opcase_numel(&io->out[o]);
    out[o] = upload(ctx, poison[o], n); /* NaN: an element the op does not write fails */
    dout[o] = upload(ctx, dout32[o], n);
  }
  c->forward(c, ctx, io, in, out);
  for (int o = 0; o < io->n_out; o++)
    r->out[o] = download(ctx, out[o], opcase_numel(&io->out[o]));
  if (c->backward) {
    /* pass 1: zeroed gradient buffers, so what the op adds is compared without the rounding of
     * an accumulation; pass 2: random pre-filled buffers, to see that the op ADDS */
    for (int pass = 0; pass < 2; pass++) {
      for (int i = 0; i < io->n_in; i++)
        if (io->in[i].diff)
          din[i] = upload(ctx, pass ? din0[i] : zeros[i], opcase_numel(&io->in[i]));
      c->backward(c, ctx, io, in, out, dout, din);
      for (int i = 0; i < io->n_in; i++)
        if (io->in[i].diff) {
          float *h = download(ctx, din[i], opcase_numel(&io->in[i]));
          if (pass)
            r->acc[i] = h;
          else
            r->g[i] = h;
        }
      free_dev(ctx, din);
    }
  }
  free_dev(ctx, in);
  free_dev(ctx, out);
  free_dev(ctx, dout);
}

static void side_free(side_result *r) {
  for (int i = 0; i < OPCASE_MAX_IO; i++) {
    nvae_free(r->out[i]);
    nvae_free(r->g[i]);
    nvae_free(r->acc[i]);
  }
}

static int64_t count_nonfinite(const float *x, int64_t n) {
  int64_t k = 0;
  for (int64_t i = 0; i < n; i++)
    k += !isfinite(x[i]);
  return k;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t bytes) {
  const unsigned char *b = p;
  for (size_t i = 0; i < bytes; i++)
    h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

static float ulp_of(float v) {
  float a = fabsf(v);
  return nextafterf(a, INFINITY) - a;
}

/* One compared tensor: relative L2 error against ref, NaN/Inf in dev where ref is finite. */
static void compare_one(const op_case *c, const char *what, const float *dev, const float *ref,
                        int64_t n, double tol, int verbose, opcase_cmp_result *res) {
  int64_t bad_dev = count_nonfinite(dev, n), bad_ref = count_nonfinite(ref, n);
  double err = bad_dev > bad_ref ? INFINITY : test_rel_err_ff(dev, ref, n);
  CHECK(err <= tol,
        "%s [%s] %s: rel err %.3g > %.3g vs the CPU backend (%lld non-finite on the "
        "device, %lld on the CPU, of %lld)",
        c->family, c->label, what, err, tol, (long long)bad_dev, (long long)bad_ref, (long long)n);
  if (verbose)
    printf("  %-18s %-34s %-16s rel err %.2e (bound %.0e)\n", c->family, c->label, what, err, tol);
  res->n_checked++;
  double ratio = err / tol;
  if (!(ratio <= res->worst_ratio)) {
    res->worst_ratio = ratio;
    res->worst_err = err;
    snprintf(res->worst_what, sizeof res->worst_what, "%s", what);
  }
}

int opcase_compare(const op_case *c, op_ctx *ref, op_ctx *dev, uint64_t seed, int verbose,
                   opcase_cmp_result *res) {
  opcase_io io;
  memset(&io, 0, sizeof io);
  c->describe(c, &io);
  double tol = io.tol_dev > 0 ? io.tol_dev : OPCASE_TOL_DEV;
  if (dev->allow_tf32) tol = io.tol_dev_tf32 > 0 ? io.tol_dev_tf32 : OPCASE_TOL_DEV_TF32;
  int before = test_failures;
  opcase_cmp_result local;
  if (!res) res = &local;
  memset(res, 0, sizeof *res);
  res->dev_hash = 14695981039346656037ull;

  float *in32[OPCASE_MAX_IO] = {0}, *poison[OPCASE_MAX_IO] = {0}, *dout32[OPCASE_MAX_IO] = {0};
  float *zeros[OPCASE_MAX_IO] = {0}, *din0[OPCASE_MAX_IO] = {0};
  init_inputs(&io, seed, in32);
  for (int o = 0; o < io.n_out; o++) {
    int64_t n = opcase_numel(&io.out[o]);
    poison[o] = nvae_malloc((size_t)n * sizeof(float));
    dout32[o] = nvae_malloc((size_t)n * sizeof(float));
    for (int64_t j = 0; j < n; j++)
      poison[o][j] = NAN;
    test_fill_uniform(dout32[o], n, -1, 1, seed, 200u + (uint32_t)o);
    if (!io.out[o].diff)
      for (int64_t j = 0; j < n; j++)
        dout32[o][j] = 0;
  }
  for (int i = 0; i < io.n_in; i++) {
    if (!io.in[i].diff || !c->backward) continue;
    int64_t n = opcase_numel(&io.in[i]);
    zeros[i] = nvae_calloc((size_t)n, sizeof(float));
    din0[i] = nvae_malloc((size_t)n * sizeof(float));
    test_fill_uniform(din0[i], n, -0.5f, 0.5f, seed, 300u + (uint32_t)i);
  }

  side_result r_ref, r_dev;
  memset(&r_ref, 0, sizeof r_ref);
  memset(&r_dev, 0, sizeof r_dev);
  run_side(c, ref, &io, in32, poison, dout32, zeros, din0, &r_ref);
  run_side(c, dev, &io, in32, poison, dout32, zeros, din0, &r_dev);

  char what[48];
  for (int o = 0; o < io.n_out; o++) {
    int64_t n = opcase_numel(&io.out[o]);
    snprintf(what, sizeof what, "fwd %s", io.out[o].name);
    compare_one(c, what, r_dev.out[o], r_ref.out[o], n, tol, verbose, res);
    res->dev_hash = fnv1a(res->dev_hash, r_dev.out[o], (size_t)n * sizeof(float));
  }
  for (int i = 0; i < io.n_in; i++) {
    if (!r_dev.g[i]) continue;
    int64_t n = opcase_numel(&io.in[i]);
    snprintf(what, sizeof what, "bwd d%s", io.in[i].name);
    compare_one(c, what, r_dev.g[i], r_ref.g[i], n, tol, verbose, res);
    res->dev_hash = fnv1a(res->dev_hash, r_dev.g[i], (size_t)n * sizeof(float));
    /* accumulation: pass 2 must be din0 + (pass 1), up to the rounding of one addition (and the
     * run-to-run spread of the op itself, bounded like the comparison) */
    double gmax = 0;
    for (int64_t j = 0; j < n; j++)
      gmax = fmax(gmax, fabs((double)r_dev.g[i][j]));
    int64_t off = 0, first = -1;
    for (int64_t j = 0; j < n; j++) {
      double want = (double)din0[i][j] + (double)r_dev.g[i][j];
      double slack = 4.0 * ulp_of(fabsf(din0[i][j]) + fabsf(r_dev.g[i][j])) + tol * gmax;
      if (!(fabs((double)r_dev.acc[i][j] - want) <= slack)) {
        if (first < 0) first = j;
        off++;
      }
    }
    CHECK(off == 0,
          "%s [%s] d%s: %lld of %lld elements not accumulated (first %lld: %.9g, "
          "pre-filled %.9g + gradient %.9g)",
          c->family, c->label, io.in[i].name, (long long)off, (long long)n, (long long)first,
          first >= 0 ? r_dev.acc[i][first] : 0.0, first >= 0 ? din0[i][first] : 0.0,
          first >= 0 ? r_dev.g[i][first] : 0.0);
    res->n_checked++;
  }

  side_free(&r_ref);
  side_free(&r_dev);
  for (int i = 0; i < OPCASE_MAX_IO; i++) {
    nvae_free(in32[i]);
    nvae_free(poison[i]);
    nvae_free(dout32[i]);
    nvae_free(zeros[i]);
    nvae_free(din0[i]);
  }
  return test_failures - before;
}
