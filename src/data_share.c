/*
 * data_share.c: the data sets, one copy per node in an MPI-3 shared window
 * or one per rank (data_share.h).
 *
 * Who writes, and when the others read (docs/design.md): only the node's
 * first rank stores into the window, between its allocation and one node
 * barrier; every rank holds a passive epoch (MPI_Win_lock_all) over that
 * time. The writer's MPI_Win_sync completes its stores before the barrier,
 * each reader's MPI_Win_sync after it makes them visible to its loads (MPI
 * 3.1, 11.5.4 and 11.7); no rank reads the window before the barrier, and
 * nothing writes it after, so the epoch ends there and the data are plain
 * read-only memory until MPI_Win_free.
 */
#include "data_share.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "nn_check.h"
#include "options.h"
#include "shm.h"

#define ALIGN 64 /* each array on a cache line of its own (and float-aligned) */

/* alloc_window_'s answer under --share-data auto when some node's /dev/shm lacks room (not an exit status). */
enum { DATA_SHARE_NO_ROOM = -1 };

/* What the node's first rank tells the others once the window is filled:
 * each set's geometry and where its arrays are. */
typedef struct {
    idx_set sets[NN_DATA_MAX_SETS];  /* counts and geometry; the array pointers are not used */
    size_t images_at[NN_DATA_MAX_SETS], labels_at[NN_DATA_MAX_SETS]; /* byte offsets; SIZE_MAX: none */
    size_t bytes;                    /* the window's size */
} layout_;

/* A failed request's message says which option or file it was about. */
static void prefix_(nn_err *err, int rc, const nn_data_request *req)
{
    if (rc == IDX_ERR_TOO_FEW && req->too_few) nn_err_prefix(err, "%s: ", req->too_few);
    else if (req->prefix) nn_err_prefix(err, "%s", req->prefix);
}

/* --share-data rank: every rank reads its own copy into malloc'ed memory. */
static int load_private_(const nn_data_request *req, int n, MPI_Comm comm)
{
    nn_err err = {0};
    for (int i = 0; i < n && !err.failed; i++) {
        int rc = req[i].labels ? idx_load(req[i].images, req[i].labels, req[i].keep, req[i].set, &err)
                               : idx_load_images(req[i].images, req[i].set, &err);
        if (rc != 0) prefix_(&err, rc, &req[i]);
    }
    int status = nn_err_agree(&err, NN_EXIT_ERROR, comm);
    for (int i = 0; i < n && status; i++) idx_free(req[i].set);
    return status;
}

static size_t aligned_(size_t at) { return (at + ALIGN - 1) / ALIGN * ALIGN; }

/* The node's first rank: opens every file and checks its header (nothing
 * is read or allocated yet), and places each set's arrays in the window.
 * rd[i] holds the image and label readers of request i (NULL: none). */
static void open_files_(const nn_data_request *req, int n, idx_reader *rd[][2], layout_ *lay, nn_err *err)
{
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        int rc = idx_open(req[i].images, 1, req[i].keep, &rd[i][0], err);
        if (rc == 0 && req[i].labels) rc = idx_open(req[i].labels, 0, req[i].keep, &rd[i][1], err);
        if (rc == 0 && req[i].labels) rc = idx_check_counts(rd[i][0], rd[i][1], err);
        if (rc != 0) {
            prefix_(err, rc, &req[i]);
            return;
        }
        lay->images_at[i] = at;
        at = aligned_(at + idx_reader_bytes(rd[i][0]));
        lay->labels_at[i] = rd[i][1] ? at : SIZE_MAX;
        if (rd[i][1]) at = aligned_(at + idx_reader_bytes(rd[i][1]));
    }
    lay->bytes = at;
}

/* Collective over comm: the window, `bytes` on the node's first rank and
 * none on the others, once that rank has found room for it in shm_dir()
 * (shm.h: a window that does not fit would end in SIGBUS, not an error);
 * the first rank's pages are then backed at once, where running out of
 * room is still an error code. Returns 0 or the agreed status. */
