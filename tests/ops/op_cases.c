/* The table of op cases: one entry per family file (see op_case.h). */
#include "tests/ops/op_case.h"

#include <stddef.h>

const op_case *op_cases_arith(int *count);
const op_case *op_cases_conv(int *count);
const op_case *op_cases_norm(int *count);
const op_case *op_cases_act(int *count);
const op_case *op_cases_shape(int *count);
const op_case *op_cases_dist(int *count);
const op_case *op_cases_optim(int *count);
const op_case *op_cases_random(int *count);

static const op_case_family_fn families[] = {
    op_cases_arith,
    op_cases_conv,
    op_cases_norm,
    op_cases_act,
    op_cases_shape,
    op_cases_dist,
    op_cases_optim,
    op_cases_random,
};

#define N_FAMILIES ((int)(sizeof families / sizeof families[0]))

int op_case_count(void) {
  int total = 0;
  for (int f = 0; f < N_FAMILIES; f++) {
    int n = 0;
    families[f](&n);
    total += n;
  }
  return total;
}

const op_case *op_case_get(int k) {
  for (int f = 0; f < N_FAMILIES; f++) {
    int n = 0;
    const op_case *cases = families[f](&n);
    if (k < n) return &cases[k];
    k -= n;
  }
  return NULL;
}
