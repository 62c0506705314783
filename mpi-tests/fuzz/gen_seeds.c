/*
 * gen_seeds.c: writes the committed seed corpus of the fuzzers.
 *
 *   gen_seeds IDX_DIR CHECKPOINT_DIR
 *
 * IDX seeds (pixels (i*7+j) % 256, labels i % 10): two valid files and the
 * malformed cases the reader must refuse. Checkpoint seeds: two tiny valid
 * checkpoints written by nnmpi's own writer (checkpoint_write), the smallest
 * networks the reader accepts (784,1,10 and 784,2,10 with momentum), so a
 * mutated input stays a few kilobytes. Run by hand after a format change:
 * mpi-tests/fuzz/run.sh --seeds. Exits non-zero on any failure.
 */
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "checkpoint.h"
#include "idx.h"

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "gen_seeds: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* An IDX image file of n images (rows x cols) into buf; returns its length. */
static size_t make_images(uint8_t *buf, uint32_t magic, int n, int rows, int cols)
{
    put_be32(buf, magic), put_be32(buf + 4, (uint32_t)n), put_be32(buf + 8, (uint32_t)rows), put_be32(buf + 12, (uint32_t)cols);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < rows * cols; j++) buf[16 + (size_t)i * rows * cols + j] = (uint8_t)((i * 7 + j) % 256);
    return 16 + (size_t)n * rows * cols;
}

static size_t make_labels(uint8_t *buf, int n)
{
    put_be32(buf, IDX_LABEL_MAGIC), put_be32(buf + 4, (uint32_t)n);
    for (int i = 0; i < n; i++) buf[8 + i] = (uint8_t)(i % 10);
    return 8 + (size_t)n;
}

/* A gzip-compressed image file of 2 images of 5x7 (magic `magic`). */
static int gzip_seed(const char *dir, const char *name, uint32_t magic)
{
    static uint8_t plain[16 + 2 * 35], packed[256];
    size_t n = make_images(plain, magic, 2, 5, 7);
    z_stream z = {0};
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 1;
    z.next_in = plain, z.avail_in = (uInt)n, z.next_out = packed, z.avail_out = sizeof packed;
    int rc = deflate(&z, Z_FINISH) == Z_STREAM_END ? 0 : 1;
    deflateEnd(&z);
    return rc | write_file(dir, name, packed, z.total_out);
}

static int idx_seeds(const char *dir)
{
    static uint8_t buf[16 + 3 * IDX_PIXELS];
    int rc = 0;
    size_t n = make_images(buf, IDX_IMAGE_MAGIC, 2, 28, 28);
    rc |= write_file(dir, "images-2-valid", buf, n);
    rc |= write_file(dir, "images-2-truncated", buf, n - 1);
    make_images(buf, IDX_IMAGE_MAGIC, 3, 28, 28);
    rc |= write_file(dir, "images-3-header-2-payload", buf, n); /* count says 3, data for 2 */
    n = make_images(buf, IDX_IMAGE_MAGIC, 1, 27, 28);
    rc |= write_file(dir, "images-27x28", buf, n);
    n = make_images(buf, 0x1f8b0800u, 1, 28, 28);
    rc |= write_file(dir, "images-gzip-magic", buf, 16);
    n = make_images(buf, IDX_IMAGE_MAGIC, 0, 28, 28);
    rc |= write_file(dir, "images-0-count", buf, n);
    n = make_images(buf, 0x00000d03u, 2, 5, 7); /* float32 5x7: 2 x 35 x 4 bytes fit in buf */
    for (size_t i = 16; i < n; i += 4) put_be32(buf + i, 0x3f800000u + (uint32_t)i); /* finite floats near 1 */
    rc |= write_file(dir, "images-float32-5x7", buf, n);
    n = make_images(buf, 0x00000802u, 3, 11, 1);
    rc |= write_file(dir, "images-1d-11", buf, 4 + 8 + 3 * 11);
    rc |= gzip_seed(dir, "images-5x7-gzip", 0x00000803u);
    n = make_labels(buf, 2);
    rc |= write_file(dir, "labels-2-valid", buf, n);
    n = make_labels(buf, 12);
    rc |= write_file(dir, "labels-12-valid", buf, n);
    buf[8 + 5] = 10;
    rc |= write_file(dir, "labels-12-out-of-range", buf, n);
    n = make_labels(buf, 2);
    rc |= write_file(dir, "labels-2-trailing-byte", buf, n + 1);
    put_be32(buf + 4, 0xffffffffu);
    rc |= write_file(dir, "labels-huge-count", buf, n);
    return rc;
}

/* A checkpoint of sizes {784, hidden, 10} through nnmpi's own writer. */
static int checkpoint_seed(const char *dir, const char *name, int hidden, int momentum)
{
    nn_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    ck.n_sizes = 3;
    ck.sizes[0] = IDX_PIXELS, ck.sizes[1] = hidden, ck.sizes[2] = IDX_CLASSES;
    ck.activation = momentum ? ACT_RELU : ACT_SIGMOID;
    ck.loss = momentum ? LOSS_XENT : LOSS_MSE;
    ck.epoch = 2, ck.step = 3, ck.seed = 42, ck.batch = 10, ck.train_size = 100, ck.shuffle = 1;
    ck.reproducible = momentum, ck.chunk = momentum ? 2 : 0;
    ck.lr = 0.1, ck.momentum = momentum ? 0.9 : 0.0;
    size_t n = (size_t)hidden * (IDX_PIXELS + 1) + (size_t)IDX_CLASSES * (hidden + 1);
    ck.n_params = n;
    ck.params = calloc(n, sizeof(float));
    ck.velocity = momentum ? calloc(n, sizeof(float)) : NULL;
    if (!ck.params || (momentum && !ck.velocity)) return -1;
    for (size_t i = 0; i < n; i++) ck.params[i] = (float)((int)(i % 17) - 8) / 64.0f;
    if (ck.velocity)
        for (size_t i = 0; i < n; i++) ck.velocity[i] = (float)(i % 5) / 1024.0f;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    nn_err err = {0};
    int rc = checkpoint_write(path, &ck, &err);
    if (rc != 0) fprintf(stderr, "gen_seeds: %s\n", err.msg);
    nn_checkpoint back;
    memset(&err, 0, sizeof err);
    if (rc == 0 && checkpoint_read(path, NULL, 0, &back, &err) != 0) {
        fprintf(stderr, "gen_seeds: %s does not read back: %s\n", path, err.msg);
        rc = -1;
    } else if (rc == 0) {
        checkpoint_free(&back);
    }
    free(ck.params);
    free(ck.velocity);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gen_seeds IDX_DIR CHECKPOINT_DIR\n");
        return 2;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = idx_seeds(argv[1]);
    rc |= checkpoint_seed(argv[2], "ck-784-1-10.h5", 1, 0);
    rc |= checkpoint_seed(argv[2], "ck-784-2-10-momentum.h5", 2, 1);
    return rc ? 1 : 0;
}
