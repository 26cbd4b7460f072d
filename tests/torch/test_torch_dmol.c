/* DMOL and Bernoulli log-likelihoods (kernels/cpu/dmol.c, bernoulli.c) against PyTorch:
 * tests/torch/ref_dmol.py implements NVAE.md §1.8 independently in float64 with autograd.
 * Random logits (the log-scales reach the -7 clamp and the density branch), x on the 1/K grid
 * with the levels 0, 1, K-1 (254: the 0.99 upper-edge quirk) and K always present; 3 and 1
 * channels; both upper-edge thresholds; 8 and 5 bits. Bound: relative L2 error 1e-5 on log p per
 * pixel and on d(sum w log p)/d logits (float32 op vs float64 reference). Measured: log p ~1e-6,
 * dlogits ~4e-6; that floor is the float32 rounding of x~ - mu~ (~1e-7) amplified by 1/scale, up to
 * e^7 at the log-scale clamp, which the official float32 code shares. */
#include "kernels/cpu/bernoulli.h"
#include "kernels/cpu/dmol.h"
#include "tests/test_util.h"
#include "tests/torch/torch_bridge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOUND 1e-5

typedef struct dmol_cfg {
  int C, M, bits;
  float edge;
  int N, H, W;
} dmol_cfg;

static const dmol_cfg CFGS[] = {
    {3, 10, 8, 0.99f, 2, 5, 6}, /* CelebA / CIFAR head */
    {1, 10, 8, 0.99f, 2, 5, 6}, /* our grey-scale layout */
    {3, 3, 8, 0.999f, 1, 4, 4}, /* PixelCNN++ edge */
    {3, 10, 5, 0.99f, 1, 4, 5}, /* 5-bit (256x256 configs) */
    {1, 3, 8, 0.999f, 2, 3, 4},
};
#define NCFG ((int)(sizeof CFGS / sizeof CFGS[0]))

typedef struct dmol_data {
  float *logits, *x, *w, *logp, *dlogits;
  int64_t n_logits, n_x, n_pix;
} dmol_data;

static void make_data(const dmol_cfg *c, int k, dmol_data *d) {
  dmol_params p = dmol_params_default(c->C, c->M, c->bits);
  int64_t cp = dmol_param_channels(&p), hw = (int64_t)c->H * c->W;
  d->n_logits = c->N * cp * hw, d->n_x = (int64_t)c->N * c->C * hw, d->n_pix = c->N * hw;
  d->logits = malloc((size_t)d->n_logits * sizeof(float));
  d->x = malloc((size_t)d->n_x * sizeof(float));
  d->w = malloc((size_t)d->n_pix * sizeof(float));
  d->logp = malloc((size_t)d->n_pix * sizeof(float));
  d->dlogits = calloc((size_t)d->n_logits, sizeof(float));
  test_fill_uniform(d->logits, d->n_logits, -3.5f, 3.5f, 2024, 10u + (uint32_t)k);
  /* push some log-scales below the clamp and some far up (density branch) */
  for (int64_t n = 0; n < c->N; n++)
    for (int64_t i = 0; i < hw; i += 3) {
      int64_t ch = c->M + c->M + (i % c->M); /* a log-scale channel of colour 0 */
      d->logits[(n * cp + ch) * hw + i] = (i % 2) ? -8.0f : 7.5f;
    }
  int K = (1 << c->bits) - 1;
  test_fill_uniform(d->x, d->n_x, 0, (float)K, 2024, 20u + (uint32_t)k);
  for (int64_t j = 0; j < d->n_x; j++) d->x[j] = floorf(d->x[j] + 0.5f);
  const float special[4] = {0.0f, (float)(K - 1), (float)K, 1.0f};
  for (int64_t j = 0; j < 4 * c->C && j < d->n_x; j++) d->x[j] = special[j % 4];
  for (int64_t j = 0; j < d->n_x; j++) d->x[j] /= (float)K;
  test_fill_uniform(d->w, d->n_pix, -1, 1, 2024, 30u + (uint32_t)k);
}

static void free_data(dmol_data *d) {
  free(d->logits), free(d->x), free(d->w), free(d->logp), free(d->dlogits);
}

static void check_close(const char *what, const float *got, const float *want, int64_t n,
                        int64_t n_want) {
  if (!want || n_want != n) {
    CHECK(0, "%s: missing from the reference output (or wrong size %lld vs %lld)", what,
          (long long)n_want, (long long)n);
    return;
  }
  double e = test_rel_err_ff(got, want, n);
  CHECK(e <= BOUND, "%s: rel L2 err %.3g > %.0e", what, e, BOUND);
  printf("  %-34s rel L2 err %.2e (bound %.0e)\n", what, e, BOUND);
}

