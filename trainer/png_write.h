/* PNG encoding of 8-bit images for the run directory (samples/, recon/) and for TensorBoard
 * image summaries (which carry the encoded PNG bytes).
 *
 * Pixels are [H, W, C] uint8, rows top to bottom, C = 1 (grey) or 3 (RGB), no alpha. The file
 * has only the chunks PIL's Image.save writes for such an image (IHDR, IDAT, IEND): no gamma or
 * colour-space chunk, so every viewer shows the bytes as they are, like torchvision's save_image.
 */
#ifndef NVAE_TRAINER_PNG_WRITE_H
#define NVAE_TRAINER_PNG_WRITE_H

#include "kernels/base/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A growable byte buffer; zero-initialise it ({0}) before first use, free with byte_buf_free. */
typedef struct byte_buf {
  uint8_t *data;
  size_t len, cap;
} byte_buf;

void byte_buf_free(byte_buf *b);

/* Encodes the image and APPENDS the PNG bytes to out (set out->len = 0 first to reuse a buffer).
 * Returns 0, or an nvae_err code with out->len unchanged. */
int png_write_rgb8_mem(byte_buf *out, const uint8_t *pix /* [H, W, C] */, int h, int w, int c,
                       nvae_err *e);

/* Writes the image to path atomically: to "<path>.tmp", fsync, then rename over path, so a crash
 * leaves either the old file or the whole new one under the real name, never half a PNG (a stale
 * .tmp may remain). Errors name the path and the system's reason. */
int png_write_rgb8(const char *path, const uint8_t *pix /* [H, W, C] */, int h, int w, int c,
                   nvae_err *e);

#ifdef __cplusplus
}
#endif

#endif
