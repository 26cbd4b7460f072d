/* The prefetching loader: see loader.h.
 *
 * Buffers move FREE -> (producer fills) -> READY -> (loader_next hands out) -> HELD -> FREE on the
 * following loader_next. The producer owns its own sampler; each buffer records the sampler state
 * after it, which becomes the consumer's state when the buffer is handed out. */
#include "dataset/loader.h"

#include "dataset/augment.h"
#include "dataset/dataset_split.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct lbuf {
  loader_batch b;
  sampler_state after; /* producer's sampler state once this batch was drawn */
  int end;             /* marker: the epoch is over (stop_at_epoch_end) */
  nvae_err err;        /* a read failed while filling */
} lbuf;

struct loader {
  loader_opts o;
  dataset_split ds;
  sampler prod; /* owned by the producer thread while it runs */
  int pad_h, pad_w, top, left;
  size_t out_bytes; /* one padded image */
  int nbuf;
  lbuf *bufs;
  int *free_q, nfree;               /* stack of free buffer ids */
  int *ready_q, ready_head, nready; /* FIFO of filled buffer ids */
  int held;                         /* buffer handed out, or -1 */
  int finished;                     /* producer stopped after an end marker or an error */
  nvae_err fail;
  sampler_state cstate; /* consumer state: where the next handed-out batch starts */
  uint8_t *staging;     /* one stored image, before flip/pad */
  sampler_slot *slots;
  pthread_t thread;
  int running, stop;
  pthread_mutex_t mu;
  pthread_cond_t cv_free, cv_ready;
};

void loader_opts_default(loader_opts *o) {
  memset(o, 0, sizeof *o);
  o->world_size = 1;
  o->batch_size = 16;
  o->shuffle = 1;
  o->drop_last = 1;
  o->pad_to = LOADER_PAD_AUTO;
  o->n_buffers = 3;
}

static void *lalloc(const loader *l, size_t bytes) {
  if (l->o.allocator.alloc) {
    void *p = l->o.allocator.alloc(bytes, l->o.allocator.user);
    if (!p) NVAE_FATAL("loader: the trainer's allocator failed for %zu bytes", bytes);
    return p;
  }
  return nvae_aligned_alloc(bytes);
}

static void lfree(const loader *l, void *p) {
  if (!p) return;
  if (l->o.allocator.free)
    l->o.allocator.free(p, l->o.allocator.user);
  else
    nvae_free(p);
}

/* Producer: draws the next slice from the sampler and reads, flips and pads its images. */
static int fill(loader *l, lbuf *buf) {
  loader_batch *b = &buf->b;
  sampler_state before = sampler_get_state(&l->prod);
  sampler_next(&l->prod, l->slots);
  sampler_state now = sampler_get_state(&l->prod);
  const int fast = !l->o.flip && l->pad_h == l->ds.height && l->pad_w == l->ds.width;
  b->epoch = now.epoch;
  /* sampler_next moved to a new epoch when the old one was done: the batch starts at 0 then */
  b->position = now.epoch != before.epoch ? 0 : (int64_t)before.position;
  b->n_valid = 0;
  for (int j = 0; j < b->n; j++) {
    const sampler_slot *s = &l->slots[j];
    b->index[j] = s->index;
    b->global_pos[j] = s->global_pos;
    b->valid[j] = (uint8_t)s->valid;
    b->n_valid += s->valid;
    b->flipped[j] = (uint8_t)(l->o.flip && augment_flip_draw(l->o.seed, now.epoch, s->index));
    uint8_t *dst = b->images + (size_t)j * l->out_bytes;
    int rc = dataset_split_read(&l->ds, s->index, fast ? dst : l->staging, &buf->err);
    if (rc) return rc;
    if (!fast)
      augment_place(l->staging, l->ds.height, l->ds.width, l->ds.channels, b->flipped[j], dst,
                    l->pad_h, l->pad_w, l->top, l->left);
  }
  return 0;
}

