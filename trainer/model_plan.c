/* Building the plans (model_internal.h) from the architecture and the registry: the same walk as
 * model_registry.c (NVAE.md §1.3), in FORWARD order (§1.5), with every tensor looked up by its
 * official name. Each helper appends the nodes of one layer or cell and returns its output slot.
 */
#include "trainer/model_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- slots and nodes ---- */

static int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

static int slot_new(plan *p, slot_kind kind, int c, int h, int w) {
  if (p->n_slots == p->cap_slots) {
    p->cap_slots = p->cap_slots ? 2 * p->cap_slots : 256;
    p->slots = nvae_realloc(p->slots, (size_t)p->cap_slots * sizeof *p->slots);
  }
  act_slot *s = &p->slots[p->n_slots];
  s->kind = kind;
  s->c = c;
  s->h = h;
  s->w = w;
  s->off = p->arena_floats;
  p->arena_floats += round16((int64_t)p->max_batch * c * h * w);
  return p->n_slots++;
}

static int slot_like(plan *p, int x) {
  const act_slot s = p->slots[x]; /* a copy: slot_new may move the table */
  return slot_new(p, s.kind, s.c, s.h, s.w);
}

static node *node_new(plan *p, node_op op) {
  if (p->n_nodes == p->cap_nodes) {
    p->cap_nodes = p->cap_nodes ? 2 * p->cap_nodes : 256;
    p->nodes = nvae_realloc(p->nodes, (size_t)p->cap_nodes * sizeof *p->nodes);
  }
  node *n = &p->nodes[p->n_nodes++];
  memset(n, 0, sizeof *n);
  n->op = op;
  for (int i = 0; i < 4; i++)
    n->in[i] = n->aux[i] = -1;
  n->out[0] = n->out[1] = -1;
  n->layer = n->save = -1;
  n->s = 1.0f;
  return n;
}

/* ---- lookups by official name ---- */

