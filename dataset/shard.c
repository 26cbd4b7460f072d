/* Shard files: see shard.h. */
#define _POSIX_C_SOURCE 200809L
#include "dataset/shard.h"

#include "dataset/h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Writing */

static void write_str_attr(h5u_seq *q, hid_t obj, const char *name, const char *value) {
  if (!q->ok) return;
  hid_t type = H5Tcopy(H5T_C_S1);
  /* Variable-length UTF-8: what h5py reads back as a Python str (fixed-length comes back as
   * bytes). */
  h5u_step(q, type);
  h5u_step(q, H5Tset_size(type, H5T_VARIABLE));
  h5u_step(q, H5Tset_cset(type, H5T_CSET_UTF8));
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = q->ok ? H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT) : -1;
  if (h5u_step(q, a)) h5u_step(q, H5Awrite(a, type, &value));
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  H5Tclose(type);
}

static void write_int_attr(h5u_seq *q, hid_t obj, const char *name, hid_t file_type,
                           int64_t value) {
  if (!q->ok) return;
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (h5u_step(q, a)) h5u_step(q, H5Awrite(a, H5T_NATIVE_INT64, &value));
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
}

static void write_int_array_attr(h5u_seq *q, hid_t obj, const char *name, const int *v, hsize_t n) {
  if (!q->ok) return;
  hid_t space = H5Screate_simple(1, &n, NULL);
  hid_t a = H5Acreate2(obj, name, H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
  if (h5u_step(q, a)) h5u_step(q, H5Awrite(a, H5T_NATIVE_INT, v));
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
}

/* The attributes that describe an image set: on the root group and again on /images, so a user
 * finds them whichever object they look at. */
static void write_shape_attrs(h5u_seq *q, hid_t obj, const shard_meta *m) {
  write_int_attr(q, obj, "height", H5T_STD_I32LE, m->height);
  write_int_attr(q, obj, "width", H5T_STD_I32LE, m->width);
  write_int_attr(q, obj, "channels", H5T_STD_I32LE, m->channels);
  write_str_attr(q, obj, "layout", "NHWC");
}

static void write_root_attrs(h5u_seq *q, hid_t file, const shard_meta *m, int64_t n) {
  write_str_attr(q, file, "format", "nvae-dataset");
  write_int_attr(q, file, "format_version", H5T_STD_I32LE, SHARD_FORMAT_VERSION);
  write_str_attr(q, file, "name", m->name);
  write_str_attr(q, file, "split", m->split);
  write_str_attr(q, file, "source", m->source);
  write_shape_attrs(q, file, m);
  write_str_attr(q, file, "crop", m->crop);
  if (!strcmp(m->crop, "box")) write_int_array_attr(q, file, "crop_box", m->crop_box, 4);
  write_str_attr(q, file, "resize_filter", m->resize);
  write_int_attr(q, file, "shard_index", H5T_STD_I32LE, m->shard_index);
  write_int_attr(q, file, "shard_count", H5T_STD_I32LE, m->shard_count);
  write_int_attr(q, file, "num_images", H5T_STD_I64LE, n);
  write_str_attr(q, file, "created_by", "nvae-prep " NVAE_VERSION_STRING);
}

int shard_write(const char *path, const shard_meta *m, const uint8_t *images, const int32_t *index,
                int64_t n, nvae_err *e) {
  if (n < 1) return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: a shard needs at least one image", path);
  h5u_quiet quiet;
  h5u_quiet_begin(&quiet);
  h5u_seq q = {1, ""};
  hid_t fapl = h5u_fapl(1), fcpl = H5Pcreate(H5P_FILE_CREATE);
  hid_t file = -1, space = -1, dcpl = -1, dset = -1, ispace = -1, iset = -1, icpl = -1;
  /* No object timestamps: the same input gives byte-identical shards (and SHA-256s). */
  h5u_step(&q, fcpl);
  if (q.ok) h5u_step(&q, H5Pset_obj_track_times(fcpl, 0));
  if (h5u_step(&q, fapl)) h5u_step(&q, file = H5Fcreate(path, H5F_ACC_EXCL, fcpl, fapl));
  hsize_t dims[4] = {(hsize_t)n, (hsize_t)m->height, (hsize_t)m->width, (hsize_t)m->channels};
  hsize_t chunk[4] = {1, dims[1], dims[2], dims[3]};
  if (q.ok) h5u_step(&q, space = H5Screate_simple(4, dims, NULL));
  if (q.ok) h5u_step(&q, dcpl = H5Pcreate(H5P_DATASET_CREATE));
  /* One image per chunk: a random-access read touches exactly one image's bytes, and the reader
   * can address each image by its chunk's file offset. */
  if (q.ok) h5u_step(&q, H5Pset_chunk(dcpl, 4, chunk));
  if (q.ok) h5u_step(&q, H5Pset_obj_track_times(dcpl, 0));
  if (q.ok)
    h5u_step(
        &q, dset = H5Dcreate2(file, "images", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  if (q.ok) h5u_step(&q, H5Dwrite(dset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, images));
  if (q.ok) write_shape_attrs(&q, dset, m);
  if (q.ok && index) {
    hsize_t idims[1] = {(hsize_t)n};
    h5u_step(&q, ispace = H5Screate_simple(1, idims, NULL));
    if (q.ok) h5u_step(&q, icpl = H5Pcreate(H5P_DATASET_CREATE));
    if (q.ok) h5u_step(&q, H5Pset_obj_track_times(icpl, 0));
    if (q.ok)
      h5u_step(&q, iset = H5Dcreate2(file, "index", H5T_STD_I32LE, ispace, H5P_DEFAULT, icpl,
                                     H5P_DEFAULT));
    if (q.ok) h5u_step(&q, H5Dwrite(iset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, index));
  }
  if (q.ok) write_root_attrs(&q, file, m, n);
  if (iset >= 0) H5Dclose(iset);
  if (icpl >= 0) H5Pclose(icpl);
  if (ispace >= 0) H5Sclose(ispace);
  if (dset >= 0) H5Dclose(dset);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  if (file >= 0) h5u_step(&q, H5Fclose(file)); /* the close flushes: it can fail (disk full) */
  if (fapl >= 0) H5Pclose(fapl);
  if (fcpl >= 0) H5Pclose(fcpl);
  h5u_quiet_end(&quiet);
  if (!q.ok) return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot write shard: %s", path, q.why);
  return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Reading */

/* Reads a scalar integer attribute of the root group; -1 when absent or not a scalar integer. */
static int read_int_attr(hid_t file, const char *name) {
  if (H5Aexists(file, name) <= 0) return -1;
  hid_t a = H5Aopen(file, name, H5P_DEFAULT);
  if (a < 0) return -1;
  int value = -1;
  hid_t type = H5Aget_type(a);
  hid_t space = H5Aget_space(a);
  /* Check the shape before reading: H5Aread fills as many elements as the attribute has. */
  if (type >= 0 && space >= 0 && H5Tget_class(type) == H5T_INTEGER &&
      H5Sget_simple_extent_npoints(space) == 1) {
    long long v = -1;
    if (H5Aread(a, H5T_NATIVE_LLONG, &v) >= 0 && v >= 0 && v <= 0x7fffffff) value = (int)v;
  }
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  H5Aclose(a);
  return value;
}

/* Reads through HDF5 take this lock only when the library was built without thread safety. */
static pthread_mutex_t h5_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t h5_once = PTHREAD_ONCE_INIT;
static int h5_threadsafe;

static void h5_probe(void) {
  hbool_t ts = 0;
  h5_threadsafe = H5is_library_threadsafe(&ts) >= 0 && ts;
}

static void h5_lock(void) {
  pthread_once(&h5_once, h5_probe);
  if (!h5_threadsafe) pthread_mutex_lock(&h5_mu);
}

static void h5_unlock(void) {
  if (!h5_threadsafe) pthread_mutex_unlock(&h5_mu);
}

/* Validates /images (the dataset is open as r->dset). Returns 0 or an error. */
static int inspect_images(shard_reader *r, int64_t userblock, int64_t file_size, nvae_err *e) {
  const char *path = r->path;
  hid_t dset = r->dset;
  int rc = 0;
  hid_t type = H5Dget_type(dset), space = H5Dget_space(dset), dcpl = H5Dget_create_plist(dset);
  if (type < 0 || space < 0 || dcpl < 0) {
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: cannot read the description of /images", path);
    goto done;
  }
  if (H5Tget_class(type) != H5T_INTEGER || H5Tget_size(type) != 1 ||
      H5Tget_sign(type) != H5T_SGN_NONE) {
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: /images has the wrong type (expected uint8)", path);
    goto done;
  }
  int rank = H5Sget_simple_extent_ndims(space);
  hsize_t dims[4] = {0, 0, 0, 0};
  if (rank != 4) {
    rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: /images has rank %d (expected 4: [N, H, W, C])", path,
                   rank);
    goto done;
  }
  H5Sget_simple_extent_dims(space, dims, NULL);
  if (dims[1] < 1 || dims[1] > 65536 || dims[2] < 1 || dims[2] > 65536 || dims[3] < 1 ||
      dims[3] > 4 || dims[0] > ((hsize_t)1 << 31)) {
    rc = nvae_errf(e, NVAE_EXIT_USAGE,
                   "%s: /images has shape [%llu, %llu, %llu, %llu] (expected [N, H, W, C] with "
                   "C in 1..4)",
                   path, (unsigned long long)dims[0], (unsigned long long)dims[1],
                   (unsigned long long)dims[2], (unsigned long long)dims[3]);
    goto done;
  }
  r->n = (int64_t)dims[0];
  r->height = (int)dims[1];
  r->width = (int)dims[2];
  r->channels = (int)dims[3];
  r->image_bytes = (size_t)dims[1] * dims[2] * dims[3];
  const int64_t total = r->n * (int64_t)r->image_bytes;
  H5D_layout_t layout = H5Pget_layout(dcpl);
  if (H5Pget_nfilters(dcpl) != 0) {
    rc = nvae_errf(e, NVAE_EXIT_USAGE,
                   "%s: /images is compressed or filtered (the format stores images uncompressed)",
                   path);
    goto done;
  }
  if (layout == H5D_CHUNKED) {
    hsize_t chunk[4] = {0, 0, 0, 0};
    if (H5Pget_chunk(dcpl, 4, chunk) != 4 || chunk[0] != 1 || chunk[1] != dims[1] ||
        chunk[2] != dims[2] || chunk[3] != dims[3]) {
      rc = nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: /images chunks are [%llu, %llu, %llu, %llu] (expected one image per "
                     "chunk: [1, %llu, %llu, %llu])",
                     path, (unsigned long long)chunk[0], (unsigned long long)chunk[1],
                     (unsigned long long)chunk[2], (unsigned long long)chunk[3],
                     (unsigned long long)dims[1], (unsigned long long)dims[2],
                     (unsigned long long)dims[3]);
      goto done;
    }
    /* Unfiltered chunks are full-size, so the allocated storage says whether every image was
     * written (one pass over the chunk index). */
    hsize_t stored = H5Dget_storage_size(dset);
    if ((int64_t)stored != total) {
      rc = nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: /images holds %llu bytes of image data, expected %lld (%lld images of "
                     "%zu bytes): missing or damaged chunks",
                     path, (unsigned long long)stored, (long long)total, (long long)r->n,
                     r->image_bytes);
      goto done;
    }
    if (total > file_size) {
      rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: truncated: %lld bytes of images in a %lld-byte file",
                     path, (long long)total, (long long)file_size);
      goto done;
    }
    r->chunked = 1;
  } else if (layout == H5D_CONTIGUOUS) {
    haddr_t base = H5Dget_offset(dset); /* includes any user block */
    if (r->n > 0 && base == HADDR_UNDEF) {
      rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: /images has no data written", path);
      goto done;
    }
    r->base = (int64_t)base;
    if (r->n > 0 && (r->base < userblock || r->base + total > file_size)) {
      rc = nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: truncated: the images end at byte %lld but the file has %lld bytes", path,
                     (long long)(r->base + total), (long long)file_size);
      goto done;
    }
    r->chunked = 0;
  } else {
    rc = nvae_errf(e, NVAE_EXIT_USAGE,
                   "%s: /images uses compact or virtual storage (expected chunked, one image per "
                   "chunk)",
                   path);
  }
done:
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  return rc;
}

int shard_open(shard_reader *r, const char *path, nvae_err *e) {
  memset(r, 0, sizeof *r);
  r->fd = -1;
  r->file = r->dset = -1;
  r->format_version = r->shard_index = r->shard_count = -1;
  snprintf(r->path, sizeof r->path, "%s", path);
  int64_t file_size = 0;
  int rc = fs_file_size(path, &file_size, e);
  if (rc) return rc;
  h5_lock();
  h5u_quiet q;
  h5u_quiet_begin(&q);
  hid_t fapl = h5u_fapl(0);
  hid_t file = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
  char why[512];
  if (file < 0) h5u_last_error(why, sizeof why); /* before the next call clears the stack */
  if (fapl >= 0) H5Pclose(fapl);
  if (file < 0) {
    h5u_quiet_end(&q);
    h5_unlock();
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%s: cannot open as HDF5 (not an HDF5 file, truncated or damaged): %s%s", path,
                     why,
                     strstr(why, "unable to lock") || strstr(why, "No locks available")
                         ? " (set HDF5_USE_FILE_LOCKING=FALSE on this filesystem)"
                         : "");
  }
  r->file = file;
  hsize_t userblock = 0;
  hid_t fcpl = H5Fget_create_plist(file);
  if (fcpl >= 0) {
    H5Pget_userblock(fcpl, &userblock);
    H5Pclose(fcpl);
  }
  if (H5Lexists(file, "images", H5P_DEFAULT) <= 0 ||
      (r->dset = H5Dopen2(file, "images", H5P_DEFAULT)) < 0)
    rc =
        nvae_errf(e, NVAE_EXIT_USAGE, "%s: no /images dataset (expected uint8 [N, H, W, C])", path);
  if (!rc) rc = inspect_images(r, (int64_t)userblock, file_size, e);
  if (!rc) {
    r->format_version = read_int_attr(file, "format_version");
    r->shard_index = read_int_attr(file, "shard_index");
    r->shard_count = read_int_attr(file, "shard_count");
  }
  H5Eclear2(H5E_DEFAULT);
  h5u_quiet_end(&q);
  h5_unlock();
  if (!rc && !r->chunked) {
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) rc = nvae_errf(e, NVAE_EXIT_USAGE, "%s: cannot open: %s", path, strerror(errno));
  }
  if (rc) shard_close(r);
  return rc;
}

