/* Walks an NVAE architecture and registers every tensor under its official state_dict name.
 *
 * The names are the PyTorch module paths of the official code (NVlabs/NVAE model.py,
 * neural_operations.py, neural_ar_operations.py); the rules, checked against the four lists in
 * tests/data/state_dict/:
 *
 *  - Top-level order: prior_ftr0, stem, pre_process, enc_tower, enc0, enc_sampler (all groups),
 *    dec_sampler (all), nf_cells (all), dec_tower, post_process, image_conditional (the order in
 *    which the official constructor assigns its modules; prior_ftr0 is assigned first).
 *  - A WN conv `X` is X.weight, X.bias (if any), X.log_weight_norm, in that order; so is an AR
 *    conv. A plain MBConv conv `X` is X.weight plus the alias X.weight_normalized.
 *  - A BN `X` is X.weight, X.bias, then buffers X.running_mean, X.running_var,
 *    X.num_batches_tracked (scalar).
 *  - A cell is [skip], _ops.*, [se]: the skip module is registered before the ops. Identity skips
 *    have no tensors; FactorizedReduce is skip.conv_1..conv_4 (1×1 stride 2, Cout/4 each, conv_4
 *    takes the remainder); the up-skip is skip.1 (skip.0 is the bilinear upsample), no bias.
 *  - res_bnswish op i: _ops.i.bn_act (fused BN+Swish on its input), _ops.i.conv_0 (3×3 WN+bias).
 *  - MBConv is one op, _ops.0.conv.<j>, a Sequential: [UpSample], BN (conv.j.bn),
 *    ConvBNSwish 1×1 (conv.j.conv.0 + conv.j.conv.1), ConvBNSwish dw 5×5 (same), plain 1×1
 *    (conv.j), BN (conv.j.bn). In an up cell the leading nearest upsample takes index 0, so every
 *    index shifts by one: conv.1..conv.5 instead of conv.0..conv.4 (the MBConv index shift).
 *  - SE on C: se.se.0 (Linear C→max(C/16,4)) and se.se.2 (Linear back to C); se.se.1 is the ReLU.
 *  - Sequential wrappers with an ELU in front: enc0.1, dec_sampler.<k>.1, image_conditional.1.
 *  - Combiner slots share the tower index space: enc_tower.<i>.conv (1×1 C_d·m → C_e·m),
 *    dec_tower.<i>.conv (1×1 C_d·m + L → C_d·m).
 *  - Flows: nf_cells.<g·num_nf + n> is a PairedCellAR = cell1 (raster order) and cell2 (mirrored);
 *    each cell is conv.convz.0 (masked 3×3 L→6L, zero_diag, no bias), conv.convz.2 (masked
 *    depthwise 5×5, no bias; indices 1 and 3 are ELUs), mu.conv_0 (masked 1×1 6L→L with bias,
 *    log-scale init ×0.1).
 *  - Samplers and flows are numbered in decoder order (coarsest scale first); the encoder tower in
 *    encoder order (finest first).
 */
#include "trainer/model_registry.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Module paths come from this file, so a path that does not fit is a bug, not bad input. */
static void pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, REG_NAME_MAX, fmt, ap);
  va_end(ap);
  NVAE_ASSERT(n >= 0 && n < REG_NAME_MAX, "module path too long: %s...", out);
}

static int param(registry *r, const char *prefix, const char *leaf, reg_role role, int ndim,
                 const int64_t *shape, unsigned flags, int layer) {
  char name[REG_NAME_MAX];
  pathf(name, "%s.%s", prefix, leaf);
  int i = registry_add_param(r, name, role, ndim, shape, flags | REG_F_DECAY);
  r->tensors[i].layer = layer;
  return i;
}

