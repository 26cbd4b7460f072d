/* CRC-32C and the TensorBoard event writer.
 *
 * CRC-32C: known answers ("123456789" and the RFC 3720 iSCSI vectors), incremental = one-shot,
 * the TFRecord mask. Writer: the file name convention, then scalars (float32 rounding, NaN/Inf,
 * step 0, a 2^40 step), two images (RGB grid and grey) and a SessionLog START are decoded by
 * read_events.py, an independent Python reader that checks both masked CRCs of every record, the
 * protobuf fields, the PNG bytes (PIL decodes them to the pixels we encoded) and wall times. A
 * corrupted copy, a truncated copy and a wrong expectation must each make the reader fail.
 */
#define _POSIX_C_SOURCE 200809L
#include "tests/logging/logtest.h"
#include "tests/test_util.h"
#include "trainer/crc32c.h"
#include "trainer/image_grid.h"
#include "trainer/png_write.h"
#include "trainer/tb_writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void check_crc32c(void) {
  CHECK(crc32c("123456789", 9) == 0xE3069283u, "crc32c(123456789) = %08x", crc32c("123456789", 9));
  CHECK(crc32c("", 0) == 0, "crc32c of nothing is not 0");
  uint8_t zeros[32] = {0}, ones[32], inc[32], dec[32];
  for (int i = 0; i < 32; i++) {
    ones[i] = 0xff;
    inc[i] = (uint8_t)i;
    dec[i] = (uint8_t)(31 - i);
  }
  /* RFC 3720 appendix B.4 */
  CHECK(crc32c(zeros, 32) == 0x8A9136AAu, "32 zeros: %08x", crc32c(zeros, 32));
  CHECK(crc32c(ones, 32) == 0x62A8AB43u, "32 0xff: %08x", crc32c(ones, 32));
  CHECK(crc32c(inc, 32) == 0x46DD794Eu, "0..31: %08x", crc32c(inc, 32));
  CHECK(crc32c(dec, 32) == 0x113FDB5Cu, "31..0: %08x", crc32c(dec, 32));
  for (size_t cut = 0; cut <= 9; cut++)
    CHECK(crc32c_update(crc32c("123456789", cut), "123456789" + cut, 9 - cut) == 0xE3069283u,
          "incremental crc split at %zu", cut);
  CHECK(crc32c_mask(0) == 0xa282ead8u, "mask(0)");
  CHECK(crc32c_mask(0xE3069283u) == 0xc78ab0e5u, "mask(check value) = %08x",
        crc32c_mask(0xE3069283u));
}

/* events.out.tfevents.<10 digits>.<host>.<pid>.<n> */
static void check_name(const char *path, const char *dir, long long t0, int uid) {
  char host[256] = "localhost";
  gethostname(host, sizeof host);
  host[sizeof host - 1] = '\0';
  const char *base = path + strlen(dir) + 1;
  CHECK(strncmp(path, dir, strlen(dir)) == 0 && path[strlen(dir)] == '/', "%s not in %s", path,
        dir);
  const char *pre = "events.out.tfevents.";
  CHECK(strncmp(base, pre, strlen(pre)) == 0, "bad prefix: %s", base);
  const char *ts = base + strlen(pre);
  int digits = 0;
  while (ts[digits] >= '0' && ts[digits] <= '9')
    digits++;
  CHECK(digits == 10 && ts[10] == '.', "time stamp is not 10 digits: %s", base);
  long long t = atoll(ts);
  CHECK(t >= t0 - 2 && t <= (long long)time(NULL) + 2, "time stamp %lld, now %lld", t, t0);
  char want[512];
  snprintf(want, sizeof want, ".%s.%ld.%d", host, (long)getpid(), uid);
  CHECK(strcmp(ts + 10, want) == 0, "name ends in '%s', want '%s'", ts + 10, want);
}

static void check_errors(const char *dir) {
  nvae_err e = {0};
  tb_writer *w = NULL;
  CHECK(tb_writer_open("/nonexistent-nvae-dir", &w, &e) == NVAE_EXIT_RUNTIME && w == NULL &&
            strstr(e.msg, "/nonexistent-nvae-dir/events.out.tfevents."),
        "open in a missing directory: %s", e.msg);
  CHECK(tb_writer_open(dir, &w, &e) == 0, "open: %s", e.msg);
  if (!w) return;
  CHECK(tb_add_scalar(w, "", 1.0, 1, &e) != 0, "empty tag accepted");
  CHECK(tb_add_scalar(w, NULL, 1.0, 1, &e) != 0, "NULL tag accepted");
  const uint8_t b[4] = {1, 2, 3, 4};
  CHECK(tb_add_image(w, "x", b, 4, 1, 1, 5, 0, &e) != 0, "5 channels accepted");
  CHECK(tb_add_image(w, "x", b, 0, 1, 1, 3, 0, &e) != 0, "empty PNG accepted");
  CHECK(tb_add_image(w, "x", b, 4, 0, 1, 3, 0, &e) != 0, "height 0 accepted");
  CHECK(tb_close(w, &e) == 0, "close: %s", e.msg);
  CHECK(tb_close(NULL, &e) == 0, "close(NULL)");
}

