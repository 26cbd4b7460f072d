/* Running a plan: tensor views on the arenas, weight normalisation of every WN / AR conv, the
 * forward walk over the nodes and the backward walk in reverse (model_internal.h). Each node is
 * one op of the op API; every backward op accumulates into its input slots' gradients.
 */
#include "trainer/model_internal.h"

#include <string.h>

/* ---- views ---- */

static tensor on_device(const model *m, tensor t) { return tensor_on(t, m->device); }

static tensor slot_view(model *m, float *d, const plan *p, int slot, int batch) {
  NVAE_ASSERT(batch >= 1 && batch <= p->max_batch, "batch %d, plan built for %d", batch,
              p->max_batch);
  const act_slot *s = &p->slots[slot];
  tensor t;
  switch (s->kind) {
  case SLOT_2D: t = tensor_2d(d, batch, s->c); break;
  case SLOT_VEC: t = tensor_1d(d, batch); break;
  default: t = tensor_4d(d, batch, s->c, s->h, s->w); break;
  }
  return on_device(m, t);
}

tensor model_slot(model *m, const plan *p, int slot, int batch) {
  NVAE_ASSERT(slot >= 0 && slot < p->n_slots, "slot %d of %d", slot, p->n_slots);
  return slot_view(m, m->act + p->slots[slot].off, p, slot, batch);
}
tensor model_dslot(model *m, const plan *p, int slot, int batch) {
  NVAE_ASSERT(slot >= 0 && slot < p->n_slots && p->goff, "gradient of slot %d", slot);
  return slot_view(m, m->dact + p->goff[slot], p, slot, batch);
}
tensor model_param(model *m, int i) { return on_device(m, registry_view(&m->reg, i, m->params)); }
tensor model_grad(model *m, int i) { return on_device(m, registry_view(&m->reg, i, m->grads)); }
static tensor model_buffer(model *m, int i) {
  return on_device(m, registry_view(&m->reg, i, m->buffers));
}

static tensor shaped_like(const model *m, float *data, const reg_tensor *t) {
  tensor v = tensor_4d(data, t->shape[0], t->shape[1], t->shape[2], t->shape[3]);
  return on_device(m, v);
}

tensor model_conv_weight(model *m, int conv) {
  const reg_conv *c = &m->reg.convs[conv];
  if (m->weff_off[conv] < 0) return model_param(m, c->weight);
  return shaped_like(m, m->weff + m->weff_off[conv], &m->reg.tensors[c->weight]);
}

tensor model_conv_dweight(model *m, int conv) {
  const reg_conv *c = &m->reg.convs[conv];
  if (m->weff_off[conv] < 0) return model_grad(m, c->weight);
  return shaped_like(m, m->dweff + m->weff_off[conv], &m->reg.tensors[c->weight]);
}

static tensor conv_mask(model *m, int conv) {
  return shaped_like(m, m->masks + m->mask_off[conv], &m->reg.tensors[m->reg.convs[conv].weight]);
}

static tensor conv_norm(model *m, int conv) {
  return on_device(m, tensor_1d(m->wnorm + m->wnorm_off[conv], m->reg.convs[conv].cout));
}

/* ---- weight normalisation (NVAE.md §1.1): forward once per step; the backward of each conv runs
 * right after its last backward node (model_grad_ready.c) ---- */

void model_weight_norm_forward(model *m, op_ctx *ctx) {
  for (int i = 0; i < m->reg.n_convs; i++) {
    if (m->weff_off[i] < 0) continue;
    const reg_conv *c = &m->reg.convs[i];
    tensor v = model_param(m, c->weight), g = model_param(m, c->log_norm);
    tensor w = model_conv_weight(m, i), n = conv_norm(m, i);
    tensor mk = c->kind == REG_CONV_AR ? conv_mask(m, i) : (tensor){0};
    m->ops->weight_norm_forward(ctx, &v, &g, c->kind == REG_CONV_AR ? &mk : NULL, &w, &n);
  }
}