int main(void) {
  op_ctx ctx = op_ctx_cpu();
  torch_io *in = torch_io_new();
  dmol_data data[NCFG];
  char name[64];
  torch_io_param(in, "ncfg", NCFG);
  for (int k = 0; k < NCFG; k++) {
    const dmol_cfg *c = &CFGS[k];
    dmol_data *d = &data[k];
    make_data(c, k, d);
    dmol_params p = dmol_params_default(c->C, c->M, c->bits);
    p.upper_edge = c->edge;
    int64_t cp = dmol_param_channels(&p);
    tensor tl = tensor_4d(d->logits, c->N, cp, c->H, c->W);
    tensor tx = tensor_4d(d->x, c->N, c->C, c->H, c->W);
    tensor tp = tensor_4d(d->logp, c->N, 1, c->H, c->W);
    tensor tw = tensor_4d(d->w, c->N, 1, c->H, c->W);
    tensor td = tensor_4d(d->dlogits, c->N, cp, c->H, c->W);
    dmol_log_likelihood_forward_cpu(&ctx, &p, &tl, &tx, &tp);
    dmol_log_likelihood_backward_cpu(&ctx, &p, &tl, &tx, &tw, &td);
    snprintf(name, sizeof name, "logits%d", k);
    torch_io_put(in, name, d->logits, 4, (const int64_t[]){c->N, cp, c->H, c->W});
    snprintf(name, sizeof name, "x%d", k);
    torch_io_put(in, name, d->x, 4, (const int64_t[]){c->N, c->C, c->H, c->W});
    snprintf(name, sizeof name, "w%d", k);
    torch_io_put(in, name, d->w, 3, (const int64_t[]){c->N, c->H, c->W});
    const char *keys[4] = {"C", "M", "bits", "edge"};
    const double vals[4] = {c->C, c->M, c->bits, c->edge};
    for (int j = 0; j < 4; j++) {
      snprintf(name, sizeof name, "%s%d", keys[j], k);
      torch_io_param(in, name, vals[j]);
    }
  }

  /* Bernoulli on binary x and logits out to +-12 */
  enum { BN = 2, BH = 7, BW = 9, BHW = BH * BW };
  float bl[BN * BHW], bx[BN * BHW], bw[BN * BHW], blogp[BN * BHW], bdl[BN * BHW] = {0};
  test_fill_uniform(bl, BN * BHW, -12, 12, 2024, 40);
  test_fill_uniform(bx, BN * BHW, 0, 1, 2024, 41);
  for (int i = 0; i < BN * BHW; i++) bx[i] = bx[i] < 0.5f ? 0.0f : 1.0f;
  test_fill_uniform(bw, BN * BHW, -1, 1, 2024, 42);
  tensor tbl = tensor_4d(bl, BN, 1, BH, BW), tbx = tensor_4d(bx, BN, 1, BH, BW);
  tensor tblp = tensor_4d(blogp, BN, 1, BH, BW), tbw = tensor_4d(bw, BN, 1, BH, BW);
  tensor tbdl = tensor_4d(bdl, BN, 1, BH, BW);
  bernoulli_log_likelihood_forward_cpu(&ctx, &tbl, &tbx, &tblp);
  bernoulli_log_likelihood_backward_cpu(&ctx, &tbl, &tbx, &tbw, &tbdl);
  torch_io_put(in, "bl", bl, 4, (const int64_t[]){BN, 1, BH, BW});
  torch_io_put(in, "bx", bx, 4, (const int64_t[]){BN, 1, BH, BW});
  torch_io_put(in, "bw", bw, 3, (const int64_t[]){BN, BH, BW});

  torch_io *out = NULL;
  nvae_err e;
  nvae_err_clear(&e);
  if (torch_run("tests/torch/ref_dmol.py", in, &out, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    CHECK(0, "PyTorch reference did not run");
  } else {
    for (int k = 0; k < NCFG; k++) {
      const dmol_cfg *c = &CFGS[k];
      int64_t n = 0;
      char what[96];
      printf("DMOL C=%d M=%d %d-bit edge %.3f:\n", c->C, c->M, c->bits, c->edge);
      snprintf(name, sizeof name, "logp%d", k);
      const float *ref = torch_io_get(out, name, &n);
      snprintf(what, sizeof what, "log p per pixel");
      check_close(what, data[k].logp, ref, data[k].n_pix, n);
      snprintf(name, sizeof name, "dlogits%d", k);
      ref = torch_io_get(out, name, &n);
      snprintf(what, sizeof what, "dlogits");
      check_close(what, data[k].dlogits, ref, data[k].n_logits, n);
    }
    int64_t n = 0;
    printf("Bernoulli vs torch.distributions.Bernoulli:\n");
    const float *ref = torch_io_get(out, "blogp", &n);
    check_close("log_prob", blogp, ref, BN * BHW, n);
    ref = torch_io_get(out, "bdl", &n);
    check_close("dlogits", bdl, ref, BN * BHW, n);
    torch_io_free(out);
  }
  for (int k = 0; k < NCFG; k++) free_data(&data[k]);
  torch_io_free(in);
  op_ctx_free(&ctx);
  return test_finish("test_torch_dmol");
}
