/* Checking a whole config (per-key ranges again, since code may have changed the struct, plus the
 * rules across keys) and comparing two configs key by key. */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include "trainer/config.h"
#include "trainer/config_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool in_range(const config_key *k, double v) {
  if (!isfinite(v)) return false;
  if (k->min_kind == CONFIG_BOUND_INCL && !(v >= k->min)) return false;
  if (k->min_kind == CONFIG_BOUND_EXCL && !(v > k->min)) return false;
  if (k->max_kind == CONFIG_BOUND_INCL && !(v <= k->max)) return false;
  if (k->max_kind == CONFIG_BOUND_EXCL && !(v < k->max)) return false;
  return true;
}

/* Whether the stored value of k is one its type and range allow. */
static bool key_ok(const nvae_config *cfg, const config_key *k) {
  const void *v = config_cfield(cfg, k);
  switch (k->type) {
  case CONFIG_SECTION:
  case CONFIG_BOOL: return true;
  case CONFIG_INT: return in_range(k, *(const int *)v);
  case CONFIG_INT64: return in_range(k, (double)*(const int64_t *)v);
  case CONFIG_FLOAT: return in_range(k, *(const double *)v);
  case CONFIG_FLOAT_LIST:
    for (int i = 0; i < config_list_len(k); i++)
      if (!in_range(k, ((const double *)v)[i])) return false;
    return true;
  case CONFIG_ENUM: {
    int i = *(const int *)v, count = 0;
    while (k->choices[count])
      count++;
    return i >= 0 && i < count;
  }
  case CONFIG_STRING: {
    size_t len = strnlen((const char *)v, k->size);
    return len < k->size && (len > 0 || k->unset); /* NUL-terminated; empty only when optional */
  }
  }
  return false;
}

static int rule(nvae_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rule(nvae_err *e, const char *fmt, ...) {
  char msg[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return nvae_errf(e, NVAE_EXIT_USAGE, "invalid config: %s", msg);
}

/* Rules that involve more than one key. Each names every key it reads. */
static int check_rules(const nvae_config *c, nvae_err *e) {
  const nvae_model_config *m = &c->model;
  if (m->min_groups_per_scale > m->num_groups_per_scale)
    return rule(e,
                "key 'model.min_groups_per_scale' (%d) must be <= 'model.num_groups_per_scale' "
                "(%d)",
                m->min_groups_per_scale, m->num_groups_per_scale);
  if (m->num_preprocess_blocks != m->num_postprocess_blocks)
    return rule(e,
                "key 'model.num_postprocess_blocks' (%d) must equal "
                "'model.num_preprocess_blocks' (%d): each preprocess block halves the image "
                "and each postprocess block doubles it back",
                m->num_postprocess_blocks, m->num_preprocess_blocks);
  if (c->data.binarize == NVAE_BINARIZE_DYNAMIC && m->decoder != NVAE_DECODER_BERNOULLI)
    return rule(e, "key 'data.binarize' is dynamic, which makes binary images: it needs "
                   "'model.decoder: bernoulli'");
  if (c->train.weight_decay_norm_anneal &&
      !(c->train.weight_decay_norm > 0 && c->train.weight_decay_norm_init > 0))
    return rule(e,
                "key 'train.weight_decay_norm_anneal' interpolates lambda geometrically: "
                "'train.weight_decay_norm' (%g) and 'train.weight_decay_norm_init' (%g) must "
                "both be > 0",
                c->train.weight_decay_norm, c->train.weight_decay_norm_init);
  if (c->optim.schedule == NVAE_SCHEDULE_COSINE && c->optim.lr_min > c->optim.lr)
    return rule(e, "key 'optim.lr_min' (%g) must be <= 'optim.lr' (%g)", c->optim.lr_min,
                c->optim.lr);
  if (!c->optim.warmup_steps_set && c->optim.warmup_epochs >= c->train.epochs)
    return rule(e,
                "key 'optim.warmup_epochs' (%d) must be < 'train.epochs' (%d); set "
                "optim.warmup_steps for a warm-up in steps",
                c->optim.warmup_epochs, c->train.epochs);
  if (c->comm.transport == NVAE_TRANSPORT_NCCL && c->device == NVAE_DEVICE_CPU)
    return rule(e, "key 'comm.transport: nccl' needs GPU buffers but 'device' is cpu; use "
                   "comm.transport: mpi (or auto)");
  return 0;
}

int config_validate(const nvae_config *cfg, nvae_err *e) {
  nvae_err_clear(e);
  char expected[256], found[256];
  for (int i = 0; i < config_num_keys; i++) {
    const config_key *k = &config_keys[i];
    if (k->type == CONFIG_SECTION || !config_is_set(cfg, k) || key_ok(cfg, k)) continue;
    config_describe_type(k, expected, sizeof expected);
    config_format_value(cfg, k, found, sizeof found);
    return rule(e, "key '%s': expected %s, found %s", k->name, expected, found);
  }
  return check_rules(cfg, e);
}

static bool same_value(const nvae_config *a, const nvae_config *b, const config_key *k) {
  bool sa = config_is_set(a, k), sb = config_is_set(b, k);
  if (!sa || !sb) return sa == sb;
  const void *va = config_cfield(a, k), *vb = config_cfield(b, k);
  switch (k->type) {
  case CONFIG_SECTION: return true;
  case CONFIG_INT:
  case CONFIG_ENUM: return *(const int *)va == *(const int *)vb;
  case CONFIG_INT64: return *(const int64_t *)va == *(const int64_t *)vb;
  case CONFIG_FLOAT: return *(const double *)va == *(const double *)vb;
  case CONFIG_BOOL: return *(const bool *)va == *(const bool *)vb;
  case CONFIG_STRING: return strncmp((const char *)va, (const char *)vb, k->size) == 0;
  case CONFIG_FLOAT_LIST:
    for (int i = 0; i < config_list_len(k); i++)
      if (((const double *)va)[i] != ((const double *)vb)[i]) return false;
    return true;
  }
  return false;
}

const char *config_first_difference(const nvae_config *a, const nvae_config *b,
                                    const char *prefix) {
  size_t plen = strlen(prefix);
  for (int i = 0; i < config_num_keys; i++) {
    const config_key *k = &config_keys[i];
    if (k->type == CONFIG_SECTION || strncmp(k->name, prefix, plen) != 0) continue;
    if (!same_value(a, b, k)) return k->name;
  }
  return NULL;
}

const char *config_first_model_difference(const nvae_config *a, const nvae_config *b) {
  return config_first_difference(a, b, "model.");
}
