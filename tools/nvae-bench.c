/* nvae-bench: training-step throughput of one process for a config and batch size (issue #8).
 *
 *   nvae-bench --config configs/celeba64.yaml [--batch 16] [--steps 10] [--warmup 3]
 *              [--device cpu|cuda] [--find-max-batch] [--json FILE] [key=value ...]
 *
 * Synthetic images of the config's shape (data.path's shape when the dataset opens, else what the
 * model section implies, as `nvae-train --dry-run` assumes), the real model, objective, backward
 * and Adamax update on the chosen backend. After the warm-up steps (the first one runs 40 power
 * iterations and touches every page) it queues the timed steps as the trainer does, without
 * waiting for the device, and times them with the host clock over all of them (one wait at the
 * end) and with fences (CUDA events) inside each step: data (batch preparation on the host,
 * overlapping the device), forward (upload, forward, objective), backward, optimizer (non-finite
 * count, norm, gated update) in device time. Their sum below the step time is device idle time.
 * One process: no communication (the scaling study, tools/nvae-scaling.py, measures that under
 * mpirun).
 *
 * Prints images/s, ms per step and its split, the device memory the run holds (every arena is
 * allocated once: model arenas + optimizer state + the op context's scratch/workspace, and on the
 * CPU the peak resident set), conv FLOPs per image counted from the model plan (PERF.md §6
 * convention) and the achieved TFLOP/s. --find-max-batch predicts the largest batch whose arenas
 * fit in the free device memory (CPU: available RAM; --memory-gib caps it) with 5 % headroom, then
 * runs it to confirm.
 * --json writes the figures for scripts (tools/gpu-check.sh). No figure is judged here.
 */
#define _POSIX_C_SOURCE 200809L
#include "kernels/backend.h"
#include "kernels/base/clock.h"
#include "kernels/random.h"
#include "trainer/config.h"
#include "trainer/config_model.h"
#include "trainer/model.h"
#include "trainer/model_registry.h"
#include "trainer/train_optim.h"

#ifdef NVAE_HAVE_CUDA
#include "kernels/cuda_backend.h"
#endif

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f) {
  fprintf(f, "usage: nvae-bench --config FILE [--batch N] [--steps N] [--warmup N] [--device "
             "cpu|cuda] [--find-max-batch [--memory-gib G]] [--json FILE] [key=value ...]\n");
}

/* The device is idle when this returns (to_host is synchronous on every backend). */
static void device_sync(op_ctx *ctx, model *m) {
  float one;
  ctx->ops->to_host(ctx, &one, model_params(m), sizeof one);
}

/* The backward phase starts: a fence there when the step is timed (no wait). */
typedef struct phase_clock {
  op_ctx *ctx;
  op_fence *mark; /* NULL: not timed */
} phase_clock;

static void on_phase(void *arg, int phase) {
  phase_clock *pc = arg;
  if (phase == MODEL_PHASE_BACKWARD && pc->mark) pc->ctx->ops->fence_record(pc->ctx, pc->mark);
}

typedef struct bench_result {
  int batch, steps;
  double images_per_s, step_ms, data_ms, forward_ms, backward_ms, optimizer_ms;
  double device_mib, rss_mib, gflop_fwd, gflop_step, tflops;
} bench_result;

/* Pixels in [0,1] on the 8-bit grid (Bernoulli decoder: 0 or 1), new ones every step. */
static void synth_batch(float *x, int64_t n, int binary, uint32_t step) {
  philox_stream st = {12345, 0x42454e43u /* "BENC" */, step};
  philox_fill_uniform_cpu(&st, 0, 1, n, x);
  for (int64_t i = 0; i < n; i++)
    x[i] = binary ? (x[i] < 0.5f ? 0.0f : 1.0f) : floorf(x[i] * 255.999f) / 255.0f;
}

