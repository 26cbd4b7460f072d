/* LR, KL warm-up and λ schedules (trainer/schedule.c) against NVAE.md §4.2, §3.2, §3.6. */
#include "tests/test_util.h"
#include "trainer/schedule.h"

#include <math.h>

static const double PI = 3.14159265358979323846;

static void celeba_config(nvae_config *c) {
  config_defaults(c);
  c->train.epochs = 90;
  c->optim.warmup_epochs = 5;
  c->optim.lr = 1e-2;
  c->optim.lr_min = 1e-4;
}

/* The CelebA-64 table of NVAE.md §4.2: 1,271 it/epoch, 90 epochs, 5 warm-up epochs. */
static void test_lr_celeba(void) {
  nvae_config c;
  celeba_config(&c);
  sched s;
  sched_init(&s, &c, 1271);
  CHECK(s.total_steps == 114390, "T = %lld", (long long)s.total_steps);
  CHECK(s.warmup_steps == 6355, "W = %lld", (long long)s.warmup_steps);
  static const struct {
    int epoch;
    double lr, rtol;
  } table[] = {{1, 2e-3, 1e-9},     {4, 8e-3, 1e-9},     {5, 9.998e-3, 1e-4}, {10, 9.91e-3, 1e-3},
               {20, 9.24e-3, 1e-3}, {30, 7.99e-3, 1e-3}, {45, 5.42e-3, 1e-3}, {60, 2.74e-3, 2e-3},
               {75, 7.6e-4, 5e-3},  {85, 1.55e-4, 5e-3}, {89, 1e-4, 1e-9}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    char what[64];
    snprintf(what, sizeof what, "lr at the start of epoch %d", table[i].epoch);
    double lr = sched_lr(&s, (int64_t)table[i].epoch * 1271);
    CHECK_CLOSE(lr, table[i].lr, 0, table[i].rtol, what);
    /* per epoch: after the warm-up the last step of an epoch has its first step's value */
    if (table[i].epoch >= 5)
      CHECK_CLOSE(sched_lr(&s, (int64_t)table[i].epoch * 1271 + 1270), lr, 0, 0, what);
  }
  /* the very first step uses 0; warm-up is per iteration */
  CHECK(sched_lr(&s, 0) == 0.0, "step 0 lr %g", sched_lr(&s, 0));
  CHECK_CLOSE(sched_lr(&s, 1), 1e-2 / 6355, 0, 1e-12, "step 1");
  const double lr_w = 1e-2 * 6354 / 6355;
  CHECK_CLOSE(sched_lr(&s, 6354), lr_w, 0, 1e-12, "last warm-up step");
  /* epoch 5 (= warmup_epochs) runs at the last warm-up value, epoch 6 starts the cosine */
  CHECK_CLOSE(sched_lr(&s, 6355), lr_w, 0, 1e-12, "epoch 5");
  CHECK_CLOSE(sched_lr(&s, 6 * 1271), 1e-4 + (lr_w - 1e-4) * 0.5 * (1 + cos(PI / 84)), 0, 1e-12,
              "epoch 6");
  CHECK(sched_lr(&s, 114389) == 1e-4, "last step %g", sched_lr(&s, 114389));
}

