/*
 * outfile.c: write to a temporary file, then move it into place (outfile.h).
 */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 0 when the target may be written: absent, or a regular file and may_replace. */
static int target_ok_(const nn_outfile *f, const char *option, nn_err *err)
{
    struct stat st;
    errno = 0;
    if (lstat(f->path, &st) != 0) {
        if (errno == ENOENT) return 0;
        nn_file_fail_(err, __FILE__, __LINE__, "%s: cannot stat '%s'", option, f->path);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        nn_err_set(err, "%s: '%s' exists and is %s; nnmpi writes only regular files", option, f->path,
                   nn_file_kind(st.st_mode));
        return -1;
    }
    if (f->may_replace) return 0;
    nn_err_set(err, "%s: '%s' exists; nnmpi does not replace files it did not create (choose another name, or "
               "replace it with --overwrite)", option, f->path);
    return -1;
}

int outfile_open(nn_outfile *f, const char *path, int may_replace, const char *option, nn_err *err)
{
    memset(f, 0, sizeof *f);
    f->may_replace = may_replace;
    f->option = option;
    int fd = -1;
    errno = 0;
    FILE_TRY(err, snprintf(f->path, sizeof f->path, "%s", path) < (int)sizeof f->path, "%s: the path is too long",
             option);
    if (target_ok_(f, option, err) != 0) goto error;
    snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
    fd = mkstemp(f->tmp);
    FILE_TRY(err, fd >= 0, "%s: cannot create a temporary file beside '%s' (does the directory exist and is it "
             "writable?)", option, path);
    mode_t mask = umask(0); /* mkstemp's 0600 is for the temporary only: the result gets the usual mode */
    umask(mask);
    FILE_TRY(err, fchmod(fd, 0666 & ~mask) == 0, "%s: cannot set the permissions of '%s'", option, f->tmp);
    f->fp = fdopen(fd, "w");
    FILE_TRY(err, f->fp != NULL, "%s: cannot open '%s'", option, f->tmp);
    return 0;
error:
    if (fd >= 0 && !f->fp) close(fd);
    if (fd >= 0) unlink(f->tmp);
    f->tmp[0] = '\0';
    return -1;
}

void outfile_sync_dir(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

/* Moves the temporary file to the target; without may_replace, link(2) fails
 * when the name was taken since outfile_open (no window to lose a file). */
static int move_into_place_(nn_outfile *f, nn_err *err)
{
    errno = 0;
    if (f->may_replace) {
        if (target_ok_(f, f->option, err) != 0) return -1; /* still a regular file */
        FILE_TRY(err, rename(f->tmp, f->path) == 0, "cannot rename '%s' to '%s'", f->tmp, f->path);
    } else {
        if (link(f->tmp, f->path) != 0) {
            if (errno == EEXIST) {
                nn_err_set(err, "'%s' appeared while it was being written; nnmpi does not replace files it did "
                           "not create (the result is not written)", f->path);
                return -1;
            }
            /* a file system without hard links: check, then rename (a short window) */
            FILE_TRY(err, errno == EPERM || errno == EOPNOTSUPP, "cannot link '%s' to '%s'", f->tmp, f->path);
            if (target_ok_(f, f->option, err) != 0) return -1;
            errno = 0;
            FILE_TRY(err, rename(f->tmp, f->path) == 0, "cannot rename '%s' to '%s'", f->tmp, f->path);
        } else {
            unlink(f->tmp);
        }
    }
    f->tmp[0] = '\0';
    return 0;
error:
    return -1;
}

int outfile_commit(nn_outfile *f, nn_err *err)
{
    errno = 0;
    FILE_TRY(err, fflush(f->fp) == 0, "cannot write '%s'", f->tmp);
    FILE_TRY(err, fsync(fileno(f->fp)) == 0, "cannot sync '%s'", f->tmp);
    int closed = fclose(f->fp);
    f->fp = NULL;
    FILE_TRY(err, closed == 0, "cannot close '%s'", f->tmp);
    if (move_into_place_(f, err) != 0) goto error;
    outfile_sync_dir(f->path);
    return 0;
error:
    outfile_abandon(f);
    return -1;
}

void outfile_abandon(nn_outfile *f)
{
    if (f->fp) fclose(f->fp);
    f->fp = NULL;
    if (f->tmp[0]) unlink(f->tmp);
    f->tmp[0] = '\0';
}
