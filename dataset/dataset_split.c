/* Opening and checking one split: see dataset_split.h. */
#include "dataset/dataset_split.h"

#include "dataset/sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_shard(const dataset_split *ds, int k, const dataset_shard_entry *ent,
                       const shard_reader *r, nvae_err *e) {
  const dataset_info *d = &ds->info;
  const char *p = r->path;
  if (r->n != ent->count)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: dataset '%s' split %s: dataset.yaml says %lld images, the shard has %lld",
                     p, d->name, ds->split, (long long)ent->count, (long long)r->n);
  if (r->height != d->height || r->width != d->width || r->channels != d->channels)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: dataset '%s' split %s: images are %dx%dx%d (HxWxC), dataset.yaml says "
                     "%dx%dx%d",
                     p, d->name, ds->split, r->height, r->width, r->channels, d->height, d->width,
                     d->channels);
  if (r->format_version < 1 || r->format_version > SHARD_FORMAT_VERSION)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: dataset '%s': shard format_version attribute is %d, expected 1..%d", p,
                     d->name, r->format_version, SHARD_FORMAT_VERSION);
  if (r->shard_index != k || r->shard_count != ds->n_shards)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: dataset '%s' split %s: shard attributes say %d of %d, dataset.yaml lists "
                     "it as %d of %d",
                     p, d->name, ds->split, r->shard_index, r->shard_count, k, ds->n_shards);
  return 0;
}

static int open_split(dataset_split *ds, const char *dir, const char *split,
                      const dataset_split_opts *o, nvae_err *e) {
  snprintf(ds->dir, sizeof ds->dir, "%s", dir);
  snprintf(ds->split, sizeof ds->split, "%s", split);
  if (!fs_is_dir(dir))
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: not a dataset directory (make one with nvae-prep, see "
                     "docs/dataset-format.md)",
                     dir);
  char path[FS_PATH_MAX];
  if (fs_join(path, sizeof path, dir, DATASET_YAML_NAME))
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: path too long", dir);
  if (!fs_exists(path))
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: missing; %s is not a complete dataset directory",
                     path, dir);
  int rc = dataset_yaml_read(path, &ds->info, e);
  if (rc) return rc;
  const dataset_info *d = &ds->info;
  const dataset_split_info *sp = dataset_info_split(d, split);
  if (!sp) {
    char have[64] = "";
    for (int s = 0; s < d->n_splits; s++) {
      strcat(have, s ? ", " : "");
      strcat(have, d->splits[s].name);
    }
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: dataset '%s' has no split '%s' (it has: %s)", path,
                     d->name, split, have[0] ? have : "none");
  }
  if (sp->count < 1)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: dataset '%s' split %s holds no images", path, d->name,
                     split);
  ds->n_shards = sp->n_shards;
  ds->shards = nvae_calloc((size_t)sp->n_shards, sizeof *ds->shards);
  for (int k = 0; k < sp->n_shards; k++) { /* closable before it is opened */
    ds->shards[k].fd = -1;
    ds->shards[k].file = ds->shards[k].dset = -1;
  }
  ds->shard_start = nvae_calloc((size_t)sp->n_shards + 1, sizeof(int64_t));
  ds->height = d->height;
  ds->width = d->width;
  ds->channels = d->channels;
  ds->image_bytes = (size_t)d->height * d->width * d->channels;
  for (int k = 0; k < sp->n_shards; k++) {
    const dataset_shard_entry *ent = &sp->shards[k];
    if (fs_join(path, sizeof path, dir, ent->file))
      return nvae_errf(e, NVAE_EXIT_USAGE, "%s: path too long", dir);
    if (!fs_exists(path))
      return nvae_errf(e, NVAE_EXIT_USAGE,
                       "%s: missing: dataset '%s' split %s lists it as shard %d of %d", path,
                       d->name, split, k, sp->n_shards);
    if (o && o->verify_checksums) {
      /* Hash before HDF5 sees the file: a damaged shard is reported as such, never parsed. */
      char hex[65];
      if ((rc = sha256_file(path, hex, e))) return rc;
      if (strcmp(hex, ent->sha256))
        return nvae_errf(e, NVAE_EXIT_USAGE,
                         "%s: dataset '%s': SHA-256 mismatch: dataset.yaml says %s, the file has "
                         "%s (damaged or replaced)",
                         path, d->name, ent->sha256, hex);
    }
    if ((rc = shard_open(&ds->shards[k], path, e))) return rc;
    if ((rc = check_shard(ds, k, ent, &ds->shards[k], e))) return rc;
    ds->shard_start[k + 1] = ds->shard_start[k] + ds->shards[k].n;
  }
  ds->n = ds->shard_start[sp->n_shards];
  if (o && o->in_memory) {
    ds->memory = nvae_aligned_alloc((size_t)ds->n * ds->image_bytes);
    for (int k = 0; k < ds->n_shards; k++) {
      rc = shard_read_range(&ds->shards[k], 0, ds->shards[k].n,
                            ds->memory + (size_t)ds->shard_start[k] * ds->image_bytes, e);
      if (rc) return rc;
    }
  }
  return 0;
}

int dataset_split_open(dataset_split *ds, const char *dir, const char *split,
                       const dataset_split_opts *o, nvae_err *e) {
  memset(ds, 0, sizeof *ds);
  int rc = open_split(ds, dir, split, o, e);
  if (rc) dataset_split_close(ds); /* nothing half-open is left to the caller */
  return rc;
}

int dataset_split_read(const dataset_split *ds, int64_t index, uint8_t *dst, nvae_err *e) {
  if (index < 0 || index >= ds->n)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: split %s: image %lld out of range [0, %lld)",
                     ds->dir, ds->split, (long long)index, (long long)ds->n);
  if (ds->memory) {
    memcpy(dst, ds->memory + (size_t)index * ds->image_bytes, ds->image_bytes);
    return 0;
  }
  int lo = 0, hi = ds->n_shards - 1; /* shard k holds [shard_start[k], shard_start[k + 1]) */
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (ds->shard_start[mid] <= index)
      lo = mid;
    else
      hi = mid - 1;
  }
  return shard_read(&ds->shards[lo], index - ds->shard_start[lo], dst, e);
}

void dataset_split_close(dataset_split *ds) {
  for (int k = 0; k < ds->n_shards; k++)
    shard_close(&ds->shards[k]);
  free(ds->shards);
  free(ds->shard_start);
  nvae_free(ds->memory);
  dataset_info_free(&ds->info);
  memset(ds, 0, sizeof *ds);
}
