/* nvae-prep idx on the real Fashion-MNIST files of Debian's dataset-fashion-mnist package:
 * 60000/10000 images stored at 28x28x1, pixels equal to the raw IDX bytes (spot checks through the
 * loader here, all pixels through h5py in check_idx.py), the loader pads to 32x32 by default.
 * Prints the preparation and a loader epoch timing. argv[1]: the nvae-prep binary. */
#define _POSIX_C_SOURCE 200809L
#include "dataset/dataset_split.h"
#include "dataset/idx.h"
#include "dataset/loader.h"
#include "tests/dataset/dataset_testutil.h"
#include "tests/test_util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static char out[1 << 16];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv) {
  const char *train = FMNIST "train-images-idx3-ubyte.gz",
             *test = FMNIST "t10k-images-idx3-ubyte.gz";
  if (argc < 2) return test_skip("test_dataset_fashion_mnist", "usage: test NVAE_PREP");
  if (access(train, R_OK) || access(test, R_OK))
    return test_skip("test_dataset_fashion_mnist",
                     "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
  char root[256], dst[300], script[1024];
  dt_mkdtemp(root, sizeof root, "fmnist");
  snprintf(dst, sizeof dst, "%s/fashion-mnist", root);
  char *prep[] = {argv[1],      "idx",   "--train", (char *)train, "--test",
                  (char *)test, "--out", dst,       NULL};
  double t0 = now();
  int rc = dt_run(prep, out, sizeof out);
  double t_prep = now() - t0;
  printf("%s", out);
  printf("nvae-prep idx (Fashion-MNIST, 70000 images): %.2f s wall\n", t_prep);
  CHECK(rc == 0, "nvae-prep idx: exit %d", rc);

  idx_images raw[2];
  nvae_err e;
  CHECK(idx_read_images(train, &raw[0], &e) == 0 && idx_read_images(test, &raw[1], &e) == 0,
        "read raw IDX: %s", e.msg);
  const char *splits[2] = {"train", "test"};
  const int64_t want[2] = {60000, 10000};
  for (int s = 0; s < 2; s++) {
    dataset_split ds;
    dataset_split_opts o = {1, 0};
    CHECK(dataset_split_open(&ds, dst, splits[s], &o, &e) == 0, "open %s: %s", splits[s], e.msg);
    CHECK(ds.n == want[s] && raw[s].n == want[s] && ds.height == 28 && ds.width == 28 &&
              ds.channels == 1,
          "%s: %lld images of %dx%dx%d", splits[s], (long long)ds.n, ds.height, ds.width,
          ds.channels);
    uint8_t img[28 * 28];
    for (int64_t i = 0; i < ds.n; i += 997) {
      CHECK(dataset_split_read(&ds, i, img, &e) == 0, "read: %s", e.msg);
      CHECK(!memcmp(img, raw[s].pixels + i * 784, 784), "%s image %lld differs from the IDX bytes",
            splits[s], (long long)i);
    }
    dataset_split_close(&ds);
  }
  /* one loader epoch: padded 32x32, the stored image centred with 2 zero pixels each side */
  loader_opts o;
  loader_opts_default(&o);
  o.path = dst;
  o.split = "train";
  o.batch_size = 100;
  o.seed = 3;
  loader *l = NULL;
  CHECK(loader_open(&l, &o, &e) == 0, "loader: %s", e.msg);
  if (l) {
    loader_info info = loader_get_info(l);
    CHECK(info.height == 32 && info.width == 32 && info.batches_per_epoch == 600, "loader info");
    t0 = now();
    for (int64_t k = 0; k < info.batches_per_epoch; k++) {
      const loader_batch *b = loader_next(l, &e);
      if (!b) {
        CHECK(0, "batch %lld: %s", (long long)k, e.msg);
        break;
      }
      if (k % 50) continue;
      const uint8_t *p = b->images + 32 * 32 * 7, *ref = raw[0].pixels + b->index[7] * 784;
      int ok = 1;
      for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) {
          int in = y >= 2 && y < 30 && x >= 2 && x < 30;
          ok &= p[y * 32 + x] == (in ? ref[(y - 2) * 28 + (x - 2)] : 0);
        }
      CHECK(ok, "batch %lld: padded image of sample %lld", (long long)k, (long long)b->index[7]);
    }
    double t = now() - t0;
    printf("loader: one Fashion-MNIST epoch (60000 images, batch 100, 28->32 padding) in %.3f s, "
           "%.0f images/s\n",
           t, 60000 / t);
    loader_close(l);
  }
  idx_free(&raw[0]);
  idx_free(&raw[1]);
  dt_script(script, sizeof script, "check_idx.py");
  char *py[] = {(char *)dt_python(), script, dst, (char *)train, (char *)test, NULL};
  rc = dt_run(py, out, sizeof out);
  printf("%s", out);
  CHECK(rc == 0, "check_idx.py (h5py): exit %d", rc);
  dt_rm_rf(root);
  return test_finish("test_dataset_fashion_mnist");
}
