/* metrics.jsonl (DESIGN.md §6): one JSON object per logged step, one line each, appended.
 *
 *  - Keys appear in the order given. Integers are written exactly, reals with %.9g (enough to
 *    round-trip a float32; doubles keep 9 significant digits) and always with a '.' or an
 *    exponent (1.0, not 1), so they parse as floats; strings JSON-escaped
 *    (" \ and control characters; other bytes, e.g. UTF-8, pass through: give UTF-8).
 *  - NaN and ±Inf are written as null: JSON has no NaN, and null is what json.loads, pandas
 *    (read_json(lines=True) -> NaN) and jq all accept; strings like "nan" would turn the whole
 *    column into text in pandas. The price: a row does not say whether it was NaN or Inf.
 *  - Compact separators: {"step":100,"loss":2.87,"split":"valid"}.
 *  - Each row is written with one write(2) on an O_APPEND descriptor: flushed per line (no stdio
 *    buffer to lose in a crash), each row lands at the current end of the file (on a local file
 *    system two appending processes do not interleave rows; NFS promises less), and a resumed
 *    run keeps appending to the same file.
 *    If the file ends in a partial line (a crash mid-write), open first ends that line, so the
 *    torn row is one bad line on its own rather than glued to the next good one.
 */
#ifndef NVAE_TRAINER_METRICS_LOG_H
#define NVAE_TRAINER_METRICS_LOG_H

#include "kernels/base/error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum metric_type { METRIC_INT, METRIC_REAL, METRIC_STR } metric_type;

/* One key/value of a row; build with metric_int / metric_real / metric_str. */
typedef struct metric_kv {
  const char *key;
  metric_type type;
  union {
    int64_t i;
    double d;
    const char *s;
  } v;
} metric_kv;

static inline metric_kv metric_int(const char *key, int64_t v) {
  metric_kv kv = {key, METRIC_INT, {.i = v}};
  return kv;
}
static inline metric_kv metric_real(const char *key, double v) {
  metric_kv kv = {key, METRIC_REAL, {.d = v}};
  return kv;
}
static inline metric_kv metric_str(const char *key, const char *v) {
  metric_kv kv = {key, METRIC_STR, {.s = v}};
  return kv;
}

typedef struct metrics_log metrics_log;

/* Opens path for appending (creating it, mode 0644). */
int metrics_log_open(const char *path, metrics_log **m, nvae_err *e);

/* Appends {kv[0], ..., kv[n-1]} as one line. A NULL key or string is an error (nothing is
 * written). */
int metrics_log_row(metrics_log *m, const metric_kv *kv, int n, nvae_err *e);

/* Closes and frees (always frees). NULL is a no-op. */
int metrics_log_close(metrics_log *m, nvae_err *e);

#ifdef __cplusplus
}
#endif

#endif
