/* Optimizer state, non-finite check, clipping, Adamax/Adam update (train_optim.h). */
#include "trainer/train_optim.h"

#include <math.h>

void train_optim_init(train_optim *o, const nvae_config *cfg, op_ctx *ctx, int64_t numel) {
  o->name = cfg->optim.name;
  o->beta1 = cfg->optim.betas[0];
  o->beta2 = cfg->optim.betas[1];
  o->eps = cfg->optim.eps;
  o->weight_decay = cfg->optim.weight_decay;
  o->grad_clip = cfg->train.grad_clip;
  o->numel = numel;
  o->t = 0;
  size_t bytes = (size_t)(numel > 0 ? numel : 1) * sizeof(float);
  o->m = ctx->ops->alloc(bytes);
  o->v = ctx->ops->alloc(bytes);
  ctx->ops->zero(ctx, o->m, bytes);
  ctx->ops->zero(ctx, o->v, bytes);
}

void train_optim_free(train_optim *o, op_ctx *ctx) {
  if (o->m) ctx->ops->free(o->m);
  if (o->v) ctx->ops->free(o->v);
  o->m = o->v = NULL;
}

size_t train_optim_bytes(int64_t numel) { return 2 * (size_t)numel * sizeof(float); }

static tensor flat(op_ctx *ctx, float *p, int64_t n) {
  return tensor_on(tensor_1d(p, n), ctx->device);
}

int64_t train_optim_nonfinite(op_ctx *ctx, float *grads, int64_t numel) {
  tensor g = flat(ctx, grads, numel);
  return ctx->ops->nonfinite_count(ctx, &g);
}

double train_optim_clip(const train_optim *o, op_ctx *ctx, float *grads) {
  tensor g = flat(ctx, grads, o->numel);
  double norm = sqrt(ctx->ops->grad_norm_sq(ctx, &g));
  if (o->grad_clip > 0 && norm > o->grad_clip) {
    /* torch.nn.utils.clip_grad_norm_'s factor (the same in tests/reference/nvae_ref.py) */
    float s = (float)(o->grad_clip / (norm + 1e-6));
    ctx->ops->scale_forward(ctx, s, &g, &g);
  }
  return norm;
}

void train_optim_step(train_optim *o, op_ctx *ctx, float *params, float *grads, double lr) {
  o->t++;
  tensor p = flat(ctx, params, o->numel), g = flat(ctx, grads, o->numel);
  tensor m = flat(ctx, o->m, o->numel), v = flat(ctx, o->v, o->numel);
  if (o->name == NVAE_OPTIM_ADAM) {
    adam_params ap = {lr, o->beta1, o->beta2, o->eps, o->weight_decay, (int)o->t};
    ctx->ops->adam_step(ctx, &ap, &p, &g, &m, &v);
  } else {
    adamax_params ap = {lr, o->beta1, o->beta2, o->eps, o->weight_decay, (int)o->t};
    ctx->ops->adamax_step(ctx, &ap, &p, &g, &m, &v);
  }
}
