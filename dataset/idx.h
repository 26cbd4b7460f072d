/* MNIST-style IDX image files (magic 0x00000803: unsigned bytes, 3 dimensions N x rows x cols,
 * big-endian sizes), gzip-compressed or raw: zlib's gzread reads both. Prefix idx_. */
#ifndef NVAE_DATASET_IDX_H
#define NVAE_DATASET_IDX_H

#include "kernels/base/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct idx_images {
  int64_t n;
  int rows, cols;
  uint8_t *pixels; /* [n, rows, cols] */
} idx_images;

/* Reads a whole IDX image file (gzip or raw). Errors name the file: not IDX (wrong magic, e.g. a
 * label file), truncated, trailing bytes, damaged gzip stream. */
int idx_read_images(const char *path, idx_images *out, nvae_err *e);
/* Parses bytes already decompressed (copies the pixels); `path` only names them in messages. */
int idx_parse_images(const char *path, const uint8_t *data, size_t len, idx_images *out,
                     nvae_err *e);
void idx_free(idx_images *im);

#endif
