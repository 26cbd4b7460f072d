/* PNG encoder on libpng's low-level write API (see png_write.h). libpng reports errors by
 * longjmp, so the encoder keeps everything the error path needs outside the jump's reach. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/png_write.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Largest side accepted: a 64-image grid of 256x256 images is 2082 pixels wide; the limit only
 * catches garbage sizes before they become huge allocations. */
#define PNG_WRITE_MAX_SIDE 65535

void byte_buf_free(byte_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

typedef struct png_sink {
  byte_buf *out;
  char why[256]; /* libpng's message, kept for the nvae_err after the longjmp */
} png_sink;

static void sink_write(png_structp png, png_bytep src, png_size_t n) {
  png_sink *s = png_get_io_ptr(png);
  byte_buf *b = s->out;
  if (n > b->cap - b->len) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n)
      cap *= 2;
    b->data = nvae_realloc(b->data, cap);
    b->cap = cap;
  }
  memcpy(b->data + b->len, src, n);
  b->len += n;
}

static void sink_flush(png_structp png) { (void)png; }

static void on_error(png_structp png, png_const_charp msg) {
  png_sink *s = png_get_error_ptr(png);
  snprintf(s->why, sizeof s->why, "%s", msg);
  png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg; /* the writer only warns about ancillary chunks, and we write none */
}

/* Runs libpng. Lives apart from png_write_rgb8_mem so that the sink, which the error handler
 * writes between setjmp and longjmp, is not a local of the function that calls setjmp (such
 * locals are indeterminate after the jump unless volatile). Returns 0 or 1 (s->why says why). */
static int encode(png_sink *s, const uint8_t *pix, int h, int w, int c) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, s, on_error, on_warning);
  if (!png) NVAE_FATAL("png_create_write_struct failed (out of memory?)");
  png_infop info = png_create_info_struct(png);
  if (!info) NVAE_FATAL("png_create_info_struct failed (out of memory?)");
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return 1;
  }
  png_set_write_fn(png, s, sink_write, sink_flush);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
               c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const size_t stride = (size_t)w * (size_t)c;
  for (int y = 0; y < h; y++)
    png_write_row(png, pix + (size_t)y * stride);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  return 0;
}

int png_write_rgb8_mem(byte_buf *out, const uint8_t *pix, int h, int w, int c, nvae_err *e) {
  if (h <= 0 || w <= 0 || h > PNG_WRITE_MAX_SIDE || w > PNG_WRITE_MAX_SIDE || (c != 1 && c != 3))
    return nvae_errf(e, NVAE_EXIT_RUNTIME,
                     "png: cannot encode a %dx%d image with %d channels (sides 1..%d, 1 or 3 "
                     "channels)",
                     h, w, c, PNG_WRITE_MAX_SIDE);
  png_sink sink = {out, "unknown error"};
  const size_t len0 = out->len;
  if (encode(&sink, pix, h, w, c)) {
    out->len = len0; /* drop the partial stream */
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "png: encoding failed: %s", sink.why);
  }
  return 0;
}

/* Writes all of buf to path (created or truncated) and fsyncs it, so the rename that follows
 * publishes complete bytes even after a power loss. */
static int write_file_synced(const char *path, const uint8_t *buf, size_t n, nvae_err *e) {
  FILE *f = fopen(path, "wb");
  if (!f) return nvae_errf(e, NVAE_EXIT_RUNTIME, "cannot create '%s': %s", path, strerror(errno));
  int ok = fwrite(buf, 1, n, f) == n && fflush(f) == 0 && fsync(fileno(f)) == 0;
  int err = errno;
  if (fclose(f) != 0 && ok) {
    ok = 0;
    err = errno;
  }
  if (!ok) return nvae_errf(e, NVAE_EXIT_RUNTIME, "cannot write '%s': %s", path, strerror(err));
  return 0;
}

int png_write_rgb8(const char *path, const uint8_t *pix, int h, int w, int c, nvae_err *e) {
  byte_buf png = {0};
  int rc = png_write_rgb8_mem(&png, pix, h, w, c, e);
  if (rc) {
    byte_buf_free(&png);
    /* prefix the destination so the caller's message says which image failed */
    if (e) {
      char msg[NVAE_ERR_MSG_LEN];
      snprintf(msg, sizeof msg, "%s", e->msg);
      nvae_errf(e, rc, "%s: %s", path, msg);
    }
    return rc;
  }
  size_t plen = strlen(path);
  char *tmp = nvae_malloc(plen + 5);
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp", 5);
  rc = write_file_synced(tmp, png.data, png.len, e);
  if (!rc && rename(tmp, path) != 0)
    rc = nvae_errf(e, NVAE_EXIT_RUNTIME, "cannot rename '%s' to '%s': %s", tmp, path,
                   strerror(errno));
  if (rc) unlink(tmp); /* best effort: a failed write should not leave litter behind */
  free(tmp);
  byte_buf_free(&png);
  return rc;
}
