/*
 * checkpoint.h: the HDF5 checkpoint (layout in docs/checkpoint-format.md).
 * Holds global state only (weights, momentum, the position in the data
 * order), so a run may resume at any rank count. Written by one rank,
 * atomically: a temporary file created exclusively under an unpredictable
 * name in the same directory, flushed, fsync'ed, then renamed over the old
 * one, which must be a regular file. Read as untrusted input: only the
 * contiguous datasets nnmpi writes, inside the file, through hard links,
 * holding finite numbers.
 */
#ifndef NN_CHECKPOINT_H
#define NN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "nn_check.h"
#include "schedule.h"

#define NN_CHECKPOINT_FORMAT "nnmpi-checkpoint"
#define NN_CHECKPOINT_FORMAT_VERSION 2

typedef struct {
    int format_version;
    char nnmpi_version[32];
    int n_sizes, sizes[NN_MAX_SIZES];
    nn_activation activation;
    nn_loss loss;
    nn_init init;         /* how the run's weights were first drawn (reports only; absent before 0.2.0: normal) */
    int epoch;            /* epochs completed */
    int step;             /* steps already taken inside epoch `epoch` (0 at an epoch boundary) */
    uint64_t seed;
    int batch, train_size, shuffle, reproducible, chunk;
    double lr, momentum;
    int validation;       /* --validation N: the N training images after the first train_size held out */
    int allreduce;        /* nn_reduce_kind that summed the gradients; 0 (auto) in files of older nnmpi */
    double best_accuracy; /* --validation: the best validation accuracy so far (0: none yet) */
    int best_epoch, since_best; /* the epoch that reached it; epochs since, for --early-stop */
    /* The recipe (--resume takes each unless given); absent in files of
     * older nnmpi, read as the defaults: constant rate, no warmup, decay,
     * dropout or scaling, epochs -1 (unknown). */
    int epochs;           /* --epochs: the schedule's horizon (cosine, linear) */
    int lr_schedule;      /* nn_lr_kind */
    int n_lr_steps;       /* 0, or 1 to NN_MAX_MILESTONES with lr_schedule step */
    double lr_steps[NN_MAX_MILESTONES]; /* epochs, ascending */
    double lr_gamma, lr_min, warmup, weight_decay, dropout;
    int lr_batch, nesterov;
    size_t n_params;
    /* written for other tools (docs/checkpoint-format.md), not read back: */
    double input_scale, input_offset; /* a network input is pixel byte * input_scale + input_offset */
    int n_input_dims, input_dims[4];  /* one input's geometry, flattened row-major */
    int n_notes;                      /* provenance: string attributes recorded as they are */
    struct {
        const char *name, *value;
    } notes[12];
    float *params;        /* (n_params) in model_layout's layout; owned when read, borrowed when written */
    float *velocity;      /* (n_params) or NULL when the run has no momentum */
} nn_checkpoint;

/* Writes ck to `path` atomically. Returns 0, or -1 with the reason in err;
 * on failure the previous file at `path` is untouched and no temporary is left. */
int checkpoint_write(const char *path, const nn_checkpoint *ck, nn_err *err);

/* Reads and validates a checkpoint from a file (image == NULL) or from an
 * in-memory file image of image_len bytes (path then only names it in
 * messages). On success ck->params/velocity are malloc'ed: checkpoint_free(). */
int checkpoint_read(const char *path, const void *image, size_t image_len, nn_checkpoint *ck, nn_err *err);

void checkpoint_free(nn_checkpoint *ck);

/* 1 when `path` is a regular file holding an nnmpi checkpoint (its 'format'
 * attribute says so), else 0: what start-up asks before a run may replace it. */
int checkpoint_is_checkpoint(const char *path);

/* Checks that the directory of the checkpoint `path` exists and is writable
 * by creating and removing a probe file there. Returns 0, or -1 with the
 * reason in err. */
int checkpoint_check_writable(const char *path, nn_err *err);

#endif
