/* reduce_mpi.c: --allreduce mpi, the reducer's buffer summed by MPI's own collectives. */
#include <stdlib.h>
#include <string.h>

#include "mpi_pieces.h"
#include "nn_check.h"
#include "reduce.h"

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

/* Overlap: one request per piece of each group (a group of more than
 * nn_mpi_piece_max floats takes several), made at their first use. */
static void create_(nn_reducer *r)
{
    if (!r->overlap) return;
    r->piece_max = nn_pieces_max();
    for (int l = 0; l < r->n_layers; l++) {
        r->req_lo[l] = r->n_req;
        if (r->group_hi[l] > 0) r->n_req += (int)nn_pieces_count(r->group_hi[l] - r->seg_lo[l]);
    }
    r->req = NN_MALLOC(sizeof(MPI_Request) * (size_t)(r->n_req > 0 ? r->n_req : 1));
    for (int i = 0; i < r->n_req; i++) r->req[i] = MPI_REQUEST_NULL;
}

static void free_(nn_reducer *r)
{
    for (int i = 0; i < r->n_req; i++)
        if (r->req[i] != MPI_REQUEST_NULL) MPI_Request_free(&r->req[i]);
    free(r->req);
}

/* Group `layer`, summed in place across ranks piece by piece: persistent
 * requests when the MPI has them, else started per call. Open MPI progresses
 * non-blocking collectives only inside MPI calls: the ones in flight are
 * poked too, so they advance while backward goes on. */
static void start_group_(nn_reducer *r, int layer)
{
    size_t lo = r->seg_lo[layer], hi = r->group_hi[layer], max = r->piece_max;
    MPI_Request *req = r->req + r->req_lo[layer];
    for (size_t k = 0; k * max < hi - lo; k++) {
        float *piece = r->sums + lo + k * max;
        int count = (int)(hi - lo - k * max < max ? hi - lo - k * max : max);
#ifdef NN_ALLREDUCE_INIT
        if (req[k] == MPI_REQUEST_NULL)
            MPI_CHECK(NN_ALLREDUCE_INIT(MPI_IN_PLACE, piece, count, MPI_FLOAT, MPI_SUM, r->comm, MPI_INFO_NULL, &req[k]));
        MPI_CHECK(MPI_Start(&req[k]));
#else
        MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, piece, count, MPI_FLOAT, MPI_SUM, r->comm, &req[k]));
#endif
    }
    int flag = 0;
    MPI_CHECK(MPI_Testall(r->n_req, r->req, &flag, MPI_STATUSES_IGNORE));
}

static void wait_groups_(nn_reducer *r) { MPI_CHECK(MPI_Waitall(r->n_req, r->req, MPI_STATUSES_IGNORE)); }

/* The blocking collective itself, not a persistent request: Open MPI 4.1 runs
 * those through libnbc, slower than its tuned blocking algorithms
 * (docs/design.md). */
static void whole_(nn_reducer *r)
{
    nn_allreduce_pieces(r->sums, r->n, MPI_FLOAT, MPI_SUM, r->comm);
}

const nn_reduce_method nn_reduce_mpi = {
    .create = create_, .free = free_, .start_group = start_group_, .wait_groups = wait_groups_, .whole = whole_};