/* A conv with weight normalisation (kind WN or AR): weight, [bias], log_weight_norm. */
static int wn_conv_kind(registry *r, const char *prefix, reg_conv_kind kind, int cout, int cin,
                        int k, int stride, int groups, int bias) {
  reg_conv c = {0};
  pathf(c.name, "%s", prefix);
  int layer = r->n_convs;
  unsigned wflags = REG_F_SR | (kind == REG_CONV_AR ? REG_F_MASKED : 0);
  c.kind = kind;
  c.cout = cout;
  c.cin = cin;
  c.k = k;
  c.stride = stride;
  c.groups = groups;
  c.weight = param(r, prefix, "weight", REG_ROLE_WN_WEIGHT, 4,
                   (int64_t[]){cout, cin / groups, k, k}, wflags, layer);
  c.bias = bias ? param(r, prefix, "bias", REG_ROLE_CONV_BIAS, 1, (int64_t[]){cout}, 0, layer) : -1;
  c.log_norm = param(r, prefix, "log_weight_norm", REG_ROLE_WN_LOG_NORM, 4,
                     (int64_t[]){cout, 1, 1, 1}, 0, layer);
  c.alias = -1;
  c.log_norm_init_scale = 1.0f;
  c.sr_rows = cout;
  c.sr_cols = cin / groups * k * k;
  return registry_add_conv(r, &c);
}

static int wn_conv(registry *r, const char *prefix, int cout, int cin, int k, int stride,
                   int bias) {
  return wn_conv_kind(r, prefix, REG_CONV_WN, cout, cin, k, stride, 1, bias);
}

/* Masked AR conv of a flow cell (NVAE.md §1.7); stride 1. */
static int ar_conv(registry *r, const char *prefix, int cout, int cin, int k, int groups, int bias,
                   int zero_diag, int mirror, float init_scale) {
  int ci = wn_conv_kind(r, prefix, REG_CONV_AR, cout, cin, k, 1, groups, bias);
  r->convs[ci].zero_diag = zero_diag;
  r->convs[ci].mirror = mirror;
  r->convs[ci].log_norm_init_scale = init_scale;
  return ci;
}

/* Plain conv of an MBConv: weight and its alias weight_normalized; no bias, no WN. */
static int plain_conv(registry *r, const char *prefix, int cout, int cin, int k, int groups) {
  reg_conv c = {0};
  pathf(c.name, "%s", prefix);
  int layer = r->n_convs;
  c.kind = REG_CONV_PLAIN;
  c.cout = cout;
  c.cin = cin;
  c.k = k;
  c.stride = 1;
  c.groups = groups;
  c.weight = param(r, prefix, "weight", REG_ROLE_CONV_WEIGHT, 4,
                   (int64_t[]){cout, cin / groups, k, k}, REG_F_SR, layer);
  char name[REG_NAME_MAX];
  pathf(name, "%s.weight_normalized", prefix);
  c.alias = registry_add_alias(r, name, REG_ROLE_WEIGHT_NORMALIZED, c.weight);
  c.bias = c.log_norm = -1;
  c.log_norm_init_scale = 1.0f;
  c.sr_rows = cout;
  c.sr_cols = cin / groups * k * k;
  return registry_add_conv(r, &c);
}

static int batchnorm(registry *r, const char *prefix, int channels, int fused_swish) {
  reg_bn b = {0};
  pathf(b.name, "%s", prefix);
  int layer = r->n_bns;
  const int64_t shape[1] = {channels};
  b.channels = channels;
  b.fused_swish = fused_swish;
  b.weight = param(r, prefix, "weight", REG_ROLE_BN_WEIGHT, 1, shape, REG_F_BNREG, layer);
  b.bias = param(r, prefix, "bias", REG_ROLE_BN_BIAS, 1, shape, 0, layer);
  const struct {
    const char *leaf;
    reg_role role;
    int ndim;
    unsigned flags;
  } bufs[3] = {{"running_mean", REG_ROLE_BN_RUNNING_MEAN, 1, 0},
               {"running_var", REG_ROLE_BN_RUNNING_VAR, 1, 0},
               {"num_batches_tracked", REG_ROLE_BN_NUM_BATCHES, 0, REG_F_I64}};
  int idx[3];
  for (int i = 0; i < 3; i++) {
    char name[REG_NAME_MAX];
    pathf(name, "%s.%s", prefix, bufs[i].leaf);
    idx[i] = registry_add_buffer(r, name, bufs[i].role, bufs[i].ndim, shape, bufs[i].flags);
    r->tensors[idx[i]].layer = layer;
  }
  b.running_mean = idx[0];
  b.running_var = idx[1];
  b.num_batches = idx[2];
  return registry_add_bn(r, &b);
}

