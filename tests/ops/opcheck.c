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

int opcase_check(const op_case *c, op_ctx *ctx, uint64_t seed, int verbose) {
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

  for (int i = 0; i < io.n_in; i++) {
    opcase_tensor *t = &io.in[i];
    int64_t n = opcase_numel(t);
    float lo = t->lo, hi = t->hi;
    if (lo == 0 && hi == 0) lo = -1, hi = 1;
    in32[i] = nvae_malloc((size_t)n * sizeof(float));
    test_fill_uniform(in32[i], n, lo, hi, seed, 100u + (uint32_t)i);
    if (t->integer)
      for (int64_t j = 0; j < n; j++) in32[i][j] = floorf(in32[i][j] + 0.5f);
  }
  if (io.fixup_f32) io.fixup_f32(&io, in32);
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
