/* Model creation: the registry, the two plans, the arenas (parameters, gradients, buffers,
 * counters, SR vectors, effective weights, AR masks, BN saved statistics, activations), the
 * accessors of model.h and the start-up summary. */
#include "trainer/model_internal.h"
#include "trainer/model_registry.h"

#include <stdlib.h>
#include <string.h>

static int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

static float *dev_alloc(model *m, op_ctx *ctx, int64_t floats) {
  size_t bytes = (size_t)(floats > 0 ? floats : 1) * sizeof(float);
  float *p = m->ops->alloc(bytes);
  m->ops->zero(ctx, p, bytes);
  m->device_bytes += bytes;
  return p;
}

/* The AR mask of NVAE.md §1.7 for conv c, [Cout, Cin/groups, k, k] on the host: rows above the
 * centre and taps left of it are 1, the centre tap is the channel mask, the rest 0; the mirror
 * cell flips it in both spatial axes (channel order unchanged). */
static void ar_mask(const reg_conv *c, float *mask) {
  int k = c->k, mid = (k - 1) / 2, cin_g = c->cin / c->groups;
  for (int o = 0; o < c->cout; o++)
    for (int i = 0; i < cin_g; i++) {
      float centre;
      if (c->groups == 1) {
        if (c->cout >= c->cin) { /* output block o / r may see inputs 0..block (−1 if zero_diag) */
          int r = c->cout / c->cin, blk = o / r;
          centre = (i < blk || (i == blk && !c->zero_diag)) ? 1.0f : 0.0f;
        } else { /* output o may see inputs 0..(o+1)·r − 1, minus its own block if zero_diag */
          int r = c->cin / c->cout;
          centre = i < (o + 1) * r ? 1.0f : 0.0f;
          if (c->zero_diag && i >= o * r && i < (o + 1) * r) centre = 0.0f;
        }
      } else { /* depthwise */
        centre = c->zero_diag ? 0.0f : 1.0f;
      }
      for (int y = 0; y < k; y++)
        for (int x = 0; x < k; x++) {
          float v = (y < mid || (y == mid && x < mid)) ? 1.0f : 0.0f;
          if (y == mid && x == mid) v = centre;
          int yy = c->mirror ? k - 1 - y : y, xx = c->mirror ? k - 1 - x : x;
          mask[(((int64_t)o * cin_g + i) * k + yy) * k + xx] = v;
        }
    }
}

static void alloc_layer_arenas(model *m, op_ctx *ctx) {
  const registry *r = &m->reg;
  m->weff_off = nvae_malloc((size_t)r->n_convs * sizeof(int64_t));
  m->wnorm_off = nvae_malloc((size_t)r->n_convs * sizeof(int64_t));
  m->mask_off = nvae_malloc((size_t)r->n_convs * sizeof(int64_t));
  int64_t nw = 0, nn = 0, nm = 0;
  for (int i = 0; i < r->n_convs; i++) {
    const reg_conv *c = &r->convs[i];
    int64_t numel = r->tensors[c->weight].numel;
    m->weff_off[i] = m->wnorm_off[i] = m->mask_off[i] = -1;
    if (c->kind == REG_CONV_PLAIN) continue;
    m->weff_off[i] = nw;
    nw += round16(numel);
    m->wnorm_off[i] = nn;
    nn += round16(c->cout);
    if (c->kind == REG_CONV_AR) {
      m->mask_off[i] = nm;
      nm += round16(numel);
    }
  }
  m->weff_numel = nw;
  m->weff = dev_alloc(m, ctx, nw);
  m->dweff = dev_alloc(m, ctx, nw);
  m->wnorm = dev_alloc(m, ctx, nn);
  m->masks = dev_alloc(m, ctx, nm);
  /* masks are built once, on the host, and copied to the device */
  for (int i = 0; i < r->n_convs; i++) {
    if (m->mask_off[i] < 0) continue;
    int64_t numel = r->tensors[r->convs[i].weight].numel;
    float *h = nvae_malloc((size_t)numel * sizeof(float));
    ar_mask(&r->convs[i], h);
    m->ops->from_host(ctx, m->masks + m->mask_off[i], h, (size_t)numel * sizeof(float));
    free(h);
  }
  m->bn_save_off = nvae_malloc((size_t)(r->n_bns ? r->n_bns : 1) * sizeof(int64_t));
  int64_t nb = 0;
  for (int i = 0; i < r->n_bns; i++) {
    m->bn_save_off[i] = nb;
    nb += round16(2 * (int64_t)r->bns[i].channels);
  }
  m->bn_save = dev_alloc(m, ctx, nb);
  m->scal_numel = round16(r->n_convs) + round16(r->n_bns) + 16;
  m->scal = dev_alloc(m, ctx, m->scal_numel);
}