/* Squeeze-excitation on C channels (NVAE.md §1.1): hidden width max(C/16, 4). */
static void squeeze_excite(registry *r, const char *cell, int c) {
  int h = c / 16 > 4 ? c / 16 : 4;
  char p[REG_NAME_MAX];
  pathf(p, "%s.se.se.0", cell);
  param(r, p, "weight", REG_ROLE_SE_WEIGHT, 2, (int64_t[]){h, c}, 0, -1);
  param(r, p, "bias", REG_ROLE_SE_BIAS, 1, (int64_t[]){h}, 0, -1);
  pathf(p, "%s.se.se.2", cell);
  param(r, p, "weight", REG_ROLE_SE_WEIGHT, 2, (int64_t[]){c, h}, 0, -1);
  param(r, p, "bias", REG_ROLE_SE_BIAS, 1, (int64_t[]){c}, 0, -1);
}

/* normal_pre/normal_enc (down = 0) or down_pre/down_enc (down = 1): two res_bnswish ops. */
static void res_cell(registry *r, const model_arch *a, const char *cell, int cin, int cout,
                     int down) {
  char p[REG_NAME_MAX];
  if (down) /* FactorizedReduce: four phase-shifted 1×1 stride-2 convs */
    for (int i = 1; i <= 4; i++) {
      pathf(p, "%s.skip.conv_%d", cell, i);
      wn_conv(r, p, i < 4 ? cout / 4 : cout - 3 * (cout / 4), cin, 1, 2, 1);
    }
  for (int i = 0; i < 2; i++) {
    int c_in = i == 0 ? cin : cout;
    pathf(p, "%s._ops.%d.bn_act", cell, i);
    batchnorm(r, p, c_in, 1);
    pathf(p, "%s._ops.%d.conv_0", cell, i);
    wn_conv(r, p, cout, c_in, 3, (i == 0 && down) ? 2 : 1, 1);
  }
  if (a->use_se) squeeze_excite(r, cell, cout);
}

/* normal_dec/normal_post (up = 0) or up_dec/up_post (up = 1): one MBConv op with expansion e. */
static void mbconv_cell(registry *r, const model_arch *a, const char *cell, int cin, int cout,
                        int up, int e) {
  char p[REG_NAME_MAX];
  if (up) { /* skip.0 = bilinear ×2, skip.1 = 1×1 WN conv without bias */
    pathf(p, "%s.skip.1", cell);
    wn_conv(r, p, cout, cin, 1, 1, 0);
  }
  int hid = cin * e;
  int j = up ? 1 : 0; /* conv.0 is the nearest upsample in an up cell: the index shift */
  pathf(p, "%s._ops.0.conv.%d.bn", cell, j);
  batchnorm(r, p, cin, 0);
  pathf(p, "%s._ops.0.conv.%d.conv.0", cell, j + 1);
  plain_conv(r, p, hid, cin, 1, 1);
  pathf(p, "%s._ops.0.conv.%d.conv.1", cell, j + 1);
  batchnorm(r, p, hid, 1);
  pathf(p, "%s._ops.0.conv.%d.conv.0", cell, j + 2);
  plain_conv(r, p, hid, hid, 5, hid);
  pathf(p, "%s._ops.0.conv.%d.conv.1", cell, j + 2);
  batchnorm(r, p, hid, 1);
  pathf(p, "%s._ops.0.conv.%d", cell, j + 3);
  plain_conv(r, p, cout, hid, 1, 1);
  pathf(p, "%s._ops.0.conv.%d.bn", cell, j + 4);
  batchnorm(r, p, cout, 0);
  if (a->use_se) squeeze_excite(r, cell, cout);
}

