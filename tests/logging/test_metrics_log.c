/* metrics.jsonl: exact text of a plain row and of an escaping row, NaN/Inf as null, int64
 * extremes, reals always parse as floats, appending across reopen, a torn last line from a "crash"
 * isolated on its own line, errors that write nothing; then check_metrics_log.py parses every line
 * with Python's json (strict: NaN/Infinity tokens rejected) and compares values and key order.
 */
#include "tests/logging/logtest.h"
#include "tests/test_util.h"
#include "trainer/metrics_log.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The file's content after the first `lines` lines must be exactly want (or, lines = -1, the
 * whole file must be). */
static void check_line(const char *path, int line, const char *want) {
  size_t n = 0;
  char *text = (char *)logtest_read_file(path, &n);
  CHECK(text != NULL, "cannot read %s", path);
  if (!text) return;
  char *p = text;
  for (int i = 0; i < line && p; i++) {
    p = strchr(p, '\n');
    if (p) p++;
  }
  char *end = p ? strchr(p, '\n') : NULL;
  CHECK(end != NULL, "%s has no line %d", path, line);
  if (end) {
    *end = '\0';
    CHECK(strcmp(p, want) == 0, "line %d:\n  got  %s\n  want %s", line, p, want);
  }
  free(text);
}

int main(void) {
  char *dir = logtest_tmpdir("metrics-log");
  char *path = logtest_path(dir, "metrics.jsonl");
  nvae_err e = {0};
  metrics_log *m = NULL;
  CHECK(metrics_log_open(path, &m, &e) == 0 && m, "open: %s", e.msg);
  if (!m) return test_finish("test_metrics_log");

  /* line 0: a training row */
  metric_kv row[] = {metric_int("step", 1), metric_int("epoch", 0), metric_real("loss", 2.5),
                     metric_real("lr", 1e-3), metric_str("split", "train")};
  CHECK(metrics_log_row(m, row, 5, &e) == 0, "row: %s", e.msg);
  check_line(path, 0, "{\"step\":1,\"epoch\":0,\"loss\":2.5,\"lr\":0.001,\"split\":\"train\"}");

  /* line 1: escaping, in keys too */
  const char *s = "q\" b\\ nl\n tab\t cr\r c\x01\x1f bs\b ff\f del\x7f utf8 \xc3\xa9 /";
  metric_kv esc[] = {metric_str("text", s), metric_str("we\"ird\\key", ""),
                     metric_str("empty", "")};
  CHECK(metrics_log_row(m, esc, 3, &e) == 0, "row: %s", e.msg);
  check_line(path, 1,
             "{\"text\":\"q\\\" b\\\\ nl\\n tab\\t cr\\r c\\u0001\\u001f bs\\b ff\\f del\x7f utf8 "
             "\xc3\xa9 /\",\"we\\\"ird\\\\key\":\"\",\"empty\":\"\"}");

  /* line 2: non-finite reals as null, rounding, extremes */
  metric_kv num[] = {
      metric_real("nan", NAN),       metric_real("inf", INFINITY),  metric_real("ninf", -INFINITY),
      metric_real("nzero", -0.0),    metric_real("tenth", 0.1),     metric_real("big", 1e300),
      metric_real("tiny", 1e-300),   metric_real("denorm", 5e-324), metric_real("third", 1.0 / 3.0),
      metric_int("imin", INT64_MIN), metric_int("imax", INT64_MAX), metric_real("f32", 0.1f),
      metric_real("one", 1.0),       metric_real("e9", 1e9)};
  CHECK(metrics_log_row(m, num, 14, &e) == 0, "row: %s", e.msg);
  check_line(path, 2,
             "{\"nan\":null,\"inf\":null,\"ninf\":null,\"nzero\":-0.0,\"tenth\":0.1,\"big\":1e+300,"
             "\"tiny\":1e-300,\"denorm\":4.94065646e-324,\"third\":0.333333333,"
             "\"imin\":-9223372036854775808,\"imax\":9223372036854775807,\"f32\":0.100000001,"
             "\"one\":1.0,\"e9\":1e+09}");

  /* line 3: an empty row */
  CHECK(metrics_log_row(m, NULL, 0, &e) == 0, "empty row: %s", e.msg);
  check_line(path, 3, "{}");

  /* errors write nothing */
  size_t before = 0, after = 0;
  free(logtest_read_file(path, &before));
  metric_kv bad_key[] = {metric_int("ok", 1), metric_int(NULL, 2)};
  CHECK(metrics_log_row(m, bad_key, 2, &e) == NVAE_EXIT_RUNTIME && strstr(e.msg, path),
        "NULL key accepted: %s", e.msg);
  metric_kv bad_str[] = {metric_str("s", NULL)};
  CHECK(metrics_log_row(m, bad_str, 1, &e) != 0, "NULL string accepted");
  free(logtest_read_file(path, &after));
  CHECK(before == after, "a rejected row wrote %zu bytes", after - before);
  CHECK(metrics_log_close(m, &e) == 0, "close: %s", e.msg);

  /* line 4: a resumed run appends */
  CHECK(metrics_log_open(path, &m, &e) == 0 && m, "reopen: %s", e.msg);
  metric_kv r2[] = {metric_int("step", 2)};
  if (m) CHECK(metrics_log_row(m, r2, 1, &e) == 0, "row: %s", e.msg);
  metrics_log_close(m, &e);
  check_line(path, 0, "{\"step\":1,\"epoch\":0,\"loss\":2.5,\"lr\":0.001,\"split\":\"train\"}");
  check_line(path, 4, "{\"step\":2}");

  /* line 5: a crash mid-row; line 6: the next run's row stays on a line of its own */
  FILE *f = fopen(path, "ab");
  CHECK(f != NULL, "cannot append to %s", path);
  if (f) {
    fputs("{\"step\":3,\"lo", f);
    fclose(f);
  }
  CHECK(metrics_log_open(path, &m, &e) == 0 && m, "reopen after a torn line: %s", e.msg);
  metric_kv r4[] = {metric_int("step", 4), metric_real("loss", 1.5)};
  if (m) CHECK(metrics_log_row(m, r4, 2, &e) == 0, "row: %s", e.msg);
  CHECK(metrics_log_close(m, &e) == 0, "close: %s", e.msg);
  CHECK(metrics_log_close(NULL, &e) == 0, "close(NULL)");
  check_line(path, 5, "{\"step\":3,\"lo");
  check_line(path, 6, "{\"step\":4,\"loss\":1.5}");

  /* open errors name the path */
  char *missing = logtest_path(dir, "no/such/dir/metrics.jsonl");
  metrics_log *m2 = NULL;
  CHECK(metrics_log_open(missing, &m2, &e) == NVAE_EXIT_RUNTIME && !m2 && strstr(e.msg, missing),
        "open in a missing directory: %s", e.msg);
  CHECK(metrics_log_open(dir, &m2, &e) != 0 && !m2, "a directory opened as the log");

  int rc = logtest_python("check_metrics_log.py", path);
  CHECK(rc == 0, "check_metrics_log.py failed (exit %d); file kept in %s", rc, dir);

  if (test_failures == 0) logtest_rmtree(dir);
  free(missing);
  free(path);
  free(dir);
  return test_finish("test_metrics_log");
}
