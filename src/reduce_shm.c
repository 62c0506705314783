/*
 * reduce_shm.c: --allreduce shm, the reducer's buffer summed through shared
 * memory within a node, and by MPI across nodes: the node's window and its
 * flag barrier, and the whole allreduce through it. What a training step
 * exchanges through the node's windows (the sharded update, overlap across
 * nodes, the factor exchange) is reduce_shm_step.c.
 *
 * Every rank's buffer is its segment of one MPI-3 shared window of the node
 * (MPI_Win_allocate_shared), so backward writes its gradient straight into
 * memory the node's other ranks can read. The whole allreduce (`whole_`:
 * start-up's timings and the overlap reference) is: barrier; each rank adds
 * its slice of all R segments into its own; across nodes the ranks of the
 * same local index sum their slices with MPI_Allreduce; barrier; each rank
 * copies every other slice into its segment; barrier.
 *
 * Memory model: the windows are locked once (MPI_Win_lock_all with
 * MPI_MODE_NOCHECK) and every phase change is a barrier of flags in the
 * window (reduce_shm_sync): MPI_Win_sync, publish this rank's count, wait for
 * every other rank's, MPI_Win_sync; the syncs order this rank's stores
 * before its flag and the other ranks' loads after theirs, which is what
 * MPI-3 asks of load/store access to a shared window in the unified model
 * (MPI 3.1, 11.5.4 and 11.7; checked at start-up). docs/design.md says who
 * reads and writes what between the barriers.
 */
#include <errno.h>
#include <stdio.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpi_pieces.h"
#include "nn_check.h"
#include "options.h"
#include "reduce.h"
#include "reduce_shm.h"
#include "shm.h"
#include "vec.h"

/* A rank's flag is shared between processes: only a lock-free atomic is one word of memory, not a lock in this process. */
_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "unsigned long atomics must be lock-free");

/* A wait polls this often before it starts yielding the core (a step's
 * barrier is usually over within them; not at all when the node has more
 * ranks than cores, where the rank waited for may need this very core);
 * yields for this long before it sleeps; and sleeps this long between looks. */
enum { SPIN_POLLS = 2000 };
#define YIELD_S 1e-3
#define SLEEP_NS 50000L

/* Each segment: the buffer's n floats, then one cache line of its own with
 * the rank's flag, so polling it does not steal the line a rank sums in. */
static size_t flag_offset_(size_t n) { return (sizeof(float) * n + 63) / 64 * 64; }
static size_t segment_bytes_(size_t n) { return flag_offset_(n) + 64; }
static atomic_ulong *flag_(const nn_reducer *r, int q)
{
    return (atomic_ulong *)((char *)r->segment[q] + flag_offset_(r->n));
}
/* The sharded update's verdict of rank q (1: a parameter of its part is no
 * longer finite), in the flag's line: written just before the flag, read after it. */
atomic_ulong *reduce_shm_verdict(const nn_reducer *r, int q) { return flag_(r, q) + 1; }

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

/* The window is a file in a tmpfs that Open MPI may create sparse: a window
 * that does not fit would "allocate" and then kill a rank with SIGBUS at its
 * first store to a missing page, mid-training. So local rank 0 checks the
 * free space for the whole node's window before the allocation, and every
 * rank agrees on the outcome: with --allreduce shm one message and the same
 * status everywhere; with auto, 0 (and why in r->note), for mpi instead. */
static int window_fits_(nn_reducer *r, size_t bytes)
{
    nn_err err = {0};
    size_t pages = shm_pages(bytes), R = (size_t)r->local_size;
    size_t need = pages > SIZE_MAX / R ? SIZE_MAX : shm_window_room(R * pages, r->local_size); /* each its own pages */
    const char *why = NULL, *dir = shm_dir(); /* why: the directory cannot hold a window at all */
    size_t room = r->local_rank == 0 ? shm_free_bytes(&why) : SIZE_MAX;
    if (why)
        nn_err_set(&err,
                   "--allreduce shm: the node's shared-memory window needs %zu bytes in %s, which cannot hold it "
                   "(%s); point Open MPI's osc_sm_backing_directory at a writable directory, or use --allreduce "
                   "mpi, which needs none",
                   need, dir, why);
    else if (room != SIZE_MAX && room < need)
        nn_err_set(&err,
                   "--allreduce shm: the node's shared-memory window needs %zu bytes (%zu per rank x %d ranks, and "
                   "Open MPI's margin) but %s has %zu bytes free; give %s more space (or set Open MPI's "
                   "osc_sm_backing_directory), or use --allreduce mpi, which needs none",
                   need, bytes, r->local_size, dir, room, dir);
    if (!r->auto_pick) {
        agree_or_exit_(&err, r->comm, NULL);
        return 1;
    }
    int lacking = why ? 2 : err.failed, worst = 0; /* 1: too small, 2: unusable, on some node */
    MPI_CHECK(MPI_Allreduce(&lacking, &worst, 1, MPI_INT, MPI_MAX, r->comm));
    if (worst == 2) snprintf(r->note, sizeof r->note, "auto: %s cannot hold the shared window", dir);
    else if (worst) snprintf(r->note, sizeof r->note, "auto: %s is too small for the shared window (%zu bytes)", dir, need);
    return worst == 0;
}

