/* reduce.c: blocking, overlapped and fixed-point gradient allreduce. */
#include "reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_check.h"

/* Persistent collectives (MPI 4, or Open MPI's MPIX extension): the schedule is
 * built once, so a step's reduction allocates nothing (test_noalloc). */
#if defined(OPEN_MPI) && OPEN_MPI
#include <mpi-ext.h>
#endif
#if MPI_VERSION >= 4
#define NN_ALLREDUCE_INIT MPI_Allreduce_init
#elif defined(OMPI_HAVE_MPI_EXT_PCOLLREQ) && OMPI_HAVE_MPI_EXT_PCOLLREQ
#define NN_ALLREDUCE_INIT MPIX_Allreduce_init
#endif

static MPI_Datatype type_(const nn_reducer *r) { return r->reproducible ? MPI_INT64_T : MPI_FLOAT; }
static void *base_(const nn_reducer *r) { return r->reproducible ? (void *)r->fixed : (void *)r->net->reduced; }
static size_t elem_size_(const nn_reducer *r) { return r->reproducible ? sizeof(int64_t) : sizeof(float); }

/* Elements [lo, hi) of the reduced buffer, summed in place across ranks: a
 * persistent request when the MPI has them, else started per call. */
static void start_(nn_reducer *r, size_t lo, size_t hi, MPI_Request *req)
{
    char *seg = (char *)base_(r) + lo * elem_size_(r);
#ifdef NN_ALLREDUCE_INIT
    if (*req == MPI_REQUEST_NULL)
        MPI_CHECK(NN_ALLREDUCE_INIT(MPI_IN_PLACE, seg, (int)(hi - lo), type_(r), MPI_SUM, r->comm, MPI_INFO_NULL, req));
    MPI_CHECK(MPI_Start(req));
#else
    MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, seg, (int)(hi - lo), type_(r), MPI_SUM, r->comm, req));
#endif
}

void reducer_create(nn_reducer *r, nn_net *net, MPI_Comm comm, int overlap, int reproducible, int max_chunks)
{
    memset(r, 0, sizeof *r);
    r->comm = comm;
    MPI_CHECK(MPI_Comm_size(comm, &r->nranks));
    r->overlap = overlap;
    r->reproducible = reproducible;
    r->net = net;
    r->n = NN_CTRL + net->n_params;
    for (int l = 0; l < net->n_layers; l++) {
        /* Layer l's weights and biases; layer 0 also carries the control slots in front of it. */
        r->seg_lo[l] = l == 0 ? 0 : NN_CTRL + net->w_off[l];
        r->seg_hi[l] = NN_CTRL + net->w_off[l + 1];
        r->req[l] = MPI_REQUEST_NULL;
    }
    r->req_all = MPI_REQUEST_NULL;
    if (reproducible) {
        r->fixed = NN_MALLOC(sizeof(int64_t) * r->n);
        memset(r->fixed, 0, sizeof(int64_t) * r->n);
        /* All chunks of a step together must stay below 2^63 in magnitude:
         * max_chunks * limit * 2^FRAC < 2^63. */
        r->fixed_limit = ldexp(1.0, 63 - NN_FIXED_FRAC_BITS) / (max_chunks > 0 ? max_chunks : 1);
    }
}

void reducer_free(nn_reducer *r)
{
    for (int l = 0; r->net && l < r->net->n_layers; l++)
        if (r->req[l] != MPI_REQUEST_NULL) MPI_Request_free(&r->req[l]);
    if (r->req_all != MPI_REQUEST_NULL) MPI_Request_free(&r->req_all);
    free(r->fixed);
    memset(r, 0, sizeof *r);
}

void reducer_begin_step(nn_reducer *r)
{
    r->t_post = 0.0;
    r->bad_local = 0;
    if (r->reproducible) memset(r->fixed, 0, sizeof(int64_t) * r->n);
}

void reducer_accumulate(nn_reducer *r, int layer)
{
    const float *src = r->net->reduced;
    const double scale = ldexp(1.0, NN_FIXED_FRAC_BITS), limit = r->fixed_limit;
    int bad = 0;
    for (size_t i = r->seg_lo[layer]; i < r->seg_hi[layer]; i++) {
        double v = (double)src[i];
        if (!(fabs(v) < limit)) { /* also catches NaN */
            bad = 1;
            continue;
        }
        r->fixed[i] += (int64_t)(v * scale);
    }
    if (bad) {
        r->bad_local = 1;
        /* Every rank must learn of it; layer 0's segment (which holds the
         * control slots) is reduced last, after every layer was accumulated. */
        r->fixed[NN_CTRL_BAD] = (int64_t)scale;
    }
}


void reducer_layer_ready(nn_reducer *r, int layer)
{
    if (!r->overlap || r->nranks == 1) return;
    double t0 = MPI_Wtime();
    start_(r, r->seg_lo[layer], r->seg_hi[layer], &r->req[layer]);
    /* Open MPI progresses non-blocking collectives only inside MPI calls: poke
     * the ones in flight so they advance while backward goes on. */
    int flag = 0;
    MPI_CHECK(MPI_Testall(r->net->n_layers, r->req, &flag, MPI_STATUSES_IGNORE));
    r->t_post += MPI_Wtime() - t0;
}

void reducer_finish(nn_reducer *r)
{
    if (r->nranks > 1) {
        if (r->overlap) {
            MPI_CHECK(MPI_Waitall(r->net->n_layers, r->req, MPI_STATUSES_IGNORE));
        } else {
            start_(r, 0, r->n, &r->req_all);
            MPI_CHECK(MPI_Wait(&r->req_all, MPI_STATUS_IGNORE));
        }
    }
    if (r->reproducible) {
        const double inv = ldexp(1.0, -NN_FIXED_FRAC_BITS);
        float *dst = r->net->reduced;
        for (size_t i = 0; i < r->n; i++) dst[i] = (float)((double)r->fixed[i] * inv);
    }
}
