/* The configuration system: the key table, every error class (exact file:line:column and the key
 * named), overrides, validation rules, round trip (write -> load -> equal), the official defaults
 * and the five shipped configs (against the official state_dict headers in tests/data). */
#define _POSIX_C_SOURCE 200809L
#include "tests/test_util.h"
#include "trainer/config.h"

#include <stdlib.h>
#include <string.h>

static const char *source_dir(void) {
  const char *d = getenv("NVAE_SOURCE_DIR");
  return d ? d : ".";
}

static int load(const char *text, nvae_config *c, nvae_err *e) {
  return config_load_string(text, strlen(text), "t.yaml", c, e);
}

/* One error case: rc 2, the message starts with `where` (file:line:column), contains `what`
 * (and `what2` when given), and is one line. */
static void expect_error_at(int line, int rc, const nvae_err *e, const char *where,
                            const char *what, const char *what2) {
  CHECK(rc == NVAE_EXIT_USAGE, "line %d: rc %d, want 2 (msg: %s)", line, rc, e->msg);
  CHECK(e->code == NVAE_EXIT_USAGE, "line %d: e.code %d", line, e->code);
  CHECK(strncmp(e->msg, where, strlen(where)) == 0,
        "line %d: message\n    %s\n  should start "
        "with\n    %s",
        line, e->msg, where);
  CHECK(strstr(e->msg, what) != NULL, "line %d: message\n    %s\n  should contain\n    %s", line,
        e->msg, what);
  if (what2)
    CHECK(strstr(e->msg, what2) != NULL, "line %d: message\n    %s\n  should contain\n    %s", line,
          e->msg, what2);
  CHECK(strchr(e->msg, '\n') == NULL, "line %d: message has a newline: %s", line, e->msg);
}

#define EXPECT_LOAD_ERROR(text, where, what, what2)                                                \
  do {                                                                                             \
    nvae_config c_;                                                                                \
    nvae_err e_;                                                                                   \
    int rc_ = load(text, &c_, &e_);                                                                \
    expect_error_at(__LINE__, rc_, &e_, where, what, what2);                                       \
  } while (0)

#define EXPECT_OVERRIDE_ERROR(assign, what, what2)                                                 \
  do {                                                                                             \
    nvae_config c_, before_;                                                                       \
    nvae_err e_;                                                                                   \
    config_defaults(&c_);                                                                          \
    before_ = c_;                                                                                  \
    int rc_ = config_apply_override(&c_, assign, &e_);                                             \
    char where_[256] = "override '";                                                               \
    for (const char *p_ = assign; *p_; p_++) /* messages show a newline as \n */                   \
      strcat(where_, *p_ == '\n' ? "\\n" : (char[2]){*p_, 0});                                     \
    strcat(where_, "': ");                                                                         \
    expect_error_at(__LINE__, rc_, &e_, where_, what, what2);                                      \
    CHECK(config_first_difference(&c_, &before_, "") == NULL, "failed override changed cfg");      \
  } while (0)

/* ---- the table itself --------------------------------------------------------------------- */
static void test_schema(void) {
  const char *section = "";
  for (int i = 0; i < config_num_keys; i++) {
    const config_key *k = &config_keys[i];
    CHECK(k->help && k->help[0], "%s: no help text", k->name);
    CHECK(config_find_key(k->name, strlen(k->name)) == k, "%s: name not unique", k->name);
    if (k->type == CONFIG_SECTION) {
      section = k->name;
      CHECK(strchr(k->name, '.') == NULL, "section %s has a dot", k->name);
      continue;
    }
    /* Keys follow their section's row (the writer and the docs rely on the order). */
    const char *dot = strchr(k->name, '.');
    if (dot)
      CHECK(strlen(section) == (size_t)(dot - k->name) &&
                strncmp(k->name, section, strlen(section)) == 0,
            "%s is not under its section row (current section '%s')", k->name, section);
    else
      CHECK(section[0] == '\0', "top-level key %s after a section", k->name);
    size_t want = 0;
    switch (k->type) {
    case CONFIG_INT:
    case CONFIG_ENUM: want = sizeof(int); break;
    case CONFIG_INT64: want = sizeof(int64_t); break;
    case CONFIG_FLOAT: want = sizeof(double); break;
    case CONFIG_BOOL: want = sizeof(bool); break;
    case CONFIG_STRING: want = k->size; break;
    case CONFIG_FLOAT_LIST: want = k->size - k->size % sizeof(double); break;
    case CONFIG_SECTION: break;
    }
    CHECK(k->size == want && k->size > 0, "%s: field size %zu does not fit its type", k->name,
          k->size);
    CHECK(k->offset + k->size <= sizeof(nvae_config), "%s: offset out of the struct", k->name);
    if (k->type == CONFIG_ENUM) CHECK(k->choices && k->choices[0], "%s: no choices", k->name);
    if (k->unset)
      CHECK((strcmp(k->unset, "null") == 0 || strcmp(k->unset, "auto") == 0) &&
                k->set_offset + sizeof(bool) <= sizeof(nvae_config),
            "%s: bad unset word or flag", k->name);
    if (k->min_kind && k->max_kind) CHECK(k->min <= k->max, "%s: empty range", k->name);
  }

  /* Enum name lists in the order of the C enums. */
  struct {
    const char *key;
    int value;
    const char *name;
  } enums[] = {
      {"device", NVAE_DEVICE_CUDA, "cuda"},
      {"model.arch_instance", NVAE_ARCH_RES_MBCONV, "res_mbconv"},
      {"model.decoder", NVAE_DECODER_DMOL, "dmol"},
      {"model.decoder", NVAE_DECODER_BERNOULLI, "bernoulli"},
      {"model.decoder", NVAE_DECODER_NORMAL, "normal"},
      {"data.binarize", NVAE_BINARIZE_DYNAMIC, "dynamic"},
      {"train.kl_balance_scope", NVAE_KL_SCOPE_LOCAL, "local"},
      {"optim.name", NVAE_OPTIM_ADAM, "adam"},
      {"optim.schedule", NVAE_SCHEDULE_STEP, "step"},
      {"comm.transport", NVAE_TRANSPORT_NCCL, "nccl"},
      {"comm.transport", NVAE_TRANSPORT_MPI, "mpi"},
  };
  for (size_t i = 0; i < sizeof enums / sizeof enums[0]; i++) {
    const config_key *k = config_find_key(enums[i].key, strlen(enums[i].key));
    CHECK(k && strcmp(k->choices[enums[i].value], enums[i].name) == 0, "enum order of %s",
          enums[i].key);
  }

  /* Every default read the way an override reads it gives what config_defaults gives. */
  nvae_config d;
  config_defaults(&d);
  for (int i = 0; i < config_num_keys; i++) {
    const config_key *k = &config_keys[i];
    if (k->type == CONFIG_SECTION) continue;
    nvae_config c = d;
    char assign[256];
    nvae_err e;
    snprintf(assign, sizeof assign, "%s=%s", k->name, k->def);
    CHECK(config_apply_override(&c, assign, &e) == 0, "default %s: %s", assign, e.msg);
    CHECK(config_first_difference(&c, &d, "") == NULL, "default of %s differs", k->name);
  }

  /* Did-you-mean. */
  const config_key *s = config_suggest_key("model.num_channel_enc", 21);
  CHECK(s && strcmp(s->name, "model.num_channels_enc") == 0, "suggest num_channels_enc");
  s = config_suggest_key("optim.learning_rate", 19);
  CHECK(s == NULL || s->name[0], "suggestion for a long typo does not crash");
  CHECK(config_suggest_key("zzzzzz", 6) == NULL, "no suggestion for garbage");
}

