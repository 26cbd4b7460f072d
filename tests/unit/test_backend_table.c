/* The CPU op table is complete: every function pointer is set, and op_ctx_cpu() carries it. */
#include <stddef.h>
#include <string.h>

#include "kernels/backend.h"
#include "tests/test_util.h"

typedef void (*any_fn)(void);

int main(void) {
  /* Every field from `alloc` to the end is a function pointer (backend.h keeps it so). */
  size_t first = offsetof(op_backend, alloc);
  size_t n = (sizeof(op_backend) - first) / sizeof(any_fn);
  const char *base = (const char *)&op_backend_cpu + first;
  for (size_t i = 0; i < n; i++) {
    any_fn f;
    memcpy(&f, base + i * sizeof(any_fn), sizeof f);
    CHECK(f != NULL, "op_backend_cpu: entry %zu of %zu is NULL", i, n);
  }
  printf("op_backend_cpu: %zu entries\n", n);
  CHECK(n >= 80, "op table unexpectedly small (%zu)", n);
  op_ctx ctx = op_ctx_cpu();
  CHECK(ctx.ops == &op_backend_cpu && op_backend_get(DEVICE_CPU) == &op_backend_cpu,
        "op_ctx_cpu() does not carry the CPU table");
  CHECK(!strcmp(op_backend_cpu.name, "cpu"), "name");
  return test_finish("test_backend_table");
}
