/* The loader on small synthetic datasets: batches hold the images the sampler names, padded
 * (28x28 -> 32x32 by default) and flipped as keyed; flips and content are the same for W = 1, 2, 4
 * at a fixed global batch; a restored state continues with exactly the same batches; evaluation
 * pads with invalid entries and stops at the end of the epoch; in-memory reading equals pread;
 * the trainer's allocator is used for the image buffers. */
#include "dataset/augment.h"
#include "dataset/loader.h"
#include "tests/dataset/dataset_testutil.h"
#include "tests/test_util.h"

#include <stdlib.h>
#include <string.h>

static int allocs, frees;
static void *count_alloc(size_t bytes, void *user) {
  (*(int *)user)++;
  allocs++;
  return malloc(bytes);
}
static void count_free(void *p, void *user) {
  (void)user;
  frees++;
  free(p);
}

/* The expected padded/flipped image of sample `index` of split 0. */
static void expected_image(uint8_t *out, int h, int w, int c, int ph, int pw, int64_t index,
                           int flip) {
  uint8_t src[64 * 64 * 3];
  dt_pattern(src, (size_t)h * w * c, 0, index);
  augment_place(src, h, w, c, flip, out, ph, pw, (ph - h) / 2, (pw - w) / 2);
}

static loader *open_or_fail(loader_opts *o) {
  loader *l = NULL;
  nvae_err e;
  if (loader_open(&l, o, &e)) {
    CHECK(0, "loader_open: %s", e.msg);
    return NULL;
  }
  return l;
}

/* Every batch of one epoch matches the sampler and the pattern. */
static void check_epoch_content(const char *dir) {
  loader_opts o;
  loader_opts_default(&o);
  o.path = dir;
  o.split = "train";
  o.batch_size = 4;
  o.seed = 11;
  loader *l = open_or_fail(&o);
  if (!l) return;
  loader_info info = loader_get_info(l);
  CHECK(info.height == 32 && info.width == 32 && info.src_height == 28 && info.channels == 1,
        "28x28 pads to 32x32 by default: %dx%d", info.height, info.width);
  CHECK(info.n == 103 && info.batches_per_epoch == 25, "n %lld, batches %lld", (long long)info.n,
        (long long)info.batches_per_epoch);
  int64_t perm[103];
  sampler_permutation(11, 0, 103, perm);
  uint8_t want[32 * 32];
  nvae_err e;
  for (int64_t k = 0; k < info.batches_per_epoch; k++) {
    const loader_batch *b = loader_next(l, &e);
    CHECK(b != NULL, "batch %lld: %s", (long long)k, e.msg);
    if (!b) break;
    CHECK(b->epoch == 0 && b->position == k * 4 && b->n == 4 && b->n_valid == 4 &&
              b->pad_top == 2 && b->pad_left == 2,
          "batch %lld header", (long long)k);
    for (int j = 0; j < 4; j++) {
      CHECK(b->index[j] == perm[k * 4 + j] && b->global_pos[j] == k * 4 + j && b->valid[j],
            "batch %lld slot %d: index %lld, expected %lld", (long long)k, j,
            (long long)b->index[j], (long long)perm[k * 4 + j]);
      expected_image(want, 28, 28, 1, 32, 32, b->index[j], 0);
      CHECK(!memcmp(b->images + (size_t)j * 32 * 32, want, sizeof want),
            "batch %lld slot %d: image content", (long long)k, j);
    }
  }
  const loader_batch *b = loader_next(l, &e);
  CHECK(b && b->epoch == 1 && b->position == 0, "the next epoch follows");
  loader_close(l);
}

