/* reduce.c: blocking and overlapped gradient allreduce, by MPI's collectives or nnmpi's ring. */
#include "reduce.h"

#include <stdlib.h>
#include <string.h>

#include "nn_check.h"

/* Persistent collectives for overlap mode (MPI 4, or Open MPI's MPIX
 * extension): the schedule is built once, not at every step. */
#if defined(OPEN_MPI) && OPEN_MPI
#include <mpi-ext.h>
#endif
#if MPI_VERSION >= 4
#define NN_ALLREDUCE_INIT MPI_Allreduce_init
#elif defined(OMPI_HAVE_MPI_EXT_PCOLLREQ) && OMPI_HAVE_MPI_EXT_PCOLLREQ
#define NN_ALLREDUCE_INIT MPIX_Allreduce_init
#endif


/* Elements [lo, hi) of the reduced buffer, summed in place across ranks: a
 * persistent request when the MPI has them, else started per call. */
static void start_(nn_reducer *r, size_t lo, size_t hi, MPI_Request *req)
{
    float *seg = r->net->reduced + lo;
#ifdef NN_ALLREDUCE_INIT
    if (*req == MPI_REQUEST_NULL)
        MPI_CHECK(NN_ALLREDUCE_INIT(MPI_IN_PLACE, seg, (int)(hi - lo), MPI_FLOAT, MPI_SUM, r->comm, MPI_INFO_NULL, req));
    MPI_CHECK(MPI_Start(req));
#else
    MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, seg, (int)(hi - lo), MPI_FLOAT, MPI_SUM, r->comm, req));
#endif
}

void reducer_create(nn_reducer *r, nn_net *net, MPI_Comm comm, int overlap, int ring)
{
    memset(r, 0, sizeof *r);
    r->comm = comm;
    MPI_CHECK(MPI_Comm_size(comm, &r->nranks));
    r->overlap = overlap;
    r->ring = ring;
    r->net = net;
    r->n = NN_CTRL + net->n_params;
    for (int l = 0; l < net->n_layers; l++) {
        /* Layer l's weights and biases; layer 0 also carries the control slots in front of it. */
        r->seg_lo[l] = l == 0 ? 0 : NN_CTRL + net->w_off[l];
        r->seg_hi[l] = NN_CTRL + net->w_off[l + 1];
        r->req[l] = MPI_REQUEST_NULL;
    }
    /* Overlap groups: backward finishes layers from the last to the first; a
     * layer too small to be worth a collective of its own (under
     * NN_FUSE_ELEMENTS) rides with the next layer to finish. Layer 0 always
     * closes a group, since it finishes last. group_hi[l] > 0 marks layer l as
     * the one whose completion starts the group [seg_lo[l], group_hi[l]). */
    size_t pending_hi = 0;
    for (int l = net->n_layers - 1; l >= 0; l--) {
        if (pending_hi == 0) pending_hi = r->seg_hi[l];
        r->group_hi[l] = 0;
        if (l == 0 || pending_hi - r->seg_lo[l] >= NN_FUSE_ELEMENTS) {
            r->group_hi[l] = pending_hi;
            pending_hi = 0;
            r->n_groups++;
        }
    }
    if (r->ring && r->nranks > 1) {
        /* Scratch for the larger of: the whole buffer's operation, or all
         * groups' in flight at once (each takes its own part). */
        ring_create(&r->ring_comm, comm, r->n);
        size_t whole = ring_scratch_len(&r->ring_comm, 0, r->n), groups = 0;
        for (int l = 0; l < net->n_layers; l++)
            if (r->group_hi[l] > 0) groups += ring_scratch_len(&r->ring_comm, r->seg_lo[l], r->group_hi[l]);
        r->ring_scratch = NN_MALLOC(sizeof(float) * (whole > groups ? whole : groups));
        ring_op_init(&r->whole, net->reduced, 0, r->n, r->ring_scratch, 0);
        float *scratch = r->ring_scratch;
        for (int l = 0; l < net->n_layers; l++) {
            if (r->group_hi[l] == 0) continue;
            ring_op_init(&r->ops[l], net->reduced, r->seg_lo[l], r->group_hi[l], scratch, 1 + l);
            scratch += ring_scratch_len(&r->ring_comm, r->seg_lo[l], r->group_hi[l]);
        }
    }
}

void reducer_free(nn_reducer *r)
{
    for (int l = 0; r->net && l < r->net->n_layers; l++)
        if (r->req[l] != MPI_REQUEST_NULL) MPI_Request_free(&r->req[l]);
    free(r->ring_scratch);
    ring_free(&r->ring_comm);
    memset(r, 0, sizeof *r);
}

void reducer_begin_step(nn_reducer *r)
{
    r->t_post = 0.0;
}

void reducer_layer_ready(nn_reducer *r, int layer)
{
    if (!r->overlap || r->nranks == 1) return;
    if (r->group_hi[layer] == 0) return; /* fused into the next layer's group */
    double t0 = MPI_Wtime();
    if (r->ring) {
        ring_op_start(&r->ring_comm, &r->ops[layer]);
        /* A ring moves on only when called (each step needs the last one's
         * messages): advance every ring in flight at each layer boundary. */
        for (int l = layer; l < r->net->n_layers; l++)
            if (r->group_hi[l] > 0) ring_op_test(&r->ring_comm, &r->ops[l]);
    } else {
        start_(r, r->seg_lo[layer], r->group_hi[layer], &r->req[layer]);
        /* Open MPI progresses non-blocking collectives only inside MPI calls: poke
         * the ones in flight so they advance while backward goes on. */
        int flag = 0;
        MPI_CHECK(MPI_Testall(r->net->n_layers, r->req, &flag, MPI_STATUSES_IGNORE));
    }
    r->t_post += MPI_Wtime() - t0;
}

void reducer_allreduce_whole(nn_reducer *r)
{
    if (r->nranks == 1) return;
    if (r->ring) {
        ring_op_start(&r->ring_comm, &r->whole);
        ring_op_wait(&r->ring_comm, &r->whole);
    } else {
        /* The blocking collective itself, not a persistent request: Open
         * MPI 4.1 runs those through libnbc, slower than its tuned
         * blocking algorithms (docs/benchmarks.md). */
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, r->net->reduced, (int)r->n, MPI_FLOAT, MPI_SUM, r->comm));
    }
}

void reducer_finish(nn_reducer *r)
{
    if (r->nranks == 1) return;
    if (!r->overlap) {
        reducer_allreduce_whole(r);
    } else if (r->ring) {
        for (int l = 0; l < r->net->n_layers; l++)
            if (r->group_hi[l] > 0) ring_op_wait(&r->ring_comm, &r->ops[l]);
    } else {
        MPI_CHECK(MPI_Waitall(r->net->n_layers, r->req, MPI_STATUSES_IGNORE));
    }
}
