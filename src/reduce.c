/* reduce.c: the reducer's buffer, its overlap groups and schedule; the methods are reduce_mpi.c and reduce_ring.c. */
#include "reduce.h"

#include <stdlib.h>
#include <string.h>

#include "nn_check.h"

const char *const nn_reduce_names[REDUCE_METHOD_COUNT] = {"mpi", "ring", "shm"};

static const nn_reduce_method *const methods_[REDUCE_METHOD_COUNT] = {&nn_reduce_mpi, &nn_reduce_ring,
                                                                       &nn_reduce_shm};

/* --allreduce shm needs the same number of ranks on every node (each slice is
 * summed across nodes by the ranks of the same local index); else MPI's
 * collectives, which are correct for any layout. */
static nn_reduce_kind resolve_kind_(nn_reducer *r, nn_reduce_kind kind)
{
    if (kind != REDUCE_SHM) return kind;
    MPI_Comm node;
    int local = 0;
    MPI_CHECK(MPI_Comm_split_type(r->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
    MPI_CHECK(MPI_Comm_size(node, &local));
    MPI_CHECK(MPI_Comm_free(&node));
    int v[2] = {local, -local}, maxes[2]; /* max(local) and -min(local) in one allreduce */
    MPI_CHECK(MPI_Allreduce(v, maxes, 2, MPI_INT, MPI_MAX, r->comm));
    if (maxes[0] == -maxes[1]) return kind;
    r->fallback = "shm needs the same number of ranks on every node";
    return REDUCE_MPI;
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

void reducer_create(nn_reducer *r, const nn_net *net, MPI_Comm comm, int overlap, nn_reduce_kind kind)
{
    memset(r, 0, sizeof *r);
    r->comm = comm;
    MPI_CHECK(MPI_Comm_size(comm, &r->nranks));
    r->overlap = overlap;
    r->kind = r->nranks > 1 ? resolve_kind_(r, kind) : kind;
    r->method = methods_[r->kind];
    r->n_layers = net->n_layers;
    r->n = NN_CTRL + net->n_params;
    r->sums = r->nranks > 1 && r->method->alloc_sums ? r->method->alloc_sums(r) : NN_MALLOC(sizeof(float) * r->n);
    memset(r->sums, 0, sizeof(float) * r->n);
    for (int l = 0; l < net->n_layers; l++) {
        r->seg_lo[l] = l == 0 ? 0 : NN_CTRL + net->w_off[l];
        r->seg_hi[l] = NN_CTRL + net->w_off[l + 1];
    }
    make_groups_(r);
    if (r->nranks > 1) r->method->create(r);
}

void reducer_free(nn_reducer *r)
{
    int own_buffer = !(r->nranks > 1 && r->method && r->method->alloc_sums);
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
    if (r->overlap)
        r->method->wait_groups(r);
    else
        r->method->whole(r);
}