void model_weight_norm_backward_conv(model *m, op_ctx *ctx, int i) {
  if (m->weff_off[i] < 0) return; /* a plain conv: its gradient is already the parameter's */
  const reg_conv *c = &m->reg.convs[i];
  tensor v = model_param(m, c->weight), g = model_param(m, c->log_norm);
  tensor dv = model_grad(m, c->weight), dg = model_grad(m, c->log_norm);
  tensor dw = model_conv_dweight(m, i), n = conv_norm(m, i);
  tensor mk = c->kind == REG_CONV_AR ? conv_mask(m, i) : (tensor){0};
  m->ops->weight_norm_backward(ctx, &v, &g, c->kind == REG_CONV_AR ? &mk : NULL, &n, &dw, &dv,
                               &dg);
}

/* ---- per-node helpers ---- */

static conv2d_params conv_params(const reg_conv *c) {
  conv2d_params p = {c->stride, c->k / 2, c->groups};
  return p;
}

typedef struct bn_views {
  tensor gamma, beta, mean, var, save_mean, save_invstd, dgamma, dbeta;
} bn_views;

static bn_views bn_get(model *m, int layer) {
  const reg_bn *l = &m->reg.bns[layer];
  bn_views v;
  v.gamma = model_param(m, l->weight);
  v.beta = model_param(m, l->bias);
  v.dgamma = model_grad(m, l->weight);
  v.dbeta = model_grad(m, l->bias);
  v.mean = model_buffer(m, l->running_mean);
  v.var = model_buffer(m, l->running_var);
  float *s = m->bn_save + m->bn_save_off[layer];
  v.save_mean = on_device(m, tensor_1d(s, l->channels));
  v.save_invstd = on_device(m, tensor_1d(s + l->channels, l->channels));
  return v;
}

static const bn_sync *model_bn_sync(const model *m) {
  return (m->opt.sync_bn && m->sync.allreduce_sum) ? &m->sync : NULL;
}

static void crop_window(const model *m, int *y0, int *x0, int *h, int *w) {
  const model_options *o = &m->opt;
  if (o->crop_h > 0 && o->crop_w > 0) {
    *y0 = o->crop_y0, *x0 = o->crop_x0, *h = o->crop_h, *w = o->crop_w;
  } else {
    *y0 = *x0 = 0;
    *h = *w = m->arch.image_size;
  }
}

static dmol_params model_dmol(const model *m) {
  dmol_params d = dmol_params_default(m->arch.image_channels, m->arch.num_mixture_dec,
                                      m->opt.num_x_bits > 0 ? m->opt.num_x_bits : 8);
  if (m->opt.dmol_upper_edge > 0) d.upper_edge = m->opt.dmol_upper_edge;
  return d;
}

/* ---- forward ---- */

