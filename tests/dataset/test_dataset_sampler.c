/* The distributed sampler: every sample exactly once per epoch across W ranks (W = 1..4), the
 * same global order for any W, a different order each epoch, drop-last for training and padding
 * for evaluation, identical continuation after a save/restore mid-epoch (also with another world
 * size), and flips that depend only on (seed, epoch, sample). */
#include "dataset/augment.h"
#include "dataset/sampler.h"
#include "tests/test_util.h"

#include <stdlib.h>
#include <string.h>

enum { N = 103, B = 4 };

/* The epoch's global order as the ranks see it: concatenation over global batches of the rank
 * slices. Returns the number of positions filled. */
static int64_t gather_epoch(int world, int batch, int drop_last, uint64_t epoch, int64_t *order,
                            uint8_t *valid) {
  sampler s[4];
  nvae_err e;
  for (int r = 0; r < world; r++) {
    CHECK(sampler_init(&s[r], N, r, world, batch, 1234, 1, drop_last, &e) == 0, "init: %s", e.msg);
    sampler_set_state(&s[r], (sampler_state){epoch, 0}, &e);
  }
  int64_t steps = sampler_batches_per_epoch(&s[0]), filled = 0;
  sampler_slot slots[16];
  for (int64_t k = 0; k < steps; k++)
    for (int r = 0; r < world; r++) {
      sampler_next(&s[r], slots);
      for (int j = 0; j < batch; j++) {
        int64_t pos = k * world * batch + r * batch + j;
        CHECK(slots[j].global_pos == pos, "global_pos %lld, expected %lld",
              (long long)slots[j].global_pos, (long long)pos);
        CHECK(s[r].st.epoch == epoch, "epoch moved inside the epoch");
        order[pos] = slots[j].index;
        valid[pos] = (uint8_t)slots[j].valid;
        filled = pos + 1;
      }
    }
  for (int r = 0; r < world; r++) {
    CHECK(sampler_epoch_done(&s[r]), "W=%d rank %d: epoch should be done after %lld steps", world,
          r, (long long)steps);
    sampler_free(&s[r]);
  }
  return filled;
}