/* Writes a copy of src with one byte changed (or cut short by `cut` bytes). */
static void bad_copy(const char *src, const char *dst, long flip_at, size_t cut) {
  size_t n = 0;
  uint8_t *b = logtest_read_file(src, &n);
  if (!b) return;
  if (flip_at >= 0 && (size_t)flip_at < n) b[flip_at] ^= 0x20;
  logtest_write_file(dst, b, n - (cut < n ? cut : 0));
  free(b);
}

int main(void) {
  check_crc32c();
  char *dir = logtest_tmpdir("tb-writer");
  const long long t0 = (long long)time(NULL);
  nvae_err e = {0};
  tb_writer *w = NULL;
  CHECK(tb_writer_open(dir, &w, &e) == 0 && w, "open: %s", e.msg);
  if (!w) return test_finish("test_tb_writer");
  check_name(tb_writer_path(w), dir, t0, 0);

  char *epath = logtest_path(dir, "expect.json");
  FILE *ex = fopen(epath, "w");
  CHECK(ex != NULL, "cannot write %s", epath);
  if (!ex) return test_finish("test_tb_writer");
  fprintf(ex, "{\"wall_time_min\": %.3f, \"records\": [\n{\"kind\": \"version\"}", (double)t0 - 2);

  struct {
    const char *tag;
    double v;
    int64_t step;
  } scalars[] = {
      {"train/loss", 2.5, 1},  {"train/loss", 0.1, 2}, /* 0.1 is not a float32 */
      {"train/lr", 1e-3, 300}, {"train/step_zero", 3.0, 0}, {"train/big", -7.25, 1LL << 40},
      {"train/nan", NAN, 5},   {"train/inf", INFINITY, 6},  {"valid/bpd \xc3\xa9", 1e30, 7},
  };
  for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
    CHECK(tb_add_scalar(w, scalars[i].tag, scalars[i].v, scalars[i].step, &e) == 0, "scalar: %s",
          e.msg);
    /* Python's json reads NaN and Infinity tokens */
    double v = scalars[i].v;
    char vs[64];
    if (isnan(v))
      snprintf(vs, sizeof vs, "NaN");
    else if (isinf(v))
      snprintf(vs, sizeof vs, "%sInfinity", v < 0 ? "-" : "");
    else
      snprintf(vs, sizeof vs, "%.17g", v);
    fprintf(ex, ",\n{\"kind\": \"scalar\", \"tag\": \"%s\", \"value\": %s, \"step\": %lld}",
            scalars[i].tag, vs, (long long)scalars[i].step);
  }

  /* An RGB grid and a grey image, as PNG bytes; the reader gets the bytes and the pixels. */
  enum { N = 10, C = 3, H = 5, W = 4 };
  float *x = malloc(sizeof(float) * N * C * H * W);
  test_fill_uniform(x, N * C * H * W, 0.0f, 1.0f, 7, 1);
  image_grid g = {0};
  CHECK(image_grid_make(&g, x, N, C, H, W, &e) == 0, "grid: %s", e.msg);
  uint8_t grey[6 * 9];
  for (int i = 0; i < 6 * 9; i++)
    grey[i] = (uint8_t)(i * 5);
  struct {
    const char *tag;
    const uint8_t *pix;
    int h, w, c;
    int64_t step;
  } images[] = {{"samples/t0.7", g.rgb, g.h, g.w, 3, 100}, {"recon", grey, 6, 9, 1, 200}};
  for (int i = 0; i < 2; i++) {
    byte_buf png = {0};
    CHECK(png_write_rgb8_mem(&png, images[i].pix, images[i].h, images[i].w, images[i].c, &e) == 0,
          "png: %s", e.msg);
    CHECK(tb_add_image(w, images[i].tag, png.data, png.len, images[i].h, images[i].w, images[i].c,
                       images[i].step, &e) == 0,
          "image: %s", e.msg);
    char name[32];
    snprintf(name, sizeof name, "image%d.png", i);
    char *pp = logtest_path(dir, name);
    logtest_write_file(pp, png.data, png.len);
    snprintf(name, sizeof name, "image%d.pix", i);
    char *xp = logtest_path(dir, name);
    logtest_write_file(xp, images[i].pix, (size_t)images[i].h * images[i].w * images[i].c);
    fprintf(ex,
            ",\n{\"kind\": \"image\", \"tag\": \"%s\", \"step\": %lld, \"height\": %d, "
            "\"width\": %d, \"channels\": %d, \"png_file\": \"%s\", \"pixels_file\": \"%s\"}",
            images[i].tag, (long long)images[i].step, images[i].h, images[i].w, images[i].c, pp,
            xp);
    free(pp);
    free(xp);
    byte_buf_free(&png);
  }
  CHECK(tb_add_session_start(w, 42, &e) == 0, "session start: %s", e.msg);
  fprintf(ex, ",\n{\"kind\": \"session_start\", \"step\": 42}");
  CHECK(tb_add_scalar(w, "train/loss", 1.25, 43, &e) == 0, "scalar: %s", e.msg);
  fprintf(ex, ",\n{\"kind\": \"scalar\", \"tag\": \"train/loss\", \"value\": 1.25, \"step\": 43}");
  CHECK(tb_flush(w, &e) == 0, "flush: %s", e.msg);

  /* a second writer in the same second: its own file (uid 1) */
  tb_writer *w2 = NULL;
  CHECK(tb_writer_open(dir, &w2, &e) == 0 && w2, "second open: %s", e.msg);
  if (w2) {
    check_name(tb_writer_path(w2), dir, t0, 1);
    CHECK(strcmp(tb_writer_path(w2), tb_writer_path(w)) != 0, "two writers share a file");
    CHECK(tb_close(w2, &e) == 0, "close 2: %s", e.msg);
  }

  char *events = strdup(tb_writer_path(w));
  CHECK(tb_close(w, &e) == 0, "close: %s", e.msg);
  /* time() reads a coarse clock that can lag the writer's clock_gettime by a tick: a second of
   * slack on top of the rounding keeps this bound from failing at a second boundary. */
  fprintf(ex, "\n], \"wall_time_max\": %.3f}\n", (double)time(NULL) + 2);
  fclose(ex);

  char args[8192];
  snprintf(args, sizeof args, "%s --expect %s", events, epath);
  int rc = logtest_python("read_events.py", args);
  CHECK(rc == 0, "read_events.py rejected the event file (exit %d); kept in %s", rc, dir);

  /* The reader must fail on damage and on a wrong expectation: a flipped byte in the first
   * record's data, in the second record's length, a torn last record, a wrong scalar. */
  char *bad = logtest_path(dir, "bad.tfevents");
  size_t flen = 0;
  uint8_t *fb = logtest_read_file(events, &flen);
  long len1 = fb && flen >= 8 ? (long)fb[0] : 0; /* the version record is < 256 bytes */
  free(fb);
  CHECK(len1 > 0, "cannot read the first record's length");
  const struct {
    long flip;
    size_t cut;
    const char *what;
  } damage[] = {{14, 0, "data byte"}, {12 + len1 + 4 + 2, 0, "length byte"}, {-1, 3, "torn tail"}};
  for (int i = 0; i < 3; i++) {
    bad_copy(events, bad, damage[i].flip, damage[i].cut);
    snprintf(args, sizeof args, "%s --quiet", bad);
    rc = logtest_python("read_events.py", args);
    CHECK(rc != 0 && rc != -1, "read_events.py accepted a file with a damaged %s (exit %d)",
          damage[i].what, rc);
  }
  char *wrong = logtest_path(dir, "wrong.json");
  size_t n = 0;
  char *exp = (char *)logtest_read_file(epath, &n);
  char *at = exp ? strstr(exp, "\"value\": 2.5") : NULL;
  CHECK(at != NULL, "expectation file lacks the 2.5 scalar");
  if (at) {
    at[11] = '6'; /* 2.5 -> 2.6 */
    logtest_write_file(wrong, exp, n);
    snprintf(args, sizeof args, "%s --quiet --expect %s", events, wrong);
    rc = logtest_python("read_events.py", args);
    CHECK(rc != 0 && rc != -1, "read_events.py accepted a wrong expectation (exit %d)", rc);
  }

  check_errors(dir);
  if (test_failures == 0) logtest_rmtree(dir);
  free(exp);
  free(wrong);
  free(bad);
  free(events);
  free(epath);
  free(x);
  image_grid_free(&g);
  free(dir);
  return test_finish("test_tb_writer");
}
