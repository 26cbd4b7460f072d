/* TensorBoard event files written from C (ECOSYSTEM.md §3): scalars and images in the legacy
 * Summary.Value forms (simple_value, Image) that TensorBoard still reads natively.
 *
 * One writer = one new file <run_dir>/events.out.tfevents.<10-digit unix seconds>.<hostname>.
 * <pid>.<n>, TensorBoard's own naming (n counts the writers opened by this process, from 0, so
 * two writers opened in the same second never collide). A resumed run opens a NEW file rather
 * than appending, because the old one may end in a torn record; tb_add_session_start then tells
 * TensorBoard to drop the old file's events from the resume step on.
 *
 * Each record is TFRecord-framed (length, masked CRC-32C of the length, the serialized Event,
 * masked CRC-32C of the Event); the first record is Event{file_version: "brain.Event:2"}.
 * Records are buffered: tb_flush hands them to the OS (call it at each logging interval).
 * Only rank 0 writes. Not thread-safe: one thread per writer.
 *
 * Every function returns 0 or an nvae_err code (NVAE_EXIT_RUNTIME). After a failed write the
 * file may end in a torn record, so the writer refuses further records (each call returns the
 * first error again) instead of writing behind a record TensorBoard can no longer read past.
 */
#ifndef NVAE_TRAINER_TB_WRITER_H
#define NVAE_TRAINER_TB_WRITER_H

#include "kernels/base/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tb_writer tb_writer;

/* Creates the event file in run_dir (which must exist) and writes the file_version record. */
int tb_writer_open(const char *run_dir, tb_writer **w, nvae_err *e);

/* Summary.Value{tag, simple_value}: value is stored as float32 (TensorBoard's scalar type). */
int tb_add_scalar(tb_writer *w, const char *tag, double value, int64_t step, nvae_err *e);

/* Summary.Value{tag, image{height, width, colorspace = channels, encoded_image_string = png}}.
 * png holds a complete encoded PNG (png_write_rgb8_mem) of height x width pixels with channels
 * = 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA). */
int tb_add_image(tb_writer *w, const char *tag, const uint8_t *png, size_t png_len, int height,
                 int width, int channels, int64_t step, nvae_err *e);

/* Event{step, session_log{status: START}}: TensorBoard then discards events of earlier files in
 * this run whose step is >= step. Write it right after opening the writer of a resumed run. */
int tb_add_session_start(tb_writer *w, int64_t step, nvae_err *e);

/* Hands buffered records to the OS (fflush). */
int tb_flush(tb_writer *w, nvae_err *e);

/* Flushes, closes and frees the writer (always frees, also on error). NULL is a no-op. */
int tb_close(tb_writer *w, nvae_err *e);

/* The event file's path (valid until tb_close). */
const char *tb_writer_path(const tb_writer *w);

#ifdef __cplusplus
}
#endif

#endif