/* ---- official defaults (NVAE.md §3.2, §3.6, §4.1, §4.2, §5.1; train.py argparse) ------------ */
static void test_defaults(void) {
  nvae_config c;
  config_defaults(&c);
  CHECK(c.device == NVAE_DEVICE_AUTO, "device");
  /* §5.1 "Defaults used by all three". */
  CHECK(c.optim.lr == 1e-2, "lr 1e-2");
  CHECK(c.optim.lr_min == 1e-4, "lr_min 1e-4");
  CHECK(c.optim.weight_decay == 3e-4, "weight_decay 3e-4");
  CHECK(c.optim.warmup_epochs == 5, "warmup_epochs 5");
  CHECK(!c.optim.warmup_steps_set, "warmup_steps unset");
  CHECK(c.train.kl_anneal_portion == 0.3, "kl_anneal_portion 0.3");
  CHECK(c.train.kl_const_portion == 1e-4, "kl_const_portion 1e-4");
  CHECK(c.train.kl_const_coeff == 1e-4, "kl_const_coeff 1e-4");
  CHECK(c.model.num_x_bits == 8, "num_x_bits 8");
  CHECK(c.model.num_mixture_dec == 10, "num_mixture_dec 10");
  CHECK(c.model.min_groups_per_scale == 1, "min_groups_per_scale 1");
  CHECK(!c.train.weight_decay_norm_anneal, "weight_decay_norm_anneal off");
  CHECK(c.train.seed == 1, "seed 1");
  CHECK(c.model.arch_instance == NVAE_ARCH_RES_MBCONV, "res_mbconv");
  /* §3.6, §4.1. */
  CHECK(c.train.weight_decay_norm_init == 10.0, "weight_decay_norm_init 10");
  CHECK(c.optim.name == NVAE_OPTIM_ADAMAX, "adamax");
  CHECK(c.optim.betas[0] == 0.9 && c.optim.betas[1] == 0.999, "betas");
  CHECK(c.optim.eps == 1e-3, "eps 1e-3");
  CHECK(c.optim.schedule == NVAE_SCHEDULE_COSINE, "cosine");
  CHECK(c.train.grad_clip == 0.0, "no clipping");
  CHECK(!c.train.kl_beta_set, "kl_beta unset = warm-up");
  CHECK(c.train.kl_balance, "kl_balance");
  /* train.py argparse defaults for the architecture. */
  CHECK(c.model.num_channels_enc == 32 && c.model.num_channels_dec == 32, "channels 32");
  CHECK(c.model.num_preprocess_blocks == 2 && c.model.num_preprocess_cells == 3, "pre 2x3");
  CHECK(c.model.num_postprocess_blocks == 2 && c.model.num_postprocess_cells == 3, "post 2x3");
  CHECK(c.model.num_latent_scales == 1 && c.model.num_groups_per_scale == 10, "1 scale x 10");
  CHECK(!c.model.ada_groups && c.model.num_latent_per_group == 20, "ada off, L 20");
  CHECK(c.model.num_cell_per_cond_enc == 1 && c.model.num_cell_per_cond_dec == 1, "cells 1/1");
  CHECK(c.model.num_nf == 0, "num_nf 0");
  CHECK(c.model.use_se && c.model.res_dist, "use_se, res_dist (every README command)");
  CHECK(c.model.decoder == NVAE_DECODER_DMOL && c.model.dmol_upper_edge == 0.99, "dmol 0.99");
  CHECK(c.train.batch_size == 200 && c.train.epochs == 200, "batch 200, epochs 200");
  CHECK(c.train.weight_decay_norm == 0.0, "weight_decay_norm 0 (official argparse)");
  /* DESIGN.md §6 and the issue. */
  CHECK(c.train.kl_balance_scope == NVAE_KL_SCOPE_GLOBAL, "kl_balance_scope global");
  CHECK(c.train.max_steps == 0, "max_steps 0");
  CHECK(c.eval.max_images == 1000, "eval.max_images 1000");
  CHECK(!c.eval.every_epochs_set && !c.eval.every_steps_set && c.eval.iw_samples == 10, "eval");
  CHECK(c.comm.bucket_mb == 25.0 && c.comm.timeout_s == 600.0, "comm");
  CHECK(c.comm.transport == NVAE_TRANSPORT_AUTO, "transport auto");
  CHECK(c.checkpoint.keep_last == 3, "keep_last");
  CHECK(!c.data.path_set && c.data.path[0] == '\0', "data.path unset");
  CHECK(strcmp(c.data.split_train, "train") == 0 && strcmp(c.data.split_valid, "valid") == 0,
        "splits");
  CHECK(!c.data.flip_set && !c.data.pad_to_set, "flip, pad_to auto");
  CHECK(c.data.binarize == NVAE_BINARIZE_NONE, "binarize none");
  nvae_err e;
  CHECK(config_validate(&c, &e) == 0, "defaults validate: %s", e.msg);
}

