/* reduce.c: the reducer's buffer, its overlap groups and schedule, and --allreduce auto's choice; the methods are
 * reduce_mpi.c, reduce_ring.c and reduce_shm.c. */
#include "reduce.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_check.h"


const char *const nn_exchange_names[EXCHANGE_KIND_COUNT] = {"auto", "gradients", "factors"};

static const nn_reduce_method *const methods_[REDUCE_KIND_COUNT] = {NULL, &nn_reduce_mpi, &nn_reduce_ring,
                                                                     &nn_reduce_shm};

/* --allreduce shm needs the same number of ranks on every node (each slice is
 * summed across nodes by the ranks of the same local index); else MPI's
 * collectives, which are correct for any layout. auto takes shm only where
 * it has something to share: at least 2 ranks on each node. */
static nn_reduce_kind resolve_kind_(nn_reducer *r, nn_reduce_kind kind)
{
    if (kind != REDUCE_SHM && kind != REDUCE_AUTO) return kind;
    MPI_Comm node;
    int local = 0;
    MPI_CHECK(MPI_Comm_split_type(r->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
    MPI_CHECK(MPI_Comm_size(node, &local));
    MPI_CHECK(MPI_Comm_free(&node));
    int v[2] = {local, -local}, maxes[2]; /* max(local) and -min(local) in one allreduce */
    MPI_CHECK(MPI_Allreduce(v, maxes, 2, MPI_INT, MPI_MAX, r->comm));
    int even = maxes[0] == -maxes[1];
    if (kind == REDUCE_SHM) {
        if (even) return kind;
        r->fallback = "shm needs the same number of ranks on every node";
        return REDUCE_MPI;
    }
    if (even && maxes[0] >= 2) return REDUCE_SHM; /* to be measured against mpi: choose_auto_ */
    r->fallback = even ? "auto: no two ranks share a node" : "auto: uneven ranks per node";
    return REDUCE_MPI;
}

/* Median over `rounds` of one blocking allreduce of the buffer by `m`, each
 * round's time the slowest rank's (what a step waits for). */
static double time_whole_(nn_reducer *r, const nn_reduce_method *m, int rounds)
{
    double times[16], dt_max = 0.0;
    for (int i = 0; i < rounds && i < 16; i++) {
        MPI_CHECK(MPI_Barrier(r->comm));
        double t0 = MPI_Wtime();
        m->whole(r);
        double dt = MPI_Wtime() - t0;
        MPI_CHECK(MPI_Allreduce(&dt, &dt_max, 1, MPI_DOUBLE, MPI_MAX, r->comm));
        times[i] = dt_max;
        for (int j = i; j > 0 && times[j - 1] > times[j]; j--) { /* insertion sort: a handful of values */
            double x = times[j];
            times[j] = times[j - 1], times[j - 1] = x;
        }
    }
    return times[(rounds < 16 ? rounds : 16) / 2];
}

/* auto with shm set up: times both on the real buffer (interleaved, after a
 * warm-up round each), and keeps shm unless MPI's allreduce was faster.
 * Rank 0 decides and broadcasts, so every rank takes the same method even
 * when their clocks saw different medians. Returns the method to keep. */
static nn_reduce_kind choose_auto_(nn_reducer *r, int factors_wanted)
{
    enum { ROUNDS = 7 };
    double shm_s = 0.0, mpi_s = 0.0;
    if (factors_wanted && r->nodes == 1) { /* the exchange is not an allreduce: nothing to time against mpi */
        snprintf(r->note, sizeof r->note, "auto: shm, to exchange factors on this one node");
        r->fallback = r->note;
        return REDUCE_SHM;
    }
    (void)time_whole_(r, &nn_reduce_shm, 1), (void)time_whole_(r, &nn_reduce_mpi, 1);
    for (int i = 0; i < 2; i++) { /* two interleaved halves: drift hits both alike */
        shm_s += time_whole_(r, &nn_reduce_shm, ROUNDS) / 2;
        mpi_s += time_whole_(r, &nn_reduce_mpi, ROUNDS) / 2;
    }
    int keep_shm = shm_s <= mpi_s;
    MPI_CHECK(MPI_Bcast(&keep_shm, 1, MPI_INT, 0, r->comm));
    snprintf(r->note, sizeof r->note, "auto: shm %.4g ms, mpi %.4g ms per allreduce", 1e3 * shm_s, 1e3 * mpi_s);
    r->fallback = r->note;
    return keep_shm ? REDUCE_SHM : REDUCE_MPI;
}

/* Overlap groups: backward finishes layers from the last to the first; a
 * layer too small to be worth a collective of its own (under
 * NN_FUSE_ELEMENTS) rides with the next layer to finish. Layer 0 always
 * closes a group, since it finishes last. group_hi[l] > 0 marks layer l as
 * the one whose completion starts the group [seg_lo[l], group_hi[l]). */
static void make_groups_(nn_reducer *r)
{
    size_t pending_hi = 0;
    for (int l = r->n_layers - 1; l >= 0; l--) {
        if (pending_hi == 0) pending_hi = r->seg_hi[l];
        r->group_hi[l] = 0;
        if (l == 0 || pending_hi - r->seg_lo[l] >= NN_FUSE_ELEMENTS) {
            r->group_hi[l] = pending_hi;
            pending_hi = 0;
            r->n_groups++;
        }
    }
}

/* The buffer and the method's state for r->kind. */
static void set_up_method_(nn_reducer *r)
{
    r->method = methods_[r->kind];
    r->sums = r->nranks > 1 && r->method->alloc_sums ? r->method->alloc_sums(r) : NULL;
    if (!r->sums && r->nranks > 1 && r->method->alloc_sums) { /* auto, and the window does not fit */
        r->kind = REDUCE_MPI, r->method = methods_[REDUCE_MPI], r->fallback = r->note;
    }
    if (!r->sums) r->sums = NN_MALLOC(sizeof(float) * r->n);
    memset(r->sums, 0, sizeof(float) * r->n);
    if (r->nranks > 1) r->method->create(r);
}

/* Floats a batch of `batch` rows writes into the factor matrices: every
 * layer's input activations and deltas. */
static size_t factor_floats_(const int *sizes, int n_sizes, int batch)
{
    size_t per_row = 0;
    for (int l = 0; l + 1 < n_sizes; l++) per_row += (size_t)sizes[l] + (size_t)sizes[l + 1];
    return per_row * (size_t)batch;
}

/* Whether `exchange` asks for factors on batches of `batch` rows (shm on
 * one node may give them); auto's rule, by sizes alone: factors when they
 * are fewer floats than the gradient. */
static int factors_wanted_(const int *sizes, int n_sizes, size_t n_params, int batch, nn_exchange_kind exchange)
{
    return exchange == EXCHANGE_FACTORS ||
           (exchange == EXCHANGE_AUTO && factor_floats_(sizes, n_sizes, batch) < n_params);
}

int reducer_may_split_units(const int *sizes, int n_sizes, int batch, nn_exchange_kind exchange, nn_reduce_kind kind,
                            int nranks)
{
    size_t w_off[NN_MAX_SIZES], b_off[NN_MAX_SIZES], n_params = model_layout(sizes, n_sizes, w_off, b_off);
    /* several nodes exchange gradients, but the count of nodes is the reducer's to find: not asked here */
    return factors_wanted_(sizes, n_sizes, n_params, batch, exchange) && nranks > 1 &&
           (kind == REDUCE_AUTO || kind == REDUCE_SHM) && batch > NN_FACTOR_REPLICATE_BATCH;
}

void reducer_create(nn_reducer *r, const nn_net *net, MPI_Comm comm, int overlap, nn_reduce_kind kind, int batch,
                    nn_exchange_kind exchange)
{
    memset(r, 0, sizeof *r);
    r->comm = comm;
    MPI_CHECK(MPI_Comm_size(comm, &r->nranks));
    r->overlap = overlap;
    r->kind = r->nranks > 1 ? resolve_kind_(r, kind) : kind == REDUCE_AUTO ? REDUCE_MPI : kind;
    r->n_layers = net->n_layers;
    r->n = NN_CTRL + net->n_params;
    for (int l = 0; l < net->n_layers; l++) {
        r->seg_lo[l] = l == 0 ? 0 : NN_CTRL + net->w_off[l];
        r->seg_hi[l] = NN_CTRL + net->w_off[l + 1];
    }
    make_groups_(r);
    r->auto_pick = kind == REDUCE_AUTO;
    set_up_method_(r);
    int factors_wanted = factors_wanted_(net->sizes, net->n_sizes, net->n_params, batch, exchange);
    if (kind == REDUCE_AUTO && r->kind == REDUCE_SHM && choose_auto_(r, factors_wanted) == REDUCE_MPI) {
        r->method->free(r); /* the window, which was the buffer */
        r->kind = REDUCE_MPI;
        set_up_method_(r);
    }
    memset(r->sums, 0, sizeof(float) * r->n); /* the timed rounds summed into it */
    r->ctrl_sums = r->sums;
    r->in_lo = 0, r->in_hi = net->sizes[0]; /* every input column, unless split by inputs (reducer_share_batch) */
    r->parts[0] = (nn_range){0, net->n_params};
    r->n_parts = 1;
}

/* Rank q's part of n columns split R ways in blocks of 16 (the last rank
 * also takes the remainder): the columns another rank writes never share
 * a cache line with its own, and OpenBLAS 0.3.21's AVX-512 small-matrix
 * kernels, which malloc a buffer for products whose width ends in 1 to 8
 * columns past a multiple of 16 (measured: deltas of 21 units from 256),
 * allocate nothing in a step but where a layer's width itself ends so. */
static void part_of_16s_(size_t n, int q, int R, size_t *lo, size_t *hi)
{
    size_t blocks = (n + 15) / 16;
    *lo = blocks * (size_t)q / (size_t)R * 16;
    *hi = q + 1 == R ? n : blocks * (size_t)(q + 1) / (size_t)R * 16;
}

void reducer_unit_split(const int *sizes, int n_sizes, int ways, const int rows[2], nn_unit_split *split)
{
    memset(split, 0, sizeof *split);
    split->rows[0] = rows[0], split->rows[1] = rows[1];
    for (int l = 0; l + 1 < n_sizes; l++) {
        int fewest = sizes[l + 1];
        for (int q = 0; q < ways; q++) {
            size_t lo, hi;
            part_of_16s_((size_t)sizes[l + 1], q, ways, &lo, &hi);
            if (hi > lo && (int)(hi - lo) < fewest) fewest = (int)(hi - lo);
        }
        split->fewest_units[l] = fewest;
    }
}

/* Sharded factors: this rank's units of every layer, R ways, and the
 * parameters they own (each unit's weights, then the layer's biases). */
static void unit_parts_(nn_reducer *r, const nn_net *net)
{
    r->n_parts = 0;
    for (int l = 0; l < net->n_layers; l++) {
        size_t n_in = (size_t)net->sizes[l], n_out = (size_t)net->sizes[l + 1], lo, hi;
        part_of_16s_(n_out, r->local_rank, r->local_size, &lo, &hi);
        r->unit_lo[l] = (int)lo, r->unit_hi[l] = (int)hi;
        if (lo == hi) continue;
        r->parts[r->n_parts++] = (nn_range){net->w_off[l] + lo * n_in, net->w_off[l] + hi * n_in};
        r->parts[r->n_parts++] = (nn_range){net->b_off[l] + lo, net->b_off[l] + hi};
    }
}

void reducer_share_model(nn_reducer *r, nn_net *net)
{
    if (r->nranks == 1 || !r->method->share_model || (r->factors && !r->factor_shard)) return;
    r->shard = r->method->share_model(r, net);
    if (r->shard) r->ctrl_sums = r->ctrl;
    else r->overlap = 0; /* shm overlaps only its parts' sums across nodes (reduce_shm.c) */
    if (r->shard && r->factors) unit_parts_(r, net);
    if (!r->shard && r->factors) { /* a large batch's factors need the shared copy: every rank agreed it did not fit */
        r->method->free_batch(r);
        r->factors = r->factor_shard = 0;
        r->ctrl_sums = r->sums;
        r->exchange_note = "no room in /dev/shm for the shared weights that factors of this batch need";
    }
}

void reducer_share_batch(nn_reducer *r, const nn_net *net, int batch, nn_exchange_kind want, int plain_update)
{
    if (want == EXCHANGE_GRADIENTS || r->nranks == 1) return;
    r->factor_floats = factor_floats_(net->sizes, net->n_sizes, batch);
    /* across nodes every node would need every other node's rows: an allgather of the factors, not built */
    const char *why = !r->method->share_batch ? "factors need --allreduce shm" : r->nodes > 1 ? "factors need one node" : NULL;
    if (!why && !factors_wanted_(net->sizes, net->n_sizes, net->n_params, batch, want)) return; /* auto: they do not pay */
    /* small batches: split by inputs where layer 0 holds half the weights or more (share_batch lays
     * out their shares) */
    r->factor_inputs = !why && batch <= NN_FACTOR_REPLICATE_BATCH && plain_update &&
                       2 * (size_t)net->sizes[0] * (size_t)net->sizes[1] >= net->n_params;
    if (!why) r->factors = r->method->share_batch(r, net, batch);
    r->factor_inputs &= r->factors;
    r->factor_shard = r->factors && batch > NN_FACTOR_REPLICATE_BATCH;
    if (r->factor_inputs) { /* layer 0's inputs in blocks of 16: a cache line of a row of W0 */
        size_t lo, hi;
        part_of_16s_((size_t)net->sizes[0], r->local_rank, r->local_size, &lo, &hi);
        r->in_lo = (int)lo, r->in_hi = (int)hi;
        r->factor_floats = (size_t)r->local_size * (size_t)batch * (size_t)net->sizes[1]; /* the shares it writes */
    }
    if (r->factors) r->ctrl_sums = r->ctrl;
    else if (!why) why = "no room in /dev/shm for factors";
    if (why && want == EXCHANGE_FACTORS) r->exchange_note = why;
}

void reducer_node_barrier(nn_reducer *r) { r->method->node_barrier(r); }

float *reducer_ctrl_slots(const nn_reducer *r)
{
    return r->factors ? r->batch_ctrl[r->parity] + 16 * (size_t)r->local_rank : r->sums;
}

int reducer_update_parts(const nn_reducer *r, const nn_range **parts)
{
    *parts = r->parts;
    return r->n_parts;
}

int reducer_end_update(nn_reducer *r, int nonfinite)
{
    /* split by inputs: each rank checked only its columns of W0 */
    return r->shard || r->factor_inputs ? r->method->end_update(r, nonfinite) : nonfinite;
}

void reducer_whole_inputs(nn_reducer *r, nn_net *net)
{
    if (!r->factor_inputs || !r->inputs_stale) return; /* every rank took the same steps: all agree */
    r->inputs_stale = 0;
    size_t n_in = (size_t)net->sizes[0], n_out = (size_t)net->sizes[1];
    float *fields[2] = {net->params, net->velocity};
    for (int q = 0; q < r->local_size; q++) { /* rank q's columns of every row of W0, from rank q */
        size_t lo, hi;
        part_of_16s_(n_in, q, r->local_size, &lo, &hi);
        if (lo == hi) continue;
        size_t rows_per = (size_t)INT_MAX / (hi - lo); /* a message of at most INT_MAX floats */
        for (size_t row = 0; row < n_out; row += rows_per) {
            size_t rows = n_out - row < rows_per ? n_out - row : rows_per;
            MPI_Datatype cols; /* strided: rows of (hi - lo) floats, n_in apart */
            MPI_CHECK(MPI_Type_vector((int)rows, (int)(hi - lo), (int)n_in, MPI_FLOAT, &cols));
            MPI_CHECK(MPI_Type_commit(&cols));
            for (int f = 0; f < 2 && fields[f]; f++)
                MPI_CHECK(MPI_Bcast(fields[f] + net->w_off[0] + row * n_in + lo, 1, cols, q, r->node));
            MPI_CHECK(MPI_Type_free(&cols));
        }
    }
}

void reducer_free(nn_reducer *r)
{
    int own_buffer = !(r->nranks > 1 && r->method && r->method->alloc_sums);
    if (r->factors) r->method->free_batch(r);
    if (r->shard) r->method->free_model(r);
    if (r->method && r->nranks > 1) r->method->free(r); /* frees a method's own buffer */
    if (own_buffer) free(r->sums);
    memset(r, 0, sizeof *r);
}

void reducer_begin_step(nn_reducer *r) { r->posting_s = 0.0; }

void reducer_layer_ready(nn_reducer *r, int layer)
{
    if (!r->overlap || r->nranks == 1) return;
    if (r->group_hi[layer] == 0) return; /* fused into the next layer's group */
    double t0 = MPI_Wtime();
    r->method->start_group(r, layer);
    r->posting_s += MPI_Wtime() - t0;
}

void reducer_allreduce_whole(nn_reducer *r)
{
    if (r->nranks > 1) r->method->whole(r);
}

void reducer_finish(nn_reducer *r)
{
    if (r->nranks == 1) return;
    if (r->factors)
        r->method->sum_ctrl(r);
    else if (r->shard)
        r->method->sum_part(r);
    else if (r->overlap)
        r->method->wait_groups(r);
    else
        r->method->whole(r);
}
