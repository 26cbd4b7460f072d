/* nvae-prep folder: every .jpg/.jpeg/.png under a directory tree (hidden entries skipped; the type
 * is taken from the file's content), centre-cropped to a square and resized to --size with the
 * Pillow-equivalent bilinear filter, stored as RGB.
 *
 * Train/valid split, deterministic and stable: files are ranked by the SHA-256 of their path
 * relative to the root, and the round(F * N) lowest ranks form `valid`. Adding or removing files
 * never moves another file between splits (except at the margin of the count). Inside a split the
 * order is the sorted relative path; /index holds the position in the sorted list of all files. */
#define _POSIX_C_SOURCE 200809L
#include "dataset/fsutil.h"
#include "dataset/image.h"
#include "dataset/prep.h"
#include "dataset/resize.h"
#include "dataset/sha256.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define FOLDER_MAX_DEPTH 32

typedef struct folder_ctx {
  int size;
} folder_ctx;

typedef struct folder_scratch {
  image_decoder dec;
  image_rgb rgb;
  resize_plan plan; /* for the last square side seen (most folders have one image size) */
  int plan_side;
  uint8_t *tmp;
  size_t tmp_cap;
} folder_scratch;

static void *folder_thread_init(void *vctx) {
  (void)vctx;
  folder_scratch *s = nvae_calloc(1, sizeof *s);
  image_decoder_init(&s->dec);
  return s;
}

static void folder_thread_free(void *vctx, void *vs) {
  (void)vctx;
  folder_scratch *s = vs;
  image_decoder_free(&s->dec);
  image_rgb_free(&s->rgb);
  if (s->plan_side) resize_plan_free(&s->plan);
  free(s->tmp);
  free(s);
}

static int folder_load(void *vctx, void *vs, const prep_item *item, uint8_t *dst, nvae_err *e) {
  folder_ctx *c = vctx;
  folder_scratch *s = vs;
  int rc = image_load(&s->dec, item->path, &s->rgb, e);
  if (rc) return rc;
  int w = s->rgb.width, h = s->rgb.height;
  int side = w < h ? w : h;
  if (side != s->plan_side) {
    if (s->plan_side) resize_plan_free(&s->plan);
    resize_plan_init(&s->plan, side, side, c->size, c->size, 3);
    s->plan_side = side;
    size_t need = resize_scratch_bytes(&s->plan);
    if (need > s->tmp_cap) {
      s->tmp = nvae_realloc(s->tmp, need);
      s->tmp_cap = need;
    }
  }
  /* centre crop, as PIL's crop((w - s) // 2, (h - s) // 2, ...) */
  const uint8_t *crop = s->rgb.data + ((size_t)((h - side) / 2) * w + (size_t)((w - side) / 2)) * 3;
  resize_apply(&s->plan, crop, (int64_t)w * 3, s->tmp, dst);
  return 0;
}

typedef struct file_list {
  char **rel;
  int64_t n;
  int64_t ignored; /* files with other extensions */
} file_list;

