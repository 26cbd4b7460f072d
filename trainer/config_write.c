/* Writing a config: the resolved YAML (every key, re-loadable), value formatting shared with the
 * docs tool, type descriptions shared with error messages, and the --help key listing. */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include "trainer/config.h"
#include "trainer/config_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Shortest "%.*g" that reads back to exactly v, always with a '.' or an exponent so a reader
 * sees a float ("1.0", not "1"). */
static size_t format_double(double v, char *buf, size_t n) {
  char tmp[40];
  /* Start with enough digits for the integer part, so 600 prints as 600.0 and not 6e+02. */
  int start = 1;
  double a = fabs(v);
  if (a >= 1 && a < 1e15) start = (int)floor(log10(a)) + 1;
  if (start > 17) start = 17;
  for (int prec = start; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, v);
    if (strtod(tmp, NULL) == v) break;
  }
  if (!strpbrk(tmp, ".eEn")) strcat(tmp, ".0"); /* 'n': inf/nan cannot be set, but be safe */
  return (size_t)snprintf(buf, n, "%s", tmp);
}

/* A YAML double-quoted string. Bytes >= 0x80 pass through (UTF-8; a \xNN escape would mean the
 * code point U+00NN and not read back as the same bytes). */
static size_t format_string(const char *s, char *buf, size_t n) {
  size_t o = 0;
#define PUT(...)                                                                                   \
  do {                                                                                             \
    int w_ = snprintf(buf + o, o < n ? n - o : 0, __VA_ARGS__);                                    \
    if (w_ > 0) o += (size_t)w_;                                                                   \
  } while (0)
  PUT("\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"')
      PUT("\\\"");
    else if (*p == '\\')
      PUT("\\\\");
    else if (*p == '\n')
      PUT("\\n");
    else if (*p == '\t')
      PUT("\\t");
    else if (*p < 0x20 || *p == 0x7f)
      PUT("\\x%02x", *p);
    else
      PUT("%c", *p);
  }
  PUT("\"");
#undef PUT
  if (o >= n && n > 0) o = n - 1;
  return o;
}

size_t config_format_value(const nvae_config *cfg, const config_key *k, char *buf, size_t n) {
  const void *v = config_cfield(cfg, k);
  if (n == 0) return 0;
  buf[0] = '\0';
  if (!config_is_set(cfg, k)) return (size_t)snprintf(buf, n, "%s", k->unset);
  size_t o = 0;
  switch (k->type) {
  case CONFIG_SECTION: break;
  case CONFIG_INT: o = (size_t)snprintf(buf, n, "%d", *(const int *)v); break;
  case CONFIG_INT64: o = (size_t)snprintf(buf, n, "%lld", (long long)*(const int64_t *)v); break;
  case CONFIG_FLOAT: o = format_double(*(const double *)v, buf, n); break;
  case CONFIG_BOOL: o = (size_t)snprintf(buf, n, "%s", *(const bool *)v ? "true" : "false"); break;
  case CONFIG_ENUM: {
    int i = *(const int *)v, count = 0;
    while (k->choices[count])
      count++;
    o = (size_t)snprintf(buf, n, "%s", i >= 0 && i < count ? k->choices[i] : "?");
    break;
  }
  case CONFIG_STRING: {
    /* Bounded copy: a struct edited by hand may lack its NUL. */
    char tmp[NVAE_CFG_PATH_LEN];
    size_t len = strnlen((const char *)v, k->size < sizeof tmp ? k->size : sizeof tmp - 1);
    memcpy(tmp, v, len);
    tmp[len] = '\0';
    o = format_string(tmp, buf, n);
    break;
  }
  case CONFIG_FLOAT_LIST: {
    o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < config_list_len(k) && o < n; i++) {
      if (i) o += (size_t)snprintf(buf + o, n - o, ", ");
      if (o < n) o += format_double(((const double *)v)[i], buf + o, n - o);
    }
    if (o < n) o += (size_t)snprintf(buf + o, n - o, "]");
    break;
  }
  }
  return o < n ? o : n - 1;
}

