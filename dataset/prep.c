/* nvae-prep's driver: see prep.h. */
#define _POSIX_C_SOURCE 200809L
#include "dataset/prep.h"

#include "dataset/dataset_yaml.h"
#include "dataset/fsutil.h"
#include "dataset/progress.h"
#include "dataset/sha256.h"
#include "dataset/shard.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREP_SHARD_BYTES ((int64_t)256 << 20) /* default shard size: ~8 shards for CelebA-64 */
#define PREP_MAX_WARNINGS 10                  /* bad images listed one by one, then counted */

void prep_split_add(prep_split *s, const char *path, int64_t source_index) {
  /* grow by doubling: capacity is the next power of two >= n */
  if ((s->n & (s->n - 1)) == 0) {
    size_t cap = s->n ? (size_t)s->n * 2 : 16;
    s->items = nvae_realloc(s->items, cap * sizeof *s->items);
  }
  prep_item *it = &s->items[s->n++];
  it->path = NULL;
  if (path) {
    it->path = nvae_malloc(strlen(path) + 1);
    memcpy(it->path, path, strlen(path) + 1);
  }
  it->source_index = source_index;
  it->source_file = 0;
}

void prep_source_free(prep_source *src) {
  for (int s = 0; s < src->n_splits; s++) {
    for (int64_t i = 0; i < src->splits[s].n; i++)
      free(src->splits[s].items[i].path);
    free(src->splits[s].items);
  }
  for (int i = 0; i < src->n_source_files; i++)
    free(src->source_files[i]);
  if (src->ctx_free) src->ctx_free(src->ctx);
  memset(src, 0, sizeof *src);
}

/* ---------------------------------------------------------------------------------------------
 * Parallel decoding of one shard's items: every thread (the caller too) takes the next item;
 * thread 0 also draws the progress and prints the warnings the others queued. */

typedef struct decode_job {
  const prep_source *src;
  const prep_opts *o;
  const prep_item *items;
  int64_t n;
  uint8_t *out; /* [n, H, W, C] */
  uint8_t *ok;  /* [n] */
  size_t image_bytes;
  void **scratch; /* [threads] */
  progress *prog;
  atomic_llong next;
  atomic_llong *done; /* images finished in the whole run */
  atomic_int abort;
  pthread_mutex_t mu;
  nvae_err fatal;  /* first fatal error (strict mode, I/O, interrupt) */
  int64_t nbad;    /* bad images in this shard */
  int64_t *warned; /* warnings queued so far in the whole run */
  char queued[PREP_MAX_WARNINGS][NVAE_ERR_MSG_LEN];
  int nqueued;
} decode_job;

typedef struct worker_arg {
  decode_job *job;
  int t;
} worker_arg;

static void print_queued(decode_job *j) {
  pthread_mutex_lock(&j->mu);
  if (j->nqueued) progress_clear_line(j->prog);
  for (int i = 0; i < j->nqueued; i++)
    fprintf(stderr, "nvae-prep: warning: skipping %s\n", j->queued[i]);
  j->nqueued = 0;
  pthread_mutex_unlock(&j->mu);
}

static void bad_image(decode_job *j, const nvae_err *err, int rc) {
  pthread_mutex_lock(&j->mu);
  if (j->o->strict || rc != NVAE_EXIT_USAGE) {
    if (!j->fatal.code) j->fatal = *err;
    atomic_store(&j->abort, 1);
  } else {
    j->nbad++;
    if (*j->warned < PREP_MAX_WARNINGS && j->nqueued < PREP_MAX_WARNINGS)
      snprintf(j->queued[j->nqueued++], NVAE_ERR_MSG_LEN, "%s", err->msg);
    (*j->warned)++;
  }
  pthread_mutex_unlock(&j->mu);
}

