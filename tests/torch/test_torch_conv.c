/* PyTorch parity of the convolution family (tests/torch/ref_conv.py, float64 autograd): the same
 * random inputs through our float32 CPU ops and through torch; forward y and the gradients of a
 * random dy are compared by relative L2 error, bound TOL_* per case below.
 * The shapes are large enough that the OpenMP and OpenBLAS threaded paths run. */
#include "kernels/cpu/conv.h"
#include "kernels/cpu/factorized_reduce.h"
#include "kernels/cpu/weight_norm.h"
#include "tests/test_util.h"
#include "tests/torch/torch_bridge.h"

#include <stdio.h>
#include <string.h>

enum { KIND_CONV = 0, KIND_WN_MASKED = 1, KIND_FACTORIZED_REDUCE = 2 };

typedef struct torch_case {
  const char *label;
  int kind;
  int n, cin, h, w, cout, k, stride, pad, groups, bias;
  double tol; /* relative L2 bound for y and every gradient */
} torch_case;

/* float32 vs float64-rounded-to-float32: sums of up to 10^3 products give ~1e-7; 1e-5 leaves
 * room for the exp/normalisation chain of WN while still catching any wrong element. */
static const torch_case cases[] = {
    {"3x3 s1 p1 32->48 15x17 N3", KIND_CONV, 3, 32, 15, 17, 48, 3, 1, 1, 1, 1, 1e-5},
    {"1x1 64->96 16x16 N2", KIND_CONV, 2, 64, 16, 16, 96, 1, 1, 0, 1, 1, 1e-5},
    {"dw 5x5 p2 96 16x21 N2", KIND_CONV, 2, 96, 16, 21, 96, 5, 1, 2, 96, 0, 1e-5},
    {"dw 3x3 s2 p1 32 15x40 N2", KIND_CONV, 2, 32, 15, 40, 32, 3, 2, 1, 32, 1, 1e-5},
    {"3x3 s2 p1 32->64 16x16 N2", KIND_CONV, 2, 32, 16, 16, 64, 3, 2, 1, 1, 1, 1e-5},
    {"3x3 s2 p1 24->24 13x11 N2 no bias", KIND_CONV, 2, 24, 13, 11, 24, 3, 2, 1, 1, 0, 1e-5},
    {"3x3 g2 p1 16->24 9x9 N2", KIND_CONV, 2, 16, 9, 9, 24, 3, 1, 1, 2, 1, 1e-5},
    {"WN masked 3x3 p1 20->120 8x8 N2", KIND_WN_MASKED, 2, 20, 8, 8, 120, 3, 1, 1, 1, 0, 1e-5},
    {"WN masked dw 5x5 p2 24 8x8 N2", KIND_WN_MASKED, 2, 24, 8, 8, 24, 5, 1, 2, 24, 0, 1e-5},
    {"WN masked 1x1 120->20 +b 8x8 N2", KIND_WN_MASKED, 2, 120, 8, 8, 20, 1, 1, 0, 1, 1, 1e-5},
    {"factorized reduce 32->64 16x16 N2", KIND_FACTORIZED_REDUCE, 2, 32, 16, 16, 64, 1, 2, 0, 1, 1,
     1e-5},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))
#define MAX_T 24

/* One named float buffer of a case: sent to torch (input) and/or compared (output). */
typedef struct named {
  char name[32];
  float *data;
  int64_t shape[4];
  int ndim;
  int send;    /* input of the reference */
  int compare; /* output of ours to compare with the reference's output of the same name */
} named;

typedef struct case_data {
  named t[MAX_T];
  int nt;
} case_data;

static named *add(case_data *d, const char *name, int ndim, int64_t a, int64_t b, int64_t c,
                  int64_t e, int send, int compare) {
  NVAE_ASSERT(d->nt < MAX_T, "too many tensors");
  named *t = &d->t[d->nt++];
  snprintf(t->name, sizeof t->name, "%s", name);
  int64_t s[4] = {a, b, c, e};
  int64_t n = 1;
  for (int i = 0; i < 4; i++)
    t->shape[i] = i < ndim ? s[i] : 1, n *= i < ndim ? s[i] : 1;
  t->ndim = ndim;
  t->data = nvae_calloc((size_t)n, sizeof(float));
  t->send = send;
  t->compare = compare;
  return t;
}

static tensor view(const named *t) {
  tensor v = tensor_4d(t->data, t->shape[0], t->shape[1], t->shape[2], t->shape[3]);
  v.ndim = t->ndim;
  return v;
}

static int64_t numel(const named *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++)
    n *= t->shape[i];
  return n;
}

