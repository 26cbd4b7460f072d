/* Bad input gives exit code 2 (nvae-prep) or an NVAE_EXIT_USAGE error (loader) with one line
 * naming the file: an existing output directory (left untouched), partition files that are
 * malformed, name a missing file or disagree with the directory, corrupt images with and without
 * --strict (no output directory, no temporary left behind), IDX label files and damaged gzip, and
 * shards that are missing, truncated, not HDF5, bit-flipped (checksums), of the wrong shape,
 * compressed or disagreeing with dataset.yaml, and datasets smaller than one global batch.
 * argv[1]: the nvae-prep binary. */
#define _XOPEN_SOURCE 700
#include "dataset/dataset_yaml.h"
#include "dataset/loader.h"
#include "dataset/shard.h"
#include "tests/dataset/dataset_testutil.h"
#include "tests/test_util.h"

#include <dirent.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *prep;
static char root[256];
static char out[1 << 16];

/* Runs nvae-prep with the arguments up to the first NULL; returns its exit code, output in
 * `out`. */
static int run_prep_v(const char *const *args) {
  char *argv[16] = {(char *)prep};
  for (int i = 0; i < 14 && args[i]; i++)
    argv[i + 1] = (char *)args[i];
  return dt_run(argv, out, sizeof out);
}
#define run_prep(...) run_prep_v((const char *const[]){__VA_ARGS__, NULL})

static int count_tmp_dirs(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL)
    n += strstr(de->d_name, ".tmp-") != NULL;
  if (d) closedir(d);
  return n;
}

/* The output must name `needle` and say "error". */
static void expect_exit2(int rc, const char *what, const char *needle) {
  CHECK(rc == 2, "%s: exit %d, expected 2; output:\n%s", what, rc, out);
  CHECK(strstr(out, needle) != NULL, "%s: output should name '%s':\n%s", what, needle, out);
  CHECK(strstr(out, "error") != NULL, "%s: output should say error:\n%s", what, out);
}

