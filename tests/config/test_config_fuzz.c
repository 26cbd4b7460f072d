/* Mutation fuzzing of the config reader: thousands of inputs made from the shipped configs by
 * truncation, byte flips, inserted YAML-significant characters, duplicated and spliced lines and
 * hostile values, read from memory (config_load_string, so no temp files). Every input must give
 * rc 0 or 2 with a one-line message that names the file; an accepted input must validate without
 * crashing and survive write -> load unchanged. Overrides get the same treatment.
 *
 * Crashes, leaks and out-of-bounds reads are what the NVAE_SANITIZE build of this test catches:
 * each input sits in a buffer of exactly its length, not NUL-terminated. Hangs hit ctest's timeout.
 * The mutations are deterministic (a fixed seed), so a failure reproduces; NVAE_FUZZ_ITERS
 * changes the number of inputs and NVAE_FUZZ_SEED the seed.
 */
#define _POSIX_C_SOURCE 200809L
#include "tests/test_util.h"
#include "trainer/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  char *p;
  size_t len;
} text;

static uint64_t rng_state = 0x5eed0fc0ff1cULL;
static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static text read_file(const char *path) {
  text t = {NULL, 0};
  FILE *f = fopen(path, "rb");
  if (!f) return t;
  size_t cap = 1 << 16;
  t.p = malloc(cap);
  t.len = fread(t.p, 1, cap, f);
  fclose(f);
  return t;
}

static const char *const tokens[] = {
    "yes",
    "null",
    "~",
    "1e999",
    "-1",
    "auto",
    "[1, 2]",
    "{a: 1}",
    "&a x",
    "*a",
    "!!str 3",
    "\"open",
    "'open",
    "99999999999999999999",
    ".5",
    "1.0e-3",
    "true",
    "-",
    "? x",
    "|\n  block",
    ">\n  folded",
    "[",
    "]",
    "{",
    "}",
    "\"\\0\"",
    "\"\\x41\"",
    "0x10",
    "nan",
    "",
    "  ",
    "\t",
    "a: b: c",
    "- - -",
    "--- ",
    "...",
    "%YAML 1.1",
    "#",
    "@",
    "`",
    "\xc3\xa9",
    "\xff\xfe",
    "model.num_nf",
    "[0.9, 0.999, 0.5]",
    "[[1]]",
    "[]",
    "{}",
    "<<: *a",
};
static const char inserts[] = "\t:\"'[]{}-#&*!\n \\,?|>%@`";

/* Returns a new buffer of exactly the mutated length. */
static text mutate(const text *seeds, int nseeds, const text *in) {
  size_t cap = in->len * 2 + 4096;
  char *b = malloc(cap);
  size_t n = in->len;
  memcpy(b, in->p, n);
  int ops = 1 + (int)below(4);
  for (int op = 0; op < ops; op++) {
    size_t at = below(n + 1);
    switch (below(8)) {
    case 0: n = at; break; /* truncate */
    case 1:                /* flip a bit */
      if (n) b[below(n)] ^= (char)(1u << below(8));
      break;
    case 2: { /* insert a YAML-significant byte (or NUL, or a non-UTF-8 byte) */
      char c = below(10) == 0 ? (char)(below(2) ? 0 : 0xff) : inserts[below(sizeof inserts - 1)];
      if (n + 1 < cap) {
        memmove(b + at + 1, b + at, n - at);
        b[at] = c;
        n++;
      }
      break;
    }
    case 3: { /* delete a range */
      size_t len = below(32);
      if (at + len > n) len = n - at;
      memmove(b + at, b + at + len, n - at - len);
      n -= len;
      break;
    }
    case 4: { /* duplicate a line: duplicate keys */
      size_t s = at;
      while (s > 0 && b[s - 1] != '\n')
        s--;
      size_t e = at;
      while (e < n && b[e] != '\n')
        e++;
      if (e < n) e++;
      size_t len = e - s;
      if (n + len < cap) {
        memmove(b + e + len, b + e, n - e);
        memcpy(b + e, b + s, len);
        n += len;
      }
      break;
    }
    case 5: { /* replace the value after a ':' with a hostile token */
      char *colon = memchr(b + at, ':', n - at);
      if (!colon) break;
      size_t vs = (size_t)(colon - b) + 1, ve = vs;
      while (ve < n && b[ve] != '\n')
        ve++;
      const char *t = tokens[below(sizeof tokens / sizeof tokens[0])];
      size_t tl = strlen(t) + 1;
      if (n - (ve - vs) + tl < cap) {
        memmove(b + vs + tl, b + ve, n - ve);
        b[vs] = ' ';
        memcpy(b + vs + 1, t, tl - 1);
        n = n - (ve - vs) + tl;
      }
      break;
    }
    case 6: { /* splice a line of another config */
      const text *o = &seeds[below((size_t)nseeds)];
      if (!o->len) break;
      size_t s = below(o->len);
      while (s > 0 && o->p[s - 1] != '\n')
        s--;
      size_t e = s;
      while (e < o->len && o->p[e] != '\n')
        e++;
      size_t len = e - s + (e < o->len);
      if (n + len < cap) {
        memmove(b + at + len, b + at, n - at);
        memcpy(b + at, o->p + s, len);
        n += len;
      }
      break;
    }
    case 7: { /* change the indentation of a line */
      size_t s = at;
      while (s > 0 && b[s - 1] != '\n')
        s--;
      if (below(2) && n + 3 < cap) {
        memmove(b + s + 3, b + s, n - s);
        memcpy(b + s, "   ", 3);
        n += 3;
      } else if (s < n && b[s] == ' ') {
        memmove(b + s, b + s + 1, n - s - 1);
        n--;
      }
      break;
    }
    }
  }
  text out = {malloc(n ? n : 1), n};
  memcpy(out.p, b, n);
  free(b);
  return out;
}

