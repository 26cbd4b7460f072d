/* When each parameter's gradient is final during backward, so the trainer can all-reduce a bucket
 * of the gradient arena while the rest of backward still runs (DESIGN.md §3, the DDP scheme).
 *
 * A parameter's gradient is final after the LAST backward node that writes it — the lowest node
 * index, since backward walks the plan in reverse. The regularisers (spectral norm, BN max|γ|)
 * depend on the parameters only, so their gradients are accumulated BEFORE the walk; the
 * weight-norm backward of a conv (effective-weight gradient → V and log g) runs right after the
 * conv's last node instead of once at the end. Position n_nodes means "before the walk": tensors
 * no node writes (their gradient is the regularisers' alone, or zero). */
#include "trainer/model_internal.h"

#include <stdlib.h>

/* The parameter tensors (registry indices) a conv's gradient covers. */
static int conv_tensors(const reg_conv *c, int *out) {
  int n = 0;
  if (c->weight >= 0) out[n++] = c->weight;
  if (c->log_norm >= 0) out[n++] = c->log_norm;
  if (c->bias >= 0) out[n++] = c->bias;
  return n;
}

/* Convs and plain parameter tensors whose gradient node `n` writes. */
static void node_writes(const registry *r, const node *n, int *convs, int *n_convs, int *tensors,
                        int *n_tensors) {
  *n_convs = *n_tensors = 0;
  switch (n->op) {
  case NODE_CONV: convs[(*n_convs)++] = n->layer; break;
  case NODE_FACT_REDUCE:
    for (int k = 0; k < 4; k++)
      convs[(*n_convs)++] = n->aux[k];
    break;
  case NODE_BN:
  case NODE_BN_SWISH:
    tensors[(*n_tensors)++] = r->bns[n->layer].weight;
    tensors[(*n_tensors)++] = r->bns[n->layer].bias;
    break;
  case NODE_SE:
    for (int k = 0; k < 4; k++)
      tensors[(*n_tensors)++] = n->aux[k];
    break;
  case NODE_BROADCAST: tensors[(*n_tensors)++] = n->aux[0]; break;
  default: break;
  }
}

/* CSR lists over positions 0..n_nodes from per-item positions pos[item] (−1: not listed). */
static void to_lists(const int *pos, int n_items, int n_pos, int **start, int **items) {
  int *s = nvae_calloc((size_t)n_pos + 2, sizeof(int));
  for (int i = 0; i < n_items; i++)
    if (pos[i] >= 0) s[pos[i] + 1]++;
  for (int p = 0; p <= n_pos; p++)
    s[p + 1] += s[p];
  int *fill = nvae_malloc(sizeof(int) * (size_t)(n_pos + 1));
  for (int p = 0; p <= n_pos; p++)
    fill[p] = s[p];
  int *it = nvae_malloc(sizeof(int) * (size_t)(s[n_pos + 1] > 0 ? s[n_pos + 1] : 1));
  for (int i = 0; i < n_items; i++)
    if (pos[i] >= 0) it[fill[pos[i]]++] = i;
  free(fill);
  *start = s;
  *items = it;
}

void model_grad_ready_build(model *m) {
  const registry *r = &m->reg;
  const plan *p = &m->train;
  const int N = p->n_nodes;
  int *conv_pos = nvae_malloc(sizeof(int) * (size_t)(r->n_convs > 0 ? r->n_convs : 1));
  int *tensor_pos = nvae_malloc(sizeof(int) * (size_t)(r->n_tensors > 0 ? r->n_tensors : 1));
  for (int c = 0; c < r->n_convs; c++)
    conv_pos[c] = N;
  for (int t = 0; t < r->n_tensors; t++)
    tensor_pos[t] = r->tensors[t].kind == REG_PARAM ? N : -1;
  int convs[4], tensors[4], nc, nt;
  for (int i = N - 1; i >= 0; i--) { /* backward order: the last writer seen wins */
    const node *n = &p->nodes[i];
    if (n->flags & NODE_F_IW) continue;
    node_writes(r, n, convs, &nc, tensors, &nt);
    for (int k = 0; k < nc; k++)
      conv_pos[convs[k]] = i;
    for (int k = 0; k < nt; k++)
      tensor_pos[tensors[k]] = i;
  }
  /* a conv's tensors become ready where its weight-norm backward runs */
  int ct[3];
  for (int c = 0; c < r->n_convs; c++)
    for (int k = 0, n = conv_tensors(&r->convs[c], ct); k < n; k++)
      tensor_pos[ct[k]] = conv_pos[c];
  to_lists(conv_pos, r->n_convs, N, &m->ready_conv_start, &m->ready_convs);
  to_lists(tensor_pos, r->n_tensors, N, &m->ready_start, &m->ready_tensors);
  free(conv_pos);
  free(tensor_pos);
}

void model_grad_ready_free(model *m) {
  free(m->ready_conv_start);
  free(m->ready_convs);
  free(m->ready_start);
  free(m->ready_tensors);
}

void model_grad_ready_at(model *m, op_ctx *ctx, int pos) {
  for (int k = m->ready_conv_start[pos]; k < m->ready_conv_start[pos + 1]; k++)
    model_weight_norm_backward_conv(m, ctx, m->ready_convs[k]);
  const model_hooks *h = &m->opt.hooks;
  if (!h->grad_ready) return;
  for (int k = m->ready_start[pos]; k < m->ready_start[pos + 1]; k++) {
    const reg_tensor *t = &m->reg.tensors[m->ready_tensors[k]];
    h->grad_ready(h->grad_ready_arg, t->offset, t->numel);
  }
}