/* The step values (α set once, the rest zero) and the pinned input stages with their fences. */
static void alloc_step_state(model *m, op_ctx *ctx) {
  const int N = m->train.n_groups;
  m->stepv_len = STEPV_LEN(N);
  size_t vbytes = (size_t)m->stepv_len * sizeof(double);
  m->stepv = m->ops->alloc(vbytes);
  m->device_bytes += vbytes;
  double *h = nvae_calloc((size_t)m->stepv_len, sizeof(double));
  for (int g = 0; g < N; g++) h[STEPV_ALPHA(N, g)] = m->kl_alpha[g];
  m->ops->from_host(ctx, m->stepv, h, vbytes);
  free(h);
  const int64_t per = (int64_t)m->arch.image_channels * m->arch.image_size * m->arch.image_size;
  for (int k = 0; k < 2; k++) {
    size_t bytes = (size_t)(2 * per * m->opt.max_batch) * sizeof(float);
    m->stage[k] = m->ops->host_alloc(bytes);
    NVAE_ASSERT(m->stage[k], "model: cannot allocate %zu bytes of pinned host memory", bytes);
    m->stage_fence[k] = m->ops->fence_new(ctx);
  }
  m->inputs_free = m->ops->fence_new(ctx);
}

/* Both plans, and the gradient layout of the training plan: the seeds are the per-image terms
 * the objective differentiates (Σ log p over the loss window, KL of each group). */
static void build_plans(plan *t, plan *s, const model_arch *arch, const registry *r, int batch) {
  plan_build_train(t, arch, r, batch);
  plan_build_sample(s, arch, r, batch);
  int seeds[MODEL_MAX_GROUPS + 1], n = 0;
  seeds[n++] = t->logp_sum;
  for (int g = 0; g < t->n_groups; g++)
    seeds[n++] = t->kl_b[g];
  plan_assign_gradients(t, seeds, n);
}

int model_create(const model_arch *arch, const model_options *opt, op_ctx *ctx, model **out,
                 nvae_err *e) {
  *out = NULL;
  if (opt->max_batch < 1)
    return nvae_errf(e, NVAE_EXIT_USAGE, "model: max_batch is %d, must be at least 1",
                     opt->max_batch);
  if (opt->crop_h < 0 || opt->crop_w < 0 || opt->crop_y0 < 0 || opt->crop_x0 < 0 ||
      opt->crop_y0 + opt->crop_h > arch->image_size ||
      opt->crop_x0 + opt->crop_w > arch->image_size)
    return nvae_errf(
        e, NVAE_EXIT_USAGE, "model: loss region (y0 %d, x0 %d, h %d, w %d) outside the %dx%d image",
        opt->crop_y0, opt->crop_x0, opt->crop_h, opt->crop_w, arch->image_size, arch->image_size);
  model *m = nvae_calloc(1, sizeof *m);
  int rc = model_registry_build(arch, &m->reg, e);
  if (rc) {
    registry_free(&m->reg);
    free(m);
    return rc;
  }
  m->arch = *arch;
  m->opt = *opt;
  m->ops = ctx->ops;
  m->device = ctx->device;
  m->ctx = ctx;
  m->sync.allreduce_sum = opt->hooks.allreduce_sum;
  m->sync.arg = opt->hooks.arg;
  m->sync.allreduce_sum_dev = opt->hooks.allreduce_sum_dev;
  m->temperature = 1.0f;
  model_kl_alpha(arch, m->kl_alpha);

  const registry *r = &m->reg;
  m->params = dev_alloc(m, ctx, r->param_arena_numel);
  m->grads = dev_alloc(m, ctx, r->param_arena_numel);
  m->buffers = dev_alloc(m, ctx, r->buffer_arena_numel);
  m->sr = dev_alloc(m, ctx, r->sr_vector_numel);
  m->counters =
      nvae_calloc((size_t)(r->counter_arena_numel ? r->counter_arena_numel : 1), sizeof(int64_t));
  alloc_layer_arenas(m, ctx);

  build_plans(&m->train, &m->sample, arch, r, opt->max_batch);
  model_grad_ready_build(m);
  m->act_floats = m->train.arena_floats > m->sample.arena_floats ? m->train.arena_floats
                                                                 : m->sample.arena_floats;
  m->dact_floats = m->train.grad_floats; /* only the training plan runs backward */
  m->act = dev_alloc(m, ctx, m->act_floats);
  m->dact = dev_alloc(m, ctx, m->dact_floats);
  alloc_step_state(m, ctx);
  *out = m;
  return 0;
}

