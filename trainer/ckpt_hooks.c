/* NVAE_CKPT_FAULT (ckpt_hooks.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/ckpt_hooks.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FAULTS 8

static const char *const every_rank_points[] = {"optim_partial", "optim_written", "rank_written",
                                                "files_synced", NULL};
static const char *const rank0_points[] = {
    "before_manifest", "manifest_written", "renamed", "latest_tmp",
    "latest_replaced", "retention",        NULL};

static struct {
  int n, rank;
  char kind[MAX_FAULTS][24];
  int who[MAX_FAULTS];      /* rank, or -1 = all */
  int64_t step[MAX_FAULTS]; /* -1 = any */
} hooks;

static int in_list(const char *const *list, const char *s) {
  for (; *list; list++)
    if (strcmp(*list, s) == 0) return 1;
  return 0;
}

int ckpt_hook_init(int rank, nvae_err *e) {
  memset(&hooks, 0, sizeof hooks);
  hooks.rank = rank;
  const char *spec = getenv("NVAE_CKPT_FAULT");
  if (!spec || !*spec) return 0;
  const char *p = spec;
  while (*p && hooks.n < MAX_FAULTS) {
    char kind[24] = "", who[16] = "";
    long long step = -1;
    int used = 0;
    if (sscanf(p, "%23[a-z0-9_]@%15[a-z0-9]%n", kind, who, &used) != 2) goto bad;
    p += used;
    if (*p == ':') {
      int u2 = 0;
      if (sscanf(p, ":%lld%n", &step, &u2) != 1 || step < 0) goto bad;
      p += u2;
    }
    if (*p == ',')
      p++;
    else if (*p)
      goto bad;
    if (!in_list(every_rank_points, kind) && !in_list(rank0_points, kind) &&
        strcmp(kind, "enospc") != 0 && strcmp(kind, "sigusr1") != 0 &&
        strcmp(kind, "sigterm") != 0 && strcmp(kind, "sigwrite") != 0)
      goto bad;
    int w = -1;
    if (strcmp(who, "all") != 0) {
      char *end;
      long v = strtol(who, &end, 10);
      if (*end || v < 0) goto bad;
      w = (int)v;
    }
    snprintf(hooks.kind[hooks.n], sizeof hooks.kind[0], "%s", kind);
    hooks.who[hooks.n] = w;
    hooks.step[hooks.n++] = step;
  }
  return 0;
bad:
  hooks.n = 0;
  return nvae_errf(e, NVAE_EXIT_USAGE,
                   "NVAE_CKPT_FAULT='%s': expected KIND@RANK|all[:STEP][,...] (kinds: "
                   "trainer/ckpt_hooks.h)",
                   spec);
}

static void die(const char *point, int64_t step) {
  fprintf(stderr, "[rank %d] NVAE_CKPT_FAULT: killed at %s of the step %lld checkpoint\n",
          hooks.rank, point, (long long)step);
  fflush(stderr);
  raise(SIGKILL);
}

void ckpt_hook_point(const char *point, int64_t step) {
  for (int i = 0; i < hooks.n; i++) {
    if (hooks.step[i] >= 0 && hooks.step[i] != step) continue;
    const int mine = hooks.who[i] < 0 || hooks.who[i] == hooks.rank;
    if (!mine) continue;
    if (strcmp(hooks.kind[i], point) == 0) die(point, step);
    if (strcmp(hooks.kind[i], "sigwrite") == 0 && strcmp(point, "optim_written") == 0)
      raise(SIGTERM); /* the handler only sets the flag: the write goes on */
    /* "all" at a rank-0 point: the other ranks die where they wait for rank 0 */
    if (hooks.who[i] < 0 && hooks.rank != 0 && strcmp(point, "peer_wait") == 0 &&
        in_list(rank0_points, hooks.kind[i]))
      die(hooks.kind[i], step);
  }
}

int ckpt_hook_enospc(int64_t step) {
  for (int i = 0; i < hooks.n; i++)
    if (strcmp(hooks.kind[i], "enospc") == 0 && (hooks.step[i] < 0 || hooks.step[i] == step) &&
        (hooks.who[i] < 0 || hooks.who[i] == hooks.rank))
      return 1;
  return 0;
}

void ckpt_hook_signal(int64_t step) {
  for (int i = 0; i < hooks.n; i++) {
    const int sigusr1 = strcmp(hooks.kind[i], "sigusr1") == 0;
    if ((sigusr1 || strcmp(hooks.kind[i], "sigterm") == 0) &&
        (hooks.step[i] < 0 || hooks.step[i] == step) &&
        (hooks.who[i] < 0 || hooks.who[i] == hooks.rank))
      raise(sigusr1 ? SIGUSR1 : SIGTERM);
  }
}
