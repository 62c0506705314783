/*
 * report.h: what a run tells its user, as records: the start-up description
 * of the run, one record per epoch, the final outcome. The console lines
 * (report.c) and the --metrics JSON Lines (metrics.h) print the same records;
 * neither knows the trainer or the options. Rank 0 only.
 */
#ifndef NN_REPORT_H
#define NN_REPORT_H

#include <stdint.h>

#include "model.h"
#include "schedule.h"
#include "timers.h"

/* A data file as the run found it: provenance without hashing 50 MB. */
typedef struct {
    const char *name;     /* file name inside data_dir, or the path given by --train-images etc. */
    long long bytes;
    char mtime[32];       /* last modification, UTC, ISO 8601 */
} nn_data_file;

/* What start-up resolved and found: the model, the training settings, the job. */
typedef struct {
    /* provenance */
    int argc;
    char *const *argv;             /* the command line */
    char started[32];              /* UTC, ISO 8601 */
    const char *git;               /* `git describe` of the build's source, "" when not from a checkout */
    const char *data_dir;
    nn_data_file data_files[4];
    int n_data_files;
    const char *slurm_job_id, *slurm_job_name; /* NULL outside Slurm */
    /* the job */
    int ranks, threads, nodes;
    const char *const *node_names; /* (nodes) distinct processor names */
    const char *openblas_core, *openblas_config, *mpi_library;
    /* the model and the data */
    int n_sizes, sizes[NN_MAX_SIZES];
    nn_activation activation;
    nn_loss loss;
    nn_init init;
    int train_size, test_size;
    /* training */
    int epochs, batch, shuffle;
    double lr, momentum;
    uint64_t seed;
    int reproducible, chunk;       /* chunk: 0 without --reproducible */
    const nn_schedule *schedule;   /* the rates (lr already scaled by --lr-batch) */
    int lr_batch, nesterov, validation, early_stop;
    double weight_decay, target_accuracy, dropout;
    int overlap;                   /* resolved: 0 or 1 */
    const char *allreduce;         /* the method in use: "mpi", "ring", "shm", or "tree" with --reproducible */
    const char *allreduce_fallback; /* why it is not the --allreduce asked for, or what auto chose and why, or NULL */
    int update_split;               /* shm: the node's ranks share one copy of the weights, each updating 1/update_split
                                       of it; 0: every rank updates its own copy */
    int split_inputs;               /* factors: layer 0 split by its inputs (train.c's inputs path), not by units */
    const char *exchange;           /* shm with the sharded update: "factors" or "gradients"; NULL otherwise */
    const char *exchange_note;      /* why --exchange factors is not in use, or NULL */
    size_t factor_floats, grad_floats; /* factors: floats a batch writes, against a gradient's */
    double allreduce_ref_s;        /* one blocking allreduce of the gradient, measured at start-up; 0 when not */
    unsigned repro_forward_batched, repro_delta_batched; /* --reproducible: rank 0's nn_repro masks */
    /* where it starts */
    const char *resume_path;       /* NULL unless --resume */
    int eval_only;
    const char *predict_path; /* --predict: the images classified */
    int start_epoch, start_step;
} nn_run_record;

/* One epoch's results, as printed on the epoch line. */
typedef struct {
    int epoch, correct, test_total;  /* epoch counts from 1 */
    int first_step;                  /* > 0 after a resume in the middle of the epoch: train_loss covers its later steps only */
    long steps, samples;
    double train_loss, test_loss;    /* means per sample */
    double epoch_s, compute_s, allreduce_s; /* maxima over ranks */
    double allreduce_hidden;         /* fraction of the blocking allreduce time hidden by overlap; -1 when not measured */
    double lr;                       /* the rate of the epoch's last step */
    int val_correct, val_total;      /* --validation; val_total 0 without */
    double val_loss;                 /* mean per sample */
    double train_s;                  /* training time of this run so far: the epochs' epoch_s summed */
    const nn_timer_spread *phases;
} nn_epoch_record;

/* --eval-only: a checkpoint's score on the test set. */
typedef struct {
    const char *checkpoint;
    int epoch, step, correct, test_total;
    double test_loss; /* mean per sample */
} nn_eval_record;

/* How the run ended. */
typedef struct {
    const char *status;  /* "completed", "early-stopped", "target-reached", "stopped", "diverged" or "error" */
    const char *reason;  /* what ended it early, for the final line, or NULL */
    double train_s;      /* training time (the epochs' epoch_s summed) */
    int epochs_done;
    double total_s;
    double rss_mb[3];    /* peak RSS over ranks: min, median, max */
    double pss_mb[2];    /* PSS at the end over ranks: min, max (memstat.h); -1 when unreadable */
    double node_pss_mb;  /* the PSS of a node's ranks summed, the largest node's; -1 when unreadable */
} nn_final_record;

/* Progress inside an epoch (--progress), rank 0: where the epoch is and how fast it goes. */
typedef struct {
    int epoch;           /* counts from 1 */
    long step, steps;    /* steps done of the epoch's `steps` (counting those before a resume) */
    double samples_per_s; /* over this run's part of the epoch so far */
    double elapsed_s, eta_s;
} nn_progress_record;

/* When progress is printed, rank 0: redrawn in place on a terminal, a line at a time otherwise. */
typedef struct {
    double every_s;      /* seconds between lines; 0: never */
    int terminal;        /* stdout is a terminal: one line, redrawn with \r */
    int drawn;           /* a terminal line is showing and must be cleared before other output */
    double started, next; /* CLOCK_MONOTONIC seconds: the epoch's start, the next report */
    long first_step;     /* the epoch's first step in this run (after a resume, not 0) */
    long samples;        /* samples trained in this run's part of the epoch */
} nn_progress;

/* Seconds on CLOCK_MONOTONIC: the progress clock, one cheap read (vDSO, no MPI call). */
double report_clock_s(void);

/* A progress line: "Epoch E step k/K (P%): S samples/s, elapsed T s, ETA U s";
 * on a terminal, \r first and the rest of the old line erased, no newline. */
void report_progress(const nn_progress_record *rec, int terminal);

/* Erases a terminal progress line so that the next line starts clean. */
void report_progress_clear(void);

/* The console lines, on stdout. */
void report_startup(const nn_run_record *run);
void report_epoch(const nn_epoch_record *rec);
void report_final(const nn_final_record *rec);
void report_eval(const nn_eval_record *rec);

/* The current time, UTC, ISO 8601 with milliseconds ("2026-12-03T12:50:01.123Z"), into out[32]. */
void report_utc_now(char out[32]);

#endif