static void prep_errors(void) {
  char celeba[300], dst[300], path[400];
  const int counts[3] = {4, 2, 2};
  snprintf(celeba, sizeof celeba, "%s/celeba", root);
  CHECK(dt_make_celeba(celeba, counts, 1) == 0, "make celeba");
  snprintf(dst, sizeof dst, "%s/out", root);

  /* an existing output directory is refused and left alone */
  CHECK(mkdir(dst, 0755) == 0, "mkdir");
  snprintf(path, sizeof path, "%s/keep.txt", dst);
  dt_write_file(path, "x", 1);
  expect_exit2(run_prep("celeba", "--root", celeba, "--out", dst, NULL, NULL, NULL),
               "existing --out", dst);
  CHECK(access(path, F_OK) == 0, "the existing directory must be untouched");
  dt_rm_rf(dst);

  /* usage errors */
  expect_exit2(run_prep("celeba", "--out", dst, NULL, NULL, NULL, NULL, NULL), "no --root",
               "--root");
  expect_exit2(run_prep("folder", "--root", celeba, "--out", dst, NULL, NULL, NULL), "no --size",
               "--size");
  expect_exit2(run_prep("celeba", "--root", celeba, "--out", dst, "--size", "0", NULL),
               "bad --size", "--size");
  expect_exit2(run_prep("celeba", "--root", celeba, "--out", dst, "--valid-fraction", "0.2", NULL),
               "option of another command", "--valid-fraction");
  expect_exit2(run_prep("resize", "--out", dst, NULL, NULL, NULL, NULL, NULL), "unknown command",
               "resize");
  CHECK(run_prep("--help", NULL, NULL, NULL, NULL, NULL, NULL, NULL) == 0 &&
            strstr(out, "--images-per-shard"),
        "--help prints the options");

  /* partition file naming a missing image */
  char part[400], saved[4096];
  int rc;
  snprintf(part, sizeof part, "%s/list_eval_partition.txt", celeba);
  uint8_t *text;
  size_t n;
  dt_read_file(part, &text, &n);
  memcpy(saved, text, n);
  FILE *f = fopen(part, "a");
  fprintf(f, "000099.jpg 2\n");
  fclose(f);
  expect_exit2(run_prep("celeba", "--root", celeba, "--out", dst, NULL, NULL, NULL),
               "partition names a missing file", "000099.jpg");
  /* malformed line: named with its line number */
  dt_write_file(part, saved, n);
  f = fopen(part, "a");
  fprintf(f, "000009.jpg 7\n");
  fclose(f);
  expect_exit2(run_prep("celeba", "--root", celeba, "--out", dst, NULL, NULL, NULL),
               "malformed partition line", "list_eval_partition.txt:9");
  /* duplicate entry */
  dt_write_file(part, saved, n);
  f = fopen(part, "a");
  fprintf(f, "000001.jpg 1\n");
  fclose(f);
  expect_exit2(run_prep("celeba", "--root", celeba, "--out", dst, NULL, NULL, NULL),
               "duplicate partition line", "more than once");
  /* fewer lines than images: counts mismatch */
  dt_write_file(part, saved, n - 13); /* drop the last line */
  expect_exit2(run_prep("celeba", "--root", celeba, "--out", dst, NULL, NULL, NULL),
               "count mismatch", "counts must match");
  dt_write_file(part, saved, n);
  free(text);
  CHECK(!fs_exists(dst) && count_tmp_dirs(root) == 0, "no output after refused input");

  /* the CSV variant of the partition file (header row, commas) is accepted; --out with a
   * trailing slash names the directory itself */
  f = fopen(part, "w");
  fprintf(f, "image_id,partition\r\n");
  for (int i = 1; i <= 8; i++)
    fprintf(f, "%06d.jpg,%d\r\n", i, i <= 4 ? 0 : i <= 6 ? 1 : 2);
  fclose(f);
  char dst_slash[310];
  snprintf(dst_slash, sizeof dst_slash, "%s/", dst);
  rc = run_prep("celeba", "--root", celeba, "--out", dst_slash, "--size", "8");
  CHECK(rc == 0 && fs_exists(dst) && count_tmp_dirs(root) == 0,
        "CSV partition file and --out DIR/: exit %d\n%s", rc, out);
  dt_write_file(part, saved, n);
  dt_rm_rf(dst);

  /* a corrupt JPEG: warning + skipped by default, fatal with --strict */
  char jpg[400];
  snprintf(jpg, sizeof jpg, "%s/img_align_celeba/000006.jpg", celeba);
  dt_read_file(jpg, &text, &n);
  dt_write_file(jpg, text, n / 2); /* truncated */
  rc = run_prep("celeba", "--root", celeba, "--out", dst, "--strict", NULL, NULL);
  expect_exit2(rc, "corrupt JPEG with --strict", "000006.jpg");
  CHECK(!fs_exists(dst) && count_tmp_dirs(root) == 0,
        "--strict failure must leave neither the dataset nor its temporary directory");
  rc = run_prep("celeba", "--root", celeba, "--out", dst, NULL, NULL, NULL);
  CHECK(rc == 0, "corrupt JPEG without --strict: exit %d\n%s", rc, out);
  CHECK(strstr(out, "warning") && strstr(out, "000006.jpg") && strstr(out, "skipped 1"),
        "the skipped image is named and counted:\n%s", out);
  dataset_info d;
  nvae_err e;
  snprintf(path, sizeof path, "%s/dataset.yaml", dst);
  CHECK(dataset_yaml_read(path, &d, &e) == 0, "%s", e.msg);
  const dataset_split_info *valid = dataset_info_split(&d, "valid");
  CHECK(valid && valid->count == 1 && valid->skipped == 1, "valid: 1 written, 1 skipped");
  dataset_info_free(&d);
  dt_rm_rf(dst);
  /* a non-image file among images in a folder */
  dt_write_file(jpg, "this is not a JPEG\n", 19);
  rc = run_prep("folder", "--root", celeba, "--out", dst, "--size", "16", "--strict", NULL);
  expect_exit2(rc, "non-image in folder with --strict", "000006.jpg");
  rc = run_prep("folder", "--root", celeba, "--out", dst, "--size", "16", NULL, NULL);
  CHECK(rc == 0 && strstr(out, "not a JPEG or PNG") && strstr(out, "skipped 1"),
        "folder without --strict skips the bad file: exit %d\n%s", rc, out);
  dt_write_file(jpg, text, n);
  free(text);
  dt_rm_rf(dst);

  /* IDX: a label file passed as images; a damaged gzip stream; a missing file */
  const char *labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  if (access(labels, R_OK) == 0) {
    expect_exit2(run_prep("idx", "--train", labels, "--out", dst, NULL, NULL, NULL),
                 "IDX label file", "label file");
    dt_read_file("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", &text, &n);
    snprintf(path, sizeof path, "%s/cut.gz", root);
    dt_write_file(path, text, n / 3);
    free(text);
    expect_exit2(run_prep("idx", "--train", path, "--out", dst, NULL, NULL, NULL),
                 "truncated gzip IDX", "cut.gz");
  }
  snprintf(path, sizeof path, "%s/none.idx", root);
  expect_exit2(run_prep("idx", "--train", path, "--out", dst, NULL, NULL, NULL), "missing IDX",
               "none.idx");
  /* raw (not gzip) IDX with trailing bytes */
  uint8_t raw[16 + 2 * 4 + 1] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2};
  dt_write_file(path, raw, sizeof raw);
  expect_exit2(run_prep("idx", "--train", path, "--out", dst, NULL, NULL, NULL),
               "IDX with trailing bytes", "trailing bytes");
  CHECK(run_prep("idx", "--train", path, "--out", dst, NULL, NULL, NULL) == 2, "still refused");
  dt_write_file(path, raw, sizeof raw - 1);
  CHECK(run_prep("idx", "--train", path, "--out", dst, NULL, NULL, NULL) == 0,
        "a raw 2-image IDX file is fine:\n%s", out);
  dt_rm_rf(dst);
}

