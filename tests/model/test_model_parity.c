/* Parity of one training step with the PyTorch reference (tests/reference/nvae_ref.py).
 *
 * For tiny (DMOL, no flows), tiny-nf (DMOL, flows), fmnist-small (Bernoulli, 28×28 window) and
 * tiny with the Normal decoder:
 * the C model is initialised, every BN γ perturbed (so BNreg has no ties), and its weights,
 * buffers and SR vectors written to HDF5 under the official names; the C side runs one training
 * step (β < 1 with KL balancing, λ > 0, 40 power iterations) and adds its batch and ε to the
 * file; tests/model/parity_step.py runs the same step in PyTorch and writes every loss term and
 * every gradient back. Checked: each loss term within 1e-5 relative; every gradient tensor
 * ‖g − r‖₂ ≤ 1e-4·‖r‖₂ + 1e-6·√n; BN running statistics and SR vectors after the step.
 *
 * Needs $NVAE_TORCH_PYTHON (torch, h5py) and $NVAE_SOURCE_DIR, which ctest sets; skipped (77)
 * without them. */
#include "kernels/backend.h"
#include "tests/model/model_test_archs.h"
#include "tests/test_util.h"
#include "trainer/model.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- HDF5 ---- */

static hid_t lcpl(void) { /* create the groups along a path ("noise/group_0") on the way */
  hid_t p = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(p, 1);
  return p;
}

static void h5_write(hid_t f, const char *name, hid_t type, const void *data, int ndim,
                     const int64_t *shape) {
  hsize_t dims[4];
  for (int d = 0; d < ndim; d++)
    dims[d] = (hsize_t)shape[d];
  hid_t sp = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
  hid_t lp = lcpl();
  hid_t ds = H5Dcreate2(f, name, type, sp, lp, H5P_DEFAULT, H5P_DEFAULT);
  NVAE_ASSERT(ds >= 0, "HDF5: cannot create %s", name);
  NVAE_ASSERT(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0, "HDF5: write %s", name);
  H5Dclose(ds);
  H5Pclose(lp);
  H5Sclose(sp);
}

/* Reads a float64 dataset of n elements; returns 0 when it is missing or has another size. */
static int h5_read(hid_t f, const char *name, double *out, int64_t n) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return 0;
  hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  hid_t sp = H5Dget_space(ds);
  int64_t m = H5Sget_simple_extent_npoints(sp);
  int ok = m == n && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
  H5Sclose(sp);
  H5Dclose(ds);
  return ok;
}

static double h5_scalar(hid_t f, const char *name) {
  double v = NAN;
  if (!h5_read(f, name, &v, 1)) test_fail_at(__FILE__, __LINE__, "missing %s", name);
  return v;
}

/* ---- the case ---- */

#define ADAMAX_STEPS 5
#define ADAMAX_LR 1e-3
#define ADAMAX_WD 3e-4

typedef struct parity_case {
  const char *name; /* tests/reference/configs.py name */
  model_arch arch;
  int batch, crop;
  double beta, lambda;
} parity_case;

static void write_model(model *m, const char *path) {
  const registry *r = model_registry(m);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  NVAE_ASSERT(f >= 0, "cannot create %s", path);
  for (int i = 0; i < r->n_tensors; i++) {
    const reg_tensor *t = &r->tensors[i];
    if (t->kind == REG_ALIAS) continue;
    if (t->flags & REG_F_I64)
      h5_write(f, t->name, H5T_NATIVE_INT64, model_counters(m) + t->offset, 0, NULL);
    else
      h5_write(f, t->name, H5T_NATIVE_FLOAT,
               (t->kind == REG_PARAM ? model_params(m) : model_buffers(m)) + t->offset, t->ndim,
               t->shape);
  }
  const float *sr = model_sr_vectors(m);
  int64_t off = 0;
  char name[256];
  for (int c = 0; c < r->n_convs; c++) {
    const reg_conv *cv = &r->convs[c];
    int64_t rows = cv->sr_rows, cols = cv->sr_cols;
    snprintf(name, sizeof name, "sr/%s/u", cv->name);
    h5_write(f, name, H5T_NATIVE_FLOAT, sr + off, 1, &rows);
    snprintf(name, sizeof name, "sr/%s/v", cv->name);
    h5_write(f, name, H5T_NATIVE_FLOAT, sr + off + rows, 1, &cols);
    off += rows + cols;
  }
  hid_t g = H5Gopen2(f, "sr", H5P_DEFAULT);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t at = H5Acreate2(g, "first_call", H5T_NATIVE_INT, sp, H5P_DEFAULT, H5P_DEFAULT);
  int one = 1;
  H5Awrite(at, H5T_NATIVE_INT, &one);
  H5Aclose(at);
  H5Sclose(sp);
  H5Gclose(g);
  H5Fclose(f);
}

