/*
 * reduce_shm_step.c: what a training step exchanges through the node's
 * shared windows with --allreduce shm (reduce_shm.c has the windows and the
 * flag barrier, reduce_shm_sync): the sharded update, its sums across nodes
 * (overlapped with backward or not), and the factor exchange. docs/design.md
 * says who reads and writes what between the barriers.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "mpi_pieces.h"
#include "nn_check.h"
#include "options.h"
#include "reduce.h"
#include "reduce_shm.h"
#include "shm.h"
#include "vec.h"

/* ---------- the sharded update (reducer_share_model) ----------
 * Local rank 0 holds the node's one copy of the weights (and velocity) in a
 * second window; every rank maps it. A step: barrier (every gradient
 * written); each rank sums its part of all segments into its own segment,
 * and the control slots of all segments into its private ctrl (the same
 * additions in the same order on every rank, so the same bits); across
 * nodes each part is summed by MPI; each rank updates its part of the
 * weights from its own segment; barrier (every part updated and every
 * segment read: the next step may read the weights and overwrite the
 * segments). Two barriers instead of three, no copy of the sums, and the
 * update split R ways. */

/* Whether the node's window for the weights fits in the backing directory
 * (the gradient's did): checked on local rank 0, agreed by the node. */
static int model_fits_(nn_reducer *r, size_t bytes)
{
    int fits = 1, all = 0;
    const char *why = NULL; /* a directory gone since the gradient's window: 0 bytes, so no shared copy */
    if (r->local_rank == 0 && shm_free_bytes(&why) < shm_window_room(shm_pages(bytes), r->local_size)) fits = 0;
    MPI_CHECK(MPI_Allreduce(&fits, &all, 1, MPI_INT, MPI_MIN, r->comm));
    return all;
}

/* A window of `bytes` held by local rank 0 and mapped by the node's ranks,
 * locked for the flag barriers; returns its base. */
static float *node_window_(nn_reducer *r, size_t bytes, MPI_Win *win, const char *what)
{
    float *base = NULL;
    size_t mine = r->local_rank == 0 ? bytes : 0;
    int rc = MPI_Win_allocate_shared((MPI_Aint)mine, sizeof(float), MPI_INFO_NULL, r->node, &base, win);
    if (rc != MPI_SUCCESS)
        nn_die(NN_EXIT_ERROR, "--allreduce shm: cannot allocate the node's %zu-byte shared %s in %s; "
                              "--allreduce mpi needs none", bytes, what, shm_dir());
    reduce_shm_populate(r, base, mine, win);
    MPI_CHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, *win));
    MPI_Aint seg_bytes = 0;
    int unit = 0;
    MPI_CHECK(MPI_Win_shared_query(*win, 0, &seg_bytes, &unit, &base));
    return base;
}

int reduce_shm_share_model(nn_reducer *r, nn_net *net)
{
    size_t n = net->n_params, floats = net->velocity ? 2 * n : n, R = (size_t)r->local_size;
    if (!model_fits_(r, sizeof(float) * floats)) return 0; /* each rank keeps its copy and updates all of it */
    float *base = node_window_(r, sizeof(float) * floats, &r->model_win, "copy of the weights");
    if (r->local_rank == 0) {
        memcpy(base, net->params, sizeof(float) * n);
        if (net->velocity) memcpy(base + n, net->velocity, sizeof(float) * n);
    }
    MPI_CHECK(MPI_Win_sync(r->model_win));
    MPI_CHECK(MPI_Barrier(r->node)); /* the copy is complete before anyone reads it */
    MPI_CHECK(MPI_Win_sync(r->model_win));
    net_share_params(net, base, net->velocity ? base + n : NULL);
    /* parts on 64-byte boundaries: no two ranks write one cache line of the weights */
    r->parts[0].lo = n * (size_t)r->local_rank / R / 16 * 16;
    r->parts[0].hi = r->local_rank + 1 == r->local_size ? n : n * (size_t)(r->local_rank + 1) / R / 16 * 16;
    return 1;
}

/* ---------- the factor exchange (reducer_share_batch) ----------
 * Local rank 0 holds two sets (even and odd steps) of, for every layer l,
 * the batch's input activations (batch, sizes[l]) and deltas (batch,
 * sizes[l+1]), and of every rank's control slots. A step writes this rank's
 * rows of its set; barrier; every rank sums the control slots and reads all
 * the rows. A rank can be at most one barrier ahead of another, so the set
 * it writes next is one no rank still reads: no second barrier. Split by
 * inputs, each set holds the control slots and every rank's share of layer
 * 0's products (batch, sizes[1]) instead of the matrices, written before
 * the barrier and read after it. */

static size_t round16_(size_t floats) { return (floats + 15) / 16 * 16; }

int reduce_shm_share_batch(nn_reducer *r, const nn_net *net, int batch)
{
    size_t at = 0, offsets[2][2 * NN_MAX_SIZES], ctrl_at[2], partial_at[2];
    r->partial_stride = round16_((size_t)batch * (size_t)net->sizes[1]); /* a rank's share of layer 0's products */
    for (int set = 0; set < 2; set++) {
        for (int l = 0; l < net->n_layers && !r->factor_inputs; l++) { /* each matrix on its own cache lines */
            offsets[set][2 * l] = at, at += round16_((size_t)batch * (size_t)net->sizes[l]);
            offsets[set][2 * l + 1] = at, at += round16_((size_t)batch * (size_t)net->sizes[l + 1]);
        }
        ctrl_at[set] = at, at += 16 * (size_t)r->local_size; /* a cache line per rank */
        partial_at[set] = at, at += r->factor_inputs ? (size_t)r->local_size * r->partial_stride : 0;
    }
    if (!model_fits_(r, sizeof(float) * at)) return 0;
    float *base = node_window_(r, sizeof(float) * at, &r->batch_win, "matrices of the batch's factors");
    for (int set = 0; set < 2; set++) {
        for (int l = 0; l < net->n_layers && !r->factor_inputs; l++) { /* split by inputs: none */
            r->batch_act[set][l] = base + offsets[set][2 * l];
            r->batch_delta[set][l] = base + offsets[set][2 * l + 1];
        }
        r->batch_ctrl[set] = base + ctrl_at[set];
        r->batch_partial[set] = r->factor_inputs ? base + partial_at[set] : NULL;
    }
    r->parity = 0;
    MPI_CHECK(MPI_Barrier(r->node)); /* every rank has mapped it before anyone writes */
    return 1;
}

