/*
 * allreduce_ceiling: MPI_Allreduce time for nnmpi's gradient sizes, OSU style.
 *
 * For each COUNT on the command line (default: 23860 = the 784-30-10 net's parameters,
 * 1863690 = 784-1024-1024-10's): MPI_Allreduce(MPI_IN_PLACE, MPI_FLOAT, MPI_SUM) on
 * MPI_COMM_WORLD. First a validation round (rank r contributes r + 1 everywhere, every
 * element must come back as P(P+1)/2; a mismatch makes the program exit 1), then warm-up
 * iterations, then ITERS timed iterations, each: MPI_Barrier, MPI_Wtime, MPI_Allreduce,
 * MPI_Wtime. Each iteration's time is reduced with MAX over ranks to rank 0 (the slowest
 * rank is what a synchronous SGD step waits for); rank 0 prints min, median, mean, max.
 * This is the floor under nnmpi's per-step communication (without overlap).
 *
 * Two contenders per COUNT, the same protocol for both ("method" in the output):
 *   mpi  MPI_Allreduce on MPI_COMM_WORLD, as above;
 *   shm  --allreduce shm's scheme (src/reduce_shm.c), standalone: every rank's buffer is
 *        its segment of one MPI-3 shared window per node; a flag barrier; each rank adds
 *        its 1/R slice of all R segments into its own; across nodes MPI_Allreduce of the
 *        slices by local rank; a flag barrier; each rank copies the other slices from
 *        their owners; a flag barrier. Timed from the first barrier to the last, as the
 *        reducer runs after backward has written the gradient.
 *   shm-part  the reduction of a training step with --allreduce shm since the node's ranks
 *        share the weights (reduce_shm.c's sum_part_ and end_update_): a flag barrier; each
 *        rank adds its 1/R part of all R segments into its own segment (across nodes,
 *        MPI_Allreduce of the parts); a flag barrier. Each rank then holds the sums of its
 *        part only, where the update reads them: not a full allreduce, but all the
 *        reduction a step of nnmpi does (validated on each rank's part).
 *
 * Usage: mpirun -n 2 allreduce_ceiling [COUNT ...]
 * Output: JSON Lines on rank 0's stdout: one "header", one "allreduce" per COUNT and method.
 * Build:  mpicc -O2 allreduce_ceiling.c -o allreduce_ceiling
 */
