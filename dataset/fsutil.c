/* Filesystem helpers: see fsutil.h. */
#define _GNU_SOURCE /* renameat2 */
#include "dataset/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_join(char *out, size_t n, const char *a, const char *b) {
  int w = snprintf(out, n, "%s/%s", a, b);
  if (w < 0 || (size_t)w >= n) {
    if (n) out[0] = '\0';
    return -1;
  }
  return 0;
}

int fs_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

int fs_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int fs_file_size(const char *path, int64_t *size, nvae_err *e) {
  struct stat st;
  if (stat(path, &st) != 0) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: not a regular file", path);
  *size = (int64_t)st.st_size;
  return 0;
}

int fs_read_file(const char *path, uint8_t **buf, size_t *cap, size_t *len, nvae_err *e) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: not a regular file", path);
  }
  size_t want = (size_t)st.st_size;
  if (*cap < want + 1) {
    *buf = nvae_realloc(*buf, want + 1);
    *cap = want + 1;
  }
  size_t got = 0;
  while (got < want) {
    ssize_t r = read(fd, *buf + got, want - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      int err = errno;
      close(fd);
      return nvae_errf(e, NVAE_EXIT_USAGE, "%s: read failed after %zu of %zu bytes: %s", path, got,
                       want, r == 0 ? "unexpected end of file" : strerror(err));
    }
    got += (size_t)r;
  }
  close(fd);
  (*buf)[got] = 0; /* lets text parsers treat the buffer as a C string */
  *len = got;
  return 0;
}

int fs_fsync_path(const char *path, nvae_err *e) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot open for fsync: %s", path, strerror(errno));
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  /* Some filesystems refuse fsync on a directory (EINVAL); the data files were synced already. */
  if (rc != 0 && !(err == EINVAL && fs_is_dir(path)))
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: fsync failed: %s", path, strerror(err));
  return 0;
}

void fs_parent_dir(const char *path, char *out, size_t n) {
  snprintf(out, n, "%s", path);
  size_t len = strlen(out);
  while (len > 1 && out[len - 1] == '/')
    out[--len] = '\0'; /* "a/b/" names "a/b" */
  char *slash = strrchr(out, '/');
  if (!slash)
    snprintf(out, n, ".");
  else if (slash == out)
    out[1] = '\0'; /* "/x" -> "/" */
  else
    *slash = '\0';
}

int fs_rename_noreplace(const char *from, const char *to, nvae_err *e) {
  if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return 0;
  if (errno == EEXIST)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: already exists; refusing to overwrite it", to);
  if (errno != EINVAL && errno != ENOSYS)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "rename %s -> %s: %s", from, to, strerror(errno));
  /* Filesystem without RENAME_NOREPLACE: check, then rename (a small race we accept there). */
  if (fs_exists(to))
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: already exists; refusing to overwrite it", to);
  if (rename(from, to) != 0)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "rename %s -> %s: %s", from, to, strerror(errno));
  return 0;
}

void fs_remove_flat_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *de;
    char path[FS_PATH_MAX];
    while ((de = readdir(d)) != NULL) {
      if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
      if (fs_join(path, sizeof path, dir, de->d_name) == 0) unlink(path);
    }
    closedir(d);
  }
  rmdir(dir);
}
