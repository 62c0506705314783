/*
 * train.h: the trainer wires data, network, reduction, timers, checkpoints
 * and metrics together. main() parses options and calls trainer_setup,
 * trainer_run and trainer_free; tests drive trainer_step directly.
 *
 * One step (see docs/design.md):
 *   gather my rows -> forward -> output delta -> backward, starting each
 *   layer's reduction as it finishes -> finish the reduction (control slots
 *   tell every rank the loss and the stop votes) -> SGD update.
 */
#ifndef NN_TRAIN_H
#define NN_TRAIN_H

#include <mpi.h>
#include <signal.h>
#include <stdio.h>

#include "checkpoint.h"
#include "idx.h"
#include "metrics.h"
#include "net.h"
#include "options.h"
#include "reduce.h"
#include "repro.h"
#include "timers.h"

typedef enum { STEP_OK, STEP_STOP, STEP_DIVERGED } step_outcome;

typedef struct {
    nn_options opt;            /* resolved: layers etc. possibly taken from --resume */
    MPI_Comm comm;
    int rank, nranks;
    idx_set train, test;       /* raw bytes, every rank its own copy */
    nn_net net;
    nn_reducer reducer;
    nn_repro repro;            /* --reproducible only */
    int *perm;                 /* (train.count) this epoch's sample order, identical on every rank */
    int chunk;                 /* --reproducible rows per chunk */
    int steps_per_epoch;
    int start_epoch, start_step; /* where training begins (after --resume) */
    nn_timers timers;          /* this rank, current epoch */
    nn_timer_spread spread;    /* over ranks, on rank 0 */
    double epoch_loss;         /* summed training loss of the epoch's steps (from the control slots) */
    long epoch_samples, epoch_steps;
    long global_step;          /* steps taken since epoch 0 step 0 */
    FILE *metrics;             /* rank 0 with --metrics, else NULL */
    nn_run_info info;
    char node_names[4096], mpi_library[MPI_MAX_LIBRARY_VERSION_STRING];
} nn_trainer;

/* Collective. Checks everything that can be checked before training (options,
 * data files, checkpoint directory, --resume file) and allocates every buffer.
 * Returns 0, or an exit status after rank 0 printed why (all ranks return the same). */
int trainer_setup(nn_trainer *t, const nn_options *opt, MPI_Comm comm);

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
