/* TensorBoard event writer (see tb_writer.h): a hand-written protobuf encoder for the few fields
 * we need and the TFRecord framing. Field numbers and wire types are those of
 * tensorboard/compat/proto/{event,summary}.proto (ECOSYSTEM.md §3.3):
 *   Event   1 wall_time double | 2 step int64 | 3 file_version string | 5 summary | 7 session_log
 *   Summary 1 repeated Value
 *   Value   1 tag string | 2 simple_value float | 4 image Image
 *   Image   1 height | 2 width | 3 colorspace (int32) | 4 encoded_image_string bytes
 *   SessionLog 1 status (enum, START = 1)
 * Every field number is below 16, so every key is one byte. Nested messages are written in one
 * pass: their lengths are computed first (msg_len_*), then the bytes. Like protobuf's own
 * serializer we omit proto3 fields at their default (step 0), but always write simple_value
 * and image: they belong to Value's oneof, where presence is what makes a value a scalar.
 */
#define _POSIX_C_SOURCE 200809L
#include "trainer/tb_writer.h"

#include "trainer/crc32c.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

struct tb_writer {
  FILE *f;
  char *path;
  uint8_t *buf; /* the Event being serialized, reused between records */
  size_t len, cap;
  nvae_err broken; /* code != 0 after a failed write: later records are refused */
};

/* Per-process writer counter: TensorBoard's "global_uid" file-name component. */
static atomic_int tb_writers_opened = 0;

/* ---- protobuf wire format -------------------------------------------------------------- */

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* A length-delimited field with a one-byte key: key, length, payload. */
static size_t len_field(size_t payload) { return 1 + varint_len(payload) + payload; }

static void put(tb_writer *w, const void *src, size_t n) {
  if (n > w->cap - w->len) {
    size_t cap = w->cap ? w->cap : 1024;
    while (cap - w->len < n)
      cap *= 2;
    w->buf = nvae_realloc(w->buf, cap);
    w->cap = cap;
  }
  memcpy(w->buf + w->len, src, n);
  w->len += n;
}

