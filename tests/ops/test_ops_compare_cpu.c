/* The backend-comparison harness (opcase_compare, used by tests/gpu/test_ops_gpu.c) run with the
 * CPU backend on both sides, so that the harness and every case's backend-neutral forward and
 * backward (device views, ctx->ops calls, no host access to op buffers) are exercised on machines
 * without a GPU. Every comparison must pass (CPU against itself: errors 0 or rounding of
 * threaded reductions). */
#include "tests/ops/op_case.h"
#include "tests/test_util.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  int verbose = argc > 1 && !strcmp(argv[1], "-v");
  op_ctx a = op_ctx_cpu(), b = op_ctx_cpu();
  int ran = 0, checked = 0;
  double worst = 0;
  for (int k = 0; k < op_case_count(); k++) {
    const op_case *c = op_case_get(k);
    opcase_cmp_result r;
    int bad = opcase_compare(c, &a, &b, 4321u + (uint64_t)k, verbose, &r);
    if (bad) printf("  FAIL %s [%s]\n", c->family, c->label);
    ran++;
    checked += r.n_checked;
    if (r.worst_ratio > worst) worst = r.worst_ratio;
  }
  printf("%d op cases, %d outputs and gradients compared, worst %.3g of the bound\n", ran, checked,
         worst);
  op_ctx_free(&a);
  op_ctx_free(&b);
  return test_finish("test_ops_compare_cpu");
}
