/* Retention of old checkpoints (ckpt_retention.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/ckpt_retention.h"

#include "trainer/ckpt_fs.h"
#include "trainer/ckpt_hooks.h"
#include "trainer/ckpt_names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ckpt_retention_plan(const int64_t *steps, int n, int keep_last, int64_t keep_every,
                        int64_t latest, unsigned char *del) {
  int count = 0;
  for (int i = 0; i < n; i++) {
    const int keep =
        i < keep_last || (keep_every > 0 && steps[i] % keep_every == 0) || steps[i] == latest;
    del[i] = !keep;
    count += !keep;
  }
  return count;
}

int ckpt_retention_apply(const char *dir, int keep_last, int64_t keep_every, int64_t latest,
                         int64_t step_for_hooks, nvae_err *e) {
  int64_t *steps = NULL;
  int n = 0;
  if (ckpt_list_steps(dir, &steps, &n, NULL, e)) {
    e->code = NVAE_EXIT_RUNTIME;
    return e->code;
  }
  unsigned char *del = nvae_calloc((size_t)(n > 0 ? n : 1), 1);
  ckpt_retention_plan(steps, n, keep_last, keep_every, latest, del);
  int rc = 0, done = 0;
  size_t len = strlen(dir) + 2 * CKPT_NAME_MAX;
  char *from = nvae_malloc(len), *to = nvae_malloc(len);
  for (int i = 0; i < n && !rc; i++) {
    if (!del[i]) continue;
    char name[CKPT_NAME_MAX];
    ckpt_name_step_dir(steps[i], name, sizeof name);
    snprintf(from, len, "%s/%s", dir, name);
    snprintf(to, len, "%s/%s.del", dir, name);
    if (rename(from, to) != 0) {
      rc =
          nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot rename to %s: %s", from, to, strerror(errno));
      break;
    }
    rc = ckpt_fs_remove_dir(to, e);
    if (!rc)
      printf("checkpoint       deleted %s (checkpoint.keep_last %d, keep_every %lld)\n", from,
             keep_last, (long long)keep_every);
    if (!done++) ckpt_hook_point("retention", step_for_hooks);
  }
  if (!rc && done) rc = ckpt_fs_fsync(dir, e);
  free(from);
  free(to);
  free(del);
  free(steps);
  return rc;
}