static void fill(named *t, float lo, float hi, uint64_t seed, uint32_t tag) {
  test_fill_uniform(t->data, numel(t), lo, hi, seed, tag);
}

/* Plain / WN-masked convolution: ours, with every output and gradient registered in d. */
static void run_conv(const torch_case *c, uint64_t seed, case_data *d) {
  int64_t ho = (c->h + 2 * c->pad - c->k) / c->stride + 1;
  int64_t wo = (c->w + 2 * c->pad - c->k) / c->stride + 1;
  int wn = c->kind == KIND_WN_MASKED;
  int64_t cg = c->cin / c->groups;
  named *x = add(d, "x", 4, c->n, c->cin, c->h, c->w, 1, 0);
  named *v = add(d, wn ? "v" : "w", 4, c->cout, cg, c->k, c->k, 1, 0);
  named *dy = add(d, "dy", 4, c->n, c->cout, ho, wo, 1, 0);
  named *b = c->bias ? add(d, "b", 1, c->cout, 1, 1, 1, 1, 0) : NULL;
  fill(x, -1, 1, seed, 1);
  fill(v, -0.5f, 0.5f, seed, 2);
  fill(dy, -1, 1, seed, 3);
  if (b) fill(b, -1, 1, seed, 4);
  named *y = add(d, "y", 4, c->n, c->cout, ho, wo, 0, 1);
  named *dx = add(d, "dx", 4, c->n, c->cin, c->h, c->w, 0, 1);
  named *dv = add(d, wn ? "dv" : "dw", 4, c->cout, cg, c->k, c->k, 0, 1);
  named *db = c->bias ? add(d, "db", 1, c->cout, 1, 1, 1, 0, 1) : NULL;
  named *g = NULL, *mask = NULL, *dg = NULL;
  if (wn) {
    g = add(d, "g", 1, c->cout, 1, 1, 1, 1, 0);
    mask = add(d, "mask", 4, c->cout, cg, c->k, c->k, 1, 0);
    dg = add(d, "dg", 1, c->cout, 1, 1, 1, 0, 1);
    fill(g, -0.5f, 0.5f, seed, 5);
    fill(mask, 0, 1, seed, 6);
    for (int64_t i = 0; i < numel(mask); i++)
      mask->data[i] = mask->data[i] < 0.5f ? 0.0f : 1.0f;
  }

  op_ctx ctx = op_ctx_cpu();
  conv2d_params p = {c->stride, c->pad, c->groups};
  tensor tx = view(x), tv = view(v), tdy = view(dy), ty = view(y), tdx = view(dx), tdv = view(dv);
  tensor tb = b ? view(b) : tx, tdb = db ? view(db) : tx;
  if (!wn) {
    conv2d_forward_cpu(&ctx, &p, &tx, &tv, NULL, b ? &tb : NULL, &ty);
    conv2d_backward_cpu(&ctx, &p, &tx, &tv, NULL, &tdy, &tdx, &tdv, db ? &tdb : NULL);
  } else {
    /* NVAE's ARConv: the mask goes into the norm, and the conv applies it (again) */
    named *w = add(d, "w_eff", 4, c->cout, cg, c->k, c->k, 0, 0);
    named *norm = add(d, "norm", 1, c->cout, 1, 1, 1, 0, 0);
    named *dw = add(d, "dw_eff", 4, c->cout, cg, c->k, c->k, 0, 0);
    tensor tw = view(w), tnorm = view(norm), tdw = view(dw), tg = view(g), tm = view(mask),
           tdg = view(dg);
    weight_norm_forward_cpu(&ctx, &tv, &tg, &tm, &tw, &tnorm);
    conv2d_forward_cpu(&ctx, &p, &tx, &tw, &tm, b ? &tb : NULL, &ty);
    conv2d_backward_cpu(&ctx, &p, &tx, &tw, &tm, &tdy, &tdx, &tdw, db ? &tdb : NULL);
    weight_norm_backward_cpu(&ctx, &tv, &tg, &tm, &tnorm, &tdw, &tdv, &tdg);
  }
  op_ctx_free(&ctx);
}

