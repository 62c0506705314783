/* reduce.c: blocking, overlapped and fixed-point gradient allreduce. */
#include "reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_check.h"

_Static_assert(NN_FIXED_FRAC_BITS == 32, "to_fixed_/from_fixed_ spell out 2^32");

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
    if (reproducible) {
        r->fixed = NN_MALLOC(sizeof(int64_t) * r->n);
        memset(r->fixed, 0, sizeof(int64_t) * r->n);
        /* All chunks of a step together must stay below 2^51 in magnitude, the
         * range of the exact conversions: max_chunks * limit * 2^FRAC < 2^51. */
        double limit = ldexp(1.0, 51 - NN_FIXED_FRAC_BITS) / (max_chunks > 0 ? max_chunks : 1);
        r->fixed_limit = (float)limit;
        if ((double)r->fixed_limit > limit) r->fixed_limit = nextafterf(r->fixed_limit, 0.0f); /* never above */
    }
}

void reducer_free(nn_reducer *r)
{
    for (int l = 0; r->net && l < r->net->n_layers; l++)
        if (r->req[l] != MPI_REQUEST_NULL) MPI_Request_free(&r->req[l]);
    free(r->fixed);
    memset(r, 0, sizeof *r);
}

void reducer_begin_step(nn_reducer *r)
{
    r->t_post = 0.0;
    r->bad_local = 0;
}

/*
 * Conversions, exact and the same in every vector clone: v * 2^32 is exact in
 * float (a power of two), and rounding it to the nearest integer (ties to
 * even, rintf) and converting to int64 is exact for |v| below the limit. Back,
 * an int64 below 2^51 in magnitude is exact as a double, so the float is that
 * value times 2^-32 rounded once. With AVX-512DQ both are single instructions
 * on 8 values (vcvtps2qq, vcvtqq2pd).
 */

/* dst (+)= round(src * 2^FRAC) for values inside +-limit (dst = when
 * `assign`, which spares clearing the buffer first); returns 1 when any value
 * was outside (or NaN) and was left out instead of wrapping around. */
NN_VECTOR_CLONES static int to_fixed_(int64_t *restrict dst, const float *restrict src, size_t n, float limit,
                                      int assign)
{
    int bad = 0;
    const int64_t keep = assign ? 0 : -1; /* mask: add to the old value or not */
    for (size_t i = 0; i < n; i++) {
        float v = src[i];
        int ok = fabsf(v) < limit; /* false for NaN */
        bad |= !ok;
        dst[i] = (dst[i] & keep) + (int64_t)rintf(ok ? v * 0x1p32f : 0.0f);
    }
    return bad;
}

/* dst = src * 2^-FRAC, rounded to float; |src| < 2^51 by the limit above. */
NN_VECTOR_CLONES static void from_fixed_(float *restrict dst, const int64_t *restrict src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = (float)((double)src[i] * 0x1p-32);
}

void reducer_add_fixed(nn_reducer *r, size_t at, const float *src, size_t n, int assign)
{
    if (to_fixed_(r->fixed + at, src, n, r->fixed_limit, assign)) r->bad_local = 1;
}

void reducer_layer_ready(nn_reducer *r, int layer)
{
    /* Every rank must learn of a bad value: the vote rides in layer 0's
     * segment, the last one to be finished and reduced. */
    if (r->reproducible && layer == 0) r->fixed[NN_CTRL_BAD] = r->bad_local ? (int64_t)1 << NN_FIXED_FRAC_BITS : 0;
    if (!r->overlap || r->nranks == 1) return;
    if (r->group_hi[layer] == 0) return; /* fused into the next layer's group */
    double t0 = MPI_Wtime();
    start_(r, r->seg_lo[layer], r->group_hi[layer], &r->req[layer]);
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
            /* The blocking collective itself, not a persistent request: Open
             * MPI 4.1 runs those through libnbc, slower than its tuned
             * blocking algorithms (docs/benchmarks.md). */
            MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, base_(r), (int)r->n, type_(r), MPI_SUM, r->comm));
        }
    }
    if (r->reproducible) from_fixed_(r->net->reduced, r->fixed, r->n);
}
