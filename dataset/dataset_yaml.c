/* dataset.yaml reading and writing: see dataset_yaml.h. */
#define _POSIX_C_SOURCE 200809L
#include "dataset/dataset_yaml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---------------------------------------------------------------------------------------------
 * Writing: libyaml's event emitter, which quotes whatever needs quoting. */

typedef struct ywriter {
  yaml_emitter_t em;
  int ok;
} ywriter;

static void emit(ywriter *w, yaml_event_t *ev) {
  if (w->ok && !yaml_emitter_emit(&w->em, ev)) w->ok = 0;
}

static void emit_scalar(ywriter *w, const char *s, int quoted) {
  yaml_event_t ev;
  /* Free-form strings (names, paths, hashes) are double-quoted so that no YAML reader turns them
   * into numbers or booleans; enums and numbers stay plain. */
  yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), !quoted, 1,
                               quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE);
  emit(w, &ev);
}

static void emit_int(ywriter *w, int64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", (long long)v);
  emit_scalar(w, buf, 0);
}

static void emit_map_start(ywriter *w, int flow) {
  yaml_event_t ev;
  yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                      flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
  emit(w, &ev);
}

static void emit_map_end(ywriter *w) {
  yaml_event_t ev;
  yaml_mapping_end_event_initialize(&ev);
  emit(w, &ev);
}

static void emit_seq_start(ywriter *w, int flow) {
  yaml_event_t ev;
  yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                       flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
  emit(w, &ev);
}

static void emit_seq_end(ywriter *w) {
  yaml_event_t ev;
  yaml_sequence_end_event_initialize(&ev);
  emit(w, &ev);
}

