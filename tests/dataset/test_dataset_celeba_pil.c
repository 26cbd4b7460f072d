/* nvae-prep celeba on a synthetic release (36 smooth random 178x218 JPEGs written with
 * tjCompress2, partition 20/8/8): exit 0, all three splits written in several shards, readable by
 * the loader with checksums verified, and (check_celeba.py) readable by h5py with the documented
 * attributes and within +-1 of PIL's crop + resize((64, 64), BILINEAR) for every pixel.
 * argv[1]: the nvae-prep binary. */
#include "dataset/dataset_split.h"
#include "tests/dataset/dataset_testutil.h"
#include "tests/test_util.h"

#include <stdio.h>
#include <string.h>

static char out[1 << 16];

int main(int argc, char **argv) {
  if (argc < 2) return test_skip("test_dataset_celeba_pil", "usage: test NVAE_PREP");
  char root[256], celeba[300], dst[300], script[1024];
  dt_mkdtemp(root, sizeof root, "celeba");
  snprintf(celeba, sizeof celeba, "%s/celeba", root);
  snprintf(dst, sizeof dst, "%s/celeba64", root);
  const int counts[3] = {20, 8, 8};
  CHECK(dt_make_celeba(celeba, counts, 7) == 0, "make the synthetic release");
  char *prep[] = {argv[1], "celeba",    "--root", celeba, "--out", dst, "--images-per-shard",
                  "7",     "--threads", "2",      NULL};
  int rc = dt_run(prep, out, sizeof out);
  printf("%s", out);
  CHECK(rc == 0, "nvae-prep celeba: exit %d", rc);
  CHECK(strstr(out, "images/s") && strstr(out, "not the full CelebA"),
        "summary with the note about the unofficial count");
  const char *splits[3] = {"train", "valid", "test"};
  const int shards[3] = {3, 2, 2};
  for (int s = 0; s < 3 && rc == 0; s++) {
    dataset_split ds;
    nvae_err e;
    dataset_split_opts o = {1, 0};
    CHECK(dataset_split_open(&ds, dst, splits[s], &o, &e) == 0, "open %s: %s", splits[s], e.msg);
    CHECK(ds.n == counts[s] && ds.n_shards == shards[s] && ds.height == 64 && ds.width == 64 &&
              ds.channels == 3,
          "%s: %lld images in %d shards", splits[s], (long long)ds.n, ds.n_shards);
    CHECK(!strcmp(ds.info.crop, "box") && ds.info.crop_box[0] == 15 && ds.info.crop_box[3] == 188 &&
              !strcmp(ds.info.resize, "pil-bilinear-antialias") && ds.info.size == 64,
          "dataset.yaml preprocessing");
    dataset_split_close(&ds);
  }
  dt_script(script, sizeof script, "check_celeba.py");
  char *py[] = {(char *)dt_python(), script, dst, celeba, "64", NULL};
  rc = dt_run(py, out, sizeof out);
  printf("%s", out);
  CHECK(rc == 0, "check_celeba.py (h5py + PIL reference): exit %d", rc);
  CHECK(strstr(out, "max_abs_diff") != NULL, "the script reports the difference");
  dt_rm_rf(root);
  return test_finish("test_dataset_celeba_pil");
}
