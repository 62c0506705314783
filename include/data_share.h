/*
 * data_share.h: where the data sets live (--share-data, docs/design.md).
 *
 * node (the default): the node's first rank (local rank 0 of
 * MPI_COMM_TYPE_SHARED) opens the files, checks their headers, and decodes
 * them straight into one MPI-3 shared window; the node's other ranks map
 * that window and point their idx_set arrays into it. One copy per node,
 * read-only once loaded. rank: every rank reads its own copy (idx_load), as
 * nnmpi always did. The sets come out the same, bit for bit, either way.
 *
 * Failures (a bad file on a node's first rank, a window that does not fit in
 * Open MPI's backing directory) are agreed on by every rank: one message, the
 * same status, no hang (nn_err_agree).
 */
#ifndef NN_DATA_SHARE_H
#define NN_DATA_SHARE_H

#include <mpi.h>
#include <stddef.h>

#include "idx.h"

#define NN_DATA_MAX_SETS 2 /* the training set and the test set (or --predict's images) */

/* One set to load: an image file and its label file. */
typedef struct {
    const char *images, *labels; /* the files; labels NULL: images alone (--predict) */
    int keep;                    /* the first `keep` items; all when <= 0 */
    const char *too_few;         /* names `keep` when the files hold fewer ("--test-size") */
    const char *prefix;          /* put before any other message about these files ("--predict: "), or NULL */
    idx_set *set;                /* filled: its arrays malloc'ed (rank), or borrowed views of the window (node) */
} nn_data_request;

/* The node's window that the sets point into; owned by the trainer, freed
 * by data_share_free after the sets. All zero: nothing shared. */
typedef struct {
    int has_node, has_win;  /* node and win exist (a zeroed struct holds neither) */
    MPI_Comm node;          /* this node's ranks (MPI_COMM_TYPE_SHARED) */
    MPI_Win win;            /* (bytes) on the node's first rank, nothing on the others */
    int local_rank, local_size;
    size_t bytes;           /* the window: every set's arrays, each at a 64-byte boundary */
} nn_data_share;

/* Collective over comm: loads the n (<= NN_DATA_MAX_SETS) requests, a copy
 * per node (share NN_SHARE_NODE) or per rank (NN_SHARE_RANK); NN_SHARE_AUTO:
 * per node, or per rank (with a note) when some node's /dev/shm lacks room
 * for the window. With one rank on every node, per rank. Returns 0, or
 * NN_EXIT_ERROR on every rank after the lowest failing rank printed why (ds
 * and the sets are then empty). */
int data_load(const nn_data_request *req, int n, int share, nn_data_share *ds, MPI_Comm comm);

/* Collective over the ranks of the data_load that filled ds (MPI_Win_free):
 * frees the window and empties ds; the sets that point into it must not be
 * read afterwards (idx_free leaves their borrowed arrays alone). */
void data_share_free(nn_data_share *ds);

#endif
