/*
 * train.h: the trainer wires data, network, reduction, timers, checkpoints
 * and reports together. main() parses options and calls trainer_setup
 * (startup.c), trainer_run and trainer_free (train.c); tests drive
 * trainer_step directly.
 *
 * One step (see docs/design.md) is a recipe:
 *   gather my rows -> forward -> backward (starting each layer's reduction as
 *   it finishes) -> reduce (the control slots tell every rank the loss and
 *   the stop votes) -> SGD update.
 * Forward, backward, reduce and the update go through the gradient path
 * chosen once at start-up: the plain one (net.h + reduce.h), the factor
 * path (one rank, or shm on one node exchanging the batch's activations and
 * deltas, reduce.h), the units path (the same exchange over 16 rows, each
 * rank computing its units of every layer for all the rows) or
 * --reproducible's (repro.h).
 */
#ifndef NN_TRAIN_H
#define NN_TRAIN_H

#include <mpi.h>
#include <signal.h>
#include <stdio.h>

#include "checkpoint.h"
#include "data_share.h"
#include "idx.h"
#include "net.h"
#include "options.h"
#include "reduce.h"
#include "report.h"
#include "repro.h"
#include "timers.h"
#include "watchdog.h"

typedef enum { STEP_OK, STEP_STOP, STEP_DIVERGED } step_outcome;

typedef struct nn_trainer nn_trainer;

/* The step's share of the global batch. */
typedef struct {
    int step;       /* the step's index in the epoch */
    int batch_rows; /* rows of the global batch */
    int lo, hi;     /* this rank's rows [lo, hi) of it, gathered into act[0] rows [0, hi - lo) */
    float stop_vote; /* 1 when a stop signal arrived on this rank */
} nn_step;

/* How a step's summed gradient is made: the plain path, the factor
 * exchange's (shm on one node; split by rows or by units) or
 * --reproducible's, each straight-line code, chosen once at start-up. */
typedef struct {
    const char *name;
    /* This rank's rows [*lo, *hi) of a global batch of batch_rows (pure arithmetic). */
    void (*my_rows)(const nn_trainer *t, int batch_rows, int *lo, int *hi);
    void (*place)(nn_trainer *t, const nn_step *s);    /* where the rows go, before they are gathered; or NULL */
    void (*forward)(nn_trainer *t, const nn_step *s);  /* forward pass, loss and vote into the control slots */
    void (*backward)(nn_trainer *t, const nn_step *s); /* this rank's gradient (factors: deltas) */
    /* afterwards the sums of the parameters this rank updates (reducer_update_parts) and of the control slots */
    void (*reduce)(nn_trainer *t, const nn_step *s);
    /* the SGD step from the sums, step = lr / batch_rows; returns 1 when a parameter is no longer finite */
    int (*apply)(nn_trainer *t, int batch_rows, double lr);
} nn_grad_path;

extern const nn_grad_path nn_plain_path, nn_factor_path, nn_units_path, nn_inputs_path, nn_repro_path;

struct nn_trainer {
    nn_options opt;            /* resolved once at start-up (layers from --resume, chunk, overlap, sizes); read-only after */
    MPI_Comm comm;
    int rank, nranks;
    idx_set train, test;       /* raw bytes: views of the node's shared window, or this rank's own copy */
    nn_data_share data;        /* --share-data node: owns that window (data_share.h) */
    nn_net net;
    nn_reducer reducer;        /* owns the buffer the step's gradient is summed in */
    nn_repro repro;            /* --reproducible only */
    const nn_grad_path *path;  /* &nn_plain_path, &nn_factor_path, &nn_units_path, &nn_inputs_path or &nn_repro_path */
    int *perm;                 /* (train.count) this epoch's sample order, identical on every rank */
    int steps_per_epoch;
    int start_epoch, start_step; /* where training begins (after --resume) */
    nn_timers timers;          /* this rank, current epoch */
    nn_timer_spread spread;    /* over ranks, on rank 0 */
    double epoch_loss;         /* summed training loss of the epoch's steps (from the control slots) */
    long epoch_samples, epoch_steps;
    long global_step;          /* steps taken since epoch 0 step 0 */
    FILE *metrics;             /* rank 0 with --metrics, else NULL */
    nn_err metrics_err;        /* rank 0: a metrics record that did not reach the file (fails the run) */
    nn_watchdog watchdog;      /* --step-timeout */
    nn_schedule schedule;      /* the rate of every step (schedule.h) */
    double lr_now;             /* the rate of the last step */
    idx_set val;               /* --validation: a view of the last N training images (not owned) */
    double best_accuracy;      /* --validation: the best so far, carried by checkpoints */
    int best_epoch, since_best;
    double train_s;            /* rank 0: this run's training time so far (epoch_s summed) */
    nn_progress progress;      /* rank 0: --progress lines inside the epoch (report.h) */
    nn_run_record run;         /* the run's description, for the reports (rank 0) */
    char **node_names;         /* (run.nodes) the distinct hosts' names, each malloc'ed, rank 0 */
    /* rank 0: the run's provenance as text, for the checkpoint's attributes */
    char command_line[4096], host_list[4096], data_note[2048];
    char data_paths[NN_DATA_FILES][4096]; /* train images, train labels, test images, test labels: as opened */
    char mpi_library[MPI_MAX_LIBRARY_VERSION_STRING];
};

/* Collective (startup.c). Checks everything that can be checked before
 * training (options against the data, data files, checkpoint directory,
 * --resume file), resolves the options once, and allocates every buffer.
 * Returns 0, or an exit status after one rank printed why (all ranks return
 * the same). trainer_free is safe after a failure. */
int trainer_setup(nn_trainer *t, const nn_options *opt, MPI_Comm comm);

/* Copies the run's recipe (schedule, warmup, scaling, regularization,
 * epochs) from opt into ck, for the checkpoint writer; --resume reads it back. */
void trainer_recipe_to_checkpoint(const nn_options *opt, nn_checkpoint *ck);

/* Collective: trains from the start position to --epochs, evaluating and
 * checkpointing between epochs. Returns the exit status (NN_EXIT_*). */
int trainer_run(nn_trainer *t);

/* Computes the sample order of `epoch` (identity with --shuffle off). */
void trainer_begin_epoch(nn_trainer *t, int epoch);

/* Collective: one SGD step on the global minibatch `step` of the epoch begun last. */
step_outcome trainer_step(nn_trainer *t, int step);

/* Collective: test-set accuracy, sharded across ranks. */
void trainer_evaluate(nn_trainer *t, int *correct, double *loss_sum);

/* Collective: compares a hash of every rank's weights; returns 0 when all agree. */
int trainer_replica_check(nn_trainer *t);

void trainer_free(nn_trainer *t);

/* Set by the SIGTERM/SIGUSR1 handler; read once per step. */
extern volatile sig_atomic_t nn_stop_signal;
void trainer_install_signal_handlers(void);

#endif
