/*
 * test_noalloc.c (mpiexec -n 1..4): after start-up, a training step calls no
 * malloc, calloc, realloc or free from nnmpi's code or from OpenBLAS. The
 * executable defines the allocator entry points itself, so every shared
 * library's calls resolve here first; they count, attribute each call to the
 * object that made it (dladdr on the return address) and forward to glibc's
 * __libc_* functions. Only the thread that runs the steps is counted (Open
 * MPI's PMIx and event threads are tallied apart). After 1000 warm-up steps,
 * two windows of 100 steps: nnmpi and OpenBLAS must make 0 calls in both.
 * With --allreduce ring and --reproducible, whose messages are nnmpi's own
 * point-to-point ones, Open MPI may make at most 4 in the 200 steps, each
 * window printed: its pool for messages that arrive before their receive is
 * posted (mca_allocator_bucket_alloc) may grow when a step happens to have
 * more of them than any before (docs/design.md, "Allocations", has the
 * history); with --allreduce mpi its calls are counted and printed but not
 * failed: its collectives allocate inside every call, persistent ones
 * included.
 * Not built with sanitizers: they own the allocator.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <pthread.h>
#include <hdf5.h>
#include <mpi.h>

#include "synth.h"
#include "test_util.h"
#include "train.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

/* Only the thread that runs the steps is counted: Open MPI's own threads
 * (PMIx and its event loop) allocate on their own schedule, outside any
 * step; they are tallied apart and printed. */
static volatile int counting;
static pthread_t step_thread;
static _Thread_local int inside; /* dladdr must not count itself */
static long allocations;         /* by nnmpi, OpenBLAS or anything but MPI, on the step's thread */
static long mpi_allocations;     /* by Open MPI, on the step's thread */
static long other_threads;       /* by any thread but the step's */
static const char *mpi_callers[4]; /* the first Open MPI functions seen allocating, to name in a failure */

/* Counts one allocator call made from `caller`. */
static void count_(void *caller)
{
    if (!counting || inside) return;
    if (!pthread_equal(pthread_self(), step_thread)) {
        __atomic_add_fetch(&other_threads, 1, __ATOMIC_RELAXED);
        return;
    }
    inside = 1;
    Dl_info info;
    const char *obj = dladdr(caller, &info) && info.dli_fname ? info.dli_fname : "";
    if (strstr(obj, "libmpi") || strstr(obj, "libopen-") || strstr(obj, "mca_") || strstr(obj, "openmpi")) {
        if (mpi_allocations < 4) mpi_callers[mpi_allocations] = info.dli_sname ? info.dli_sname : obj;
        mpi_allocations++;
    } else
        allocations++;
    inside = 0;
}

void *malloc(size_t n)
{
    count_(__builtin_return_address(0));
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m)
{
    count_(__builtin_return_address(0));
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n)
{
    count_(__builtin_return_address(0));
    return __libc_realloc(p, n);
}
void free(void *p)
{
    if (p) count_(__builtin_return_address(0));
    __libc_free(p);
}

static int nranks;

/* Allocator calls in one window of counted steps, maxima over ranks. */
typedef struct {
    long ours;   /* nnmpi, OpenBLAS, libc... on the step's thread */
    long mpi;    /* Open MPI on the step's thread */
    long others; /* any library on another thread */
} window;

