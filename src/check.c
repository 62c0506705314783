/* check.c: the failure paths behind the checked-call macros of nn_check.h. */
#include "nn_check.h"

#include <errno.h>
#include <hdf5.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int world_rank_(void)
{
    int initialized = 0, finalized = 0, rank = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

_Noreturn static void abort_job_(int status)
{
    int initialized = 0, finalized = 0;
    fflush(stdout);
    fflush(stderr);
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, status);
    exit(status);
}

void nn_err_set(nn_err *err, const char *fmt, ...)
{
    if (err->failed) return; /* keep the first, most specific cause */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->failed = 1;
}

void nn_err_prefix(nn_err *err, const char *fmt, ...)
{
    char prefix[sizeof err->msg], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    memcpy(old, err->msg, sizeof old);
    size_t plen = strlen(prefix), room = sizeof err->msg - 1;
    if (plen > room) plen = room;
    memcpy(err->msg, prefix, plen);
    size_t olen = strnlen(old, sizeof old);
    if (olen > room - plen) olen = room - plen;
    memcpy(err->msg + plen, old, olen);
    err->msg[plen + olen] = '\0';
}

const char *nn_file_kind(unsigned mode)
{
    return S_ISLNK(mode) ? "a symbolic link" : S_ISDIR(mode) ? "a directory" : S_ISFIFO(mode) ? "a FIFO"
                                                                                 : "a device or socket";
}

int nn_err_agree(const nn_err *err, int status, MPI_Comm comm)
{
    int rank = 0, nranks = 1;
    MPI_CHECK(MPI_Comm_rank(comm, &rank));
    MPI_CHECK(MPI_Comm_size(comm, &nranks));
    int mine = err->failed ? rank : nranks, first = nranks;
    MPI_CHECK(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm));
    if (first == nranks) return 0;
    if (rank == first) {
        if (first != 0)
            fprintf(stderr, "nnmpi: error (rank %d): %s\n", first, err->msg);
        else
            fprintf(stderr, "nnmpi: error: %s\n", err->msg);
        fflush(stderr);
    }
    return status;
}

_Noreturn void nn_die(int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "nnmpi: error (rank %d): %s\n", world_rank_(), msg);
    abort_job_(status);
}

_Noreturn void nn_mpi_fail_(int code, const char *call, const char *file, int line)
{
    char text[MPI_MAX_ERROR_STRING] = "unknown MPI error";
    int len = 0;
    MPI_Error_string(code, text, &len);
    nn_die(1, "%s:%d: %s failed: %s", file, line, call, text);
}

void *nn_malloc_(size_t bytes, const char *what, const char *file, int line)
{
    void *p = malloc(bytes > 0 ? bytes : 1);
    if (p == NULL) nn_die(1, "%s:%d: out of memory allocating %zu bytes (%s)", file, line, bytes, what);
    return p;
}

/* H5Ewalk2 callback, walking upward: entry 0 is the innermost description of
 * the default error stack, where the cause is ("No space left on device",
 * "unable to lock file", a missing filter), not the API call that failed. */
static herr_t h5_walk_(unsigned n, const H5E_error2_t *e, void *data)
{
    char *out = data;
    if (n != 0) return 0;
    const char *desc = e->desc ? e->desc : "?", *func = e->func_name ? e->func_name : "?";
    /* A system call's failure ("file write failed: time = ..., errno = 28,
     * error message = 'No space left on device', ..."): its phrase and the
     * system's reason, not the whole multi-line report. */
    const char *colon = strchr(desc, ':'), *why = strstr(desc, "error message = '");
    const char *why_end = why ? strchr(why + 17, '\'') : NULL;
    if (colon && why && why_end)
        snprintf(out, 512, "%.*s: %.*s (in %s)", (int)(colon - desc), desc, (int)(why_end - why - 17), why + 17, func);
    else
        snprintf(out, 512, "%s (in %s)", desc, func);
    for (char *c = out; *c; c++)
        if (*c == '\n') *c = ' ';
    return 0;
}

void nn_h5_fail_(nn_err *err, const char *call, const char *file, int line)
{
    char h5msg[512] = "no HDF5 error message";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_walk_, h5msg);
    nn_err_set(err, "%s:%d: %s failed: %s", file, line, call, h5msg);
}

void nn_file_fail_(nn_err *err, const char *file, int line, const char *fmt, ...)
{
    int saved = errno;
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (saved != 0)
        nn_err_set(err, "%s: %s [%s:%d]", what, strerror(saved), file, line);
    else
        nn_err_set(err, "%s [%s:%d]", what, file, line);
}
