/* PNG decoding with libpng's progressive-free "low-level" API, with only the transformations PIL's
 * convert("RGB") implies (palette and low bit depths expanded, 16 bits -> high byte, grey -> RGB,
 * alpha dropped) and no gamma correction (PIL applies none). libpng reports errors by longjmp. */
#include "dataset/image.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mem_reader {
  const uint8_t *data;
  size_t len, pos;
  char why[256];
} mem_reader;

static void read_mem(png_structp png, png_bytep dst, png_size_t n) {
  mem_reader *m = png_get_io_ptr(png);
  if (n > m->len - m->pos) png_error(png, "unexpected end of file");
  memcpy(dst, m->data + m->pos, n);
  m->pos += n;
}

static void on_error(png_structp png, png_const_charp msg) {
  mem_reader *m = png_get_io_ptr(png);
  snprintf(m->why, sizeof m->why, "%s", msg);
  png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg; /* benign ancillary-chunk warnings (e.g. a bad iCCP profile) do not change pixels */
}

int image_decode_png(const char *path, const uint8_t *data, size_t len, image_rgb *out,
                     nvae_err *e) {
  mem_reader m = {data, len, 0, "unknown error"};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  if (!png) NVAE_FATAL("png_create_read_struct failed");
  png_infop info = png_create_info_struct(png);
  if (!info) NVAE_FATAL("png_create_info_struct failed");
  png_bytep *volatile rows = NULL;
  if (setjmp(png_jmpbuf(png))) {
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: corrupt PNG: %s", path, m.why);
  }
  png_set_read_fn(png, &m, read_mem);
  png_set_error_fn(png, &m, on_error, on_warning);
  png_set_user_limits(png, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE);
  png_read_info(png, info);
  png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  png_set_expand(png);
  if (depth == 16) png_set_strip_16(png);
  if (color & PNG_COLOR_MASK_ALPHA || png_get_valid(png, info, PNG_INFO_tRNS))
    png_set_strip_alpha(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != (size_t)w * 3) {
    snprintf(m.why, sizeof m.why, "unexpected pixel layout after conversion to RGB");
    png_longjmp(png, 1);
  }
  image_rgb_reserve(out, (int)w, (int)h);
  rows = malloc(sizeof(png_bytep) * h);
  if (!rows) NVAE_FATAL("out of memory for %u PNG rows", (unsigned)h);
  for (png_uint_32 y = 0; y < h; y++)
    rows[y] = out->data + (size_t)y * w * 3;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  free(rows);
  png_destroy_read_struct(&png, &info, NULL);
  return 0;
}