void model_free(model *m) {
  if (!m) return;
  float *dev[] = {m->params, m->grads, m->buffers, m->sr,   m->weff, m->dweff,
                  m->wnorm,  m->masks, m->bn_save, m->scal, m->act,  m->dact};
  for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
    if (dev[i]) m->ops->free(dev[i]);
  if (m->stepv) m->ops->free(m->stepv);
  for (int k = 0; k < 2; k++) {
    if (m->stage_fence[k]) {
      m->ops->fence_sync(m->ctx, m->stage_fence[k]); /* no copy still reads the stage */
      m->ops->fence_free(m->stage_fence[k]);
    }
    if (m->stage[k]) m->ops->host_free(m->stage[k]);
  }
  if (m->inputs_free) m->ops->fence_free(m->inputs_free);
  free(m->counters);
  free(m->weff_off);
  free(m->wnorm_off);
  free(m->mask_off);
  free(m->bn_save_off);
  model_grad_ready_free(m);
  plan_free(&m->train);
  plan_free(&m->sample);
  registry_free(&m->reg);
  free(m);
}

const registry *model_registry(const model *m) { return &m->reg; }
const model_arch *model_get_arch(const model *m) { return &m->arch; }
float *model_params(model *m) { return m->params; }
float *model_grads(model *m) { return m->grads; }
float *model_buffers(model *m) { return m->buffers; }
int64_t *model_counters(model *m) { return m->counters; }
float *model_sr_vectors(model *m) { return m->sr; }
int model_sr_initialized(const model *m) { return m->sr_initialized; }
void model_set_sr_initialized(model *m, int on) { m->sr_initialized = on ? 1 : 0; }
size_t model_device_bytes(const model *m) { return m->device_bytes; }
size_t model_activation_bytes(const model *m) {
  return (size_t)(m->act_floats + m->dact_floats) * sizeof(float); /* with their gradients */
}

void model_get_eps(model *m, op_ctx *ctx, int group, float *host) {
  NVAE_ASSERT(group >= 0 && group < m->train.n_groups, "group %d of %d", group, m->train.n_groups);
  NVAE_ASSERT(m->last_batch > 0, "model_get_eps before any forward pass");
  model_slot_to_host(m, ctx, &m->train, m->train.eps[group], m->last_batch, host);
}

void model_print_summary(const model *m, FILE *f) {
  registry_print_summary(&m->reg, &m->arch, f);
  const double mib = 1.0 / (1024.0 * 1024.0);
  double act = (double)model_activation_bytes(m) * mib;
  double per_layer = (double)(2 * m->weff_numel) * sizeof(float) * mib;
  fprintf(f,
          "activations      %10.1f MiB for batch %d (%.2f MiB per image; gradients %.1f MiB "
          "of it; %d + %d plan nodes)\n",
          act, m->opt.max_batch, act / m->opt.max_batch,
          (double)m->dact_floats * sizeof(float) * mib, m->train.n_nodes, m->sample.n_nodes);
  fprintf(f, "effective weights%10.1f MiB (WN/AR weights and their gradients)\n", per_layer);
}

size_t model_estimate_activation_bytes(const model_arch *arch, int max_batch) {
  registry r;
  nvae_err e = {0};
  if (max_batch < 1 || model_registry_build(arch, &r, &e)) {
    registry_free(&r);
    return 0;
  }
  plan t, s;
  build_plans(&t, &s, arch, &r, max_batch);
  int64_t floats = t.arena_floats > s.arena_floats ? t.arena_floats : s.arena_floats;
  floats += t.grad_floats;
  plan_free(&t);
  plan_free(&s);
  registry_free(&r);
  return (size_t)floats * sizeof(float);
}
