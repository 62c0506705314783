/* idx.c: the IDX reader (big-endian header, exact sizes, no MPI). */
#include "idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

static uint32_t be32_(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Checks the magic number and returns the item count from the header. */
static int check_header_(const uint8_t *buf, size_t len, size_t header, uint32_t magic, const char *kind,
                         const char *name, nn_err *err)
{
    if (len < header) {
        nn_err_set(err, "%s: file is %zu bytes, too short for an IDX %s header (%zu bytes)", name, len, kind, header);
        return -1;
    }
    uint32_t got = be32_(buf);
    if (got != magic) {
        nn_err_set(err, "%s: wrong magic number 0x%08x, expected 0x%08x (IDX %s file)%s", name, got, magic, kind,
                   (got >> 24) == 0x1f ? "; it looks gzip-compressed: gunzip it first" : "");
        return -1;
    }
    uint32_t count = be32_(buf + 4);
    if (count == 0 || count > 100000000u) {
        nn_err_set(err, "%s: implausible item count %u in the header", name, count);
        return -1;
    }
    return (int)count;
}

/* Validates an image file held in memory; on success *count is the image count
 * and the pixels start at IDX_IMAGE_HEADER. */
static int check_images_(const uint8_t *buf, size_t len, const char *name, int *count, nn_err *err)
{
    int n = check_header_(buf, len, IDX_IMAGE_HEADER, IDX_IMAGE_MAGIC, "image", name, err);
    if (n < 0) return -1;
    uint32_t rows = be32_(buf + 8), cols = be32_(buf + 12);
    if (rows != IDX_ROWS || cols != IDX_COLS) {
        nn_err_set(err, "%s: images are %ux%u, expected %dx%d", name, rows, cols, IDX_ROWS, IDX_COLS);
        return -1;
    }
    size_t want = IDX_IMAGE_HEADER + (size_t)n * IDX_PIXELS;
    if (len != want) {
        nn_err_set(err, "%s: file is %zu bytes, expected %zu for %d images of %dx%d (%s)", name, len, want, n,
                   IDX_ROWS, IDX_COLS, len < want ? "truncated" : "trailing data");
        return -1;
    }
    *count = n;
    return 0;
}

int idx_parse_images(const uint8_t *buf, size_t len, const char *name, uint8_t **pixels, int *count, nn_err *err)
{
    if (check_images_(buf, len, name, count, err) != 0) return -1;
    *pixels = NN_MALLOC((size_t)*count * IDX_PIXELS);
    memcpy(*pixels, buf + IDX_IMAGE_HEADER, (size_t)*count * IDX_PIXELS);
    return 0;
}

/* Validates a label file held in memory (labels start at IDX_LABEL_HEADER). */
static int check_labels_(const uint8_t *buf, size_t len, const char *name, int *count, nn_err *err)
{
    int n = check_header_(buf, len, IDX_LABEL_HEADER, IDX_LABEL_MAGIC, "label", name, err);
    if (n < 0) return -1;
    size_t want = IDX_LABEL_HEADER + (size_t)n;
    if (len != want) {
        nn_err_set(err, "%s: file is %zu bytes, expected %zu for %d labels (%s)", name, len, want, n,
                   len < want ? "truncated" : "trailing data");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (buf[IDX_LABEL_HEADER + i] >= IDX_CLASSES) {
            nn_err_set(err, "%s: label %d of item %d is out of range, expected 0..%d", name,
                       buf[IDX_LABEL_HEADER + i], i, IDX_CLASSES - 1);
            return -1;
        }
    }
    *count = n;
    return 0;
}

int idx_parse_labels(const uint8_t *buf, size_t len, const char *name, uint8_t **labels, int *count, nn_err *err)
{
    if (check_labels_(buf, len, name, count, err) != 0) return -1;
    *labels = NN_MALLOC((size_t)*count);
    memcpy(*labels, buf + IDX_LABEL_HEADER, (size_t)*count);
    return 0;
}

/* Drops a validated file buffer's header in place, keeping only the payload:
 * the training images are read once, with no second copy at the peak. */
static uint8_t *strip_header_(uint8_t *buf, size_t header, size_t payload)
{
    memmove(buf, buf + header, payload);
    uint8_t *shrunk = realloc(buf, payload > 0 ? payload : 1);
    return shrunk ? shrunk : buf;
}

/* Reads a whole file into a malloc'ed buffer. */
static int read_file_(const char *path, uint8_t **buf, size_t *len, nn_err *err)
{
    FILE *f = NULL;
    uint8_t *data = NULL;
    errno = 0;
    f = fopen(path, "rb");
    FILE_TRY(err, f != NULL, "cannot open data file '%s' (run data/fetch-mnist.sh, or pass --data DIR)", path);
    FILE_TRY(err, fseek(f, 0, SEEK_END) == 0, "cannot seek in '%s'", path);
    long size = ftell(f);
    FILE_TRY(err, size >= 0, "cannot tell the size of '%s'", path);
    FILE_TRY(err, fseek(f, 0, SEEK_SET) == 0, "cannot seek in '%s'", path);
    data = NN_MALLOC((size_t)size);
    errno = 0;
    FILE_TRY(err, fread(data, 1, (size_t)size, f) == (size_t)size, "cannot read '%s'", path);
    FILE_TRY(err, fclose(f) == 0, "cannot close '%s'", path);
    *buf = data;
    *len = (size_t)size;
    return 0;
error:
    if (f) fclose(f);
    free(data);
    return -1;
}

int idx_load(const char *images_path, const char *labels_path, int limit, idx_set *set, nn_err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int n_images = 0, n_labels = 0, status = IDX_ERR_FILE;
    memset(set, 0, sizeof *set);

    if (read_file_(images_path, &buf, &len, err) != 0) return -1;
    if (check_images_(buf, len, images_path, &n_images, err) != 0) {
        free(buf);
        goto error;
    }
    set->pixels = strip_header_(buf, IDX_IMAGE_HEADER, (size_t)n_images * IDX_PIXELS);
    if (read_file_(labels_path, &buf, &len, err) != 0) goto error;
    if (check_labels_(buf, len, labels_path, &n_labels, err) != 0) {
        free(buf);
        goto error;
    }
    set->labels = strip_header_(buf, IDX_LABEL_HEADER, (size_t)n_labels);
    if (n_images != n_labels) {
        nn_err_set(err, "%s holds %d images but %s holds %d labels; the counts must agree", images_path, n_images,
                   labels_path, n_labels);
        goto error;
    }
    if (limit > n_images) {
        nn_err_set(err, "asked for %d items but %s holds only %d", limit, images_path, n_images);
        status = IDX_ERR_TOO_FEW;
        goto error;
    }
    set->count = limit > 0 ? limit : n_images;
    set->input_size = IDX_PIXELS;
    set->classes = IDX_CLASSES;
    if (set->count < n_images) { /* keep only what is used: a shrinking realloc that fails keeps the block */
        uint8_t *p = realloc(set->pixels, (size_t)set->count * IDX_PIXELS);
        set->pixels = p ? p : set->pixels;
    }
    return 0;
error:
    idx_free(set);
    return status;
}

void idx_free(idx_set *set)
{
    free(set->pixels);
    free(set->labels);
    memset(set, 0, sizeof *set);
}

NN_VECTOR_CLONES void idx_gather_rows(const idx_set *set, const int *idx, int n, float *out)
{
    /* v * (1/255) in double, rounded once to float, is exactly v / 255.0f (what
     * numpy computes): v/255 is never within double rounding of a float
     * midpoint (test_idx checks all 256 values). A multiply vectorizes well. */
    const double inv255 = 1.0 / 255.0;
    for (int r = 0; r < n; r++) {
        const uint8_t *src = set->pixels + (size_t)idx[r] * IDX_PIXELS;
        float *dst = out + (size_t)r * IDX_PIXELS;
        for (int j = 0; j < IDX_PIXELS; j++) dst[j] = (float)((double)src[j] * inv255);
    }
}

void idx_prefetch_rows(const idx_set *set, const int *idx, int n)
{
    for (int r = 0; r < n; r++) {
        const uint8_t *src = set->pixels + (size_t)idx[r] * IDX_PIXELS;
        for (int j = 0; j < IDX_PIXELS; j += 64) __builtin_prefetch(src + j, 0, 3);
        __builtin_prefetch(src + IDX_PIXELS - 1, 0, 3); /* an image straddles 13 or 14 cache lines */
    }
}