/* The same global batches for W = 1, 2, 4 at global batch 8, flips included. */
static void check_world_sizes(const char *dir) {
  enum { G = 8, STEPS = 30, BYTES = 6 * 8 * 3 };
  static uint8_t imgs[3][STEPS * G][BYTES];
  static int64_t idx[3][STEPS * G];
  const int worlds[3] = {1, 2, 4};
  nvae_err e;
  for (int wi = 0; wi < 3; wi++) {
    int W = worlds[wi];
    loader *l[4];
    for (int r = 0; r < W; r++) {
      loader_opts o;
      loader_opts_default(&o);
      o.path = dir;
      o.split = "train";
      o.rank = r;
      o.world_size = W;
      o.batch_size = G / W;
      o.seed = 5;
      o.flip = 1;
      l[r] = open_or_fail(&o);
      if (!l[r]) return;
    }
    for (int k = 0; k < STEPS; k++)
      for (int r = 0; r < W; r++) {
        const loader_batch *b = loader_next(l[r], &e);
        CHECK(b != NULL, "W=%d rank %d step %d: %s", W, r, k, e.msg);
        if (!b) return;
        CHECK(b->global_offset == r * (G / W), "global_offset");
        for (int j = 0; j < b->n; j++) {
          int64_t slot = k * G + r * (G / W) + j;
          memcpy(imgs[wi][slot], b->images + (size_t)j * BYTES, BYTES);
          idx[wi][slot] = b->index[j];
          uint8_t want[BYTES];
          int flip = augment_flip_draw(5, b->epoch, b->index[j]);
          CHECK(b->flipped[j] == flip, "flip flag");
          expected_image(want, 6, 8, 3, 6, 8, b->index[j], flip);
          CHECK(!memcmp(want, imgs[wi][slot], BYTES), "W=%d: image of sample %lld (flip %d)", W,
                (long long)b->index[j], flip);
        }
      }
    for (int r = 0; r < W; r++)
      loader_close(l[r]);
  }
  int flipped = 0;
  for (int s = 0; s < STEPS * G; s++) {
    CHECK(idx[1][s] == idx[0][s] && idx[2][s] == idx[0][s], "slot %d: same sample for every W", s);
    CHECK(!memcmp(imgs[1][s], imgs[0][s], BYTES) && !memcmp(imgs[2][s], imgs[0][s], BYTES),
          "slot %d: same image (and flip) for every W", s);
    flipped += augment_flip_draw(5, s >= 12 * G ? 1 : 0, idx[0][s]);
  }
  CHECK(flipped > 0 && flipped < STEPS * G, "some but not all images flipped (%d)", flipped);
}

/* Stop after k batches, save, reopen from the state (and also jump in place): same batches. */
static void check_resume(const char *dir) {
  loader_opts o;
  loader_opts_default(&o);
  o.path = dir;
  o.split = "train";
  o.batch_size = 5;
  o.seed = 3;
  o.flip = 1;
  o.n_buffers = 2;
  loader *a = open_or_fail(&o);
  if (!a) return;
  nvae_err e;
  for (int k = 0; k < 17; k++)
    loader_next(a, &e); /* into the second epoch (20 per epoch) */
  sampler_state st = loader_get_state(a);
  CHECK(st.epoch == 0 && st.position == 85, "state after 17 batches: (%llu, %llu)",
        (unsigned long long)st.epoch, (unsigned long long)st.position);
  o.start = st;
  loader *b = open_or_fail(&o);
  if (!b) return;
  enum { BYTES = 32 * 32 };
  for (int k = 0; k < 30; k++) {
    const loader_batch *x = loader_next(a, &e), *y = loader_next(b, &e);
    CHECK(x && y, "batches after resume");
    if (!x || !y) break;
    CHECK(x->epoch == y->epoch && x->position == y->position &&
              !memcmp(x->index, y->index, 5 * sizeof(int64_t)) &&
              !memcmp(x->images, y->images, 5 * BYTES),
          "resumed batch %d differs", k);
  }
  /* jump back in place */
  CHECK(loader_set_state(a, st, &e) == 0, "set_state: %s", e.msg);
  loader_close(b);
  o.start = st;
  b = open_or_fail(&o);
  for (int k = 0; k < 5 && b; k++) {
    const loader_batch *x = loader_next(a, &e), *y = loader_next(b, &e);
    CHECK(x && y && !memcmp(x->images, y->images, 5 * BYTES), "after set_state, batch %d", k);
  }
  loader_close(a);
  loader_close(b);
}