size_t config_describe_range(const config_key *k, char *buf, size_t n) {
  bool lo = k->min_kind != CONFIG_BOUND_NONE, hi = k->max_kind != CONFIG_BOUND_NONE;
  if (lo && hi)
    return (size_t)snprintf(buf, n, " in %c%.15g, %.15g%c",
                            k->min_kind == CONFIG_BOUND_INCL ? '[' : '(', k->min, k->max,
                            k->max_kind == CONFIG_BOUND_INCL ? ']' : ')');
  if (lo)
    return (size_t)snprintf(buf, n, " %s %.15g", k->min_kind == CONFIG_BOUND_INCL ? ">=" : ">",
                            k->min);
  if (hi)
    return (size_t)snprintf(buf, n, " %s %.15g", k->max_kind == CONFIG_BOUND_INCL ? "<=" : "<",
                            k->max);
  if (n) buf[0] = '\0';
  return 0;
}

void config_describe_type(const config_key *k, char *buf, size_t n) {
  char range[96];
  config_describe_range(k, range, sizeof range);
  switch (k->type) {
  case CONFIG_SECTION: snprintf(buf, n, "a mapping of %s.* keys", k->name); break;
  case CONFIG_INT:
  case CONFIG_INT64: snprintf(buf, n, "an integer%s", range); break;
  case CONFIG_FLOAT: snprintf(buf, n, "a float%s", range); break;
  case CONFIG_BOOL: snprintf(buf, n, "true or false"); break;
  case CONFIG_STRING: snprintf(buf, n, "a string"); break;
  case CONFIG_FLOAT_LIST:
    snprintf(buf, n, "a list of %d floats%s%s", config_list_len(k), range[0] ? ", each" : "",
             range);
    break;
  case CONFIG_ENUM: {
    size_t o = (size_t)snprintf(buf, n, "one of ");
    for (int i = 0; k->choices[i] && o < n; i++)
      o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? "|" : "", k->choices[i]);
    break;
  }
  }
  if (k->unset) {
    size_t len = strlen(buf);
    if (len < n) snprintf(buf + len, n - len, " or %s", k->unset);
  }
}

int config_write_yaml(const nvae_config *cfg, FILE *f) {
  char value[CONFIG_VALUE_TEXT_MAX]; /* ~4 KiB: a path with every byte escaped */
  fprintf(f, "# nvae-train resolved configuration: every key, defaults filled in.\n"
             "# Keys and meanings: docs/config.md. Load it again with --config.\n");
  for (int i = 0; i < config_num_keys; i++) {
    const config_key *k = &config_keys[i];
    if (k->type == CONFIG_SECTION) {
      fprintf(f, "%s:\n", k->name);
      continue;
    }
    config_format_value(cfg, k, value, sizeof value);
    const char *dot = strchr(k->name, '.');
    if (dot)
      fprintf(f, "  %s: %s\n", dot + 1, value);
    else
      fprintf(f, "%s: %s\n", k->name, value);
  }
  fflush(f);
  return ferror(f) ? NVAE_EXIT_RUNTIME : 0;
}

void config_print_keys(FILE *f) {
  nvae_config def;
  config_defaults(&def);
  char type[256], value[256];
  fprintf(f,
          "Config keys (YAML sections; override any with key=value, e.g. train.batch_size=8):\n");
  for (int i = 0; i < config_num_keys; i++) {
    const config_key *k = &config_keys[i];
    if (k->type == CONFIG_SECTION) {
      fprintf(f, "\n%s: %s\n", k->name, k->help);
      continue;
    }
    config_describe_type(k, type, sizeof type);
    config_format_value(&def, k, value, sizeof value);
    fprintf(f, "  %-32s = %s\n      %s; %s\n", k->name, value, type, k->help);
  }
}