/* The batch (once) and the ε of the last step under <prefix>noise/group_<k>. */
static void write_inputs(model *m, op_ctx *ctx, const char *path, const float *x, int B,
                         const char *prefix) {
  const registry *r = model_registry(m);
  const model_arch *a = model_get_arch(m);
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  int64_t xs[4] = {B, a->image_channels, a->image_size, a->image_size};
  if (x) h5_write(f, "batch/x", H5T_NATIVE_FLOAT, x, 4, xs);
  char name[96];
  for (int g = 0; g < r->n_groups; g++) {
    const reg_group *gr = &r->groups[g];
    int64_t sh[4] = {B, gr->c, gr->h, gr->w};
    float *e = malloc((size_t)(B * gr->c * gr->h * gr->w) * sizeof(float));
    model_get_eps(m, ctx, g, e);
    snprintf(name, sizeof name, "%snoise/group_%d", prefix, g);
    h5_write(f, name, H5T_NATIVE_FLOAT, e, 4, sh);
    free(e);
  }
  H5Fclose(f);
}

/* One tensor's comparison: ‖g − r‖ against 1e-4‖r‖ + 1e-6√n. The worst tensors are ranked by
 * ‖g − r‖ / bound (how close to failing); rel = ‖g − r‖/‖r‖ is printed beside it (large for the
 * biases in front of a BN, whose true gradient is 0 and whose computed one is rounding noise). */
typedef struct worst {
  double score, rel;
  char name[REG_NAME_MAX];
} worst;

static void keep_worst(worst *w, int nw, const char *name, double score, double rel) {
  for (int i = 0; i < nw; i++)
    if (score > w[i].score) {
      memmove(&w[i + 1], &w[i], (size_t)(nw - i - 1) * sizeof *w);
      w[i].score = score;
      w[i].rel = rel;
      snprintf(w[i].name, sizeof w[i].name, "%s", name);
      return;
    }
}

static int compare_tensor(const char *what, const char *name, const float *c, const double *ref,
                          int64_t n, double rtol, double atol_per_sqrt_n, worst *w, int nw) {
  double d2 = 0, r2 = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = c[i] - ref[i];
    d2 += d * d;
    r2 += ref[i] * ref[i];
  }
  double dn = sqrt(d2), rn = sqrt(r2), bound = rtol * rn + atol_per_sqrt_n * sqrt((double)n);
  keep_worst(w, nw, name, dn / bound, rn > 0 ? dn / rn : INFINITY);
  CHECK(dn <= bound, "%s %s: |c - ref| %.3g > %.3g (|ref| %.3g, n %lld)", what, name, dn, bound, rn,
        (long long)n);
  return dn <= bound;
}

