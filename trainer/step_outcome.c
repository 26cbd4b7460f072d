/* The outcome of a queued training step (step_outcome.h). */
#include "trainer/step_outcome.h"

void step_outcome_init(step_outcome *so, op_ctx *ctx, int len) {
  *so = (step_outcome){0};
  so->len = len;
  for (int k = 0; k < 2; k++) {
    size_t bytes = (size_t)len * sizeof(double);
    so->host[k] = ctx->ops->host_alloc(bytes);
    NVAE_ASSERT(so->host[k], "cannot allocate %zu bytes of pinned host memory", bytes);
    so->fence[k] = ctx->ops->fence_new(ctx);
  }
}

void step_outcome_free(step_outcome *so, op_ctx *ctx) {
  for (int k = 0; k < 2; k++) {
    if (so->fence[k]) {
      ctx->ops->fence_sync(ctx, so->fence[k]); /* no copy still writes the slot */
      ctx->ops->fence_free(so->fence[k]);
    }
    if (so->host[k]) ctx->ops->host_free(so->host[k]);
  }
  *so = (step_outcome){0};
}

void step_outcome_queue(step_outcome *so, op_ctx *ctx, const double *v_dev,
                        const step_info *info) {
  NVAE_ASSERT(!so->pending, "step %lld queued while step %lld is pending",
              (long long)info->step, (long long)so->info[so->pending_slot].step);
  const int k = so->next;
  so->next ^= 1;
  ctx->ops->to_host_async(ctx, so->host[k], v_dev, (size_t)so->len * sizeof(double));
  ctx->ops->fence_record(ctx, so->fence[k]);
  so->info[k] = *info;
  so->pending = 1;
  so->pending_slot = k;
}

const double *step_outcome_take(step_outcome *so, op_ctx *ctx, step_info *info) {
  if (!so->pending) return NULL;
  const int k = so->pending_slot;
  so->pending = 0;
  ctx->ops->fence_sync(ctx, so->fence[k]);
  *info = so->info[k];
  return so->host[k];
}
