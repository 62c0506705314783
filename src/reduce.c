/* reduce.c: blocking, overlapped and fixed-point gradient allreduce. */
#include "reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_check.h"

_Static_assert(NN_FIXED_FRAC_BITS == 28, "to_fixed_/from_fixed_/from_low_ spell out 2^28");

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
        if (!overlap && r->nranks > 1) {
            r->narrow = r->n >= NN_NARROW_MIN;
            r->narrow_fits = (uint64_t)1 << 31;
            r->n_segs = (r->n + NN_NARROW_SEG - 1) / NN_NARROW_SEG;
            r->low_bits = NN_MALLOC(sizeof(uint32_t) * r->n);
            r->seg_bound = NN_MALLOC(sizeof(uint64_t) * r->n_segs);
        }
    }
}

void reducer_free(nn_reducer *r)
{
    for (int l = 0; r->net && l < r->net->n_layers; l++)
        if (r->req[l] != MPI_REQUEST_NULL) MPI_Request_free(&r->req[l]);
    free(r->fixed);
    free(r->low_bits);
    free(r->seg_bound);
    memset(r, 0, sizeof *r);
}

void reducer_begin_step(nn_reducer *r)
{
    r->t_post = 0.0;
    r->bad_local = 0;
    if (r->seg_bound) memset(r->seg_bound, 0, sizeof(uint64_t) * r->n_segs);
}

/*
 * Conversions, exact and the same in every vector clone: v * 2^28 is exact in
 * float (a power of two), and rounding it to the nearest integer (ties to
 * even, rintf) and converting to int64 is exact for |v| below the limit. Back,
 * an int64 below 2^51 in magnitude is exact as a double, so the float is that
 * value times 2^-28 rounded once. With AVX-512DQ both are single instructions
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
        dst[i] = (dst[i] & keep) + (int64_t)rintf(ok ? v * 0x1p28f : 0.0f);
    }
    return bad;
}

/* dst = src * 2^-FRAC, rounded to float; |src| < 2^51 by the limit above. */
NN_VECTOR_CLONES static void from_fixed_(float *restrict dst, const int64_t *restrict src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = (float)((double)src[i] * 0x1p-28);
}

/* to_fixed_ for a chunk that is the last to touch these elements this step,
 * for the narrow transport: also low[i] = dst[i] mod 2^32, while dst[i] is
 * still in cache, and *max = max |dst[i]|. */
NN_VECTOR_CLONES static int to_fixed_final_(int64_t *restrict dst, uint32_t *restrict low, const float *restrict src,
                                            size_t n, float limit, int assign, uint64_t *max_out)
{
    int bad = 0;
    const int64_t keep = assign ? 0 : -1;
    uint64_t max = 0;
    for (size_t i = 0; i < n; i++) {
        float v = src[i];
        int ok = fabsf(v) < limit;
        bad |= !ok;
        int64_t sum = (dst[i] & keep) + (int64_t)rintf(ok ? v * 0x1p28f : 0.0f);
        dst[i] = sum;
        low[i] = (uint32_t)sum;
        uint64_t a = sum < 0 ? -(uint64_t)sum : (uint64_t)sum;
        max = a > max ? a : max;
    }
    *max_out = max;
    return bad;
}

/* dst = the int32 whose bits are low, times 2^-FRAC (what from_fixed_ gives
 * for a sum that fits in 32 bits); written without the implementation-defined
 * uint32 -> int32 conversion. */
NN_VECTOR_CLONES static void from_low_(float *restrict dst, const uint32_t *restrict low, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t v = (int64_t)low[i] - (int64_t)(low[i] >> 31) * ((int64_t)1 << 32);
        dst[i] = (float)((double)v * 0x1p-28);
    }
}

