/* nvae-prep's common driver: turns a list of source items per split into a finished dataset
 * directory (docs/dataset-format.md). A source (prep_celeba.c, prep_folder.c, prep_idx.c) says
 * what the images are and how to produce one; the driver decodes on every core, writes the shards,
 * hashes them, writes dataset.yaml, and publishes the directory atomically: everything goes into
 * <out>.tmp-<pid>/, every file and the directory are fsynced, and only then is it renamed to
 * <out> (never over an existing path). On any failure the temporary directory is removed.
 * Prefix prep_. */
#ifndef NVAE_DATASET_PREP_H
#define NVAE_DATASET_PREP_H

#include "kernels/base/error.h"

#include <signal.h>
#include <stdint.h>

typedef struct prep_item {
  char *path;           /* source file (NULL when the source is in memory) */
  int64_t source_index; /* stored in /index: CelebA file number, folder list position, IDX index */
  int source_file;      /* which input holds it when there are several (idx: 0 train, 1 test) */
} prep_item;

typedef struct prep_split {
  char name[16];
  int64_t n;
  prep_item *items; /* [n] */
} prep_split;

typedef struct prep_source {
  const char *kind; /* celeba | folder | idx */
  const char *crop; /* box | center-square | none */
  int crop_box[4];
  const char *resize; /* pil-bilinear-antialias | none */
  int size;           /* the --size asked for (0: none) */
  int height, width, channels;
  int n_source_files;
  char *source_files[2];
  const char *note; /* printed with the summary (e.g. "not the official release"), or NULL */
  int n_splits;
  prep_split splits[3];
  void *ctx;
  /* Per-thread scratch (decoders, buffers). */
  void *(*thread_init)(void *ctx);
  void (*thread_free)(void *ctx, void *scratch);
  /* Writes item's image [height, width, channels] to dst. A bad image returns NVAE_EXIT_USAGE
   * with e->msg naming it; the driver skips it (warning) or, with --strict, stops. */
  int (*load)(void *ctx, void *scratch, const prep_item *item, uint8_t *dst, nvae_err *e);
  void (*ctx_free)(void *ctx);
} prep_source;

typedef struct prep_opts {
  const char *out;          /* dataset directory to create */
  const char *name;         /* dataset name; NULL = the base name of out */
  int threads;              /* 0 = every online core */
  int strict;               /* an unreadable image is fatal */
  int64_t images_per_shard; /* 0 = about 256 MiB of images per shard */
  int shards;               /* shards per split (overrides images_per_shard); 0 = by size */
  volatile sig_atomic_t *interrupted; /* set by a signal handler: stop and clean up */
} prep_opts;

/* Runs the whole job; prints progress and warnings to stderr, the summary to stdout. */
int prep_run(const prep_source *src, const prep_opts *given, nvae_err *e);
/* Frees the items, source files and ctx of a source. */
void prep_source_free(prep_source *src);
/* Adds an item to a split (grows its array). */
void prep_split_add(prep_split *s, const char *path, int64_t source_index);

/* The sources: fill *src or return an error naming the bad input. */
int prep_celeba_source(prep_source *src, const char *root, int size, nvae_err *e);
int prep_folder_source(prep_source *src, const char *root, int size, double valid_fraction,
                       nvae_err *e);
int prep_idx_source(prep_source *src, const char *train, const char *test, nvae_err *e);
/* Made-up smooth images (prep_synthetic.c): n_train train images, a tenth as many valid and test,
 * size x size x channels (1 or 3), reproducible from seed. For benchmarks and smoke runs. */
int prep_synthetic_source(prep_source *src, int64_t n_train, int size, int channels,
                          uint64_t seed, nvae_err *e);

#endif