/* ---- error classes ----------------------------------------------------------------------------
 */
static void test_errors(void) {
  /* Unknown keys, with suggestions. */
  EXPECT_LOAD_ERROR("model:\n  num_channel_enc: 64\n",
                    "t.yaml:2:3: ", "unknown key 'model.num_channel_enc'",
                    "did you mean 'model.num_channels_enc'?");
  EXPECT_LOAD_ERROR("modle:\n  num_nf: 1\n", "t.yaml:1:1: ", "unknown key 'modle'",
                    "did you mean 'model'?");
  EXPECT_LOAD_ERROR("train:\n  lr: 0.1\n", "t.yaml:2:3: ", "unknown key 'train.lr'",
                    "did you mean 'optim.lr'?");
  EXPECT_LOAD_ERROR("batch_size: 8\n", "t.yaml:1:1: ", "unknown key 'batch_size'",
                    "did you mean 'train.batch_size'?");
  EXPECT_LOAD_ERROR("train.batch_size: 8\n", "t.yaml:1:1: ", "'train.batch_size'",
                    "dotted names are for overrides");
  EXPECT_LOAD_ERROR("model:\n  zzzzzz: 1\n", "t.yaml:2:3: ", "unknown key 'model.zzzzzz'",
                    "docs/config.md");

  /* Duplicate keys and sections: both lines named. */
  EXPECT_LOAD_ERROR("model:\n  num_nf: 1\n  use_se: true\n  num_nf: 2\n",
                    "t.yaml:4:3: ", "duplicate key 'model.num_nf'",
                    "first set at line 2, again at line 4");
  EXPECT_LOAD_ERROR("model:\n  num_nf: 1\ntrain:\n  seed: 2\nmodel:\n  use_se: true\n",
                    "t.yaml:5:1: ", "duplicate key 'model'",
                    "first set at line 1, again at line 5");

  /* Wrong types. */
  EXPECT_LOAD_ERROR("train:\n  batch_size: 8.5\n", "t.yaml:2:15: ", "key 'train.batch_size'",
                    "expected an integer in [1, 1048576], found '8.5' (not a whole number)");
  EXPECT_LOAD_ERROR("train:\n  batch_size: \"8\"\n", "t.yaml:2:15: ", "key 'train.batch_size'",
                    "found the quoted string '8'");
  EXPECT_LOAD_ERROR("train:\n  sync_bn: yes\n", "t.yaml:2:12: ", "key 'train.sync_bn'",
                    "expected true or false, found 'yes' (only true and false");
  EXPECT_LOAD_ERROR("train:\n  sync_bn: 1\n", "t.yaml:2:12: ", "key 'train.sync_bn'",
                    "found '1' (only true and false");
  EXPECT_LOAD_ERROR("model:\n  decoder: gaussian\n", "t.yaml:2:12: ", "key 'model.decoder'",
                    "expected one of dmol|bernoulli|normal, found 'gaussian'");
  EXPECT_LOAD_ERROR("optim:\n  lr: 1e-3x\n", "t.yaml:2:7: ", "key 'optim.lr'",
                    "expected a float in (0, 10], found '1e-3x'");
  EXPECT_LOAD_ERROR("optim:\n  lr: .inf\n", "t.yaml:2:7: ", "key 'optim.lr'", "found '.inf'");
  EXPECT_LOAD_ERROR("train:\n  seed:\n", "t.yaml:2:8: ", "key 'train.seed'",
                    "expected an integer >= 0, found no value (this key cannot be unset)");
  EXPECT_LOAD_ERROR("model:\n  use_se: null\n", "t.yaml:2:11: ", "key 'model.use_se'",
                    "expected true or false, found 'null' (this key cannot be unset)");
  EXPECT_LOAD_ERROR("train:\n  seed: 99999999999999999999\n", "t.yaml:2:9: ", "key 'train.seed'",
                    "(out of range)");

  /* Out of range. */
  EXPECT_LOAD_ERROR("optim:\n  lr: -1\n", "t.yaml:2:7: ", "key 'optim.lr'",
                    "expected a float in (0, 10], found '-1' (out of range)");
  EXPECT_LOAD_ERROR("model:\n  num_x_bits: 9\n", "t.yaml:2:15: ", "key 'model.num_x_bits'",
                    "expected an integer in [1, 8], found '9' (out of range)");
  EXPECT_LOAD_ERROR("optim:\n  betas: [0.9, 1.0]\n", "t.yaml:2:16: ", "key 'optim.betas'",
                    "element 2: expected a float in [0, 1), found '1.0' (out of range)");
  EXPECT_LOAD_ERROR("train:\n  kl_anneal_portion: 0\n",
                    "t.yaml:2:22: ", "key 'train.kl_anneal_portion'", "in (0, 1]");

  /* Mappings, lists and scalars in the wrong place. */
  EXPECT_LOAD_ERROR("model:\n  num_nf:\n    a: 1\n", "t.yaml:3:5: ", "key 'model.num_nf'",
                    "expected an integer in [0, 8], found a mapping");
  EXPECT_LOAD_ERROR("model: 5\n", "t.yaml:1:8: ", "key 'model'",
                    "expected a mapping of model.* keys, found the scalar '5'");
  EXPECT_LOAD_ERROR("model: [1]\n", "t.yaml:1:8: ", "key 'model'", "found a list");
  EXPECT_LOAD_ERROR("optim:\n  betas: 0.9\n", "t.yaml:2:10: ", "key 'optim.betas'",
                    "expected a list of 2 floats, each in [0, 1), found the scalar '0.9'");
  EXPECT_LOAD_ERROR("optim:\n  betas: [0.9]\n", "t.yaml:2:10: ", "key 'optim.betas'",
                    "found 1 element");
  EXPECT_LOAD_ERROR("optim:\n  betas: [0.9, 0.99, 0.5]\n", "t.yaml:2:22: ", "key 'optim.betas'",
                    "found more than 2 elements");
  EXPECT_LOAD_ERROR("optim:\n  betas: [[0.9], 0.99]\n", "t.yaml:2:11: ", "key 'optim.betas'",
                    "element 1: expected a number, found a list");
  EXPECT_LOAD_ERROR("train:\n  seed: [1, 2]\n", "t.yaml:2:9: ", "key 'train.seed'", "found a list");
  EXPECT_LOAD_ERROR("- model\n- train\n", "t.yaml:1:1: ",
                    "expected a mapping of sections (model:, train:, ...) at the top level",
                    "found a list");
  EXPECT_LOAD_ERROR("? [a]\n: 1\n", "t.yaml:1:3: ", "expected a key name", "found a list");

  /* YAML syntax errors: libyaml's problem and context, 1-based. */
  EXPECT_LOAD_ERROR("model:\n  decoder: \"dmol\n",
                    "t.yaml:3:1: ", "YAML syntax error: found unexpected end of stream",
                    "(while scanning a quoted scalar at line 2, column 12)");
  EXPECT_LOAD_ERROR("model:\n\tnum_nf: 1\n", "t.yaml:2:1: ",
                    "YAML syntax error: found character that cannot start any token",
                    "while scanning for the next token");
  EXPECT_LOAD_ERROR("data:\n  path: x\n   split_train: y\n", "t.yaml:3:15: ",
                    "YAML syntax error: mapping values are not allowed in this context", NULL);
  EXPECT_LOAD_ERROR("model:\n  num_nf: 1\n   use_se: true\n", "t.yaml:2:11: ",
                    "key 'model.num_nf': expected an integer in [0, 8], found '1 use_se'",
                    "(the value runs on to line 3: check the indentation)");
  EXPECT_LOAD_ERROR("model:\n  decoder: \xff\n", "t.yaml:2:12: ", "not a valid YAML text",
                    "(byte 0xff)");
  EXPECT_LOAD_ERROR("model:\n  num_nf: 1\x01\n", "t.yaml:2:12: ", "not a valid YAML text",
                    "control characters are not allowed");

  /* Anchors, aliases, tags. */
  EXPECT_LOAD_ERROR("model:\n  num_nf: &n 1\n", "t.yaml:2:11: ", "YAML anchor 'n'",
                    "anchors (&name) and aliases (*name) are not supported");
  EXPECT_LOAD_ERROR("model:\n  num_nf: *n\n", "t.yaml:2:11: ", "YAML alias 'n'",
                    "are not supported");
  EXPECT_LOAD_ERROR("model: &m\n  num_nf: 1\n", "t.yaml:1:8: ", "YAML anchor 'm'", NULL);
  EXPECT_LOAD_ERROR("model:\n  num_nf: !!int 1\n",
                    "t.yaml:2:11: ", "YAML tag 'tag:yaml.org,2002:int'", "not supported");

  /* Empty input, more than one document. */
  EXPECT_LOAD_ERROR("", "t.yaml:1:1: ", "the config file is empty", NULL);
  EXPECT_LOAD_ERROR("# nothing but a comment\n\n", "t.yaml:1:1: ", "the config file is empty",
                    NULL);
  EXPECT_LOAD_ERROR("---\n", "t.yaml:1:1: ", "the config file is empty", NULL);
  EXPECT_LOAD_ERROR("model:\n  num_nf: 1\n---\ntrain:\n  seed: 1\n",
                    "t.yaml:3:1: ", "a second YAML document", NULL);

  /* Strings: too long, NUL bytes. */
  {
    char text[2200];
    int n = snprintf(text, sizeof text, "data:\n  path: ");
    memset(text + n, 'a', 2000);
    strcpy(text + n + 2000, "\n");
    EXPECT_LOAD_ERROR(text, "t.yaml:2:9: ", "key 'data.path'", "(2000 bytes; at most 1023)");
  }
  EXPECT_LOAD_ERROR("data:\n  path: \"a\\0b\"\n", "t.yaml:2:9: ", "key 'data.path'",
                    "(contains a NUL byte)");

  /* Missing file: the path and the errno text. */
  {
    nvae_config c;
    nvae_err e;
    int rc = config_load("/nonexistent-dir/x.yaml", &c, &e);
    expect_error_at(__LINE__, rc, &e, "/nonexistent-dir/x.yaml: ", "cannot open the config file",
                    "No such file or directory");
  }
  /* A directory is not a config file either. */
  {
    nvae_config c;
    nvae_err e;
    int rc = config_load("/", &c, &e);
    expect_error_at(__LINE__, rc, &e, "/: ", "cannot read the config file", NULL);
  }
}