static void *decode_worker(void *arg) {
  worker_arg *w = arg;
  decode_job *j = w->job;
  for (;;) {
    if (atomic_load(&j->abort)) break;
    if (j->o->interrupted && *j->o->interrupted) {
      pthread_mutex_lock(&j->mu);
      if (!j->fatal.code) nvae_errf(&j->fatal, NVAE_EXIT_RUNTIME, "interrupted by a signal");
      pthread_mutex_unlock(&j->mu);
      atomic_store(&j->abort, 1);
      break;
    }
    int64_t i = atomic_fetch_add(&j->next, 1);
    if (i >= j->n) break;
    nvae_err err;
    nvae_err_clear(&err);
    int rc = j->src->load(j->src->ctx, j->scratch[w->t], &j->items[i],
                          j->out + (size_t)i * j->image_bytes, &err);
    j->ok[i] = rc == 0;
    if (rc) bad_image(j, &err, rc);
    long long done = atomic_fetch_add(j->done, 1) + 1;
    if (w->t == 0) {
      print_queued(j);
      progress_update(j->prog, done);
    }
  }
  return NULL;
}

static int decode_parallel(decode_job *j, int threads) {
  pthread_t *tid = nvae_malloc(sizeof(pthread_t) * (size_t)threads);
  worker_arg *args = nvae_malloc(sizeof(worker_arg) * (size_t)threads);
  int started = 1;
  for (int t = 0; t < threads; t++)
    args[t] = (worker_arg){j, t};
  for (int t = 1; t < threads; t++, started++)
    if (pthread_create(&tid[t], NULL, decode_worker, &args[t]) != 0) break;
  decode_worker(&args[0]);
  for (int t = 1; t < started; t++)
    pthread_join(tid[t], NULL);
  print_queued(j);
  free(tid);
  free(args);
  return j->fatal.code;
}

/* ---------------------------------------------------------------------------------------------
 * Hashing the finished shards, one shard per thread. */

typedef struct hash_job {
  char (*paths)[FS_PATH_MAX];
  char (*hex)[65];
  int n;
  atomic_int next;
  atomic_int failed;
  nvae_err err;
  pthread_mutex_t mu;
} hash_job;

static void *hash_worker(void *arg) {
  hash_job *h = arg;
  for (;;) {
    int i = atomic_fetch_add(&h->next, 1);
    if (i >= h->n) break;
    nvae_err e;
    if (sha256_file(h->paths[i], h->hex[i], &e)) {
      pthread_mutex_lock(&h->mu);
      if (!atomic_exchange(&h->failed, 1)) h->err = e;
      pthread_mutex_unlock(&h->mu);
    }
  }
  return NULL;
}

static int hash_parallel(hash_job *h, int threads, nvae_err *e) {
  pthread_t tid[64];
  if (threads > 64) threads = 64;
  pthread_mutex_init(&h->mu, NULL);
  int started = 0;
  for (int t = 1; t < threads; t++, started++)
    if (pthread_create(&tid[t - 1], NULL, hash_worker, h) != 0) break;
  hash_worker(h);
  for (int t = 0; t < started; t++)
    pthread_join(tid[t], NULL);
  pthread_mutex_destroy(&h->mu);
  if (atomic_load(&h->failed)) {
    *e = h->err;
    e->code = NVAE_EXIT_RUNTIME;
    return e->code;
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The run. */

static int mkdir_p(const char *dir, nvae_err *e) {
  char buf[FS_PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: path too long", dir);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return nvae_errf(e, NVAE_EXIT_USAGE, "%s: cannot create directory: %s", buf,
                         strerror(errno));
      *p = c;
      if (!c) break;
    }
  }
  return 0;
}

