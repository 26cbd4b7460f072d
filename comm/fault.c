/* A fatal error seen by one rank: say which rank, then take the whole job down with MPI_Abort so
 * no other rank waits forever in a collective for it (RELIABILITY.md §2.2: abort when the failure
 * is one-sided; errors every rank sees the same way should return an exit code instead). */
#define _POSIX_C_SOURCE 200809L
#include "comm/comm_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void comm_msg_prefix(const comm *c, char *buf, int len) {
  if (c)
    snprintf(buf, (size_t)len, "[rank %d/%d %s] ", c->rank, c->size, c->host);
  else
    snprintf(buf, (size_t)len, "[rank ?] ");
}

/* MPI_Abort makes mpirun (or srun) kill every rank. If it does not return control within a
 * while (it should never return at all), SIGALRM's default action ends this process, which the
 * launcher also treats as a failed job: the backstop keeps "no rank hangs" true. */
__attribute__((noreturn)) static void comm_abort_now(int code) {
  fflush(stdout);
  fflush(stderr);
  alarm(20);
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (inited && !finalized) MPI_Abort(MPI_COMM_WORLD, code);
  _exit(code);
}

void comm_abort(const comm *c, int code, const char *fmt, ...) {
  char line[1536], prefix[320];
  comm_msg_prefix(c, prefix, sizeof prefix);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  /* one fprintf so lines from different ranks do not interleave mid-line */
  fprintf(stderr, "%s%s\n", prefix, line);
  if (c && c->abort_transport) c->abort_transport((comm *)c);
  comm_abort_now(code ? code : NVAE_EXIT_RUNTIME);
}

void comm_mpi_fail(const comm *c, int rc, const char *call, const char *file, int line) {
  char text[MPI_MAX_ERROR_STRING];
  int n = 0;
  if (MPI_Error_string(rc, text, &n) != MPI_SUCCESS) snprintf(text, sizeof text, "error %d", rc);
  comm_abort(c, NVAE_EXIT_RUNTIME, "%s:%d: MPI error: %s (in %s)", file, line, text, call);
}
