/*
 * test_noalloc.c (mpiexec -n 1..4): after start-up, a training step calls no
 * malloc, calloc, realloc or free from nnmpi's code or from OpenBLAS. The
 * executable defines the allocator entry points itself, so every shared
 * library's calls resolve here first; they count, attribute each call to the
 * object that made it (dladdr on the return address) and forward to glibc's
 * __libc_* functions. With --allreduce ring and --reproducible, whose
 * messages are nnmpi's own point-to-point ones, Open MPI's calls must be 0
 * too; with --allreduce mpi they are counted and printed but not failed: its
 * collectives allocate temporary buffers inside every call, persistent ones
 * included (docs/design.md, "Allocations").
 * Not built with sanitizers: they own the allocator.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <hdf5.h>
#include <mpi.h>

#include "test_util.h"
#include "train.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static volatile int counting;
static long allocations; /* by nnmpi, OpenBLAS or anything but MPI */
static long mpi_allocations;

/* Counts one allocator call made from `caller`. */
static void count_(void *caller)
{
    if (!counting) return;
    counting = 0; /* dladdr must not count itself */
    Dl_info info;
    const char *obj = dladdr(caller, &info) && info.dli_fname ? info.dli_fname : "";
    if (strstr(obj, "libmpi") || strstr(obj, "libopen-") || strstr(obj, "mca_") || strstr(obj, "openmpi"))
        mpi_allocations++;
    else
        allocations++;
    counting = 1;
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

/* Runs warm-up steps, then counts allocations over `steps` steps. */
static long count_in_steps(nn_options *opt, int steps, long *by_mpi)
{
    nn_trainer t;
    if (trainer_setup(&t, opt, MPI_COMM_WORLD) != 0) fail_msg("setup failed");
    trainer_begin_epoch(&t, 0);
    int step = 0;
    for (; step < 5; step++) assert_int_equal(trainer_step(&t, step), STEP_OK); /* MPI and BLAS warm up */
    allocations = mpi_allocations = 0;
    counting = 1;
    for (int i = 0; i < steps; i++, step++) trainer_step(&t, step % t.steps_per_epoch);
    counting = 0;
    long mine[2] = {allocations, mpi_allocations}, most[2];
    MPI_Allreduce(mine, most, 2, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
    trainer_free(&t);
    *by_mpi = most[1];
    return most[0];
}

static void no_allocation_per_step(void **state)
{
    (void)state;
    /* The counter sees calls from our own code (so the assertion below can fail). */
    allocations = 0;
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
        int overlap, reproducible, ring, mpi_too;
    } modes[] = {{"overlap", 1, 0, 0, 0},    {"blocking", 0, 0, 0, 0},     {"reproducible", 0, 1, 0, 1},
                 {"ring", 0, 0, 1, 1},       {"ring overlap", 1, 0, 1, 1}};
    int bad = 0;
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        nn_options opt;
        options_defaults(&opt);
        opt.data_dir = test_mnist_dir();
        opt.train_size = 2000, opt.test_size = 100, opt.batch = 16, opt.momentum = 0.9;
        /* two overlap groups: layers 2 and 1 (16,640 + 2,570 gradients), then layer 0 */
        opt.layers_given = 1, opt.n_sizes = 4, opt.sizes[1] = 64, opt.sizes[2] = 256, opt.sizes[3] = 10;
        opt.overlap = modes[m].overlap, opt.reproducible = modes[m].reproducible;
        opt.allreduce_ring = modes[m].ring;
        long by_mpi = 0, n = count_in_steps(&opt, 100, &by_mpi);
        if (n != 0) print_error("%s, %d ranks: %ld allocator calls in 100 steps\n", modes[m].name, nranks, n);
        if (modes[m].mpi_too && by_mpi != 0)
            print_error("%s, %d ranks: Open MPI made %ld allocator calls in 100 steps\n", modes[m].name, nranks, by_mpi);
        print_message("%s, %d ranks: nnmpi+OpenBLAS %ld, Open MPI %ld allocator calls in 100 steps\n", modes[m].name,
                      nranks, n, by_mpi);
        bad += n != 0 || (modes[m].mpi_too && by_mpi != 0);
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
