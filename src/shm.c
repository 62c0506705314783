/* shm.c: where shared windows live, how much room is there, and backing a window's pages (shm.h). */
#include "shm.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

const char *shm_dir(void)
{
    const char *dir = getenv("OMPI_MCA_osc_sm_backing_directory");
    return dir && *dir ? dir : "/dev/shm";
}

size_t shm_free_bytes(const char **why)
{
    const char *dir = shm_dir();
    struct stat st;
    struct statvfs vfs;
    *why = NULL;
    if (stat(dir, &st) != 0) *why = strerror(errno);
    else if (!S_ISDIR(st.st_mode)) *why = "not a directory";
    else if (access(dir, W_OK | X_OK) != 0) *why = strerror(errno);
    if (*why) return 0;
    if (statvfs(dir, &vfs) != 0) return SIZE_MAX;
    if (vfs.f_frsize > 0 && vfs.f_bavail > SIZE_MAX / vfs.f_frsize) return SIZE_MAX;
    return (size_t)vfs.f_bavail * vfs.f_frsize;
}

size_t shm_pages(size_t bytes)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return bytes > SIZE_MAX - page ? SIZE_MAX : (bytes + page - 1) / page * page;
}

size_t shm_window_room(size_t bytes, int local_size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), extra = 2 * page + 256 * (size_t)(local_size > 0 ? local_size : 1);
    if (bytes > (SIZE_MAX - extra) / 21 * 20) return SIZE_MAX;
    size_t file = bytes + extra;
    return file + file / 20 + 1;
}

int shm_populate(void *p, size_t bytes)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = (uintptr_t)p & ~(page - 1);
    if (bytes == 0) return 0;
    if (madvise((void *)lo, (uintptr_t)p + bytes - lo, MADV_POPULATE_WRITE) == 0 || errno == EINVAL) return 0;
    return -1;
}