void reducer_add_fixed(nn_reducer *r, size_t at, const float *src, size_t n, int assign, int final)
{
    if (!(final && r->narrow)) {
        if (to_fixed_(r->fixed + at, src, n, r->fixed_limit, assign)) r->bad_local = 1;
        return;
    }
    /* piece by piece, one narrow segment at a time, for its bound */
    for (size_t lo = at, end = at + n; lo < end;) {
        size_t s = lo / NN_NARROW_SEG, hi = (s + 1) * NN_NARROW_SEG < end ? (s + 1) * NN_NARROW_SEG : end;
        uint64_t max;
        if (to_fixed_final_(r->fixed + lo, r->low_bits + lo, src + (lo - at), hi - lo, r->fixed_limit, assign, &max))
            r->bad_local = 1;
        if (max > r->seg_bound[s]) r->seg_bound[s] = max;
        lo = hi;
    }
}

void reducer_zero_fixed(nn_reducer *r, size_t at, size_t n)
{
    memset(r->fixed + at, 0, sizeof(int64_t) * n);
    if (r->narrow) memset(r->low_bits + at, 0, sizeof(uint32_t) * n); /* adds 0 to its segments' bounds */
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

/*
 * The narrow transport. Most gradient sums are small against the int64 range
 * (at 2^28 per unit, |sum| < 2^31 means |sum| < 8), and an integer sum modulo
 * 2^32 is exact modulo 2^32 whatever the order and whatever wraps on the way.
 * So when the true sum S of an element is known to satisfy |S| < 2^31, the
 * uint32 sum of every rank's low 32 bits, read as an int32, is S itself. The
 * bound comes per segment: each rank's max |value| over the segment (clamped
 * at 2^31, so the uint64 sum cannot wrap), summed over ranks, bounds every
 * |S| in it. Segments under 2^31 travel as uint32 (half the bytes of int64:
 * the bytes of the float path); the others, packed together at the front of
 * `fixed`, as int64. The result is the int64 path's, bit for bit, for any
 * data: only the bytes on the wire change with the data, never the sums.
 */
static void finish_narrow_(nn_reducer *r)
{
    const uint64_t fits = r->narrow_fits; /* 2^31; lower in tests, to send more segments wide */
    /* Every gradient element had its final write this step (the last chunk's
     * reducer_add_fixed, or reducer_zero_fixed), which set its low bits and
     * its segment's max; the control slots, written one by one, are packed here. */
    for (size_t i = 0; i < NN_CTRL; i++) {
        int64_t v = r->fixed[i];
        uint64_t a = v < 0 ? -(uint64_t)v : (uint64_t)v;
        r->low_bits[i] = (uint32_t)v;
        if (a > r->seg_bound[0]) r->seg_bound[0] = a;
    }
    for (size_t s = 0; s < r->n_segs; s++) r->seg_bound[s] = r->seg_bound[s] < fits ? r->seg_bound[s] : fits;
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, r->seg_bound, (int)r->n_segs, MPI_UINT64_T, MPI_SUM, r->comm));
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, r->low_bits, (int)r->n, MPI_UINT32_T, MPI_SUM, r->comm));
    size_t wide = 0; /* the wide segments, moved to the front of fixed (its old contents are spent) */
    for (size_t s = 0; s < r->n_segs; s++) {
        size_t lo = s * NN_NARROW_SEG, len = r->n - lo < NN_NARROW_SEG ? r->n - lo : NN_NARROW_SEG;
        if (r->seg_bound[s] < fits) continue;
        memmove(r->fixed + wide, r->fixed + lo, sizeof(int64_t) * len);
        wide += len;
    }
    if (wide > 0) MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, r->fixed, (int)wide, MPI_INT64_T, MPI_SUM, r->comm));
    r->wide_elems = wide;
    wide = 0;
    for (size_t s = 0; s < r->n_segs; s++) {
        size_t lo = s * NN_NARROW_SEG, len = r->n - lo < NN_NARROW_SEG ? r->n - lo : NN_NARROW_SEG;
        if (r->seg_bound[s] < fits) {
            from_low_(r->net->reduced + lo, r->low_bits + lo, len);
        } else {
            from_fixed_(r->net->reduced + lo, r->fixed + wide, len);
            wide += len;
        }
    }
}

void reducer_finish(nn_reducer *r)
{
    if (r->reproducible && r->narrow && r->nranks > 1 && !r->overlap) {
        finish_narrow_(r);
        return;
    }
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