/* ---- what a valid file may hold ----------------------------------------------------------- */
static void test_accepted(void) {
  nvae_config c;
  nvae_err e;
  const char *text = "# comment\n"
                     "device: cpu\n"
                     "model:\n"
                     "  num_channels_enc: +64\n"
                     "  ada_groups: true\n"
                     "  decoder: 'bernoulli'\n"
                     "data:\n"
                     "  path: \"data dir/with: colon\"\n"
                     "  flip: null\n"
                     "  pad_to: 40\n"
                     "train:\n"
                     "  kl_beta: ~\n"
                     "  max_steps: 123456789012\n"
                     "optim:\n"
                     "  lr: 1e-3\n"
                     "  lr_min: .5e-4\n"
                     "  eps: 1.0e-8\n"
                     "  weight_decay: 2\n"
                     "  betas:\n"
                     "    - 0.5\n"
                     "    - .9\n"
                     "eval: {every_steps: 50, max_images: 0}\n"
                     "log:\n" /* an empty section */
                     "checkpoint:\n"
                     "  every_minutes: 0\n";
  CHECK(load(text, &c, &e) == 0, "valid file: %s", e.msg);
  CHECK(c.device == NVAE_DEVICE_CPU, "device");
  CHECK(c.model.num_channels_enc == 64 && c.model.ada_groups, "model ints/bools");
  CHECK(c.model.decoder == NVAE_DECODER_BERNOULLI, "quoted enum");
  CHECK(c.data.path_set && strcmp(c.data.path, "data dir/with: colon") == 0, "quoted path");
  CHECK(!c.data.flip_set && c.data.pad_to_set && c.data.pad_to == 40, "auto keys");
  CHECK(!c.train.kl_beta_set && c.train.max_steps == 123456789012LL, "int64, ~");
  CHECK(c.optim.lr == 1e-3 && c.optim.lr_min == 0.5e-4 && c.optim.eps == 1e-8, "float forms");
  CHECK(c.optim.weight_decay == 2.0, "an integer is a float");
  CHECK(c.optim.betas[0] == 0.5 && c.optim.betas[1] == 0.9, "block list");
  CHECK(c.eval.every_steps_set && c.eval.every_steps == 50 && c.eval.max_images == 0, "flow map");
  CHECK(c.log.every_steps == 100, "empty section keeps defaults");
  CHECK(c.checkpoint.every_minutes == 0.0, "zero");
}

