/* Host views of a live model's state for model.h5 I/O (model_io.h): the arenas themselves on the
 * CPU backend; host copies of the device arenas on a device backend (the counters live on the
 * host either way). */
#include "trainer/model_io.h"

#include "kernels/backend.h"

#include <stdlib.h>

static float *to_host_copy(op_ctx *ctx, const float *dev, int64_t n) {
  float *h = nvae_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (n > 0) ctx->ops->to_host(ctx, h, dev, (size_t)n * sizeof(float));
  return h;
}

model_state model_state_host(model *m, op_ctx *ctx) {
  model_state s = model_io_state_of(m);
  if (ctx->device == DEVICE_CPU) return s;
  s.params = to_host_copy(ctx, s.params, s.reg->param_arena_numel);
  s.buffers = to_host_copy(ctx, s.buffers, s.reg->buffer_arena_numel);
  s.sr = to_host_copy(ctx, s.sr, s.reg->sr_vector_numel);
  return s;
}

void model_state_host_upload(model *m, op_ctx *ctx, const model_state *s) {
  model_set_sr_initialized(m, s->sr_initialized);
  if (ctx->device == DEVICE_CPU) return;
  const registry *r = s->reg;
  const struct {
    float *dev;
    const float *host;
    int64_t n;
  } a[] = {{model_params(m), s->params, r->param_arena_numel},
           {model_buffers(m), s->buffers, r->buffer_arena_numel},
           {model_sr_vectors(m), s->sr, r->sr_vector_numel}};
  for (int i = 0; i < 3; i++)
    if (a[i].n > 0) ctx->ops->from_host(ctx, a[i].dev, a[i].host, (size_t)a[i].n * sizeof(float));
}

void model_state_host_free(op_ctx *ctx, model_state *s) {
  if (ctx->device != DEVICE_CPU) {
    free(s->params);
    free(s->buffers);
    free(s->sr);
  }
  s->params = s->buffers = s->sr = NULL;
}