static void *producer(void *arg) {
  loader *l = arg;
  for (;;) {
    pthread_mutex_lock(&l->mu);
    while (!l->stop && l->nfree == 0)
      pthread_cond_wait(&l->cv_free, &l->mu);
    if (l->stop) {
      pthread_mutex_unlock(&l->mu);
      break;
    }
    int id = l->free_q[--l->nfree];
    pthread_mutex_unlock(&l->mu);

    lbuf *buf = &l->bufs[id];
    nvae_err_clear(&buf->err);
    buf->end = l->o.stop_at_epoch_end && sampler_epoch_done(&l->prod);
    int rc = buf->end ? 0 : fill(l, buf);
    buf->after = sampler_get_state(&l->prod);

    pthread_mutex_lock(&l->mu);
    l->ready_q[(l->ready_head + l->nready) % l->nbuf] = id;
    l->nready++;
    pthread_cond_signal(&l->cv_ready);
    pthread_mutex_unlock(&l->mu);
    if (buf->end || rc) break; /* the consumer learns it from this buffer */
  }
  return NULL;
}

static void stop_producer(loader *l) {
  if (!l->running) return;
  pthread_mutex_lock(&l->mu);
  l->stop = 1;
  pthread_cond_broadcast(&l->cv_free);
  pthread_mutex_unlock(&l->mu);
  pthread_join(l->thread, NULL);
  l->running = 0;
  l->stop = 0;
}

/* Every buffer free, the producer's sampler at st, the thread started. */
static int restart(loader *l, sampler_state st, nvae_err *e) {
  stop_producer(l);
  int rc = sampler_set_state(&l->prod, st, e);
  if (rc) return rc;
  l->nfree = l->nbuf;
  for (int i = 0; i < l->nbuf; i++)
    l->free_q[i] = i;
  l->nready = l->ready_head = 0;
  l->held = -1;
  l->finished = 0;
  nvae_err_clear(&l->fail);
  l->cstate = st;
  if (pthread_create(&l->thread, NULL, producer, l) != 0)
    NVAE_FATAL("loader: cannot start the prefetch thread");
  l->running = 1;
  return 0;
}

static int check_opts(const loader_opts *o, nvae_err *e) {
  if (!o->path || !o->split)
    return nvae_errf(e, NVAE_EXIT_USAGE, "loader: dataset path and split are required");
  if (o->n_buffers < 2)
    return nvae_errf(e, NVAE_EXIT_USAGE, "loader: n_buffers is %d, expected >= 2", o->n_buffers);
  if ((o->allocator.alloc == NULL) != (o->allocator.free == NULL))
    return nvae_errf(e, NVAE_EXIT_USAGE, "loader: allocator needs both alloc and free");
  return 0;
}

