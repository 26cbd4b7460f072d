/* One shard file of a dataset (docs/dataset-format.md): /images uint8 [N, H, W, C] chunked one
 * image per chunk, /index int32 [N] (source index), attributes on the root group.
 *
 * Reading: shard_open validates the file once and keeps it open read-only; an image is one
 * H5Dread_chunk (the raw chunk, no dataspace selection: ~2.5 us) or, for a contiguous /images
 * written by other tools, one pread at its offset. Reads may come from the loader's prefetch
 * thread while the trainer uses HDF5 elsewhere: Debian's libhdf5 is built thread-safe (checked at
 * run time; without it the reads are serialised by a mutex of ours). Not used: per-image chunk
 * addresses + pread, because H5Dget_chunk_info_by_coord walks the chunk index from the start in
 * HDF5 1.10 (O(N^2) for a shard; measured minutes for 60000 images). Prefix shard_. */
#ifndef NVAE_DATASET_SHARD_H
#define NVAE_DATASET_SHARD_H

#include "dataset/fsutil.h"
#include "kernels/base/error.h"

#include <stddef.h>
#include <stdint.h>

#define SHARD_FORMAT_VERSION 1

/* What nvae-prep records in every shard (strings are written as variable-length UTF-8). */
typedef struct shard_meta {
  const char *name;   /* dataset name */
  const char *split;  /* train | valid | test */
  const char *source; /* celeba | folder | idx */
  const char *crop;   /* box | center-square | none */
  int crop_box[4];    /* left, top, right, bottom; written only when crop is "box" */
  const char *resize; /* pil-bilinear-antialias | none */
  int height, width, channels;
  int shard_index, shard_count;
} shard_meta;

/* Writes a complete shard (n >= 1 images) to a new file (fails if it exists). index may be NULL. */
int shard_write(const char *path, const shard_meta *m, const uint8_t *images /* [n,H,W,C] */,
                const int32_t *index /* [n] */, int64_t n, nvae_err *e);

/* An opened, validated shard. */
typedef struct shard_reader {
  char path[FS_PATH_MAX];
  int64_t file, dset; /* HDF5 ids (hid_t), -1 when closed */
  int chunked;        /* 1: one image per chunk; 0: contiguous, read with pread */
  int fd;             /* contiguous only */
  int64_t base;       /* contiguous only: file offset of image 0 */
  int64_t n;          /* images */
  int height, width, channels;
  size_t image_bytes; /* H * W * C */
  /* numeric root attributes; -1 when absent */
  int format_version, shard_index, shard_count;
} shard_reader;

/* Opens path read-only (HDF5 file locking off) and checks /images: uint8 of rank 4, stored
 * uncompressed (one image per chunk, or contiguous), every image's storage allocated and inside
 * the file. Errors (missing, truncated, not HDF5, wrong shape or type) name the file and say what
 * was expected. */
int shard_open(shard_reader *r, const char *path, nvae_err *e);
/* Reads image i (0 <= i < n) into dst [H, W, C]. Thread-safe. A failure here (the file changed
 * or is damaged where open could not see it) is NVAE_EXIT_RUNTIME. */
int shard_read(const shard_reader *r, int64_t i, uint8_t *dst, nvae_err *e);
/* Reads images [first, first + count) into dst with one large read. */
int shard_read_range(const shard_reader *r, int64_t first, int64_t count, uint8_t *dst,
                     nvae_err *e);
void shard_close(shard_reader *r);

/* Rewrites the shard_index / shard_count attributes of a shard written by shard_write (nvae-prep
 * renumbers when a shard ended up empty because all its source images were unreadable). */
int shard_set_numbering(const char *path, int shard_index, int shard_count, nvae_err *e);

#endif
