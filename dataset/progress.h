/* Progress display for long jobs: on a terminal a bar redrawn in place with images/s and ETA;
 * otherwise (logs, CI) a plain line every 10 seconds. Prefix progress_. */
#ifndef NVAE_DATASET_PROGRESS_H
#define NVAE_DATASET_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct progress {
  FILE *out;
  int tty;
  int64_t total;
  double start, last;
  int drawn;
} progress;

double progress_now(void); /* monotonic seconds */
void progress_start(progress *p, FILE *out, int64_t total);
/* Cheap to call often: redraws at most 5 times a second (every 10 s without a terminal). */
void progress_update(progress *p, int64_t done);
/* Ends the bar line (so warnings and the summary start on a fresh line). */
void progress_finish(progress *p, int64_t done);
/* Before printing something else while a bar is drawn. */
void progress_clear_line(progress *p);

#endif
