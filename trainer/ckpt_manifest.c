/* MANIFEST text (ckpt_manifest.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/ckpt_manifest.h"

#include "trainer/crc32c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER "nvae-train checkpoint"

char *ckpt_manifest_format(const ckpt_manifest *m, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) NVAE_FATAL("open_memstream failed");
  fprintf(f, HEADER "\nformat_version %d\nstep %lld\nworld_size %d\n", m->format_version,
          (long long)m->step, m->world_size);
  for (int i = 0; i < m->n_files; i++)
    fprintf(f, "file %s %llu crc32c %08x\n", m->files[i].name, (unsigned long long)m->files[i].size,
            m->files[i].crc32c);
  fflush(f);
  uint32_t crc = crc32c(buf, n);
  fprintf(f, "end crc32c %08x\n", crc);
  if (fclose(f) != 0) NVAE_FATAL("open_memstream write failed");
  *len = n;
  return buf;
}

void ckpt_manifest_free(ckpt_manifest *m) {
  free(m->files);
  memset(m, 0, sizeof *m);
}

/* The next line of text: [*pos, end of line) without the '\n'; 0 at the end of the text or for a
 * last line without its '\n' (a truncated file). */
static int next_line(const char *text, size_t len, size_t *pos, char *line, size_t cap,
                     size_t *start) {
  if (*pos >= len) return 0;
  const char *nl = memchr(text + *pos, '\n', len - *pos);
  if (!nl) return 0;
  size_t n = (size_t)(nl - (text + *pos));
  *start = *pos;
  if (n >= cap) n = cap - 1; /* too long: the caller's sscanf then fails on what is left */
  memcpy(line, text + *pos, n);
  line[n] = '\0';
  if (memchr(line, '\0', n)) line[0] = '\x01'; /* embedded NUL: make the line invalid */
  *pos = (size_t)(nl - text) + 1;
  return 1;
}

static int name_ok(const char *s) {
  if (!*s || strlen(s) >= CKPT_NAME_MAX || s[0] == '.') return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '.' || *s == '-' || *s == '_'))
      return 0;
  return 1;
}

int ckpt_manifest_parse(const char *text, size_t len, const char *path, ckpt_manifest *m,
                        nvae_err *e) {
  memset(m, 0, sizeof *m);
  char line[256];
  size_t pos = 0, start = 0;
  int lineno = 0, rc = 0;
#define BAD(...)                                                                                   \
  do {                                                                                             \
    char what_[200];                                                                               \
    snprintf(what_, sizeof what_, __VA_ARGS__);                                                    \
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: line %d: %s", path, lineno, what_);                    \
    goto out;                                                                                      \
  } while (0)
  long long v = 0;
  int used = 0;
  lineno++;
  if (!next_line(text, len, &pos, line, sizeof line, &start) || strcmp(line, HEADER) != 0)
    BAD("expected \"" HEADER "\" (not a MANIFEST, or an empty one)");
  lineno++;
  if (!next_line(text, len, &pos, line, sizeof line, &start) ||
      sscanf(line, "format_version %lld%n", &v, &used) != 1 || line[used])
    BAD("expected format_version N");
  if (v != CKPT_FORMAT_VERSION)
    BAD("format_version %lld; this program reads version %d", v, CKPT_FORMAT_VERSION);
  m->format_version = (int)v;
  lineno++;
  if (!next_line(text, len, &pos, line, sizeof line, &start) ||
      sscanf(line, "step %lld%n", &v, &used) != 1 || line[used] || v < 0)
    BAD("expected step N (N >= 0)");
  m->step = v;
  lineno++;
  if (!next_line(text, len, &pos, line, sizeof line, &start) ||
      sscanf(line, "world_size %lld%n", &v, &used) != 1 || line[used] || v < 1 || v > (1 << 20))
    BAD("expected world_size N (1 <= N <= 1048576)");
  m->world_size = (int)v;
  int cap = 0;
  for (;;) {
    lineno++;
    if (!next_line(text, len, &pos, line, sizeof line, &start))
      BAD("the file ends before its \"end crc32c\" line (truncated)");
    if (strncmp(line, "end ", 4) == 0) {
      unsigned int want = 0;
      if (sscanf(line, "end crc32c %8x%n", &want, &used) != 1 || used != 19 || line[used])
        BAD("expected end crc32c XXXXXXXX");
      uint32_t got = crc32c(text, start);
      if (got != want)
        BAD("checksum mismatch: the end line says %08x, the content has %08x (the MANIFEST was "
            "changed or damaged)",
            want, got);
      if (pos != len) BAD("bytes after the end line");
      break;
    }
    char name[CKPT_NAME_MAX + 8];
    unsigned long long size = 0;
    unsigned int crc = 0;
    char canon[300] = "";
    if (strlen(line) <= 200 &&
        sscanf(line, "file %70s %llu crc32c %8x%n", name, &size, &crc, &used) == 3)
      snprintf(canon, sizeof canon, "file %s %llu crc32c %08x", name, size, crc);
    if (strcmp(canon, line) != 0) /* exactly the form the writer produces */
      BAD("expected file NAME SIZE crc32c XXXXXXXX or end crc32c XXXXXXXX");
    if (!name_ok(name)) BAD("bad file name \"%s\"", name);
    if (ckpt_manifest_find(m, name)) BAD("%s is listed twice", name);
    if (m->n_files >= 2 * m->world_size + 1) BAD("more files than %d ranks write", m->world_size);
    if (m->n_files == cap) {
      cap = cap ? 2 * cap : 8;
      m->files = nvae_realloc(m->files, sizeof *m->files * (size_t)cap);
    }
    ckpt_manifest_file *f = &m->files[m->n_files++];
    snprintf(f->name, sizeof f->name, "%s", name);
    f->size = size;
    f->crc32c = crc;
  }
#undef BAD
out:
  if (rc) ckpt_manifest_free(m);
  return rc;
}

const ckpt_manifest_file *ckpt_manifest_find(const ckpt_manifest *m, const char *name) {
  for (int i = 0; i < m->n_files; i++)
    if (strcmp(m->files[i].name, name) == 0) return &m->files[i];
  return NULL;
}

int ckpt_manifest_check_complete(const ckpt_manifest *m, const char *path, nvae_err *e) {
  if (!ckpt_manifest_find(m, CKPT_MODEL))
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: lists no " CKPT_MODEL, path);
  for (int r = 0; r < m->world_size; r++) {
    char a[CKPT_NAME_MAX], b[CKPT_NAME_MAX];
    ckpt_name_optim(r, a, sizeof a);
    ckpt_name_rank(r, b, sizeof b);
    if (!ckpt_manifest_find(m, a) || !ckpt_manifest_find(m, b))
      return nvae_errf(e, NVAE_EXIT_USAGE, "%s: lists no %s of rank %d (world size %d)", path,
                       ckpt_manifest_find(m, a) ? b : a, r, m->world_size);
  }
  if (m->n_files != 2 * m->world_size + 1)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: %d files listed, want %d for world size %d", path,
                     m->n_files, 2 * m->world_size + 1, m->world_size);
  return 0;
}