/* One benchmark at batch B. Returns 0 or an exit code with e set. */
static int bench_run(const nvae_config *cfg, const model_arch *arch, const model_geometry *g,
                     op_ctx *ctx, int B, int warmup, int steps, bench_result *r, nvae_err *e) {
  model_options mo;
  config_model_options(cfg, g, B, &mo);
  phase_clock pc = {ctx, NULL};
  mo.hooks.phase = on_phase;
  mo.hooks.phase_arg = &pc;
  model *m = NULL;
  int rc = model_create(arch, &mo, ctx, &m, e);
  if (rc) return rc;
  model_init_params(m, 1);
  const registry *reg = model_registry(m);
  train_optim opt;
  train_optim_init(&opt, cfg, ctx, reg->param_arena_numel);
  const int64_t per = (int64_t)g->channels * g->size * g->size;
  float *x = nvae_malloc(sizeof(float) * (size_t)(per * B));
  uint32_t *keys = nvae_malloc(sizeof(uint32_t) * (size_t)B);
  for (int b = 0; b < B; b++)
    keys[b] = (uint32_t)b;
  const int binary = cfg->model.decoder == NVAE_DECODER_BERNOULLI;
  model_objective ob = {0.5, cfg->train.kl_balance, cfg->train.weight_decay_norm, 4, 1};
  /* Timed steps are queued as the trainer queues them, without waiting for the device; fences
   * (CUDA events) at the step's start, the backward phase, the end of backward and the end of the
   * update give the device time of each phase, read after one wait at the end. The step time is
   * the host's wall clock over the timed steps (data preparation overlaps the device's work, as
   * in the trainer). */
  op_fence **fz = nvae_calloc((size_t)steps * 4, sizeof *fz);
  for (int k = 0; k < steps * 4; k++) fz[k] = ctx->ops->fence_new(ctx);
  double data = 0, t_start = 0;
  for (int s = 0; s < warmup + steps; s++) {
    const int timed = s >= warmup;
    op_fence **f = timed ? fz + 4 * (s - warmup) : NULL;
    if (s == warmup) {
      device_sync(ctx, m); /* the warm-up steps are done */
      t_start = nvae_now_s();
    }
    const double t0 = nvae_now_s();
    synth_batch(x, per * B, binary, (uint32_t)s);
    if (timed) data += nvae_now_s() - t0;
    model_batch mb = {x, B, keys, 1, (uint32_t)s};
    if (timed) ctx->ops->fence_record(ctx, f[0]);
    pc.mark = timed ? f[1] : NULL;
    /* as the trainer queues it: no loss read-back, the update gated on the device */
    model_train_step(m, ctx, &mb, &ob, NULL);
    if (timed) ctx->ops->fence_record(ctx, f[2]);
    float *grads = model_grads(m);
    double *v = model_step_values(m);
    train_optim_count_nonfinite(ctx, grads, reg->param_arena_numel, v);
    train_optim_gate(&opt, ctx, grads, v);
    train_optim_step(&opt, ctx, model_params(m), grads, 1e-4, v + STEPV_BAD);
    train_optim_commit(&opt); /* a skipped update would still count: timing only */
    if (timed) ctx->ops->fence_record(ctx, f[3]);
  }
  device_sync(ctx, m);
  const double wall = nvae_now_s() - t_start;
  double ms[3] = {0}; /* forward, backward, optimizer: device time */
  for (int k = 0; k < steps; k++)
    for (int j = 0; j < 3; j++) ms[j] += ctx->ops->fence_elapsed_ms(fz[4 * k + j], fz[4 * k + j + 1]);
  for (int k = 0; k < steps * 4; k++) ctx->ops->fence_free(fz[k]);
  free(fz);
  double f, b;
  model_flops_per_image(m, &f, &b);
  memset(r, 0, sizeof *r);
  r->batch = B;
  r->steps = steps;
  r->images_per_s = (double)B * steps / wall;
  r->step_ms = 1e3 * wall / steps;
  r->data_ms = 1e3 * data / steps;
  r->forward_ms = ms[0] / steps;
  r->backward_ms = ms[1] / steps;
  r->optimizer_ms = ms[2] / steps;
  r->device_mib = (double)(model_device_bytes(m) + train_optim_bytes(reg->param_arena_numel) +
                           ctx->scratch_bytes) /
                  (1024.0 * 1024.0);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  r->rss_mib = (double)ru.ru_maxrss / 1024.0;
  r->gflop_fwd = f / 1e9;
  r->gflop_step = (f + b) / 1e9;
  r->tflops = (f + b) * r->images_per_s / 1e12;
  double v_last[STEPV_HEAD];
  ctx->ops->to_host(ctx, v_last, model_step_values(m), sizeof v_last);
  printf("batch %d: loss %.4g after %d steps\n", B, v_last[STEPV_LOSS], warmup + steps);
  free(x);
  free(keys);
  train_optim_free(&opt, ctx);
  model_free(m);
  return 0;
}

