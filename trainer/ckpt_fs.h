/* The file-system steps of a checkpoint commit (DESIGN.md §5; why each fsync: RELIABILITY.md §1.4,
 * Pillai et al. OSDI '14): a rename is atomic but not durable until the parent directory is
 * fsynced, and a file's data is not durable until the file is. Every function names the path in
 * its one-line error. Write-side failures return NVAE_EXIT_RUNTIME; read-side failures (a
 * checkpoint that is missing or unreadable) NVAE_EXIT_USAGE. Prefix ckpt_fs_. */
#ifndef NVAE_TRAINER_CKPT_FS_H
#define NVAE_TRAINER_CKPT_FS_H

#include "kernels/base/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* fsync of a file or a directory (opened read-only). */
int ckpt_fs_fsync(const char *path, nvae_err *e);

/* Reads the whole file: its size and CRC-32C (trainer/crc32c.h); with do_fsync, fsyncs it too (the
 * writer's last step). Errors are NVAE_EXIT_USAGE when reading (do_fsync = 0), else RUNTIME. */
int ckpt_fs_crc_file(const char *path, int do_fsync, uint64_t *size, uint32_t *crc, nvae_err *e);

/* Creates (or truncates) path, writes len bytes, fsyncs and closes it. */
int ckpt_fs_write_file(const char *path, const void *data, size_t len, nvae_err *e);

/* dir/name replaced atomically: dir/name.tmp written and fsynced, renamed over dir/name, dir
 * fsynced. A crash leaves the old or the new content, never a mix. */
int ckpt_fs_replace_file(const char *dir, const char *name, const void *data, size_t len,
                         nvae_err *e);

/* A whole small file (at most max bytes) into a malloc'ed, NUL-terminated buffer. */
int ckpt_fs_read_small(const char *path, size_t max, char **text, size_t *len, nvae_err *e);

/* Removes a directory of plain files (no subdirectories). A missing directory is not an error. */
int ckpt_fs_remove_dir(const char *path, nvae_err *e);

/* Moves to_path into place as path atomically when path exists too (renameat2 RENAME_EXCHANGE:
 * then *old_left = 1 and the old directory is at to_path, for the caller to remove), else a
 * plain rename. Without RENAME_EXCHANGE support the old one is first renamed aside to
 * aside_path (a short window where neither name exists). */
int ckpt_fs_rename_dir(const char *from, const char *to, const char *aside, int *old_left,
                       nvae_err *e);

/* Reserves `bytes` in dir for a moment (fallocate of a scratch file, then unlinked), so that a
 * full disk is one clean error before any HDF5 write (HDF5 leaves a file that failed to close in
 * a state that crashes at exit). File systems without fallocate: no check (returns 0). */
int ckpt_fs_reserve(const char *dir, uint64_t bytes, nvae_err *e);

/* Evicts a file's (clean) pages from the page cache, so a timed read comes from the device. */
void ckpt_fs_drop_cache(const char *path);

#ifdef __cplusplus
}
#endif

#endif
