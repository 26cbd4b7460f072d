/* The training/evaluation data loader (DESIGN.md §4, docs/dataset-format.md "Loader").
 *
 * Opens one split of a dataset directory (checking dataset.yaml against the shards), draws this
 * rank's slice of every global batch from the deterministic sampler (sampler.h), and keeps a
 * prefetch thread reading the next batches into a ring of host buffers (n_buffers >= 2) while the
 * current step runs. Buffers come from an allocator the trainer passes in (pinned CUDA memory,
 * without dataset/ including CUDA). A batch is uint8 NHWC, horizontally flipped (when `flip`:
 * keyed by (seed, epoch, sample index), see augment.h) and zero-padded to `pad_to`, with each
 * entry's sample index, global position and validity.
 *
 *   loader *l;  loader_opts o;  loader_opts_default(&o);
 *   o.path = "data/celeba64"; o.split = "train"; o.rank = r; o.world_size = W; o.batch_size = 16;
 *   if (loader_open(&l, &o, &err)) { fprintf(stderr, "%s\n", err.msg); exit(err.code); }
 *   for (;;) { const loader_batch *b = loader_next(l, &err); ... }
 *   loader_state st = loader_get_state(l);   // save in the checkpoint; restore with opts.start
 *
 * Not thread-safe: one thread calls loader_*; the prefetch thread is internal. Prefix loader_. */
#ifndef NVAE_DATASET_LOADER_H
#define NVAE_DATASET_LOADER_H

#include "dataset/sampler.h"
#include "kernels/base/error.h"

#include <stddef.h>
#include <stdint.h>

/* Where batch images live. alloc returns `bytes` of host memory (NULL = out of memory); both
 * functions NULL means 64-byte-aligned malloc. */
typedef struct loader_allocator {
  void *(*alloc)(size_t bytes, void *user);
  void (*free)(void *ptr, void *user);
  void *user;
} loader_allocator;

enum { LOADER_PAD_AUTO = -1, LOADER_PAD_NONE = 0 };

typedef struct loader_opts {
  const char *path;      /* dataset directory */
  const char *split;     /* train | valid | test */
  int rank, world_size;  /* default 0 of 1 */
  int batch_size;        /* per rank (default 16) */
  uint64_t seed;         /* the run's seed: shuffles and flips */
  int shuffle;           /* default 1; evaluation usually 0 */
  int drop_last;         /* 1 (default, training): drop the last incomplete global batch;
                            0 (evaluation): pad it, padded entries have valid = 0 */
  int flip;              /* random horizontal flip, default 0 */
  int pad_to;            /* LOADER_PAD_AUTO (default): 28x28 -> 32x32 (NVAE's MNIST padding),
                            others unchanged; LOADER_PAD_NONE; or a size >= H, W (centred) */
  int n_buffers;         /* prefetch ring size, >= 2 (default 3) */
  int in_memory;         /* read the whole split into memory at open (default 0: pread per image) */
  int verify_checksums;  /* SHA-256 every shard at open (default 0) */
  int stop_at_epoch_end; /* 0 (default): batches run on across epochs; 1: loader_next returns
                            NULL once the epoch is done (an evaluation pass) */
  sampler_state start;   /* where to begin: (0, 0) or a state saved with loader_get_state */
  loader_allocator allocator;
} loader_opts;

typedef struct loader_batch {
  uint8_t *images;     /* [n, height, width, channels] uint8, from the allocator */
  int64_t *index;      /* [n] sample index in the split */
  int64_t *global_pos; /* [n] position in the epoch's global order (unique across ranks per
                          epoch): key per-sample randomness by it or by global_offset + j */
  uint8_t *valid;      /* [n] 0 = evaluation padding, to be ignored by metrics */
  uint8_t *flipped;    /* [n] 1 = mirrored */
  int n, n_valid;
  int height, width, channels; /* of the batch, after padding */
  int src_height, src_width;   /* of the stored images */
  int pad_top, pad_left;       /* where the stored image lies in the padded one */
  uint64_t epoch;
  int64_t position;      /* global position where this global batch starts in the epoch */
  int64_t global_offset; /* rank * batch_size: this rank's first entry within the global batch */
} loader_batch;

typedef struct loader_info {
  const char *name; /* dataset name from dataset.yaml */
  int64_t n;        /* images in the split */
  int src_height, src_width, channels;
  int height, width;         /* after padding */
  int64_t batches_per_epoch; /* global batches (= steps) per epoch */
} loader_info;

typedef struct loader loader;

void loader_opts_default(loader_opts *o);
/* Opens, validates and starts prefetching. Errors (bad dataset, too small for one global batch,
 * bad options) are returned with code NVAE_EXIT_USAGE and a message naming the file. */
int loader_open(loader **out, const loader_opts *o, nvae_err *e);
/* The next batch of this rank; valid until the next loader_next / loader_set_state / close.
 * NULL with e->code == 0: the epoch is done (only with stop_at_epoch_end); NULL with e->code set:
 * a read failed. */
const loader_batch *loader_next(loader *l, nvae_err *e);
/* The state a resumed run needs to continue with the batch loader_next returns next. */
sampler_state loader_get_state(const loader *l);
/* Jumps to a state (drops prefetched batches); e.g. (epoch, 0) to start an evaluation pass. */
int loader_set_state(loader *l, sampler_state st, nvae_err *e);
loader_info loader_get_info(const loader *l);
void loader_close(loader *l);

#endif
