/*
 * reduce_shm.c: --allreduce shm, the reducer's buffer summed through shared
 * memory within a node, and by MPI across nodes.
 *
 * Every rank's buffer is its segment of one MPI-3 shared window of the node
 * (MPI_Win_allocate_shared), so backward writes its gradient straight into
 * memory the node's other ranks can read. A step's sum, with R ranks on the
 * node: each rank adds its 1/R slice of all R segments into its own segment
 * (rank by rank, so each slice is summed by one rank only and every rank
 * later copies the same bits); across nodes, the ranks of the same local
 * index sum their slices with MPI_Allreduce (every node's ranks drive the
 * network in parallel, each with 1/R of the data); then each rank copies the
 * other slices from their owners' segments into its own.
 *
 * Memory model: the window is locked once (MPI_Win_lock_all with
 * MPI_MODE_NOCHECK) and every phase change is MPI_Win_sync, MPI_Barrier on
 * the node, MPI_Win_sync: the sync orders this rank's stores before the
 * barrier and the other ranks' loads after it, which is what MPI-3's rules
 * for the unified and separate models ask of load/store access to a shared
 * window (MPI 3.1, 11.5.4 and 11.7). Three barriers a step: before summing
 * (all gradients written), before copying (all slices summed), and after
 * copying (no rank overwrites its segment in the next step while another
 * still reads it).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "nn_check.h"
#include "options.h"
#include "reduce.h"
#include "vec.h"

/* A start-up failure every rank has agreed on: reducer_create has no status
 * to return, and all ranks know, so they end together with the same status
 * (a clean MPI_Finalize, not MPI_Abort's kill). */
static void agree_or_exit_(const nn_err *err, MPI_Comm comm, MPI_Win *win)
{
    if (nn_err_agree(err, NN_EXIT_ERROR, comm) == 0) return;
    if (win) MPI_CHECK(MPI_Win_free(win));
    MPI_CHECK(MPI_Finalize());
    exit(NN_EXIT_ERROR);
}

/* Where Open MPI 4.1 backs a shared window (its osc_sm_backing_directory,
 * whose default is /dev/shm on Linux); --mca sets it in the ranks' environment. */
static const char *backing_dir_(void)
{
    const char *dir = getenv("OMPI_MCA_osc_sm_backing_directory");
    return dir && *dir ? dir : "/dev/shm";
}

/* The window is a file in a tmpfs that Open MPI may create sparse: a window
 * that does not fit would "allocate" and then kill a rank with SIGBUS at its
 * first store to a missing page, mid-training. So local rank 0 checks the
 * free space for the whole node's window before the allocation, and every
 * rank agrees on the outcome: one message, the same status everywhere. */
static void check_space_(nn_reducer *r, size_t bytes)
{
    nn_err err = {0};
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t need = (size_t)r->local_size * ((bytes + page - 1) / page * page + page); /* a state page per rank */
    struct statvfs vfs;
    const char *dir = backing_dir_();
    if (r->local_rank == 0 && statvfs(dir, &vfs) == 0 && (size_t)vfs.f_bavail * vfs.f_frsize < need)
        nn_err_set(&err,
                   "--allreduce shm: the node's shared-memory window needs %zu bytes (%zu per rank x %d ranks) but %s "
                   "has %zu bytes free; give %s more space (or set Open MPI's osc_sm_backing_directory), or use "
                   "--allreduce mpi, which needs none",
                   need, bytes, r->local_size, dir, (size_t)vfs.f_bavail * vfs.f_frsize, dir);
    agree_or_exit_(&err, r->comm, NULL);
}

/* Backs this rank's segment with real pages now, where a failure is an
 * error code (MADV_POPULATE_WRITE, Linux 5.14) rather than a SIGBUS later:
 * the space checked above may have been taken by someone else since. */
static void populate_(nn_reducer *r, float *mine, size_t bytes)
{
    nn_err err = {0};
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = (uintptr_t)mine & ~(page - 1);
    if (bytes > 0 && madvise((void *)lo, (uintptr_t)mine + bytes - lo, MADV_POPULATE_WRITE) != 0 && errno != EINVAL)
        nn_err_set(&err,
                   "--allreduce shm: cannot back this rank's %zu-byte part of the shared-memory window in %s (%s); "
                   "is it full? Free space there, or use --allreduce mpi, which needs none",
                   bytes, backing_dir_(), strerror(errno));
    agree_or_exit_(&err, r->comm, &r->win);
}

