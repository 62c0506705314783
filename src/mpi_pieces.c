/* mpi_pieces.c: MPI calls of size_t counts, split into int-sized pieces (mpi_pieces.h). */
#include "mpi_pieces.h"

#include <limits.h>

#include "nn_check.h"

size_t nn_mpi_piece_max = INT_MAX;

size_t nn_pieces_max(void)
{
    size_t max = nn_mpi_piece_max;
    return max == 0 ? 1 : max > (size_t)INT_MAX ? (size_t)INT_MAX : max;
}

size_t nn_pieces_count(size_t count) { return count / nn_pieces_max() + (count % nn_pieces_max() != 0); }

/* Bytes from one element to the next. */
static size_t extent_(MPI_Datatype type)
{
    MPI_Aint lb = 0, extent = 0;
    MPI_CHECK(MPI_Type_get_extent(type, &lb, &extent));
    return (size_t)extent;
}

/* Elements of piece k of count: the rest after k full pieces, at most one piece. */
static int piece_len_(size_t count, size_t k)
{
    size_t max = nn_pieces_max(), start = k * max;
    if (start >= count) return 0;
    return (int)(count - start < max ? count - start : max);
}

void nn_allreduce_pieces(void *buf, size_t count, MPI_Datatype type, MPI_Op op, MPI_Comm comm)
{
    char *p = buf;
    size_t step = extent_(type) * nn_pieces_max();
    for (size_t k = 0; k < nn_pieces_count(count); k++)
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p + k * step, piece_len_(count, k), type, op, comm));
}

void nn_bcast_pieces(void *buf, size_t count, MPI_Datatype type, int root, MPI_Comm comm)
{
    char *p = buf;
    size_t step = extent_(type) * nn_pieces_max();
    for (size_t k = 0; k < nn_pieces_count(count); k++)
        MPI_CHECK(MPI_Bcast(p + k * step, piece_len_(count, k), type, root, comm));
}

void nn_send_pieces(const void *buf, size_t count, MPI_Datatype type, int dest, int tag, MPI_Comm comm)
{
    const char *p = buf;
    size_t step = extent_(type) * nn_pieces_max();
    for (size_t k = 0; k < nn_pieces_count(count); k++)
        MPI_CHECK(MPI_Send(p + k * step, piece_len_(count, k), type, dest, tag, comm));
}

void nn_recv_pieces(void *buf, size_t count, MPI_Datatype type, int source, int tag, MPI_Comm comm)
{
    char *p = buf;
    size_t step = extent_(type) * nn_pieces_max();
    for (size_t k = 0; k < nn_pieces_count(count); k++)
        MPI_CHECK(MPI_Recv(p + k * step, piece_len_(count, k), type, source, tag, comm, MPI_STATUS_IGNORE));
}

void nn_sendrecv_pieces(const void *send, size_t send_count, void *recv, size_t recv_count, MPI_Datatype type,
                        int peer, int tag, MPI_Comm comm)
{
    const char *s = send;
    char *r = recv;
    size_t step = extent_(type) * nn_pieces_max(), n_send = nn_pieces_count(send_count);
    size_t n_recv = nn_pieces_count(recv_count), n = n_send > n_recv ? n_send : n_recv;
    /* piece k of this rank's send is piece k of the peer's receive: empty pieces still pair up */
    for (size_t k = 0; k < n; k++)
        MPI_CHECK(MPI_Sendrecv(k < n_send ? s + k * step : s, piece_len_(send_count, k), type, peer, tag,
                               k < n_recv ? r + k * step : r, piece_len_(recv_count, k), type, peer, tag, comm,
                               MPI_STATUS_IGNORE));
}