static void node_forward(model *m, op_ctx *ctx, const plan *p, const node *n, int B) {
  const op_backend *o = m->ops;
  tensor x = n->in[0] >= 0 ? model_slot(m, p, n->in[0], B) : (tensor){0};
  tensor x1 = n->in[1] >= 0 ? model_slot(m, p, n->in[1], B) : (tensor){0};
  tensor x2 = n->in[2] >= 0 ? model_slot(m, p, n->in[2], B) : (tensor){0};
  tensor x3 = n->in[3] >= 0 ? model_slot(m, p, n->in[3], B) : (tensor){0};
  tensor y = n->out[0] >= 0 ? model_slot(m, p, n->out[0], B) : (tensor){0};
  tensor y1 = n->out[1] >= 0 ? model_slot(m, p, n->out[1], B) : (tensor){0};
  switch (n->op) {
  case NODE_INPUT: NVAE_FATAL("NODE_INPUT is not executed"); break;
  case NODE_CONV: {
    const reg_conv *c = &m->reg.convs[n->layer];
    conv2d_params cp = conv_params(c);
    tensor w = model_conv_weight(m, n->layer);
    tensor b = c->bias >= 0 ? model_param(m, c->bias) : (tensor){0};
    o->conv2d_forward(ctx, &cp, &x, &w, NULL, c->bias >= 0 ? &b : NULL, &y);
    break;
  }
  case NODE_BN:
  case NODE_BN_SWISH: {
    bn_views v = bn_get(m, n->layer);
    batchnorm_params bp = batchnorm_params_default();
    int fused = n->op == NODE_BN_SWISH;
    if (m->bn_train) {
      (fused ? o->bn_swish_forward_train
             : o->batchnorm_forward_train)(ctx, &bp, model_bn_sync(m), &x, &v.gamma, &v.beta,
                                           &v.mean, &v.var, &y, &v.save_mean, &v.save_invstd);
      const reg_bn *l = &m->reg.bns[n->layer];
      m->counters[m->reg.tensors[l->num_batches].offset]++;
    } else {
      (fused ? o->bn_swish_forward_eval : o->batchnorm_forward_eval)(ctx, &bp, &x, &v.gamma,
                                                                     &v.beta, &v.mean, &v.var, &y);
    }
    break;
  }
  case NODE_SWISH: o->swish_forward(ctx, &x, &y); break;
  case NODE_ELU: o->elu_forward(ctx, &x, &y); break;
  case NODE_SE: {
    tensor w1 = model_param(m, n->aux[0]), b1 = model_param(m, n->aux[1]);
    tensor w2 = model_param(m, n->aux[2]), b2 = model_param(m, n->aux[3]);
    tensor saved = model_slot(m, p, n->save, B);
    o->squeeze_excite_forward(ctx, &x, &w1, &b1, &w2, &b2, &y, &saved);
    break;
  }
  case NODE_ADD: o->add_scaled_forward(ctx, &x, n->s, &x1, &y); break;
  case NODE_UP_NEAREST: o->upsample_nearest2x_forward(ctx, &x, &y); break;
  case NODE_UP_BILINEAR: o->upsample_bilinear2x_forward(ctx, &x, &y); break;
  case NODE_FACT_REDUCE: {
    tensor w[4], b[4];
    const tensor *wp[4], *bp[4];
    for (int k = 0; k < 4; k++) {
      w[k] = model_conv_weight(m, n->aux[k]);
      b[k] = model_param(m, m->reg.convs[n->aux[k]].bias);
      wp[k] = &w[k];
      bp[k] = &b[k];
    }
    o->factorized_reduce_forward(ctx, &x, wp, bp, &y);
    break;
  }
  case NODE_CONCAT: {
    const tensor *xs[2] = {&x, &x1};
    o->concat_channels_forward(ctx, 2, xs, &y);
    break;
  }
  case NODE_SPLIT: {
    tensor *ys[2] = {&y, &y1};
    o->split_channels_forward(ctx, &x, 2, ys);
    break;
  }
  case NODE_BROADCAST: {
    tensor pr = model_param(m, n->aux[0]);
    size_t bytes = tensor_bytes(&pr);
    for (int b = 0; b < B; b++)
      o->copy(ctx, (char *)y.data + (size_t)b * bytes, pr.data, bytes);
    break;
  }
  case NODE_NORMAL_PARAMS: {
    float t = (n->flags & NODE_F_TEMP) ? m->temperature : 1.0f;
    o->normal_params_forward(ctx, &x, &x1, t, &y, &y1);
    break;
  }
  case NODE_NORMAL_SAMPLE: o->normal_sample_forward(ctx, &x, &x1, &x2, &y); break;
  case NODE_LOG_DENSITY: o->normal_log_density_forward(ctx, &x, &x1, &x2, &y); break;
  case NODE_KL: o->normal_kl_forward(ctx, &x, &x1, &x2, &x3, &y); break;
  case NODE_SUM_SAMPLE: o->sum_per_sample_forward(ctx, &x, &y); break;
  case NODE_SUM_REGION: {
    int y0, x0, h, w;
    crop_window(m, &y0, &x0, &h, &w);
    o->sum_region_per_sample_forward(ctx, &x, y0, x0, h, w, &y);
    break;
  }
  case NODE_DMOL: {
    dmol_params dp = model_dmol(m);
    o->dmol_log_likelihood_forward(ctx, &dp, &x, &x1, &y);
    break;
  }
  case NODE_BERNOULLI: o->bernoulli_log_likelihood_forward(ctx, &x, &x1, &y); break;
  case NODE_COUNT: break;
  }
}

void model_plan_forward(model *m, op_ctx *ctx, const plan *p, int batch, int with_iw) {
  /* the raw top prior μ = ℓ = 0 lives in the shared activation arena: refresh it every pass */
  tensor z = model_slot(m, p, p->zeros_top, batch);
  m->inputs_free_valid = 0; /* this pass writes the shared arena: later uploads wait for it */
  m->ops->zero(ctx, z.data, tensor_bytes(&z));
  for (int i = 0; i < p->n_nodes; i++) {
    const node *n = &p->nodes[i];
    if ((n->flags & NODE_F_IW) && !with_iw) continue;
    node_forward(m, ctx, p, n, batch);
  }
}

