/*
 * ring.h: an in-place float-sum allreduce made of point-to-point messages
 * (--allreduce ring).
 *
 * Why: Open MPI 4.1's collectives allocate a temporary buffer inside every
 * call, whichever algorithm runs (docs/design.md, "Allocations"); these
 * messages go into buffers sized once at start-up, so a step allocates
 * nothing.
 *
 * The classic bandwidth-optimal ring: P - 1 reduce-scatter steps (send a
 * partial sum to the next rank, add the one received from the previous),
 * then P - 1 allgather steps that pass the finished sums around. Each step
 * moves one of P segments. The segments are fixed slices of the WHOLE
 * buffer, [n s / P, n (s + 1) / P), also when an operation covers only part
 * of it (one layer, in overlap mode): the order in which an element's P
 * values are added then depends on its segment alone, so per-layer rings give
 * bitwise the sums of one ring over the buffer, at any rank count.
 *
 * A step's segment longer than an MPI count (more than piece_max floats)
 * moves as pieces, one pair of messages at a time; each piece is added as it
 * arrives, which adds the same numbers in the same order as one message.
 */
#ifndef NN_RING_H
#define NN_RING_H

#include <mpi.h>
#include <stddef.h>

typedef struct {
    MPI_Comm comm; /* a duplicate: no other message can match the ring's */
    int rank, nranks;
    size_t n;      /* length of the whole buffer that the segments slice */
    size_t piece_max; /* the most floats per message (mpi_pieces.h, when the ring was created) */
} nn_ring;

/* One allreduce of buf[lo, hi), advanced step by step. */
typedef struct {
    float *buf;
    size_t lo, hi;
    float *scratch; /* receives a neighbour's partial sums: ring_scratch_len(lo, hi) floats */
    int tag;        /* operations in flight at once need distinct tags */
    int step;       /* the step in flight, 0 .. 2 (P - 1) - 1; 2 (P - 1) when done */
    size_t piece;   /* the piece of the step's segments in flight: a segment of more than
                       piece_max floats goes as several messages, one after the other */
    MPI_Request req[2];
} nn_ring_op;

void ring_create(nn_ring *ring, MPI_Comm comm, size_t n);
void ring_free(nn_ring *ring);

/* Floats of scratch an operation over [lo, hi) needs: its largest share of one segment. */
size_t ring_scratch_len(const nn_ring *ring, size_t lo, size_t hi);

void ring_op_init(nn_ring_op *op, float *buf, size_t lo, size_t hi, float *scratch, int tag);

/* Posts the first step. */
void ring_op_start(const nn_ring *ring, nn_ring_op *op);
/* Advances through every step whose messages have arrived; 1 when all are done. Never waits. */
int ring_op_test(const nn_ring *ring, nn_ring_op *op);
/* Waits for every remaining step. */
void ring_op_wait(const nn_ring *ring, nn_ring_op *op);

#endif
