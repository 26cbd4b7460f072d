/* The nvae-train configuration: a typed struct, the one table of keys that describes it, and the
 * functions that fill, check, compare and write it (DESIGN.md §6 "Config", docs/config.md).
 *
 * Life of a config:  config_load(path)  -> defaults, then the YAML file (types and ranges checked
 *                    config_apply_override("train.batch_size=8")  ... per key, with file:line:col)
 *                    config_validate()   -> per-key checks again + rules across keys
 * Overrides come between load and validate, so an override may repair a cross-key conflict.
 *
 * Every dotted key name is the path of its field in nvae_config ("model.num_channels_enc" is
 * cfg.model.num_channels_enc); config_schema.c builds the table from the field paths, so the two
 * cannot drift. Optional keys have a companion `<field>_set` flag: false = unset (`null`, or
 * `auto` for keys whose unset value means "decide from the data").
 */
#ifndef NVAE_TRAINER_CONFIG_H
#define NVAE_TRAINER_CONFIG_H

#include "kernels/base/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- enumerations: the order of each matches its name list in config_schema.c ---------------- */
typedef enum { NVAE_DEVICE_AUTO, NVAE_DEVICE_CPU, NVAE_DEVICE_CUDA } config_device;
typedef enum { NVAE_ARCH_RES_MBCONV } nvae_arch;
typedef enum { NVAE_DECODER_DMOL, NVAE_DECODER_BERNOULLI, NVAE_DECODER_NORMAL } nvae_decoder;
typedef enum { NVAE_BINARIZE_NONE, NVAE_BINARIZE_DYNAMIC } nvae_binarize;
typedef enum { NVAE_KL_SCOPE_GLOBAL, NVAE_KL_SCOPE_LOCAL } nvae_kl_scope;
typedef enum { NVAE_OPTIM_ADAMAX, NVAE_OPTIM_ADAM } nvae_optim_name;
typedef enum { NVAE_SCHEDULE_COSINE, NVAE_SCHEDULE_STEP } nvae_schedule;
typedef enum { NVAE_TRANSPORT_AUTO, NVAE_TRANSPORT_NCCL, NVAE_TRANSPORT_MPI } nvae_transport;

#define NVAE_CFG_PATH_LEN 1024 /* bytes of a path value, NUL included */
#define NVAE_CFG_NAME_LEN 64   /* bytes of a split name, NUL included */

/* ---- the struct: one sub-struct per section; meanings and defaults are in the key table -------
 */
typedef struct nvae_model_config {
  int num_channels_enc;       /* C_e */
  int num_channels_dec;       /* C_d */
  int num_preprocess_blocks;  /* P: each block ends with a ×½ cell */
  int num_preprocess_cells;   /* cells per preprocess block */
  int num_postprocess_blocks; /* each block starts with a ×2 cell */
  int num_postprocess_cells;  /* cells per postprocess block */
  int num_latent_scales;      /* S */
  int num_groups_per_scale;   /* G at the finest scale */
  bool ada_groups;            /* halve G at each coarser scale (min min_groups_per_scale) */
  int min_groups_per_scale;
  int num_latent_per_group;  /* L: channels of one latent group */
  int num_cell_per_cond_enc; /* encoder cells per latent group */
  int num_cell_per_cond_dec; /* decoder cells per latent group */
  int num_nf;                /* paired autoregressive flow cells per group (0 = none) */
  bool use_se;               /* squeeze-and-excitation in every cell */
  bool res_dist;             /* residual posterior q = N(mu_p + dmu, ...) */
  nvae_arch arch_instance;   /* cell recipe */
  nvae_decoder decoder;      /* output distribution */
  int num_mixture_dec;       /* DMOL components M */
  int num_x_bits;            /* input bit depth (requantised below 8) */
  double dmol_upper_edge;    /* DMOL: x̃ above this uses the open-ended top bin (official 0.99) */
} nvae_model_config;