/* ---- backward ---- */

static void node_backward(model *m, op_ctx *ctx, const plan *p, const node *n, int B) {
  const op_backend *o = m->ops;
#define X(i) (n->in[i] >= 0 ? model_slot(m, p, n->in[i], B) : (tensor){0})
#define DX(i) (n->in[i] >= 0 ? model_dslot(m, p, n->in[i], B) : (tensor){0})
  tensor x = X(0), x1 = X(1), x2 = X(2), x3 = X(3);
  tensor dx = DX(0), dx1 = DX(1), dx2 = DX(2), dx3 = DX(3);
#undef X
#undef DX
  tensor dy = n->out[0] >= 0 ? model_dslot(m, p, n->out[0], B) : (tensor){0};
  tensor dy1 = n->out[1] >= 0 ? model_dslot(m, p, n->out[1], B) : (tensor){0};
  /* the model input (x, 2x − 1) needs no gradient */
  tensor *dx_or_null = (n->in[0] == p->xt || n->in[0] == p->x_in) ? NULL : &dx;
  switch (n->op) {
  case NODE_INPUT: break;
  case NODE_CONV: {
    const reg_conv *c = &m->reg.convs[n->layer];
    conv2d_params cp = conv_params(c);
    tensor w = model_conv_weight(m, n->layer), dw = model_conv_dweight(m, n->layer);
    tensor db = c->bias >= 0 ? model_grad(m, c->bias) : (tensor){0};
    o->conv2d_backward(ctx, &cp, &x, &w, NULL, &dy, dx_or_null, &dw, c->bias >= 0 ? &db : NULL);
    break;
  }
  case NODE_BN: {
    bn_views v = bn_get(m, n->layer);
    o->batchnorm_backward_train(ctx, model_bn_sync(m), &x, &v.gamma, &v.save_mean, &v.save_invstd,
                                &dy, &dx, &v.dgamma, &v.dbeta);
    break;
  }
  case NODE_BN_SWISH: {
    bn_views v = bn_get(m, n->layer);
    o->bn_swish_backward_train(ctx, model_bn_sync(m), &x, &v.gamma, &v.beta, &v.save_mean,
                               &v.save_invstd, &dy, &dx, &v.dgamma, &v.dbeta);
    break;
  }
  case NODE_SWISH: o->swish_backward(ctx, &x, &dy, &dx); break;
  case NODE_ELU: o->elu_backward(ctx, &x, &dy, &dx); break;
  case NODE_SE: {
    tensor w1 = model_param(m, n->aux[0]), w2 = model_param(m, n->aux[2]);
    tensor dw1 = model_grad(m, n->aux[0]), db1 = model_grad(m, n->aux[1]);
    tensor dw2 = model_grad(m, n->aux[2]), db2 = model_grad(m, n->aux[3]);
    tensor saved = model_slot(m, p, n->save, B);
    o->squeeze_excite_backward(ctx, &x, &w1, &w2, &saved, &dy, &dx, &dw1, &db1, &dw2, &db2);
    break;
  }
  case NODE_ADD: o->add_scaled_backward(ctx, n->s, &dy, &dx, &dx1); break;
  case NODE_UP_NEAREST: o->upsample_nearest2x_backward(ctx, &dy, &dx); break;
  case NODE_UP_BILINEAR: o->upsample_bilinear2x_backward(ctx, &dy, &dx); break;
  case NODE_FACT_REDUCE: {
    tensor w[4], dw[4], db[4];
    const tensor *wp[4];
    tensor *dwp[4], *dbp[4];
    for (int k = 0; k < 4; k++) {
      w[k] = model_conv_weight(m, n->aux[k]);
      dw[k] = model_conv_dweight(m, n->aux[k]);
      db[k] = model_grad(m, m->reg.convs[n->aux[k]].bias);
      wp[k] = &w[k];
      dwp[k] = &dw[k];
      dbp[k] = &db[k];
    }
    o->factorized_reduce_backward(ctx, &x, wp, &dy, &dx, dwp, dbp);
    break;
  }
  case NODE_CONCAT: {
    tensor *dxs[2] = {&dx, &dx1};
    o->concat_channels_backward(ctx, 2, &dy, dxs);
    break;
  }
  case NODE_SPLIT: {
    const tensor *dys[2] = {&dy, &dy1};
    o->split_channels_backward(ctx, 2, dys, &dx);
    break;
  }
  case NODE_BROADCAST: { /* prior_ftr0 is shared by the batch: its gradient is the batch sum */
    tensor g = model_grad(m, n->aux[0]);
    int64_t per = tensor_numel(&g);
    for (int b = 0; b < B; b++) {
      tensor d = on_device(m, tensor_1d((float *)dy.data + (int64_t)b * per, per));
      tensor gv = on_device(m, tensor_1d(g.data, per));
      o->add_scaled_forward(ctx, &gv, 1.0f, &d, &gv);
    }
    break;
  }
  case NODE_NORMAL_PARAMS: {
    float t = (n->flags & NODE_F_TEMP) ? m->temperature : 1.0f;
    o->normal_params_backward(ctx, &x, &x1, t, &dy, &dy1, &dx, &dx1);
    break;
  }
  case NODE_NORMAL_SAMPLE: o->normal_sample_backward(ctx, &x2, &dy, &dx, &dx1); break;
  case NODE_LOG_DENSITY:
    o->normal_log_density_backward(ctx, &x, &x1, &x2, &dy, dx_or_null, &dx1, &dx2);
    break;
  case NODE_KL: o->normal_kl_backward(ctx, &x, &x1, &x2, &x3, &dy, &dx, &dx1, &dx2, &dx3); break;
  case NODE_SUM_SAMPLE: o->sum_per_sample_backward(ctx, &dy, &dx); break;
  case NODE_SUM_REGION: {
    int y0, x0, h, w;
    crop_window(m, &y0, &x0, &h, &w);
    o->sum_region_per_sample_backward(ctx, y0, x0, h, w, &dy, &dx);
    break;
  }
  case NODE_DMOL: {
    dmol_params dp = model_dmol(m);
    o->dmol_log_likelihood_backward(ctx, &dp, &x, &x1, &dy, &dx);
    break;
  }
  case NODE_BERNOULLI: o->bernoulli_log_likelihood_backward(ctx, &x, &x1, &dy, &dx); break;
  case NODE_COUNT: break;
  }
  (void)x3;
  (void)dx2;
  (void)dx3;
}

