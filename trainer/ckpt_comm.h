/* What the checkpoint code needs from the other ranks, on top of train_comm.h's hooks (a sum of
 * doubles, a float broadcast): every rank's result code, values from rank 0, and an exact
 * all-gather of the optimizer slices. All are collectives: every rank calls them in the same
 * order; at world size 1 they do no communication. Prefix ckpt_comm_. */
#ifndef NVAE_TRAINER_CKPT_COMM_H
#define NVAE_TRAINER_CKPT_COMM_H

#include "kernels/base/error.h"
#include "trainer/train_comm.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every rank's code (0 = fine) into codes[world] (nullable). Returns the lowest rank whose code
 * is not 0, or -1 when every rank is fine. */
int ckpt_comm_codes(const train_comm *c, int code, int *codes);

/* After ckpt_comm_codes found a failure: the lowest failing rank's message is the one the job
 * reports. That rank prints it ("nvae-train: <msg>", or with warning != 0 "nvae-train: WARNING:
 * <msg>"); every rank returns codes[first] and clears its e->msg, so nvae-train prints nothing
 * more. At world size 1 nothing is printed here (unless warning) and e is left for the caller. */
int ckpt_comm_report(const train_comm *c, int first, const int *codes, int warning, nvae_err *e);

/* Rank 0's values v[0..n) to every rank (exact for integers below 2^53). */
void ckpt_comm_bcast_f64(const train_comm *c, double *v, int n);

/* Every rank holds elements [lo, hi) of arena[0..n) (its own ranges may differ); afterwards every
 * rank holds all n, bit for bit: float → double is exact, and each element is summed with −0.0
 * from every other rank (x + (−0) = x for every x, ±0 included). */
void ckpt_comm_allgather_f32(const train_comm *c, float *arena, int64_t n, int64_t lo, int64_t hi);

#ifdef __cplusplus
}
#endif

#endif