/* Bytes free for arenas on the context's device (CPU: available RAM). */
static double free_device_bytes(const op_ctx *ctx) {
#ifdef NVAE_HAVE_CUDA
  if (ctx->device == DEVICE_CUDA) {
    size_t fr = 0, tot = 0;
    cuda_mem_info(&fr, &tot);
    return (double)fr;
  }
#endif
  (void)ctx;
  return (double)sysconf(_SC_AVPHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
}

/* The largest batch whose arenas fit: fixed (parameters, gradients, optimizer, layer arenas) plus
 * the activation arenas, which grow linearly with the batch. */
static int predict_max_batch(const model_arch *arch, const registry *reg, double free_bytes) {
  const double fixed = (double)reg->param_arena_numel * 4.0 * 2 +
                       (double)train_optim_bytes(reg->param_arena_numel) +
                       (double)reg->buffer_arena_numel * 4.0 + 64.0 * 1024 * 1024;
  const double a1 = (double)model_estimate_activation_bytes(arch, 1);
  const double a2 = (double)model_estimate_activation_bytes(arch, 2);
  const double per = a2 - a1 > 0 ? a2 - a1 : a1;
  int b = (int)floor((0.95 * free_bytes - fixed - (a1 - per)) / per);
  return b < 1 ? 0 : b;
}

static void print_result(const bench_result *r, const char *device) {
  printf("device %s, batch %d, %d timed steps\n", device, r->batch, r->steps);
  printf("  images/s         %10.2f\n", r->images_per_s);
  const double busy = r->forward_ms + r->backward_ms + r->optimizer_ms;
  printf("  ms per step      %10.2f wall; device time forward %.2f + backward %.2f + optimizer "
         "%.2f = %.2f (%.0f %% of the step; the rest the device waits for the host); host data "
         "%.2f (overlaps the device); communication 0: one process\n",
         r->step_ms, r->forward_ms, r->backward_ms, r->optimizer_ms, busy,
         r->step_ms > 0 ? 100.0 * busy / r->step_ms : 0.0, r->data_ms);
  printf("  device memory    %10.1f MiB held (%.2f MiB per image)%s\n", r->device_mib,
         r->device_mib / r->batch, "");
  printf("  peak RSS         %10.1f MiB (host)\n", r->rss_mib);
  printf("  conv GFLOP/image %10.2f forward, %.2f forward+backward\n", r->gflop_fwd,
         r->gflop_step);
  printf("  achieved         %10.3f TFLOP/s\n", r->tflops);
}

static int write_json(const char *path, const bench_result *r, const char *device, nvae_err *e) {
  FILE *f = fopen(path, "w");
  if (!f) return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot create", path);
  fprintf(f,
          "{\"device\": \"%s\", \"batch\": %d, \"steps\": %d, \"images_per_s\": %.4f, "
          "\"step_ms\": %.4f, \"data_ms\": %.4f, \"forward_ms\": %.4f, \"backward_ms\": %.4f, "
          "\"optimizer_ms\": %.4f, \"device_mib\": %.2f, \"rss_mib\": %.2f, \"gflop_forward\": "
          "%.4f, \"gflop_step\": %.4f, \"tflops\": %.5f}\n",
          device, r->batch, r->steps, r->images_per_s, r->step_ms, r->data_ms, r->forward_ms,
          r->backward_ms, r->optimizer_ms, r->device_mib, r->rss_mib, r->gflop_fwd,
          r->gflop_step, r->tflops);
  if (fclose(f) != 0) return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: write failed", path);
  return 0;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                       {"batch", required_argument, 0, 'b'},
                                       {"steps", required_argument, 0, 's'},
                                       {"warmup", required_argument, 0, 'w'},
                                       {"device", required_argument, 0, 'd'},
                                       {"find-max-batch", no_argument, 0, 'm'},
                                       {"json", required_argument, 0, 'j'},
                                       {"memory-gib", required_argument, 0, 'g'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *config_path = NULL, *json = NULL, *device = NULL;
  int batch = 0, steps = 10, warmup = 3, find_max = 0, c;
  double memory_gib = 0; /* --find-max-batch budget; 0 = what the device has free */
  char *end;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'c': config_path = optarg; break;
    case 'b':
    case 's':
    case 'w': {
      long v = strtol(optarg, &end, 10);
      if (*end || v < (c == 'w' ? 0 : 1) || v > 1000000) {
        fprintf(stderr, "nvae-bench: --%s '%s': expected an integer >= %d\n",
                c == 'b' ? "batch" : c == 's' ? "steps" : "warmup", optarg, c == 'w' ? 0 : 1);
        return NVAE_EXIT_USAGE;
      }
      *(c == 'b' ? &batch : c == 's' ? &steps : &warmup) = (int)v;
      break;
    }
    case 'd': device = optarg; break;
    case 'm': find_max = 1; break;
    case 'j': json = optarg; break;
    case 'g':
      memory_gib = strtod(optarg, &end);
      if (*end || !(memory_gib > 0)) {
        fprintf(stderr, "nvae-bench: --memory-gib '%s': expected a number > 0\n", optarg);
        return NVAE_EXIT_USAGE;
      }
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return NVAE_EXIT_USAGE;
    }
  }
  if (!config_path) {
    fprintf(stderr, "nvae-bench: --config FILE is required\n");
    return NVAE_EXIT_USAGE;
  }
  nvae_config *cfg = nvae_malloc(sizeof *cfg);
  nvae_err e = {0};
  int rc = config_load(config_path, cfg, &e);
  for (int i = optind; i < argc && !rc; i++)
    rc = strchr(argv[i], '=') ? config_apply_override(cfg, argv[i], &e)
                              : nvae_errf(&e, NVAE_EXIT_USAGE, "'%s': expected key=value",
                                          argv[i]);
  if (!rc && device) {
    char kv[64];
    snprintf(kv, sizeof kv, "device=%s", device);
    rc = config_apply_override(cfg, kv, &e);
  }
  if (!rc) rc = config_validate(cfg, &e);
  if (rc) {
    fprintf(stderr, "nvae-bench: %s\n", e.msg);
    free(cfg);
    return rc;
  }
  if (!batch) batch = cfg->train.batch_size;
  data_shape d = config_model_assumed_shape(cfg);
  model_geometry g;
  model_arch arch;
  if (config_model_geometry(cfg, &d, &g, &e) || config_model_arch(cfg, &g, &arch, &e)) {
    fprintf(stderr, "nvae-bench: %s\n", e.msg);
    free(cfg);
    return NVAE_EXIT_USAGE;
  }
  /* device: cpu, or cuda (auto = cuda when this binary has it and a GPU is visible) */
  nvae_device dev = DEVICE_CPU;
  if (cfg->device == NVAE_DEVICE_CUDA) dev = DEVICE_CUDA;
#ifdef NVAE_HAVE_CUDA
  if (cfg->device == NVAE_DEVICE_AUTO && cuda_device_count() > 0) dev = DEVICE_CUDA;
#endif
  op_ctx ctx;
  char err[256];
  if (op_ctx_for_device(dev, 0, &ctx, err, sizeof err)) {
    fprintf(stderr, "nvae-bench: %s\n", err);
    free(cfg);
    return NVAE_EXIT_USAGE;
  }
  ctx.deterministic = cfg->train.deterministic;
  const char *devname = dev == DEVICE_CUDA ? "cuda" : "cpu";
  printf("nvae-bench: %s, image %dx%dx%d, device %s\n", config_path, g.channels, g.size, g.size,
         devname);
  if (find_max) {
    registry reg;
    if (model_registry_build(&arch, &reg, &e)) {
      fprintf(stderr, "nvae-bench: %s\n", e.msg);
      registry_free(&reg);
      return NVAE_EXIT_USAGE;
    }
    double fb = free_device_bytes(&ctx);
    if (memory_gib > 0 && memory_gib * (1 << 30) < fb) fb = memory_gib * (1 << 30);
    batch = predict_max_batch(&arch, &reg, fb);
    registry_free(&reg);
    printf("largest batch predicted to fit in %.1f GiB free: %d\n", fb / (1 << 30), batch);
    if (batch < 1) {
      fprintf(stderr, "nvae-bench: not even batch 1 fits in %.1f GiB\n", fb / (1 << 30));
      op_ctx_free(&ctx);
      free(cfg);
      return NVAE_EXIT_RUNTIME;
    }
  }
  bench_result r;
  rc = bench_run(cfg, &arch, &g, &ctx, batch, warmup, steps, &r, &e);
  if (!rc) {
    print_result(&r, devname);
    if (json) rc = write_json(json, &r, devname, &e);
  }
  if (rc) fprintf(stderr, "nvae-bench: %s\n", e.msg);
  op_ctx_free(&ctx);
  free(cfg);
  return rc;
}