/* A fresh 28x28 dataset "bad" (train 40 in 2 shards) at root/<tag>. */
static void fresh(char *dir, size_t n, const char *tag) {
  snprintf(dir, n, "%s/%s", root, tag);
  const char *splits[1] = {"train"};
  const int64_t counts[1] = {40};
  CHECK(dt_make_dataset(dir, "bad", 28, 28, 1, 1, splits, counts, 2) == 0, "make %s", tag);
}

static void expect_open_error(const char *dir, int world, int batch, int checksums,
                              const char *needle1, const char *needle2) {
  loader_opts o;
  loader_opts_default(&o);
  o.path = dir;
  o.split = "train";
  o.world_size = world;
  o.batch_size = batch;
  o.verify_checksums = checksums;
  loader *l = NULL;
  nvae_err e;
  nvae_err_clear(&e);
  int rc = loader_open(&l, &o, &e);
  CHECK(rc == 2 && l == NULL, "%s: loader_open returned %d, expected 2", dir, rc);
  CHECK(strstr(e.msg, needle1) && (!needle2 || strstr(e.msg, needle2)) && !strchr(e.msg, '\n'),
        "%s: message should be one line naming '%s'%s%s: %s", dir, needle1, needle2 ? " and " : "",
        needle2 ? needle2 : "", e.msg);
  if (l) loader_close(l);
  printf("  expected error: %s\n", e.msg);
}

