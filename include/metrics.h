/*
 * metrics.h: the --metrics JSON Lines file (rank 0 only; fields in
 * README.md): a header record, one record per epoch, a final record, each
 * written from report.h's records and flushed line by line, so a killed job
 * keeps what it wrote.
 */
#ifndef NN_METRICS_H
#define NN_METRICS_H

#include <stdio.h>

#include "nn_check.h"
#include "report.h"

/* Opens (appends to) the metrics file, which must be a regular file (never
 * blocks on a FIFO); returns NULL with the reason in err. */
FILE *metrics_open(const char *path, nn_err *err);
/* Each writes one record and flushes it: 0, or -1 with errno when any byte
 * did not reach the file (a full disk, /dev/full). */
int metrics_header(FILE *f, const nn_run_record *run);
int metrics_epoch(FILE *f, const nn_epoch_record *rec);
int metrics_final(FILE *f, const nn_final_record *rec);
/* --eval-only: the header, then one "evaluation" record. */
int metrics_eval(FILE *f, const nn_run_record *run, const nn_eval_record *rec);

#endif
