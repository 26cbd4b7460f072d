/* The host-side rule of the NCCL transport's device choice (comm_pick_device): local rank modulo
 * the visible devices; no device is an error; under NCCL (exclusive) more local ranks than GPUs is
 * an error, under the MPI transport they may share. No MPI, no GPU needed. */
#include "comm/comm_internal.h"
#include "tests/test_util.h"

int main(void) {
  CHECK(comm_pick_device(0, 1, 0, 1) == COMM_NO_DEVICE, "no device, nccl");
  CHECK(comm_pick_device(0, 1, 0, 0) == COMM_NO_DEVICE, "no device, mpi");
  CHECK(comm_pick_device(0, 1, 1, 1) == 0, "1 rank 1 gpu");
  for (int r = 0; r < 8; r++)
    CHECK(comm_pick_device(r, 8, 8, 1) == r, "8x8 rank %d", r);
  /* --gpus-per-task=1: every rank sees one device, numbered 0 */
  for (int r = 0; r < 8; r++)
    CHECK(comm_pick_device(r, 8, 1, 0) == 0, "gpus-per-task rank %d", r);
  CHECK(comm_pick_device(1, 2, 1, 1) == COMM_SHARED_DEVICE, "2 ranks 1 gpu under nccl");
  CHECK(comm_pick_device(1, 2, 1, 0) == 0, "2 ranks 1 gpu under mpi share it");
  CHECK(comm_pick_device(3, 4, 2, 0) == 1, "4 ranks 2 gpus under mpi");
  CHECK(comm_pick_device(2, 3, 4, 1) == 2, "fewer ranks than gpus");
  return test_finish("test_comm_device_pick");
}
