/* dataset.yaml: a written description reads back identically; malformed or unsafe descriptions
 * are errors naming file:line and the key. */
#include "dataset/dataset_yaml.h"
#include "tests/dataset/dataset_testutil.h"
#include "tests/test_util.h"

#include <stdio.h>
#include <string.h>

static const char *GOOD = "format: nvae-dataset\n"
                          "format_version: 1\n"
                          "name: \"demo\"\n"
                          "image: {height: 4, width: 5, channels: 3}\n"
                          "splits:\n"
                          "  train:\n"
                          "    count: 3\n"
                          "    shards:\n"
                          "    - {file: \"demo-train-00000-of-00001.h5\", count: 3, sha256: "
                          "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}\n";

/* Parses GOOD with `from` replaced by `to`; expects an error mentioning `needle`. */
static void expect_error(const char *from, const char *to, const char *needle) {
  char text[2048];
  const char *at = strstr(GOOD, from);
  if (!at) {
    CHECK(0, "test bug: '%s' not in GOOD", from);
    return;
  }
  snprintf(text, sizeof text, "%.*s%s%s", (int)(at - GOOD), GOOD, to, at + strlen(from));
  dataset_info d;
  nvae_err e;
  nvae_err_clear(&e);
  int rc = dataset_yaml_parse("x/dataset.yaml", (const uint8_t *)text, strlen(text), &d, &e);
  CHECK(rc == 2 && strstr(e.msg, needle) && strstr(e.msg, "x/dataset.yaml"),
        "'%s' -> '%s': rc %d, message '%s' should name the file and mention '%s'", from, to, rc,
        e.msg, needle);
  dataset_info_free(&d);
}

int main(void) {
  dataset_info d;
  nvae_err e;
  CHECK(dataset_yaml_parse("good", (const uint8_t *)GOOD, strlen(GOOD), &d, &e) == 0, "good: %s",
        e.msg);
  CHECK(d.height == 4 && d.width == 5 && d.channels == 3 && d.n_splits == 1 &&
            d.splits[0].count == 3 && d.splits[0].n_shards == 1 && !strcmp(d.name, "demo"),
        "good parsed wrongly");
  dataset_info_free(&d);

  /* round trip through the writer */
  dataset_info w;
  memset(&w, 0, sizeof w);
  w.format_version = 1;
  snprintf(w.name, sizeof w.name, "123"); /* looks like a number: must stay a string */
  snprintf(w.created_by, sizeof w.created_by, "t");
  snprintf(w.source_kind, sizeof w.source_kind, "celeba");
  w.n_source_files = 2;
  snprintf(w.source_files[0], FS_PATH_MAX, "/data/with space/and: colon");
  snprintf(w.source_files[1], FS_PATH_MAX, "yes");
  snprintf(w.crop, sizeof w.crop, "box");
  int box[4] = {15, 40, 163, 188};
  memcpy(w.crop_box, box, sizeof box);
  snprintf(w.resize, sizeof w.resize, "pil-bilinear-antialias");
  w.size = 64;
  w.height = w.width = 64;
  w.channels = 3;
  w.n_splits = 2;
  dataset_shard_entry sh[3] = {{"a-train-00000-of-00002.h5", 5, ""},
                               {"a-train-00001-of-00002.h5", 6, ""},
                               {"a-valid-00000-of-00001.h5", 2, ""}};
  for (int i = 0; i < 3; i++)
    memset(sh[i].sha256, 'a' + i, 64), sh[i].sha256[64] = 0;
  snprintf(w.splits[0].name, 16, "train");
  w.splits[0].count = 11;
  w.splits[0].skipped = 1;
  w.splits[0].n_shards = 2;
  w.splits[0].shards = sh;
  snprintf(w.splits[1].name, 16, "valid");
  w.splits[1].count = 2;
  w.splits[1].n_shards = 1;
  w.splits[1].shards = sh + 2;
  char dir[256], path[300];
  dt_mkdtemp(dir, sizeof dir, "yaml");
  snprintf(path, sizeof path, "%s/dataset.yaml", dir);
  CHECK(dataset_yaml_write(path, &w, &e) == 0, "write: %s", e.msg);
  CHECK(dataset_yaml_write(path, &w, &e) != 0, "writing over an existing file must fail");
  CHECK(dataset_yaml_read(path, &d, &e) == 0, "read back: %s", e.msg);
  CHECK(!strcmp(d.name, "123") && !strcmp(d.source_files[0], w.source_files[0]) &&
            !strcmp(d.source_files[1], "yes") && d.n_source_files == 2 &&
            !memcmp(d.crop_box, box, sizeof box) && !strcmp(d.crop, "box") && d.size == 64 &&
            !strcmp(d.resize, w.resize),
        "round trip of the header fields");
  CHECK(d.n_splits == 2 && d.splits[0].count == 11 && d.splits[0].skipped == 1 &&
            d.splits[0].n_shards == 2 && d.splits[1].n_shards == 1,
        "round trip of the splits");
  for (int s = 0, k = 0; s < d.n_splits; s++)
    for (int j = 0; j < d.splits[s].n_shards; j++, k++)
      CHECK(!strcmp(d.splits[s].shards[j].file, sh[k].file) &&
                d.splits[s].shards[j].count == sh[k].count &&
                !strcmp(d.splits[s].shards[j].sha256, sh[k].sha256),
            "round trip of shard %d", k);
  CHECK(dataset_info_split(&d, "valid") == &d.splits[1] && !dataset_info_split(&d, "test"),
        "dataset_info_split");
  dataset_info_free(&d);
  dt_rm_rf(dir);

  /* errors */
  expect_error("format_version: 1", "format_version: 2", "newer nvae-prep");
  expect_error("format_version: 1", "format_version: one", "format_version");
  expect_error("format: nvae-dataset", "format: other", "format");
  expect_error("name: \"demo\"\n", "name: \"demo\"\nname: \"again\"\n", "duplicate key 'name'");
  expect_error("name: \"demo\"\n", "nmae: \"demo\"\n", "unknown key 'nmae'");
  expect_error("channels: 3", "channels: 5", "image.channels");
  expect_error("height: 4,", "", "image.height: missing");
  expect_error("count: 3\n", "count: 4\n", "shards hold 3");
  expect_error("count: 3, sha256", "count: -3, sha256", "count");
  expect_error("\"demo-train-00000-of-00001.h5\"", "\"../etc/passwd\"", "not a plain file name");
  expect_error("\"demo-train-00000-of-00001.h5\"", "\"a/b.h5\"", "not a plain file name");
  expect_error("0123456789abcdef0123", "0123456789ABCDEF0123", "hex");
  expect_error("  train:\n", "  training:\n", "unknown key 'training'");
  expect_error("image: {", "image: [", "YAML syntax error");
  expect_error("format: nvae-dataset\n", "- a\n", "");
  return test_finish("test_dataset_yaml");
}
