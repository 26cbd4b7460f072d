/* The scalar rules of a config value, shared by the file parser, the overrides and the defaults.
 *
 * libyaml does no typing (ECOSYSTEM.md §5.2): every scalar arrives as text plus its style. So the
 * rules are ours, and deliberately narrower than YAML 1.1 (which PyYAML follows):
 *   - numbers, booleans and null must be plain (unquoted): "64" in quotes is a string;
 *   - int: [+-]digits; float: [+-](digits[.digits*] | .digits)([eE][+-]digits)? — so 1e-3, 1.0e-3,
 *     .5 and 2 are floats, while inf, nan, 0x10 and 1_000 are refused;
 *   - bool: only true / false; yes, no, on, off, 1, 0 are errors with a hint, because PyYAML reads
 *     `on` as true and a config must mean the same thing everywhere;
 *   - null: empty, ~, null, Null, NULL, for optional keys only; `auto` for keys whose unset means
 *     "decide from the data".
 */
#include "trainer/config_internal.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_quote(char *dst, size_t n, const char *text, size_t len) {
  enum { MAX_SHOWN = 60 };
  size_t o = 0;
  if (n < 8) {
    if (n) dst[0] = '\0';
    return;
  }
  dst[o++] = '\'';
  for (size_t i = 0; i < len; i++) {
    if (i == MAX_SHOWN || o + 8 >= n) {
      memcpy(dst + o, "...", 3);
      o += 3;
      break;
    }
    unsigned char c = (unsigned char)text[i];
    if (c == '\n')
      o += (size_t)snprintf(dst + o, n - o, "\\n");
    else if (c == '\t')
      o += (size_t)snprintf(dst + o, n - o, "\\t");
    else if (c < 0x20 || c == 0x7f)
      o += (size_t)snprintf(dst + o, n - o, "\\x%02x", c);
    else
      dst[o++] = (char)c; /* UTF-8 passes through: it stays on one line */
  }
  dst[o++] = '\'';
  dst[o] = '\0';
}

static bool text_is(const char *t, size_t len, const char *word) {
  return strlen(word) == len && memcmp(t, word, len) == 0;
}

static bool is_null_text(const char *t, size_t len) {
  return len == 0 || text_is(t, len, "~") || text_is(t, len, "null") || text_is(t, len, "Null") ||
         text_is(t, len, "NULL");
}

