/* Small filesystem helpers for nvae-prep and the loader: path joins that refuse to truncate,
 * whole-file reads into reusable buffers, fsync of files and directories, and the no-replace
 * rename that publishes a finished dataset directory. Prefix fs_. */
#ifndef NVAE_DATASET_FSUTIL_H
#define NVAE_DATASET_FSUTIL_H

#include "kernels/base/error.h"

#include <stddef.h>
#include <stdint.h>

#define FS_PATH_MAX 4096

/* out = a "/" b. Returns 0, or -1 if it does not fit (out is then empty). */
int fs_join(char *out, size_t n, const char *a, const char *b);
/* 1 if something (file, directory, dangling link) exists at path. */
int fs_exists(const char *path);
int fs_is_dir(const char *path);
/* Size of a regular file; errors name the file. */
int fs_file_size(const char *path, int64_t *size, nvae_err *e);
/* Reads a whole file into *buf (grown as needed; *cap is its capacity), *len = bytes read. */
int fs_read_file(const char *path, uint8_t **buf, size_t *cap, size_t *len, nvae_err *e);
/* fsync a file or a directory by path (a directory fsync makes its entries durable). */
int fs_fsync_path(const char *path, nvae_err *e);
/* The directory that holds path ("." if none). */
void fs_parent_dir(const char *path, char *out, size_t n);
/* rename(from, to) that fails when `to` exists, even an empty directory (renameat2 NOREPLACE;
 * on filesystems without it: an existence check, then rename). */
int fs_rename_noreplace(const char *from, const char *to, nvae_err *e);
/* Removes the regular files directly inside dir, then dir itself. Only for directories this
 * program created (a failed nvae-prep's temporary output); never recursive. */
void fs_remove_flat_dir(const char *dir);

#endif