static int alloc_window_(nn_data_share *ds, size_t bytes, int share, MPI_Comm comm)
{
    nn_err err = {0};
    size_t need = shm_window_room(shm_pages(bytes), ds->local_size);
    const char *why = NULL; /* the directory cannot hold a window at all: missing, not writable */
    size_t room = ds->local_rank == 0 ? shm_free_bytes(&why) : SIZE_MAX;
    int fits = room == SIZE_MAX || room >= need, all = 0;
    char lack[160], fix[PATH_MAX + 96]; /* what is wrong with the node's backing directory, and what to do */
    const char *dir = shm_dir();
    if (why) {
        snprintf(lack, sizeof lack, "which cannot hold it (%s)", why);
        snprintf(fix, sizeof fix, "point Open MPI's osc_sm_backing_directory at a writable directory");
    } else {
        snprintf(lack, sizeof lack, "which has %zu bytes free", room);
        snprintf(fix, sizeof fix, "give %s more space (or point Open MPI's osc_sm_backing_directory elsewhere)", dir);
    }
    MPI_CHECK(MPI_Allreduce(&fits, &all, 1, MPI_INT, MPI_MIN, comm));
    if (!all && share == NN_SHARE_AUTO) { /* the caller reads a copy per rank; the first node short of room says so */
        if (!fits)
            fprintf(stderr, "nnmpi: note: --share-data auto: the node's shared copy of the data needs %zu bytes in %s, "
                            "%s: every rank reads its own copy (--share-data rank); %s for one copy per node\n",
                    need, dir, lack, fix);
        return DATA_SHARE_NO_ROOM;
    }
    if (!fits)
        nn_err_set(&err, "--share-data node: the node's shared copy of the data needs %zu bytes in %s, %s; %s, or "
                         "use --share-data rank (every rank reads its own copy into its own memory)",
                   need, dir, lack, fix);
    int status = nn_err_agree(&err, NN_EXIT_ERROR, comm);
    if (status) return status;
    uint8_t *mine = NULL;
    int rc = MPI_Win_allocate_shared((MPI_Aint)(ds->local_rank == 0 ? bytes : 0), 1, MPI_INFO_NULL, ds->node, &mine,
                                     &ds->win);
    if (rc != MPI_SUCCESS) { /* some ranks may hold a window, others none: no collective way back */
        char text[MPI_MAX_ERROR_STRING] = "";
        int len = 0;
        MPI_Error_string(rc, text, &len);
        nn_die(NN_EXIT_ERROR, "--share-data node: cannot allocate the node's %zu-byte shared window for the data (%s); "
                              "is %s large enough? --share-data rank needs none", bytes, text, shm_dir());
    }
    ds->has_win = 1;
    MPI_CHECK(MPI_Win_set_errhandler(ds->win, MPI_ERRORS_RETURN));
    if (ds->local_rank == 0 && shm_populate(mine, bytes) != 0)
        nn_file_fail_(&err, __FILE__, __LINE__, "--share-data node: cannot back the node's %zu-byte shared copy of "
                      "the data in %s; is it full? Free space there, or use --share-data rank", bytes, shm_dir());
    return nn_err_agree(&err, NN_EXIT_ERROR, comm);
}

/* Collective: the node's first rank decodes every file into its place in
 * the window, inside the passive epoch and barrier that make its stores
 * visible to the other ranks' loads (the file's comment). Returns 0 or the
 * agreed status. */
static int fill_window_(const nn_data_request *req, int n, idx_reader *rd[][2], const layout_ *lay,
                        nn_data_share *ds, MPI_Comm comm)
{
    nn_err err = {0};
    MPI_Aint size = 0;
    int unit = 0;
    uint8_t *base = NULL;
    MPI_CHECK(MPI_Win_shared_query(ds->win, 0, &size, &unit, &base));
    MPI_CHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, ds->win));
    for (int i = 0; ds->local_rank == 0 && i < n && !err.failed; i++) {
        if (idx_read_into(rd[i][0], base + lay->images_at[i], req[i].set, &err) != 0 ||
            (rd[i][1] && idx_read_into(rd[i][1], base + lay->labels_at[i], req[i].set, &err) != 0))
            prefix_(&err, IDX_ERR_FILE, &req[i]);
    }
    MPI_CHECK(MPI_Win_sync(ds->win)); /* the writer's stores complete */
    int status = nn_err_agree(&err, NN_EXIT_ERROR, comm);
    MPI_CHECK(MPI_Barrier(ds->node)); /* the node's one synchronisation between the writes and the reads */
    MPI_CHECK(MPI_Win_sync(ds->win)); /* a reader's loads see them */
    MPI_CHECK(MPI_Win_unlock_all(ds->win));
    return status;
}