int dataset_yaml_write(const char *path, const dataset_info *d, nvae_err *e) {
  FILE *f = fopen(path, "wx");
  if (!f) return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot create: %s", path, strerror(errno));
  fprintf(f, "# nvae-train dataset description: see docs/dataset-format.md. Written by nvae-prep;\n"
             "# the loader checks the shards against it.\n");
  ywriter w = {.ok = 1};
  yaml_emitter_initialize(&w.em);
  yaml_emitter_set_output_file(&w.em, f);
  yaml_emitter_set_unicode(&w.em, 1);
  yaml_emitter_set_width(&w.em, 200);
  yaml_event_t ev;
  yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
  emit(&w, &ev);
  yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
  emit(&w, &ev);
  emit_map_start(&w, 0);
  emit_scalar(&w, "format", 0);
  emit_scalar(&w, "nvae-dataset", 0);
  emit_scalar(&w, "format_version", 0);
  emit_int(&w, d->format_version);
  emit_scalar(&w, "name", 0);
  emit_scalar(&w, d->name, 1);
  emit_scalar(&w, "created_by", 0);
  emit_scalar(&w, d->created_by, 1);

  emit_scalar(&w, "source", 0);
  emit_map_start(&w, 0);
  emit_scalar(&w, "kind", 0);
  emit_scalar(&w, d->source_kind, 0);
  emit_scalar(&w, "files", 0);
  emit_seq_start(&w, 0);
  for (int i = 0; i < d->n_source_files; i++)
    emit_scalar(&w, d->source_files[i], 1);
  emit_seq_end(&w);
  emit_map_end(&w);

  emit_scalar(&w, "preprocessing", 0);
  emit_map_start(&w, 0);
  emit_scalar(&w, "crop", 0);
  emit_scalar(&w, d->crop, 0);
  if (!strcmp(d->crop, "box")) {
    emit_scalar(&w, "crop_box", 0);
    emit_seq_start(&w, 1);
    for (int i = 0; i < 4; i++)
      emit_int(&w, d->crop_box[i]);
    emit_seq_end(&w);
  }
  emit_scalar(&w, "resize", 0);
  emit_scalar(&w, d->resize, 0);
  emit_scalar(&w, "size", 0);
  emit_int(&w, d->size);
  emit_map_end(&w);

  emit_scalar(&w, "image", 0);
  emit_map_start(&w, 0);
  emit_scalar(&w, "height", 0);
  emit_int(&w, d->height);
  emit_scalar(&w, "width", 0);
  emit_int(&w, d->width);
  emit_scalar(&w, "channels", 0);
  emit_int(&w, d->channels);
  emit_scalar(&w, "layout", 0);
  emit_scalar(&w, "NHWC", 0);
  emit_scalar(&w, "dtype", 0);
  emit_scalar(&w, "uint8", 0);
  emit_map_end(&w);

  emit_scalar(&w, "splits", 0);
  emit_map_start(&w, 0);
  for (int s = 0; s < d->n_splits; s++) {
    const dataset_split_info *sp = &d->splits[s];
    emit_scalar(&w, sp->name, 0);
    emit_map_start(&w, 0);
    emit_scalar(&w, "count", 0);
    emit_int(&w, sp->count);
    emit_scalar(&w, "skipped", 0);
    emit_int(&w, sp->skipped);
    emit_scalar(&w, "shards", 0);
    emit_seq_start(&w, 0);
    for (int k = 0; k < sp->n_shards; k++) {
      emit_map_start(&w, 1);
      emit_scalar(&w, "file", 0);
      emit_scalar(&w, sp->shards[k].file, 1);
      emit_scalar(&w, "count", 0);
      emit_int(&w, sp->shards[k].count);
      emit_scalar(&w, "sha256", 0);
      emit_scalar(&w, sp->shards[k].sha256, 1);
      emit_map_end(&w);
    }
    emit_seq_end(&w);
    emit_map_end(&w);
  }
  emit_map_end(&w);
  emit_map_end(&w);
  yaml_document_end_event_initialize(&ev, 1);
  emit(&w, &ev);
  yaml_stream_end_event_initialize(&ev);
  emit(&w, &ev);
  int ok = w.ok && yaml_emitter_flush(&w.em);
  char why[256];
  snprintf(why, sizeof why, "%s", w.em.problem ? w.em.problem : "write error");
  yaml_emitter_delete(&w.em);
  if (fclose(f) != 0) ok = 0;
  if (!ok) return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot write: %s", path, why);
  return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Reading: libyaml's document API gives a node tree with positions; the schema is walked by
 * hand with a fixed depth, so even a document with alias cycles cannot make it loop. */

typedef struct yreader {
  yaml_document_t *doc;
  const char *path;
  nvae_err *e;
} yreader;

static yaml_node_t *ynode(yreader *r, int id) { return yaml_document_get_node(r->doc, id); }

static int yerr(yreader *r, const yaml_node_t *n, const char *key, const char *fmt,
                const char *detail) {
  char what[512];
  snprintf(what, sizeof what, fmt, detail);
  return nvae_errf(r->e, NVAE_EXIT_USAGE, "%s:%zu:%zu: %s: %s", r->path,
                   n ? n->start_mark.line + 1 : 0, n ? n->start_mark.column + 1 : 0, key, what);
}

static const char *scalar(const yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Checks a mapping's keys: scalars, known (allowed is a NULL-terminated list), no duplicates. */
static int check_keys(yreader *r, yaml_node_t *map, const char *where, const char *const *allowed) {
  if (!map || map->type != YAML_MAPPING_NODE)
    return yerr(r, map, where, "%s", "expected a mapping");
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = ynode(r, p->key);
    const char *ks = scalar(k);
    if (!ks) return yerr(r, k, where, "%s", "keys must be plain strings");
    int known = 0;
    for (int i = 0; allowed[i]; i++)
      known |= !strcmp(ks, allowed[i]);
    if (!known) return yerr(r, k, where, "unknown key '%s'", ks);
    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
      const char *qs = scalar(ynode(r, q->key));
      if (qs && !strcmp(qs, ks)) return yerr(r, k, where, "duplicate key '%s'", ks);
    }
  }
  return 0;
}

static yaml_node_t *lookup(yreader *r, yaml_node_t *map, const char *key) {
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    const char *ks = scalar(ynode(r, p->key));
    if (ks && !strcmp(ks, key)) return ynode(r, p->value);
  }
  return NULL;
}

