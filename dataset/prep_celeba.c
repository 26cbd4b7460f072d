/* nvae-prep celeba: the official aligned CelebA release (DIR/img_align_celeba/NNNNNN.jpg, 178x218,
 * and DIR/list_eval_partition.txt with lines "000001.jpg 0", 0/1/2 = train/valid/test; the CSV
 * variant "image_id,partition" with a header is accepted too). Each image gets NVAE's crop box
 * (left 15, top 40, right 163, bottom 188) -> 148x148, then the Pillow-equivalent bilinear resize
 * to --size. The partition file must be well formed and agree with the directory: every listed file
 * present, no duplicates, and as many .jpg files as lines. */
#define _POSIX_C_SOURCE 200809L
#include "dataset/fsutil.h"
#include "dataset/image.h"
#include "dataset/prep.h"
#include "dataset/resize.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CELEBA_W 178
#define CELEBA_H 218
static const int CELEBA_BOX[4] = {15, 40, 163, 188}; /* NVAE's CropCelebA64 */
static const char *const SPLITS[3] = {"train", "valid", "test"};
static const int64_t OFFICIAL[3] = {162770, 19867, 19962};

typedef struct celeba_ctx {
  resize_plan plan; /* 148x148 -> size x size, shared read-only by the threads */
  int size;
} celeba_ctx;

typedef struct celeba_scratch {
  image_decoder dec;
  image_rgb rgb;
  uint8_t *tmp;
} celeba_scratch;

static void *celeba_thread_init(void *vctx) {
  celeba_ctx *c = vctx;
  celeba_scratch *s = nvae_calloc(1, sizeof *s);
  image_decoder_init(&s->dec);
  s->tmp = nvae_malloc(resize_scratch_bytes(&c->plan));
  return s;
}

static void celeba_thread_free(void *vctx, void *vs) {
  (void)vctx;
  celeba_scratch *s = vs;
  image_decoder_free(&s->dec);
  image_rgb_free(&s->rgb);
  free(s->tmp);
  free(s);
}

static int celeba_load(void *vctx, void *vs, const prep_item *item, uint8_t *dst, nvae_err *e) {
  celeba_ctx *c = vctx;
  celeba_scratch *s = vs;
  int rc = image_load(&s->dec, item->path, &s->rgb, e);
  if (rc) return rc;
  if (s->rgb.width != CELEBA_W || s->rgb.height != CELEBA_H)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: %dx%d pixels, expected %dx%d (the aligned CelebA release)", item->path,
                     s->rgb.width, s->rgb.height, CELEBA_W, CELEBA_H);
  const uint8_t *crop = s->rgb.data + ((size_t)CELEBA_BOX[1] * CELEBA_W + CELEBA_BOX[0]) * 3;
  resize_apply(&c->plan, crop, (int64_t)CELEBA_W * 3, s->tmp, dst);
  return 0;
}

static void celeba_ctx_free(void *vctx) {
  celeba_ctx *c = vctx;
  if (!c) return;
  resize_plan_free(&c->plan);
  free(c);
}

