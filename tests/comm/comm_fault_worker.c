/* The rank program of the fault trials (tests/comm/test_comm_faults.c runs it under mpirun):
 *   comm_fault_worker hang  R S   timeout 2 s; rank R sleeps S s before the 3rd collective
 *   comm_fault_worker abort R     rank R calls comm_abort while the others wait in a collective
 *   comm_fault_worker exit  R     rank R exit(3)s in the middle (no watchdog)
 *   comm_fault_worker kill  R     rank R raises SIGKILL in the middle (no watchdog)
 *   comm_fault_worker init        start, describe, finish (for the singleton and env checks)
 * Every rank that gets past the fault prints "survived", which the driver must never see. */
#define _POSIX_C_SOURCE 200809L
#include "comm/comm.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  comm *c = NULL;
  nvae_err e;
  nvae_err_clear(&e);
  if (comm_init(&argc, &argv, &c, &e) != 0) {
    fprintf(stderr, "%s\n", e.msg);
    return e.code;
  }
  const char *mode = argc > 1 ? argv[1] : "init";
  const int who = argc > 2 ? atoi(argv[2]) : 0;
  const int r = comm_rank(c);
  char desc[512];
  comm_describe(c, desc, sizeof desc);
  printf("%s\n", desc);
  fflush(stdout);
  if (strcmp(mode, "hang") == 0) comm_set_timeout(c, 2.0);

  float buf[1000];
  for (int i = 0; i < 1000; i++)
    buf[i] = (float)i;
  comm_allreduce_sum_f32(c, buf, 1000); /* seq 1 */
  comm_barrier(c);                      /* seq 2 */
  if (r == who) {
    if (strcmp(mode, "hang") == 0) sleep((unsigned)(argc > 3 ? atoi(argv[3]) : 60));
    if (strcmp(mode, "abort") == 0)
      comm_abort(c, NVAE_EXIT_RUNTIME, "injected fatal error (fault trial)");
    if (strcmp(mode, "exit") == 0) exit(3);
    if (strcmp(mode, "kill") == 0) raise(SIGKILL);
  }
  comm_allreduce_sum_f32(c, buf, 1000); /* seq 3: where the others wait */
  comm_barrier(c);
  if (strcmp(mode, "init") != 0) printf("rank %d survived\n", r);
  comm_finalize(c);
  return 0;
}
