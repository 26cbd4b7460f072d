/* torchvision-compatible image grids (see image_grid.h). */
#include "trainer/image_grid.h"

#include <stdlib.h>
#include <string.h>

/* save_image's quantisation: grid.mul(255).add_(0.5).clamp_(0, 255).to(uint8). Two float32
 * roundings (multiply, then add), as torch does in two ops. They are separate statements so
 * that no compiler fuses them into an FMA (GCC does not contract under -std=c11, clang only
 * within one expression), which would round differently near the x.5 boundaries. */
static uint8_t quantize(float v) {
  float s = v * 255.0f;
  s = s + 0.5f;
  if (!(s >= 0.0f)) return 0; /* negative, or NaN */
  if (s >= 255.0f) return 255;
  return (uint8_t)s; /* truncation, as torch's float -> uint8 cast */
}

/* Copies one [C, H, W] image into the cell at (row, col); grey is replicated to R, G and B. */
static void put_cell(image_grid *g, const float *img, int c, int h, int w, int row, int col,
                     int pad) {
  const int y0 = row * (h + pad) + pad, x0 = col * (w + pad) + pad;
  const size_t plane = (size_t)h * (size_t)w;
  for (int y = 0; y < h; y++) {
    uint8_t *dst = g->rgb + ((size_t)(y0 + y) * (size_t)g->w + (size_t)x0) * 3;
    for (int x = 0; x < w; x++) {
      const size_t i = (size_t)y * (size_t)w + (size_t)x;
      for (int k = 0; k < 3; k++)
        dst[3 * x + k] = quantize(img[(c == 3 ? (size_t)k * plane : 0) + i]);
    }
  }
}

/* Sizes the grid (rows x cols cells, padded or not) and clears it to the pad value 0; g is
 * unchanged when the grid would be too large. */
static int grid_alloc(image_grid *g, int n, int h, int w, int rows, int cols, int pad,
                      nvae_err *e) {
  const long long gh = (long long)rows * (h + pad) + pad, gw = (long long)cols * (w + pad) + pad;
  if (gh > 65535 || gw > 65535)
    return nvae_errf(e, NVAE_EXIT_RUNTIME,
                     "image grid: %d images of %dx%d make a %lldx%lld grid (at most 65535 a side)",
                     n, h, w, gh, gw);
  g->h = (int)gh;
  g->w = (int)gw;
  const size_t bytes = (size_t)gh * (size_t)gw * 3;
  g->rgb = nvae_realloc(g->rgb, bytes);
  memset(g->rgb, 0, bytes);
  return 0;
}

static int check_shape(const char *what, int n, int c, int h, int w, nvae_err *e) {
  if (n <= 0 || h <= 0 || w <= 0 || h > 65535 || w > 65535 || (c != 1 && c != 3))
    return nvae_errf(e, NVAE_EXIT_RUNTIME,
                     "%s: batch [%d, %d, %d, %d] is not [N>0, 1 or 3, H>0, W>0]", what, n, c, h, w);
  return 0;
}

int image_grid_make(image_grid *g, const float *x, int n, int c, int h, int w, nvae_err *e) {
  int rc = check_shape("image_grid_make", n, c, h, w, e);
  if (rc) return rc;
  const size_t img = (size_t)c * (size_t)h * (size_t)w;
  if (n == 1) { /* torchvision returns a lone image as it is: no border */
    if ((rc = grid_alloc(g, n, h, w, 1, 1, 0, e))) return rc;
    put_cell(g, x, c, h, w, 0, 0, 0);
    return 0;
  }
  const int cols = n < IMAGE_GRID_NROW ? n : IMAGE_GRID_NROW, rows = (n + cols - 1) / cols;
  if ((rc = grid_alloc(g, n, h, w, rows, cols, IMAGE_GRID_PADDING, e))) return rc;
  for (int k = 0; k < n; k++)
    put_cell(g, x + (size_t)k * img, c, h, w, k / cols, k % cols, IMAGE_GRID_PADDING);
  return 0;
}

int image_grid_make_pairs(image_grid *g, const float *x, const float *xr, int n, int c, int h,
                          int w, nvae_err *e) {
  int rc = check_shape("image_grid_make_pairs", n, c, h, w, e);
  if (rc) return rc;
  const size_t img = (size_t)c * (size_t)h * (size_t)w;
  const int cols = n < IMAGE_GRID_NROW ? n : IMAGE_GRID_NROW, rows = (n + cols - 1) / cols;
  if ((rc = grid_alloc(g, n, h, w, 2 * rows, cols, IMAGE_GRID_PADDING, e))) return rc;
  for (int k = 0; k < n; k++) {
    const int row = 2 * (k / cols), col = k % cols;
    put_cell(g, x + (size_t)k * img, c, h, w, row, col, IMAGE_GRID_PADDING);
    put_cell(g, xr + (size_t)k * img, c, h, w, row + 1, col, IMAGE_GRID_PADDING);
  }
  return 0;
}

int image_grid_write_png(const image_grid *g, const char *path, nvae_err *e) {
  return png_write_rgb8(path, g->rgb, g->h, g->w, 3, e);
}

int image_grid_encode_png(const image_grid *g, byte_buf *out, nvae_err *e) {
  return png_write_rgb8_mem(out, g->rgb, g->h, g->w, 3, e);
}

void image_grid_free(image_grid *g) {
  free(g->rgb);
  g->rgb = NULL;
  g->h = g->w = 0;
}
