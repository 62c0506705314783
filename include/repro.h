/*
 * repro.h: one step's gradient with --reproducible: the same bits at any rank
 * count (docs/design.md, "--reproducible").
 *
 * The global batch is cut into chunks of `chunk` rows (only the last can be
 * short); each rank takes a contiguous range of whole chunks, gathered into
 * rows [0, rows) of the net's buffers, so a chunk has the same rows and the
 * same shape whichever rank runs it, and its gradient the same bits. The
 * step's gradient is the sum of the chunk gradients in one fixed binary tree
 * over the chunk indices: node [lo, hi) = node [lo, mid) + node [mid, hi),
 * mid = (lo + hi) / 2, over the chunk count rounded up to a power of two
 * (a node past the last chunk is absent and adds nothing). Each float
 * addition of that tree is done once, by some rank, on the same two
 * operands, so the result cannot depend on the rank count.
 *
 * A rank computes, locally, the largest tree nodes whose chunks are all its
 * own ("pieces": one at -n 1 and -n 2, a few at most otherwise), blockwise:
 * a block of output units of a weight gradient for every chunk of a piece,
 * summed by the tree while the block is in cache. The nodes that span ranks
 * are then added with point-to-point messages in the tree's own order, and
 * the root is broadcast (with two ranks: exchanged, both add).
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

#include <mpi.h>
#include <stddef.h>

#include "net.h"
#include "reduce.h"

/* Weight-gradient block: at most this many floats (64 KB, one per tree level
 * in flight, inside a 1 MB L2). */
#define NN_REPRO_BLOCK_ELEMS 16384

/* Most pieces a rank can hold: a contiguous range of chunks splits into at
 * most two nodes per tree level. */
#define NN_REPRO_MAX_PIECES 64

typedef struct {
    int lo, hi; /* the tree node [lo, hi) (chunk indices; the chunks present are [lo, min(hi, chunks))) */
} nn_piece;

typedef struct {
    nn_net *net;
    float *sums;               /* (n) the reducer's buffer: this rank's first piece, then the step's sums */
    size_t n;                  /* NN_CTRL + n_params */
    MPI_Comm comm;
    int rank, nranks;
    int chunk;                 /* rows per chunk */
    unsigned forward_batched;  /* bit l: layer l's forward product runs over all the rank's rows in one call */
    unsigned delta_batched;    /* bit l: so does the product that gives delta[l-1] from delta[l] */
    /* this step */
    int chunks;                /* chunks in the global batch */
    int span;                  /* chunks rounded up to a power of two: the tree's root is [0, span) */
    int c_lo, c_hi;            /* this rank's chunks */
    int rows;                  /* this rank's rows: its chunks' */
    int n_pieces;
    nn_piece piece[NN_REPRO_MAX_PIECES];
    float *extra[NN_REPRO_MAX_PIECES]; /* (n) each: pieces 1, 2, ... (piece 0 is in sums) */
    int n_extra;               /* piece buffers allocated besides sums */
    float *recv;               /* (n) a node's value from another rank */
    float *chunk_loss;         /* (max chunks) this rank's chunks' losses */
    float stop_vote;
    float *scratch;            /* (levels, block_len): one block per tree level below a piece's root */
    size_t block_len;
} nn_repro;

/* Prepares the gradient of `chunk`-row chunks for batches of the given global
 * row counts (full steps, the epoch's last step), summed into `sums` (the
 * reducer's buffer, NN_CTRL + n_params floats), and decides, product by
 * product, whether one call over this rank's rows gives every row the bits
 * of chunk-sized calls (measured with the net's weights on random inputs in
 * its act/delta buffers, which it overwrites). Aborts the job on allocation
 * failure. */
void repro_create(nn_repro *p, nn_net *net, float *sums, MPI_Comm comm, int chunk, const int *batch_rows,
                  int n_counts);
void repro_free(nn_repro *p);

/* Starts a step of `batch_rows` global rows: this rank's chunks and pieces;
 * returns this rank's rows [*lo, *hi) of the batch. */
void repro_begin_step(nn_repro *p, int batch_rows, int *lo, int *hi);

/* Forward pass and output delta over the rank's rows; records the chunks'
 * losses and this rank's stop vote. */
void repro_forward(nn_repro *p, float stop_vote);

/* Backward pass: each piece's tree sum of its chunks' gradients (and losses,
 * and the stop vote in the first piece). */
void repro_backward(nn_repro *p);

/* Adds the pieces of all ranks along the tree; afterwards sums holds the
 * step's sums (control slots, gradient) on every rank. */
void repro_reduce(nn_repro *p);

/* The most tree pieces (gradient-sized buffers, the first being the
 * reducer's) rank `rank` of `nranks` holds in a step of any of batch_rows[0..n_counts)
 * rows: what repro_create will allocate, for the memory plan (memplan.h). */
int repro_max_pieces(int chunk, int rank, int nranks, const int *batch_rows, int n_counts);

#endif