static void run_factorized_reduce(const torch_case *c, uint64_t seed, case_data *d) {
  named *x = add(d, "x", 4, c->n, c->cin, c->h, c->w, 1, 0);
  named *dy = add(d, "dy", 4, c->n, c->cout, c->h / 2, c->w / 2, 1, 0);
  fill(x, -1, 1, seed, 1);
  fill(dy, -1, 1, seed, 3);
  tensor tw[4], tb[4], tdw[4], tdb[4];
  for (int k = 0; k < 4; k++) {
    char name[8];
    int64_t ck = factorized_reduce_channels(c->cout, k);
    snprintf(name, sizeof name, "w%d", k);
    named *w = add(d, name, 4, ck, c->cin, 1, 1, 1, 0);
    snprintf(name, sizeof name, "b%d", k);
    named *b = add(d, name, 1, ck, 1, 1, 1, 1, 0);
    fill(w, -0.5f, 0.5f, seed, 10u + (uint32_t)k);
    fill(b, -1, 1, seed, 20u + (uint32_t)k);
    tw[k] = view(w), tb[k] = view(b);
  }
  for (int k = 0; k < 4; k++) {
    char name[8];
    int64_t ck = factorized_reduce_channels(c->cout, k);
    snprintf(name, sizeof name, "dw%d", k);
    tdw[k] = view(add(d, name, 4, ck, c->cin, 1, 1, 0, 1));
    snprintf(name, sizeof name, "db%d", k);
    tdb[k] = view(add(d, name, 1, ck, 1, 1, 1, 0, 1));
  }
  named *y = add(d, "y", 4, c->n, c->cout, c->h / 2, c->w / 2, 0, 1);
  named *dx = add(d, "dx", 4, c->n, c->cin, c->h, c->w, 0, 1);
  tensor tx = view(x), ty = view(y), tdx = view(dx), tdy = view(dy);
  const tensor *w[4] = {&tw[0], &tw[1], &tw[2], &tw[3]}, *b[4] = {&tb[0], &tb[1], &tb[2], &tb[3]};
  tensor *dw[4] = {&tdw[0], &tdw[1], &tdw[2], &tdw[3]},
         *db[4] = {&tdb[0], &tdb[1], &tdb[2], &tdb[3]};
  op_ctx ctx = op_ctx_cpu();
  factorized_reduce_forward_cpu(&ctx, &tx, w, b, &ty);
  factorized_reduce_backward_cpu(&ctx, &tx, w, &tdy, &tdx, dw, db);
  op_ctx_free(&ctx);
}

int main(void) {
  static case_data data[N_CASES];
  torch_io *in = torch_io_new();
  torch_io_param(in, "ncases", N_CASES);
  for (int i = 0; i < N_CASES; i++) {
    const torch_case *c = &cases[i];
    if (c->kind == KIND_FACTORIZED_REDUCE)
      run_factorized_reduce(c, 77u + (uint64_t)i, &data[i]);
    else
      run_conv(c, 77u + (uint64_t)i, &data[i]);
    char key[64];
    const char *params[] = {"kind", "stride", "pad", "groups"};
    const int values[] = {c->kind, c->stride, c->pad, c->groups};
    for (int j = 0; j < 4; j++) {
      snprintf(key, sizeof key, "c%d_%s", i, params[j]);
      torch_io_param(in, key, values[j]);
    }
    for (int j = 0; j < data[i].nt; j++) {
      const named *t = &data[i].t[j];
      if (!t->send) continue;
      snprintf(key, sizeof key, "c%d_%.31s", i, t->name);
      torch_io_put(in, key, t->data, t->ndim, t->shape);
    }
  }

  torch_io *out = NULL;
  nvae_err e;
  nvae_err_clear(&e);
  if (torch_run("tests/torch/ref_conv.py", in, &out, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    CHECK(0, "the PyTorch reference did not run");
    return test_finish("test_torch_conv");
  }
  for (int i = 0; i < N_CASES; i++) {
    for (int j = 0; j < data[i].nt; j++) {
      const named *t = &data[i].t[j];
      if (!t->compare) continue;
      char key[64];
      snprintf(key, sizeof key, "c%d_%.31s", i, t->name);
      int64_t n = 0;
      const float *ref = torch_io_get(out, key, &n);
      CHECK(ref && n == numel(t), "[%s] torch output %s missing or of the wrong size",
            cases[i].label, key);
      if (!ref || n != numel(t)) continue;
      double err = test_rel_err_ff(t->data, ref, n);
      CHECK(err <= cases[i].tol, "[%s] %s: rel err %.3g > %.3g", cases[i].label, t->name, err,
            cases[i].tol);
      printf("  %-36s %-4s rel err %.2e (bound %.0e)\n", cases[i].label, t->name, err,
             cases[i].tol);
    }
    for (int j = 0; j < data[i].nt; j++)
      nvae_free(data[i].t[j].data);
  }
  torch_io_free(in);
  torch_io_free(out);
  return test_finish("test_torch_conv");
}
