/* HDF5 glue for the dataset part: quiet error handling (readers return the library's own text in
 * an nvae_err instead of letting HDF5 print its stack), and the file-access property lists the
 * format requires. Prefix h5u_. */
#ifndef NVAE_DATASET_H5UTIL_H
#define NVAE_DATASET_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>

/* Saved automatic-error-printing state of the calling thread. */
typedef struct h5u_quiet {
  H5E_auto2_t func;
  void *data;
} h5u_quiet;

/* Turn HDF5's automatic error printing off (begin) and restore it (end). */
void h5u_quiet_begin(h5u_quiet *q);
void h5u_quiet_end(const h5u_quiet *q);
/* The most specific message on the calling thread's HDF5 error stack (where the failure started,
 * e.g. "truncated file: eof = ..."), or "unknown HDF5 error". Clears the stack. Call it right
 * after the failing call: every HDF5 API call clears the stack when it starts. */
void h5u_last_error(char *buf, size_t n);

/* A sequence of HDF5 calls that stops at the first failure and keeps its message. */
typedef struct h5u_seq {
  int ok;
  char why[512];
} h5u_seq;

/* Records a failure (rc < 0) if it is the first; returns rc >= 0 && still ok. */
int h5u_step(h5u_seq *s, long long rc);
/* File-access list: file locking off (datasets live on NFS/Lustre, where HDF5's locks fail, and
 * are never written while read), and for new files the 1.10 format, whose metadata (superblock,
 * object headers, chunk index) carries checksums, so a flipped bit is reported, not trusted.
 * Caller closes it with H5Pclose. Returns a negative id on failure. */
hid_t h5u_fapl(int for_create);

#endif
