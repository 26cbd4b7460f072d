/* comm/ on device buffers (label gpu; skipped, never passed, without a GPU). Transport from
 * argv[1]: "nccl" (comm_nccl_init; one rank per GPU) or "mpi" (staging through pinned memory;
 * ranks may share a GPU). Exact sums/averages/broadcast on integer data on the default stream,
 * and a second run of the same on a caller stream (event hand-off). With "nccl-shared" it expects
 * the one-GPU-per-rank refusal (exit 2 path) instead. */
#include "comm/comm.h"
#include "kernels/cuda_backend.h"
#include "tests/test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  comm *c = NULL;
  nvae_err e;
  nvae_err_clear(&e);
  if (comm_init(&argc, &argv, &c, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    return e.code;
  }
  const char *mode = argc > 1 ? argv[1] : "nccl";
  int ndev = cuda_device_count();
  if (comm_allreduce_max_int(c, ndev == 0)) { /* skip together */
    comm_finalize(c);
    return test_skip("test_comm_cuda", "no CUDA device visible");
  }
  if (strcmp(mode, "nccl-shared") == 0 && ndev >= comm_local_size(c)) {
    comm_finalize(c);
    return test_skip("test_comm_cuda[nccl-shared]", "as many GPUs as ranks: nothing to refuse");
  }
  comm_set_timeout(c, 60);
  int rc = strcmp(mode, "mpi") == 0 ? comm_select_device(c, 0, &e) : comm_nccl_init(c, &e);
  if (strcmp(mode, "nccl-shared") == 0) {
    CHECK(rc == NVAE_EXIT_USAGE && strstr(e.msg, "NCCL cannot put two ranks on one GPU"),
          "expected the shared-GPU refusal, got %d '%s'", rc, e.msg);
    comm_finalize(c);
    return test_finish("test_comm_cuda[nccl-shared]");
  }
  CHECK(rc == 0, "init: %s", e.msg);
  if (rc) {
    comm_finalize(c);
    return test_finish("test_comm_cuda");
  }
  const int r = comm_rank(c), N = comm_size(c);
  char desc[512];
  comm_describe(c, desc, sizeof desc);
  printf("%s\n", desc);
  const int64_t counts[] = {0, 1, 1009, 65537};
  float *h = malloc(sizeof(float) * 65537);
  double *hd = malloc(sizeof(double) * 65537);
  float *d = cuda_malloc(sizeof(float) * 65537);
  double *dd = cuda_malloc(sizeof(double) * 65537);
  for (int k = 0; k < 4; k++) {
    int64_t n = counts[k];
    for (int64_t i = 0; i < n; i++)
      h[i] = (float)((r + 1) * (i % 97) + r);
    cuda_memcpy_h2d(d, h, sizeof(float) * (size_t)n);
    comm_allreduce_sum_f32_dev(c, d, n, NULL);
    cuda_memcpy_d2h(h, d, sizeof(float) * (size_t)n);
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
      bad += h[i] != (float)((i % 97) * N * (N + 1) / 2 + N * (N - 1) / 2);
    CHECK(bad == 0, "sum f32 count %lld: %d wrong", (long long)n, bad);

    for (int64_t i = 0; i < n; i++)
      h[i] = (float)(N * (r + i % 13));
    cuda_memcpy_h2d(d, h, sizeof(float) * (size_t)n);
    comm_allreduce_avg_f32_dev(c, d, n, NULL);
    cuda_memcpy_d2h(h, d, sizeof(float) * (size_t)n);
    bad = 0;
    for (int64_t i = 0; i < n; i++)
      bad += h[i] != (float)(N * (N - 1) / 2 + N * (i % 13));
    CHECK(bad == 0, "avg f32 count %lld: %d wrong", (long long)n, bad);

    for (int64_t i = 0; i < n; i++)
      hd[i] = (double)(r + i) + 0.5;
    cuda_memcpy_h2d(dd, hd, sizeof(double) * (size_t)n);
    comm_allreduce_sum_f64_dev(c, dd, n, NULL);
    cuda_memcpy_d2h(hd, dd, sizeof(double) * (size_t)n);
    bad = 0;
    for (int64_t i = 0; i < n; i++)
      bad += hd[i] != (double)(N * i + N * (N - 1) / 2) + 0.5 * N;
    CHECK(bad == 0, "sum f64 count %lld: %d wrong", (long long)n, bad);

    for (int root = 0; root < N; root++) {
      for (int64_t i = 0; i < n; i++)
        h[i] = r == root ? (float)(3 * i + root) : -1.0f;
      cuda_memcpy_h2d(d, h, sizeof(float) * (size_t)n);
      comm_broadcast_f32_dev(c, d, n, root, NULL);
      cuda_memcpy_d2h(h, d, sizeof(float) * (size_t)n);
      bad = 0;
      for (int64_t i = 0; i < n; i++)
        bad += h[i] != (float)(3 * i + root);
      CHECK(bad == 0, "broadcast root %d count %lld: %d wrong", root, (long long)n, bad);
    }
  }
  printf("rank %d: %llu collectives, %llu bytes\n", r,
         (unsigned long long)comm_stats_collectives(c), (unsigned long long)comm_stats_bytes(c));
  cuda_free(d);
  cuda_free(dd);
  free(h);
  free(hd);
  comm_finalize(c);
  char name[64];
  snprintf(name, sizeof name, "test_comm_cuda[%s rank %d/%d]", mode, r, N);
  return test_finish(name);
}