static int tensor_by_name(const registry *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int tensor_by_name(const registry *r, const char *fmt, ...) {
  char name[REG_NAME_MAX + 32];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  int i = registry_find(r, name);
  NVAE_ASSERT(i >= 0, "model plan: no tensor named %s in the registry", name);
  return i;
}

/* Conv or BN layer index of the module `prefix` (through its .weight tensor). */
#define LAYER_OF(r, ...) ((r)->tensors[tensor_by_name((r), __VA_ARGS__)].layer)

/* ---- layers ---- */

typedef struct builder {
  plan *p;
  const registry *r;
  const model_arch *a;
} builder;

static int unary(builder *b, node_op op, int x) {
  int y = slot_like(b->p, x);
  node *n = node_new(b->p, op);
  n->in[0] = x;
  n->out[0] = y;
  return y;
}

static int conv(builder *b, int layer, int x) {
  const reg_conv *c = &b->r->convs[layer];
  const act_slot s = b->p->slots[x]; /* a copy: slot_new may move the table */
  NVAE_ASSERT(s.c == c->cin, "model plan: %s reads %d channels, gets %d", c->name, c->cin, s.c);
  int pad = c->k / 2, ho = (s.h + 2 * pad - c->k) / c->stride + 1;
  int wo = (s.w + 2 * pad - c->k) / c->stride + 1;
  int y = slot_new(b->p, SLOT_4D, c->cout, ho, wo);
  node *n = node_new(b->p, NODE_CONV);
  n->in[0] = x;
  n->out[0] = y;
  n->layer = layer;
  return y;
}

static int bn(builder *b, int layer, int x) {
  const reg_bn *l = &b->r->bns[layer];
  int y = slot_like(b->p, x);
  node *n = node_new(b->p, l->fused_swish ? NODE_BN_SWISH : NODE_BN);
  n->in[0] = x;
  n->out[0] = y;
  n->layer = layer;
  return y;
}

static int add(builder *b, int x, float s, int x2) {
  int y = slot_like(b->p, x);
  node *n = node_new(b->p, NODE_ADD);
  n->in[0] = x;
  n->in[1] = x2;
  n->s = s;
  n->out[0] = y;
  return y;
}

static int upsample(builder *b, node_op op, int x) {
  const act_slot s = b->p->slots[x]; /* a copy: slot_new may move the table */
  int y = slot_new(b->p, SLOT_4D, s.c, 2 * s.h, 2 * s.w);
  node *n = node_new(b->p, op);
  n->in[0] = x;
  n->out[0] = y;
  return y;
}

static void split(builder *b, int x, int *lo, int *hi) {
  const act_slot s = b->p->slots[x]; /* a copy: slot_new may move the table */
  *lo = slot_new(b->p, SLOT_4D, s.c / 2, s.h, s.w);
  *hi = slot_new(b->p, SLOT_4D, s.c - s.c / 2, s.h, s.w);
  node *n = node_new(b->p, NODE_SPLIT);
  n->in[0] = x;
  n->out[0] = *lo;
  n->out[1] = *hi;
}

static int concat(builder *b, int x1, int x2) {
  const act_slot s1 = b->p->slots[x1], s2 = b->p->slots[x2];
  int y = slot_new(b->p, SLOT_4D, s1.c + s2.c, s1.h, s1.w);
  node *n = node_new(b->p, NODE_CONCAT);
  n->in[0] = x1;
  n->in[1] = x2;
  n->out[0] = y;
  return y;
}

static int squeeze_excite(builder *b, const char *cell, int x) {
  if (!b->a->use_se) return x;
  const act_slot s = b->p->slots[x]; /* a copy: slot_new may move the table */
  int h = (int)squeeze_excite_hidden(s.c);
  int y = slot_like(b->p, x);
  int saved = slot_new(b->p, SLOT_2D, 2 * s.c + h, 1, 1);
  node *n = node_new(b->p, NODE_SE);
  n->in[0] = x;
  n->out[0] = y;
  n->save = saved;
  n->aux[0] = tensor_by_name(b->r, "%s.se.se.0.weight", cell);
  n->aux[1] = tensor_by_name(b->r, "%s.se.se.0.bias", cell);
  n->aux[2] = tensor_by_name(b->r, "%s.se.se.2.weight", cell);
  n->aux[3] = tensor_by_name(b->r, "%s.se.se.2.bias", cell);
  return y;
}

/* ---- cells (NVAE.md §1.1-1.2): out = skip(x) + 0.1·SE(ops(x)) ---- */

/* normal_pre / normal_enc, or down_pre / down_enc: two res_bnswish ops */
static int res_cell(builder *b, const char *cell, int x, int down) {
  int skip = x;
  if (down) { /* FactorizedReduce: swish, then the four phase-shifted strided 1×1 convs */
    int a = unary(b, NODE_SWISH, x);
    int c0 = LAYER_OF(b->r, "%s.skip.conv_1.weight", cell);
    const act_slot s = b->p->slots[x]; /* a copy: slot_new may move the table */
    int cout = 0;
    for (int k = 0; k < 4; k++)
      cout += b->r->convs[c0 + k].cout;
    skip = slot_new(b->p, SLOT_4D, cout, s.h / 2, s.w / 2);
    node *n = node_new(b->p, NODE_FACT_REDUCE);
    n->in[0] = a;
    n->out[0] = skip;
    for (int k = 0; k < 4; k++) {
      n->aux[k] = LAYER_OF(b->r, "%s.skip.conv_%d.weight", cell, k + 1);
      NVAE_ASSERT(b->r->convs[n->aux[k]].cin == s.c, "FactorizedReduce input channels");
    }
  }
  int h = x;
  for (int i = 0; i < 2; i++) {
    h = bn(b, LAYER_OF(b->r, "%s._ops.%d.bn_act.weight", cell, i), h);
    h = conv(b, LAYER_OF(b->r, "%s._ops.%d.conv_0.weight", cell, i), h);
  }
  h = squeeze_excite(b, cell, h);
  return add(b, skip, 0.1f, h);
}

/* normal_dec / normal_post, or up_dec / up_post: one MBConv op */
static int mbconv_cell(builder *b, const char *cell, int x, int up) {
  int skip = x, h = x, j = up ? 1 : 0;
  if (up) { /* up-skip: bilinear ×2 (align_corners) then 1×1 WN conv without bias */
    skip = conv(b, LAYER_OF(b->r, "%s.skip.1.weight", cell), upsample(b, NODE_UP_BILINEAR, x));
    h = upsample(b, NODE_UP_NEAREST, x); /* the main branch upsamples BEFORE its first BN */
  }
  h = bn(b, LAYER_OF(b->r, "%s._ops.0.conv.%d.bn.weight", cell, j), h);
  h = conv(b, LAYER_OF(b->r, "%s._ops.0.conv.%d.conv.0.weight", cell, j + 1), h);
  h = bn(b, LAYER_OF(b->r, "%s._ops.0.conv.%d.conv.1.weight", cell, j + 1), h);
  h = conv(b, LAYER_OF(b->r, "%s._ops.0.conv.%d.conv.0.weight", cell, j + 2), h);
  h = bn(b, LAYER_OF(b->r, "%s._ops.0.conv.%d.conv.1.weight", cell, j + 2), h);
  h = conv(b, LAYER_OF(b->r, "%s._ops.0.conv.%d.weight", cell, j + 3), h);
  h = bn(b, LAYER_OF(b->r, "%s._ops.0.conv.%d.bn.weight", cell, j + 4), h);
  h = squeeze_excite(b, cell, h);
  return add(b, skip, 0.1f, h);
}

/* One flow cell (NVAE.md §1.7): z ← z − μ_AR(z), with the double ELU before the μ conv. */
static int flow_cell(builder *b, int first_conv, int z) {
  int h = unary(b, NODE_ELU, conv(b, first_conv, z));
  h = unary(b, NODE_ELU, conv(b, first_conv + 1, h));
  h = unary(b, NODE_ELU, h); /* the second ELU: an acknowledged quirk (issue #25), kept */
  int mu = conv(b, first_conv + 2, h);
  return add(b, z, -1.0f, mu);
}

static int flows(builder *b, const reg_group *g, int z) {
  for (int n = 0; n < b->a->num_nf; n++)
    for (int cell = 0; cell < 2; cell++)
      z = flow_cell(b, g->nf_first + 6 * n + 3 * cell, z);
  return z;
}

static void normal_params(builder *b, int mu_raw, int ls_raw, unsigned flags, int *mu, int *sigma) {
  *mu = slot_like(b->p, mu_raw);
  *sigma = slot_like(b->p, mu_raw);
  node *n = node_new(b->p, NODE_NORMAL_PARAMS);
  n->in[0] = mu_raw;
  n->in[1] = ls_raw;
  n->out[0] = *mu;
  n->out[1] = *sigma;
  n->flags = flags;
}

static int node3(builder *b, node_op op, int a, int c, int d, unsigned flags) {
  int y = slot_like(b->p, a);
  node *n = node_new(b->p, op);
  n->in[0] = a;
  n->in[1] = c;
  n->in[2] = d;
  n->out[0] = y;
  n->flags = flags;
  return y;
}

static int sum_sample(builder *b, int x, unsigned flags) {
  int y = slot_new(b->p, SLOT_VEC, 1, 1, 1);
  node *n = node_new(b->p, NODE_SUM_SAMPLE);
  n->in[0] = x;
  n->out[0] = y;
  n->flags = flags;
  return y;
}

/* The posterior/prior pair of group k from raw parameters, the sample, flows and the KL terms
 * (NVAE.md §1.5, §2.3). Returns z after the flows. */
static int latent_group(builder *b, int k, int mq_raw, int lq_raw, int mp_raw, int lp_raw) {
  plan *p = b->p;
  const reg_group *g = &b->r->groups[k];
  int mu_q, sig_q, mu_p, sig_p;
  normal_params(b, mq_raw, lq_raw, 0, &mu_q, &sig_q);
  normal_params(b, mp_raw, lp_raw, 0, &mu_p, &sig_p);
  int z0 = node3(b, NODE_NORMAL_SAMPLE, mu_q, sig_q, p->eps[k], 0);
  int nf = b->a->num_nf > 0;
  /* log q at the pre-flow sample; the flows are volume preserving (log det 0) */
  int logq = node3(b, NODE_LOG_DENSITY, z0, mu_q, sig_q, nf ? 0 : NODE_F_IW);
  int z = flows(b, g, z0);
  int logp = node3(b, NODE_LOG_DENSITY, z, mu_p, sig_p, nf ? 0 : NODE_F_IW);
  if (nf) { /* single-sample KL: log q − log p */
    p->kl_map[k] = add(b, logq, -1.0f, logp);
  } else { /* analytic KL */
    int kl = slot_like(p, mu_q);
    node *n = node_new(p, NODE_KL);
    n->in[0] = mu_q;
    n->in[1] = sig_q;
    n->in[2] = mu_p;
    n->in[3] = sig_p;
    n->out[0] = kl;
    p->kl_map[k] = kl;
  }
  p->kl_b[k] = sum_sample(b, p->kl_map[k], 0);
  p->logq_b[k] = sum_sample(b, logq, NODE_F_IW);
  p->logp_b[k] = sum_sample(b, logp, NODE_F_IW);
  p->z_out[k] = z;
  return z;
}

static int broadcast_prior(builder *b) {
  int t = tensor_by_name(b->r, "prior_ftr0");
  const reg_tensor *rt = &b->r->tensors[t];
  int y = slot_new(b->p, SLOT_4D, (int)rt->shape[0], (int)rt->shape[1], (int)rt->shape[2]);
  node *n = node_new(b->p, NODE_BROADCAST);
  n->aux[0] = t;
  n->out[0] = y;
  return y;
}

static void plan_init(plan *p, const model_arch *a, const registry *r, int max_batch) {
  memset(p, 0, sizeof *p);
  p->max_batch = max_batch;
  p->x_in = p->ones = p->xt = p->logits = p->logp_map = p->logp_sum = p->eps_all = -1;
  p->zeros_top = -1;
  p->n_groups = r->n_groups;
  NVAE_ASSERT(r->n_groups <= MODEL_MAX_GROUPS, "%d latent groups: at most %d", r->n_groups,
              MODEL_MAX_GROUPS);
  int64_t total = 0;
  for (int k = 0; k < r->n_groups; k++) {
    const reg_group *g = &r->groups[k];
    p->eps_off[k] = total;
    total += (int64_t)g->c * g->h * g->w;
    p->eps[k] = slot_new(p, SLOT_4D, g->c, g->h, g->w);
    p->kl_map[k] = p->kl_b[k] = p->logq_b[k] = p->logp_b[k] = p->z_out[k] = -1;
  }
  p->eps_all = slot_new(p, SLOT_2D, (int)total, 1, 1);
  const reg_group *g0 = &r->groups[0];
  p->zeros_top = slot_new(p, SLOT_4D, 2 * g0->c, g0->h, g0->w);
  (void)a;
}

/* The raw top prior: μ = ℓ = 0 (σ = exp(0) + 0.01 = 1.01, NVAE.md §1.5). */
static void top_prior_raw(builder *b, int *mu_raw, int *ls_raw) {
  split(b, b->p->zeros_top, mu_raw, ls_raw);
}

/* Decoder tower, postprocess and head shared by both plans. `group` is called at each combiner
 * with the current decoder state and returns z of that group. */
typedef int (*group_fn)(builder *b, int k, int d, void *arg);

static int decoder(builder *b, group_fn group, void *arg) {
  const model_arch *a = b->a;
  int gps[MODEL_ARCH_MAX_SCALES];
  model_arch_groups_per_scale(a, gps);
  int S = a->num_latent_scales, i = 0, k = 0;
  char cell[REG_NAME_MAX];
  int d = broadcast_prior(b); /* no encoder information enters here */
  for (int s = 0; s < S; s++) {
    for (int g = 0; g < gps[S - 1 - s]; g++, k++) {
      if (k > 0)
        for (int c = 0; c < a->num_cell_per_cond_dec; c++) {
          snprintf(cell, sizeof cell, "dec_tower.%d", i++);
          d = mbconv_cell(b, cell, d, 0);
        }
      int z = group(b, k, d, arg);
      i++; /* the combiner occupies a dec_tower index */
      d = conv(b, b->r->groups[k].dec_combiner, concat(b, d, z));
    }
    if (s < S - 1) {
      snprintf(cell, sizeof cell, "dec_tower.%d", i++);
      d = mbconv_cell(b, cell, d, 1);
    }
  }
  for (int bl = 0, j = 0; bl < a->num_postprocess_blocks; bl++)
    for (int c = 0; c < a->num_postprocess_cells; c++, j++) {
      snprintf(cell, sizeof cell, "post_process.%d", j);
      d = mbconv_cell(b, cell, d, c == 0);
    }
  return conv(b, LAYER_OF(b->r, "image_conditional.1.weight"), unary(b, NODE_ELU, d));
}

/* ---- the training / evaluation plan ---- */

typedef struct enc_state {
  int top;      /* final encoder feature after enc0 */
  int *feat_of; /* per conv index: the encoder feature recorded at that combiner slot, or -1 */
} enc_state;

static int train_group(builder *b, int k, int d, void *arg) {
  enc_state *e = arg;
  const reg_group *g = &b->r->groups[k];
  int mq, lq, mp, lp;
  if (k == 0) { /* top group: not residual, fixed prior */
    split(b, conv(b, g->enc_sampler, e->top), &mq, &lq);
    top_prior_raw(b, &mp, &lp);
  } else {
    split(b, conv(b, g->dec_sampler, unary(b, NODE_ELU, d)), &mp, &lp);
    /* encoder combiner, evaluated now with the current decoder state */
    int feat = e->feat_of[g->enc_combiner];
    NVAE_ASSERT(feat >= 0, "group %d: encoder combiner slot without a feature", k);
    int ftr = add(b, feat, 1.0f, conv(b, g->enc_combiner, d));
    int dmu, dls;
    split(b, conv(b, g->enc_sampler, ftr), &dmu, &dls);
    /* residual posterior: add the RAW values, the soft clamp applies to the sum (§2.2) */
    mq = add(b, mp, 1.0f, dmu);
    lq = add(b, lp, 1.0f, dls);
  }
  return latent_group(b, k, mq, lq, mp, lp);
}

static int encoder(builder *b, int *feat_of) {
  const model_arch *a = b->a;
  plan *p = b->p;
  int gps[MODEL_ARCH_MAX_SCALES];
  model_arch_groups_per_scale(a, gps);
  char cell[REG_NAME_MAX];
  int s = conv(b, LAYER_OF(b->r, "stem.weight"), p->xt);
  for (int bl = 0, i = 0; bl < a->num_preprocess_blocks; bl++)
    for (int c = 0; c < a->num_preprocess_cells; c++, i++) {
      snprintf(cell, sizeof cell, "pre_process.%d", i);
      s = res_cell(b, cell, s, c == a->num_preprocess_cells - 1);
    }
  int S = a->num_latent_scales, i = 0;
  for (int sc = 0; sc < S; sc++) {
    for (int g = 0; g < gps[sc]; g++) {
      for (int c = 0; c < a->num_cell_per_cond_enc; c++) {
        snprintf(cell, sizeof cell, "enc_tower.%d", i++);
        s = res_cell(b, cell, s, 0);
      }
      if (!(sc == S - 1 && g == gps[sc] - 1)) /* a combiner slot only records the feature */
        feat_of[LAYER_OF(b->r, "enc_tower.%d.conv.weight", i++)] = s;
    }
    if (sc < S - 1) {
      snprintf(cell, sizeof cell, "enc_tower.%d", i++);
      s = res_cell(b, cell, s, 1);
    }
  }
  /* enc0: ELU → 1×1 conv → ELU */
  int h = conv(b, LAYER_OF(b->r, "enc0.1.weight"), unary(b, NODE_ELU, s));
  return unary(b, NODE_ELU, h);
}

static int recon(builder *b, int logits) {
  plan *p = b->p;
  const act_slot s = p->slots[logits]; /* a copy: slot_new may move the table */
  node *n;
  switch (b->a->decoder) {
  case MODEL_DECODER_DMOL:
  case MODEL_DECODER_BERNOULLI:
    p->logp_map = slot_new(p, SLOT_4D, 1, s.h, s.w);
    n = node_new(p, b->a->decoder == MODEL_DECODER_DMOL ? NODE_DMOL : NODE_BERNOULLI);
    n->in[0] = logits;
    n->in[1] = p->x_in;
    n->out[0] = p->logp_map;
    break;
  case MODEL_DECODER_NORMAL: { /* Normal on x̃ = 2x − 1: [C means | C raw log-sigmas] */
    int mu_raw, ls_raw, mu, sigma;
    split(b, logits, &mu_raw, &ls_raw);
    normal_params(b, mu_raw, ls_raw, 0, &mu, &sigma);
    p->logp_map = node3(b, NODE_LOG_DENSITY, p->xt, mu, sigma, 0);
    break;
  }
  }
  p->logp_sum = slot_new(p, SLOT_VEC, 1, 1, 1);
  n = node_new(p, NODE_SUM_REGION);
  n->in[0] = p->logp_map;
  n->out[0] = p->logp_sum;
  return p->logp_sum;
}

void plan_build_train(plan *p, const model_arch *a, const registry *r, int max_batch) {
  plan_init(p, a, r, max_batch);
  builder b = {p, r, a};
  p->x_in = slot_new(p, SLOT_4D, a->image_channels, a->image_size, a->image_size);
  p->xt = slot_like(p, p->x_in);
  enc_state e;
  e.feat_of = nvae_malloc((size_t)r->n_convs * sizeof *e.feat_of);
  for (int i = 0; i < r->n_convs; i++)
    e.feat_of[i] = -1;
  e.top = encoder(&b, e.feat_of);
  p->logits = decoder(&b, train_group, &e);
  recon(&b, p->logits);
  free(e.feat_of);
}

/* ---- the sampling plan (NVAE.md §1.6): decoder only, z from the prior with temperature ---- */

static int sample_group(builder *b, int k, int d, void *arg) {
  (void)arg;
  const reg_group *g = &b->r->groups[k];
  int mr, lr, mu, sigma;
  if (k == 0)
    top_prior_raw(b, &mr, &lr);
  else
    split(b, conv(b, g->dec_sampler, unary(b, NODE_ELU, d)), &mr, &lr);
  normal_params(b, mr, lr, NODE_F_TEMP, &mu, &sigma);
  int z = node3(b, NODE_NORMAL_SAMPLE, mu, sigma, b->p->eps[k], 0);
  b->p->z_out[k] = z; /* flows act on the posterior only: none here */
  return z;
}

void plan_build_sample(plan *p, const model_arch *a, const registry *r, int max_batch) {
  plan_init(p, a, r, max_batch);
  builder b = {p, r, a};
  p->logits = decoder(&b, sample_group, NULL);
}

void plan_free(plan *p) {
  free(p->nodes);
  free(p->slots);
  free(p->goff);
  free(p->zero_start);
  free(p->zero_at);
  free(p->seeds);
  memset(p, 0, sizeof *p);
}

/* ---- gradient memory: interval allocation over the backward walk ---- */

typedef struct live_block {
  int64_t off, size;
  int dies; /* node index whose backward reads it last; dead once the walk goes below it */
} live_block;

/* Lowest offset where `size` floats fit between the live blocks (kept sorted by offset). */
static int64_t first_fit(const live_block *b, int n, int64_t size, int64_t base) {
  int64_t at = base;
  for (int i = 0; i < n; i++) {
    if (b[i].off - at >= size) return at;
    if (b[i].off + b[i].size > at) at = b[i].off + b[i].size;
  }
  return at;
}

void plan_assign_gradients(plan *p, const int *seeds, int n_seeds) {
  int S = p->n_slots, N = p->n_nodes;
  int *prod = nvae_malloc((size_t)S * sizeof(int)), *cons = nvae_malloc((size_t)S * sizeof(int));
  for (int s = 0; s < S; s++)
    prod[s] = cons[s] = -1;
  for (int i = 0; i < N; i++) {
    const node *n = &p->nodes[i];
    if (n->flags & NODE_F_IW) continue; /* never in the backward walk */
    for (int k = 0; k < 2; k++)
      if (n->out[k] >= 0) prod[n->out[k]] = i;
    for (int k = 0; k < 4; k++)
      if (n->in[k] >= 0) cons[n->in[k]] = i;
  }
  for (int k = 0; k < n_seeds; k++)
    cons[seeds[k]] = N; /* live from before the walk */
  /* a produced slot nobody differentiates through: zero it right before its producer reads it */
  for (int s = 0; s < S; s++)
    if (prod[s] >= 0 && cons[s] < prod[s]) cons[s] = prod[s];

  p->goff = nvae_malloc((size_t)S * sizeof(int64_t));
  int64_t dump = 0; /* producer-less slots: one scratch region at offset 0 */
  for (int s = 0; s < S; s++)
    if (prod[s] < 0) {
      int64_t sz = round16((int64_t)p->max_batch * p->slots[s].c * p->slots[s].h * p->slots[s].w);
      if (sz > dump) dump = sz;
      p->goff[s] = 0;
    }
  /* walk the backward order: a slot becomes live at cons (seeds first), dies after prod */
  /* slots bucketed by the backward step that first writes their gradient */
  int *order = nvae_malloc((size_t)S * sizeof(int)), n_order = 0;
  int *bucket_start = nvae_calloc((size_t)N + 2, sizeof(int));
  for (int s = 0; s < S; s++)
    if (prod[s] >= 0) bucket_start[cons[s] + 1]++;
  for (int t = 0; t <= N; t++)
    bucket_start[t + 1] += bucket_start[t];
  int *fill = nvae_malloc((size_t)(N + 1) * sizeof(int));
  for (int t = 0; t <= N; t++)
    fill[t] = bucket_start[t];
  for (int s = 0; s < S; s++)
    if (prod[s] >= 0) order[fill[cons[s]]++] = s;
  n_order = bucket_start[N + 1];

  live_block *live = nvae_malloc((size_t)(n_order + 1) * sizeof(live_block));
  int n_live = 0;
  int64_t top = dump;
  for (int t = N; t >= 0; t--) {
    /* blocks whose producer's backward already ran (index > t) are dead now */
    int w = 0;
    for (int i = 0; i < n_live; i++)
      if (live[i].dies <= t) live[w++] = live[i];
    n_live = w;
    for (int j = bucket_start[t]; j < bucket_start[t + 1]; j++) {
      int s = order[j];
      int64_t sz = round16((int64_t)p->max_batch * p->slots[s].c * p->slots[s].h * p->slots[s].w);
      int64_t off = first_fit(live, n_live, sz, dump);
      p->goff[s] = off;
      if (off + sz > top) top = off + sz;
      int k = n_live++; /* insert sorted by offset */
      while (k > 0 && live[k - 1].off > off) {
        live[k] = live[k - 1];
        k--;
      }
      live[k] = (live_block){off, sz, prod[s]};
    }
  }
  p->grad_floats = top;
  p->grad_dump = dump;

  /* who zeroes what: node cons[s] before its backward (seeds are zeroed and set by the caller) */
  p->zero_start = nvae_calloc((size_t)N + 1, sizeof(int));
  p->zero_at = nvae_malloc((size_t)(n_order + 1) * sizeof(int));
  for (int s = 0; s < S; s++)
    if (prod[s] >= 0 && cons[s] < N) p->zero_start[cons[s] + 1]++;
  for (int i = 0; i < N; i++)
    p->zero_start[i + 1] += p->zero_start[i];
  for (int i = 0; i <= N; i++)
    fill[i] = i < N ? p->zero_start[i] : 0;
  for (int s = 0; s < S; s++)
    if (prod[s] >= 0 && cons[s] < N) p->zero_at[fill[cons[s]]++] = s;
  p->seeds = nvae_malloc((size_t)(n_seeds ? n_seeds : 1) * sizeof(int));
  memcpy(p->seeds, seeds, (size_t)n_seeds * sizeof(int));
  p->n_seeds = n_seeds;
  free(prod);
  free(cons);
  free(order);
  free(bucket_start);
  free(fill);
  free(live);
}
