/* Helpers for the dataset tests: scratch directories, running nvae-prep and python, synthetic
 * images, JPEGs and small datasets written directly with the library. */
#ifndef NVAE_TESTS_DATASET_TESTUTIL_H
#define NVAE_TESTS_DATASET_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* A fresh directory under $TMPDIR (or /tmp): "<tmp>/nvae-<tag>-XXXXXX". Removed by dt_rm_rf. */
void dt_mkdtemp(char *out, size_t n, const char *tag);
void dt_rm_rf(const char *path);
/* Runs argv (NULL-terminated), output (stdout + stderr) into `output` (NUL-terminated, may be
 * cut). Returns the exit status, or -1 if it did not exit normally (a crash). */
int dt_run(char *const argv[], char *output, size_t n);
/* The python with PIL and h5py (NVAE_TORCH_PYTHON or /usr/bin/python3) and the path of a script
 * in tests/dataset/ (NVAE_SOURCE_DIR). */
const char *dt_python(void);
void dt_script(char *out, size_t n, const char *name);

/* A smooth random RGB/grey image [h, w, c]: sums of low-frequency waves, so JPEG keeps it close
 * and resize differences show up as small, not as noise. */
void dt_smooth_image(uint8_t *img, int w, int h, int c, uint64_t seed);
/* Writes img [h, w, c] (c = 1 or 3) as a JPEG with libjpeg-turbo's tjCompress2 (4:2:0, q 90). */
int dt_write_jpeg(const char *path, const uint8_t *img, int w, int h, int c);
int dt_write_file(const char *path, const void *data, size_t n);
int dt_read_file(const char *path, uint8_t **data, size_t *n);

/* Writes a complete dataset directory (shards + dataset.yaml with hashes) with the library:
 * image i of split s is filled with dt_pattern(s, i). */
int dt_make_dataset(const char *dir, const char *name, int h, int w, int c, int n_splits,
                    const char *const *splits, const int64_t *counts, int shards_per_split);
/* Deterministic content for image i of split s, so a test can check which image it got. */
void dt_pattern(uint8_t *img, size_t bytes, int split, int64_t i);

/* A small synthetic CelebA release under root: img_align_celeba/NNNNNN.jpg (178x218 smooth random
 * JPEGs, numbered from 1) and list_eval_partition.txt with counts[0..2] train/valid/test lines. */
int dt_make_celeba(const char *root, const int counts[3], uint64_t seed);

#endif
