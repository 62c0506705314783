/*
 * outfile.h: a text output file that appears whole or not at all. It is
 * written to a temporary file beside the target (an unpredictable name,
 * created exclusively, so never through a planted symlink), synced, then
 * moved into place: a crash, a full disk or a signal leaves the target as it
 * was. nnmpi never replaces a file it did not create: without may_replace an
 * existing target is refused, at open and again at the moment of the move
 * (link(2) fails if the name was taken meanwhile); with it, only a regular
 * file is replaced, never a symlink, FIFO, device or directory.
 */
#ifndef NN_OUTFILE_H
#define NN_OUTFILE_H

#include <stdio.h>

#include "nn_check.h"

typedef struct {
    char path[4096]; /* the target */
    char tmp[4160];  /* the temporary beside it; "" when there is none */
    FILE *fp;        /* open on tmp between outfile_open and commit/abandon */
    int may_replace;
    const char *option; /* the option that named the target, for messages */
} nn_outfile;

/* Checks the target (absent, or with may_replace a regular file) and opens a
 * temporary file beside it for writing. Returns 0, or -1 with the reason
 * (naming `option` and the path) in err and nothing left on disk. */
int outfile_open(nn_outfile *f, const char *path, int may_replace, const char *option, nn_err *err);

/* Flushes, syncs and closes the temporary file and moves it to the target.
 * Returns 0, or -1 with the system's reason in err; the temporary is then
 * removed and the target untouched. */
int outfile_commit(nn_outfile *f, nn_err *err);

/* fsync()s the directory holding `path`, so that a file moved into it stays
 * there after a crash (best effort: some file systems refuse). */
void outfile_sync_dir(const char *path);

/* Closes and removes the temporary file (after a failure elsewhere). */
void outfile_abandon(nn_outfile *f);

#endif