static int pread_all(const shard_reader *r, uint8_t *dst, size_t bytes, int64_t off, nvae_err *e) {
  size_t got = 0;
  while (got < bytes) {
    ssize_t k = pread(r->fd, dst + got, bytes - got, (off_t)(off + (int64_t)got));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0)
      return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: read of %zu bytes at offset %lld failed: %s",
                       r->path, bytes, (long long)off,
                       k == 0 ? "file shrank after it was opened" : strerror(errno));
    got += (size_t)k;
  }
  return 0;
}

int shard_read(const shard_reader *r, int64_t i, uint8_t *dst, nvae_err *e) {
  if (i < 0 || i >= r->n)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: image %lld out of range [0, %lld)", r->path,
                     (long long)i, (long long)r->n);
  if (!r->chunked)
    return pread_all(r, dst, r->image_bytes, r->base + i * (int64_t)r->image_bytes, e);
  hsize_t at[4] = {(hsize_t)i, 0, 0, 0};
  uint32_t filters = 0;
  h5_lock();
  h5u_quiet q;
  h5u_quiet_begin(&q);
  herr_t rc = H5Dread_chunk(r->dset, H5P_DEFAULT, at, &filters, dst);
  char why[512];
  if (rc < 0) h5u_last_error(why, sizeof why);
  h5u_quiet_end(&q);
  h5_unlock();
  if (rc < 0)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot read image %lld: %s", r->path, (long long)i,
                     why);
  return 0;
}

