/* Reading a config: defaults, the YAML file (libyaml event API) and key=value overrides.
 *
 * The event API, not the document API, because the document API resolves aliases silently and
 * keeps no trace of duplicate keys; with events we see every key in order with its mark, reject
 * anchors/aliases/tags, and stop at the first problem with a one-line message
 * "file:line:column: ..." (libyaml marks are 0-based; we print 1-based, ECOSYSTEM.md §5.2).
 *
 * A file is a mapping of sections (model:, data:, ...) and top-level keys (device:); a section is
 * a mapping of keys; a key's value is a scalar, or a flat list for list keys. Nothing else nests,
 * so the reader is two small loops and never recurses deeper than one section.
 */
#define _POSIX_C_SOURCE 200809L
#include "trainer/config.h"

#include "trainer/config_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum { CONFIG_FILE_MAX = 1 << 20 }; /* a config is a few KiB; more is the wrong file */

typedef struct loader {
  yaml_parser_t parser;
  const char *name;       /* file name for "name:line:col: " */
  const char *assignment; /* non-NULL while reading an override (or a default) value */
  const char *text;       /* the input, to place reader errors, which carry only an offset */
  size_t len;
  nvae_config *cfg;
  nvae_err *e;
  int *line_of; /* per table row: 1-based line where the file set it, 0 = not yet */
} loader;