/* Backs this rank's segment with real pages now, where a failure is an
 * error code (MADV_POPULATE_WRITE, Linux 5.14) rather than a SIGBUS later:
 * the space checked above may have been taken by someone else since. */
void reduce_shm_populate(nn_reducer *r, float *mine, size_t bytes, MPI_Win *win)
{
    nn_err err = {0};
    if (shm_populate(mine, bytes) != 0)
        nn_err_set(&err,
                   "--allreduce shm: cannot back this rank's %zu-byte part of the shared-memory window in %s (%s); "
                   "is it full? Free space there, or use --allreduce mpi, which needs none",
                   bytes, shm_dir(), strerror(errno));
    agree_or_exit_(&err, r->comm, win);
}

/* The node's window: one segment of n floats per rank, each mapped here. */
static float *alloc_sums_(nn_reducer *r)
{
    MPI_Info info;
    float *mine = NULL;
    size_t bytes = segment_bytes_(r->n);
    MPI_CHECK(MPI_Comm_split_type(r->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &r->node));
    MPI_CHECK(MPI_Comm_rank(r->node, &r->local_rank));
    MPI_CHECK(MPI_Comm_size(r->node, &r->local_size));
    r->spin_polls = r->local_size > sysconf(_SC_NPROCESSORS_ONLN) ? 0 : SPIN_POLLS;
    if (!window_fits_(r, bytes)) {
        MPI_CHECK(MPI_Comm_free(&r->node));
        return NULL;
    }
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
               bytes, text, shm_dir());
    }
    MPI_CHECK(MPI_Win_set_errhandler(r->win, MPI_ERRORS_RETURN));
    int *model = NULL, found = 0;
    MPI_CHECK(MPI_Win_get_attr(r->win, MPI_WIN_MODEL, &model, &found));
    if (!found || *model != MPI_WIN_UNIFIED) /* the flags of reduce_shm_sync need one copy of the memory */
        nn_die(NN_EXIT_ERROR, "--allreduce shm: this MPI's shared windows use the separate memory model, which "
                              "nnmpi's flag barrier does not support; use --allreduce mpi");
    reduce_shm_populate(r, mine, bytes, &r->win);
    r->segment = NN_MALLOC(sizeof(float *) * (size_t)r->local_size);
    for (int q = 0; q < r->local_size; q++) {
        MPI_Aint seg_bytes = 0;
        int unit = 0;
        MPI_CHECK(MPI_Win_shared_query(r->win, q, &seg_bytes, &unit, &r->segment[q]));
    }
    MPI_CHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, r->win));
    atomic_store_explicit(flag_(r, r->local_rank), 0, memory_order_release); /* a window starts undefined */
    MPI_CHECK(MPI_Win_sync(r->win));
    MPI_CHECK(MPI_Barrier(r->node)); /* every flag is 0 before anyone waits on one */
    MPI_CHECK(MPI_Win_sync(r->win));
    return mine;
}

static void create_(nn_reducer *r)
{
    int world_rank = 0;
    MPI_CHECK(MPI_Comm_rank(r->comm, &world_rank));
    MPI_CHECK(MPI_Comm_split(r->comm, r->local_rank, world_rank, &r->across));
    MPI_CHECK(MPI_Comm_size(r->across, &r->nodes));
    if (r->nodes == 1) r->overlap = 0; /* nothing to hide within a node: the cores that would sum compute backward */
    if (!r->overlap) return;
    /* overlap across nodes (start_group_): a request per piece of each group's part, and one for the control slots */
    for (int l = 0; l < r->n_layers; l++) {
        r->req_lo[l] = r->n_req;
        if (r->group_hi[l] > 0) r->n_req += (int)nn_pieces_count(r->group_hi[l] - r->seg_lo[l]);
    }
    r->n_req++;
    r->req = NN_MALLOC(sizeof(MPI_Request) * (size_t)r->n_req);
    for (int i = 0; i < r->n_req; i++) r->req[i] = MPI_REQUEST_NULL;
}

