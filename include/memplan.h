/*
 * memplan.h: what a run will allocate, counted before it allocates it, and
 * whether a node's ranks fit in the memory the node gives them.
 *
 * The sizes come from the same rules the allocating code follows (the
 * parameter layout of model.h, the reducer's buffers of reduce.h, the
 * activations of net.h); every product and sum is checked for overflow, so a
 * --layers of 1000000-sized layers gives "too large", never a wrapped size.
 * The memory available is MemAvailable of /proc/meminfo, or the memory
 * cgroup's limit minus its usage (v2 memory.max, v1 memory.limit_in_bytes,
 * every ancestor up to the mount's root: inside a Slurm job that is the
 * job's limit) when smaller. The reading functions take a root directory, so
 * a test can give them a made-up /proc and /sys.
 */
#ifndef NN_MEMPLAN_H
#define NN_MEMPLAN_H

#include <mpi.h>
#include <stddef.h>

#include "model.h"
#include "nn_check.h"

/* What one rank's buffers depend on. */
typedef struct {
    const int *sizes;
    int n_sizes;
    int rows;            /* rows the activation buffers hold (this rank's part of a batch, or more) */
    int with_velocity;   /* momentum > 0 */
    int with_dropout;    /* --dropout > 0: one mask byte per hidden unit and row */
    int nranks;          /* ranks of the job */
    int reduce_kind;     /* nn_reduce_kind: what the reduction allocates besides the buffer */
    int repro_pieces;    /* --reproducible: tree pieces (each one gradient); 0 without */
    size_t data_bytes;   /* the data sets, already loaded */
    int data_shared;     /* the data are one copy per node (--share-data node), not one per rank */
    size_t index_bytes;  /* the epoch permutation */
} nn_mem_shape;

/* Bytes of one rank, by what they hold. SIZE_MAX in a field: too large to count. */
typedef struct {
    size_t params, velocity, gradient, scratch, activations, data, index;
    int data_shared;     /* data is the node's one copy (shared by its ranks), not this rank's own */
    size_t to_allocate;  /* everything but the data (already loaded) */
    size_t largest_matrix; /* elements of the largest matrix handed to BLAS */
} nn_mem_plan;

/* Fills `plan` from `shape`. Returns 0, or -1 when a size does not fit in
 * size_t (the fields that overflowed are SIZE_MAX). Pure. */
int memplan_compute(const nn_mem_shape *shape, nn_mem_plan *plan);

/* The memory this process may still use, in bytes, read under `root` ("" for
 * the real /proc and /sys): the smaller of MemAvailable and the memory
 * cgroup's room. Writes which one it was to source (e.g. "MemAvailable",
 * "cgroup v2 limit 4.0 GiB"). Returns SIZE_MAX when neither could be read. */
size_t memplan_available(const char *root, char *source, size_t len);

/* "1.5 GiB", "512 B", "too large" for SIZE_MAX: into out[len]; returns out. */
char *memplan_bytes_text(size_t bytes, char *out, size_t len);

/* Collective over comm: sums `plan` over each node's ranks (MPI_COMM_TYPE_SHARED),
 * compares it with the node's available memory, prints the plan on rank 0
 * (with the data counted once per node when shared, else once per rank)
 * unless quiet, and records in err, on the node's first rank, why a node
 * does not fit. The caller agrees on err (nn_err_agree). */
void memplan_check(const nn_mem_plan *plan, MPI_Comm comm, int quiet, nn_err *err);

/* Collective over comm: before the ranks that do not hold it yet
 * (held_here 0) allocate `bytes` each for `what` ("checkpoint 'X' (a copy of
 * its weights on every rank)"), records in err, on a node's first rank, that
 * the node's ranks would not fit. The caller agrees on err. */
void memplan_check_copy(size_t bytes, int held_here, const char *what, MPI_Comm comm, nn_err *err);

/* Testing hook (docs/reliability.md): NNMPI_TEST_MEM_AVAILABLE=BYTES, when
 * set, replaces what memplan_available reads (the source says so). */
#define NN_MEMPLAN_TEST_ENV "NNMPI_TEST_MEM_AVAILABLE"

#endif
