/* Adamax and Adam (kernels/cpu/optim.c) against torch.optim.Adamax / torch.optim.Adam (float64,
 * tests/torch/ref_optim.py) over several steps with coupled weight decay. torch's Adamax keeps eps
 * inside the max exactly as NVAE.md §4.1 does, so both are direct parity checks.
 * Bound: relative L2 error 1e-5 on the parameter CHANGE and on both optimizer states. */
#include "kernels/cpu/optim.h"
#include "tests/test_util.h"
#include "tests/torch/torch_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 2053
#define STEPS 7
#define BOUND 1e-5

static void compare(const char *what, const float *got, const float *ref, int64_t n_ref) {
  if (!ref || n_ref != N) {
    CHECK(0, "%s: missing from the reference output", what);
    return;
  }
  double e = test_rel_err_ff(got, ref, N);
  CHECK(e <= BOUND, "%s: rel L2 err %.3g > %.0e", what, e, BOUND);
  printf("  %-22s rel L2 err %.2e (bound %.0e)\n", what, e, BOUND);
}

static void run(int adam, double lr, double eps, double wd) {
  float *theta0 = malloc(N * sizeof(float)), *theta = malloc(N * sizeof(float));
  float *grads = malloc((size_t)STEPS * N * sizeof(float));
  float *m = calloc(N, sizeof(float)), *s = calloc(N, sizeof(float));
  /* |theta| <= 0.1: float32 storage of theta rounds each update by up to ulp(theta) / 2, which
   * must stay well below 1e-5 of the smallest update (lr 1e-3) */
  test_fill_uniform(theta0, N, -0.1f, 0.1f, 77, 1);
  test_fill_uniform(grads, (int64_t)STEPS * N, -0.5f, 0.5f, 77, 2);
  for (int64_t i = 0; i < (int64_t)STEPS * N; i += 5) grads[i] *= 1e-3f; /* mixed scales */
  memcpy(theta, theta0, N * sizeof(float));
  op_ctx ctx = op_ctx_cpu();
  tensor tt = tensor_1d(theta, N), tm = tensor_1d(m, N), ts = tensor_1d(s, N);
  for (int k = 0; k < STEPS; k++) {
    tensor tg = tensor_1d(grads + (int64_t)k * N, N);
    if (adam) {
      adam_params p = {lr, 0.9, 0.999, eps, wd, k + 1, NULL};
      adam_step_cpu(&ctx, &p, &tt, &tg, &tm, &ts);
    } else {
      adamax_params p = {lr, 0.9, 0.999, eps, wd, k + 1, NULL};
      adamax_step_cpu(&ctx, &p, &tt, &tg, &tm, &ts);
    }
  }
  torch_io *in = torch_io_new(), *out = NULL;
  torch_io_put(in, "theta", theta0, 1, (const int64_t[]){N});
  torch_io_put(in, "grads", grads, 2, (const int64_t[]){STEPS, N});
  const char *keys[7] = {"lr", "beta1", "beta2", "eps", "weight_decay", "steps", "adam"};
  const double vals[7] = {lr, 0.9, 0.999, eps, wd, STEPS, adam};
  for (int i = 0; i < 7; i++) torch_io_param(in, keys[i], vals[i]);
  nvae_err e;
  nvae_err_clear(&e);
  printf("%s vs torch.optim (lr %g, eps %g, wd %g, %d steps):\n", adam ? "Adam" : "Adamax", lr, eps,
         wd, STEPS);
  if (torch_run("tests/torch/ref_optim.py", in, &out, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    CHECK(0, "PyTorch reference did not run");
  } else {
    int64_t n = 0;
    float *dtheta = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) dtheta[i] = theta[i] - theta0[i];
    const float *r = torch_io_get(out, "dtheta", &n);
    compare("parameter change", dtheta, r, n);
    r = torch_io_get(out, "m", &n);
    compare("exp_avg", m, r, n);
    r = torch_io_get(out, "s", &n);
    compare(adam ? "exp_avg_sq" : "exp_inf", s, r, n);
    free(dtheta);
    torch_io_free(out);
  }
  torch_io_free(in);
  op_ctx_free(&ctx);
  free(theta0), free(theta), free(grads), free(m), free(s);
}

int main(void) {
  run(0, 1e-2, 1e-3, 3e-4); /* NVAE's Adamax settings */
  run(1, 1e-3, 1e-8, 3e-4);
  run(1, 1e-2, 1e-3, 0.0);
  return test_finish("test_torch_optim");
}
