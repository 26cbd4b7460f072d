/* Durable file-system steps (ckpt_fs.h). */
#define _GNU_SOURCE /* renameat2, posix_fadvise */
#include "trainer/ckpt_fs.h"

#include "trainer/crc32c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ckpt_fs_fsync(const char *path, nvae_err *e) {
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot open for fsync: %s", path, strerror(errno));
  /* Some file systems (FUSE, a few network ones) refuse fsync on a directory with EINVAL: there
   * it cannot be had, and the rename is as durable as that file system makes it. */
  if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) {
    int err = errno;
    close(fd);
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: fsync failed: %s", path, strerror(err));
  }
  close(fd);
  return 0;
}

int ckpt_fs_crc_file(const char *path, int do_fsync, uint64_t *size, uint32_t *crc, nvae_err *e) {
  const int code = do_fsync ? NVAE_EXIT_RUNTIME : NVAE_EXIT_USAGE;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return nvae_errf(e, code, "%s: cannot open: %s", path, strerror(errno));
  enum { BLOCK = 8 << 20 };
  uint8_t *buf = nvae_malloc(BLOCK);
  uint64_t total = 0;
  uint32_t c = 0;
  int rc = 0;
  for (;;) {
    ssize_t got = read(fd, buf, BLOCK);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      rc = nvae_errf(e, code, "%s: read failed after %llu bytes: %s", path,
                     (unsigned long long)total, strerror(errno));
      break;
    }
    if (got == 0) break;
    c = crc32c_update(c, buf, (size_t)got);
    total += (uint64_t)got;
  }
  free(buf);
  if (!rc && do_fsync && fsync(fd) != 0)
    rc = nvae_errf(e, code, "%s: fsync failed: %s", path, strerror(errno));
  close(fd);
  if (!rc) {
    *size = total;
    *crc = c;
  }
  return rc;
}

int ckpt_fs_write_file(const char *path, const void *data, size_t len, nvae_err *e) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot create: %s", path, strerror(errno));
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t put = write(fd, p, left);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) {
      int err = errno;
      close(fd);
      return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: write failed: %s", path, strerror(err));
    }
    p += put;
    left -= (size_t)put;
  }
  if (fsync(fd) != 0) {
    int err = errno;
    close(fd);
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: fsync failed: %s", path, strerror(err));
  }
  if (close(fd) != 0)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: close failed: %s", path, strerror(errno));
  return 0;
}

int ckpt_fs_replace_file(const char *dir, const char *name, const void *data, size_t len,
                         nvae_err *e) {
  size_t n = strlen(dir) + strlen(name) + 8;
  char *tmp = nvae_malloc(n), *dst = nvae_malloc(n);
  snprintf(tmp, n, "%s/%s.tmp", dir, name);
  snprintf(dst, n, "%s/%s", dir, name);
  int rc = ckpt_fs_write_file(tmp, data, len, e);
  if (!rc && rename(tmp, dst) != 0)
    rc = nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: rename to %s failed: %s", tmp, dst, strerror(errno));
  if (!rc) rc = ckpt_fs_fsync(dir, e);
  if (rc) unlink(tmp);
  free(tmp);
  free(dst);
  return rc;
}

int ckpt_fs_read_small(const char *path, size_t max, char **text, size_t *len, nvae_err *e) {
  *text = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: not a regular file", path);
  }
  if ((uint64_t)st.st_size > max) {
    close(fd);
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: %lld bytes, more than the %zu expected", path,
                     (long long)st.st_size, max);
  }
  char *buf = nvae_malloc((size_t)st.st_size + 1);
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  if (got != (size_t)st.st_size) {
    free(buf);
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: short read (%zu of %lld bytes)", path, got,
                     (long long)st.st_size);
  }
  buf[got] = '\0';
  *text = buf;
  *len = got;
  return 0;
}

int ckpt_fs_remove_dir(const char *path, nvae_err *e) {
  DIR *d = opendir(path);
  if (!d) {
    if (errno == ENOENT) return 0;
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot open the directory: %s", path,
                     strerror(errno));
  }
  int rc = 0;
  struct dirent *de;
  size_t n = strlen(path) + 300;
  char *p = nvae_malloc(n);
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    snprintf(p, n, "%s/%s", path, de->d_name);
    if (unlink(p) != 0 && errno != ENOENT && !rc)
      rc = nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot remove: %s", p, strerror(errno));
  }
  closedir(d);
  free(p);
  if (!rc && rmdir(path) != 0 && errno != ENOENT)
    rc = nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot remove the directory: %s", path,
                   strerror(errno));
  return rc;
}

int ckpt_fs_rename_dir(const char *from, const char *to, const char *aside, int *old_left,
                       nvae_err *e) {
  *old_left = 0;
  struct stat st;
  if (stat(to, &st) != 0) {
    if (rename(from, to) != 0)
      return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: rename to %s failed: %s", from, to,
                       strerror(errno));
    return 0;
  }
#ifdef RENAME_EXCHANGE
  if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_EXCHANGE) == 0) {
    *old_left = 1; /* the old directory now has the name `from` */
    if (rename(from, aside) != 0)
      return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: rename to %s failed: %s", from, aside,
                       strerror(errno));
    return 0;
  }
  if (errno != EINVAL && errno != ENOSYS)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: exchange with %s failed: %s", from, to,
                     strerror(errno));
#endif
  if (rename(to, aside) != 0)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: rename to %s failed: %s", to, aside,
                     strerror(errno));
  *old_left = 1;
  if (rename(from, to) != 0)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: rename to %s failed: %s", from, to,
                     strerror(errno));
  return 0;
}

int ckpt_fs_reserve(const char *dir, uint64_t bytes, nvae_err *e) {
  char path[4200];
  snprintf(path, sizeof path, "%s/.reserve-%ld", dir, (long)getpid());
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot create: %s", path, strerror(errno));
  int rc = 0;
  if (bytes > 0 && fallocate(fd, 0, 0, (off_t)bytes) != 0 && errno != EOPNOTSUPP &&
      errno != ENOSYS && errno != EINVAL)
    rc = nvae_errf(e, NVAE_EXIT_RUNTIME,
                   "%s: no room for this rank's checkpoint files (%.1f MB): %s", dir,
                   (double)bytes / 1e6, strerror(errno));
  close(fd);
  unlink(path);
  return rc;
}

void ckpt_fs_drop_cache(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return;
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}