/* Words that YAML 1.1 (PyYAML) or habit read as booleans. */
static bool is_other_bool(const char *t, size_t len) {
  static const char *const words[] = {"yes",  "no",    "on",   "off",   "y",  "n",  "Yes",
                                      "No",   "On",    "Off",  "YES",   "NO", "ON", "OFF",
                                      "True", "False", "TRUE", "FALSE", "1",  "0",  NULL};
  for (int i = 0; words[i]; i++)
    if (text_is(t, len, words[i])) return true;
  return false;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool is_int_text(const char *t, size_t len) {
  size_t i = 0;
  if (i < len && (t[i] == '+' || t[i] == '-')) i++;
  if (i == len) return false;
  for (; i < len; i++)
    if (!is_digit(t[i])) return false;
  return true;
}

static bool is_float_text(const char *t, size_t len) {
  size_t i = 0, digits = 0;
  if (i < len && (t[i] == '+' || t[i] == '-')) i++;
  while (i < len && is_digit(t[i]))
    i++, digits++;
  if (i < len && t[i] == '.') {
    i++;
    while (i < len && is_digit(t[i]))
      i++, digits++;
  }
  if (digits == 0) return false;
  if (i < len && (t[i] == 'e' || t[i] == 'E')) {
    i++;
    if (i < len && (t[i] == '+' || t[i] == '-')) i++;
    size_t exp_digits = 0;
    while (i < len && is_digit(t[i]))
      i++, exp_digits++;
    if (exp_digits == 0) return false;
  }
  return i == len;
}

/* A NUL-terminated copy for strtod/strtoll; numbers longer than this are refused anyway. */
static bool copy_number(char *dst, size_t n, const char *t, size_t len) {
  if (len >= n) return false;
  memcpy(dst, t, len);
  dst[len] = '\0';
  return true;
}

static bool in_range(const config_key *k, double v) {
  if (k->min_kind == CONFIG_BOUND_INCL && !(v >= k->min)) return false;
  if (k->min_kind == CONFIG_BOUND_EXCL && !(v > k->min)) return false;
  if (k->max_kind == CONFIG_BOUND_INCL && !(v <= k->max)) return false;
  if (k->max_kind == CONFIG_BOUND_EXCL && !(v < k->max)) return false;
  return true;
}

static int fail(char *why, size_t why_len, const config_key *k, const char *found_fmt,
                const char *text, size_t len, bool plain) {
  char expected[256], shown[96];
  if (k->type == CONFIG_FLOAT_LIST) { /* one element of the list is being read */
    char range[96];
    config_describe_range(k, range, sizeof range);
    snprintf(expected, sizeof expected, "a float%s", range);
  } else {
    config_describe_type(k, expected, sizeof expected);
  }
  config_quote(shown, sizeof shown, text, len);
  char found[160];
  if (!plain)
    snprintf(found, sizeof found, "the quoted string %s", shown);
  else if (len == 0)
    snprintf(found, sizeof found, "no value");
  else
    snprintf(found, sizeof found, "%s", shown);
  snprintf(why, why_len, "expected %s, found %s%s", expected, found, found_fmt);
  return 2;
}

static void set_flag(nvae_config *cfg, const config_key *k, bool set) {
  if (k->unset) *(bool *)((char *)cfg + k->set_offset) = set;
}

/* Clears an optional key: flag false and a zero value, so unset keys never carry stale data. */
static void clear_value(nvae_config *cfg, const config_key *k) {
  memset(config_field(cfg, k), 0, k->size);
  set_flag(cfg, k, false);
}

int config_set_scalar(nvae_config *cfg, const config_key *k, int index, const char *text,
                      size_t len, bool plain, char *why, size_t why_len) {
  void *dst = config_field(cfg, k);
  const bool is_list = k->type == CONFIG_FLOAT_LIST;

  if (plain && !is_list && k->unset &&
      (is_null_text(text, len) || (strcmp(k->unset, "auto") == 0 && text_is(text, len, "auto")))) {
    clear_value(cfg, k);
    return 0;
  }
  if (plain && is_null_text(text, len))
    return fail(why, why_len, k, is_list || !k->unset ? " (this key cannot be unset)" : "", text,
                len, plain);

  char num[64];
  switch (k->type) {
  case CONFIG_SECTION: return fail(why, why_len, k, "", text, len, plain);
  case CONFIG_INT:
  case CONFIG_INT64: {
    if (!plain || !is_int_text(text, len)) {
      const char *hint = plain && is_float_text(text, len) ? " (not a whole number)" : "";
      return fail(why, why_len, k, hint, text, len, plain);
    }
    if (!copy_number(num, sizeof num, text, len))
      return fail(why, why_len, k, " (too many digits)", text, len, plain);
    errno = 0;
    long long v = strtoll(num, NULL, 10);
    if (errno == ERANGE || (k->type == CONFIG_INT && (v < INT32_MIN || v > INT32_MAX)) ||
        !in_range(k, (double)v))
      return fail(why, why_len, k, " (out of range)", text, len, plain);
    if (k->type == CONFIG_INT)
      *(int *)dst = (int)v;
    else
      *(int64_t *)dst = (int64_t)v;
    break;
  }
  case CONFIG_FLOAT:
  case CONFIG_FLOAT_LIST: {
    if (!plain || !is_float_text(text, len)) return fail(why, why_len, k, "", text, len, plain);
    if (!copy_number(num, sizeof num, text, len))
      return fail(why, why_len, k, " (too many digits)", text, len, plain);
    errno = 0;
    double v = strtod(num, NULL);
    if (errno == ERANGE || !isfinite(v))
      return fail(why, why_len, k, " (does not fit a double)", text, len, plain);
    if (!in_range(k, v)) return fail(why, why_len, k, " (out of range)", text, len, plain);
    if (is_list) {
      if (index < 0 || index >= config_list_len(k))
        return fail(why, why_len, k, " (too many elements)", text, len, plain);
      ((double *)dst)[index] = v;
    } else {
      *(double *)dst = v;
    }
    break;
  }
  case CONFIG_BOOL:
    if (plain && text_is(text, len, "true"))
      *(bool *)dst = true;
    else if (plain && text_is(text, len, "false"))
      *(bool *)dst = false;
    else
      return fail(why, why_len, k,
                  plain && is_other_bool(text, len)
                      ? " (only true and false are booleans here: YAML 1.1 readers take yes/on "
                        "as true, so they are refused)"
                      : "",
                  text, len, plain);
    break;
  case CONFIG_ENUM: {
    int found = -1;
    for (int i = 0; k->choices[i]; i++)
      if (text_is(text, len, k->choices[i])) found = i;
    if (found < 0) return fail(why, why_len, k, "", text, len, plain);
    *(int *)dst = found;
    break;
  }
  case CONFIG_STRING:
    if (memchr(text, '\0', len))
      return fail(why, why_len, k, " (contains a NUL byte)", text, len, plain);
    if (len >= k->size) {
      char hint[64];
      snprintf(hint, sizeof hint, " (%zu bytes; at most %zu)", len, k->size - 1);
      return fail(why, why_len, k, hint, text, len, plain);
    }
    memcpy(dst, text, len);
    memset((char *)dst + len, 0, k->size - len); /* no stale bytes: configs compare by value */
    break;
  }
  set_flag(cfg, k, true);
  return 0;
}
