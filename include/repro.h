/*
 * repro.h: one step's gradient with --reproducible: the same bits at any rank
 * count (docs/design.md, "--reproducible").
 *
 * A rank holds whole chunks of the global batch, gathered into rows [0, rows)
 * of the net's buffers: chunk k is rows [k*chunk, min((k+1)*chunk, rows)),
 * and only the batch's last chunk can be short, so a chunk has the same rows
 * and the same shape whichever rank runs it. Weight and bias gradients are
 * computed chunk by chunk and added into the reducer's 64-bit fixed-point
 * sums, where integer addition makes the order irrelevant. The weight
 * gradient goes in blocks of output units: each chunk's block is converted
 * while it is still in cache, instead of a full gradient written per chunk.
 *
 * The forward and delta products treat every row on its own, so they can run
 * over all the rank's rows in one call, packing each weight matrix once per
 * step instead of once per chunk, provided the BLAS gives a row the same bits
 * whatever the number of rows in the call. repro_create measures that for
 * every product and every row count this rank will use, and where it does
 * not hold (OpenBLAS's small-matrix kernels, or its Haswell kernels) that
 * product runs in chunk-sized calls.
 */
#ifndef NN_REPRO_H
#define NN_REPRO_H

#include <stddef.h>

#include "net.h"
#include "reduce.h"

/* Weight-gradient block: at most this many floats (64 KB; with its int64
 * sums 192 KB, well inside a 1 MB L2). Measured on the large net, -n 1:
 * 16,384 beat 4,096, 8,192, 32,768, 65,536 and 131,072 by 3-25%. */
#define NN_REPRO_BLOCK_ELEMS 16384

typedef struct {
    nn_net *net;
    nn_reducer *reducer;     /* its fixed-point buffer receives the sums */
    int chunk;               /* rows per chunk */
    unsigned forward_batched;  /* bit l: layer l's forward product runs over all the rank's rows in one call */
    unsigned delta_batched;    /* bit l: so does the product that gives delta[l-1] from delta[l] */
    float *block;            /* (block_len) one chunk's block of a weight gradient, or its bias gradient */
    size_t block_len;
} nn_repro;

/* Decides, product by product, whether one call over this rank's rows gives
 * every row the bits of chunk-sized calls, for each of the rank's step sizes
 * row_counts[0..n_counts) (rows per step); measured with the net's weights
 * on random inputs in its act/delta buffers, which it overwrites. Aborts the
 * job on allocation failure. */
void repro_create(nn_repro *p, nn_net *net, nn_reducer *reducer, int chunk, const int *row_counts, int n_counts);
void repro_free(nn_repro *p);

/* Forward pass and output delta over rows [0, rows) of act[0] and labels;
 * the control slots get this rank's stop vote and its chunks' losses. */
void repro_forward(nn_repro *p, int rows, float stop_vote);

/* Backward pass: the fixed-point sums of the rank's chunk gradients, each
 * layer's reduction started as soon as its sums are final (rows == 0: zeros). */
void repro_backward(nn_repro *p, int rows);

#endif
