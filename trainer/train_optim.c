/* Optimizer state, non-finite check, clipping, Adamax/Adam update (train_optim.h). */
#include "trainer/train_optim.h"


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

void train_optim_count_nonfinite(op_ctx *ctx, const float *grads, int64_t numel, double *v) {
  tensor g = flat(ctx, (float *)grads, numel);
  ctx->ops->reduce_to_scalar(ctx, &g, SCALAR_NONFINITE, 1.0, v + STEPV_BAD);
}

void train_optim_gate(const train_optim *o, op_ctx *ctx, const float *grads, double *v) {
  tensor g = flat(ctx, (float *)grads, o->numel);
  ctx->ops->reduce_to_scalar(ctx, &g, SCALAR_SQUARE, 1.0, v + STEPV_GNORM_SQ);
  ctx->ops->optim_gate(ctx, o->grad_clip, v);
}

void train_optim_step(const train_optim *o, op_ctx *ctx, float *params, float *grads, double lr,
                      const double *gate) {
  tensor p = flat(ctx, params, o->numel), g = flat(ctx, grads, o->numel);
  tensor m = flat(ctx, o->m, o->numel), v = flat(ctx, o->v, o->numel);
  const int t = (int)(o->t + 1);
  if (o->name == NVAE_OPTIM_ADAM) {
    adam_params ap = {lr, o->beta1, o->beta2, o->eps, o->weight_decay, t, gate};
    ctx->ops->adam_step(ctx, &ap, &p, &g, &m, &v);
  } else {
    adamax_params ap = {lr, o->beta1, o->beta2, o->eps, o->weight_decay, t, gate};
    ctx->ops->adamax_step(ctx, &ap, &p, &g, &m, &v);
  }
}

void train_optim_commit(train_optim *o) { o->t++; }