typedef struct nvae_data_config {
  char path[NVAE_CFG_PATH_LEN]; /* dataset directory (nvae-prep output); "" when unset */
  bool path_set;
  char split_train[NVAE_CFG_NAME_LEN];
  char split_valid[NVAE_CFG_NAME_LEN]; /* falls back to "test" when the dataset has no such split */
  nvae_binarize binarize;
  bool flip;       /* random horizontal flips of training images */
  bool flip_set;   /* false = auto: flip RGB data, not 1-channel data */
  int pad_to;      /* zero-pad images to pad_to × pad_to */
  bool pad_to_set; /* false = auto: 28×28 → 32, others unpadded */
} nvae_data_config;

typedef struct nvae_train_config {
  int batch_size; /* per rank */
  int epochs;
  int64_t max_steps; /* 0 = no limit; a limit also shortens the schedules' total */
  int64_t seed;
  bool deterministic;
  double kl_anneal_portion; /* a: β rises linearly over a·T steps */
  double kl_const_portion;  /* c: β = kl_const_coeff for the first c·T steps */
  double kl_const_coeff;    /* β_min */
  double kl_beta;           /* constant β; only when kl_beta_set */
  bool kl_beta_set;         /* false = the warm-up above */
  bool kl_balance;
  nvae_kl_scope kl_balance_scope;
  double weight_decay_norm;      /* λ of spectral + BN regularisation */
  double weight_decay_norm_init; /* λ at β = 0 when annealed */
  bool weight_decay_norm_anneal;
  double grad_clip; /* global-norm clip, 0 = off */
  bool sync_bn;
  int nonfinite_max_skips; /* consecutive skipped steps before the run stops */
} nvae_train_config;

typedef struct nvae_optim_config {
  nvae_optim_name name;
  double lr;
  double lr_min;
  double betas[2];
  double eps;
  double weight_decay; /* coupled L2 */
  int warmup_epochs;
  int64_t warmup_steps; /* replaces warmup_epochs when warmup_steps_set */
  bool warmup_steps_set;
  nvae_schedule schedule;
  int step_epochs; /* schedule step: multiply lr by step_gamma every step_epochs epochs */
  double step_gamma;
} nvae_optim_config;

typedef struct nvae_eval_config {
  int every_epochs;
  bool every_epochs_set; /* false = auto: 1 when train.epochs <= 50, else 20 (official) */
  int64_t every_steps;   /* replaces every_epochs when every_steps_set */
  bool every_steps_set;
  int iw_samples;
  int max_images; /* 0 = the whole split */
} nvae_eval_config;

typedef struct nvae_log_config {
  int64_t every_steps;
  int64_t image_every_steps; /* 0 = no image grids */
  bool tensorboard;
  char dir[NVAE_CFG_PATH_LEN]; /* run directory when --run-dir is not given */
  bool dir_set;                /* false = runs/<config file name> */
} nvae_log_config;

typedef struct nvae_checkpoint_config {
  int64_t every_steps;  /* 0 = off */
  double every_minutes; /* 0 = off */
  int keep_last;
  int64_t keep_every; /* also keep steps that are multiples of this; 0 = none */
} nvae_checkpoint_config;

typedef struct nvae_comm_config {
  nvae_transport transport;
  double timeout_s;
  double bucket_mb;
  int64_t param_check_every_steps; /* 0 = off */
} nvae_comm_config;

typedef struct nvae_config {
  config_device device;
  nvae_model_config model;
  nvae_data_config data;
  nvae_train_config train;
  nvae_optim_config optim;
  nvae_eval_config eval;
  nvae_log_config log;
  nvae_checkpoint_config checkpoint;
  nvae_comm_config comm;
} nvae_config;

/* ---- the key table (config_schema.c) ----------------------------------------------------------
 */
typedef enum config_type {
  CONFIG_SECTION,    /* a row that introduces a section; no value */
  CONFIG_INT,        /* int */
  CONFIG_INT64,      /* int64_t (step counts, seed) */
  CONFIG_FLOAT,      /* double; accepts 1e-3, 1.0e-3, .5, 2 */
  CONFIG_BOOL,       /* bool; only true / false */
  CONFIG_STRING,     /* char[size] */
  CONFIG_ENUM,       /* a C enum (int-sized); one of choices[] */
  CONFIG_FLOAT_LIST, /* double[size / sizeof(double)], a YAML list of exactly that length */
} config_type;

typedef enum config_bound { CONFIG_BOUND_NONE, CONFIG_BOUND_INCL, CONFIG_BOUND_EXCL } config_bound;

