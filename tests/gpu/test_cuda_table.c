/* The CUDA op table is complete: every entry set, name and device right,
 * op_backend_get(DEVICE_CUDA) returns it. Taking the table needs no GPU (nothing runs on a device),
 * so this runs on CPU machines too, wherever the CUDA backend is built. */
#include "kernels/backend.h"
#include "kernels/cuda_backend.h"
#include "tests/gpu/backend_entries.h"
#include "tests/test_util.h"

#include <string.h>

int main(void) {
  const op_backend *b = op_backend_cuda();
  CHECK(b != NULL, "op_backend_cuda() returned NULL");
  CHECK(op_backend_get(DEVICE_CUDA) == b, "op_backend_get(DEVICE_CUDA) is not the CUDA table");
  CHECK(b->device == DEVICE_CUDA && b->name && !strcmp(b->name, "cuda"), "name/device");
  size_t n = backend_entry_count();
  int missing = backend_missing_entries(b);
  CHECK(missing == 0, "the CUDA op table has %d of %zu entries unset (listed above)", missing, n);
  CHECK(backend_missing_entries(&op_backend_cpu) == 0, "the CPU table is incomplete");
  printf("op_backend_cuda: %zu entries, %d unset\n", n, missing);
  return test_finish("test_cuda_table");
}
