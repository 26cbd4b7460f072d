/* Names inside <run>/checkpoints (DESIGN.md §5, docs/checkpoint-format.md):
 *
 *   step-XXXXXXXX/          a committed checkpoint (8 or more decimal digits: the step)
 *   step-XXXXXXXX.tmp/      being written, or left by a crash: never loaded, removed at start-up
 *   step-XXXXXXXX.del/      being deleted by retention (or replaced): never loaded, removed
 *   LATEST                  one line "step-XXXXXXXX\n": the newest committed checkpoint
 *   model.h5, optim-RRRRR.h5, rank-RRRRR.h5, MANIFEST   inside a checkpoint directory
 *
 * The parsers take bytes and return an error (never exit), so they are fuzzed by
 * tests/ckpt/test_ckpt_format.c. Prefix ckpt_name_ / ckpt_latest_ / ckpt_list_. */
#ifndef NVAE_TRAINER_CKPT_NAMES_H
#define NVAE_TRAINER_CKPT_NAMES_H

#include "kernels/base/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CKPT_SUBDIR "checkpoints"
#define CKPT_LATEST "LATEST"
#define CKPT_MANIFEST "MANIFEST"
#define CKPT_MODEL "model.h5"
#define CKPT_NAME_MAX 64 /* longest file or directory name inside checkpoints/ (with NUL) */

/* "step-00000120" (at least 8 digits). */
void ckpt_name_step_dir(int64_t step, char *buf, size_t n);
/* "optim-00003.h5", "rank-00003.h5". */
void ckpt_name_optim(int rank, char *buf, size_t n);
void ckpt_name_rank(int rank, char *buf, size_t n);

/* A committed checkpoint's directory name: "step-" + 8..18 digits and nothing else. Returns 0 and
 * the step, or -1. */
int ckpt_name_parse_step_dir(const char *name, int64_t *step);

/* LATEST's content: exactly one committed directory name, optionally followed by one '\n'.
 * Returns 0 and the step, or NVAE_EXIT_USAGE with "LATEST: ..." in e naming what is wrong. */
int ckpt_latest_parse(const char *text, size_t len, int64_t *step, nvae_err *e);

/* The committed checkpoint directories of dir (names that ckpt_name_parse_step_dir accepts),
 * steps sorted newest first, into a malloc'ed array (*steps may be NULL when *n = 0). With
 * leftovers (nullable), also the count of *.tmp / *.del directories. A missing dir is 0
 * checkpoints, not an error. */
int ckpt_list_steps(const char *dir, int64_t **steps, int *n, int *leftovers, nvae_err *e);

/* Removes every step-*.tmp and step-*.del directory of dir (what a crash or a killed retention
 * left), printing one line for each removed *.tmp. Returns 0 or a RUNTIME error. */
int ckpt_list_remove_leftovers(const char *dir, nvae_err *e);

#ifdef __cplusplus
}
#endif

#endif