/* One PairedCellAR; returns the conv index of its first AR conv. */
static int flow_pair(registry *r, int index, int latent) {
  int hid = 6 * latent, first = r->n_convs;
  char p[REG_NAME_MAX];
  for (int mirror = 0; mirror < 2; mirror++) {
    int cell = mirror + 1;
    pathf(p, "nf_cells.%d.cell%d.conv.convz.0", index, cell);
    ar_conv(r, p, hid, latent, 3, 1, 0, 1, mirror, 1.0f);
    pathf(p, "nf_cells.%d.cell%d.conv.convz.2", index, cell);
    ar_conv(r, p, hid, hid, 5, hid, 0, 0, mirror, 1.0f);
    pathf(p, "nf_cells.%d.cell%d.mu.conv_0", index, cell);
    ar_conv(r, p, latent, hid, 1, 1, 1, 0, mirror, 0.1f);
  }
  return first;
}

/* Everything the walk shares. Multipliers are powers of two, so channel counts stay exact. */
typedef struct walk {
  registry *r;
  const model_arch *a;
  int gps[MODEL_ARCH_MAX_SCALES]; /* encoder order */
  int n_groups, top, h_top;       /* top = 2^(P+S−1); h_top = spatial size at the top */
  int *enc_slots;                 /* conv index of each encoder combiner slot, encoder order */
} walk;

static void pre_process(walk *w) {
  const model_arch *a = w->a;
  char cell[REG_NAME_MAX];
  int mult = 1, i = 0;
  for (int b = 0; b < a->num_preprocess_blocks; b++)
    for (int c = 0; c < a->num_preprocess_cells; c++, i++) {
      int cin = a->num_channels_enc * mult, down = c == a->num_preprocess_cells - 1;
      pathf(cell, "pre_process.%d", i);
      res_cell(w->r, a, cell, cin, down ? 2 * cin : cin, down);
      if (down) mult *= 2;
    }
}

static void enc_tower(walk *w) {
  const model_arch *a = w->a;
  char p[REG_NAME_MAX];
  int S = a->num_latent_scales, mult = 1 << a->num_preprocess_blocks, i = 0, slot = 0;
  for (int s = 0; s < S; s++) {
    int ce = a->num_channels_enc * mult, cd = a->num_channels_dec * mult;
    for (int g = 0; g < w->gps[s]; g++) {
      for (int c = 0; c < a->num_cell_per_cond_enc; c++) {
        pathf(p, "enc_tower.%d", i++);
        res_cell(w->r, a, p, ce, ce, 0);
      }
      if (!(s == S - 1 && g == w->gps[s] - 1)) { /* no slot after the very last group */
        pathf(p, "enc_tower.%d.conv", i++);
        w->enc_slots[slot++] = wn_conv(w->r, p, ce, cd, 1, 1, 1);
      }
    }
    if (s < S - 1) {
      pathf(p, "enc_tower.%d", i++);
      res_cell(w->r, a, p, ce, 2 * ce, 1);
      mult *= 2;
    }
  }
  NVAE_ASSERT(slot == w->n_groups - 1, "%d encoder combiner slots for %d groups", slot,
              w->n_groups);
}

