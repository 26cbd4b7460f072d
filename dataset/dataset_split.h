/* One split of a dataset directory, opened and checked: dataset.yaml is read, every shard it
 * lists is opened and compared with it (shape, count, shard index; SHA-256 on request), and then
 * any image of the split can be read by its index. Optionally the whole split is read into memory
 * at open. Every error is one line naming the file, the dataset and expected versus actual.
 * Prefix dataset_split_. */
#ifndef NVAE_DATASET_DATASET_SPLIT_H
#define NVAE_DATASET_DATASET_SPLIT_H

#include "dataset/dataset_yaml.h"
#include "dataset/shard.h"

#include <stdint.h>

typedef struct dataset_split_opts {
  int verify_checksums; /* hash every shard and compare with dataset.yaml before opening it */
  int in_memory;        /* read the whole split into memory at open */
} dataset_split_opts;

typedef struct dataset_split {
  char dir[FS_PATH_MAX];
  char split[16];
  dataset_info info;
  int n_shards;
  shard_reader *shards; /* [n_shards] */
  int64_t *shard_start; /* [n_shards + 1]: split index of each shard's first image */
  int64_t n;            /* images in the split */
  int height, width, channels;
  size_t image_bytes;
  uint8_t *memory; /* [n, H, W, C] when in_memory, else NULL */
} dataset_split;

/* On error everything is released again (no close needed). */
int dataset_split_open(dataset_split *ds, const char *dir, const char *split,
                       const dataset_split_opts *o, nvae_err *e);
/* Image `index` of the split into dst [H, W, C]. Thread-safe. */
int dataset_split_read(const dataset_split *ds, int64_t index, uint8_t *dst, nvae_err *e);
void dataset_split_close(dataset_split *ds);

#endif