static void run_case(const parity_case *pc, const char *python, const char *src) {
  printf("== %s: batch %d, beta %g, lambda %g\n", pc->name, pc->batch, pc->beta, pc->lambda);
  op_ctx ctx = op_ctx_cpu();
  model_options opt = {0};
  opt.max_batch = pc->batch;
  opt.dmol_upper_edge = 0.99f;
  opt.num_x_bits = 8;
  if (pc->crop) {
    opt.crop_y0 = opt.crop_x0 = pc->crop;
    opt.crop_h = opt.crop_w = pc->arch.image_size - 2 * pc->crop;
  }
  model *m = NULL;
  nvae_err e = {0};
  NVAE_ASSERT(model_create(&pc->arch, &opt, &ctx, &m, &e) == 0, "%s", e.msg);
  model_init_params(m, 11);
  const registry *r = model_registry(m);
  float *P = model_params(m);
  /* distinct |γ| per BN layer: BNreg's arg-max is unique */
  for (int j = 0; j < r->n_bns; j++) {
    const reg_tensor *t = &r->tensors[r->bns[j].weight];
    test_fill_uniform(P + t->offset, t->numel, 0.8f, 1.2f, 5, (uint32_t)j);
    const reg_tensor *tb = &r->tensors[r->bns[j].bias];
    test_fill_uniform(P + tb->offset, tb->numel, -0.1f, 0.1f, 6, (uint32_t)j);
  }
  char in[256], out[256];
  snprintf(in, sizeof in, "/tmp/model-parity-%d-%s-in.h5", (int)getpid(), pc->name);
  snprintf(out, sizeof out, "/tmp/model-parity-%d-%s-out.h5", (int)getpid(), pc->name);
  write_model(m, in);

  const model_arch *a = &pc->arch;
  int B = pc->batch;
  int64_t npix = (int64_t)B * a->image_channels * a->image_size * a->image_size;
  float *x = malloc((size_t)npix * sizeof(float));
  test_fill_uniform(x, npix, 0.0f, 1.0f, 9, 1);
  int hw = a->image_size;
  for (int64_t i = 0; i < npix; i++) {
    if (a->decoder == MODEL_DECODER_BERNOULLI) { /* binary 28×28 content, zero padding */
      int p = (int)(i % (hw * hw)), row = p / hw, col = p % hw;
      int in_win = row >= pc->crop && row < hw - pc->crop && col >= pc->crop && col < hw - pc->crop;
      x[i] = in_win && x[i] < 0.4f ? 1.0f : 0.0f;
    } else {
      x[i] = floorf(x[i] * 255.0f) / 255.0f; /* the 8-bit grid, 0 and 255 included */
    }
  }
  uint32_t keys[64];
  for (int i = 0; i < B; i++)
    keys[i] = (uint32_t)(100 + i);
  model_batch b = {x, B, keys, 1234, 3};
  model_objective o = {pc->beta, 1, pc->lambda, 4, 0};
  model_losses L;
  model_train_step(m, &ctx, &b, &o, &L);
  write_inputs(m, &ctx, in, x, B, "");
  write_inputs(m, &ctx, in, NULL, B, "steps/0/");

  /* the optimiser trajectory: Adamax after this step, then ADAMAX_STEPS − 1 more steps */
  const int64_t np = r->param_arena_numel;
  float *mom = calloc((size_t)np, sizeof(float)), *uu = calloc((size_t)np, sizeof(float));
  float *grad0 = malloc((size_t)np * sizeof(float)), *theta = malloc((size_t)np * sizeof(float));
  float *theta0 = malloc((size_t)np * sizeof(float));
  memcpy(grad0, model_grads(m), (size_t)np * sizeof(float));
  float *sr0 = malloc((size_t)r->sr_vector_numel * sizeof(float));
  memcpy(sr0, model_sr_vectors(m), (size_t)r->sr_vector_numel * sizeof(float));
  float *buf0 = malloc((size_t)r->buffer_arena_numel * sizeof(float));
  memcpy(buf0, model_buffers(m), (size_t)r->buffer_arena_numel * sizeof(float));
  tensor tp = tensor_1d(P, np), tg = tensor_1d(model_grads(m), np);
  tensor tm = tensor_1d(mom, np), tu = tensor_1d(uu, np);
  model_losses Ls;
  for (int s = 1; s <= ADAMAX_STEPS; s++) {
    if (s == 1) memcpy(theta0, P, (size_t)np * sizeof(float));
    adamax_params ap = {ADAMAX_LR, 0.9, 0.999, 1e-3, ADAMAX_WD, s, NULL};
    ctx.ops->adamax_step(&ctx, &ap, &tp, &tg, &tm, &tu);
    if (s == ADAMAX_STEPS) break;
    b.step = 3 + (uint32_t)s;
    model_train_step(m, &ctx, &b, &o, &Ls);
    char pre[32];
    snprintf(pre, sizeof pre, "steps/%d/", s);
    write_inputs(m, &ctx, in, NULL, B, pre);
  }
  memcpy(theta, P, (size_t)np * sizeof(float));

  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "%s %s/tests/model/parity_step.py %s %s %s %.17g %.17g 1 %d %.17g %.17g", python, src,
           pc->name, in, out, pc->beta, pc->lambda, ADAMAX_STEPS, ADAMAX_LR, ADAMAX_WD);
  int rc = system(cmd);
  CHECK(rc == 0, "%s: %s failed (%d)", pc->name, cmd, rc);
  if (rc != 0) return;
  hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);

  /* loss terms */
  struct {
    const char *key;
    double c;
  } terms[] = {{"loss/loss", L.loss}, {"loss/recon", L.recon}, {"loss/kl", L.kl},
               {"loss/sr", L.sr},     {"loss/bnreg", L.bnreg}, {"loss/nelbo", L.nelbo}};
  double worst_term = 0;
  for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++) {
    double ref = h5_scalar(f, terms[i].key), rel = fabs(terms[i].c - ref) / fabs(ref);
    printf("  %-12s C %.9g  ref %.9g  rel %.2e\n", terms[i].key + 5, terms[i].c, ref, rel);
    CHECK(rel <= 1e-5, "%s %s: C %.9g ref %.9g", pc->name, terms[i].key, terms[i].c, ref);
    if (rel > worst_term) worst_term = rel;
  }
  int N = r->n_groups;
  double *klg = malloc((size_t)N * sizeof(double)), *gam = malloc((size_t)N * sizeof(double));
  CHECK(h5_read(f, "loss/kl_groups", klg, N) && h5_read(f, "loss/gamma", gam, N),
        "%s: kl_groups / gamma missing", pc->name);
  for (int g = 0; g < N; g++) {
    double rel = fabs(L.kl_group[g] - klg[g]) / fabs(klg[g]);
    double relg = fabs(L.kl_coeff[g] - gam[g]) / fabs(gam[g]);
    printf("  kl[%d]       C %.9g  ref %.9g  rel %.2e   gamma C %.7g ref %.7g\n", g, L.kl_group[g],
           klg[g], rel, L.kl_coeff[g], gam[g]);
    CHECK(rel <= 1e-5, "%s KL group %d: C %.9g ref %.9g", pc->name, g, L.kl_group[g], klg[g]);
    CHECK(relg <= 1e-5, "%s gamma %d: C %.9g ref %.9g", pc->name, g, L.kl_coeff[g], gam[g]);
    if (rel > worst_term) worst_term = rel;
  }
  printf("  worst loss-term relative error %.2e\n", worst_term);

  /* gradients, buffers after the step, SR vectors after the step */
  enum { NW = 6 };
  worst wg[NW] = {{0}}, wb[NW] = {{0}}, wrel[1] = {{0}};
  const float *G = grad0, *Bf = buf0; /* the state after the first step */
  int bad = 0, n_grad = 0;
  for (int i = 0; i < r->n_tensors; i++) {
    const reg_tensor *t = &r->tensors[i];
    if (t->kind == REG_ALIAS || (t->flags & REG_F_I64)) continue;
    double *ref = malloc((size_t)t->numel * sizeof(double));
    char name[REG_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s/%s", t->kind == REG_PARAM ? "grad" : "after", t->name);
    if (!h5_read(f, name, ref, t->numel)) {
      test_fail_at(__FILE__, __LINE__, "%s: %s missing in %s", pc->name, name, out);
    } else if (t->kind == REG_PARAM) {
      bad += !compare_tensor("grad", t->name, G + t->offset, ref, t->numel, 1e-4, 1e-6, wg, NW);
      n_grad++;
      double d2 = 0, r2 = 0;
      for (int64_t k = 0; k < t->numel; k++) {
        double d = G[t->offset + k] - ref[k];
        d2 += d * d;
        r2 += ref[k] * ref[k];
      }
      if (sqrt(r2) > 100 * 1e-6 * sqrt((double)t->numel))
        keep_worst(wrel, 1, t->name, sqrt(d2 / r2), sqrt(d2 / r2));
    } else {
      bad += !compare_tensor("buffer", t->name, Bf + t->offset, ref, t->numel, 1e-5, 1e-7, wb, NW);
    }
    free(ref);
  }
  printf("  %d gradient tensors, %d outside the bound; closest to the bound (|g-r|/bound, "
         "|g-r|/|r|):\n",
         n_grad, bad);
  for (int i = 0; i < NW && wg[i].name[0]; i++)
    printf("    %.3f  %.2e  %s\n", wg[i].score, wg[i].rel, wg[i].name);
  printf("  worst gradient relative error where |r| > 100x the absolute term: %.2e (%s)\n",
         wrel[0].rel, wrel[0].name);
  printf("  BN running statistics closest to the bound: %.3f, rel %.2e (%s)\n", wb[0].score,
         wb[0].rel, wb[0].name);
  const float *sr = sr0;
  int64_t off = 0;
  worst ws[1] = {{0}};
  for (int c = 0; c < r->n_convs; c++) {
    const reg_conv *cv = &r->convs[c];
    char name[REG_NAME_MAX + 32];
    for (int j = 0; j < 2; j++) {
      int64_t n = j ? cv->sr_cols : cv->sr_rows;
      double *ref = malloc((size_t)n * sizeof(double));
      snprintf(name, sizeof name, "sr_after/%s/%c", cv->name, j ? 'v' : 'u');
      if (h5_read(f, name, ref, n))
        compare_tensor("sr vector", name, sr + off, ref, n, 1e-3, 1e-6, ws, 1);
      else
        test_fail_at(__FILE__, __LINE__, "%s missing", name);
      off += n;
      free(ref);
    }
  }
  printf("  SR vectors after 40 iterations: worst rel %.2e (%s)\n", ws[0].rel, ws[0].name);

  /* parameters after the Adamax trajectory: the updates θ − θ0 agree */
  worst wa[1] = {{0}};
  double d2 = 0, u2 = 0, worst_param = 0;
  for (int i = 0; i < r->n_tensors; i++) {
    const reg_tensor *t = &r->tensors[i];
    if (t->kind != REG_PARAM) continue;
    double *ref = malloc((size_t)t->numel * sizeof(double));
    char name[REG_NAME_MAX + 16];
    snprintf(name, sizeof name, "adamax/%s", t->name);
    if (h5_read(f, name, ref, t->numel)) {
      double td = 0, tu = 0, tp = 0;
      for (int64_t k = 0; k < t->numel; k++) {
        double dc = (double)theta[t->offset + k] - theta0[t->offset + k];
        double dr = ref[k] - theta0[t->offset + k];
        td += (dc - dr) * (dc - dr);
        tu += dr * dr;
        tp += ref[k] * ref[k];
      }
      /* the bound on the parameters themselves: every tensor within 1e-4 relative */
      CHECK(sqrt(td) <= 1e-4 * sqrt(tp) + 1e-6 * sqrt((double)t->numel),
            "%s: parameters of %s after %d Adamax steps: |θC - θR| %.3g, |θR| %.3g", pc->name,
            t->name, ADAMAX_STEPS, sqrt(td), sqrt(tp));
      if (tp > 0) worst_param = fmax(worst_param, sqrt(td / tp));
      d2 += td;
      u2 += tu;
      keep_worst(wa, 1, t->name, sqrt(td / (tu + 1e-30)), sqrt(td / (tu + 1e-30)));
      /* the gradient's absolute floor (1e-6 per element) moves a parameter by at most
       * lr·1e-6/eps per step, since Adamax divides by u ≥ eps: the floor of this bound */
      double floor_el = ADAMAX_STEPS * ADAMAX_LR * 1e-6 / 1e-3;
      CHECK(sqrt(td) <= 1e-3 * sqrt(tu) + floor_el * sqrt((double)t->numel),
            "%s: parameters of %s after %d Adamax steps: |dC - dR| %.3g, |dR| %.3g", pc->name,
            t->name, ADAMAX_STEPS, sqrt(td), sqrt(tu));
    } else {
      test_fail_at(__FILE__, __LINE__, "%s missing", name);
    }
    free(ref);
  }
  printf("  %d Adamax steps: |update C - update ref| / |update ref| = %.2e overall, worst tensor "
         "%.2e (%s); parameters: worst tensor |θC - θR| / |θR| = %.2e\n",
         ADAMAX_STEPS, sqrt(d2 / u2), wa[0].rel, wa[0].name, worst_param);
  H5Fclose(f);
  remove(in);
  remove(out);
  free(klg);
  free(gam);
  free(mom);
  free(uu);
  free(grad0);
  free(theta);
  free(theta0);
  free(sr0);
  free(buf0);
  free(x);
  model_free(m);
  op_ctx_free(&ctx);
}