typedef struct config_key {
  const char *name; /* dotted path, e.g. "model.num_channels_enc" */
  config_type type;
  size_t offset;     /* of the value in nvae_config */
  size_t size;       /* bytes of the value */
  const char *unset; /* NULL: always set; "null" or "auto": the word an unset value is written as */
  size_t set_offset; /* of the bool `<field>_set` (only when unset != NULL) */
  const char *def;   /* default, as YAML text (parsed by the same rules as a file) */
  double min, max;   /* range of numbers (each list element), see min_kind / max_kind */
  config_bound min_kind, max_kind;
  const char *const *choices; /* CONFIG_ENUM: names, NULL-terminated; index = C enum value */
  const char *official;       /* the official NVAE flag this key mirrors, or NULL */
  const char *help;           /* one or two sentences: meaning and where the default comes from */
} config_key;

extern const config_key config_keys[];
extern const int config_num_keys;

/* The row named exactly name[0..len) (sections included), or NULL. */
const config_key *config_find_key(const char *name, size_t len);
/* The known key or section closest to name[0..len) by edit distance, or NULL when none is close. */
const config_key *config_suggest_key(const char *name, size_t len);
/* Number of elements of a CONFIG_FLOAT_LIST key. */
int config_list_len(const config_key *k);

/* ---- filling, checking, comparing --------------------------------------------------------------
 */

/* Every key at its default. */
void config_defaults(nvae_config *cfg);

/* Defaults, then the YAML file at path. Checks names, types and per-key ranges (not the rules
 * across keys: see config_validate). Returns 0, or NVAE_EXIT_USAGE with a one-line message
 * "file:line:column: ..." in e; on error *cfg is partly filled and must not be used. */
int config_load(const char *path, nvae_config *cfg, nvae_err *e);
/* The same from memory: text[0..len) (need not be NUL-terminated); name is used in messages. */
int config_load_string(const char *text, size_t len, const char *name, nvae_config *cfg,
                       nvae_err *e);

/* One "dotted.key=value" assignment; the value is read with the same YAML scalar rules as a file
 * ("optim.betas=[0.9, 0.99]", "train.kl_beta=null", "data.path='my dir'"). An unknown key is an
 * error with a "did you mean" suggestion. Returns 0 or NVAE_EXIT_USAGE; cfg is unchanged on
 * error. */
int config_apply_override(nvae_config *cfg, const char *assignment, nvae_err *e);

/* Ranges, enums and the rules across keys (e.g. min_groups_per_scale <= num_groups_per_scale).
 * Returns 0 or NVAE_EXIT_USAGE with a message naming the key(s). */
int config_validate(const nvae_config *cfg, nvae_err *e);

/* Name of the first key (in table order) whose name starts with prefix ("" = all keys) and whose
 * value differs between a and b, or NULL when they agree. Unset optional keys compare equal
 * whatever their stored value. */
const char *config_first_difference(const nvae_config *a, const nvae_config *b, const char *prefix);
/* The first differing "model." key: a checkpoint made with a different model is refused. */
const char *config_first_model_difference(const nvae_config *a, const nvae_config *b);

/* ---- writing (config_write.c) -------------------------------------------------------------------
 */

/* Longest text config_format_value can produce (a path whose every byte needs a \xNN escape). */
#define CONFIG_VALUE_TEXT_MAX (4 * NVAE_CFG_PATH_LEN + 8)
/* The value of key k as YAML text that loads back to the same value ("0.001", "[0.9, 0.999]",
 * "\"data/fmnist\"", "null", "auto"). Returns the length (truncated to n - 1). */
size_t config_format_value(const nvae_config *cfg, const config_key *k, char *buf, size_t n);
/* "an integer >= 1", "a float in (0, 1]", "one of dmol|bernoulli|normal", "... or null". */
void config_describe_type(const config_key *k, char *buf, size_t n);

/* The resolved config: every key, re-loadable by config_load. Returns 0, or NVAE_EXIT_RUNTIME
 * when the stream reports a write error (errno tells why). */
int config_write_yaml(const nvae_config *cfg, FILE *f);
/* The key listing for --help: name, type, default, meaning. */
void config_print_keys(FILE *f);

#ifdef __cplusplus
}
#endif

#endif