/* ---- overrides --------------------------------------------------------------------------------
 */
static void test_overrides(void) {
  nvae_config c, d;
  nvae_err e;
  config_defaults(&c);
  config_defaults(&d);
  const char *ok[] = {
      "model.num_channels_enc=64", "optim.betas=[0.5, 0.99]", "train.sync_bn=false",
      "model.decoder=bernoulli",   "train.kl_beta=0.1",       "data.pad_to=auto",
      "data.path=/tmp/a b",        "data.split_valid='test'", " optim.lr = 1e-3",
      "optim.lr_min=.5e-4",        "optim.eps=1.0e-8",        "device=cuda",
      "eval.every_steps=",         "data.flip=true",          "optim.warmup_steps=100",
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    CHECK(config_apply_override(&c, ok[i], &e) == 0, "override %s: %s", ok[i], e.msg);
  CHECK(c.model.num_channels_enc == 64, "nested int");
  CHECK(c.optim.betas[0] == 0.5 && c.optim.betas[1] == 0.99, "list");
  CHECK(!c.train.sync_bn, "bool");
  CHECK(c.model.decoder == NVAE_DECODER_BERNOULLI, "enum");
  CHECK(c.train.kl_beta_set && c.train.kl_beta == 0.1, "set optional");
  CHECK(!c.data.pad_to_set, "auto");
  CHECK(c.data.path_set && strcmp(c.data.path, "/tmp/a b") == 0, "string with a space");
  CHECK(strcmp(c.data.split_valid, "test") == 0, "quoted string");
  CHECK(c.optim.lr == 1e-3 && c.optim.lr_min == 0.5e-4 && c.optim.eps == 1e-8, "floats");
  CHECK(c.device == NVAE_DEVICE_CUDA, "top-level key");
  CHECK(!c.eval.every_steps_set, "empty value = null");
  CHECK(c.data.flip_set && c.data.flip, "auto key set");
  CHECK(c.optim.warmup_steps_set && c.optim.warmup_steps == 100, "int64");
  CHECK(config_apply_override(&c, "train.kl_beta=null", &e) == 0 && !c.train.kl_beta_set,
        "unset again: %s", e.msg);
  const char *diff = config_first_difference(&c, &d, "");
  CHECK(diff && strcmp(diff, "device") == 0, "first difference is device, got %s",
        diff ? diff : "(none)");

  EXPECT_OVERRIDE_ERROR("model.num_chanels_enc=64", "unknown key 'model.num_chanels_enc'",
                        "did you mean 'model.num_channels_enc'?");
  EXPECT_OVERRIDE_ERROR("train.lr=0.1", "unknown key 'train.lr'", "did you mean 'optim.lr'?");
  EXPECT_OVERRIDE_ERROR("qqqqqqqq=1", "unknown key 'qqqqqqqq'", "docs/config.md");
  EXPECT_OVERRIDE_ERROR("train.batch_size=x", "key 'train.batch_size'",
                        "expected an integer in [1, 1048576], found 'x'");
  EXPECT_OVERRIDE_ERROR("train.batch_size=0", "key 'train.batch_size'", "(out of range)");
  EXPECT_OVERRIDE_ERROR("train.sync_bn=yes", "key 'train.sync_bn'", "only true and false");
  EXPECT_OVERRIDE_ERROR("model.decoder=gauss", "key 'model.decoder'",
                        "one of dmol|bernoulli|normal");
  EXPECT_OVERRIDE_ERROR("optim.betas=[0.9]", "key 'optim.betas'", "found 1 element");
  EXPECT_OVERRIDE_ERROR("optim.betas=[0.9, 2]", "key 'optim.betas'", "element 2");
  EXPECT_OVERRIDE_ERROR("optim.betas=0.9", "key 'optim.betas'", "found the scalar '0.9'");
  EXPECT_OVERRIDE_ERROR("train.seed=", "key 'train.seed'", "cannot be unset");
  EXPECT_OVERRIDE_ERROR("train.seed={a: 1}", "key 'train.seed'", "found a mapping");
  EXPECT_OVERRIDE_ERROR("data.path=\"abc", "YAML syntax error", "quoted scalar");
  EXPECT_OVERRIDE_ERROR("data.path=*x", "YAML alias 'x'", NULL);
  EXPECT_OVERRIDE_ERROR("train.batch_size", "expected key=value", NULL);
  EXPECT_OVERRIDE_ERROR("model=3", "'model' is a section", NULL);
  EXPECT_OVERRIDE_ERROR("=3", "unknown key ''", NULL);
  EXPECT_OVERRIDE_ERROR("train.seed=1\n---\n2", "more than one YAML document", NULL);
}

/* ---- validation --------------------------------------------------------------------------- */
#define EXPECT_INVALID(assign_stmt, what, what2)                                                   \
  do {                                                                                             \
    nvae_config c;                                                                                 \
    nvae_err e;                                                                                    \
    config_defaults(&c);                                                                           \
    assign_stmt;                                                                                   \
    int rc = config_validate(&c, &e);                                                              \
    expect_error_at(__LINE__, rc, &e, "invalid config: ", what, what2);                            \
  } while (0)

static void test_validate(void) {
  EXPECT_INVALID((c.model.min_groups_per_scale = 11), "'model.min_groups_per_scale' (11)",
                 "'model.num_groups_per_scale' (10)");
  EXPECT_INVALID((c.model.num_postprocess_blocks = 1), "'model.num_postprocess_blocks' (1)",
                 "'model.num_preprocess_blocks' (2)");
  EXPECT_INVALID((c.data.binarize = NVAE_BINARIZE_DYNAMIC), "'data.binarize'",
                 "'model.decoder: bernoulli'");
  EXPECT_INVALID((c.train.weight_decay_norm_anneal = true), "'train.weight_decay_norm_anneal'",
                 "'train.weight_decay_norm' (0)");
  EXPECT_INVALID((c.optim.lr_min = 0.1), "'optim.lr_min' (0.1)", "'optim.lr' (0.01)");
  EXPECT_INVALID((c.optim.warmup_epochs = 200), "'optim.warmup_epochs' (200)",
                 "'train.epochs' (200)");
  EXPECT_INVALID((c.device = NVAE_DEVICE_CPU, c.comm.transport = NVAE_TRANSPORT_NCCL),
                 "'comm.transport: nccl'", "'device' is cpu");
  /* Per-key checks again, for values set by code. */
  EXPECT_INVALID((c.optim.lr = -1), "key 'optim.lr': expected a float in (0, 10], found -1.0",
                 NULL);
  EXPECT_INVALID((c.model.decoder = (nvae_decoder)7), "key 'model.decoder'", "one of");
  EXPECT_INVALID((c.optim.betas[1] = 1.0), "key 'optim.betas'", "[0.9, 1.0]");
  EXPECT_INVALID((c.data.split_train[0] = '\0'), "key 'data.split_train'", "found \"\"");
  EXPECT_INVALID((c.train.kl_beta_set = true, c.train.kl_beta = -0.5), "key 'train.kl_beta'",
                 ">= 0");
  /* Rules that an override repairs: load -> override -> validate. */
  nvae_config c;
  nvae_err e;
  CHECK(load("model:\n  num_groups_per_scale: 2\n  min_groups_per_scale: 4\n", &c, &e) == 0,
        "load: %s", e.msg);
  CHECK(config_validate(&c, &e) != 0, "conflict is found");
  CHECK(config_apply_override(&c, "model.min_groups_per_scale=1", &e) == 0, "%s", e.msg);
  CHECK(config_validate(&c, &e) == 0, "repaired by an override: %s", e.msg);
  /* An optional key's stale value is ignored while unset. */
  config_defaults(&c);
  c.train.kl_beta = -3;
  CHECK(config_validate(&c, &e) == 0, "unset key not checked: %s", e.msg);
}

/* ---- round trip ---------------------------------------------------------------------------- */
static void round_trip(const nvae_config *c, const char *what) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  CHECK(f != NULL, "open_memstream");
  if (!f) return;
  CHECK(config_write_yaml(c, f) == 0, "%s: write", what);
  fclose(f);
  nvae_config back;
  nvae_err e;
  int rc = config_load_string(text, len, "resolved.yaml", &back, &e);
  CHECK(rc == 0, "%s: the written config does not load: %s", what, e.msg);
  const char *d = config_first_difference(c, &back, "");
  CHECK(rc != 0 || d == NULL, "%s: round trip changes '%s'", what, d ? d : "");
  /* Every key is written: one line per key plus one per section, and the two comment lines. */
  int lines = 0;
  for (size_t i = 0; i < len; i++)
    lines += text[i] == '\n';
  CHECK(lines == config_num_keys + 2, "%s: %d lines for %d rows", what, lines, config_num_keys);
  free(text);
}

