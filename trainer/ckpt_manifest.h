/* MANIFEST: the last file of a checkpoint, written by rank 0 once every rank's files are durable
 * (DESIGN.md §5). Plain text, one item per line:
 *
 *   nvae-train checkpoint
 *   format_version 1
 *   step 120
 *   world_size 2
 *   file model.h5 1254016 crc32c 8f0e21aa
 *   file optim-00000.h5 402112 crc32c 01c3f2d9
 *   ...                                         (size in bytes, CRC-32C in 8 hex digits)
 *   end crc32c 5e33a0c1                         (CRC-32C of every byte before this line)
 *
 * The closing line makes a truncated or edited MANIFEST detectable on its own. The parser takes
 * bytes and returns an error naming the file and the line (never exits): it is fuzzed. Prefix
 * ckpt_manifest_. */
#ifndef NVAE_TRAINER_CKPT_MANIFEST_H
#define NVAE_TRAINER_CKPT_MANIFEST_H

#include "kernels/base/error.h"
#include "trainer/ckpt_names.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CKPT_FORMAT_VERSION 1
#define CKPT_MANIFEST_MAX_BYTES (64u << 20) /* 2 files per rank: ~1M ranks */

typedef struct ckpt_manifest_file {
  char name[CKPT_NAME_MAX];
  uint64_t size;
  uint32_t crc32c;
} ckpt_manifest_file;

typedef struct ckpt_manifest {
  int format_version;
  int64_t step;
  int world_size;
  int n_files;
  ckpt_manifest_file *files; /* malloc'ed */
} ckpt_manifest;

/* The text (malloc'ed, *len bytes, NUL-terminated). */
char *ckpt_manifest_format(const ckpt_manifest *m, size_t *len);
/* Parses text[0..len); `path` names the file in messages. On error *m is empty. */
int ckpt_manifest_parse(const char *text, size_t len, const char *path, ckpt_manifest *m,
                        nvae_err *e);
/* The entry named name, or NULL. */
const ckpt_manifest_file *ckpt_manifest_find(const ckpt_manifest *m, const char *name);
/* Checks that the file list is exactly model.h5, optim-RRRRR.h5 and rank-RRRRR.h5 for every rank
 * of world_size (the reader needs all of them). */
int ckpt_manifest_check_complete(const ckpt_manifest *m, const char *path, nvae_err *e);
void ckpt_manifest_free(ckpt_manifest *m);

#ifdef __cplusplus
}
#endif

#endif