int loader_open(loader **out, const loader_opts *o, nvae_err *e) {
  *out = NULL;
  int rc = check_opts(o, e);
  if (rc) return rc;
  loader *l = nvae_calloc(1, sizeof *l);
  l->o = *o;
  dataset_split_opts dso = {o->verify_checksums, o->in_memory};
  if ((rc = dataset_split_open(&l->ds, o->path, o->split, &dso, e))) {
    free(l);
    return rc;
  }
  nvae_err se;
  nvae_err_clear(&se);
  if ((rc = sampler_init(&l->prod, l->ds.n, o->rank, o->world_size, o->batch_size, o->seed,
                         o->shuffle, o->drop_last, &se))) {
    nvae_errf(e, rc, "%s: dataset '%s' split %s: %s", o->path, l->ds.info.name, o->split, se.msg);
    dataset_split_close(&l->ds);
    free(l);
    return rc;
  }
  int h = l->ds.height, w = l->ds.width;
  int pad = o->pad_to == LOADER_PAD_AUTO ? (h == 28 && w == 28 ? 32 : 0) : o->pad_to;
  if (pad < 0 || (pad > 0 && (pad < h || pad < w))) {
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: pad_to %d is smaller than the images (%dx%d)", o->path,
                   o->pad_to, h, w);
    loader_close(l);
    return rc;
  }
  l->pad_h = pad ? pad : h;
  l->pad_w = pad ? pad : w;
  l->top = (l->pad_h - h) / 2;
  l->left = (l->pad_w - w) / 2;
  l->out_bytes = (size_t)l->pad_h * l->pad_w * l->ds.channels;
  l->staging = nvae_aligned_alloc(l->ds.image_bytes);
  l->slots = nvae_malloc(sizeof(sampler_slot) * (size_t)o->batch_size);
  l->nbuf = o->n_buffers;
  l->bufs = nvae_calloc((size_t)l->nbuf, sizeof *l->bufs);
  l->free_q = nvae_malloc(sizeof(int) * (size_t)l->nbuf);
  l->ready_q = nvae_malloc(sizeof(int) * (size_t)l->nbuf);
  const int n = o->batch_size;
  for (int i = 0; i < l->nbuf; i++) {
    loader_batch *b = &l->bufs[i].b;
    b->images = lalloc(l, l->out_bytes * (size_t)n);
    b->index = nvae_malloc(sizeof(int64_t) * (size_t)n);
    b->global_pos = nvae_malloc(sizeof(int64_t) * (size_t)n);
    b->valid = nvae_malloc((size_t)n);
    b->flipped = nvae_malloc((size_t)n);
    b->n = n;
    b->height = l->pad_h;
    b->width = l->pad_w;
    b->channels = l->ds.channels;
    b->src_height = h;
    b->src_width = w;
    b->pad_top = l->top;
    b->pad_left = l->left;
    b->global_offset = (int64_t)o->rank * n;
  }
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv_free, NULL);
  pthread_cond_init(&l->cv_ready, NULL);
  l->held = -1;
  if ((rc = restart(l, o->start, &se))) {
    nvae_errf(e, rc, "%s: dataset '%s' split %s: %s", o->path, l->ds.info.name, o->split, se.msg);
    loader_close(l);
    return rc;
  }
  *out = l;
  return 0;
}

const loader_batch *loader_next(loader *l, nvae_err *e) {
  nvae_err_clear(e);
  pthread_mutex_lock(&l->mu);
  if (l->held >= 0) {
    l->free_q[l->nfree++] = l->held;
    l->held = -1;
    pthread_cond_signal(&l->cv_free);
  }
  if (l->finished) {
    if (e && l->fail.code) *e = l->fail;
    pthread_mutex_unlock(&l->mu);
    return NULL;
  }
  while (l->nready == 0)
    pthread_cond_wait(&l->cv_ready, &l->mu);
  int id = l->ready_q[l->ready_head];
  l->ready_head = (l->ready_head + 1) % l->nbuf;
  l->nready--;
  lbuf *buf = &l->bufs[id];
  if (buf->end || buf->err.code) {
    l->finished = 1;
    l->fail = buf->err;
    if (e && buf->err.code) *e = buf->err;
    l->free_q[l->nfree++] = id;
    pthread_mutex_unlock(&l->mu);
    return NULL;
  }
  l->held = id;
  l->cstate = buf->after;
  pthread_mutex_unlock(&l->mu);
  return &buf->b;
}

sampler_state loader_get_state(const loader *l) { return l->cstate; }

int loader_set_state(loader *l, sampler_state st, nvae_err *e) { return restart(l, st, e); }

loader_info loader_get_info(const loader *l) {
  loader_info i = {l->ds.info.name, l->ds.n,  l->ds.height, l->ds.width,
                   l->ds.channels,  l->pad_h, l->pad_w,     sampler_batches_per_epoch(&l->prod)};
  return i;
}

void loader_close(loader *l) {
  if (!l) return;
  stop_producer(l);
  if (l->bufs) {
    for (int i = 0; i < l->nbuf; i++) {
      loader_batch *b = &l->bufs[i].b;
      lfree(l, b->images);
      free(b->index);
      free(b->global_pos);
      free(b->valid);
      free(b->flipped);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv_free);
    pthread_cond_destroy(&l->cv_ready);
  }
  free(l->bufs);
  free(l->free_q);
  free(l->ready_q);
  free(l->slots);
  nvae_free(l->staging);
  sampler_free(&l->prod);
  dataset_split_close(&l->ds);
  free(l);
}