#include <mpi.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MPI_CHECK(call)                                                                  \
    do {                                                                                 \
        int rc_ = (call);                                                                \
        if (rc_ != MPI_SUCCESS)                                                          \
            mpi_fail(rc_, #call, __FILE__, __LINE__);                                    \
    } while (0)

static void mpi_fail(int rc, const char *call, const char *file, int line)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0, rank = -1;
    MPI_Error_string(rc, msg, &len);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fprintf(stderr, "allreduce_ceiling: rank %d: %s failed at %s:%d: %s\n", rank, call, file,
            line, msg);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static void *alloc_check(size_t bytes)
{
    void *p = malloc(bytes);
    if (p == NULL) {
        fprintf(stderr, "allreduce_ceiling: out of memory (%zu bytes)\n", bytes);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Iterations for a message of `bytes`: about 0.2 GB moved in total, 100..2000; above 64 MB
 * (the 32768- and 262144-input nets' gradients, 0.28 and 2.2 GB, which take 0.2 to 30 s each
 * here) about 2 GB in total, 3..100. */
static int iterations_for(size_t bytes)
{
    if (bytes > 64u << 20) {
        size_t n = 2000000000 / bytes;
        return n < 3 ? 3 : n > 100 ? 100 : (int)n;
    }
    size_t n = 200000000 / (bytes + 1);
    return n < 100 ? 100 : n > 2000 ? 2000 : (int)n;
}

/* --- shm: the scheme of src/reduce_shm.c, standalone (see the top of this file) ---------- */
typedef struct {
    MPI_Comm node, across; /* this node's ranks; the ranks of the same local index on every node */
    int me, R, nodes;
    MPI_Win win;
    float **seg;           /* (R) the node's segments: n floats, then a cache line with the flag */
    size_t n, flag_off;
    unsigned long phase;   /* barriers passed: this rank's flag */
} shm_t;

static atomic_ulong *flag_of(const shm_t *s, int q) { return (atomic_ulong *)((char *)s->seg[q] + s->flag_off); }

/* As reduce_shm.c's wait_flag_: poll, then yield, then sleep once a wait grows long. */
static void shm_wait(const shm_t *s, int q, unsigned long phase)
{
    double since = 0.0;
    for (long polls = 0; atomic_load_explicit(flag_of(s, q), memory_order_acquire) < phase; polls++) {
        MPI_CHECK(MPI_Win_sync(s->win));
        if (polls < 2000) continue;
        if (polls == 2000) since = MPI_Wtime();
        if (MPI_Wtime() - since < 1e-3) {
            sched_yield();
        } else {
            struct timespec pause = {0, 50000L};
            nanosleep(&pause, NULL);
        }
    }
}

static void shm_barrier(shm_t *s)
{
    unsigned long phase = ++s->phase;
    MPI_CHECK(MPI_Win_sync(s->win));
    atomic_store_explicit(flag_of(s, s->me), phase, memory_order_release);
    for (int q = 0; q < s->R; q++)
        if (q != s->me) shm_wait(s, q, phase);
    MPI_CHECK(MPI_Win_sync(s->win));
}

/* A training step's reduction since the ranks share the weights: each rank ends with the sums of
 * its part only, where the update reads them. */
static void shm_part_allreduce(shm_t *s)
{
    float *mine = s->seg[s->me];
    size_t lo = s->n * (size_t)s->me / (size_t)s->R, hi = s->n * (size_t)(s->me + 1) / (size_t)s->R;
    shm_barrier(s);
    for (int q = 0; q < s->R; q++)
        if (q != s->me)
            for (size_t i = lo; i < hi; i++) mine[i] += s->seg[q][i];
    if (s->nodes > 1)
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, mine + lo, (int)(hi - lo), MPI_FLOAT, MPI_SUM, s->across));
    shm_barrier(s);
}

/* The full allreduce: the parts summed as above, then every rank copies the other parts from their
 * owners, then a last barrier (no rank overwrites its segment while another copies from it). */
static void shm_allreduce(shm_t *s)
{
    float *mine = s->seg[s->me];
    shm_part_allreduce(s);
    for (int q = 0; q < s->R; q++) {
        size_t q_lo = s->n * (size_t)q / (size_t)s->R, q_hi = s->n * (size_t)(q + 1) / (size_t)s->R;
        if (q != s->me) memcpy(mine + q_lo, s->seg[q] + q_lo, sizeof(float) * (q_hi - q_lo));
    }
    shm_barrier(s);
}

static float *shm_open(shm_t *s, size_t count)
{
    int world_rank = 0;
    MPI_Info info;
    float *mine = NULL;
    memset(s, 0, sizeof *s);
    s->n = count, s->flag_off = (sizeof(float) * count + 63) / 64 * 64;
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank));
    MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &s->node));
    MPI_CHECK(MPI_Comm_rank(s->node, &s->me));
    MPI_CHECK(MPI_Comm_size(s->node, &s->R));
    MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, s->me, world_rank, &s->across));
    MPI_CHECK(MPI_Comm_size(s->across, &s->nodes));
    MPI_CHECK(MPI_Info_create(&info));
    MPI_CHECK(MPI_Info_set(info, "alloc_shared_noncontig", "true"));
    MPI_CHECK(MPI_Win_allocate_shared((MPI_Aint)(s->flag_off + 64), sizeof(float), info, s->node, &mine, &s->win));
    MPI_CHECK(MPI_Info_free(&info));
    s->seg = alloc_check(sizeof(float *) * (size_t)s->R);
    for (int q = 0; q < s->R; q++) {
        MPI_Aint bytes = 0;
        int unit = 0;
        MPI_CHECK(MPI_Win_shared_query(s->win, q, &bytes, &unit, &s->seg[q]));
    }
    MPI_CHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, s->win));
    atomic_store_explicit(flag_of(s, s->me), 0, memory_order_release);
    MPI_CHECK(MPI_Win_sync(s->win));
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    MPI_CHECK(MPI_Win_sync(s->win));
    return mine;
}

static void shm_close(shm_t *s)
{
    MPI_CHECK(MPI_Win_unlock_all(s->win));
    MPI_CHECK(MPI_Win_free(&s->win));
    MPI_CHECK(MPI_Comm_free(&s->across));
    MPI_CHECK(MPI_Comm_free(&s->node));
    free(s->seg);
}

enum { METHOD_MPI, METHOD_SHM, METHOD_SHM_PART };
static const char *const method_names[] = {"mpi", "shm", "shm-part"};

