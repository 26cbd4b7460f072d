/* Reading one checkpoint (DESIGN.md §5): verification, then loading. Both are collective.
 *
 * Verification (ckpt_verify) on every rank, before anything is loaded: MANIFEST parses (its own
 * CRC line included) and lists every file of its world size; the files this rank will read have
 * the MANIFEST's size and CRC-32C; on rank 0 also model.h5's model section equals the run's
 * (else REFUSED, naming the first differing key) and the optimizer is the run's. A world size
 * other than the run's is REFUSED unless reshard. The verdict and a one-line message naming the
 * file are returned (never exit): CKPT_DAMAGED lets --resume auto fall back to an older
 * checkpoint; CKPT_REFUSED never does.
 *
 * Which files a rank reads: at the same world size, rank r reads optim-r and rank-r, rank 0 also
 * model.h5. With reshard (W_old → W), rank r reads the old optim files that overlap its new
 * slice of the arena, rank 0 model.h5 and every old rank-RRRRR.h5.
 *
 * Loading (ckpt_load): rank 0 reads model.h5 and broadcasts parameters, buffers, counters and SR
 * vectors (bit-exact); every rank reads its slice of the optimizer state, and an exact all-gather
 * gives every rank the whole arenas; the loop state comes from rank-r (same world size) or from
 * the old rank 0 with the logging interval's sums averaged over the old ranks (reshard), and at
 * the same world size each rank's own BN statistics replace model.h5's (they differ across ranks
 * only with train.sync_bn false). Prefix ckpt_verify / ckpt_load. */
#ifndef NVAE_TRAINER_CKPT_READ_H
#define NVAE_TRAINER_CKPT_READ_H

#include "trainer/ckpt_manifest.h"
#include "trainer/ckpt_state.h"
#include "trainer/train_comm.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { CKPT_FINE = 0, CKPT_DAMAGED = 1, CKPT_REFUSED = 2 };

/* This rank's verification of the checkpoint directory `path` for a run of cfg with `numel`
 * parameter-arena elements on c->rank of c->world. Fills *m (free with ckpt_manifest_free) when
 * the MANIFEST parses. Returns CKPT_FINE, CKPT_DAMAGED or CKPT_REFUSED (message in e). Local: no
 * collective. */
int ckpt_verify(const char *path, const nvae_config *cfg, int64_t numel, const train_comm *c,
                int reshard, ckpt_manifest *m, nvae_err *e);

/* Loads a checkpoint every rank verified into st (arenas of st->model and st->optim_*,
 * st->rank, st->optim_t). Collective; returns 0 or an error every rank returns together. */
int ckpt_load(const char *path, const ckpt_manifest *m, ckpt_state *st, const train_comm *c,
              nvae_err *e);

#ifdef __cplusplus
}
#endif

#endif