/* Evaluation: no shuffle, padding flagged invalid, NULL at the end, restart with set_state. */
static void check_eval(const char *dir) {
  nvae_err e;
  int seen[37] = {0};
  for (int r = 0; r < 2; r++) {
    loader_opts o;
    loader_opts_default(&o);
    o.path = dir;
    o.split = "test";
    o.rank = r;
    o.world_size = 2;
    o.batch_size = 8;
    o.shuffle = 0;
    o.drop_last = 0;
    o.stop_at_epoch_end = 1;
    loader *l = open_or_fail(&o);
    if (!l) return;
    CHECK(loader_get_info(l).batches_per_epoch == 3, "37 images / 16 -> 3 padded batches");
    for (int pass = 0; pass < 2; pass++) {
      int batches = 0, invalid = 0;
      const loader_batch *b;
      while ((b = loader_next(l, &e)) != NULL) {
        batches++;
        for (int j = 0; j < b->n; j++) {
          int64_t pos = b->global_pos[j];
          CHECK(b->valid[j] == (pos < 37), "valid flag at %lld", (long long)pos);
          CHECK(b->index[j] == pos % 37, "eval order is the identity (padding wraps)");
          if (b->valid[j] && pass == 0) seen[b->index[j]]++;
          invalid += !b->valid[j];
        }
        int nv = 0;
        for (int j = 0; j < b->n; j++)
          nv += b->valid[j];
        CHECK(b->n_valid == nv, "n_valid %d, flags say %d", b->n_valid, nv);
      }
      CHECK(e.code == 0, "end of epoch is not an error: %s", e.msg);
      CHECK(batches == 3, "rank %d pass %d: %d batches", r, pass, batches);
      /* positions 37..47 are padding: rank 0 holds 32..39, rank 1 40..47 of the last batch */
      CHECK(invalid == (r == 0 ? 3 : 8), "rank %d: %d padded entries", r, invalid);
      CHECK(loader_next(l, &e) == NULL && e.code == 0, "stays at the end");
      CHECK(loader_set_state(l, (sampler_state){0, 0}, &e) == 0, "restart the pass");
    }
    loader_close(l);
  }
  for (int i = 0; i < 37; i++)
    CHECK(seen[i] == 1, "eval: sample %d seen %d times", i, seen[i]);
}

static void check_memory_and_allocator(const char *dir) {
  int mine = 0;
  loader_opts o;
  loader_opts_default(&o);
  o.path = dir;
  o.split = "train";
  o.batch_size = 7;
  o.seed = 8;
  o.flip = 1;
  o.pad_to = 30;
  o.n_buffers = 4;
  o.allocator = (loader_allocator){count_alloc, count_free, &mine};
  loader *a = open_or_fail(&o);
  o.in_memory = 1;
  o.verify_checksums = 1;
  loader *b = open_or_fail(&o);
  if (!a || !b) return;
  CHECK(mine == 8, "allocator used for 2 x 4 image buffers: %d calls", mine);
  nvae_err e;
  for (int k = 0; k < 20; k++) {
    const loader_batch *x = loader_next(a, &e), *y = loader_next(b, &e);
    CHECK(x && y && x->height == 30 && x->pad_top == 1 &&
              !memcmp(x->images, y->images, (size_t)7 * 30 * 30),
          "in-memory batch %d equals the pread batch", k);
  }
  loader_close(a);
  loader_close(b);
  CHECK(allocs == frees, "every buffer freed through the allocator: %d allocs, %d frees", allocs,
        frees);
  o.allocator = (loader_allocator){0};
  o.in_memory = 0;
  o.pad_to = 20;
  loader *c = NULL;
  CHECK(loader_open(&c, &o, &e) == 2 && strstr(e.msg, "pad_to"), "pad_to 20 < 28: %s", e.msg);
  o.pad_to = LOADER_PAD_NONE;
  c = open_or_fail(&o);
  if (c) {
    CHECK(loader_get_info(c).height == 28, "no padding when asked");
    loader_close(c);
  }
}

int main(void) {
  char root[256], grey[300], rgb[300];
  dt_mkdtemp(root, sizeof root, "loader");
  snprintf(grey, sizeof grey, "%s/grey", root);
  snprintf(rgb, sizeof rgb, "%s/rgb", root);
  const char *splits[2] = {"train", "test"};
  const int64_t counts[2] = {103, 37};
  CHECK(dt_make_dataset(grey, "grey", 28, 28, 1, 2, splits, counts, 2) == 0, "make grey");
  const int64_t rgb_counts[1] = {100};
  CHECK(dt_make_dataset(rgb, "rgb", 6, 8, 3, 1, splits, rgb_counts, 3) == 0, "make rgb");
  check_epoch_content(grey);
  check_world_sizes(rgb);
  check_resume(grey);
  check_eval(grey);
  check_memory_and_allocator(grey);
  dt_rm_rf(root);
  return test_finish("test_dataset_loader");
}