static int get_str(yreader *r, yaml_node_t *map, const char *key, const char *dotted, int required,
                   char *out, size_t cap) {
  yaml_node_t *n = lookup(r, map, key);
  if (!n) return required ? yerr(r, map, dotted, "%s", "missing") : 0;
  const char *s = scalar(n);
  if (!s) return yerr(r, n, dotted, "%s", "expected a string");
  if (strlen(s) >= cap) return yerr(r, n, dotted, "%s", "string too long");
  memcpy(out, s, strlen(s) + 1);
  return 0;
}

static int parse_int(yreader *r, yaml_node_t *n, const char *dotted, int64_t lo, int64_t hi,
                     int64_t *out) {
  const char *s = scalar(n);
  if (!s) return yerr(r, n, dotted, "%s", "expected an integer");
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) return yerr(r, n, dotted, "expected an integer, got '%s'", s);
  if (v < lo || v > hi) return yerr(r, n, dotted, "value %s out of range", s);
  *out = v;
  return 0;
}

static int get_int(yreader *r, yaml_node_t *map, const char *key, const char *dotted, int64_t lo,
                   int64_t hi, int64_t *out) {
  yaml_node_t *n = lookup(r, map, key);
  if (!n) return yerr(r, map, dotted, "%s", "missing");
  return parse_int(r, n, dotted, lo, hi, out);
}

/* A shard file name must stay inside the dataset directory. */
static int safe_file_name(const char *s) {
  return s[0] && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\');
}

