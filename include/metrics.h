/*
 * metrics.h: the --metrics JSON Lines file (rank 0 only; fields in README.md).
 */
#ifndef NN_METRICS_H
#define NN_METRICS_H

#include <stdio.h>

#include "nn_check.h"
#include "options.h"
#include "timers.h"

/* What the run header records about the machine and the job. */
typedef struct {
    int ranks, nodes, threads;
    const char *node_names;  /* comma-separated distinct processor names */
    const char *openblas_core, *openblas_config, *mpi_library;
    double allreduce_ref_s;  /* one blocking allreduce of the gradient, measured at start-up */
    unsigned repro_forward_batched, repro_delta_batched; /* --reproducible: rank 0's nn_repro masks */
} nn_run_info;

/* One epoch's results, as printed on the epoch line. */
typedef struct {
    int epoch, correct, test_total;
    long steps, samples;
    double train_loss, test_loss;
    double allreduce_hidden; /* fraction of the blocking allreduce time hidden by overlap; -1 when not measured */
    const nn_timer_spread *phases;
} nn_epoch_record;

/* Opens (appends to) the metrics file; returns NULL with the reason in err. */
FILE *metrics_open(const char *path, nn_err *err);
void metrics_header(FILE *f, const nn_options *opt, const nn_run_info *info, int resumed_epoch, int resumed_step);
void metrics_epoch(FILE *f, const nn_epoch_record *rec);
/* status: "completed", "stopped", "diverged" or "evaluated". */
void metrics_final(FILE *f, const char *status, int epochs_done, double total_s, const double rss_mb[3]);

#endif