/* The dataset name from the output directory's base name, or checks the one given. */
static int dataset_name(const prep_opts *o, char *name, size_t n, nvae_err *e) {
  if (o->name) {
    snprintf(name, n, "%s", o->name);
  } else {
    char buf[FS_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", o->out);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/')
      buf[--len] = '\0';
    const char *base = strrchr(buf, '/');
    snprintf(name, n, "%s", base ? base + 1 : buf);
  }
  int ok = name[0] && name[0] != '.' && strlen(name) <= 100;
  for (const char *p = name; *p; p++)
    ok &= (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '-' || *p == '_' || *p == '.';
  if (!ok)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "dataset name '%s' must be 1-100 characters of [A-Za-z0-9._-], not starting "
                     "with '.' (set one with --name)",
                     name);
  return 0;
}

static void shard_file_name(char *out, size_t n, const char *name, const char *split, int k,
                            int count) {
  snprintf(out, n, "%s-%s-%05d-of-%05d.h5", name, split, k, count);
}

static void human_bytes(double b, char *out, size_t n) {
  const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    u++;
  }
  snprintf(out, n, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

typedef struct run_state {
  const prep_source *src;
  const prep_opts *o;
  char tmp[FS_PATH_MAX];
  char name[128];
  int threads;
  void **scratch;
  dataset_info info;
  progress prog;
  atomic_llong done;
  int64_t warned, skipped_total;
  int64_t bytes[DATASET_MAX_SPLITS];
} run_state;

/* Decodes and writes one split's shards into the temporary directory. */
static int write_split(run_state *r, int s, nvae_err *e) {
  const prep_source *src = r->src;
  const prep_split *sp = &src->splits[s];
  dataset_split_info *out = &r->info.splits[r->info.n_splits++];
  snprintf(out->name, sizeof out->name, "%s", sp->name);
  if (sp->n == 0) return 0;
  const size_t image_bytes = (size_t)src->height * src->width * src->channels;
  int64_t ips =
      r->o->images_per_shard > 0 ? r->o->images_per_shard : PREP_SHARD_BYTES / (int64_t)image_bytes;
  if (ips < 1) ips = 1;
  int64_t planned = r->o->shards > 0 ? r->o->shards : (sp->n + ips - 1) / ips;
  if (planned > sp->n) planned = sp->n;
  if (planned > 99999)
    return nvae_errf(e, NVAE_EXIT_USAGE, "more than 99999 shards for split %s", sp->name);
  const int nsh = (int)planned;
  const int64_t max_count = (sp->n + nsh - 1) / nsh;
  uint8_t *images = nvae_aligned_alloc(image_bytes * (size_t)max_count);
  uint8_t *ok = nvae_malloc((size_t)max_count);
  int32_t *index = nvae_malloc(sizeof(int32_t) * (size_t)max_count);
  int *written_as = nvae_malloc(sizeof(int) * (size_t)nsh); /* planned number of each written */
  int written = 0, rc = 0;
  char file[256], path[FS_PATH_MAX];
  for (int k = 0; k < nsh && !rc; k++) {
    /* balanced: shard k holds items [k n / nsh, (k + 1) n / nsh) */
    int64_t first = (int64_t)k * sp->n / nsh, last = (int64_t)(k + 1) * sp->n / nsh;
    decode_job j = {.src = src,
                    .o = r->o,
                    .items = sp->items + first,
                    .n = last - first,
                    .out = images,
                    .ok = ok,
                    .image_bytes = image_bytes,
                    .scratch = r->scratch,
                    .prog = &r->prog,
                    .done = &r->done,
                    .warned = &r->warned};
    atomic_init(&j.next, 0);
    atomic_init(&j.abort, 0);
    pthread_mutex_init(&j.mu, NULL);
    rc = decode_parallel(&j, r->threads);
    pthread_mutex_destroy(&j.mu);
    if (rc) {
      progress_clear_line(&r->prog);
      *e = j.fatal;
      break;
    }
    /* keep the good images, in source order */
    int64_t good = 0;
    for (int64_t i = 0; i < j.n; i++) {
      if (!ok[i]) continue;
      if (good != i) memcpy(images + good * image_bytes, images + i * image_bytes, image_bytes);
      index[good++] = (int32_t)sp->items[first + i].source_index;
    }
    out->skipped += j.n - good;
    if (good == 0) continue; /* no empty shards: renumbered below */
    shard_file_name(file, sizeof file, r->name, sp->name, k, nsh);
    if (fs_join(path, sizeof path, r->tmp, file)) {
      rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: path too long", r->tmp);
      break;
    }
    shard_meta m = {r->name,     sp->name,   src->kind,     src->crop, {0}, src->resize,
                    src->height, src->width, src->channels, k,         nsh};
    memcpy(m.crop_box, src->crop_box, sizeof m.crop_box);
    if ((rc = shard_write(path, &m, images, index, good, e))) break;
    out->shards = nvae_realloc(out->shards, sizeof *out->shards * (size_t)(written + 1));
    dataset_shard_entry *ent = &out->shards[written];
    memset(ent, 0, sizeof *ent);
    snprintf(ent->file, sizeof ent->file, "%s", file);
    ent->count = good;
    out->count += good;
    written_as[written++] = k;
  }
  out->n_shards = written;
  /* Shards that ended up empty leave gaps: close them so names and attributes say k of n. */
  for (int i = 0; !rc && written != nsh && i < written; i++) {
    char from[FS_PATH_MAX], to[FS_PATH_MAX];
    shard_file_name(file, sizeof file, r->name, sp->name, written_as[i], nsh);
    fs_join(from, sizeof from, r->tmp, file);
    shard_file_name(file, sizeof file, r->name, sp->name, i, written);
    fs_join(to, sizeof to, r->tmp, file);
    if (rename(from, to) != 0)
      rc = nvae_errf(e, NVAE_EXIT_RUNTIME, "rename %s -> %s: %s", from, to, strerror(errno));
    else
      rc = shard_set_numbering(to, i, written, e);
    snprintf(out->shards[i].file, sizeof out->shards[i].file, "%s", file);
  }
  if (!rc && out->count == 0)
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "split %s: none of its %lld source images could be read",
                   sp->name, (long long)sp->n);
  r->skipped_total += out->skipped;
  nvae_free(images);
  free(ok);
  free(index);
  free(written_as);
  return rc;
}

/* Hashes every shard, fsyncs everything, writes dataset.yaml and publishes the directory. */
static int finish(run_state *r, nvae_err *e) {
  int n = 0;
  for (int s = 0; s < r->info.n_splits; s++)
    n += r->info.splits[s].n_shards;
  hash_job h = {.n = n};
  h.paths = nvae_malloc(sizeof *h.paths * (size_t)(n ? n : 1));
  h.hex = nvae_malloc(sizeof *h.hex * (size_t)(n ? n : 1));
  atomic_init(&h.next, 0);
  atomic_init(&h.failed, 0);
  int i = 0;
  for (int s = 0; s < r->info.n_splits; s++)
    for (int k = 0; k < r->info.splits[s].n_shards; k++)
      fs_join(h.paths[i++], FS_PATH_MAX, r->tmp, r->info.splits[s].shards[k].file);
  int rc = hash_parallel(&h, r->threads, e);
  i = 0;
  for (int s = 0; !rc && s < r->info.n_splits; s++) {
    r->bytes[s] = 0;
    for (int k = 0; !rc && k < r->info.splits[s].n_shards; k++, i++) {
      memcpy(r->info.splits[s].shards[k].sha256, h.hex[i], 65);
      int64_t size = 0;
      rc = fs_file_size(h.paths[i], &size, e);
      r->bytes[s] += size;
      if (!rc) rc = fs_fsync_path(h.paths[i], e);
    }
  }
  free(h.paths);
  free(h.hex);
  if (rc) return rc;
  char path[FS_PATH_MAX], parent[FS_PATH_MAX];
  fs_join(path, sizeof path, r->tmp, DATASET_YAML_NAME);
  if ((rc = dataset_yaml_write(path, &r->info, e))) return rc;
  if ((rc = fs_fsync_path(path, e))) return rc;
  if ((rc = fs_fsync_path(r->tmp, e))) return rc;
  if ((rc = fs_rename_noreplace(r->tmp, r->o->out, e))) return rc;
  fs_parent_dir(r->o->out, parent, sizeof parent);
  return fs_fsync_path(parent, e);
}

static void summary(const run_state *r, double seconds) {
  const prep_source *src = r->src;
  int64_t total = 0;
  for (int s = 0; s < r->info.n_splits; s++)
    total += r->info.splits[s].count;
  printf("nvae-prep: wrote %s: dataset '%s', %d x %d x %d uint8 (HxWxC), %lld images in %.1f s "
         "(%.0f images/s, %d thread%s)\n",
         r->o->out, r->name, src->height, src->width, src->channels, (long long)total, seconds,
         seconds > 0 ? (double)total / seconds : 0.0, r->threads, r->threads == 1 ? "" : "s");
  printf("  %-6s %10s %7s %12s %8s\n", "split", "images", "shards", "bytes", "skipped");
  for (int s = 0; s < r->info.n_splits; s++) {
    const dataset_split_info *sp = &r->info.splits[s];
    char b[32];
    human_bytes((double)r->bytes[s], b, sizeof b);
    printf("  %-6s %10lld %7d %12s %8lld\n", sp->name, (long long)sp->count, sp->n_shards, b,
           (long long)sp->skipped);
  }
  if (src->note) printf("  note: %s\n", src->note);
  if (r->skipped_total)
    fprintf(stderr,
            "nvae-prep: warning: skipped %lld unreadable image%s (the first %d are listed above); "
            "--strict makes this an error\n",
            (long long)r->skipped_total, r->skipped_total == 1 ? "" : "s", PREP_MAX_WARNINGS);
  fflush(stdout);
}

static int online_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (int)n;
}