int main(void) {
  nvae_err e;
  int64_t order[N + 16];
  uint8_t valid[N + 16];
  /* Training (drop_last): floor(N / G) batches; each sample at most once; the global order is
   * the same prefix of the epoch permutation for every W. */
  int64_t perm[N];
  sampler_permutation(1234, 0, N, perm);
  for (int world = 1; world <= 4; world++) {
    int64_t got = gather_epoch(world, B, 1, 0, order, valid);
    int64_t g = (int64_t)world * B;
    CHECK(got == (N / g) * g, "W=%d: %lld samples, expected %lld (drop last)", world,
          (long long)got, (long long)((N / g) * g));
    int seen[N] = {0};
    for (int64_t p = 0; p < got; p++) {
      CHECK(valid[p], "training entries are all valid");
      CHECK(order[p] == perm[p], "W=%d: position %lld is %lld, the permutation says %lld", world,
            (long long)p, (long long)order[p], (long long)perm[p]);
      seen[order[p]]++;
    }
    for (int i = 0; i < N; i++)
      CHECK(seen[i] <= 1, "W=%d: sample %d seen %d times", world, i, seen[i]);
  }
  /* Evaluation (padding): ceil(N / G) batches; every sample exactly once among valid entries,
   * padding marked invalid and only at the end. */
  for (int world = 1; world <= 4; world++) {
    int64_t got = gather_epoch(world, B, 0, 0, order, valid);
    int64_t g = (int64_t)world * B;
    CHECK(got == (N + g - 1) / g * g, "W=%d eval: %lld positions", world, (long long)got);
    int seen[N] = {0};
    for (int64_t p = 0; p < got; p++) {
      CHECK(valid[p] == (p < N), "W=%d eval: position %lld valid=%d", world, (long long)p,
            valid[p]);
      if (valid[p]) seen[order[p]]++;
    }
    for (int i = 0; i < N; i++)
      CHECK(seen[i] == 1, "W=%d eval: sample %d seen %d times (expected exactly once)", world, i,
            seen[i]);
  }
  /* The permutation is a permutation, and differs between epochs and seeds. */
  int64_t p1[N], p2[N];
  sampler_permutation(1234, 1, N, p1);
  sampler_permutation(1235, 0, N, p2);
  int same01 = 0, same_seed = 0, seen[N] = {0};
  for (int i = 0; i < N; i++) {
    same01 += perm[i] == p1[i];
    same_seed += perm[i] == p2[i];
    seen[p1[i]]++;
  }
  for (int i = 0; i < N; i++)
    CHECK(seen[i] == 1, "epoch-1 permutation misses %d", i);
  CHECK(same01 < N / 4 && same_seed < N / 4, "orders should differ: %d / %d fixed points", same01,
        same_seed);
  /* Without shuffling the order is the identity. */
  sampler s;
  sampler_slot slots[B];
  CHECK(sampler_init(&s, N, 1, 2, B, 9, 0, 1, &e) == 0, "init");
  sampler_next(&s, slots);
  for (int j = 0; j < B; j++)
    CHECK(slots[j].index == B + j, "no-shuffle rank 1 slot %d", j);
  sampler_free(&s);

  /* Rolling over: consecutive epochs come one after the other with their own orders. */
  CHECK(sampler_init(&s, N, 0, 1, B, 1234, 1, 1, &e) == 0, "init");
  int64_t per_epoch = sampler_batches_per_epoch(&s);
  for (int64_t k = 0; k < per_epoch; k++)
    sampler_next(&s, slots);
  sampler_next(&s, slots);
  CHECK(s.st.epoch == 1 && slots[0].index == p1[0] && slots[0].global_pos == 0,
        "epoch 1 should start with its permutation: epoch %llu index %lld",
        (unsigned long long)s.st.epoch, (long long)slots[0].index);
  sampler_free(&s);

  /* Save/restore mid-epoch: a fresh sampler restored to the saved state continues identically,
   * also across epoch boundaries. */
  sampler a, b2;
  CHECK(sampler_init(&a, N, 1, 3, B, 77, 1, 1, &e) == 0, "init a");
  for (int k = 0; k < 5; k++)
    sampler_next(&a, slots);
  sampler_state saved = sampler_get_state(&a);
  CHECK(sampler_init(&b2, N, 1, 3, B, 77, 1, 1, &e) == 0, "init b");
  CHECK(sampler_set_state(&b2, saved, &e) == 0, "restore: %s", e.msg);
  for (int k = 0; k < 3 * per_epoch; k++) {
    sampler_slot sa[B], sb[B];
    sampler_next(&a, sa);
    sampler_next(&b2, sb);
    int same = 1;
    for (int j = 0; j < B; j++)
      same &= sa[j].index == sb[j].index && sa[j].global_pos == sb[j].global_pos &&
              sa[j].valid == sb[j].valid;
    CHECK(same, "after restore, batch %d differs", k);
  }
  sampler_free(&a);
  sampler_free(&b2);
  CHECK(sampler_init(&a, N, 0, 1, B, 77, 1, 1, &e) == 0, "init");
  CHECK(sampler_set_state(&a, (sampler_state){0, N + 1}, &e) == 2,
        "a position beyond N is refused");
  sampler_free(&a);

  /* Resharding: W=2 runs 3 global batches, saves; W=3 continues from the same position: the
   * union of the global order is still the epoch permutation, with no repeat and no gap. */
  {
    sampler s2[2], s3[3];
    for (int r = 0; r < 2; r++)
      sampler_init(&s2[r], N, r, 2, B, 5, 1, 1, &e);
    int64_t ord[N], pos = 0;
    for (int k = 0; k < 3; k++)
      for (int r = 0; r < 2; r++) {
        sampler_next(&s2[r], slots);
        for (int j = 0; j < B; j++)
          ord[pos++] = slots[j].index;
      }
    sampler_state st = sampler_get_state(&s2[0]);
    CHECK(st.position == 24, "state position %llu, expected 24", (unsigned long long)st.position);
    for (int r = 0; r < 3; r++) {
      sampler_init(&s3[r], N, r, 3, B, 5, 1, 1, &e);
      sampler_set_state(&s3[r], st, &e);
    }
    while (!sampler_epoch_done(&s3[0]))
      for (int r = 0; r < 3; r++) {
        sampler_next(&s3[r], slots);
        for (int j = 0; j < B; j++) {
          CHECK(slots[j].global_pos == pos, "resharded global_pos");
          ord[pos++] = slots[j].index;
        }
      }
    int64_t pp[N];
    sampler_permutation(5, 0, N, pp);
    CHECK(pos == 24 + (N - 24) / 12 * 12, "resharded epoch length %lld", (long long)pos);
    for (int64_t i = 0; i < pos; i++)
      CHECK(ord[i] == pp[i], "resharded order at %lld", (long long)i);
    for (int r = 0; r < 2; r++)
      sampler_free(&s2[r]);
    for (int r = 0; r < 3; r++)
      sampler_free(&s3[r]);
  }

  /* Too small for one global batch (training) is an error; evaluation pads instead. */
  CHECK(sampler_init(&s, 7, 0, 2, 4, 1, 1, 1, &e) == 2 && strstr(e.msg, "fewer than one global"),
        "7 samples < 2x4 must be refused for training: %s", e.msg);
  CHECK(sampler_init(&s, 7, 0, 2, 4, 1, 0, 0, &e) == 0, "evaluation may pad 7 samples to 8");
  sampler_free(&s);
  CHECK(sampler_init(&s, 7, 2, 2, 4, 1, 1, 1, &e) == 2, "rank >= world is refused");

  /* Flips: a function of (seed, epoch, sample) only; about half; they change with the epoch. */
  int flips = 0, changed = 0;
  for (int64_t i = 0; i < 10000; i++) {
    int f = augment_flip_draw(42, 3, i);
    flips += f;
    changed += f != augment_flip_draw(42, 4, i);
  }
  CHECK(flips > 4800 && flips < 5200, "flip rate %d / 10000", flips);
  CHECK(changed > 4800 && changed < 5200, "flips should be redrawn each epoch: %d changed",
        changed);
  return test_finish("test_dataset_sampler");
}
