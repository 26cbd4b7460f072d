/* Image grids for samples/ and recon/ (DESIGN.md §6, ECOSYSTEM.md §7): the pixels torchvision's
 * save_image(x, path) writes, i.e. make_grid(x, nrow=8, padding=2, normalize=False,
 * pad_value=0) followed by x*255 + 0.5, clamp to [0, 255], truncate to uint8 (float32 maths).
 *
 * Conventions taken from torchvision (tests/logging/check_png_grid.py re-implements them in
 * numpy and compares bytes exactly):
 *  - Grey batches (C = 1) are replicated to RGB, so every grid is [H, W, 3] and every PNG RGB.
 *  - Columns = min(8, N), rows = ceil(N / columns); every cell has a 2-pixel black border and
 *    neighbouring cells share one 2-pixel gap: H_grid = rows*(H+2) + 2, W_grid = cols*(W+2) + 2.
 *  - N = 1 gives the image itself with no border (make_grid returns a lone image unpadded).
 *  - Unused cells in the last row stay black.
 *  - NaN quantises to 0 (torch leaves the uint8 cast of NaN undefined; we pick black).
 */
#ifndef NVAE_TRAINER_IMAGE_GRID_H
#define NVAE_TRAINER_IMAGE_GRID_H

#include "kernels/base/error.h"
#include "trainer/png_write.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IMAGE_GRID_NROW 8    /* images per row (torchvision's nrow) */
#define IMAGE_GRID_PADDING 2 /* pixels between cells and around the grid */

/* An 8-bit RGB grid. Zero-initialise ({0}) before the first build; a later build reuses the
 * buffer. Free with image_grid_free. */
typedef struct image_grid {
  uint8_t *rgb; /* [h, w, 3] */
  int h, w;
} image_grid;

/* Grid of n images x [N, C, H, W] in [0, 1] (values outside are clamped), C = 1 or 3. */
int image_grid_make(image_grid *g, const float *x /* [N, C, H, W] */, int n, int c, int h, int w,
                    nvae_err *e);

/* Inputs and their reconstructions, each input directly ABOVE its reconstruction: rows
 * alternate inputs / reconstructions, min(8, N) columns; grid row 2r holds x[r*cols ..] and row
 * 2r+1 holds xr[r*cols ..]. The same pixels as torchvision's make_grid(nrow=min(8, N)) of the
 * two batches interleaved row by row, with black cells where the last input row is short.
 * Always bordered, also for N = 1 (a 2-image grid). */
int image_grid_make_pairs(image_grid *g, const float *x /* [N, C, H, W] */,
                          const float *xr /* [N, C, H, W] */, int n, int c, int h, int w,
                          nvae_err *e);

/* The grid as a PNG file (atomically, see png_write_rgb8) or appended to a buffer as PNG bytes
 * (for tb_add_image). */
int image_grid_write_png(const image_grid *g, const char *path, nvae_err *e);
int image_grid_encode_png(const image_grid *g, byte_buf *out, nvae_err *e);

void image_grid_free(image_grid *g);

#ifdef __cplusplus
}
#endif

#endif