int prep_run(const prep_source *src, const prep_opts *given, nvae_err *e) {
  double t0 = progress_now();
  /* "data/x/" names data/x: without the slash, so the temporary directory is data/x.tmp-PID */
  prep_opts norm = *given;
  char out[FS_PATH_MAX];
  if (snprintf(out, sizeof out, "%s", given->out) >= (int)sizeof out)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: path too long", given->out);
  for (size_t len = strlen(out); len > 1 && out[len - 1] == '/';)
    out[--len] = '\0';
  norm.out = out;
  const prep_opts *o = &norm;
  if (fs_exists(o->out))
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: already exists; nvae-prep never overwrites (choose another --out or "
                     "remove it)",
                     o->out);
  run_state *r = nvae_calloc(1, sizeof *r);
  r->src = src;
  r->o = o;
  int rc = dataset_name(o, r->name, sizeof r->name, e);
  char parent[FS_PATH_MAX];
  fs_parent_dir(o->out, parent, sizeof parent);
  if (!rc) rc = mkdir_p(parent, e);
  if (!rc &&
      snprintf(r->tmp, sizeof r->tmp, "%s.tmp-%ld", o->out, (long)getpid()) >= (int)sizeof r->tmp)
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: path too long", o->out);
  if (!rc && mkdir(r->tmp, 0755) != 0) {
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: cannot create: %s", r->tmp, strerror(errno));
    r->tmp[0] = '\0'; /* not ours: do not remove it */
  }
  if (rc) {
    free(r);
    return rc;
  }
  r->threads = o->threads > 0 ? o->threads : online_cores();
  r->scratch = nvae_calloc((size_t)r->threads, sizeof(void *));
  for (int t = 0; t < r->threads; t++)
    r->scratch[t] = src->thread_init ? src->thread_init(src->ctx) : NULL;
  dataset_info *d = &r->info;
  d->format_version = DATASET_FORMAT_VERSION;
  snprintf(d->name, sizeof d->name, "%s", r->name);
  snprintf(d->created_by, sizeof d->created_by, "nvae-prep %s", NVAE_VERSION_STRING);
  snprintf(d->source_kind, sizeof d->source_kind, "%s", src->kind);
  d->n_source_files = src->n_source_files;
  for (int i = 0; i < src->n_source_files; i++)
    snprintf(d->source_files[i], sizeof d->source_files[i], "%s", src->source_files[i]);
  snprintf(d->crop, sizeof d->crop, "%s", src->crop);
  memcpy(d->crop_box, src->crop_box, sizeof d->crop_box);
  snprintf(d->resize, sizeof d->resize, "%s", src->resize);
  d->size = src->size;
  d->height = src->height;
  d->width = src->width;
  d->channels = src->channels;
  int64_t total = 0;
  for (int s = 0; s < src->n_splits; s++)
    total += src->splits[s].n;
  atomic_init(&r->done, 0);
  progress_start(&r->prog, stderr, total);
  for (int s = 0; !rc && s < src->n_splits; s++)
    rc = write_split(r, s, e);
  if (!rc) progress_finish(&r->prog, atomic_load(&r->done));
  if (!rc) rc = finish(r, e);
  if (!rc) summary(r, progress_now() - t0);
  if (rc) fs_remove_flat_dir(r->tmp); /* never leave a half-written dataset behind */
  for (int t = 0; t < r->threads; t++)
    if (src->thread_free) src->thread_free(src->ctx, r->scratch[t]);
  free(r->scratch);
  dataset_info_free(&r->info);
  free(r);
  return rc;
}