int main(void) {
  const char *python = getenv("NVAE_TORCH_PYTHON"), *src = getenv("NVAE_SOURCE_DIR");
  if (!python || !*python || !src || !*src)
    return test_skip("test_model_parity", "NVAE_TORCH_PYTHON / NVAE_SOURCE_DIR not set");
  nvae_err e = {0};
  parity_case cases[4];
  memset(cases, 0, sizeof cases);
  cases[0] = (parity_case){"tiny", {0}, 4, 0, 0.3, 0.1};
  model_arch_preset("tiny", &cases[0].arch, &e);
  cases[1] = (parity_case){"tiny-nf", {0}, 4, 0, 0.3, 0.1};
  model_arch_preset("tiny-nf", &cases[1].arch, &e);
  cases[2] = (parity_case){"fmnist-small", model_test_fmnist_small(), 4, 2, 0.3, 0.1};
  /* the Normal decoder on 2x − 1 (no README config uses it) */
  cases[3] = (parity_case){"tiny+decoder=normal", {0}, 4, 0, 0.3, 0.1};
  model_arch_preset("tiny", &cases[3].arch, &e);
  cases[3].arch.decoder = MODEL_DECODER_NORMAL;
  for (int i = 0; i < 4; i++)
    run_case(&cases[i], python, src);
  return test_finish("test_model_parity");
}
