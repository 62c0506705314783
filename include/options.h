/*
 * options.h: the command line, parsed identically on every rank, from one
 * table of options (options.c). Knows nothing of the data: whether --layers
 * fits the data files is checked at start-up (startup.c), once they are read.
 */
#ifndef NN_OPTIONS_H
#define NN_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#include "net.h"
#include "nn_check.h"
#include "nn_version.h"
#include "reduce.h"
#include "schedule.h"
#include "synth.h"

/* Exit statuses, documented in README.md. */
enum {
    NN_EXIT_OK = 0,
    NN_EXIT_ERROR = 1,    /* data, file or checkpoint problem */
    NN_EXIT_USAGE = 2,    /* bad command line */
    NN_EXIT_DIVERGED = 3, /* NaN or Inf in the loss or the weights */
    NN_EXIT_HUNG = 4,     /* --step-timeout: no progress, a rank stopped or hung (watchdog.h) */
    NN_EXIT_STOPPED = 75, /* stopped by a signal after writing a checkpoint (EX_TEMPFAIL) */
    NN_EXIT_STOPPED_UNSAVED = 143 /* stopped by a signal with no --checkpoint: nothing saved (128 + SIGTERM) */
};

/* The data files: train images, train labels, test images, test labels. */
#define NN_DATA_FILES 4

/* --overlap off|on|auto; auto: on when the ranks span several nodes (see
 * docs/design.md), resolved at start-up to off or on. */
enum { NN_OVERLAP_OFF, NN_OVERLAP_ON, NN_OVERLAP_AUTO, NN_OVERLAP_COUNT };
extern const char *const nn_overlap_names[NN_OVERLAP_COUNT]; /* off on auto */

/* --share-data rank|node|auto: every rank reads its own copy of the data
 * sets, or the node's first rank reads them into a window the node's ranks
 * share (data_share.h); auto is node unless the window does not fit in
 * /dev/shm, then rank (said in a note). */
enum { NN_SHARE_RANK, NN_SHARE_NODE, NN_SHARE_AUTO, NN_SHARE_COUNT };
extern const char *const nn_share_names[NN_SHARE_COUNT]; /* rank node auto */

typedef struct {
    const char *data_dir;         /* --data DIR (the four standard names, plain or .gz), or synthetic:... */
    int synthetic;                /* --data synthetic:INPUTS,CLASSES,TRAIN,TEST, parsed into synth */
    nn_synth_spec synth;
    /* --train-images, --train-labels, --test-images, --test-labels: one file each, in place of DIR's; else NULL */
    const char *data_paths[NN_DATA_FILES];
    int share_data;               /* NN_SHARE_*: --share-data */
    int classes, classes_given;   /* --classes K; else the checkpoint's (--resume), else the largest label + 1 */
    int sizes[NN_MAX_SIZES], n_sizes;
    nn_activation activation;
    nn_loss loss;
    nn_init init;
    int layers_given, activation_given, loss_given; /* else --resume may take them from the checkpoint */
    int epochs, batch;
    double lr, momentum;
    int lr_given, momentum_given; /* else --resume takes them from the checkpoint */
    nn_lr_kind lr_schedule;       /* schedule.h */
    int n_lr_steps;
    double lr_steps[NN_MAX_MILESTONES]; /* --lr-steps: epochs, ascending */
    double lr_gamma, lr_min, warmup;
    int lr_batch;                 /* --lr-batch B0: --lr was tuned for global batch B0, scaled by batch / B0; 0 = none */
    int nesterov;
    double weight_decay;          /* L2 on the weights: W -= lr * weight_decay * W each step */
    double dropout;               /* inverted dropout on hidden layers, in [0, 1) */
    /* the recipe, given on the command line, else --resume takes it from the checkpoint */
    int epochs_given, lr_schedule_given, lr_steps_given, lr_gamma_given, lr_min_given, warmup_given;
    int lr_batch_given, nesterov_given, weight_decay_given, dropout_given;
    int validation;               /* hold out the last N training images; 0 = none */
    const char *keep_best_path;   /* checkpoint whenever validation accuracy improves */
    int early_stop;               /* end after K epochs without a better validation accuracy; 0 = never */
    double target_accuracy;       /* end after the first epoch at or above it; 0 = none */
    int train_size, test_size; /* 0: the whole file */
    int shuffle;
    uint64_t seed;
    /* given on the command line, else --resume takes them from the checkpoint */
    int seed_given, batch_given, train_size_given, shuffle_given, chunk_given;
    int threads;
    const char *metrics_path;
    const char *checkpoint_path;
    int checkpoint_every;
    int overwrite;           /* --overwrite: --checkpoint may replace a checkpoint this run did not resume from */
    const char *resume_path;
    int eval_only;
    const char *predict_path; /* --predict: an IDX image file to classify with the --resume model */
    const char *output_path;  /* --predict's CSV */
    int trains;               /* derived: 0 with --eval-only or --predict, which train nothing */
    int reproducible, chunk; /* chunk: rows per chunk with --reproducible (--chunk, else ceil(batch / 8)), else 0 */
    int overlap;             /* NN_OVERLAP_*; after start-up 0 or 1 */
    nn_reduce_kind allreduce; /* --allreduce: MPI's collectives or the ring (reduce.h) */
    nn_exchange_kind exchange; /* --exchange: what shm's ranks exchange on one node (reduce.h) */
    int step_timeout;        /* --step-timeout: seconds without progress before the job ends; 0 = never */
    int quiet;
    double progress;         /* --progress: seconds between progress lines inside an epoch (rank 0); 0 = none */
    /* Testing hooks (see docs/reliability.md): -1 when unused. */
    long debug_signal_at;   /* the last rank raises SIGUSR1 before this global step */
    long debug_nan_at;      /* every rank writes a NaN into a weight before this global step */
    int debug_perturb_rank; /* this rank perturbs one weight before the replica check */
    int argc;               /* the command line, for the run's provenance */
    char **argv;
} nn_options;

typedef enum { OPTIONS_RUN, OPTIONS_EXIT_OK, OPTIONS_ERROR } options_result;

/* Sets every default (see options_print_help). */
void options_defaults(nn_options *opt);

/* Parses argv into opt. OPTIONS_EXIT_OK after --help/--version (printed to out
 * when out is not NULL); OPTIONS_ERROR with the reason, naming the option, in err. */
options_result options_parse(int argc, char **argv, nn_options *opt, FILE *out, nn_err *err);

/* The training options' combinations (schedule, warmup, stopping rules):
 * 0, or -1 with the reason, naming the option, in err. options_parse runs it
 * unless --resume is given; then start-up runs it once the checkpoint's
 * recipe has filled what the command line left out. */
int options_check_training(const nn_options *opt, nn_err *err);

#endif
