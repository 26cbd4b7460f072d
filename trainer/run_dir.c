/* Run-directory writers (run_dir.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/run_dir.h"

#include "trainer/image_grid.h"
#include "trainer/png_write.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

void run_dir_resolve(const nvae_config *cfg, const char *config_path, const char *cli_dir,
                     char *out, size_t n) {
  if (cli_dir && *cli_dir) {
    snprintf(out, n, "%s", cli_dir);
    return;
  }
  if (cfg->log.dir_set) {
    snprintf(out, n, "%s", cfg->log.dir);
    return;
  }
  const char *base = strrchr(config_path, '/');
  base = base ? base + 1 : config_path;
  size_t len = strlen(base);
  if (len > 5 && strcmp(base + len - 5, ".yaml") == 0) len -= 5;
  else if (len > 4 && strcmp(base + len - 4, ".yml") == 0) len -= 4;
  snprintf(out, n, "runs/%.*s", (int)len, base);
}

int run_dir_mkdirs(const char *path, nvae_err *e) {
  char buf[NVAE_CFG_PATH_LEN + 64];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot create the directory: %s", buf,
                         strerror(errno));
      *p = c;
      if (c == '\0') break;
    }
  }
  return 0;
}

int run_dir_open(run_dir *rd, const char *path, const nvae_config *cfg, int rank, nvae_err *e) {
  memset(rd, 0, sizeof *rd);
  snprintf(rd->path, sizeof rd->path, "%s", path);
  rd->writer = rank == 0;
  if (!rd->writer) return 0;
  char p[NVAE_CFG_PATH_LEN + 64];
  static const char *subs[] = {"", "/samples", "/recon", "/final"};
  for (int i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s%s", path, subs[i]);
    if (run_dir_mkdirs(p, e)) return e->code;
  }
  snprintf(p, sizeof p, "%s/config.yaml", path);
  FILE *f = fopen(p, "w");
  if (!f) return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: %s", p, strerror(errno));
  int rc = config_write_yaml(cfg, f);
  if (fclose(f) != 0 || rc)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: write failed: %s", p, strerror(errno));
  snprintf(p, sizeof p, "%s/metrics.jsonl", path);
  if (metrics_log_open(p, &rd->metrics, e)) return e->code;
  if (cfg->log.tensorboard && tb_writer_open(path, &rd->tb, e)) return e->code;
  return 0;
}

void run_dir_close(run_dir *rd) {
  nvae_err e = {0};
  metrics_log_close(rd->metrics, &e);
  tb_close(rd->tb, &e);
  rd->metrics = NULL;
  rd->tb = NULL;
}

int run_dir_row(run_dir *rd, const metric_kv *kv, int n, nvae_err *e) {
  if (!rd->writer || !rd->metrics) return 0;
  return metrics_log_row(rd->metrics, kv, n, e);
}

int run_dir_scalar(run_dir *rd, const char *tag, double v, int64_t step, nvae_err *e) {
  if (!rd->writer || !rd->tb) return 0;
  return tb_add_scalar(rd->tb, tag, v, step, e);
}

static int write_grid(run_dir *rd, const char *sub, const char *name, const char *tag,
                      image_grid *g, int64_t step, nvae_err *e) {
  char p[NVAE_CFG_PATH_LEN + 128];
  snprintf(p, sizeof p, "%s/%s/%s.png", rd->path, sub, name);
  int rc = image_grid_write_png(g, p, e);
  if (!rc && rd->tb) {
    byte_buf png = {0};
    rc = image_grid_encode_png(g, &png, e);
    if (!rc) rc = tb_add_image(rd->tb, tag, png.data, png.len, g->h, g->w, 3, step, e);
    byte_buf_free(&png);
  }
  image_grid_free(g);
  return rc;
}

int run_dir_grid(run_dir *rd, const char *sub, const char *name, const char *tag, const float *x,
                 int n, int c, int h, int w, int64_t step, nvae_err *e) {
  if (!rd->writer) return 0;
  image_grid g = {0};
  if (image_grid_make(&g, x, n, c, h, w, e)) return e->code;
  return write_grid(rd, sub, name, tag, &g, step, e);
}

int run_dir_pairs(run_dir *rd, const char *sub, const char *name, const char *tag, const float *x,
                  const float *xr, int n, int c, int h, int w, int64_t step, nvae_err *e) {
  if (!rd->writer) return 0;
  image_grid g = {0};
  if (image_grid_make_pairs(&g, x, xr, n, c, h, w, e)) return e->code;
  return write_grid(rd, sub, name, tag, &g, step, e);
}

int run_dir_flush(run_dir *rd, nvae_err *e) {
  if (!rd->writer || !rd->tb) return 0;
  return tb_flush(rd->tb, e);
}