/* First existing of root/<a> and root/<b>. */
static int find_path(const char *root, const char *a, const char *b, char *out) {
  if (!fs_join(out, FS_PATH_MAX, root, a) && fs_exists(out)) return 1;
  if (b && !fs_join(out, FS_PATH_MAX, root, b) && fs_exists(out)) return 1;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Parses one line of the partition file into name and split code. Returns 1 for a data line, 0
 * for a blank or header line, -1 for a malformed one. */
static int parse_line(char *line, int csv, int lineno, char **name, int *code) {
  size_t len = strlen(line);
  while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
    line[--len] = '\0';
  char *p = line;
  while (*p == ' ' || *p == '\t')
    p++;
  if (!*p) return 0;
  char *sep = csv ? strchr(p, ',') : strpbrk(p, " \t");
  if (!sep) return -1;
  *sep = '\0';
  char *field = sep + 1;
  while (*field == ' ' || *field == '\t')
    field++;
  if (lineno == 1 && !isdigit((unsigned char)field[0])) return 0; /* header row */
  if (!(field[0] >= '0' && field[0] <= '2') || field[1]) return -1;
  if (!p[0] || strchr(p, '/') || p[0] == '.') return -1;
  *name = p;
  *code = field[0] - '0';
  return 1;
}

/* 1-based CelebA file number from "000123.jpg", else 0. */
static int64_t file_number(const char *name) {
  char *end = NULL;
  long long v = strtoll(name, &end, 10);
  return end != name && end && !strcmp(end, ".jpg") && v > 0 && v < 0x7fffffff ? v : 0;
}

static int count_jpgs(const char *dir, int64_t *n, nvae_err *e) {
  DIR *d = opendir(dir);
  if (!d) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: cannot list the image directory", dir);
  struct dirent *de;
  *n = 0;
  while ((de = readdir(d)) != NULL) {
    size_t len = strlen(de->d_name);
    if (len > 4 && !strcmp(de->d_name + len - 4, ".jpg")) (*n)++;
  }
  closedir(d);
  return 0;
}

static int read_partition(prep_source *src, const char *part, const char *imgdir, nvae_err *e) {
  uint8_t *text = NULL;
  size_t cap = 0, len = 0;
  int rc = fs_read_file(part, &text, &cap, &len, e);
  if (rc) return rc;
  /* The CSV variant is recognised by its content (some mirrors keep the .txt name). */
  const char *nl = strchr((const char *)text, '\n');
  const char *comma = strchr((const char *)text, ',');
  int csv = comma && (!nl || comma < nl);
  int lineno = 0;
  char *save = NULL, path[FS_PATH_MAX];
  int64_t total = 0;
  char **names = NULL;
  for (char *line = (char *)text; line && !rc; line = save) {
    save = strchr(line, '\n');
    if (save) *save++ = '\0';
    lineno++;
    char *name = NULL;
    int code = 0;
    int kind = parse_line(line, csv, lineno, &name, &code);
    if (kind < 0) {
      rc = nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s:%d: malformed line (expected '<file>.jpg%s<0|1|2>'; 0/1/2 = "
                     "train/valid/test)",
                     part, lineno, csv ? "," : " ");
      break;
    }
    if (kind == 0) continue;
    if (fs_join(path, sizeof path, imgdir, name)) {
      rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s:%d: file name too long", part, lineno);
      break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
      rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: missing (listed at %s:%d)", path, part, lineno);
      break;
    }
    int64_t num = file_number(name);
    prep_split_add(&src->splits[code], path, num ? num : lineno);
    if ((total & (total - 1)) == 0)
      names = nvae_realloc(names, sizeof(char *) * (size_t)(total ? total * 2 : 16));
    names[total++] = src->splits[code].items[src->splits[code].n - 1].path;
  }
  if (!rc && total == 0) rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: lists no images", part);
  if (!rc) {
    qsort(names, (size_t)total, sizeof *names, cmp_str);
    for (int64_t i = 1; i < total && !rc; i++)
      if (!strcmp(names[i], names[i - 1]))
        rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: lists %s more than once", part, names[i]);
  }
  int64_t on_disk = 0;
  if (!rc) rc = count_jpgs(imgdir, &on_disk, e);
  if (!rc && on_disk != total)
    rc = nvae_errf(e, NVAE_EXIT_USAGE,
                   "%s: holds %lld .jpg files but %s lists %lld; counts must match (wrong "
                   "partition file or extra images?)",
                   imgdir, (long long)on_disk, part, (long long)total);
  if (!rc && total == OFFICIAL[0] + OFFICIAL[1] + OFFICIAL[2]) {
    for (int s = 0; s < 3 && !rc; s++)
      if (src->splits[s].n != OFFICIAL[s])
        rc = nvae_errf(e, NVAE_EXIT_USAGE,
                       "%s: split %s has %lld images, the official release has %lld "
                       "(162770/19867/19962)",
                       part, SPLITS[s], (long long)src->splits[s].n, (long long)OFFICIAL[s]);
  } else if (!rc) {
    src->note = "image count differs from the official release (202599); not the full CelebA";
  }
  free(names);
  free(text);
  return rc;
}

int prep_celeba_source(prep_source *src, const char *root, int size, nvae_err *e) {
  memset(src, 0, sizeof *src);
  if (size < 1 || size > 4096)
    return nvae_errf(e, NVAE_EXIT_USAGE, "--size %d out of range (1..4096)", size);
  if (!fs_is_dir(root)) return nvae_errf(e, NVAE_EXIT_USAGE, "%s: not a directory", root);
  char imgdir[FS_PATH_MAX], part[FS_PATH_MAX];
  if (!find_path(root, "img_align_celeba", "Img/img_align_celeba", imgdir) || !fs_is_dir(imgdir))
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: no img_align_celeba/ directory (unzip img_align_celeba.zip there)", root);
  if (!find_path(root, "list_eval_partition.txt", "Eval/list_eval_partition.txt", part) &&
      !find_path(root, "list_eval_partition.csv", NULL, part))
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: no list_eval_partition.txt (or .csv): the official split file is needed",
                     root);
  src->kind = "celeba";
  src->crop = "box";
  memcpy(src->crop_box, CELEBA_BOX, sizeof CELEBA_BOX);
  src->resize = "pil-bilinear-antialias";
  src->size = size;
  src->height = src->width = size;
  src->channels = 3;
  src->n_splits = 3;
  for (int s = 0; s < 3; s++)
    snprintf(src->splits[s].name, sizeof src->splits[s].name, "%s", SPLITS[s]);
  src->n_source_files = 2;
  src->source_files[0] = nvae_malloc(FS_PATH_MAX);
  src->source_files[1] = nvae_malloc(FS_PATH_MAX);
  snprintf(src->source_files[0], FS_PATH_MAX, "%s", imgdir);
  snprintf(src->source_files[1], FS_PATH_MAX, "%s", part);
  int rc = read_partition(src, part, imgdir, e);
  if (rc) {
    prep_source_free(src);
    return rc;
  }
  celeba_ctx *c = nvae_calloc(1, sizeof *c);
  c->size = size;
  resize_plan_init(&c->plan, CELEBA_BOX[2] - CELEBA_BOX[0], CELEBA_BOX[3] - CELEBA_BOX[1], size,
                   size, 3);
  src->ctx = c;
  src->ctx_free = celeba_ctx_free;
  src->thread_init = celeba_thread_init;
  src->thread_free = celeba_thread_free;
  src->load = celeba_load;
  return 0;
}
