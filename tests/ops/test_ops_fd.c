/* Every op case: float32 forward vs double reference, backward vs finite differences.
 * Usage: test_ops_fd [-v] [family-substring] */
#include <stdio.h>
#include <string.h>

#include "tests/ops/op_case.h"
#include "tests/test_util.h"

int main(int argc, char **argv) {
  int verbose = 0;
  const char *only = NULL;
  for (int a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "-v")) verbose = 1;
    else only = argv[a];
  }
  op_ctx ctx = op_ctx_cpu();
  int ran = 0;
  for (int k = 0; k < op_case_count(); k++) {
    const op_case *c = op_case_get(k);
    if (only && !strstr(c->family, only)) continue;
    int bad = opcase_check(c, &ctx, 1234u + (uint64_t)k, verbose);
    ran++;
    if (bad) printf("  FAIL %s [%s]\n", c->family, c->label);
  }
  op_ctx_free(&ctx);
  printf("%d op cases\n", ran);
  CHECK(ran > 0, "no op case matched");
  return test_finish("test_ops_fd");
}
