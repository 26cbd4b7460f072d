/* SHA-256 against the FIPS 180-4 / NIST example vectors, fed whole and in odd pieces, and
 * sha256_file on a file with a known hash. */
#include "dataset/sha256.h"
#include "tests/dataset/dataset_testutil.h"
#include "tests/test_util.h"

#include <stdlib.h>
#include <string.h>

static void hash_pieces(const uint8_t *msg, size_t n, size_t piece, char hex[65]) {
  sha256_ctx c;
  uint8_t d[32];
  sha256_init(&c);
  for (size_t i = 0; i < n; i += piece)
    sha256_update(&c, msg + i, n - i < piece ? n - i : piece);
  sha256_final(&c, d);
  sha256_hex(d, hex);
}

static void check_vector(const char *msg, size_t n, const char *want) {
  const size_t pieces[] = {n ? n : 1, 1, 3, 63, 64, 65, 1000};
  for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
    char hex[65];
    hash_pieces((const uint8_t *)msg, n, pieces[p], hex);
    CHECK(!strcmp(hex, want), "sha256 of %zu bytes in pieces of %zu: %s, want %s", n, pieces[p],
          hex, want);
  }
}

int main(void) {
  check_vector("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  check_vector("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  check_vector(m448, strlen(m448),
               "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const char *m896 =
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
      "klmnopqrlmnopqrsmnopqrstnopqrstu";
  check_vector(m896, strlen(m896),
               "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  size_t mill = 1000000;
  char *a = malloc(mill);
  memset(a, 'a', mill);
  check_vector(a, mill, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

  char dir[256], path[300], hex[65];
  dt_mkdtemp(dir, sizeof dir, "sha");
  snprintf(path, sizeof path, "%s/a.bin", dir);
  CHECK(dt_write_file(path, a, mill) == 0, "write %s", path);
  nvae_err e;
  CHECK(sha256_file(path, hex, &e) == 0, "sha256_file: %s", e.msg);
  CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
        "sha256_file: %s", hex);
  snprintf(path, sizeof path, "%s/missing.bin", dir);
  CHECK(sha256_file(path, hex, &e) == 2 && strstr(e.msg, "missing.bin"),
        "missing file must be an error naming it: %s", e.msg);
  free(a);
  dt_rm_rf(dir);
  return test_finish("test_dataset_sha256");
}
