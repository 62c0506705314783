/*
 * mpi_pieces.h: collectives and messages of any length. MPI 3.1 (Open MPI
 * 4.1) counts elements in int, so a gradient of more than 2^31 - 1 floats
 * (a 537-million-parameter layer is 2^29; a 2-billion one is not) cannot go
 * in one call. These helpers split a size_t count into pieces of at most
 * nn_mpi_piece_max elements, one call each, in order; every rank splits the
 * same count the same way, so the calls match one by one.
 *
 * Each piece is summed, sent or broadcast on its own: for the element-wise
 * sum that is the same arithmetic as one call, and the reductions whose
 * order nnmpi fixes (the ring, the tree, shm's slices) keep their order.
 */
#ifndef NN_MPI_PIECES_H
#define NN_MPI_PIECES_H

#include <mpi.h>
#include <stddef.h>

/* The most elements one MPI call moves: INT_MAX by default. Tests set it
 * small (before the reducer is created: persistent requests are built then)
 * to run the split paths without gigabytes. */
extern size_t nn_mpi_piece_max;

/* nn_mpi_piece_max clamped to [1, INT_MAX]: the piece length in use. */
size_t nn_pieces_max(void);

/* How many pieces `count` elements take (0 for 0). */
size_t nn_pieces_count(size_t count);

/* In-place MPI_Allreduce of buf[0, count) over comm, piece by piece. */
void nn_allreduce_pieces(void *buf, size_t count, MPI_Datatype type, MPI_Op op, MPI_Comm comm);

/* MPI_Bcast of buf[0, count) from root, piece by piece. */
void nn_bcast_pieces(void *buf, size_t count, MPI_Datatype type, int root, MPI_Comm comm);

/* MPI_Send / MPI_Recv of count elements, piece by piece (tags as given). */
void nn_send_pieces(const void *buf, size_t count, MPI_Datatype type, int dest, int tag, MPI_Comm comm);
void nn_recv_pieces(void *buf, size_t count, MPI_Datatype type, int source, int tag, MPI_Comm comm);

/* MPI_Sendrecv of send_count and recv_count elements with one peer, piece by
 * piece: the peer's send_count must be this rank's recv_count (and back). */
void nn_sendrecv_pieces(const void *send, size_t send_count, void *recv, size_t recv_count, MPI_Datatype type,
                        int peer, int tag, MPI_Comm comm);

#endif