static int has_image_ext(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

static int walk(const char *root, const char *rel, int depth, file_list *fl, nvae_err *e) {
  char dir[FS_PATH_MAX];
  if (rel[0] ? fs_join(dir, sizeof dir, root, rel) : (snprintf(dir, sizeof dir, "%s", root), 0))
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s/%s: path too long", root, rel);
  if (depth > FOLDER_MAX_DEPTH)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: nested more than %d levels (a symlink loop?)", dir,
                     FOLDER_MAX_DEPTH);
  DIR *d = opendir(dir);
  if (!d) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: cannot list directory", dir);
  struct dirent *de;
  int rc = 0;
  while (!rc && (de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue; /* ".", "..", hidden files and directories */
    char sub[FS_PATH_MAX], full[FS_PATH_MAX];
    if (rel[0] ? fs_join(sub, sizeof sub, rel, de->d_name)
               : (snprintf(sub, sizeof sub, "%s", de->d_name), 0)) {
      rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s/%s: path too long", dir, de->d_name);
      break;
    }
    struct stat st;
    if (fs_join(full, sizeof full, root, sub) || stat(full, &st) != 0) continue; /* dangling */
    if (S_ISDIR(st.st_mode)) {
      rc = walk(root, sub, depth + 1, fl, e);
    } else if (S_ISREG(st.st_mode)) {
      if (!has_image_ext(de->d_name)) {
        fl->ignored++;
        continue;
      }
      if ((fl->n & (fl->n - 1)) == 0)
        fl->rel = nvae_realloc(fl->rel, sizeof(char *) * (size_t)(fl->n ? fl->n * 2 : 16));
      fl->rel[fl->n] = nvae_malloc(strlen(sub) + 1);
      memcpy(fl->rel[fl->n++], sub, strlen(sub) + 1);
    }
  }
  closedir(d);
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct ranked {
  uint64_t key;
  int64_t i;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

static uint64_t path_key(const char *rel) {
  sha256_ctx c;
  uint8_t d[32];
  sha256_init(&c);
  sha256_update(&c, rel, strlen(rel));
  sha256_final(&c, d);
  uint64_t k = 0;
  for (int i = 0; i < 8; i++)
    k = k << 8 | d[i];
  return k;
}

static char ignored_note[128];

int prep_folder_source(prep_source *src, const char *root, int size, double valid_fraction,
                       nvae_err *e) {
  memset(src, 0, sizeof *src);
  if (size < 1 || size > 4096)
    return nvae_errf(e, NVAE_EXIT_USAGE, "--size %d out of range (1..4096)", size);
  if (!(valid_fraction >= 0 && valid_fraction < 1))
    return nvae_errf(e, NVAE_EXIT_USAGE, "--valid-fraction %g out of range [0, 1)", valid_fraction);
  if (!fs_is_dir(root)) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: not a directory", root);
  file_list fl = {0};
  int rc = walk(root, "", 0, &fl, e);
  if (!rc && fl.n == 0)
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: no .jpg, .jpeg or .png files found", root);
  if (!rc) {
    qsort(fl.rel, (size_t)fl.n, sizeof *fl.rel, cmp_str);
    ranked *rk = nvae_malloc(sizeof *rk * (size_t)fl.n);
    for (int64_t i = 0; i < fl.n; i++)
      rk[i] = (ranked){path_key(fl.rel[i]), i};
    qsort(rk, (size_t)fl.n, sizeof *rk, cmp_ranked);
    int64_t n_valid = llround(valid_fraction * (double)fl.n);
    if (n_valid == 0 && valid_fraction > 0 && fl.n > 1) n_valid = 1;
    if (n_valid >= fl.n) n_valid = fl.n - 1;
    uint8_t *is_valid = nvae_calloc((size_t)fl.n, 1);
    for (int64_t r = 0; r < n_valid; r++)
      is_valid[rk[r].i] = 1;
    src->n_splits = 2;
    snprintf(src->splits[0].name, sizeof src->splits[0].name, "train");
    snprintf(src->splits[1].name, sizeof src->splits[1].name, "valid");
    char full[FS_PATH_MAX];
    for (int64_t i = 0; i < fl.n; i++) {
      fs_join(full, sizeof full, root, fl.rel[i]);
      prep_split_add(&src->splits[is_valid[i]], full, i);
    }
    free(is_valid);
    free(rk);
  }
  for (int64_t i = 0; i < fl.n; i++)
    free(fl.rel[i]);
  free(fl.rel);
  if (rc) {
    prep_source_free(src);
    return rc;
  }
  if (fl.ignored) {
    snprintf(ignored_note, sizeof ignored_note, "%lld files without a .jpg/.jpeg/.png name ignored",
             (long long)fl.ignored);
    src->note = ignored_note;
  }
  src->kind = "folder";
  src->crop = "center-square";
  src->resize = "pil-bilinear-antialias";
  src->size = size;
  src->height = src->width = size;
  src->channels = 3;
  src->n_source_files = 1;
  src->source_files[0] = nvae_malloc(strlen(root) + 1);
  memcpy(src->source_files[0], root, strlen(root) + 1);
  folder_ctx *c = nvae_calloc(1, sizeof *c);
  c->size = size;
  src->ctx = c;
  src->ctx_free = free;
  src->thread_init = folder_thread_init;
  src->thread_free = folder_thread_free;
  src->load = folder_load;
  return 0;
}