static int accepted = 0, rejected = 0;

static void check_result(int rc, const nvae_err *e, const char *prefix, const char *what) {
  CHECK(rc == 0 || rc == NVAE_EXIT_USAGE, "%s: rc %d", what, rc);
  if (rc == 0) {
    accepted++;
    return;
  }
  rejected++;
  CHECK(e->msg[0] != '\0', "%s: empty message", what);
  CHECK(strchr(e->msg, '\n') == NULL && strchr(e->msg, '\r') == NULL,
        "%s: message is not one line: %s", what, e->msg);
  CHECK(strncmp(e->msg, prefix, strlen(prefix)) == 0, "%s: message does not start with %s: %s",
        what, prefix, e->msg);
}

/* An accepted config must validate (either way) and survive write -> load unchanged. */
static void check_accepted(const nvae_config *c, const char *what) {
  nvae_err e;
  int rc = config_validate(c, &e);
  CHECK(rc == 0 || (rc == NVAE_EXIT_USAGE && strchr(e.msg, '\n') == NULL), "%s: validate", what);
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  if (!f) return;
  config_write_yaml(c, f);
  fclose(f);
  nvae_config back;
  rc = config_load_string(out, len, "resolved", &back, &e);
  CHECK(rc == 0, "%s: written config does not load: %s", what, e.msg);
  const char *d = rc == 0 ? config_first_difference(c, &back, "") : NULL;
  CHECK(d == NULL, "%s: round trip changes %s", what, d ? d : "");
  free(out);
}

static void fuzz_overrides(int iters) {
  nvae_config c;
  config_defaults(&c);
  for (int i = 0; i < iters; i++) {
    const config_key *k = &config_keys[below((size_t)config_num_keys)];
    char assign[512];
    const char *tok = below(3) ? tokens[below(sizeof tokens / sizeof tokens[0])] : k->def;
    int n = snprintf(assign, sizeof assign, "%s=%s", k->name ? k->name : "", tok ? tok : "");
    /* Mutate the assignment a little: typos in the key, stray characters in the value. */
    for (int m = (int)below(3); m > 0 && n > 1; m--) {
      size_t at = below((size_t)n);
      char ch = inserts[below(sizeof inserts - 1)];
      assign[at] = below(4) ? ch : (char)('a' + below(26));
    }
    nvae_err e;
    char what[64];
    snprintf(what, sizeof what, "override #%d", i);
    int rc = config_apply_override(&c, assign, &e);
    check_result(rc, &e, "override '", what);
  }
  check_accepted(&c, "after the overrides");
}

int main(void) {
  const char *dir = getenv("NVAE_SOURCE_DIR");
  if (!dir) dir = ".";
  const char *names[] = {"celeba64.yaml", "mnist.yaml", "tiny.yaml", "tutorial.yaml",
                         "fmnist-small.yaml"};
  enum { NSEEDS = 6 };
  text seeds[NSEEDS];
  for (int i = 0; i < 5; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/%s", dir, names[i]);
    seeds[i] = read_file(path);
    CHECK(seeds[i].p && seeds[i].len > 0, "cannot read seed %s", path);
    if (!seeds[i].p) return test_finish("test_config_fuzz");
  }
  /* A seed with flow style, lists and quoting, which the shipped files lack. */
  const char *extra = "device: cpu\nmodel: {num_nf: 1, decoder: 'dmol'}\noptim:\n  betas:\n"
                      "    - 0.5\n    - 0.9\ndata:\n  path: \"a b\"\neval: {every_steps: 5}\n";
  seeds[5].len = strlen(extra);
  seeds[5].p = malloc(seeds[5].len);
  memcpy(seeds[5].p, extra, seeds[5].len);

  int iters = 20000; /* about 1 s in Release, 5 s with ASan */
  if (getenv("NVAE_FUZZ_ITERS")) iters = atoi(getenv("NVAE_FUZZ_ITERS"));
  if (getenv("NVAE_FUZZ_SEED")) rng_state = strtoull(getenv("NVAE_FUZZ_SEED"), NULL, 0);
  clock_t t0 = clock();
  for (int s = 0; s < NSEEDS; s++) { /* the unmutated seeds load */
    nvae_config c;
    nvae_err e;
    int rc = config_load_string(seeds[s].p, seeds[s].len, "fuzz.yaml", &c, &e);
    CHECK(rc == 0, "seed %d: %s", s, e.msg);
  }
  for (int i = 0; i < iters; i++) {
    text in = mutate(seeds, NSEEDS, &seeds[below(NSEEDS)]);
    nvae_config c;
    nvae_err e;
    char what[64];
    snprintf(what, sizeof what, "input #%d (%zu bytes)", i, in.len);
    int rc = config_load_string(in.p, in.len, "fuzz.yaml", &c, &e);
    check_result(rc, &e, "fuzz.yaml", what);
    if (rc == 0) check_accepted(&c, what);
    free(in.p);
  }
  fuzz_overrides(iters / 2);
  printf("test_config_fuzz: %d inputs + %d overrides, %d accepted, %d rejected, %.1f s CPU\n",
         iters, iters / 2, accepted, rejected, (double)(clock() - t0) / CLOCKS_PER_SEC);
  for (int s = 0; s < NSEEDS; s++)
    free(seeds[s].p);
  CHECK(rejected > iters / 10 && accepted > iters / 20,
        "the mutations should produce both valid and invalid inputs");
  return test_finish("test_config_fuzz");
}
