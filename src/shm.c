/* shm.c: where shared windows live, how much room is there, and backing a window's pages (shm.h). */
#include "shm.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

const char *shm_dir(void)
{
    const char *dir = getenv("OMPI_MCA_osc_sm_backing_directory");
    return dir && *dir ? dir : "/dev/shm";
}

size_t shm_free_bytes(void)
{
    struct statvfs vfs;
    if (statvfs(shm_dir(), &vfs) != 0) return SIZE_MAX;
    if (vfs.f_frsize > 0 && vfs.f_bavail > SIZE_MAX / vfs.f_frsize) return SIZE_MAX;
    return (size_t)vfs.f_bavail * vfs.f_frsize;
}

int shm_populate(void *p, size_t bytes)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = (uintptr_t)p & ~(page - 1);
    if (bytes == 0) return 0;
    if (madvise((void *)lo, (uintptr_t)p + bytes - lo, MADV_POPULATE_WRITE) == 0 || errno == EINVAL) return 0;
    return -1;
}
