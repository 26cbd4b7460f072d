/* NVAE_FAULT parsing and the faults that end the process (train_fault.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/train_fault.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
  const char *name;
  fault_kind kind;
} fault_names[] = {{"kill", FAULT_KILL},
                   {"stall", FAULT_STALL},
                   {"nanloss", FAULT_NANLOSS},
                   {"nan", FAULT_NAN}};

int train_fault_parse(const char *spec, train_fault *f, nvae_err *e) {
  memset(f, 0, sizeof *f);
  if (!spec || !*spec) return 0;
  const char *p = spec;
  while (*p) {
    if (f->n == TRAIN_FAULT_MAX)
      return nvae_errf(e, NVAE_EXIT_USAGE, "NVAE_FAULT='%s': at most %d faults", spec,
                       TRAIN_FAULT_MAX);
    fault_kind k = FAULT_NONE;
    size_t len = 0;
    for (size_t i = 0; i < sizeof fault_names / sizeof fault_names[0]; i++) {
      len = strlen(fault_names[i].name);
      if (strncmp(p, fault_names[i].name, len) == 0 && p[len] == '@') {
        k = fault_names[i].kind;
        break;
      }
    }
    int rank = -1, used = 0;
    long long step = 0;
    if (k == FAULT_NONE || sscanf(p + len, "@%d:%lld%n", &rank, &step, &used) != 2 || rank < 0 ||
        step < 1 || (p[len + used] != ',' && p[len + used] != '\0'))
      return nvae_errf(e, NVAE_EXIT_USAGE,
                       "NVAE_FAULT='%s': expected KIND@RANK:STEP[,...] with KIND one of kill, "
                       "stall, nan, nanloss, RANK >= 0 and STEP >= 1",
                       spec);
    f->kind[f->n] = k;
    f->rank[f->n] = rank;
    f->step[f->n++] = step;
    p += len + used;
    if (*p == ',') p++;
  }
  return 0;
}

fault_kind train_fault_at(const train_fault *f, int rank, int64_t step) {
  for (int i = 0; i < f->n; i++)
    if (f->rank[i] == rank && f->step[i] == step) return f->kind[i];
  return FAULT_NONE;
}

void train_fault_act(fault_kind k, int rank, int64_t step) {
  if (k != FAULT_KILL && k != FAULT_STALL) return;
  fprintf(stderr, "[rank %d] NVAE_FAULT: %s at step %lld\n", rank,
          k == FAULT_KILL ? "kill" : "stall", (long long)step);
  fflush(stderr);
  if (k == FAULT_KILL) raise(SIGKILL);
  for (;;) /* stall: a rank that stops answering, until the job is torn down */
    pause();
}