/* The node's window: one segment of n floats per rank, each mapped here. */
static float *alloc_sums_(nn_reducer *r)
{
    MPI_Info info;
    float *mine = NULL;
    size_t bytes = sizeof(float) * r->n;
    MPI_CHECK(MPI_Comm_split_type(r->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &r->node));
    MPI_CHECK(MPI_Comm_rank(r->node, &r->local_rank));
    MPI_CHECK(MPI_Comm_size(r->node, &r->local_size));
    check_space_(r, bytes);
    MPI_CHECK(MPI_Info_create(&info));
    MPI_CHECK(MPI_Info_set(info, "alloc_shared_noncontig", "true")); /* each segment near its rank's memory */
    int rc = MPI_Win_allocate_shared((MPI_Aint)bytes, sizeof(float), info, r->node, &mine, &r->win);
    MPI_CHECK(MPI_Info_free(&info));
    if (rc != MPI_SUCCESS) {
        char text[MPI_MAX_ERROR_STRING] = "";
        int len = 0;
        MPI_Error_string(rc, text, &len);
        nn_die(NN_EXIT_ERROR,
               "--allreduce shm: cannot allocate a shared-memory window of %zu bytes per rank on this node (%s); "
               "is %s large enough? --allreduce mpi needs none",
               bytes, text, backing_dir_());
    }
    MPI_CHECK(MPI_Win_set_errhandler(r->win, MPI_ERRORS_RETURN));
    populate_(r, mine, bytes);
    r->segment = NN_MALLOC(sizeof(float *) * (size_t)r->local_size);
    for (int q = 0; q < r->local_size; q++) {
        MPI_Aint seg_bytes = 0;
        int unit = 0;
        MPI_CHECK(MPI_Win_shared_query(r->win, q, &seg_bytes, &unit, &r->segment[q]));
    }
    MPI_CHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, r->win));
    return mine;
}

static void create_(nn_reducer *r)
{
    int world_rank = 0;
    MPI_CHECK(MPI_Comm_rank(r->comm, &world_rank));
    MPI_CHECK(MPI_Comm_split(r->comm, r->local_rank, world_rank, &r->across));
    MPI_CHECK(MPI_Comm_size(r->across, &r->nodes));
}

static void free_(nn_reducer *r)
{
    MPI_Win_unlock_all(r->win);
    MPI_Win_free(&r->win); /* the buffer was the window's */
    MPI_Comm_free(&r->across);
    MPI_Comm_free(&r->node);
    free(r->segment);
}

/* Every rank of the node has finished the phase before: its stores are visible to the others' loads. */
static void node_sync_(nn_reducer *r)
{
    MPI_CHECK(MPI_Win_sync(r->win));
    MPI_CHECK(MPI_Barrier(r->node));
    MPI_CHECK(MPI_Win_sync(r->win));
}

static void whole_(nn_reducer *r)
{
    int me = r->local_rank, R = r->local_size;
    float *mine = r->segment[me];
    size_t lo = r->n * (size_t)me / (size_t)R, hi = r->n * (size_t)(me + 1) / (size_t)R;
    node_sync_(r); /* every gradient is written */
    for (int q = 0; q < R; q++)
        if (q != me) vec_add(mine + lo, r->segment[q] + lo, hi - lo);
    if (r->nodes > 1)
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, mine + lo, (int)(hi - lo), MPI_FLOAT, MPI_SUM, r->across));
    node_sync_(r); /* every slice is summed */
    for (int q = 0; q < R; q++) {
        size_t q_lo = r->n * (size_t)q / (size_t)R, q_hi = r->n * (size_t)(q + 1) / (size_t)R;
        if (q != me) memcpy(mine + q_lo, r->segment[q] + q_lo, sizeof(float) * (q_hi - q_lo));
    }
    MPI_CHECK(MPI_Barrier(r->node)); /* every rank has copied: segments may be written again */
}

/* Within a node there is nothing to overlap with (the cores that would sum
 * are the ones computing backward): groups are summed at once, at the end. */
static void start_group_(nn_reducer *r, int layer) { (void)r, (void)layer; }
static void wait_groups_(nn_reducer *r) { whole_(r); }

const nn_reduce_method nn_reduce_shm = {alloc_sums_, create_, free_, start_group_, wait_groups_, whole_};