int shard_read_range(const shard_reader *r, int64_t first, int64_t count, uint8_t *dst,
                     nvae_err *e) {
  if (first < 0 || count < 0 || first + count > r->n)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: images [%lld, %lld) out of range [0, %lld)",
                     r->path, (long long)first, (long long)(first + count), (long long)r->n);
  if (count == 0) return 0;
  if (!r->chunked)
    return pread_all(r, dst, (size_t)count * r->image_bytes,
                     r->base + first * (int64_t)r->image_bytes, e);
  h5_lock();
  h5u_quiet q;
  h5u_quiet_begin(&q);
  h5u_seq s = {1, ""};
  hsize_t start[4] = {(hsize_t)first, 0, 0, 0};
  hsize_t size[4] = {(hsize_t)count, (hsize_t)r->height, (hsize_t)r->width, (hsize_t)r->channels};
  hid_t fspace = H5Dget_space(r->dset), mspace = -1;
  if (h5u_step(&s, fspace))
    h5u_step(&s, H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, size, NULL));
  if (s.ok) h5u_step(&s, mspace = H5Screate_simple(4, size, NULL));
  if (s.ok) h5u_step(&s, H5Dread(r->dset, H5T_NATIVE_UINT8, mspace, fspace, H5P_DEFAULT, dst));
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  h5u_quiet_end(&q);
  h5_unlock();
  if (!s.ok)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot read images [%lld, %lld): %s", r->path,
                     (long long)first, (long long)(first + count), s.why);
  return 0;
}