/* warmup_steps and a max_steps that cuts the run (the fmnist-small demo: 1,875 it/epoch). */
static void test_lr_steps(void) {
  nvae_config c;
  config_defaults(&c);
  c.train.epochs = 200;
  c.train.max_steps = 200;
  c.optim.warmup_steps_set = true;
  c.optim.warmup_steps = 100;
  sched s;
  sched_init(&s, &c, 1875);
  CHECK(s.total_steps == 200 && s.epochs == 1, "T %lld epochs %lld", (long long)s.total_steps,
        (long long)s.epochs);
  CHECK_CLOSE(sched_lr(&s, 50), 0.005, 0, 1e-12, "warm-up step 50");
  CHECK_CLOSE(sched_lr(&s, 100), 0.0099, 0, 1e-12, "after warm-up");
  CHECK_CLOSE(sched_lr(&s, 199), 0.0099, 0, 1e-12, "last step");
  /* max_steps spanning 10 epochs of 100 steps: the cosine ends at lr_min in epoch 9 */
  c.train.max_steps = 1000;
  c.optim.warmup_steps = 150; /* we = 2 */
  sched_init(&s, &c, 100);
  CHECK(s.epochs == 10 && s.warmup_epochs == 2, "epochs %lld we %lld", (long long)s.epochs,
        (long long)s.warmup_epochs);
  CHECK_CLOSE(sched_lr(&s, 250), 0.01 * 149 / 150, 0, 1e-12, "epoch 2");
  CHECK_CLOSE(sched_lr(&s, 999), 1e-4, 0, 1e-12, "epoch 9");
  /* step schedule: ×gamma every step_epochs epochs after the warm-up */
  c.optim.schedule = NVAE_SCHEDULE_STEP;
  c.optim.step_epochs = 3;
  c.optim.step_gamma = 0.5;
  c.optim.warmup_steps = 0;
  sched_init(&s, &c, 100);
  CHECK_CLOSE(sched_lr(&s, 0), 0.01, 0, 1e-12, "step schedule, no warm-up");
  CHECK_CLOSE(sched_lr(&s, 299), 0.01, 0, 1e-12, "epoch 2");
  CHECK_CLOSE(sched_lr(&s, 300), 0.005, 0, 1e-12, "epoch 3");
  CHECK_CLOSE(sched_lr(&s, 650), 0.0025, 0, 1e-12, "epoch 6");
}

static void test_kl_beta_lambda(void) {
  nvae_config c;
  celeba_config(&c);
  sched s;
  sched_init(&s, &c, 1271);
  const double T = 114390;
  CHECK(sched_kl_beta(&s, 0) == 1e-4, "beta(0) = %g", sched_kl_beta(&s, 0));
  CHECK_CLOSE(sched_kl_beta(&s, 20000), (20000 - 1e-4 * T) / (0.3 * T), 0, 1e-12, "beta(20000)");
  CHECK(sched_kl_beta(&s, 34330) == 1.0, "beta(34330) = %.9g", sched_kl_beta(&s, 34330));
  CHECK(sched_kl_beta(&s, 34300) < 1.0, "beta(34300) = %.9g", sched_kl_beta(&s, 34300));
  CHECK(sched_kl_beta(&s, 100000) == 1.0, "beta stays 1");
  /* max_steps shortens T */
  c.train.max_steps = 200;
  sched_init(&s, &c, 1271);
  CHECK_CLOSE(sched_kl_beta(&s, 30), (30 - 0.02) / 60, 0, 1e-12, "beta(30) with T = 200");
  CHECK(sched_kl_beta(&s, 60) < 1.0 && sched_kl_beta(&s, 61) == 1.0, "beta(61) with T = 200: %.9g",
        sched_kl_beta(&s, 61));
  /* constant beta */
  c.train.kl_beta_set = true;
  c.train.kl_beta = 0.25;
  sched_init(&s, &c, 1271);
  CHECK(sched_kl_beta(&s, 0) == 0.25 && sched_kl_beta(&s, 50000) == 0.25, "constant beta");
  /* lambda: constant, or geometric from weight_decay_norm_init to weight_decay_norm */
  c.train.weight_decay_norm = 0.1;
  sched_init(&s, &c, 1271);
  CHECK(sched_lambda(&s, 0.3) == 0.1, "constant lambda");
  c.train.weight_decay_norm_anneal = true;
  c.train.weight_decay_norm_init = 10.0;
  sched_init(&s, &c, 1271);
  CHECK_CLOSE(sched_lambda(&s, 0.0), 10.0, 0, 1e-12, "lambda(beta=0)");
  CHECK_CLOSE(sched_lambda(&s, 1.0), 0.1, 0, 1e-12, "lambda(beta=1)");
  CHECK_CLOSE(sched_lambda(&s, 0.5), 1.0, 0, 1e-12, "lambda(beta=0.5)");
}

int main(void) {
  test_lr_celeba();
  test_lr_steps();
  test_kl_beta_lambda();
  return test_finish("test_schedule");
}
