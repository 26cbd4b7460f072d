/* Convolution FLOPs of one training step per image, counted from the training plan (PERF.md §6:
 * the MFU convention counts conv/matmul FLOPs only, recompute excluded). A conv producing
 * Cout x Ho x Wo from Cin/groups x k x k inputs per output does 2·Cout·(Cin/groups)·k²·Ho·Wo
 * multiply-adds' worth of FLOPs forward; backward does it twice (input gradient and weight
 * gradient), except for convs reading the image, which need no input gradient. */
#include "trainer/model_internal.h"
#include "trainer/model_registry.h"

static double conv_flops(const reg_conv *c, const act_slot *out) {
  return 2.0 * c->cout * (double)(c->cin / c->groups) * c->k * c->k * out->h * out->w;
}

static void plan_flops(const plan *p, const registry *r, double *forward, double *backward) {
  double f = 0, b = 0;
  for (int i = 0; i < p->n_nodes; i++) {
    const node *n = &p->nodes[i];
    if (n->flags & NODE_F_IW) continue; /* importance-weighted evaluation only */
    if (n->op == NODE_CONV) {
      double x = conv_flops(&r->convs[n->layer], &p->slots[n->out[0]]);
      int reads_image = n->in[0] == p->xt || n->in[0] == p->x_in;
      f += x;
      b += reads_image ? x : 2 * x;
    } else if (n->op == NODE_FACT_REDUCE) { /* four strided 1×1 convs, Cout/4 channels each */
      act_slot o = p->slots[n->out[0]];
      for (int k = 0; k < 4; k++) {
        double x = 2.0 * r->convs[n->aux[k]].cout * (double)r->convs[n->aux[k]].cin * o.h *
                   o.w;
        f += x;
        b += 2 * x;
      }
    }
  }
  *forward = f;
  *backward = b;
}

void model_flops_per_image(const model *m, double *forward, double *backward) {
  plan_flops(&m->train, &m->reg, forward, backward);
}

int model_estimate_flops(const model_arch *arch, double *forward, double *backward) {
  registry r;
  nvae_err e = {0};
  *forward = *backward = 0;
  if (model_registry_build(arch, &r, &e)) {
    registry_free(&r);
    return -1;
  }
  plan t;
  plan_build_train(&t, arch, &r, 1);
  plan_flops(&t, &r, forward, backward);
  plan_free(&t);
  registry_free(&r);
  return 0;
}