/* Samplers and flows: three module lists over the same decoder-order walk of the groups. */
static void samplers(walk *w) {
  const model_arch *a = w->a;
  registry *r = w->r;
  int S = a->num_latent_scales, L = a->num_latent_per_group, N = w->n_groups;
  char p[REG_NAME_MAX];
  for (int s = 0, k = 0; s < S; s++)
    for (int g = 0; g < w->gps[S - 1 - s]; g++, k++) {
      reg_group grp = {0};
      grp.index = k;
      grp.scale = s;
      grp.c = L;
      grp.h = grp.w = w->h_top << s;
      pathf(p, "enc_sampler.%d", k);
      grp.enc_sampler = wn_conv(r, p, 2 * L, a->num_channels_enc * (w->top >> s), 3, 1, 1);
      grp.dec_sampler = grp.enc_combiner = grp.dec_combiner = grp.nf_first = -1;
      /* Decoder group k reads the slot recorded after encoder group N−1−k (NVAE.md §1.5). */
      if (k > 0) grp.enc_combiner = w->enc_slots[N - 1 - k];
      registry_add_group(r, &grp);
    }
  for (int k = 1; k < N; k++) {
    pathf(p, "dec_sampler.%d.1", k - 1);
    int s = r->groups[k].scale;
    r->groups[k].dec_sampler = wn_conv(r, p, 2 * L, a->num_channels_dec * (w->top >> s), 1, 1, 1);
  }
  for (int k = 0; k < N; k++)
    for (int n = 0; n < a->num_nf; n++) {
      int first = flow_pair(r, k * a->num_nf + n, L);
      if (n == 0) r->groups[k].nf_first = first;
    }
}

static void dec_tower(walk *w) {
  const model_arch *a = w->a;
  registry *r = w->r;
  char p[REG_NAME_MAX];
  int S = a->num_latent_scales, L = a->num_latent_per_group, i = 0, k = 0;
  for (int s = 0; s < S; s++) {
    int cd = a->num_channels_dec * (w->top >> s);
    for (int g = 0; g < w->gps[S - 1 - s]; g++, k++) {
      if (k > 0) /* no cells before the top group: it starts from prior_ftr0 */
        for (int c = 0; c < a->num_cell_per_cond_dec; c++) {
          pathf(p, "dec_tower.%d", i++);
          mbconv_cell(r, a, p, cd, cd, 0, 6);
        }
      pathf(p, "dec_tower.%d.conv", i++);
      r->groups[k].dec_combiner = wn_conv(r, p, cd, cd + L, 1, 1, 1);
    }
    if (s < S - 1) {
      pathf(p, "dec_tower.%d", i++);
      mbconv_cell(r, a, p, cd, cd / 2, 1, 6);
    }
  }
}

static void post_process(walk *w) {
  const model_arch *a = w->a;
  char p[REG_NAME_MAX];
  int mult = 1 << a->num_preprocess_blocks, i = 0;
  for (int b = 0; b < a->num_postprocess_blocks; b++)
    for (int c = 0; c < a->num_postprocess_cells; c++, i++) {
      int cin = a->num_channels_dec * mult;
      pathf(p, "post_process.%d", i);
      if (c == 0) {
        mbconv_cell(w->r, a, p, cin, cin / 2, 1, 3);
        mult /= 2;
      } else {
        mbconv_cell(w->r, a, p, cin, cin, 0, 3);
      }
    }
}

int model_registry_build(const model_arch *a, registry *r, nvae_err *err) {
  registry_init(r);
  int rc = model_arch_validate(a, err);
  if (rc) return rc;
  walk w = {.r = r, .a = a};
  w.n_groups = model_arch_groups_per_scale(a, w.gps);
  w.top = model_arch_top_mult(a);
  w.h_top = a->image_size / w.top;
  w.enc_slots = nvae_malloc((size_t)w.n_groups * sizeof *w.enc_slots);

  int ctop = a->num_channels_dec * w.top;
  registry_add_param(r, "prior_ftr0", REG_ROLE_PRIOR_FTR0, 3, (int64_t[]){ctop, w.h_top, w.h_top},
                     REG_F_DECAY);
  wn_conv(r, "stem", a->num_channels_enc, a->image_channels, 3, 1, 1);
  pre_process(&w);
  enc_tower(&w);
  int cetop = a->num_channels_enc * w.top;
  wn_conv(r, "enc0.1", cetop, cetop, 1, 1, 1);
  samplers(&w);
  dec_tower(&w);
  post_process(&w);
  wn_conv(r, "image_conditional.1", model_arch_head_channels(a), a->num_channels_dec, 3, 1, 1);
  free(w.enc_slots);
  return registry_finish(r, err);
}