static void test_round_trip(void) {
  nvae_config c;
  config_defaults(&c);
  round_trip(&c, "defaults");
  /* Values that are easy to get wrong in YAML. */
  const char *strings[] = {"null",
                           "true",
                           "123",
                           "~",
                           "a: b",
                           "#x",
                           "  lead",
                           "trail ",
                           "quote\"back\\slash",
                           "tab\there\nnewline",
                           "ünïcødé",
                           "'single'",
                           "- item",
                           "[list]",
                           "{map}",
                           "&anchor",
                           "*alias",
                           "!tag",
                           "%dir",
                           ""};
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
    config_defaults(&c);
    strcpy(c.data.path, strings[i]);
    c.data.path_set = true;
    strcpy(c.data.split_valid, i == sizeof strings / sizeof strings[0] - 1 ? "v" : strings[i]);
    char what[64];
    snprintf(what, sizeof what, "string #%zu", i);
    round_trip(&c, what);
  }
  config_defaults(&c);
  c.optim.lr = 0.1 + 0.2; /* needs 17 digits */
  c.optim.betas[0] = 1e-300;
  c.train.kl_beta_set = true;
  c.train.kl_beta = 0.0;
  c.train.max_steps = INT64_MAX;
  c.train.seed = 0;
  c.optim.lr_min = -0.0; /* out of range but the writer must still be exact */
  c.data.pad_to_set = true;
  c.data.pad_to = 32;
  c.model.decoder = NVAE_DECODER_NORMAL;
  round_trip(&c, "numbers");
}