/* One allreduce of buf (count floats) by `method`; shm's buf is its segment. */
static void reduce(int method, shm_t *s, float *buf, long count)
{
    if (method == METHOD_SHM)
        shm_allreduce(s);
    else if (method == METHOD_SHM_PART)
        shm_part_allreduce(s);
    else
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
}

static void print_result(long count, int nranks, int method, int iters, int any_bad, double *tmax)
{
    double sum = 0;
    for (int i = 0; i < iters; i++)
        sum += tmax[i];
    qsort(tmax, (size_t)iters, sizeof tmax[0], cmp_double);
    double bytes = (double)count * sizeof(float);
    printf("{\"type\":\"allreduce\",\"method\":\"%s\",\"floats\":%ld,\"bytes\":%.0f,\"ranks\":%d,\"iters\":%d,"
           "\"valid\":%s,\"min_s\":%.9f,\"median_s\":%.9f,\"mean_s\":%.9f,\"max_s\":%.9f,"
           "\"busbw_gb_s\":%.3f}\n",
           method_names[method], count, bytes, nranks, iters, any_bad ? "false" : "true", tmax[0],
           tmax[iters / 2], sum / iters, tmax[iters - 1],
           /* OSU/NCCL bus bandwidth of an allreduce: 2(P-1)/P * bytes / time */
           2.0 * (nranks - 1) / nranks * bytes / tmax[iters / 2] * 1e-9);
    fflush(stdout);
}

/* Returns 0 if the validation round passed on every rank, 1 otherwise. */
static int measure(long count, int rank, int nranks, int method)
{
    shm_t s;
    int shared = method == METHOD_SHM || method == METHOD_SHM_PART;
    float *buf = shared ? shm_open(&s, (size_t)count) : alloc_check((size_t)count * sizeof *buf);
    int iters = iterations_for((size_t)count * sizeof(float));
    int warmup = iters < 100 ? 1 : iters / 10 + 2; /* few, long iterations: 1 warm-up */
    double *t = alloc_check((size_t)iters * sizeof *t), *tmax = alloc_check((size_t)iters * sizeof *tmax);

    /* validation, as OSU's --validation: values computable by arithmetic */
    for (long i = 0; i < count; i++)
        buf[i] = (float)(rank + 1);
    reduce(method, &s, buf, count);
    float want = (float)nranks * (float)(nranks + 1) / 2.0f;
    int bad = 0, any_bad = 0;
    long lo = 0, hi = count; /* shm-part: this rank's part only */
    if (method == METHOD_SHM_PART)
        lo = count * s.me / s.R, hi = count * (s.me + 1) / s.R;
    for (long i = lo; i < hi; i++)
        bad |= buf[i] != want;
    MPI_CHECK(MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD));

    for (int i = 0; i < warmup + iters; i++) {
        MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
        double t0 = MPI_Wtime();
        reduce(method, &s, buf, count);
        if (i >= warmup)
            t[i - warmup] = MPI_Wtime() - t0;
    }
    MPI_CHECK(MPI_Reduce(t, tmax, iters, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD));
    if (rank == 0)
        print_result(count, nranks, method, iters, any_bad, tmax);
    if (shared)
        shm_close(&s);
    else
        free(buf);
    free(t);
    free(tmax);
    return any_bad;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank, nranks, len;
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &nranks));
    MPI_CHECK(MPI_Get_library_version(lib, &len));
    for (int i = 0; i < len; i++)
        if (lib[i] == '\n' || lib[i] == '"' || lib[i] == '\\')
            lib[i] = ' ';
    if (rank == 0)
        printf("{\"type\":\"header\",\"ranks\":%d,\"mpi_library\":\"%s\"}\n", nranks, lib);

    long defaults[] = {23860, 1863690};
    int n = argc > 1 ? argc - 1 : 2, failed = 0;
    for (int i = 0; i < n; i++) {
        long count = argc > 1 ? atol(argv[i + 1]) : defaults[i];
        if (count < 1 || count > 1L << 30) {
            if (rank == 0)
                fprintf(stderr, "allreduce_ceiling: bad COUNT '%s'\n", argv[i + 1]);
            MPI_Finalize();
            return 2;
        }
        failed |= measure(count, rank, nranks, METHOD_MPI);
        failed |= measure(count, rank, nranks, METHOD_SHM);
        failed |= measure(count, rank, nranks, METHOD_SHM_PART);
    }
    if (failed && rank == 0)
        fprintf(stderr, "allreduce_ceiling: validation FAILED: wrong allreduce result\n");
    MPI_Finalize();
    return failed;
}
