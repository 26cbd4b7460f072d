/* IDX image files: see idx.h. */
#include "dataset/idx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_MAGIC_U8_3D 0x00000803u
#define IDX_MAX_BYTES ((size_t)8 << 30) /* refuse absurd inputs instead of exhausting memory */

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int idx_parse_images(const char *path, const uint8_t *data, size_t len, idx_images *out,
                     nvae_err *e) {
  memset(out, 0, sizeof *out);
  if (len < 16)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: too short for an IDX image file (%zu bytes)", path,
                     len);
  uint32_t magic = be32(data);
  if (magic != IDX_MAGIC_U8_3D) {
    const char *hint =
        magic == 0x00000801u ? " (this is an IDX label file; pass the images file)" : "";
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: not an IDX uint8 image file: magic 0x%08x, expected 0x%08x%s", path,
                     magic, IDX_MAGIC_U8_3D, hint);
  }
  uint32_t n = be32(data + 4), rows = be32(data + 8), cols = be32(data + 12);
  if (rows < 1 || cols < 1 || rows > 4096 || cols > 4096 || n > 0x7fffffffu)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: implausible IDX header: %u images of %ux%u", path, n,
                     rows, cols);
  size_t want = (size_t)n * rows * cols;
  if (len - 16 != want)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: header says %u images of %ux%u = %zu bytes of pixels, file has %zu%s",
                     path, n, rows, cols, want, len - 16,
                     len - 16 < want ? " (truncated)" : " (trailing bytes)");
  if (n == 0) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: holds no images", path);
  out->pixels = nvae_malloc(want);
  memcpy(out->pixels, data + 16, want);
  out->n = n;
  out->rows = (int)rows;
  out->cols = (int)cols;
  return 0;
}

int idx_read_images(const char *path, idx_images *out, nvae_err *e) {
  memset(out, 0, sizeof *out);
  gzFile g = gzopen(path, "rb"); /* reads raw files unchanged ("transparent" mode) */
  if (!g) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: cannot open: %s", path, strerror(errno));
  gzbuffer(g, 1 << 20);
  size_t cap = 1 << 24, len = 0;
  uint8_t *buf = nvae_malloc(cap);
  for (;;) {
    if (len == cap) {
      if (cap >= IDX_MAX_BYTES) {
        gzclose(g);
        free(buf);
        return nvae_errf(e, NVAE_EXIT_USAGE, "%s: larger than %zu bytes", path, IDX_MAX_BYTES);
      }
      cap *= 2;
      buf = nvae_realloc(buf, cap);
    }
    size_t want = cap - len > (1u << 30) ? (1u << 30) : cap - len;
    int got = gzread(g, buf + len, (unsigned)want);
    if (got < 0) {
      int zerr = 0;
      const char *msg = gzerror(g, &zerr);
      int rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: damaged gzip data: %s", path,
                         zerr == Z_ERRNO ? strerror(errno) : msg);
      gzclose(g);
      free(buf);
      return rc;
    }
    if (got == 0) break;
    len += (size_t)got;
  }
  /* gzread returns 0 both at a clean end and at a gzip stream cut short; gzerror tells. */
  int zerr = 0;
  const char *msg = gzerror(g, &zerr);
  int rc = 0;
  if (zerr != Z_OK && zerr != Z_STREAM_END)
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: damaged gzip data: %s", path, msg);
  gzclose(g);
  if (!rc) rc = idx_parse_images(path, buf, len, out, e);
  free(buf);
  return rc;
}

void idx_free(idx_images *im) {
  free(im->pixels);
  memset(im, 0, sizeof *im);
}