static void loader_errors(void) {
  char dir[300], shard[400], path[400];
  const char *s0 = "bad-train-00000-of-00002.h5";

  fresh(dir, sizeof dir, "ok");
  loader_opts o;
  loader_opts_default(&o);
  o.path = dir;
  o.split = "train";
  o.verify_checksums = 1;
  loader *l = NULL;
  nvae_err e;
  CHECK(loader_open(&l, &o, &e) == 0, "the untouched dataset opens: %s", e.msg);
  loader_close(l);
  expect_open_error(dir, 4, 16, 0, "fewer than one global batch", "'bad'");
  o.split = "valid";
  CHECK(loader_open(&l, &o, &e) == 2 && strstr(e.msg, "no split 'valid'"), "missing split: %s",
        e.msg);

  fresh(dir, sizeof dir, "missing");
  snprintf(shard, sizeof shard, "%s/%s", dir, s0);
  unlink(shard);
  expect_open_error(dir, 1, 4, 0, s0, "missing");

  fresh(dir, sizeof dir, "noyaml");
  snprintf(path, sizeof path, "%s/dataset.yaml", dir);
  unlink(path);
  expect_open_error(dir, 1, 4, 0, "dataset.yaml", "missing");

  uint8_t *bytes;
  size_t n;
  fresh(dir, sizeof dir, "truncated");
  snprintf(shard, sizeof shard, "%s/%s", dir, s0);
  dt_read_file(shard, &bytes, &n);
  dt_write_file(shard, bytes, n * 2 / 3);
  expect_open_error(dir, 1, 4, 0, s0, "truncated");
  dt_write_file(shard, bytes, n - 1);
  expect_open_error(dir, 1, 4, 0, s0, NULL);

  fresh(dir, sizeof dir, "nothdf5");
  snprintf(shard, sizeof shard, "%s/%s", dir, s0);
  dt_write_file(shard, "just some text, not HDF5\n", 25);
  expect_open_error(dir, 1, 4, 0, s0, "HDF5");

  fresh(dir, sizeof dir, "bitflip");
  snprintf(shard, sizeof shard, "%s/%s", dir, s0);
  bytes[n - 100] ^= 0x10; /* in the last image's pixels: invisible to HDF5, caught by SHA-256 */
  dt_write_file(shard, bytes, n);
  expect_open_error(dir, 1, 4, 1, s0, "SHA-256 mismatch");
  free(bytes);

  /* wrong shape: a 27x28 shard in a 28x28 dataset */
  fresh(dir, sizeof dir, "shape");
  snprintf(shard, sizeof shard, "%s/%s", dir, s0);
  unlink(shard);
  uint8_t img[20 * 27 * 28] = {0};
  shard_meta m = {"bad", "train", "synthetic", "none", {0}, "none", 27, 28, 1, 0, 2};
  CHECK(shard_write(shard, &m, img, NULL, 20, &e) == 0, "write: %s", e.msg);
  expect_open_error(dir, 1, 4, 0, s0, "27x28x1");

  /* wrong count in dataset.yaml (split and shard agree with each other, not with the file) */
  fresh(dir, sizeof dir, "count");
  snprintf(path, sizeof path, "%s/dataset.yaml", dir);
  dataset_info d;
  CHECK(dataset_yaml_read(path, &d, &e) == 0, "%s", e.msg);
  d.splits[0].shards[0].count += 1;
  d.splits[0].count += 1;
  unlink(path);
  dataset_yaml_write(path, &d, &e);
  dataset_info_free(&d);
  expect_open_error(dir, 1, 4, 0, s0, "dataset.yaml says 21 images, the shard has 20");

  /* a compressed (gzip) shard and a wrong dtype */
  const char *kinds[2] = {"gzip", "int16"};
  for (int k = 0; k < 2; k++) {
    fresh(dir, sizeof dir, kinds[k]);
    snprintf(shard, sizeof shard, "%s/%s", dir, s0);
    unlink(shard);
    hid_t file = H5Fcreate(shard, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[4] = {20, 28, 28, 1}, chunk[4] = {1, 28, 28, 1};
    hid_t space = H5Screate_simple(4, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, chunk);
    if (k == 0) H5Pset_deflate(dcpl, 4);
    hid_t ds = H5Dcreate2(file, "images", k ? H5T_STD_I16LE : H5T_STD_U8LE, space, H5P_DEFAULT,
                          dcpl, H5P_DEFAULT);
    static uint8_t zeros[20 * 28 * 28 * 2];
    H5Dwrite(ds, k ? H5T_NATIVE_INT16 : H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Fclose(file);
    expect_open_error(dir, 1, 4, 0, s0, k ? "uint8" : "compressed");
  }
}

int main(int argc, char **argv) {
  if (argc < 2) return test_skip("test_dataset_errors", "usage: test_dataset_errors NVAE_PREP");
  prep = argv[1];
  dt_mkdtemp(root, sizeof root, "errors");
  prep_errors();
  loader_errors();
  dt_rm_rf(root);
  return test_finish("test_dataset_errors");
}
