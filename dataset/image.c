/* Image decoding entry points and buffers: see image.h. */
#include "dataset/image.h"

#include "dataset/fsutil.h"

#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

void image_decoder_init(image_decoder *d) {
  memset(d, 0, sizeof *d);
  d->tj = tjInitDecompress();
  if (!d->tj) NVAE_FATAL("tjInitDecompress failed: %s", tjGetErrorStr2(NULL));
}

void image_decoder_free(image_decoder *d) {
  if (d->tj) tjDestroy(d->tj);
  free(d->file);
  memset(d, 0, sizeof *d);
}

void image_rgb_free(image_rgb *im) {
  free(im->data);
  memset(im, 0, sizeof *im);
}

void image_rgb_reserve(image_rgb *im, int w, int h) {
  size_t need = (size_t)w * (size_t)h * 3;
  if (im->cap < need) {
    im->data = nvae_realloc(im->data, need);
    im->cap = need;
  }
  im->width = w;
  im->height = h;
}

int image_decode(image_decoder *d, const char *path, const uint8_t *data, size_t len,
                 image_rgb *out, nvae_err *e) {
  static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
    return image_decode_jpeg(d, path, data, len, out, e);
  if (len >= 8 && !memcmp(data, png_magic, 8)) return image_decode_png(path, data, len, out, e);
  return nvae_errf(e, NVAE_EXIT_USAGE, "%s: not a JPEG or PNG file (%zu bytes)", path, len);
}

int image_load(image_decoder *d, const char *path, image_rgb *out, nvae_err *e) {
  int rc = fs_read_file(path, &d->file, &d->file_cap, &d->file_len, e);
  if (rc) return rc;
  return image_decode(d, path, d->file, d->file_len, out, e);
}
