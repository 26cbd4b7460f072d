/* HDF5 glue: see h5util.h. */
#include "dataset/h5util.h"

#include <stdio.h>
#include <string.h>

void h5u_quiet_begin(h5u_quiet *q) {
  q->func = NULL;
  q->data = NULL;
  H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void h5u_quiet_end(const h5u_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->func, q->data); }

typedef struct walk_state {
  char *buf;
  size_t n;
  int found;
} walk_state;

static herr_t take_first(unsigned n, const H5E_error2_t *err, void *client) {
  walk_state *w = client;
  (void)n;
  if (!w->found && err->desc && err->desc[0]) {
    snprintf(w->buf, w->n, "%s", err->desc);
    w->found = 1;
  }
  return 0;
}

void h5u_last_error(char *buf, size_t n) {
  walk_state w = {buf, n, 0};
  /* Upward walk visits the innermost error first: the one that says what was wrong. */
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_first, &w);
  if (!w.found) snprintf(buf, n, "unknown HDF5 error");
  H5Eclear2(H5E_DEFAULT);
}

hid_t h5u_fapl(int for_create) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return fapl;
  if (H5Pset_file_locking(fapl, 0, 1) < 0 ||
      (for_create && H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0)) {
    H5Pclose(fapl);
    return -1;
  }
  return fapl;
}

int h5u_step(h5u_seq *s, long long rc) {
  if (rc < 0 && s->ok) {
    h5u_last_error(s->why, sizeof s->why);
    s->ok = 0;
  }
  return s->ok;
}
