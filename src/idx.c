/* idx.c: the IDX reader (big-endian header, exact sizes, no MPI). */
#include "idx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Validates a label file's header against the file's size `len` (only the
 * header of buf is read); *count is the label count. */
static int check_label_header_(const uint8_t *buf, size_t len, const char *name, int *count, nn_err *err)
{
    int n = check_header_(buf, len, IDX_LABEL_HEADER, IDX_LABEL_MAGIC, "label", name, err);
    if (n < 0) return -1;
    size_t want = IDX_LABEL_HEADER + (size_t)n;
    if (len != want) {
        nn_err_set(err, "%s: file is %zu bytes, expected %zu for %d labels (%s)", name, len, want, n,
                   len < want ? "truncated" : "trailing data");
        return -1;
    }
    *count = n;
    return 0;
}

/* Every label is a class, 0 .. IDX_CLASSES - 1. */
static int check_label_values_(const uint8_t *labels, int n, const char *name, nn_err *err)
{
    for (int i = 0; i < n; i++) {
        if (labels[i] >= IDX_CLASSES) {
            nn_err_set(err, "%s: label %d of item %d is out of range, expected 0..%d", name, labels[i], i,
                       IDX_CLASSES - 1);
            return -1;
        }
    }
    return 0;
}

/* The whole label file held in memory; *count is set only when all of it is valid. */
static int check_labels_(const uint8_t *buf, size_t len, const char *name, int *count, nn_err *err)
{
    int n = 0;
    if (check_label_header_(buf, len, name, &n, err) != 0) return -1;
    if (check_label_values_(buf + IDX_LABEL_HEADER, n, name, err) != 0) return -1;
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

/* Opens a data file that must be a regular file (a directory, a FIFO or a
 * device is refused without blocking or reading); returns the descriptor and
 * the file's size, or -1 with the reason in err. */
static int open_regular_(const char *path, size_t *size, nn_err *err)
{
    struct stat st;
    errno = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    FILE_TRY(err, fd >= 0, "cannot open data file '%s' (run data/fetch-mnist.sh, or pass --data DIR)", path);
    FILE_TRY(err, fstat(fd, &st) == 0, "cannot stat data file '%s'", path);
    if (!S_ISREG(st.st_mode)) {
        nn_err_set(err, "data file '%s' is %s, expected an IDX file", path,
                   nn_file_kind(st.st_mode));
        goto error;
    }
    *size = (size_t)st.st_size;
    return fd;
error:
    if (fd >= 0) close(fd);
    return -1;
}

/* Reads exactly len bytes at offset off; 0, or -1 with the reason in err. */
static int read_at_(int fd, void *buf, size_t len, off_t off, const char *path, nn_err *err)
{
    char *p = buf;
    while (len > 0) {
        errno = 0;
        ssize_t n = pread(fd, p, len, off);
        if (n < 0 && errno == EINTR) continue;
        FILE_TRY(err, n > 0, "cannot read data file '%s'%s", path, n == 0 ? " (it shrank while being read)" : "");
        p += n, len -= (size_t)n, off += n;
    }
    return 0;
error:
    return -1;
}

/* Reads the first `keep` items of an IDX file after validating its header
 * against its size (before reading or allocating anything that size):
 * *payload is malloc'ed (keep * item_bytes), *count the file's item count.
 * keep <= 0: all of them; keep > count: IDX_ERR_TOO_FEW. */
static int read_items_(const char *path, int is_images, int keep, uint8_t **payload, int *count, nn_err *err)
{
    uint8_t header[IDX_IMAGE_HEADER] = {0};
    size_t size = 0, header_len = is_images ? IDX_IMAGE_HEADER : IDX_LABEL_HEADER;
    size_t item = is_images ? IDX_PIXELS : 1;
    int status = IDX_ERR_FILE, fd = open_regular_(path, &size, err);
    *payload = NULL;
    if (fd < 0) return IDX_ERR_FILE;
    if (read_at_(fd, header, size < header_len ? size : header_len, 0, path, err) != 0) goto done;
    if ((is_images ? check_images_(header, size, path, count, err) : check_label_header_(header, size, path, count, err)) != 0)
        goto done;
    if (keep > *count) {
        nn_err_set(err, "asked for %d items but %s holds only %d", keep, path, *count);
        status = IDX_ERR_TOO_FEW;
        goto done;
    }
    size_t n = (size_t)(keep > 0 ? keep : *count) * item;
    *payload = NN_MALLOC(n);
    if (read_at_(fd, *payload, n, (off_t)header_len, path, err) != 0) goto done;
    status = 0;
done:
    close(fd);
    if (status != 0) free(*payload), *payload = NULL;
    return status;
}

int idx_load(const char *images_path, const char *labels_path, int limit, idx_set *set, nn_err *err)
{
    int n_images = 0, n_labels = 0;
    memset(set, 0, sizeof *set);
    int status = read_items_(images_path, 1, limit, &set->pixels, &n_images, err);
    if (status == 0) status = read_items_(labels_path, 0, limit, &set->labels, &n_labels, err);
    if (status == 0 && n_images != n_labels) {
        nn_err_set(err, "%s holds %d images but %s holds %d labels; the counts must agree", images_path, n_images,
                   labels_path, n_labels);
        status = IDX_ERR_FILE;
    }
    set->count = limit > 0 ? limit : n_images;
    if (status == 0) status = check_label_values_(set->labels, set->count, labels_path, err) == 0 ? 0 : IDX_ERR_FILE;
    if (status != 0) {
        idx_free(set);
        return status;
    }
    set->input_size = IDX_PIXELS;
    set->input_dims[0] = IDX_ROWS, set->input_dims[1] = IDX_COLS;
    set->classes = IDX_CLASSES;
    return 0;
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
    const double inv255 = IDX_INPUT_SCALE;
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