/* Factors: barrier (every rank's rows and control slots of this set are
 * written), then the control slots' sums, the same additions in the same
 * order on every rank. */
void reduce_shm_sum_ctrl(nn_reducer *r)
{
    const float *slots = r->batch_ctrl[r->parity];
    reduce_shm_sync(r);
    for (int k = 0; k < NN_CTRL; k++) {
        r->ctrl[k] = slots[k];
        for (int q = 1; q < r->local_size; q++) r->ctrl[k] += slots[16 * (size_t)q + k];
    }
}

void reduce_shm_free_batch(nn_reducer *r)
{
    MPI_Win_unlock_all(r->batch_win);
    MPI_Win_free(&r->batch_win);
}

/* The control slots of every segment, summed into this rank's ctrl in the
 * same order on every rank (so the same bits). */
static void sum_ctrl_slots_(nn_reducer *r)
{
    for (int k = 0; k < NN_CTRL; k++) {
        r->ctrl[k] = r->segment[0][k];
        for (int q = 1; q < r->local_size; q++) r->ctrl[k] += r->segment[q][k];
    }
}

/* Adds buffer range [lo, hi) of every other segment into this rank's. */
static void sum_segments_(nn_reducer *r, size_t lo, size_t hi)
{
    float *mine = r->segment[r->local_rank];
    for (int q = 0; q < r->local_size; q++)
        if (q != r->local_rank) vec_add(mine + lo, r->segment[q] + lo, hi - lo);
}

void reduce_shm_sum_part(nn_reducer *r)
{
    size_t lo = NN_CTRL + r->parts[0].lo, hi = NN_CTRL + r->parts[0].hi; /* in the buffer, after the slots */
    MPI_Request ctrl_req = MPI_REQUEST_NULL;
    if (r->overlap) { /* every group was summed on the node and started across nodes during backward */
        MPI_CHECK(MPI_Waitall(r->n_req, r->req, MPI_STATUSES_IGNORE));
        return;
    }
    reduce_shm_sync(r); /* every gradient is written */
    sum_ctrl_slots_(r);
    sum_segments_(r, lo, hi);
    if (r->nodes > 1) {
        MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, r->ctrl, NN_CTRL, MPI_FLOAT, MPI_SUM, r->across, &ctrl_req));
        nn_allreduce_pieces(r->segment[r->local_rank] + lo, hi - lo, MPI_FLOAT, MPI_SUM, r->across);
        MPI_CHECK(MPI_Wait(&ctrl_req, MPI_STATUS_IGNORE));
    }
}

/* Overlap across nodes, sharded: backward has finished group `layer` on this
 * rank; once it has on every rank of the node (a barrier), this rank sums
 * its part of the group on the node and starts that piece's sum across
 * nodes, which the network moves while backward goes on. Layer 0's group,
 * the last, also carries the control slots. Open MPI progresses
 * non-blocking collectives only inside MPI calls: the ones in flight are
 * tested here too. */
void reduce_shm_start_part_group(nn_reducer *r, int layer)
{
    size_t lo = NN_CTRL + r->parts[0].lo, hi = NN_CTRL + r->parts[0].hi, max = nn_pieces_max();
    if (lo < r->seg_lo[layer]) lo = r->seg_lo[layer];
    if (hi > r->group_hi[layer]) hi = r->group_hi[layer];
    reduce_shm_sync(r); /* every rank of the node has written this group */
    if (layer == 0) {
        sum_ctrl_slots_(r);
        MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, r->ctrl, NN_CTRL, MPI_FLOAT, MPI_SUM, r->across, &r->req[r->n_req - 1]));
    }
    MPI_Request *req = r->req + r->req_lo[layer];
    if (lo < hi) {
        sum_segments_(r, lo, hi);
        for (size_t k = 0; k * max < hi - lo; k++) {
            int count = (int)(hi - lo - k * max < max ? hi - lo - k * max : max);
            MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, r->segment[r->local_rank] + lo + k * max, count, MPI_FLOAT, MPI_SUM,
                                     r->across, &req[k]));
        }
    }
    int flag = 0;
    MPI_CHECK(MPI_Testall(r->n_req, r->req, &flag, MPI_STATUSES_IGNORE));
}

int reduce_shm_end_update(nn_reducer *r, int nonfinite)
{
    atomic_store_explicit(reduce_shm_verdict(r, r->local_rank), (unsigned long)nonfinite, memory_order_relaxed);
    reduce_shm_sync(r); /* every part is updated, every segment read */
    int any = 0;
    for (int q = 0; q < r->local_size; q++) any |= atomic_load_explicit(reduce_shm_verdict(r, q), memory_order_relaxed) != 0;
    return any;
}

void reduce_shm_free_model(nn_reducer *r)
{
    MPI_Win_unlock_all(r->model_win);
    MPI_Win_free(&r->model_win);
}

