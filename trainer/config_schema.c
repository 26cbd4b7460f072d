/* The ONE table of configuration keys. The parser, the validation, the resolved-config writer, the
 * --help listing and docs/config.md (tools/nvae-config-doc) all read it; add a key here and in
 * the struct in config.h, never rename one (DESIGN.md §6).
 *
 * Defaults are the official NVAE code's (train.py argparse, NVAE.md §3–5) unless the help text
 * says otherwise. A row's name is the stringified field path, so names and struct cannot drift.
 */
#include "trainer/config.h"
#include "trainer/config_internal.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* Name, offset and size from one field path: F(model.num_nf) names "model.num_nf". */
#define F(field)                                                                                   \
  .name = #field, .offset = offsetof(nvae_config, field), .size = sizeof(((nvae_config *)0)->field)
/* An optional key: `word` ("null" or "auto") is how its unset value is written. */
#define UNSET(field, word) .unset = word, .set_offset = offsetof(nvae_config, field##_set)
#define GE(x) .min = (x), .min_kind = CONFIG_BOUND_INCL
#define GT(x) .min = (x), .min_kind = CONFIG_BOUND_EXCL
#define LE(x) .max = (x), .max_kind = CONFIG_BOUND_INCL
#define LT(x) .max = (x), .max_kind = CONFIG_BOUND_EXCL
#define SECTION(nm, hlp)                                                                           \
  { .name = nm, .type = CONFIG_SECTION, .help = hlp }

/* Enum keys are read and written through an int (config_value.c, config_write.c). */
_Static_assert(sizeof(config_device) == sizeof(int), "enum size");
_Static_assert(sizeof(nvae_arch) == sizeof(int), "enum size");
_Static_assert(sizeof(nvae_decoder) == sizeof(int), "enum size");
_Static_assert(sizeof(nvae_binarize) == sizeof(int), "enum size");
_Static_assert(sizeof(nvae_kl_scope) == sizeof(int), "enum size");
_Static_assert(sizeof(nvae_optim_name) == sizeof(int), "enum size");
_Static_assert(sizeof(nvae_schedule) == sizeof(int), "enum size");
_Static_assert(sizeof(nvae_transport) == sizeof(int), "enum size");

/* Enum names: index = value of the C enum in config.h. */
static const char *const device_names[] = {"auto", "cpu", "cuda", NULL};
static const char *const arch_names[] = {"res_mbconv", NULL};
static const char *const decoder_names[] = {"dmol", "bernoulli", "normal", NULL};
static const char *const binarize_names[] = {"none", "dynamic", NULL};
static const char *const kl_scope_names[] = {"global", "local", NULL};
static const char *const optim_names[] = {"adamax", "adam", NULL};
static const char *const schedule_names[] = {"cosine", "step", NULL};
static const char *const transport_names[] = {"auto", "nccl", "mpi", NULL};