void model_plan_backward(model *m, op_ctx *ctx, const plan *p, int batch) {
  m->ops->zero(ctx, m->dact, (size_t)p->grad_dump * sizeof(float)); /* written, never read */
  for (int i = p->n_nodes - 1; i >= 0; i--) {
    const node *n = &p->nodes[i];
    if (n->flags & NODE_F_IW) continue; /* never part of the differentiated loss */
    /* gradients that start here share memory with dead ones: zero them before accumulating */
    for (int k = p->zero_start[i]; k < p->zero_start[i + 1]; k++) {
      tensor g = model_dslot(m, p, p->zero_at[k], batch);
      m->ops->zero(ctx, g.data, tensor_bytes(&g));
    }
    node_backward(m, ctx, p, n, batch);
    if (p == &m->train) model_grad_ready_at(m, ctx, i);
  }
}

/* ---- noise ---- */

void model_fill_eps(model *m, op_ctx *ctx, const plan *p, int batch, const uint32_t *keys,
                    uint64_t seed, uint32_t step) {
  philox_stream st = {seed, PHILOX_LATENT_EPS, step};
  tensor all = model_slot(m, p, p->eps_all, batch);
  int64_t per = all.shape[1];
  /* one call per image: its numbers depend only on (seed, step, its global key) */
  for (int b = 0; b < batch; b++)
    m->ops->philox_fill_normal(ctx, &st, keys[b], 1, per, (float *)all.data + (int64_t)b * per);
  for (int k = 0; k < p->n_groups; k++) {
    tensor e = model_slot(m, p, p->eps[k], batch);
    int64_t n = tensor_numel(&e) / batch;
    for (int b = 0; b < batch; b++)
      m->ops->copy(ctx, (float *)e.data + (int64_t)b * n,
                   (float *)all.data + (int64_t)b * per + p->eps_off[k], (size_t)n * sizeof(float));
  }
}

void model_slot_to_host(model *m, op_ctx *ctx, const plan *p, int slot, int batch, float *host) {
  tensor t = model_slot(m, p, slot, batch);
  m->ops->to_host(ctx, host, t.data, tensor_bytes(&t));
}
