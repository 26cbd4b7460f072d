/* PNG writer and torchvision-style image grids.
 *
 * The C side builds grids of random batches (with values outside [0, 1] and at rounding
 * boundaries), writes them as PNGs plus the raw float inputs and a manifest; check_png_grid.py
 * recomputes make_grid + save_image in numpy, reads every PNG back with PIL and demands exact
 * equality (and that one deliberately wrong case is caught). The C side checks geometry, the
 * atomic write (no .tmp left), memory vs file bytes, quantisation of NaN/Inf and the errors.
 */
#include "tests/logging/logtest.h"
#include "tests/test_util.h"
#include "trainer/image_grid.h"
#include "trainer/png_write.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* Edge values planted at the start of every batch: clamping, zero, one, the x.5 rounding points
 * of x*255 + 0.5, and the float just below 1. */
static const float edge_values[] = {0.0f,       1.0f,         -0.0f, 0.5f / 255,
                                    1.5f / 255, 254.5f / 255, 1e-8f, 0.99999994f,
                                    2.0f,       -1.0f,        0.2f,  127.5f / 255};

static float *random_batch(int n, int c, int h, int w, uint32_t tag) {
  const size_t count = (size_t)n * c * h * w;
  float *x = malloc(count * sizeof *x);
  test_fill_uniform(x, (int64_t)count, -0.25f, 1.25f, 1234, tag);
  const size_t ne = sizeof edge_values / sizeof edge_values[0];
  for (size_t i = 0; i < ne && i < count; i++)
    x[i] = edge_values[i];
  return x;
}

typedef struct grid_case {
  int n, c, h, w, pairs;
} grid_case;

static int expected_side(int n, int side, int pairs, int is_height) {
  if (n == 1 && !pairs) return side;
  const int cols = n < 8 ? n : 8, rows = (n + cols - 1) / cols;
  const int cells = is_height ? (pairs ? 2 * rows : rows) : cols;
  return cells * (side + 2) + 2;
}

/* Writes one case's inputs and grid; adds its manifest line. wrong = write the grid of other
 * data than the manifest names (the checker must report it). */
static void write_case(const char *dir, FILE *manifest, int idx, grid_case k, int wrong) {
  const size_t count = (size_t)k.n * k.c * k.h * k.w;
  float *x = random_batch(k.n, k.c, k.h, k.w, 100 + (uint32_t)idx);
  float *xr = random_batch(k.n, k.c, k.h, k.w, 200 + (uint32_t)idx);
  char name[64];
  snprintf(name, sizeof name, "case%d_x.f32", idx);
  char *xpath = logtest_path(dir, name);
  logtest_write_file(xpath, x, count * sizeof(float));
  snprintf(name, sizeof name, "case%d_xr.f32", idx);
  char *xrpath = logtest_path(dir, name);
  logtest_write_file(xrpath, xr, count * sizeof(float));
  if (wrong) x[count / 2] = x[count / 2] > 0.5f ? 0.0f : 1.0f; /* one pixel differs */

  image_grid g = {0};
  nvae_err e = {0};
  int rc = k.pairs ? image_grid_make_pairs(&g, x, xr, k.n, k.c, k.h, k.w, &e)
                   : image_grid_make(&g, x, k.n, k.c, k.h, k.w, &e);
  CHECK(rc == 0, "case %d: grid failed: %s", idx, e.msg);
  CHECK(g.h == expected_side(k.n, k.h, k.pairs, 1) && g.w == expected_side(k.n, k.w, k.pairs, 0),
        "case %d: grid is %dx%d, expected %dx%d", idx, g.h, g.w,
        expected_side(k.n, k.h, k.pairs, 1), expected_side(k.n, k.w, k.pairs, 0));
  snprintf(name, sizeof name, "case%d.png", idx);
  char *png = logtest_path(dir, name);
  rc = image_grid_write_png(&g, png, &e);
  CHECK(rc == 0, "case %d: write failed: %s", idx, e.msg);

  /* atomic write: no temporary left; the in-memory encoding is the same bytes */
  char *tmp = malloc(strlen(png) + 5);
  sprintf(tmp, "%s.tmp", png);
  CHECK(!logtest_exists(tmp), "case %d: %s left behind", idx, tmp);
  size_t flen = 0;
  uint8_t *fbytes = logtest_read_file(png, &flen);
  byte_buf mem = {0};
  CHECK(image_grid_encode_png(&g, &mem, &e) == 0, "case %d: encode failed: %s", idx, e.msg);
  CHECK(fbytes && flen == mem.len && memcmp(fbytes, mem.data, flen) == 0,
        "case %d: file and memory PNG differ (%zu vs %zu bytes)", idx, flen, mem.len);
  CHECK(flen > 8 && memcmp(fbytes, png_sig, 8) == 0, "case %d: no PNG signature", idx);

  fprintf(manifest, "%s %d %d %d %d %s %s %s %s\n", k.pairs ? "pairs" : "grid", k.n, k.c, k.h, k.w,
          xpath, xrpath, png, wrong ? "mismatch" : "equal");
  free(fbytes);
  byte_buf_free(&mem);
  image_grid_free(&g);
  free(tmp);
  free(png);
  free(xpath);
  free(xrpath);
  free(x);
  free(xr);
}