const config_key config_keys[] = {
    /* ---- top level ---- */
    {F(device), .type = CONFIG_ENUM, .def = "auto", .choices = device_names,
     .help = "Backend for every op: auto = cuda when a GPU is visible, else cpu."},

    /* ---- model ---- */
    SECTION("model", "The network (NVAE.md §1). These keys decide the tensors: a checkpoint made "
                     "with different model keys is refused, naming the first that differs."),
    {F(model.num_channels_enc), .type = CONFIG_INT, .def = "32", GE(1), LE(4096),
     .official = "--num_channels_enc",
     .help = "Channels C_e of the stem and the finest encoder scale (doubled by every down cell)."},
    {F(model.num_channels_dec), .type = CONFIG_INT, .def = "32", GE(1), LE(4096),
     .official = "--num_channels_dec",
     .help = "Channels C_d of the decoder at the output resolution (doubled towards the top)."},
    {F(model.num_preprocess_blocks), .type = CONFIG_INT, .def = "2", GE(1), LE(8),
     .official = "--num_preprocess_blocks",
     .help = "Preprocessing blocks between stem and encoder; each ends with a x1/2 down cell. "
             "Must equal model.num_postprocess_blocks so the output has the input's size."},
    {F(model.num_preprocess_cells), .type = CONFIG_INT, .def = "3", GE(1), LE(64),
     .official = "--num_preprocess_cells",
     .help = "Cells per preprocessing block (the last one is the down cell)."},
    {F(model.num_postprocess_blocks), .type = CONFIG_INT, .def = "2", GE(1), LE(8),
     .official = "--num_postprocess_blocks",
     .help = "Postprocessing blocks between decoder and output head; each starts with a x2 up "
             "cell."},
    {F(model.num_postprocess_cells), .type = CONFIG_INT, .def = "3", GE(1), LE(64),
     .official = "--num_postprocess_cells",
     .help = "Cells per postprocessing block (the first one is the up cell)."},
    {F(model.num_latent_scales), .type = CONFIG_INT, .def = "1", GE(1), LE(8),
     .official = "--num_latent_scales",
     .help = "Latent scales S; each coarser scale halves the resolution and doubles the channels."},
    {F(model.num_groups_per_scale), .type = CONFIG_INT, .def = "10", GE(1), LE(1024),
     .official = "--num_groups_per_scale",
     .help = "Latent groups at the finest scale (at every scale unless model.ada_groups)."},
    {F(model.ada_groups), .type = CONFIG_BOOL, .def = "false", .official = "--ada_groups",
     .help = "Halve the number of groups at each coarser scale, never below "
             "model.min_groups_per_scale (CelebA-64: 20 -> [20, 10, 5])."},
    {F(model.min_groups_per_scale), .type = CONFIG_INT, .def = "1", GE(1), LE(1024),
     .official = "--min_groups_per_scale",
     .help = "Lower bound of the halving of model.ada_groups; at most model.num_groups_per_scale."},
    {F(model.num_latent_per_group), .type = CONFIG_INT, .def = "20", GE(1), LE(4096),
     .official = "--num_latent_per_group",
     .help = "Channels L of one latent group (20 in every official command)."},
    {F(model.num_cell_per_cond_enc), .type = CONFIG_INT, .def = "1", GE(1), LE(64),
     .official = "--num_cell_per_cond_enc", .help = "Encoder residual cells per latent group."},
    {F(model.num_cell_per_cond_dec), .type = CONFIG_INT, .def = "1", GE(1), LE(64),
     .official = "--num_cell_per_cond_dec",
     .help = "Decoder residual cells per latent group (the top group has none)."},
    {F(model.num_nf), .type = CONFIG_INT, .def = "0", GE(0), LE(8), .official = "--num_nf",
     .help = "Paired autoregressive flow cells per latent group in the posterior; 0 = no flows."},
    {F(model.use_se), .type = CONFIG_BOOL, .def = "true", .official = "--use_se",
     .help = "Squeeze-and-excitation at the end of every cell. The official flag defaults to off "
             "but every README command sets it, so true here."},
    {F(model.res_dist), .type = CONFIG_BOOL, .def = "true", .official = "--res_dist",
     .help = "Residual posterior: the encoder predicts offsets to the prior's mean and log-scale "
             "(NVAE.md §2.2). Off in the official argparse, set by every README command, so true "
             "here."},
    {F(model.arch_instance), .type = CONFIG_ENUM, .def = "res_mbconv", .choices = arch_names,
     .official = "--arch_instance",
     .help = "Cell recipe; res_mbconv (the official default, used by every README command) is the "
             "only one implemented."},
    {F(model.decoder), .type = CONFIG_ENUM, .def = "dmol", .choices = decoder_names,
     .help = "Output distribution: dmol = discretised mixture of logistics (RGB, official), "
             "bernoulli = binary images (official MNIST), normal = Normal on [-1, 1] (official "
             "--num_mixture_dec 1)."},
    {F(model.num_mixture_dec), .type = CONFIG_INT, .def = "10", GE(1), LE(64),
     .official = "--num_mixture_dec", .help = "Mixture components M of the dmol decoder."},
    {F(model.num_x_bits), .type = CONFIG_INT, .def = "8", GE(1), LE(8), .official = "--num_x_bits",
     .help = "Bits per input value; below 8 the images are requantised first (256x256 configs "
             "use 5)."},
    {F(model.dmol_upper_edge), .type = CONFIG_FLOAT, .def = "0.99", GT(0.0), LT(1.0),
     .help = "dmol: values of 2x-1 above this use the open-ended top bin. The official code uses "
             "0.99 (so 254 and 255 share it, NVAE.md §1.8); PixelCNN++ used 0.999."},

    /* ---- data ---- */
    SECTION("data", "The dataset: a directory of HDF5 shards written by nvae-prep (DESIGN.md §4)."),
    {F(data.path), .type = CONFIG_STRING, .def = "null", UNSET(data.path, "null"),
     .help = "Dataset directory (relative to the working directory); training needs it, "
             "--dry-run does not."},
    {F(data.split_train), .type = CONFIG_STRING, .def = "train", .help = "Split to train on."},
    {F(data.split_valid), .type = CONFIG_STRING, .def = "valid",
     .help = "Split to validate on; falls back to test when the dataset has no such split "
             "(idx datasets have train and test only)."},
    {F(data.binarize), .type = CONFIG_ENUM, .def = "none", .choices = binarize_names,
     .help = "dynamic = x ~ Bernoulli(intensity), redrawn every pass, on training and validation "
             "images (official MNIST pipeline); needs model.decoder: bernoulli."},
    {F(data.flip), .type = CONFIG_BOOL, .def = "auto", UNSET(data.flip, "auto"),
     .help = "Random horizontal flips (p = 0.5) of training images; auto = true for RGB, false "
             "for 1-channel data (official)."},
    {F(data.pad_to), .type = CONFIG_INT, .def = "auto", UNSET(data.pad_to, "auto"), GE(1),
     LE(65536),
     .help = "Zero-pad images to pad_to x pad_to; the loss covers only the original pixels. "
             "auto = 32 for 28x28 images (official MNIST), else no padding."},

    /* ---- train ---- */
    SECTION("train", "The objective and the training loop (NVAE.md §3, §4)."),
    {F(train.batch_size), .type = CONFIG_INT, .def = "200", GE(1), LE(1 << 20),
     .official = "--batch_size",
     .help = "Images per step PER RANK, like the official per-GPU --batch_size; the global batch "
             "is batch_size x ranks."},
    {F(train.epochs), .type = CONFIG_INT, .def = "200", GE(1), LE(1000000), .official = "--epochs",
     .help = "Passes over the training split."},
    {F(train.max_steps), .type = CONFIG_INT64, .def = "0", GE(0),
     .help = "Stop after this many optimizer steps; 0 = no limit. A limit also shortens the total "
             "T of the schedules (KL warm-up, cosine)."},
    {F(train.seed), .type = CONFIG_INT64, .def = "1", GE(0), .official = "--seed",
     .help = "Key of every random stream (initial weights, noise, sampler, flips); the same on "
             "every rank."},
    {F(train.deterministic), .type = CONFIG_BOOL, .def = "false",
     .help = "Only deterministic kernels (cuDNN algorithms, fixed-order reductions): bit-identical "
             "reruns, somewhat slower. The CPU backend is always deterministic."},
    {F(train.kl_anneal_portion), .type = CONFIG_FLOAT, .def = "0.3", GT(0.0), LE(1.0),
     .official = "--kl_anneal_portion",
     .help = "KL warm-up: beta rises linearly to 1 over this fraction of the T training steps."},
    {F(train.kl_const_portion), .type = CONFIG_FLOAT, .def = "0.0001", GE(0.0), LE(1.0),
     .official = "--kl_const_portion",
     .help = "KL warm-up: beta stays at train.kl_const_coeff for this fraction of T first."},
    {F(train.kl_const_coeff), .type = CONFIG_FLOAT, .def = "0.0001", GE(0.0), LE(1.0),
     .official = "--kl_const_coeff", .help = "KL warm-up: the smallest beta."},
    {F(train.kl_beta), .type = CONFIG_FLOAT, .def = "null", UNSET(train.kl_beta, "null"), GE(0.0),
     .help = "A constant KL weight beta instead of the warm-up; null = warm-up (official)."},
    {F(train.kl_balance), .type = CONFIG_BOOL, .def = "true",
     .help = "KL balancing while beta < 1 (NVAE.md §3.3); always on in the official code."},
    {F(train.kl_balance_scope), .type = CONFIG_ENUM, .def = "global", .choices = kl_scope_names,
     .help = "Batch the balancing coefficients are computed from: global = all ranks' images "
             "(independent of the number of ranks), local = this rank's (official)."},
    {F(train.weight_decay_norm), .type = CONFIG_FLOAT, .def = "0.0", GE(0.0),
     .official = "--weight_decay_norm",
     .help = "lambda of the spectral and BN regularisers (README: 0.1 CelebA-64, 0.01 MNIST and "
             "CIFAR-10)."},
    {F(train.weight_decay_norm_init), .type = CONFIG_FLOAT, .def = "10.0", GE(0.0),
     .official = "--weight_decay_norm_init",
     .help = "lambda at beta = 0 when train.weight_decay_norm_anneal is on."},
    {F(train.weight_decay_norm_anneal), .type = CONFIG_BOOL, .def = "false",
     .official = "--weight_decay_norm_anneal",
     .help = "Interpolate lambda geometrically from train.weight_decay_norm_init to "
             "train.weight_decay_norm as beta goes from 0 to 1."},
    {F(train.grad_clip), .type = CONFIG_FLOAT, .def = "0.0", GE(0.0),
     .help = "Clip the global gradient norm to this value; 0 = off (the official code never "
             "clips)."},
    {F(train.sync_bn), .type = CONFIG_BOOL, .def = "true",
     .help = "BatchNorm statistics over all ranks' images (official: synchronised BN)."},
    {F(train.nonfinite_max_skips), .type = CONFIG_INT, .def = "20", GE(0), LE(1000000),
     .help = "Steps with a non-finite loss or gradient are skipped; this many in a row stop the "
             "run (exit 1). 0 = stop at the first."},

    /* ---- optim ---- */
    SECTION("optim", "Optimizer and learning-rate schedule (NVAE.md §4.1, §4.2)."),
    {F(optim.name), .type = CONFIG_ENUM, .def = "adamax", .choices = optim_names,
     .help = "adamax (official, eps inside the max) or adam; weight decay is coupled L2 in both."},
    {F(optim.lr), .type = CONFIG_FLOAT, .def = "0.01", GT(0.0), LE(10.0),
     .official = "--learning_rate", .help = "Peak learning rate, reached at the end of warm-up."},
    {F(optim.lr_min), .type = CONFIG_FLOAT, .def = "0.0001", GE(0.0),
     .official = "--learning_rate_min",
     .help = "Final learning rate of the cosine schedule (unused by step)."},
    {F(optim.betas), .type = CONFIG_FLOAT_LIST, .def = "[0.9, 0.999]", GE(0.0), LT(1.0),
     .help = "(beta1, beta2) of Adamax / Adam."},
    {F(optim.eps), .type = CONFIG_FLOAT, .def = "0.001", GT(0.0),
     .help = "Adamax: u = max(beta2 u, |g| + eps) (official 1e-3); Adam: added to sqrt(v) (PyTorch "
             "uses 1e-8)."},
    {F(optim.weight_decay), .type = CONFIG_FLOAT, .def = "0.0003", GE(0.0),
     .official = "--weight_decay",
     .help = "Coupled L2 (g += weight_decay * theta) on every parameter."},
    {F(optim.warmup_epochs), .type = CONFIG_INT, .def = "5", GE(0), LE(1000000),
     .official = "--warmup_epochs",
     .help = "Linear warm-up from 0 to optim.lr over this many epochs, per step."},
    {F(optim.warmup_steps), .type = CONFIG_INT64, .def = "null", UNSET(optim.warmup_steps, "null"),
     GE(0), .help = "Warm-up length in steps; when set it replaces optim.warmup_epochs."},
    {F(optim.schedule), .type = CONFIG_ENUM, .def = "cosine", .choices = schedule_names,
     .help = "After warm-up: cosine = per-epoch cosine decay to optim.lr_min (official); step = "
             "multiply by optim.step_gamma every optim.step_epochs epochs."},
    {F(optim.step_epochs), .type = CONFIG_INT, .def = "30", GE(1), LE(1000000),
     .help = "Schedule step: epochs between decays."},
    {F(optim.step_gamma), .type = CONFIG_FLOAT, .def = "0.1", GT(0.0), LE(1.0),
     .help = "Schedule step: factor of each decay (PyTorch StepLR's default 0.1)."},

    /* ---- eval ---- */
    SECTION("eval", "Validation during training (NVAE.md §4.5); nvae-eval does the final "
                    "1000-sample evaluation."),
    {F(eval.every_epochs), .type = CONFIG_INT, .def = "auto", UNSET(eval.every_epochs, "auto"),
     GE(1), LE(1000000),
     .help = "Validate every this many epochs and after the last; auto = 1 when train.epochs <= "
             "50, else 20 (official)."},
    {F(eval.every_steps), .type = CONFIG_INT64, .def = "null", UNSET(eval.every_steps, "null"),
     GE(1),
     .help = "Validate every this many steps instead; when set it replaces "
             "eval.every_epochs."},
    {F(eval.iw_samples), .type = CONFIG_INT, .def = "10", GE(1), LE(100000),
     .help = "Importance samples per image for the log-likelihood bound (official: 10 during "
             "training)."},
    {F(eval.max_images), .type = CONFIG_INT, .def = "1000", GE(0),
     .help = "Cap on the validation images used during training; 0 = the whole split."},

    /* ---- log ---- */
    SECTION("log", "Console, metrics.jsonl, TensorBoard and image grids (rank 0)."),
    {F(log.every_steps), .type = CONFIG_INT64, .def = "100", GE(1),
     .help = "Progress line and metrics row every this many steps (official: 100)."},
    {F(log.image_every_steps), .type = CONFIG_INT64, .def = "1000", GE(0),
     .help = "Sample and reconstruction grids every this many steps (official: 1000); 0 = off."},
    {F(log.tensorboard), .type = CONFIG_BOOL, .def = "true",
     .help = "Write TensorBoard event files (events.out.tfevents.*) next to metrics.jsonl."},
    {F(log.dir), .type = CONFIG_STRING, .def = "null", UNSET(log.dir, "null"),
     .help = "Run directory when --run-dir is not given; null = runs/<config file name>."},

    /* ---- checkpoint ---- */
    SECTION("checkpoint", "Sharded checkpoints under <run>/checkpoints (DESIGN.md §5); one is "
                          "also written at the end of training and on SIGTERM/SIGUSR1."),
    {F(checkpoint.every_steps), .type = CONFIG_INT64, .def = "1000", GE(0),
     .help = "Checkpoint every this many steps; 0 = off."},
    {F(checkpoint.every_minutes), .type = CONFIG_FLOAT, .def = "30.0", GE(0.0),
     .help = "Also checkpoint when this many minutes passed since the last one; 0 = off."},
    {F(checkpoint.keep_last), .type = CONFIG_INT, .def = "3", GE(1), LE(1000000),
     .help = "Keep the newest K checkpoints (older ones are deleted once the new LATEST is "
             "durable)."},
    {F(checkpoint.keep_every), .type = CONFIG_INT64, .def = "0", GE(0),
     .help = "Also keep every checkpoint whose step is a multiple of this; 0 = none."},

    /* ---- comm ---- */
    SECTION("comm", "Collectives between ranks (DESIGN.md §3)."),
    {F(comm.transport), .type = CONFIG_ENUM, .def = "auto", .choices = transport_names,
     .help = "auto = nccl with the CUDA backend, mpi with the CPU backend; mpi also works with "
             "CUDA (staged through host memory) and allows several ranks per GPU."},
    {F(comm.timeout_s), .type = CONFIG_FLOAT, .def = "600.0", GT(0.0),
     .help = "A collective that takes longer aborts the job, naming rank, operation and sequence "
             "number."},
    {F(comm.bucket_mb), .type = CONFIG_FLOAT, .def = "25.0", GT(0.0), LE(65536.0),
     .help = "Size of the gradient all-reduce buckets in MiB (as PyTorch DDP's bucket_cap_mb)."},
    {F(comm.param_check_every_steps), .type = CONFIG_INT64, .def = "1000", GE(0),
     .help = "Every this many steps, check by hash that every rank holds the same parameters "
             "(a silent divergence ends the job, naming the ranks); 0 = off."},
};

