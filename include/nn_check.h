/*
 * nn_check.h: checked calls, one macro per library, and the error record used
 * where a failure must be agreed on by all ranks before anyone exits.
 *
 * MPI_CHECK(call)       an MPI call; on failure prints file:line, the rank and
 *                       MPI_Error_string, then MPI_Abort()s the whole job.
 * ALLOC_CHECK(ptr)      a pointer from malloc/calloc; NULL aborts the job.
 * NN_MALLOC(n)          malloc that aborts the job on failure (checked).
 * H5_TRY(err, call)     an HDF5 call inside a function with an `error:` label:
 *                       on failure records file:line and HDF5's own error
 *                       text into `err` and jumps to `error` (HDF5 code
 *                       cleans up its handles there; see checkpoint.c).
 * FILE_TRY(err, cond, ...)  a stdio/POSIX result: when `cond` is false, records
 *                       the message, strerror(errno), and jumps to `error`.
 */
#ifndef NN_CHECK_H
#define NN_CHECK_H

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

#define ALLOC_CHECK(ptr)                                                       \
    do {                                                                       \
        if ((ptr) == NULL) nn_die(1, "%s:%d: out of memory (%s)", __FILE__, __LINE__, #ptr); \
    } while (0)

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

/* Hot elementwise loops are compiled for AVX-512 (x86-64-v4: F, DQ, BW, VL),
 * AVX2 and baseline x86-64, and the best is picked at load time, so one
 * portable binary still runs wide vectors. -ffp-contract=off (CMakeLists.txt)
 * keeps every clone's results bitwise the same: no clone may fuse a multiply
 * and an add. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NN_NO_CLONES)
#define NN_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define NN_VECTOR_CLONES
#endif

#endif
