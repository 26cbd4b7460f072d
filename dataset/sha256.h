/* SHA-256 (FIPS 180-4) for the per-shard checksums in dataset.yaml. Own implementation so the
 * dataset part needs no crypto library; speed matters only a little (a CelebA-64 train split is
 * ~2 GB, hashed once by nvae-prep and on request by the loader). */
#ifndef NVAE_DATASET_SHA256_H
#define NVAE_DATASET_SHA256_H

#include "kernels/base/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
  uint32_t h[8];
  uint64_t nbytes; /* total bytes hashed so far */
  uint8_t buf[64]; /* pending partial block */
  size_t nbuf;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, uint8_t digest[32]);
/* digest -> 64 lowercase hex digits + NUL. */
void sha256_hex(const uint8_t digest[32], char hex[65]);
/* Hashes a whole file; an unreadable file is bad input (code NVAE_EXIT_USAGE, message names it). */
int sha256_file(const char *path, char hex[65], nvae_err *e);

#endif