/* Every rank: the layout from the node's first rank, and its sets pointed
 * into the window (borrowed: the window is freed by data_share_free). */
static void publish_(const nn_data_request *req, int n, layout_ *lay, nn_data_share *ds)
{
    for (int i = 0; ds->local_rank == 0 && i < n; i++) lay->sets[i] = *req[i].set;
    MPI_CHECK(MPI_Bcast(lay, sizeof *lay, MPI_BYTE, 0, ds->node)); /* one node, one binary: the struct as bytes */
    MPI_Aint size = 0;
    int unit = 0;
    uint8_t *base = NULL;
    MPI_CHECK(MPI_Win_shared_query(ds->win, 0, &size, &unit, &base));
    ds->bytes = lay->bytes;
    for (int i = 0; i < n; i++) {
        idx_set *set = req[i].set;
        *set = lay->sets[i];
        set->borrowed = 1;
        set->pixels = set->type == IDX_TYPE_UBYTE ? base + lay->images_at[i] : NULL;
        set->values = set->type == IDX_TYPE_FLOAT32 ? (float *)(void *)(base + lay->images_at[i]) : NULL;
        set->labels = lay->labels_at[i] != SIZE_MAX ? base + lay->labels_at[i] : NULL;
    }
}

int data_load(const nn_data_request *req, int n, int share, nn_data_share *ds, MPI_Comm comm)
{
    memset(ds, 0, sizeof *ds);
    for (int i = 0; i < n; i++) memset(req[i].set, 0, sizeof *req[i].set);
    if (share == NN_SHARE_RANK) return load_private_(req, n, comm);
    MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &ds->node));
    ds->has_node = 1;
    MPI_CHECK(MPI_Comm_rank(ds->node, &ds->local_rank));
    MPI_CHECK(MPI_Comm_size(ds->node, &ds->local_size));
    int most = 0; /* one rank on every node (-n 1 too): nothing to share, and no /dev/shm needed */
    MPI_CHECK(MPI_Allreduce(&ds->local_size, &most, 1, MPI_INT, MPI_MAX, comm));
    if (most == 1) {
        data_share_free(ds);
        return load_private_(req, n, comm);
    }
    idx_reader *rd[NN_DATA_MAX_SETS][2] = {{NULL}};
    layout_ lay;
    memset(&lay, 0, sizeof lay);
    nn_err err = {0};
    if (ds->local_rank == 0) open_files_(req, n, rd, &lay, &err);
    int status = nn_err_agree(&err, NN_EXIT_ERROR, comm);
    if (status == 0) status = alloc_window_(ds, lay.bytes, share, comm);
    if (status == 0) status = fill_window_(req, n, rd, &lay, ds, comm);
    for (int i = 0; i < n; i++) idx_close(rd[i][0]), idx_close(rd[i][1]);
    if (status == DATA_SHARE_NO_ROOM) { /* auto: no room on some node, so a copy per rank everywhere */
        data_share_free(ds);
        return load_private_(req, n, comm);
    }
    if (status == 0) {
        publish_(req, n, &lay, ds);
        return 0;
    }
    for (int i = 0; i < n; i++) memset(req[i].set, 0, sizeof *req[i].set); /* views of the window, or nothing */
    data_share_free(ds);
    return status;
}

void data_share_free(nn_data_share *ds)
{
    if (ds->has_win) MPI_CHECK(MPI_Win_free(&ds->win));
    if (ds->has_node) MPI_CHECK(MPI_Comm_free(&ds->node));
    memset(ds, 0, sizeof *ds);
}
