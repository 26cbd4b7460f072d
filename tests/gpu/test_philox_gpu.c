/* Philox on the GPU gives the CPU's numbers: 32-bit words and uniforms bit-identical, normals
 * within a few ulps (Box-Muller through libm vs CUDA logf/sincosf). Skipped without a GPU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda_backend.h"
#include "kernels/random.h"
#include "tests/test_util.h"

int main(void) {
  if (cuda_device_count() == 0) return test_skip("test_philox_gpu", "no CUDA device visible");
  char desc[256];
  cuda_describe(0, desc, sizeof desc);
  printf("device: %s\n", desc);

  const int64_t samples = 5, per = 1003, n = samples * per;
  philox_stream s = {0x1234abcd5678ull, PHILOX_LATENT_EPS, 77};
  uint32_t *w_cpu = malloc(n * 4), *w_gpu = malloc(n * 4);
  float *u_cpu = malloc(n * 4), *u_gpu = malloc(n * 4), *z_cpu = malloc(n * 4),
        *z_gpu = malloc(n * 4);
  void *d = cuda_malloc(n * 4);

  philox_fill_u32_cpu(&s, 1000, samples, per, w_cpu);
  philox_fill_u32_cuda(&s, 1000, samples, per, d, NULL);
  cuda_memcpy_d2h(w_gpu, d, n * 4);
  CHECK(memcmp(w_cpu, w_gpu, n * 4) == 0, "u32 words differ between CPU and GPU");

  philox_fill_uniform_cpu(&s, 1000, samples, per, u_cpu);
  philox_fill_uniform_cuda(&s, 1000, samples, per, d, NULL);
  cuda_memcpy_d2h(u_gpu, d, n * 4);
  CHECK(memcmp(u_cpu, u_gpu, n * 4) == 0, "uniforms differ between CPU and GPU");

  philox_fill_normal_cpu(&s, 1000, samples, per, z_cpu);
  philox_fill_normal_cuda(&s, 1000, samples, per, d, NULL);
  cuda_memcpy_d2h(z_gpu, d, n * 4);
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double ulp = fmax(nextafterf(fabsf(z_cpu[i]), INFINITY) - fabsf(z_cpu[i]), 1e-30);
    worst = fmax(worst, fabs((double)z_cpu[i] - z_gpu[i]) / ulp);
  }
  printf("normals: worst difference %.1f ulp\n", worst);
  CHECK(worst <= 8, "normals differ by %.1f ulp (bound 8)", worst);

  cuda_free(d);
  free(w_cpu), free(w_gpu), free(u_cpu), free(u_gpu), free(z_cpu), free(z_gpu);
  return test_finish("test_philox_gpu");
}
