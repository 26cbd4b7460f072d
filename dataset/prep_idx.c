/* nvae-prep idx: MNIST-style IDX image files -> splits train (and test), stored as they are
 * (rows x cols x 1, e.g. 28x28; padding to 32 is the loader's job). */
#include "dataset/idx.h"
#include "dataset/prep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct idx_ctx {
  idx_images im[2]; /* train, test */
} idx_ctx;

static int idx_load(void *vctx, void *vs, const prep_item *item, uint8_t *dst, nvae_err *e) {
  (void)vs;
  (void)e;
  const idx_ctx *c = vctx;
  const idx_images *f = &c->im[item->source_file];
  int64_t i = item->source_index;
  size_t bytes = (size_t)f->rows * f->cols;
  memcpy(dst, f->pixels + (size_t)i * bytes, bytes);
  return 0;
}

static void idx_ctx_free(void *vctx) {
  idx_ctx *c = vctx;
  if (!c) return;
  idx_free(&c->im[0]);
  idx_free(&c->im[1]);
  free(c);
}

int prep_idx_source(prep_source *src, const char *train, const char *test, nvae_err *e) {
  memset(src, 0, sizeof *src);
  idx_ctx *c = nvae_calloc(1, sizeof *c);
  int rc = idx_read_images(train, &c->im[0], e);
  if (!rc && test) rc = idx_read_images(test, &c->im[1], e);
  if (!rc && test && (c->im[1].rows != c->im[0].rows || c->im[1].cols != c->im[0].cols))
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: images are %dx%d but %s has %dx%d", test, c->im[1].rows,
                   c->im[1].cols, train, c->im[0].rows, c->im[0].cols);
  if (rc) {
    idx_ctx_free(c);
    return rc;
  }
  src->kind = "idx";
  src->crop = "none";
  src->resize = "none";
  src->height = c->im[0].rows;
  src->width = c->im[0].cols;
  src->channels = 1;
  src->n_splits = test ? 2 : 1;
  const char *files[2] = {train, test};
  for (int s = 0; s < src->n_splits; s++) {
    snprintf(src->splits[s].name, sizeof src->splits[s].name, "%s", s ? "test" : "train");
    for (int64_t i = 0; i < c->im[s].n; i++) {
      prep_split_add(&src->splits[s], NULL, i);
      src->splits[s].items[i].source_file = s;
    }
    src->source_files[s] = nvae_malloc(strlen(files[s]) + 1);
    memcpy(src->source_files[s], files[s], strlen(files[s]) + 1);
  }
  src->n_source_files = src->n_splits;
  src->ctx = c;
  src->ctx_free = idx_ctx_free;
  src->load = idx_load;
  return 0;
}