/* ---- the shipped configs --------------------------------------------------------------------- */
static int load_config(const char *name, nvae_config *c) {
  char path[1024];
  nvae_err e;
  snprintf(path, sizeof path, "%s/configs/%s", source_dir(), name);
  int rc = config_load(path, c, &e);
  CHECK(rc == 0, "%s: %s", name, e.msg);
  if (rc == 0) {
    rc = config_validate(c, &e);
    CHECK(rc == 0, "%s does not validate: %s", name, e.msg);
  }
  if (rc == 0) round_trip(c, name);
  return rc;
}

/* The first line of tests/data/state_dict/<name>.txt lists the official flags of that model:
 * every one that is a model key (and weight_decay_norm) must match the loaded config. */
static void check_against_state_dict(const nvae_config *c, const char *list) {
  char path[1024], line[2048];
  snprintf(path, sizeof path, "%s/tests/data/state_dict/%s", source_dir(), list);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL, "cannot open %s", path);
  if (!f) return;
  if (!fgets(line, sizeof line, f)) line[0] = '\0';
  fclose(f);
  int compared = 0;
  for (char *tok = strtok(line, " \n"); tok; tok = strtok(NULL, " \n")) {
    char *eq = strchr(tok, '=');
    if (!eq) continue;
    *eq = '\0';
    char key[256], value[256];
    snprintf(key, sizeof key, "%s.%s", strcmp(tok, "weight_decay_norm") == 0 ? "train" : "model",
             tok);
    const config_key *k = config_find_key(key, strlen(key));
    if (!k) continue; /* dataset=... */
    config_format_value(c, k, value, sizeof value);
    CHECK(strtod(value, NULL) == strtod(eq + 1, NULL), "%s: %s is %s, the official list has %s",
          list, key, value, eq + 1);
    compared++;
  }
  CHECK(compared >= 11, "%s: only %d flags compared", list, compared);
}

