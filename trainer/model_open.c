/* Opening a model.h5 as a live model (model_open.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/model_open.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

int model_open_resolve(const char *arg, char *out, size_t n, nvae_err *e) {
  struct stat st;
  if (stat(arg, &st) != 0)
    return nvae_errf(e, NVAE_EXIT_USAGE, "--checkpoint %s: %s", arg, strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    snprintf(out, n, "%s/final/model.h5", arg);
    if (stat(out, &st) == 0) return 0;
    snprintf(out, n, "%s/model.h5", arg); /* a checkpoint directory */
    if (stat(out, &st) == 0) return 0;
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "--checkpoint %s: a directory without final/model.h5 or model.h5", arg);
  }
  snprintf(out, n, "%s", arg);
  return 0;
}

int model_open(const char *path, int max_batch, op_ctx *ctx, model **m, nvae_config *cfg,
               model_io_info *info, nvae_err *e) {
  *m = NULL;
  if (model_io_read_info(path, cfg, info, e)) return e->code;
  model_arch arch;
  nvae_err ae = {0};
  if (config_model_arch(cfg, &info->geom, &arch, &ae))
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: %s", path, ae.msg);
  model_options mo;
  config_model_options(cfg, &info->geom, max_batch, &mo);
  if (model_create(&arch, &mo, ctx, m, e)) return e->code;
  model_state st = model_state_host(*m, ctx);
  if (model_io_load_state(path, &st, cfg, NULL, e)) {
    model_state_host_free(ctx, &st);
    model_free(*m);
    *m = NULL;
    return e->code;
  }
  model_state_host_upload(*m, ctx, &st);
  model_state_host_free(ctx, &st);
  return 0;
}