static int is_hex64(const char *s) {
  if (strlen(s) != 64) return 0;
  for (int i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

static int read_split(yreader *r, yaml_node_t *sn, const char *name, dataset_split_info *sp) {
  static const char *const keys[] = {"count", "skipped", "shards", NULL};
  char where[128], dotted[192];
  snprintf(where, sizeof where, "splits.%s", name);
  int rc = check_keys(r, sn, where, keys);
  if (rc) return rc;
  snprintf(sp->name, sizeof sp->name, "%s", name);
  snprintf(dotted, sizeof dotted, "%s.count", where);
  if ((rc = get_int(r, sn, "count", dotted, 0, (int64_t)1 << 31, &sp->count))) return rc;
  if (lookup(r, sn, "skipped")) {
    snprintf(dotted, sizeof dotted, "%s.skipped", where);
    if ((rc = get_int(r, sn, "skipped", dotted, 0, (int64_t)1 << 31, &sp->skipped))) return rc;
  }
  snprintf(dotted, sizeof dotted, "%s.shards", where);
  yaml_node_t *list = lookup(r, sn, "shards");
  if (!list || list->type != YAML_SEQUENCE_NODE)
    return yerr(r, list ? list : sn, dotted, "%s", "expected a list of shards");
  int n = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
  if (n > 100000) return yerr(r, list, dotted, "%s", "too many shards");
  sp->shards = nvae_calloc((size_t)(n ? n : 1), sizeof *sp->shards);
  sp->n_shards = n;
  int64_t total = 0;
  for (int k = 0; k < n; k++) {
    yaml_node_t *en = ynode(r, list->data.sequence.items.start[k]);
    static const char *const skeys[] = {"file", "count", "sha256", NULL};
    snprintf(dotted, sizeof dotted, "%s.shards[%d]", where, k);
    if ((rc = check_keys(r, en, dotted, skeys))) return rc;
    dataset_shard_entry *s = &sp->shards[k];
    char kd[224];
    snprintf(kd, sizeof kd, "%s.file", dotted);
    if ((rc = get_str(r, en, "file", kd, 1, s->file, sizeof s->file))) return rc;
    if (!safe_file_name(s->file))
      return yerr(r, lookup(r, en, "file"), kd, "'%s' is not a plain file name", s->file);
    snprintf(kd, sizeof kd, "%s.count", dotted);
    if ((rc = get_int(r, en, "count", kd, 1, (int64_t)1 << 31, &s->count))) return rc;
    snprintf(kd, sizeof kd, "%s.sha256", dotted);
    if ((rc = get_str(r, en, "sha256", kd, 1, s->sha256, sizeof s->sha256))) return rc;
    if (!is_hex64(s->sha256))
      return yerr(r, lookup(r, en, "sha256"), kd, "%s", "expected 64 lowercase hex digits");
    total += s->count;
  }
  if (total != sp->count) {
    char msg[160];
    snprintf(msg, sizeof msg, "count is %lld but the shards hold %lld images", (long long)sp->count,
             (long long)total);
    return yerr(r, sn, where, "%s", msg);
  }
  return 0;
}

static int read_doc(yreader *r, dataset_info *d) {
  yaml_node_t *root = yaml_document_get_root_node(r->doc);
  if (!root) return nvae_errf(r->e, NVAE_EXIT_USAGE, "%s: empty document", r->path);
  static const char *const top[] = {"format",     "format_version", "name",
                                    "created_by", "source",         "preprocessing",
                                    "image",      "splits",         NULL};
  int rc = check_keys(r, root, "(top)", top);
  if (rc) return rc;
  char fmt[32];
  if ((rc = get_str(r, root, "format", "format", 1, fmt, sizeof fmt))) return rc;
  if (strcmp(fmt, "nvae-dataset"))
    return yerr(r, lookup(r, root, "format"), "format", "expected 'nvae-dataset', got '%s'", fmt);
  int64_t v;
  if ((rc = get_int(r, root, "format_version", "format_version", 1, 1000, &v))) return rc;
  if (v > DATASET_FORMAT_VERSION)
    return yerr(r, lookup(r, root, "format_version"), "format_version", "%s",
                "written by a newer nvae-prep; update nvae-train");
  d->format_version = (int)v;
  if ((rc = get_str(r, root, "name", "name", 1, d->name, sizeof d->name))) return rc;
  if ((rc = get_str(r, root, "created_by", "created_by", 0, d->created_by, sizeof d->created_by)))
    return rc;

  yaml_node_t *src = lookup(r, root, "source");
  if (src) {
    static const char *const keys[] = {"kind", "files", NULL};
    if ((rc = check_keys(r, src, "source", keys))) return rc;
    if ((rc = get_str(r, src, "kind", "source.kind", 1, d->source_kind, sizeof d->source_kind)))
      return rc;
    yaml_node_t *files = lookup(r, src, "files");
    if (files) {
      if (files->type != YAML_SEQUENCE_NODE)
        return yerr(r, files, "source.files", "%s", "expected a list");
      int n = (int)(files->data.sequence.items.top - files->data.sequence.items.start);
      if (n > 2) return yerr(r, files, "source.files", "%s", "at most 2 entries");
      for (int i = 0; i < n; i++) {
        const char *s = scalar(ynode(r, files->data.sequence.items.start[i]));
        if (!s || strlen(s) >= FS_PATH_MAX)
          return yerr(r, files, "source.files", "%s", "expected path strings");
        memcpy(d->source_files[i], s, strlen(s) + 1);
      }
      d->n_source_files = n;
    }
  }

  snprintf(d->crop, sizeof d->crop, "none");
  snprintf(d->resize, sizeof d->resize, "none");
  yaml_node_t *pre = lookup(r, root, "preprocessing");
  if (pre) {
    static const char *const keys[] = {"crop", "crop_box", "resize", "size", NULL};
    if ((rc = check_keys(r, pre, "preprocessing", keys))) return rc;
    if ((rc = get_str(r, pre, "crop", "preprocessing.crop", 0, d->crop, sizeof d->crop))) return rc;
    if ((rc = get_str(r, pre, "resize", "preprocessing.resize", 0, d->resize, sizeof d->resize)))
      return rc;
    if (lookup(r, pre, "size")) {
      if ((rc = get_int(r, pre, "size", "preprocessing.size", 0, 65536, &v))) return rc;
      d->size = (int)v;
    }
    yaml_node_t *box = lookup(r, pre, "crop_box");
    if (box) {
      if (box->type != YAML_SEQUENCE_NODE ||
          box->data.sequence.items.top - box->data.sequence.items.start != 4)
        return yerr(r, box, "preprocessing.crop_box", "%s", "expected [left, top, right, bottom]");
      for (int i = 0; i < 4; i++) {
        if ((rc = parse_int(r, ynode(r, box->data.sequence.items.start[i]),
                            "preprocessing.crop_box", 0, 1 << 20, &v)))
          return rc;
        d->crop_box[i] = (int)v;
      }
    }
  }

  yaml_node_t *img = lookup(r, root, "image");
  static const char *const ikeys[] = {"height", "width", "channels", "layout", "dtype", NULL};
  if (!img) return yerr(r, root, "image", "%s", "missing");
  if ((rc = check_keys(r, img, "image", ikeys))) return rc;
  if ((rc = get_int(r, img, "height", "image.height", 1, 65536, &v))) return rc;
  d->height = (int)v;
  if ((rc = get_int(r, img, "width", "image.width", 1, 65536, &v))) return rc;
  d->width = (int)v;
  if ((rc = get_int(r, img, "channels", "image.channels", 1, 4, &v))) return rc;
  d->channels = (int)v;
  char tmp[16] = "NHWC";
  if ((rc = get_str(r, img, "layout", "image.layout", 0, tmp, sizeof tmp))) return rc;
  if (strcmp(tmp, "NHWC"))
    return yerr(r, lookup(r, img, "layout"), "image.layout", "expected NHWC, got '%s'", tmp);
  snprintf(tmp, sizeof tmp, "uint8");
  if ((rc = get_str(r, img, "dtype", "image.dtype", 0, tmp, sizeof tmp))) return rc;
  if (strcmp(tmp, "uint8"))
    return yerr(r, lookup(r, img, "dtype"), "image.dtype", "expected uint8, got '%s'", tmp);

  yaml_node_t *splits = lookup(r, root, "splits");
  static const char *const skeys[] = {"train", "valid", "test", NULL};
  if (!splits) return yerr(r, root, "splits", "%s", "missing");
  if ((rc = check_keys(r, splits, "splits", skeys))) return rc;
  for (yaml_node_pair_t *p = splits->data.mapping.pairs.start; p < splits->data.mapping.pairs.top;
       p++) {
    if (d->n_splits >= DATASET_MAX_SPLITS) break; /* unreachable: keys are unique and known */
    const char *name = scalar(ynode(r, p->key));
    dataset_split_info *sp = &d->splits[d->n_splits++];
    if ((rc = read_split(r, ynode(r, p->value), name, sp))) return rc;
  }
  return 0;
}

int dataset_yaml_parse(const char *path, const uint8_t *text, size_t len, dataset_info *d,
                       nvae_err *e) {
  memset(d, 0, sizeof *d);
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&parser)) NVAE_FATAL("yaml_parser_initialize failed");
  yaml_parser_set_input_string(&parser, text, len);
  int rc;
  if (!yaml_parser_load(&parser, &doc)) {
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s:%zu:%zu: YAML syntax error: %s", path,
                   parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                   parser.problem ? parser.problem : "unknown");
    yaml_parser_delete(&parser);
    return rc;
  }
  yreader r = {&doc, path, e};
  rc = read_doc(&r, d);
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  return rc;
}

int dataset_yaml_read(const char *path, dataset_info *d, nvae_err *e) {
  memset(d, 0, sizeof *d);
  uint8_t *buf = NULL;
  size_t cap = 0, len = 0;
  int rc = fs_read_file(path, &buf, &cap, &len, e);
  if (!rc) rc = dataset_yaml_parse(path, buf, len, d, e);
  free(buf);
  return rc;
}

void dataset_info_free(dataset_info *d) {
  for (int s = 0; s < DATASET_MAX_SPLITS; s++) {
    free(d->splits[s].shards);
    d->splits[s].shards = NULL;
  }
}

const dataset_split_info *dataset_info_split(const dataset_info *d, const char *name) {
  for (int s = 0; s < d->n_splits; s++)
    if (!strcmp(d->splits[s].name, name)) return &d->splits[s];
  return NULL;
}