/* png_write_rgb8 on a plain image (grey and RGB): the checker compares the pixels. */
static void write_raw(const char *dir, FILE *manifest, int c) {
  const int h = 7, w = 5;
  uint8_t pix[7 * 5 * 3];
  for (int i = 0; i < h * w * c; i++)
    pix[i] = (uint8_t)(i * 37 + 11);
  char name[64];
  snprintf(name, sizeof name, "raw%d.u8", c);
  char *raw = logtest_path(dir, name);
  logtest_write_file(raw, pix, (size_t)(h * w * c));
  snprintf(name, sizeof name, "raw%d.png", c);
  char *png = logtest_path(dir, name);
  nvae_err e = {0};
  CHECK(png_write_rgb8(png, pix, h, w, c, &e) == 0, "raw c=%d: %s", c, e.msg);
  fprintf(manifest, "raw %d %d %d %s %s\n", h, w, c, raw, png);
  free(raw);
  free(png);
}

/* NaN -> 0, +Inf -> 255, -Inf -> 0; grey replicated to R, G, B. */
static void check_quantize_specials(void) {
  float x[2 * 1 * 1 * 3] = {NAN, INFINITY, -INFINITY, 0.5f, 1.0f, 0.0f};
  image_grid g = {0};
  nvae_err e = {0};
  CHECK(image_grid_make(&g, x, 2, 1, 1, 3, &e) == 0, "specials: %s", e.msg);
  /* cell 0 starts at (2, 2); grid is 2*(3+2)+2 = 12 wide */
  const uint8_t want[3] = {0, 255, 0};
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 3; k++) {
      uint8_t got = g.rgb[((size_t)2 * g.w + 2 + i) * 3 + k];
      CHECK(got == want[i], "specials: pixel %d channel %d = %d, want %d", i, k, got, want[i]);
    }
  CHECK(g.rgb[0] == 0 && g.rgb[(size_t)g.h * g.w * 3 - 1] == 0, "border is not black");
  /* a second build into the same struct reuses its buffer */
  float one = 1.0f;
  CHECK(image_grid_make(&g, &one, 1, 1, 1, 1, &e) == 0 && g.h == 1 && g.w == 1 && g.rgb[0] == 255 &&
            g.rgb[2] == 255,
        "rebuild into a used grid failed");
  image_grid_free(&g);
}

static void check_errors(const char *dir) {
  nvae_err e = {0};
  uint8_t pix[12] = {0};
  const char *bad = "/nonexistent-nvae-dir/x.png";
  CHECK(png_write_rgb8(bad, pix, 2, 2, 3, &e) == NVAE_EXIT_RUNTIME && strstr(e.msg, bad),
        "write into a missing directory: rc/msg wrong: %s", e.msg);
  char *p = logtest_path(dir, "c2.png");
  CHECK(png_write_rgb8(p, pix, 2, 2, 2, &e) != 0 && !logtest_exists(p), "c=2 accepted");
  CHECK(png_write_rgb8(p, pix, 0, 2, 3, &e) != 0, "h=0 accepted");
  free(p);
  byte_buf b = {0};
  CHECK(png_write_rgb8_mem(&b, pix, 2, -1, 1, &e) != 0 && b.len == 0, "w<0 accepted");
  image_grid g = {0};
  float x[4] = {0};
  CHECK(image_grid_make(&g, x, 0, 3, 1, 1, &e) != 0, "n=0 accepted");
  CHECK(image_grid_make(&g, x, 1, 2, 1, 2, &e) != 0, "c=2 accepted");
  CHECK(image_grid_make_pairs(&g, x, x, 1, 4, 1, 1, &e) != 0, "c=4 accepted");
  /* 10000 64x64 images: 1250 rows of 66 pixels > 65535 */
  CHECK(image_grid_make(&g, x, 10000, 3, 64, 64, &e) != 0 && g.rgb == NULL,
        "oversized grid accepted");
}

int main(void) {
  char *dir = logtest_tmpdir("png-grid");
  char *mpath = logtest_path(dir, "manifest.txt");
  FILE *manifest = fopen(mpath, "w");
  CHECK(manifest != NULL, "cannot write %s", mpath);
  if (!manifest) return test_finish("test_png_grid");

  const grid_case cases[] = {
      {10, 3, 5, 4, 0}, /* two rows, the second short */
      {8, 1, 6, 6, 0},  /* grey: replicated to RGB */
      {1, 3, 4, 3, 0},  /* a lone image: no border */
      {1, 1, 3, 5, 0},  /* a lone grey image */
      {7, 3, 2, 3, 0},  /* fewer than 8: 7 columns */
      {17, 3, 3, 2, 0}, /* three rows */
      {64, 3, 8, 8, 0}, /* the usual 8x8 sample grid */
      {3, 1, 4, 4, 1},  /* pairs, fewer than 8 */
      {10, 3, 5, 4, 1}, /* pairs, short last input row */
      {16, 1, 3, 3, 1}, /* pairs, grey, full rows */
      {1, 3, 3, 3, 1},  /* pairs of one: bordered */
  };
  const int ncases = (int)(sizeof cases / sizeof cases[0]);
  for (int i = 0; i < ncases; i++)
    write_case(dir, manifest, i, cases[i], 0);
  write_case(dir, manifest, ncases, cases[0], 1); /* the checker must catch this one */
  write_raw(dir, manifest, 1);
  write_raw(dir, manifest, 3);
  fclose(manifest);

  check_quantize_specials();
  check_errors(dir);

  char args[4096];
  snprintf(args, sizeof args, "%s", mpath);
  int rc = logtest_python("check_png_grid.py", args);
  CHECK(rc == 0, "check_png_grid.py failed (exit %d); inputs kept in %s", rc, dir);

  if (test_failures == 0) logtest_rmtree(dir);
  free(mpath);
  free(dir);
  return test_finish("test_png_grid");
}
