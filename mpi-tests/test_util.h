/* test_util.h: small helpers shared by the cmocka tests (temporary files, data paths). */
#ifndef NN_TEST_UTIL_H
#define NN_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes `len` bytes to `path`; returns 0 on success. */
static inline int test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && n == len) ? 0 : -1;
}

static inline void test_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* A fresh temporary directory (mkdtemp) under TMPDIR or /tmp. */
static inline char *test_tmpdir(void)
{
    static char dir[256];
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/nnmpi-test-XXXXXX", base);
    return mkdtemp(dir);
}

/* Removes a test's temporary directory tree; reports but does not fail. */
static inline void test_remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* The MNIST directory the tests read (set by CMake). */
static inline const char *test_mnist_dir(void)
{
    const char *env = getenv("NNMPI_TEST_DATA");
    return env ? env : NNMPI_TEST_DATA_DIR;
}

#endif
