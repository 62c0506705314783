/*
 * nn_check.h: checked calls, one macro per library, and the error record used
 * where a failure must be agreed on by all ranks before anyone exits.
 *
 * MPI_CHECK(call)       an MPI call; on failure prints file:line, the rank and
 *                       MPI_Error_string, then MPI_Abort()s the whole job.
 * NN_MALLOC(n)          malloc that aborts the job on failure (checked).
 * H5_TRY(err, call)     an HDF5 call inside a function with an `error:` label:
 *                       on failure records file:line and HDF5's own error
 *                       text into `err` and jumps to `error` (HDF5 code
 *                       cleans up its handles there; see checkpoint.c).
 * FILE_TRY(err, cond, ...)  a stdio/POSIX result: when `cond` is false, records
 *                       the message, strerror(errno), and jumps to `error`.
 *
 * A failure that every rank must learn of before anyone exits (bad data on
 * one rank, a checkpoint rank 0 could not write) goes into an nn_err, and
 * nn_err_agree() turns the ranks' errs into one status for all.
 */
#ifndef NN_CHECK_H
#define NN_CHECK_H

#include <mpi.h>
#include <stddef.h>

/* Why a run failed, with a message fit for the user; `failed` is 0 while all is well. */
typedef struct {
    int failed;
    char msg[1024];
} nn_err;

/* Records a printf-style message in `err` (the first one wins). */
void nn_err_set(nn_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Puts a printf-style prefix in front of the message already in `err`. */
void nn_err_prefix(nn_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What a file that is not a regular file is, for messages: "a symbolic
 * link", "a directory", "a FIFO" or "a device or socket" (st_mode of lstat/fstat). */
const char *nn_file_kind(unsigned mode);

/* Collective over comm: every rank passes its own err. When any failed, the
 * lowest failing rank prints its message ("nnmpi: error: ...", with its rank
 * when it is not rank 0) and every rank returns `status`; else all return 0. */
int nn_err_agree(const nn_err *err, int status, MPI_Comm comm);

/* Ends the whole job: prints "nnmpi: error: <msg>" with the rank and calls MPI_Abort(status). */
_Noreturn void nn_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

_Noreturn void nn_mpi_fail_(int code, const char *call, const char *file, int line);
void *nn_malloc_(size_t bytes, const char *what, const char *file, int line);
void nn_h5_fail_(nn_err *err, const char *call, const char *file, int line);
void nn_file_fail_(nn_err *err, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define MPI_CHECK(call)                                                        \
    do {                                                                       \
        int mpi_rc_ = (call);                                                  \
        if (mpi_rc_ != 0) nn_mpi_fail_(mpi_rc_, #call, __FILE__, __LINE__);    \
    } while (0)

#define NN_MALLOC(bytes) nn_malloc_((bytes), #bytes, __FILE__, __LINE__)

#define H5_TRY(err, call)                                                      \
    do {                                                                       \
        if ((call) < 0) {                                                      \
            nn_h5_fail_((err), #call, __FILE__, __LINE__);                     \
            goto error;                                                        \
        }                                                                      \
    } while (0)

#define FILE_TRY(err, cond, ...)                                               \
    do {                                                                       \
        if (!(cond)) {                                                         \
            nn_file_fail_((err), __FILE__, __LINE__, __VA_ARGS__);             \
            goto error;                                                        \
        }                                                                      \
    } while (0)

#endif