const int config_num_keys = (int)(sizeof config_keys / sizeof config_keys[0]);

int config_list_len(const config_key *k) { return (int)(k->size / sizeof(double)); }

bool config_is_dotted(const char *name) { return strchr(name, '.') != NULL; }

const config_key *config_find_key(const char *name, size_t len) {
  for (int i = 0; i < config_num_keys; i++) {
    const char *n = config_keys[i].name;
    if (strlen(n) == len && memcmp(n, name, len) == 0) return &config_keys[i];
  }
  return NULL;
}

/* Levenshtein distance; b is a table name (short), a is capped by the caller. */
static int edit_distance(const char *a, size_t la, const char *b, size_t lb) {
  int row[128];
  if (lb >= sizeof row / sizeof row[0]) return 1 << 20;
  for (size_t j = 0; j <= lb; j++)
    row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int up = row[j];
      int best = diag + (a[i - 1] != b[j - 1]);
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      if (up + 1 < best) best = up + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static size_t leaf_start(const char *s, size_t len) {
  size_t i = len;
  while (i > 0 && s[i - 1] != '.')
    i--;
  return i;
}

/* The distance of a typo to a key is the smaller of the whole-name distance and the leaf distance
 * plus one for a wrong section, so 'train.lr' finds 'optim.lr' and 'batch_size' at the top level
 * finds 'train.batch_size'. A suggestion must be closer than about half the typed leaf, else any
 * short word would "match" something. */
const config_key *config_suggest_key(const char *name, size_t len) {
  if (len == 0 || len > 96) return NULL;
  size_t ls = leaf_start(name, len);
  const char *leaf = name + ls;
  size_t leaf_len = len - ls;
  const config_key *best = NULL;
  int best_d = 1 << 20;
  for (int i = 0; i < config_num_keys; i++) {
    const char *kn = config_keys[i].name;
    size_t kl = strlen(kn);
    size_t ks = leaf_start(kn, kl);
    int d = edit_distance(name, len, kn, kl);
    int dl = edit_distance(leaf, leaf_len, kn + ks, kl - ks);
    bool same_section = ls == ks && memcmp(name, kn, ls) == 0;
    if (!same_section) dl += 1;
    if (dl < d) d = dl;
    if (d < best_d) {
      best_d = d;
      best = &config_keys[i];
    }
  }
  int limit = (int)(leaf_len / 2);
  if (limit < 2) limit = 2;
  return best_d <= limit ? best : NULL;
}
