/* reduce_mpi.c: --allreduce mpi, the reducer's buffer summed by MPI's own collectives. */
#include <string.h>

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

static void create_(nn_reducer *r) { (void)r; } /* requests are made at their first use */

static void free_(nn_reducer *r)
{
    for (int l = 0; l < r->n_layers; l++)
        if (r->req[l] != MPI_REQUEST_NULL) MPI_Request_free(&r->req[l]);
}

/* Group `layer`, summed in place across ranks: a persistent request when the
 * MPI has them, else started per call. Open MPI progresses non-blocking
 * collectives only inside MPI calls: the ones in flight are poked too, so
 * they advance while backward goes on. */
static void start_group_(nn_reducer *r, int layer)
{
    float *group = r->sums + r->seg_lo[layer];
    int count = (int)(r->group_hi[layer] - r->seg_lo[layer]);
    MPI_Request *req = &r->req[layer];
#ifdef NN_ALLREDUCE_INIT
    if (*req == MPI_REQUEST_NULL)
        MPI_CHECK(NN_ALLREDUCE_INIT(MPI_IN_PLACE, group, count, MPI_FLOAT, MPI_SUM, r->comm, MPI_INFO_NULL, req));
    MPI_CHECK(MPI_Start(req));
#else
    MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, group, count, MPI_FLOAT, MPI_SUM, r->comm, req));
#endif
    int flag = 0;
    MPI_CHECK(MPI_Testall(r->n_layers, r->req, &flag, MPI_STATUSES_IGNORE));
}

static void wait_groups_(nn_reducer *r) { MPI_CHECK(MPI_Waitall(r->n_layers, r->req, MPI_STATUSES_IGNORE)); }

/* The blocking collective itself, not a persistent request: Open MPI 4.1 runs
 * those through libnbc, slower than its tuned blocking algorithms
 * (docs/design.md). */
static void whole_(nn_reducer *r)
{
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, r->sums, (int)r->n, MPI_FLOAT, MPI_SUM, r->comm));
}

const nn_reduce_method nn_reduce_mpi = {NULL, create_, free_, start_group_, wait_groups_, whole_};
