/*
 * options.h: the command line, parsed identically on every rank.
 */
#ifndef NN_OPTIONS_H
#define NN_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#include "net.h"
#include "nn_check.h"

#define NNMPI_VERSION "0.1.0"

/* Exit statuses, documented in README.md. */
enum {
    NN_EXIT_OK = 0,
    NN_EXIT_ERROR = 1,    /* data, file or checkpoint problem */
    NN_EXIT_USAGE = 2,    /* bad command line */
    NN_EXIT_DIVERGED = 3, /* NaN or Inf in the loss or the weights */
    NN_EXIT_STOPPED = 75  /* stopped by SIGTERM/SIGUSR1 after writing a checkpoint (EX_TEMPFAIL) */
};

/* --overlap auto: on when the ranks span several nodes (see docs/design.md). */
#define NN_OVERLAP_AUTO (-1)

typedef struct {
    const char *data_dir;
    int sizes[NN_MAX_SIZES], n_sizes;
    nn_activation activation;
    nn_loss loss;
    nn_init init;
    int layers_given, activation_given, loss_given; /* else --resume may take them from the checkpoint */
    int epochs, batch;
    double lr, momentum;
    int train_size, test_size; /* 0: the whole file */
    int shuffle;
    uint64_t seed;
    int threads;
    const char *metrics_path;
    const char *checkpoint_path;
    int checkpoint_every;
    const char *resume_path;
    int eval_only;
    int reproducible, chunk; /* chunk: rows per chunk, 0 until resolved */
    int overlap;             /* 1 on, 0 off, NN_OVERLAP_AUTO until the trainer resolves it */
    int allreduce_ring;      /* --allreduce: 1 ring (ring.h), 0 MPI's collectives */
    int quiet;
    /* Testing hooks (see docs/reliability.md): -1 when unused. */
    long debug_signal_at;   /* the last rank raises SIGUSR1 before this global step */
    long debug_nan_at;      /* every rank writes a NaN into a weight before this global step */
    int debug_perturb_rank; /* this rank perturbs one weight before the replica check */
} nn_options;

typedef enum { OPTIONS_RUN, OPTIONS_EXIT_OK, OPTIONS_ERROR } options_result;

/* Sets every default (see options_print_help). */
void options_defaults(nn_options *opt);

/* Parses argv into opt. OPTIONS_EXIT_OK after --help/--version (printed to out
 * when out is not NULL); OPTIONS_ERROR with the reason, naming the option, in err. */
options_result options_parse(int argc, char **argv, nn_options *opt, FILE *out, nn_err *err);

/* The chunk size --reproducible uses for a batch: --chunk, or ceil(batch / 8). */
int options_chunk(const nn_options *opt);

const char *options_activation_name(nn_activation a);
const char *options_loss_name(nn_loss l);
const char *options_init_name(nn_init i);
/* Parses a name; returns 0, or -1 when unknown. */
int options_activation_from(const char *s, nn_activation *a);
int options_loss_from(const char *s, nn_loss *l);

#endif