void shard_close(shard_reader *r) {
  /* HDF5 ids are positive; 0 is a zeroed reader that was never opened */
  if (r->dset > 0 || r->file > 0) {
    h5_lock();
    if (r->dset > 0) H5Dclose(r->dset);
    if (r->file > 0) H5Fclose(r->file);
    h5_unlock();
  }
  r->dset = r->file = -1;
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
}

static void overwrite_int_attr(h5u_seq *q, hid_t file, const char *name, int64_t v) {
  if (!q->ok) return;
  hid_t a = H5Aopen(file, name, H5P_DEFAULT);
  if (h5u_step(q, a)) h5u_step(q, H5Awrite(a, H5T_NATIVE_INT64, &v));
  if (a >= 0) H5Aclose(a);
}

int shard_set_numbering(const char *path, int shard_index, int shard_count, nvae_err *e) {
  h5u_quiet quiet;
  h5u_quiet_begin(&quiet);
  h5u_seq q = {1, ""};
  hid_t fapl = h5u_fapl(1), file = -1;
  if (h5u_step(&q, fapl)) h5u_step(&q, file = H5Fopen(path, H5F_ACC_RDWR, fapl));
  overwrite_int_attr(&q, file, "shard_index", shard_index);
  overwrite_int_attr(&q, file, "shard_count", shard_count);
  if (file >= 0) h5u_step(&q, H5Fclose(file));
  if (fapl >= 0) H5Pclose(fapl);
  h5u_quiet_end(&quiet);
  if (!q.ok) return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot renumber shard: %s", path, q.why);
  return 0;
}