static void put_varint(tb_writer *w, uint64_t v) {
  uint8_t b[10];
  size_t n = 0;
  while (v >= 0x80) {
    b[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  b[n++] = (uint8_t)v;
  put(w, b, n);
}

static void put_key(tb_writer *w, int field, int wire) {
  uint8_t k = (uint8_t)(field << 3 | wire);
  put(w, &k, 1);
}

static void put_le(tb_writer *w, uint64_t v, int bytes) {
  uint8_t b[8];
  for (int i = 0; i < bytes; i++)
    b[i] = (uint8_t)(v >> (8 * i));
  put(w, b, (size_t)bytes);
}

static void put_double(tb_writer *w, int field, double v) {
  uint64_t bits;
  memcpy(&bits, &v, 8);
  put_key(w, field, WIRE_FIXED64);
  put_le(w, bits, 8);
}

static void put_float(tb_writer *w, int field, float v) {
  uint32_t bits;
  memcpy(&bits, &v, 4);
  put_key(w, field, WIRE_FIXED32);
  put_le(w, bits, 4);
}

/* int32/int64 are varints of the two's complement 64-bit value (10 bytes when negative). */
static void put_int(tb_writer *w, int field, int64_t v) {
  put_key(w, field, WIRE_VARINT);
  put_varint(w, (uint64_t)v);
}
static size_t int_field_len(int64_t v) { return 1 + varint_len((uint64_t)v); }

/* The key and length of a length-delimited field; the caller writes the payload. */
static void put_len_header(tb_writer *w, int field, size_t payload) {
  put_key(w, field, WIRE_LEN);
  put_varint(w, payload);
}

static void put_bytes(tb_writer *w, int field, const void *p, size_t n) {
  put_len_header(w, field, n);
  put(w, p, n);
}

/* ---- records --------------------------------------------------------------------------- */

static double wall_time_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Starts an Event in w->buf: wall_time, step (omitted when 0, as protobuf does). */
static void event_begin(tb_writer *w, int64_t step) {
  w->len = 0;
  put_double(w, 1, wall_time_now());
  if (step != 0) put_int(w, 2, step);
}

/* Frames w->buf as one TFRecord and writes it. */
static int write_record(tb_writer *w, nvae_err *e) {
  if (w->broken.code) return nvae_errf(e, w->broken.code, "%s", w->broken.msg);
  uint8_t head[12], tail[4];
  const uint64_t n = w->len;
  for (int i = 0; i < 8; i++)
    head[i] = (uint8_t)(n >> (8 * i));
  const uint32_t len_crc = crc32c_mask(crc32c(head, 8));
  const uint32_t data_crc = crc32c_mask(crc32c(w->buf, w->len));
  for (int i = 0; i < 4; i++) {
    head[8 + i] = (uint8_t)(len_crc >> (8 * i));
    tail[i] = (uint8_t)(data_crc >> (8 * i));
  }
  if (fwrite(head, 1, 12, w->f) != 12 || fwrite(w->buf, 1, w->len, w->f) != w->len ||
      fwrite(tail, 1, 4, w->f) != 4) {
    nvae_errf(&w->broken, NVAE_EXIT_RUNTIME, "cannot write TensorBoard event file '%s': %s",
              w->path, strerror(errno));
    return nvae_errf(e, w->broken.code, "%s", w->broken.msg);
  }
  return 0;
}

static int check_tag(const tb_writer *w, const char *tag, nvae_err *e) {
  if (!tag || !tag[0])
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: a summary needs a non-empty tag", w->path);
  return 0;
}

int tb_add_scalar(tb_writer *w, const char *tag, double value, int64_t step, nvae_err *e) {
  int rc = check_tag(w, tag, e);
  if (rc) return rc;
  const size_t tag_len = strlen(tag);
  const size_t value_len = len_field(tag_len) + 1 + 4; /* tag, simple_value (fixed32) */
  const size_t summary_len = len_field(value_len);
  event_begin(w, step);
  put_len_header(w, 5, summary_len); /* Event.summary */
  put_len_header(w, 1, value_len);   /* Summary.value */
  put_bytes(w, 1, tag, tag_len);     /* Value.tag */
  put_float(w, 2, (float)value);     /* Value.simple_value */
  return write_record(w, e);
}

int tb_add_image(tb_writer *w, const char *tag, const uint8_t *png, size_t png_len, int height,
                 int width, int channels, int64_t step, nvae_err *e) {
  int rc = check_tag(w, tag, e);
  if (rc) return rc;
  if (height <= 0 || width <= 0 || channels < 1 || channels > 4 || !png || png_len == 0)
    return nvae_errf(e, NVAE_EXIT_RUNTIME,
                     "%s: image '%s' is %dx%d with %d channels and %zu PNG bytes (need sizes > 0, "
                     "1..4 channels, some bytes)",
                     w->path, tag, height, width, channels, png_len);
  const size_t tag_len = strlen(tag);
  const size_t image_len =
      int_field_len(height) + int_field_len(width) + int_field_len(channels) + len_field(png_len);
  const size_t value_len = len_field(tag_len) + len_field(image_len);
  const size_t summary_len = len_field(value_len);
  event_begin(w, step);
  put_len_header(w, 5, summary_len); /* Event.summary */
  put_len_header(w, 1, value_len);   /* Summary.value */
  put_bytes(w, 1, tag, tag_len);     /* Value.tag */
  put_len_header(w, 4, image_len);   /* Value.image */
  put_int(w, 1, height);
  put_int(w, 2, width);
  put_int(w, 3, channels); /* colorspace: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA */
  put_bytes(w, 4, png, png_len);
  return write_record(w, e);
}

int tb_add_session_start(tb_writer *w, int64_t step, nvae_err *e) {
  event_begin(w, step);
  put_len_header(w, 7, int_field_len(1)); /* Event.session_log */
  put_int(w, 1, 1);                       /* SessionLog.status = START */
  return write_record(w, e);
}

/* ---- file ------------------------------------------------------------------------------ */

int tb_writer_open(const char *run_dir, tb_writer **out, nvae_err *e) {
  *out = NULL;
  char host[256];
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
  host[sizeof host - 1] = '\0'; /* gethostname need not terminate a truncated name */
  const int uid = atomic_fetch_add(&tb_writers_opened, 1);
  const long long now = (long long)time(NULL);
  const char *fmt = "%s/events.out.tfevents.%010lld.%s.%ld.%d";
  const int n = snprintf(NULL, 0, fmt, run_dir, now, host, (long)getpid(), uid);
  char *path = nvae_malloc((size_t)n + 1);
  snprintf(path, (size_t)n + 1, fmt, run_dir, now, host, (long)getpid(), uid);
  /* "x": never reuse an existing file (its tail may be torn, and TensorBoard would read our
   * records after it as garbage). */
  FILE *f = fopen(path, "wbx");
  if (!f) {
    int rc = nvae_errf(e, NVAE_EXIT_RUNTIME,
                       "cannot create TensorBoard event file '%s': %s (does the run directory "
                       "exist and is it writable?)",
                       path, strerror(errno));
    free(path);
    return rc;
  }
  tb_writer *w = nvae_calloc(1, sizeof *w);
  w->f = f;
  w->path = path;
  static const char version[] = "brain.Event:2";
  event_begin(w, 0);
  put_bytes(w, 3, version, sizeof version - 1); /* Event.file_version */
  int rc = write_record(w, e);
  if (!rc) rc = tb_flush(w, e); /* the file is recognisable as soon as it exists */
  if (rc) {
    tb_close(w, NULL);
    return rc;
  }
  *out = w;
  return 0;
}

int tb_flush(tb_writer *w, nvae_err *e) {
  if (w->broken.code) return nvae_errf(e, w->broken.code, "%s", w->broken.msg);
  if (fflush(w->f) != 0) {
    nvae_errf(&w->broken, NVAE_EXIT_RUNTIME, "cannot write TensorBoard event file '%s': %s",
              w->path, strerror(errno));
    return nvae_errf(e, w->broken.code, "%s", w->broken.msg);
  }
  return 0;
}

int tb_close(tb_writer *w, nvae_err *e) {
  if (!w) return 0;
  int rc = w->broken.code ? nvae_errf(e, w->broken.code, "%s", w->broken.msg) : 0;
  if (fclose(w->f) != 0 && !rc)
    rc = nvae_errf(e, NVAE_EXIT_RUNTIME, "cannot close TensorBoard event file '%s': %s", w->path,
                   strerror(errno));
  free(w->path);
  free(w->buf);
  free(w);
  return rc;
}

const char *tb_writer_path(const tb_writer *w) { return w->path; }
