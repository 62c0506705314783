/* ring.c: the ring allreduce of ring.h, from MPI_Isend/MPI_Irecv. */
#include "ring.h"

#include <string.h>

#include "mpi_pieces.h"
#include "nn_check.h"
#include "vec.h"

void ring_create(nn_ring *ring, MPI_Comm comm, size_t n)
{
    memset(ring, 0, sizeof *ring);
    MPI_CHECK(MPI_Comm_dup(comm, &ring->comm));
    MPI_CHECK(MPI_Comm_rank(ring->comm, &ring->rank));
    MPI_CHECK(MPI_Comm_size(ring->comm, &ring->nranks));
    ring->n = n;
    ring->piece_max = nn_pieces_max();
}

void ring_free(nn_ring *ring)
{
    if (ring->comm != MPI_COMM_NULL && ring->nranks > 0) MPI_Comm_free(&ring->comm);
    memset(ring, 0, sizeof *ring);
}

/* Segment s (taken modulo P) of the whole buffer, clipped to [lo, hi). */
static void segment_(const nn_ring *ring, int s, size_t lo, size_t hi, size_t *seg_lo, size_t *seg_hi)
{
    size_t p = (size_t)ring->nranks, k = (size_t)(((s % ring->nranks) + ring->nranks) % ring->nranks);
    size_t a = ring->n * k / p, b = ring->n * (k + 1) / p;
    *seg_lo = a > lo ? a : lo;
    *seg_hi = b < hi ? b : hi;
    if (*seg_hi < *seg_lo) *seg_hi = *seg_lo;
}

size_t ring_scratch_len(const nn_ring *ring, size_t lo, size_t hi)
{
    size_t most = 0, a, b;
    for (int s = 0; s < ring->nranks; s++) {
        segment_(ring, s, lo, hi, &a, &b);
        if (b - a > most) most = b - a;
    }
    return most;
}

void ring_op_init(nn_ring_op *op, float *buf, size_t lo, size_t hi, float *scratch, int tag)
{
    op->buf = buf, op->lo = lo, op->hi = hi, op->scratch = scratch, op->tag = tag;
    op->step = 0, op->piece = 0;
    op->req[0] = op->req[1] = MPI_REQUEST_NULL;
}

/* The segments step k sends to the next rank and receives from the previous.
 * Reduce-scatter (k < P - 1): rank r sends its partial sum of segment r - k
 * and adds the previous rank's of segment r - k - 1; so the partial of
 * segment s starts at rank s and, after P - 1 steps, rank s - 1 holds the
 * whole sum. Allgather (j = k - (P - 1)): rank r passes on the finished
 * segment r + 1 - j and receives segment r - j. */
static void step_segments_(const nn_ring *ring, const nn_ring_op *op, size_t *s_lo, size_t *s_hi, size_t *r_lo,
                           size_t *r_hi)
{
    int r = ring->rank, k = op->step, j = k - (ring->nranks - 1);
    int send = j < 0 ? r - k : r + 1 - j, recv = j < 0 ? r - k - 1 : r - j;
    segment_(ring, send, op->lo, op->hi, s_lo, s_hi);
    segment_(ring, recv, op->lo, op->hi, r_lo, r_hi);
}

static int last_step_(const nn_ring *ring) { return 2 * (ring->nranks - 1); }

/* [lo, hi) narrowed to piece k: piece_max floats from lo + k piece_max (empty past the end). */
static void piece_of_(const nn_ring *ring, size_t k, size_t *lo, size_t *hi)
{
    size_t start = *lo + k * ring->piece_max;
    if (start > *hi) start = *hi;
    *hi = *hi - start > ring->piece_max ? start + ring->piece_max : *hi;
    *lo = start;
}

/* The step's sent and received pieces: the segments of step_segments_, narrowed to piece op->piece. */
static void step_pieces_(const nn_ring *ring, const nn_ring_op *op, size_t *s_lo, size_t *s_hi, size_t *r_lo,
                         size_t *r_hi)
{
    step_segments_(ring, op, s_lo, s_hi, r_lo, r_hi);
    piece_of_(ring, op->piece, s_lo, s_hi);
    piece_of_(ring, op->piece, r_lo, r_hi);
}

static void post_(const nn_ring *ring, nn_ring_op *op)
{
    size_t s_lo, s_hi, r_lo, r_hi;
    step_pieces_(ring, op, &s_lo, &s_hi, &r_lo, &r_hi);
    int next = (ring->rank + 1) % ring->nranks, prev = (ring->rank + ring->nranks - 1) % ring->nranks;
    int reducing = op->step < ring->nranks - 1;
    /* An empty share is skipped on both sides: the sender's segment is the receiver's. */
    if (r_hi > r_lo)
        MPI_CHECK(MPI_Irecv(reducing ? op->scratch : op->buf + r_lo, (int)(r_hi - r_lo), MPI_FLOAT, prev, op->tag,
                            ring->comm, &op->req[0]));
    if (s_hi > s_lo)
        MPI_CHECK(MPI_Isend(op->buf + s_lo, (int)(s_hi - s_lo), MPI_FLOAT, next, op->tag, ring->comm, &op->req[1]));
}

/* The step's last piece has gone: whether piece op->piece + 1 of either segment is empty. */
static int step_done_(const nn_ring *ring, const nn_ring_op *op)
{
    size_t s_lo, s_hi, r_lo, r_hi;
    step_segments_(ring, op, &s_lo, &s_hi, &r_lo, &r_hi);
    size_t after = (op->piece + 1) * ring->piece_max;
    return after >= s_hi - s_lo && after >= r_hi - r_lo;
}

/* Piece op->piece of step op->step is complete: add what was received, go on
 * to the step's next piece or the next step. */
static void finish_step_(const nn_ring *ring, nn_ring_op *op)
{
    if (op->step < ring->nranks - 1) {
        size_t s_lo, s_hi, r_lo, r_hi;
        step_pieces_(ring, op, &s_lo, &s_hi, &r_lo, &r_hi);
        vec_add(op->buf + r_lo, op->scratch, r_hi - r_lo);
    }
    if (step_done_(ring, op))
        op->step++, op->piece = 0;
    else
        op->piece++;
    if (op->step < last_step_(ring)) post_(ring, op);
}

void ring_op_start(const nn_ring *ring, nn_ring_op *op)
{
    op->step = 0, op->piece = 0;
    if (ring->nranks > 1) post_(ring, op);
}

int ring_op_test(const nn_ring *ring, nn_ring_op *op)
{
    while (op->step < last_step_(ring)) {
        int done = 0;
        MPI_CHECK(MPI_Testall(2, op->req, &done, MPI_STATUSES_IGNORE));
        if (!done) return 0;
        finish_step_(ring, op);
    }
    return 1;
}

void ring_op_wait(const nn_ring *ring, nn_ring_op *op)
{
    while (op->step < last_step_(ring)) {
        MPI_CHECK(MPI_Waitall(2, op->req, MPI_STATUSES_IGNORE));
        finish_step_(ring, op);
    }
}