static void free_(nn_reducer *r)
{
    MPI_Win_unlock_all(r->win);
    MPI_Win_free(&r->win); /* the buffer was the window's */
    MPI_Comm_free(&r->across);
    MPI_Comm_free(&r->node);
    free(r->segment);
    free(r->req);
    r->req = NULL, r->n_req = 0;
    r->segment = NULL, r->phase = 0; /* auto may go on with mpi in this reducer */
}

/* Waits until rank q has passed barrier `phase`. Polls while the wait is
 * short, as a step's barrier usually is; then yields the core, and after
 * YIELD_S sleeps between looks: on an oversubscribed node (more ranks, or
 * other work, than cores) a waiting rank that keeps polling takes the core
 * the rank it waits for needs to finish, and a long wait (the other rank
 * writes a checkpoint) should cost no core at all. MPI_Win_sync in the loop
 * is the MPI-3 rule for polling a location another process stores to. */
static void wait_flag_(const nn_reducer *r, int q, unsigned long phase)
{
    atomic_ulong *flag = flag_(r, q);
    double since = 0.0;
    for (long polls = 0; atomic_load_explicit(flag, memory_order_acquire) < phase; polls++) {
        MPI_CHECK(MPI_Win_sync(r->win));
        if (polls < r->spin_polls) continue;
        if (polls == r->spin_polls) since = MPI_Wtime();
        if (MPI_Wtime() - since < YIELD_S) {
            sched_yield();
        } else {
            struct timespec pause = {0, SLEEP_NS};
            nanosleep(&pause, NULL);
        }
    }
}

/* The node's barrier, by flags in the window instead of MPI_Barrier (whose
 * wait in Open MPI 4.1 polls without end): every rank's stores before it are
 * visible to every rank's loads after it. Each rank's flag counts the
 * barriers it has passed; a rank publishes its count after MPI_Win_sync (its
 * stores complete first), waits until every flag has reached it, then
 * MPI_Win_sync again (the others' stores visible to its loads). Counts only
 * grow, so a fast rank already at the next barrier still satisfies this one. */
static void sync_windows_(nn_reducer *r)
{
    MPI_CHECK(MPI_Win_sync(r->win));
    if (r->shard) MPI_CHECK(MPI_Win_sync(r->model_win));
    if (r->factors) MPI_CHECK(MPI_Win_sync(r->batch_win));
}

void reduce_shm_sync(nn_reducer *r)
{
    unsigned long phase = ++r->phase;
    sync_windows_(r);
    atomic_store_explicit(flag_(r, r->local_rank), phase, memory_order_release);
    for (int q = 0; q < r->local_size; q++)
        if (q != r->local_rank) wait_flag_(r, q, phase);
    sync_windows_(r);
}

static void whole_(nn_reducer *r)
{
    int me = r->local_rank, R = r->local_size;
    float *mine = r->segment[me];
    size_t lo = r->n * (size_t)me / (size_t)R, hi = r->n * (size_t)(me + 1) / (size_t)R;
    reduce_shm_sync(r); /* every gradient is written */
    for (int q = 0; q < R; q++)
        if (q != me) vec_add(mine + lo, r->segment[q] + lo, hi - lo);
    if (r->nodes > 1)
        nn_allreduce_pieces(mine + lo, hi - lo, MPI_FLOAT, MPI_SUM, r->across);
    reduce_shm_sync(r); /* every slice is summed */
    for (int q = 0; q < R; q++) {
        size_t q_lo = r->n * (size_t)q / (size_t)R, q_hi = r->n * (size_t)(q + 1) / (size_t)R;
        if (q != me) memcpy(mine + q_lo, r->segment[q] + q_lo, sizeof(float) * (q_hi - q_lo));
    }
    reduce_shm_sync(r); /* every rank has copied: segments may be written again */
}

/* Overlap is only ever on across nodes (create_), and needs the sharded
 * update; without it (no room for the weights' window) the groups are
 * summed at once, at the end. */
static void start_group_(nn_reducer *r, int layer)
{
    if (r->shard) reduce_shm_start_part_group(r, layer);
}
static void wait_groups_(nn_reducer *r) { whole_(r); }

const nn_reduce_method nn_reduce_shm = {.alloc_sums = alloc_sums_,
                                        .create = create_,
                                        .free = free_,
                                        .start_group = start_group_,
                                        .wait_groups = wait_groups_,
                                        .whole = whole_,
                                        .share_model = reduce_shm_share_model,
                                        .sum_part = reduce_shm_sum_part,
                                        .end_update = reduce_shm_end_update,
                                        .free_model = reduce_shm_free_model,
                                        .share_batch = reduce_shm_share_batch,
                                        .sum_ctrl = reduce_shm_sum_ctrl,
                                        .node_barrier = reduce_shm_sync,
                                        .free_batch = reduce_shm_free_batch};
