/* dataset.yaml: the description of a dataset directory (docs/dataset-format.md), written by
 * nvae-prep and read by the loader, both through libyaml. The reader is strict (unknown or
 * duplicate keys, wrong types, unsafe shard file names are errors naming file:line:column and the
 * dotted key) and returns an nvae_err, so it can be fuzzed. Prefix dataset_yaml_ / dataset_info_.
 */
#ifndef NVAE_DATASET_DATASET_YAML_H
#define NVAE_DATASET_DATASET_YAML_H

#include "dataset/fsutil.h"
#include "kernels/base/error.h"

#include <stdint.h>

#define DATASET_FORMAT_VERSION 1
#define DATASET_MAX_SPLITS 3
#define DATASET_YAML_NAME "dataset.yaml"

typedef struct dataset_shard_entry {
  char file[256];  /* file name inside the dataset directory (no '/') */
  int64_t count;   /* images in the shard */
  char sha256[65]; /* 64 lowercase hex digits */
} dataset_shard_entry;

typedef struct dataset_split_info {
  char name[16];   /* train | valid | test */
  int64_t count;   /* images in the split = sum of its shards' counts */
  int64_t skipped; /* unreadable source images nvae-prep left out */
  int n_shards;
  dataset_shard_entry *shards; /* [n_shards], owned */
} dataset_split_info;

typedef struct dataset_info {
  int format_version;
  char name[128];
  char created_by[64];
  char source_kind[16]; /* celeba | folder | idx */
  int n_source_files;
  char source_files[2][FS_PATH_MAX]; /* celeba: root, partition file; folder: root; idx: files */
  char crop[16];                     /* box | center-square | none */
  int crop_box[4];                   /* with crop == box: left, top, right, bottom */
  char resize[32];                   /* pil-bilinear-antialias | none */
  int size;                          /* --size given to nvae-prep, 0 when none */
  int height, width, channels;
  int n_splits;
  dataset_split_info splits[DATASET_MAX_SPLITS];
} dataset_info;

int dataset_yaml_write(const char *path, const dataset_info *d, nvae_err *e);
/* Parses path into *d (zeroed first; free with dataset_info_free even on error). */
int dataset_yaml_read(const char *path, dataset_info *d, nvae_err *e);
/* Same from a buffer; `path` only names the input in messages. */
int dataset_yaml_parse(const char *path, const uint8_t *text, size_t len, dataset_info *d,
                       nvae_err *e);
void dataset_info_free(dataset_info *d);
/* The split called name, or NULL. */
const dataset_split_info *dataset_info_split(const dataset_info *d, const char *name);

#endif
