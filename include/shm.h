/*
 * shm.h: room for MPI-3 shared windows on a node. Open MPI 4.1 backs a
 * shared window (MPI_Win_allocate_shared) with a file in its
 * osc_sm_backing_directory, /dev/shm by default, which it may create sparse:
 * a window larger than the free space there "allocates" and later kills the
 * rank that first stores to a missing page with SIGBUS. So every window nnmpi
 * makes (--allreduce shm's gradient window, --share-data node's data window)
 * is checked against the free space before it is allocated, and its pages
 * are backed at once after, where a failure is an error code, not a signal.
 */
#ifndef NN_SHM_H
#define NN_SHM_H

#include <stddef.h>

/* The directory Open MPI backs shared windows in: OMPI_MCA_osc_sm_backing_directory
 * (--mca sets it in the ranks' environment), else /dev/shm. */
const char *shm_dir(void);

/* Bytes free in shm_dir() for an unprivileged writer (statvfs f_bavail).
 * 0, with the reason in *why, when the directory cannot hold a window at
 * all (missing, not a directory, not writable: Open MPI would fail to
 * create its file there); SIZE_MAX when the free space cannot be told
 * (nothing is then refused). *why is NULL but in the first case. */
size_t shm_free_bytes(const char **why);

/* The free space in shm_dir() Open MPI 4.1 needs to create a shared window
 * of local_size ranks whose segments take `bytes` in all (each rounded up
 * to whole pages where it is its own, as with alloc_shared_noncontig): its
 * backing file adds a page, the window's state (under 256 bytes a rank)
 * and the segment's header, and its mmap component refuses to create a
 * file unless 5 % more than the file is free (enough_space in
 * opal/mca/shmem/mmap). SIZE_MAX when that does not fit a size_t. */
size_t shm_window_room(size_t bytes, int local_size);

/* `bytes` rounded up to whole pages (SIZE_MAX when that overflows). */
size_t shm_pages(size_t bytes);

/* Backs [p, p + bytes) with real pages now (MADV_POPULATE_WRITE, Linux
 * 5.14). Returns 0, or -1 with errno when the pages cannot be had (a full
 * tmpfs). A kernel that lacks it (EINVAL) counts as success: the free-space
 * check before the allocation is then the only guard. */
int shm_populate(void *p, size_t bytes);

#endif