static void test_configs(void) {
  nvae_config c;
  if (load_config("celeba64.yaml", &c) == 0) {
    CHECK(c.model.num_channels_enc == 64 && c.model.num_latent_scales == 3, "celeba64 C, S");
    CHECK(c.model.num_groups_per_scale == 20 && c.model.ada_groups, "celeba64 groups");
    CHECK(c.model.num_nf == 1 && c.train.weight_decay_norm == 0.1, "celeba64 nf, lambda");
    CHECK(c.train.batch_size == 16 && c.train.epochs == 90, "celeba64 batch, epochs");
    CHECK(c.optim.name == NVAE_OPTIM_ADAMAX && c.optim.lr == 1e-2, "celeba64 adamax 1e-2");
    CHECK(c.model.decoder == NVAE_DECODER_DMOL && c.data.flip_set && c.data.flip, "celeba64");
    check_against_state_dict(&c, "celeba64.txt");
  }
  if (load_config("mnist.yaml", &c) == 0) {
    CHECK(c.model.num_channels_enc == 32 && c.model.num_preprocess_blocks == 2 &&
              c.model.num_preprocess_cells == 3 && c.model.num_postprocess_blocks == 2 &&
              c.model.num_postprocess_cells == 3,
          "mnist C, pre/post");
    CHECK(c.model.num_latent_scales == 2 && c.model.num_groups_per_scale == 10 &&
              c.model.ada_groups && c.model.num_nf == 0,
          "mnist latents");
    CHECK(c.train.weight_decay_norm == 1e-2 && c.train.batch_size == 200 && c.train.epochs == 400,
          "mnist training");
    CHECK(c.model.decoder == NVAE_DECODER_BERNOULLI && c.data.binarize == NVAE_BINARIZE_DYNAMIC,
          "mnist bernoulli, dynamic binarisation");
    check_against_state_dict(&c, "mnist.txt");
  }
  if (load_config("tiny.yaml", &c) == 0) {
    CHECK(c.model.ada_groups && c.model.use_se && c.model.res_dist, "tiny ada, se, res_dist");
    CHECK(c.model.decoder == NVAE_DECODER_DMOL && c.model.num_mixture_dec == 10, "tiny dmol");
    check_against_state_dict(&c, "tiny.txt");
    nvae_err e;
    CHECK(config_apply_override(&c, "model.num_nf=1", &e) == 0, "%s", e.msg);
    check_against_state_dict(&c, "tiny-nf.txt");
  }
  if (load_config("tutorial.yaml", &c) == 0) {
    CHECK(c.optim.name == NVAE_OPTIM_ADAM && c.optim.lr == 1e-3 && c.optim.weight_decay == 1e-5,
          "tutorial adam");
    CHECK(c.optim.schedule == NVAE_SCHEDULE_STEP && c.optim.step_epochs == 30 &&
              c.optim.step_gamma == 0.5,
          "tutorial step schedule");
    CHECK(c.train.grad_clip == 1.0 && c.train.kl_beta_set && c.train.kl_beta == 0.1,
          "tutorial clip, beta");
    CHECK(c.model.decoder == NVAE_DECODER_NORMAL && c.train.batch_size == 32, "tutorial");
  }
  if (load_config("fmnist-small.yaml", &c) == 0) {
    const nvae_model_config *m = &c.model;
    CHECK(m->decoder == NVAE_DECODER_BERNOULLI && c.data.binarize == NVAE_BINARIZE_DYNAMIC,
          "fmnist-small bernoulli + dynamic");
    CHECK(m->num_channels_enc == 16 && m->num_channels_dec == 16, "fmnist-small C 16");
    CHECK(m->num_preprocess_blocks == 1 && m->num_preprocess_cells == 2, "pre 1x2");
    CHECK(m->num_postprocess_blocks == 1 && m->num_postprocess_cells == 2, "post 1x2");
    CHECK(m->num_latent_scales == 2 && m->num_groups_per_scale == 4 && m->ada_groups,
          "2 scales, 4 groups, ada");
    CHECK(m->num_latent_per_group == 8, "8 latent channels");
    CHECK(m->num_cell_per_cond_enc == 1 && m->num_cell_per_cond_dec == 1, "1 cell per group");
    CHECK(m->num_nf == 0, "no flows");
    CHECK(c.train.weight_decay_norm == 0.01, "lambda 0.01");
    CHECK(c.train.batch_size == 32, "batch 32");
    CHECK(c.optim.name == NVAE_OPTIM_ADAMAX && c.optim.lr == 1e-2, "adamax 1e-2");
    CHECK(c.optim.warmup_steps_set && c.optim.warmup_steps == 100, "100-step warm-up");
    CHECK(!c.train.kl_beta_set && c.train.kl_anneal_portion == 0.3, "KL warm-up 30 %%");
    CHECK(c.train.max_steps == 200, "max_steps 200");
    CHECK(c.data.path_set && strcmp(c.data.path, "data/fmnist") == 0, "data/fmnist");
  }

  /* The model difference that makes a resume refuse a checkpoint. */
  nvae_config a, b;
  load_config("celeba64.yaml", &a);
  b = a;
  CHECK(config_first_model_difference(&a, &b) == NULL, "same model");
  nvae_err e;
  config_apply_override(&b, "train.batch_size=8", &e);
  config_apply_override(&b, "optim.lr=0.005", &e);
  CHECK(config_first_model_difference(&a, &b) == NULL, "training keys are not model keys");
  config_apply_override(&b, "model.num_nf=2", &e);
  config_apply_override(&b, "model.num_x_bits=5", &e);
  const char *d = config_first_model_difference(&a, &b);
  CHECK(d && strcmp(d, "model.num_nf") == 0, "first model difference: %s", d ? d : "(none)");
}

int main(void) {
  test_schema();
  test_defaults();
  test_errors();
  test_accepted();
  test_overrides();
  test_validate();
  test_round_trip();
  test_configs();
  return test_finish("test_config");
}
