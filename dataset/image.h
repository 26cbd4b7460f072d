/* Decoding source images for nvae-prep: JPEG (libjpeg-turbo, TurboJPEG 2.x API) and PNG (libpng)
 * to 8-bit RGB, chosen by the file's magic bytes, not its name. Grey becomes RGB, alpha is
 * dropped (like PIL's convert("RGB")). A decoder is per thread. Errors name the file, carry code
 * NVAE_EXIT_USAGE and are recoverable: nvae-prep skips the image or, with --strict, stops.
 * Prefix image_. */
#ifndef NVAE_DATASET_IMAGE_H
#define NVAE_DATASET_IMAGE_H

#include "kernels/base/error.h"

#include <stddef.h>
#include <stdint.h>

/* Largest side accepted (protects against absurd allocations from damaged headers). */
#define IMAGE_MAX_SIDE 16384

/* A decoded RGB image in a buffer that is reused (grown) from image to image. */
typedef struct image_rgb {
  uint8_t *data; /* [height, width, 3] */
  size_t cap;
  int width, height;
} image_rgb;

typedef struct image_decoder {
  void *tj;      /* tjhandle */
  uint8_t *file; /* the last file read */
  size_t file_cap, file_len;
} image_decoder;

void image_decoder_init(image_decoder *d);
void image_decoder_free(image_decoder *d);
void image_rgb_free(image_rgb *im);
/* Ensures im can hold w x h RGB. */
void image_rgb_reserve(image_rgb *im, int w, int h);

/* Reads path and decodes it. */
int image_load(image_decoder *d, const char *path, image_rgb *out, nvae_err *e);
/* Decodes bytes already in memory; `path` only names them in messages. */
int image_decode(image_decoder *d, const char *path, const uint8_t *data, size_t len,
                 image_rgb *out, nvae_err *e);
int image_decode_jpeg(image_decoder *d, const char *path, const uint8_t *data, size_t len,
                      image_rgb *out, nvae_err *e);
int image_decode_png(const char *path, const uint8_t *data, size_t len, image_rgb *out,
                     nvae_err *e);

#endif
