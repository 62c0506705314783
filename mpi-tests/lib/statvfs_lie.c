/* statvfs_lie.c: fault injection for share_test.sh (LD_PRELOAD): statvfs
 * and statfs report plenty of free space for every path under $LIE_DIR, so
 * that nnmpi's check and Open MPI's own both pass and a shared window is
 * allocated in a tmpfs that cannot hold it, as when someone else fills the
 * space between the check and the allocation. Every other path is reported
 * as it is. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
static int lied_(const char *p) { const char *d = getenv("LIE_DIR"); return d && p && strncmp(p, d, strlen(d)) == 0; }
int statvfs(const char *p, struct statvfs *b)
{
    int (*real)(const char *, struct statvfs *) = (int (*)(const char *, struct statvfs *))dlsym(RTLD_NEXT, "statvfs");
    int rc = real(p, b);
    if (rc == 0 && lied_(p)) b->f_bavail = b->f_bfree = b->f_blocks = 1UL << 30;
    return rc;
}
int statfs(const char *p, struct statfs *b)
{
    int (*real)(const char *, struct statfs *) = (int (*)(const char *, struct statfs *))dlsym(RTLD_NEXT, "statfs");
    int rc = real(p, b);
    if (rc == 0 && lied_(p)) b->f_bavail = b->f_bfree = b->f_blocks = 1UL << 30;
    return rc;
}