static int errat(loader *L, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int errat(loader *L, yaml_mark_t m, const char *fmt, ...) {
  char msg[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (L->assignment) {
    char q[160];
    config_quote(q, sizeof q, L->assignment, strlen(L->assignment));
    return nvae_errf(L->e, NVAE_EXIT_USAGE, "override %s: %s", q, msg);
  }
  return nvae_errf(L->e, NVAE_EXIT_USAGE, "%s:%zu:%zu: %s", L->name, m.line + 1, m.column + 1, msg);
}

/* libyaml's reader errors (bad UTF-8, control characters) give a byte offset, not a mark. */
static yaml_mark_t mark_at_offset(const loader *L, size_t offset) {
  yaml_mark_t m = {offset, 0, 0};
  for (size_t i = 0; i < offset && i < L->len; i++) {
    if (L->text[i] == '\n') {
      m.line++;
      m.column = 0;
    } else if (((unsigned char)L->text[i] & 0xc0) != 0x80) {
      m.column++; /* count characters, not UTF-8 continuation bytes, as libyaml's marks do */
    }
  }
  return m;
}

static int syntax_error(loader *L) {
  const yaml_parser_t *p = &L->parser;
  const char *problem = p->problem ? p->problem : "unknown problem";
  switch (p->error) {
  case YAML_MEMORY_ERROR: return errat(L, p->problem_mark, "out of memory while reading YAML");
  case YAML_READER_ERROR:
    return errat(L, mark_at_offset(L, p->problem_offset), "not a valid YAML text: %s (byte 0x%02x)",
                 problem, p->problem_value & 0xff);
  default:
    if (p->context)
      return errat(L, p->problem_mark, "YAML syntax error: %s (%s at line %zu, column %zu)",
                   problem, p->context, p->context_mark.line + 1, p->context_mark.column + 1);
    return errat(L, p->problem_mark, "YAML syntax error: %s", problem);
  }
}

/* The next event, with anchors, aliases and tags refused: configs are plain data, and an alias
 * would let one edit change keys far away. On success the caller owns (and deletes) *ev. */
static int next(loader *L, yaml_event_t *ev) {
  if (!yaml_parser_parse(&L->parser, ev)) return syntax_error(L);
  const yaml_char_t *anchor = NULL, *tag = NULL;
  switch (ev->type) {
  case YAML_ALIAS_EVENT: anchor = ev->data.alias.anchor; break;
  case YAML_SCALAR_EVENT:
    anchor = ev->data.scalar.anchor;
    tag = ev->data.scalar.tag;
    break;
  case YAML_SEQUENCE_START_EVENT:
    anchor = ev->data.sequence_start.anchor;
    tag = ev->data.sequence_start.tag;
    break;
  case YAML_MAPPING_START_EVENT:
    anchor = ev->data.mapping_start.anchor;
    tag = ev->data.mapping_start.tag;
    break;
  default: break;
  }
  int rc = 0;
  char q[96];
  if (anchor) {
    config_quote(q, sizeof q, (const char *)anchor, strlen((const char *)anchor));
    rc = errat(L, ev->start_mark,
               "YAML %s %s: anchors (&name) and aliases (*name) are not supported in configs; "
               "write the value out",
               ev->type == YAML_ALIAS_EVENT ? "alias" : "anchor", q);
  } else if (tag) {
    config_quote(q, sizeof q, (const char *)tag, strlen((const char *)tag));
    rc = errat(L, ev->start_mark,
               "YAML tag %s: tags are not supported in configs; write the plain value", q);
  }
  if (rc) yaml_event_delete(ev);
  return rc;
}

static const char *event_what(const yaml_event_t *ev) {
  switch (ev->type) {
  case YAML_MAPPING_START_EVENT: return "a mapping";
  case YAML_SEQUENCE_START_EVENT: return "a list";
  case YAML_SCALAR_EVENT: return "a scalar";
  default: return "no value";
  }
}

static bool is_plain(const yaml_event_t *ev) {
  return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static int set_from_event(loader *L, const config_key *k, int index, const yaml_event_t *ev) {
  char why[600];
  if (config_set_scalar(L->cfg, k, index, (const char *)ev->data.scalar.value,
                        ev->data.scalar.length, is_plain(ev), why, sizeof why) == 0)
    return 0;
  /* libyaml folds a wrongly indented next line into a plain value ("1 use_se"): say so, as the
   * syntax error that follows is never reached. */
  const char *hint = "";
  char hint_buf[96];
  if (is_plain(ev) && ev->end_mark.line > ev->start_mark.line) {
    snprintf(hint_buf, sizeof hint_buf, " (the value runs on to line %zu: check the indentation)",
             ev->end_mark.line + 1);
    hint = hint_buf;
  }
  if (k->type == CONFIG_FLOAT_LIST)
    return errat(L, ev->start_mark, "key '%s': element %d: %s%s", k->name, index + 1, why, hint);
  return errat(L, ev->start_mark, "key '%s': %s%s", k->name, why, hint);
}

/* The value of key k; ev is its first event (consumed here). */
static int read_value(loader *L, const config_key *k, yaml_event_t *ev) {
  char expected[256];
  config_describe_type(k, expected, sizeof expected);
  int rc = 0;
  if (k->type != CONFIG_FLOAT_LIST) {
    if (ev->type == YAML_SCALAR_EVENT)
      rc = set_from_event(L, k, 0, ev);
    else
      rc = errat(L, ev->start_mark, "key '%s': expected %s, found %s", k->name, expected,
                 event_what(ev));
    yaml_event_delete(ev);
    return rc;
  }
  if (ev->type != YAML_SEQUENCE_START_EVENT) {
    char found[128] = "";
    if (ev->type == YAML_SCALAR_EVENT)
      config_quote(found, sizeof found, (const char *)ev->data.scalar.value,
                   ev->data.scalar.length);
    rc = errat(L, ev->start_mark, "key '%s': expected %s, found %s%s", k->name, expected,
               ev->type == YAML_SCALAR_EVENT ? "the scalar " : event_what(ev), found);
    yaml_event_delete(ev);
    return rc;
  }
  yaml_mark_t start = ev->start_mark;
  yaml_event_delete(ev);
  int n = 0, want = config_list_len(k);
  for (;;) {
    yaml_event_t item;
    if ((rc = next(L, &item))) return rc;
    if (item.type == YAML_SEQUENCE_END_EVENT) {
      yaml_event_delete(&item);
      break;
    }
    if (item.type != YAML_SCALAR_EVENT)
      rc = errat(L, item.start_mark, "key '%s': element %d: expected a number, found %s", k->name,
                 n + 1, event_what(&item));
    else if (n >= want)
      rc = errat(L, item.start_mark, "key '%s': expected %s, found more than %d elements", k->name,
                 expected, want);
    else
      rc = set_from_event(L, k, n, &item);
    yaml_event_delete(&item);
    if (rc) return rc;
    n++;
  }
  if (n != want)
    return errat(L, start, "key '%s': expected %s, found %d element%s", k->name, expected, n,
                 n == 1 ? "" : "s");
  return 0;
}

static int unknown_key(loader *L, yaml_mark_t m, const char *name, size_t len, bool top) {
  char q[128];
  config_quote(q, sizeof q, name, len);
  const config_key *exact = config_find_key(name, len);
  if (top && exact && config_is_dotted(exact->name))
    return errat(L, m,
                 "unknown key %s at the top level: dotted names are for overrides; in a file "
                 "write the key under its section",
                 q);
  const config_key *s = config_suggest_key(name, len);
  if (s) return errat(L, m, "unknown key %s; did you mean '%s'?", q, s->name);
  return errat(L, m, "unknown key %s (docs/config.md lists every key)", q);
}

/* Keys of the top level (section == NULL) or of one section, up to the mapping's end. */
static int read_mapping(loader *L, const config_key *section) {
  for (;;) {
    yaml_event_t kev;
    int rc = next(L, &kev);
    if (rc) return rc;
    if (kev.type == YAML_MAPPING_END_EVENT) {
      yaml_event_delete(&kev);
      return 0;
    }
    if (kev.type != YAML_SCALAR_EVENT) {
      rc = errat(L, kev.start_mark, "expected a key name%s%s%s, found %s",
                 section ? " in section '" : "", section ? section->name : "", section ? "'" : "",
                 event_what(&kev));
      yaml_event_delete(&kev);
      return rc;
    }
    /* The dotted name: "section.key", or the key itself at the top level. */
    char full[256];
    size_t klen = kev.data.scalar.length, flen = 0;
    const config_key *k = NULL;
    if (section) flen = (size_t)snprintf(full, sizeof full, "%s.", section->name);
    if (flen + klen < sizeof full) {
      memcpy(full + flen, kev.data.scalar.value, klen);
      flen += klen;
      full[flen] = '\0';
      k = config_find_key(full, flen);
      if (k && !section && config_is_dotted(k->name)) k = NULL;
    }
    if (!k) {
      if (flen + klen >= sizeof full) {
        flen = 0;
        klen = klen < sizeof full ? klen : sizeof full - 1;
        memcpy(full, kev.data.scalar.value, klen);
        flen = klen;
      }
      rc = unknown_key(L, kev.start_mark, full, flen, section == NULL);
      yaml_event_delete(&kev);
      return rc;
    }
    int row = (int)(k - config_keys);
    if (L->line_of[row]) {
      rc = errat(L, kev.start_mark, "duplicate key '%s': first set at line %d, again at line %zu",
                 k->name, L->line_of[row], kev.start_mark.line + 1);
      yaml_event_delete(&kev);
      return rc;
    }
    L->line_of[row] = (int)kev.start_mark.line + 1;
    yaml_event_delete(&kev);

    yaml_event_t vev;
    if ((rc = next(L, &vev))) return rc;
    if (k->type != CONFIG_SECTION) {
      if ((rc = read_value(L, k, &vev))) return rc;
      continue;
    }
    if (vev.type == YAML_MAPPING_START_EVENT) {
      yaml_event_delete(&vev);
      if ((rc = read_mapping(L, k))) return rc;
      continue;
    }
    if (vev.type == YAML_SCALAR_EVENT && is_plain(&vev) && vev.data.scalar.length == 0) {
      yaml_event_delete(&vev); /* "model:" with every key commented out: an empty section */
      continue;
    }
    char found[128] = "";
    if (vev.type == YAML_SCALAR_EVENT)
      config_quote(found, sizeof found, (const char *)vev.data.scalar.value,
                   vev.data.scalar.length);
    rc = errat(L, vev.start_mark, "key '%s': expected a mapping of %s.* keys, found %s%s", k->name,
               k->name, vev.type == YAML_SCALAR_EVENT ? "the scalar " : event_what(&vev), found);
    yaml_event_delete(&vev);
    return rc;
  }
}

static int empty_error(loader *L) {
  yaml_mark_t m = {0, 0, 0};
  return errat(L, m, "the config file is empty: expected a mapping of sections such as 'model:'");
}

/* Expects the event type t (structure events that cannot be wrong once libyaml accepted the
 * text, but checked so a libyaml surprise is an error rather than a misread). */
static int expect(loader *L, yaml_event_type_t t, const char *what) {
  yaml_event_t ev;
  int rc = next(L, &ev);
  if (rc) return rc;
  if (ev.type != t) rc = errat(L, ev.start_mark, "expected %s, found %s", what, event_what(&ev));
  yaml_event_delete(&ev);
  return rc;
}

static int read_document(loader *L) {
  yaml_event_t ev;
  int rc;
  if ((rc = expect(L, YAML_STREAM_START_EVENT, "the start of the text"))) return rc;
  if ((rc = next(L, &ev))) return rc;
  yaml_event_type_t t = ev.type;
  yaml_event_delete(&ev);
  if (t == YAML_STREAM_END_EVENT) return empty_error(L);

  if ((rc = next(L, &ev))) return rc;
  if (ev.type == YAML_SCALAR_EVENT && is_plain(&ev) && ev.data.scalar.length == 0) {
    yaml_event_delete(&ev); /* only "---": still empty */
    return empty_error(L);
  }
  if (ev.type != YAML_MAPPING_START_EVENT) {
    rc = errat(L, ev.start_mark,
               "expected a mapping of sections (model:, train:, ...) at the top level, found %s",
               event_what(&ev));
    yaml_event_delete(&ev);
    return rc;
  }
  yaml_event_delete(&ev);
  if ((rc = read_mapping(L, NULL))) return rc;
  if ((rc = expect(L, YAML_DOCUMENT_END_EVENT, "the end of the document"))) return rc;
  if ((rc = next(L, &ev))) return rc;
  if (ev.type != YAML_STREAM_END_EVENT)
    rc = errat(L, ev.start_mark, "a second YAML document: a config file holds exactly one");
  yaml_event_delete(&ev);
  return rc;
}

/* A value given as its own YAML text (an override's right-hand side, a list default). */
static int read_value_text(loader *L, const config_key *k) {
  yaml_event_t ev;
  int rc;
  if ((rc = expect(L, YAML_STREAM_START_EVENT, "the start of the value"))) return rc;
  if ((rc = next(L, &ev))) return rc;
  if (ev.type == YAML_STREAM_END_EVENT) { /* "key=" : an empty plain scalar, i.e. null */
    yaml_event_delete(&ev);
    yaml_event_t empty = {.type = YAML_SCALAR_EVENT};
    empty.data.scalar.value = (yaml_char_t *)"";
    empty.data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
    return k->type == CONFIG_FLOAT_LIST ? errat(L, ev.start_mark, "key '%s': empty value", k->name)
                                        : set_from_event(L, k, 0, &empty);
  }
  yaml_event_delete(&ev);
  if ((rc = next(L, &ev))) return rc;
  if ((rc = read_value(L, k, &ev))) return rc;
  if ((rc = expect(L, YAML_DOCUMENT_END_EVENT, "the end of the value"))) return rc;
  if ((rc = next(L, &ev))) return rc;
  if (ev.type != YAML_STREAM_END_EVENT)
    rc = errat(L, ev.start_mark, "key '%s': the value holds more than one YAML document", k->name);
  yaml_event_delete(&ev);
  return rc;
}

static int parse_value_text(nvae_config *cfg, const config_key *k, const char *text,
                            const char *assignment, nvae_err *e) {
  loader L = {.name = "override",
              .assignment = assignment,
              .text = text,
              .len = strlen(text),
              .cfg = cfg,
              .e = e};
  if (!yaml_parser_initialize(&L.parser))
    return nvae_errf(e, NVAE_EXIT_USAGE, "override: out of memory initialising libyaml");
  yaml_parser_set_input_string(&L.parser, (const unsigned char *)text, L.len);
  int rc = read_value_text(&L, k);
  yaml_parser_delete(&L.parser);
  return rc;
}

void config_defaults(nvae_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  for (int i = 0; i < config_num_keys; i++) {
    const config_key *k = &config_keys[i];
    if (k->type == CONFIG_SECTION) continue;
    nvae_err e;
    int rc;
    char why[600] = "";
    /* Plain words and numbers need no YAML parser (thousands of loads in the fuzz test); lists
     * go through it. test_config checks both paths give the same values. */
    if (k->def[0] == '[')
      rc = parse_value_text(cfg, k, k->def, k->def, &e);
    else
      rc = config_set_scalar(cfg, k, 0, k->def, strlen(k->def), true, why, sizeof why);
    if (rc)
      NVAE_FATAL("config_schema.c: the default of '%s' does not parse: %s", k->name,
                 k->def[0] == '[' ? e.msg : why);
  }
}

int config_load_string(const char *text, size_t len, const char *name, nvae_config *cfg,
                       nvae_err *e) {
  nvae_err_clear(e);
  config_defaults(cfg);
  if (!text) text = ""; /* libyaml asserts a non-NULL input */
  loader L = {.name = name ? name : "config", .text = text, .len = len, .cfg = cfg, .e = e};
  L.line_of = nvae_calloc((size_t)config_num_keys, sizeof *L.line_of);
  int rc;
  if (!yaml_parser_initialize(&L.parser)) {
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: out of memory initialising libyaml", L.name);
  } else {
    yaml_parser_set_input_string(&L.parser, (const unsigned char *)text, len);
    rc = read_document(&L);
    yaml_parser_delete(&L.parser);
  }
  free(L.line_of);
  return rc;
}

int config_load(const char *path, nvae_config *cfg, nvae_err *e) {
  nvae_err_clear(e);
  config_defaults(cfg);
  FILE *f = fopen(path, "rb");
  if (!f)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: cannot open the config file: %s", path,
                     strerror(errno));
  size_t cap = 16384, len = 0;
  char *buf = nvae_malloc(cap);
  for (;;) {
    if (len == cap) {
      if (cap > CONFIG_FILE_MAX) break;
      cap *= 2;
      buf = nvae_realloc(buf, cap);
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  int rc = 0;
  if (ferror(f))
    rc =
        nvae_errf(e, NVAE_EXIT_USAGE, "%s: cannot read the config file: %s", path, strerror(errno));
  else if (len > CONFIG_FILE_MAX)
    rc = nvae_errf(e, NVAE_EXIT_USAGE,
                   "%s: larger than %d KiB; a config is a few KiB (is this the right file?)", path,
                   CONFIG_FILE_MAX / 1024);
  fclose(f);
  if (rc == 0) rc = config_load_string(buf, len, path, cfg, e);
  free(buf);
  return rc;
}

int config_apply_override(nvae_config *cfg, const char *assignment, nvae_err *e) {
  nvae_err_clear(e);
  char q[160];
  config_quote(q, sizeof q, assignment, strlen(assignment));
  const char *eq = strchr(assignment, '=');
  if (!eq)
    return nvae_errf(e, NVAE_EXIT_USAGE, "override %s: expected key=value, e.g. train.batch_size=8",
                     q);
  const char *kb = assignment, *ke = eq;
  while (kb < ke && (*kb == ' ' || *kb == '\t'))
    kb++;
  while (ke > kb && (ke[-1] == ' ' || ke[-1] == '\t'))
    ke--;
  size_t klen = (size_t)(ke - kb);
  const config_key *k = config_find_key(kb, klen);
  if (!k) {
    char kq[128];
    config_quote(kq, sizeof kq, kb, klen);
    const config_key *s = config_suggest_key(kb, klen);
    if (s)
      return nvae_errf(e, NVAE_EXIT_USAGE, "override %s: unknown key %s; did you mean '%s'?", q, kq,
                       s->name);
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "override %s: unknown key %s (docs/config.md lists every "
                     "key)",
                     q, kq);
  }
  if (k->type == CONFIG_SECTION)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "override %s: '%s' is a section; override one of its keys, e.g. %s.<key>=...",
                     q, k->name, k->name);
  /* Parse into a copy so a failed override leaves cfg as it was. */
  nvae_config tmp = *cfg;
  int rc = parse_value_text(&tmp, k, eq + 1, assignment, e);
  if (rc == 0) *cfg = tmp;
  return rc;
}