/* name_callers: print this rank's first Open MPI callers, if any. */
static window count_window_(nn_trainer *t, int *step, int steps, int name_callers)
{
    allocations = mpi_allocations = other_threads = 0;
    memset(mpi_callers, 0, sizeof mpi_callers);
    step_thread = pthread_self();
    counting = 1;
    for (int i = 0; i < steps; i++, (*step)++) trainer_step(t, *step % t->steps_per_epoch);
    counting = 0;
    long mine[3] = {allocations, mpi_allocations, other_threads}, most[3];
    MPI_Allreduce(mine, most, 3, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (name_callers && mpi_allocations > 0)
        print_message("  rank %d's first Open MPI callers: %s %s %s %s\n", t->rank, mpi_callers[0] ? mpi_callers[0] : "",
                      mpi_callers[1] ? mpi_callers[1] : "", mpi_callers[2] ? mpi_callers[2] : "",
                      mpi_callers[3] ? mpi_callers[3] : "");
    return (window){most[0], most[1], most[2]};
}

/* 1000 warm-up steps (a new high-water mark of early messages, and so a
 * pool growth, gets rarer the longer the warm-up), then two windows of `steps` counted steps each; strict:
 * Open MPI must not allocate (name its callers on every rank if it does). */
static void count_in_steps(nn_options *opt, int steps, window w[2], int strict)
{
    nn_trainer t;
    if (trainer_setup(&t, opt, MPI_COMM_WORLD) != 0) fail_msg("setup failed");
    trainer_begin_epoch(&t, 0);
    int step = 0;
    for (; step < 1000; step++) assert_int_equal(trainer_step(&t, step % t.steps_per_epoch), STEP_OK);
    w[0] = count_window_(&t, &step, steps, strict || t.rank == 0);
    w[1] = count_window_(&t, &step, steps, strict);
    trainer_free(&t);
}

static void no_allocation_per_step(void **state)
{
    (void)state;
    /* The counter sees calls from our own code (so the assertion below can fail). */
    allocations = 0;
    step_thread = pthread_self();
    counting = 1;
    void *(*volatile alloc_fn)(size_t) = malloc; /* through a pointer: the compiler may not elide it */
    void (*volatile free_fn)(void *) = free;
    free_fn(alloc_fn(64));
    counting = 0;
    assert_int_equal(allocations, 2);
    /* mpi_too: Open MPI must allocate nothing either (nnmpi's own messages,
     * not MPI's collectives, which allocate inside every call). */
    struct {
        const char *name;
        int overlap, reproducible, ring, mpi_too; /* ring: 1 the ring, 2 shared memory */
        nn_exchange_kind exchange;               /* shm: gradients (the sharded update) or factors */
    } modes[] = {{"overlap", 1, 0, 0, 0, 0},          {"blocking", 0, 0, 0, 0, 0},
                 {"reproducible", 0, 1, 0, 1, 0},     {"ring", 0, 0, 1, 1, 0},
                 {"ring overlap", 1, 0, 1, 1, 0},     {"shm gradients", 0, 0, 2, 1, EXCHANGE_GRADIENTS},
                 {"shm factors by inputs", 0, 0, 2, 1, EXCHANGE_FACTORS},
                 {"shm factors decayed", 0, 0, 2, 1, EXCHANGE_FACTORS},
                 {"shm sharded factors", 0, 0, 2, 1, EXCHANGE_FACTORS},
                 {"blocking by unit", 0, 0, 0, 0, 0},
                 {"reproducible by unit", 0, 1, 0, 1, 0},
                 {"shm factors by unit, by inputs", 0, 0, 2, 1, EXCHANGE_FACTORS},
                 {"shm factors by unit, decayed", 0, 0, 2, 1, EXCHANGE_FACTORS},
                 {"shm sharded factors by unit", 0, 0, 2, 1, EXCHANGE_FACTORS},
                 {"shm sharded factors, 40 inputs", 0, 0, 2, 1, EXCHANGE_FACTORS}};
    int bad = 0;
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        nn_options opt;
        options_defaults(&opt);
        opt.data_dir = test_mnist_dir();
        opt.train_size = 2000, opt.test_size = 100, opt.batch = 16, opt.momentum = 0.9;
        /* two overlap groups: layers 2 and 1 (16,640 + 2,570 gradients), then layer 0 */
        opt.layers_given = 1, opt.n_sizes = 4, opt.sizes[0] = 784, opt.sizes[1] = 64, opt.sizes[2] = 256, opt.sizes[3] = 10;
        opt.overlap = modes[m].overlap, opt.reproducible = modes[m].reproducible;
        opt.allreduce = modes[m].ring == 2 ? REDUCE_SHM : modes[m].ring ? REDUCE_RING : REDUCE_MPI;
        opt.exchange = modes[m].exchange;
        /* factors of 16 rows: layer 0 (72 % of the weights) split by its inputs, or with decay every rank
         * updating its own copy of all of them; of 32 rows, over NN_FACTOR_REPLICATE_BATCH, split by units */
        if (strstr(modes[m].name, "decayed")) opt.weight_decay = 1e-4;
        if (strstr(modes[m].name, "sharded")) opt.batch = 32;
        if (strstr(modes[m].name, "by unit")) { /* the hidden layer stored a row per unit (net.h), 64 inputs */
            nn_err err = {0};
            opt.data_dir = "synthetic:64,10,2000,100", opt.synthetic = 1;
            assert_int_equal(synth_parse("64,10,2000,100", &opt.synth, &err), 0);
            opt.n_sizes = 3, opt.sizes[0] = 64, opt.sizes[1] = 256, opt.sizes[2] = 10, opt.dropout = 0.2;
        }
        if (strstr(modes[m].name, "40 inputs")) { /* 40-1024-10 is by unit whole (net.c), but a rank's block
                                                     of layer 0's gradient, 512 x 40 x 48 rows, would reach
                                                     OpenBLAS's allocating kernel: start-up chooses by sample */
            nn_err err = {0};
            opt.data_dir = "synthetic:40,10,2000,100", opt.synthetic = 1, opt.batch = 48;
            assert_int_equal(synth_parse("40,10,2000,100", &opt.synth, &err), 0);
            opt.n_sizes = 3, opt.sizes[0] = 40, opt.sizes[1] = 1024, opt.sizes[2] = 10;
        }
        window w[2];
        count_in_steps(&opt, 100, w, modes[m].mpi_too);
        for (int k = 0; k < 2; k++)
            print_message("%s, %d ranks, steps %d-%d: nnmpi+OpenBLAS %ld, Open MPI %ld allocator calls"
                          " (other threads: %ld)\n", modes[m].name, nranks, 100 * k + 1, 100 * k + 100, w[k].ours,
                          w[k].mpi, w[k].others);
        int ok = w[0].ours == 0 && w[1].ours == 0;
        /* Open MPI, where it must allocate nothing: at most 4 calls in the
         * 200 steps, for its unexpected-message pool growing to a new
         * high-water mark (see the top); an allocation inside every call
         * makes 100 or more in each window. */
        if (modes[m].mpi_too) ok = ok && w[0].mpi + w[1].mpi <= 4;
        if (!ok) print_error("%s, %d ranks: allocator calls inside the training steps\n", modes[m].name, nranks);
        bad += !ok;
    }
    assert_int_equal(bad, 0);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {cmocka_unit_test(no_allocation_per_step)};
    int failed = cmocka_run_group_tests(tests, NULL, NULL), any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any ? 1 : 0;
}
