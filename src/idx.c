/* idx.c: the IDX reader (big-endian header, exact sizes, plain or gzip, no MPI). */
#include "idx.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "synth.h"
#include "vec.h"

static uint32_t be32_(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* ---------- where the bytes come from: a file or memory, plain or gzip ---------- */

/* One IDX file being read front to back. A plain file's size is known before
 * anything is read, so its header is checked against it; a gzip file's
 * decompressed size is known only at its end, so it is read with the header's
 * sizes as the bound and checked to end exactly there. */
typedef struct {
    const char *name;           /* for messages */
    int fd;                     /* -1: reads mem */
    const uint8_t *mem;         /* (mem_len) the whole file, when fd < 0 */
    size_t mem_len, pos;        /* pos: the next raw byte's offset */
    size_t raw_size;            /* the file's size in bytes (compressed, for gzip) */
    int gz, gz_open, gz_end, raw_eof;
    z_stream z;
    uint8_t in[1 << 16];        /* compressed bytes on their way to inflate */
} idx_src;

/* Up to len raw bytes at the current position: their number (0 at the end), or -1. */
static long raw_read_(idx_src *s, uint8_t *buf, size_t len, nn_err *err)
{
    if (s->fd < 0) {
        size_t n = s->mem_len - s->pos < len ? s->mem_len - s->pos : len;
        if (n) memcpy(buf, s->mem + s->pos, n);
        s->pos += n;
        return (long)n;
    }
    for (;;) {
        errno = 0;
        ssize_t n = pread(s->fd, buf, len, (off_t)s->pos);
        if (n < 0 && errno == EINTR) continue;
        FILE_TRY(err, n >= 0, "cannot read data file '%s'", s->name);
        s->pos += (size_t)n;
        return (long)n;
    }
error:
    return -1;
}

/* Inflates up to len bytes into out, stopping where the stream ends: *got
 * of them. A stream that breaks off or is corrupt is refused. */
static int gz_fill_(idx_src *s, uint8_t *out, size_t len, size_t *got, nn_err *err)
{
    *got = 0;
    while (*got < len && !s->gz_end) {
        if (s->z.avail_in == 0 && !s->raw_eof) {
            long n = raw_read_(s, s->in, sizeof s->in, err);
            if (n < 0) return -1;
            s->z.next_in = s->in, s->z.avail_in = (uInt)n, s->raw_eof = n == 0;
        }
        uInt chunk = len - *got > (1u << 30) ? (1u << 30) : (uInt)(len - *got);
        s->z.next_out = out + *got, s->z.avail_out = chunk;
        int rc = inflate(&s->z, Z_NO_FLUSH);
        *got += chunk - s->z.avail_out;
        if (rc == Z_STREAM_END) {
            s->gz_end = 1;
        } else if (rc == Z_BUF_ERROR && s->raw_eof && s->z.avail_in == 0) {
            nn_err_set(err, "%s: the gzip stream is truncated (the file ends before the stream does)", s->name);
            return -1;
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            nn_err_set(err, "%s: corrupt gzip data (zlib: %s)", s->name, s->z.msg ? s->z.msg : zError(rc));
            return -1;
        }
    }
    return 0;
}

/* Exactly len decompressed bytes. */
static int gz_read_(idx_src *s, uint8_t *out, size_t len, nn_err *err)
{
    size_t got = 0;
    if (gz_fill_(s, out, len, &got, err) != 0) return -1;
    if (got < len) {
        nn_err_set(err, "%s: truncated: the decompressed data ends %zu bytes before the size its header declares",
                   s->name, len - got);
        return -1;
    }
    return 0;
}

/* Exactly len (decompressed) bytes; a plain file's shortfall says what was being read. */
static int src_read_(idx_src *s, void *out, size_t len, nn_err *err)
{
    if (s->gz) return gz_read_(s, out, len, err);
    for (uint8_t *p = out; len > 0;) {
        long n = raw_read_(s, p, len, err);
        if (n < 0) return -1;
        if (n == 0) {
            nn_err_set(err, "%s: the file ends %zu bytes early (truncated, or it shrank while being read)", s->name, len);
            return -1;
        }
        p += n, len -= (size_t)n;
    }
    return 0;
}

/* Reads and drops len bytes (the items past --train-size of a gzip file,
 * which must still be decompressed to check the stream). */
static int src_skip_(idx_src *s, size_t len, nn_err *err)
{
    uint8_t scratch[1 << 14];
    while (len > 0) {
        size_t n = len < sizeof scratch ? len : sizeof scratch;
        if (src_read_(s, scratch, n, err) != 0) return -1;
        len -= n;
    }
    return 0;
}

/* After the last item: a gzip stream must end there, with nothing after it
 * (a plain file's size was checked against its header before reading). */
static int src_finish_(idx_src *s, nn_err *err)
{
    uint8_t extra;
    size_t got = 0;
    if (!s->gz) return 0;
    if (gz_fill_(s, &extra, 1, &got, err) != 0) return -1;
    if (got > 0) {
        nn_err_set(err, "%s: trailing data: the decompressed file is longer than its header declares", s->name);
        return -1;
    }
    long more = s->z.avail_in > 0 ? 1 : raw_read_(s, &extra, 1, err);
    if (more < 0) return -1;
    if (more > 0) {
        nn_err_set(err, "%s: trailing data after the gzip stream (nnmpi reads a single gzip member)", s->name);
        return -1;
    }
    return 0;
}

/* Starts reading: gzip when the content begins with its magic 1f 8b, whatever the name. */
static int src_start_(idx_src *s, nn_err *err)
{
    uint8_t magic[2] = {0, 0};
    long n = raw_read_(s, magic, 2, err);
    if (n < 0) return -1;
    s->pos = 0;
    s->gz = n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    if (!s->gz) return 0;
    memset(&s->z, 0, sizeof s->z);
    int rc = inflateInit2(&s->z, 15 + 16); /* 16: a gzip wrapper, its CRC and length checked */
    if (rc != Z_OK) {
        nn_err_set(err, "%s: zlib cannot start decompressing (%s)", s->name, zError(rc));
        return -1;
    }
    s->gz_open = 1;
    return 0;
}

static void src_end_(idx_src *s)
{
    if (s->gz_open) inflateEnd(&s->z);
    s->gz_open = 0;
}

/* ---------- the header ---------- */

/* What an IDX header says. */
typedef struct {
    int type, n_dims;            /* the magic's third and fourth bytes */
    int count;                   /* the first dimension: items */
    int input_size;              /* values per item: the product of the others (1 for labels) */
    int dims[IDX_MAX_DIMS];      /* the others */
    size_t header, item_bytes;   /* header bytes; bytes per item */
} idx_header;

static const char *type_name_(int type)
{
    switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "not an IDX type";
    }
}

/* The magic number: what kind of file nnmpi reads here. */
static int check_magic_(const uint8_t *m, int images, const char *name, idx_header *h, nn_err *err)
{
    uint32_t magic = be32_(m);
    h->type = m[2], h->n_dims = m[3];
    int bad = 1;
    if (m[0] != 0 || m[1] != 0)
        nn_err_set(err, "%s: wrong magic number 0x%08x: not an IDX file (expected %s)", name, magic,
                   images ? "0x0000080N or 0x00000D0N for images" : "0x00000801 for labels");
    else if (!images && magic != IDX_LABEL_MAGIC)
        nn_err_set(err, "%s: wrong magic number 0x%08x (%s, %d dimensions): nnmpi reads labels as unsigned bytes in "
                        "one dimension, magic 0x00000801", name, magic, type_name_(h->type), h->n_dims);
    else if (images && h->type != IDX_TYPE_UBYTE && h->type != IDX_TYPE_FLOAT32)
        nn_err_set(err, "%s: IDX type 0x%02x (%s) is not read by nnmpi: images must be unsigned bytes (0x08) or "
                        "float32 (0x0D)", name, (unsigned)h->type, type_name_(h->type));
    else if (images && (h->n_dims < 2 || h->n_dims > IDX_MAX_DIMS + 1))
        nn_err_set(err, "%s: %d dimensions (magic 0x%08x): nnmpi reads images n x d1 x ... x dk of 2 to %d "
                        "dimensions", name, h->n_dims, magic, IDX_MAX_DIMS + 1);
    else
        bad = 0;
    return bad ? -1 : 0;
}

/* The dimensions: a plausible count, and an item size within the limits. */
static int check_dims_(const uint8_t *d, int images, const char *name, idx_header *h, nn_err *err)
{
    uint32_t count = be32_(d);
    if (count == 0 || count > IDX_MAX_COUNT) {
        nn_err_set(err, "%s: implausible item count %u in the header (expected 1 to %d)", name, count, IDX_MAX_COUNT);
        return -1;
    }
    h->count = (int)count;
    uint64_t size = 1;
    for (int i = 1; i < h->n_dims; i++) {
        uint32_t di = be32_(d + 4 * i);
        size *= di; /* at most 2^24 * 2^32 before the check below */
        if (di == 0 || size > IDX_MAX_INPUT_SIZE) {
            nn_err_set(err, "%s: dimension %d of the images is %u: expected 1 or more, and at most %d values per "
                            "image in all", name, i + 1, di, IDX_MAX_INPUT_SIZE);
            return -1;
        }
        h->dims[i - 1] = (int)di;
    }
    h->input_size = (int)size;
    h->item_bytes = size * (images && h->type == IDX_TYPE_FLOAT32 ? 4 : 1);
    h->header = 4 + 4 * (size_t)h->n_dims;
    return 0;
}

/* "5x7" or "28x28 float32", one item's shape, for messages. */
static void shape_text_(const idx_header *h, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < h->n_dims - 1 && used < len; i++, used = strlen(buf))
        snprintf(buf + used, len - used, "%s%d", i ? "x" : "", h->dims[i]);
    if (h->type == IDX_TYPE_FLOAT32 && used < len) snprintf(buf + used, len - used, " float32");
}

/* The file's size against what the header declares: exact for a plain file,
 * within deflate's largest ratio for gzip (before anything that size is allocated). */
static int check_size_(const idx_src *s, int images, const idx_header *h, nn_err *err)
{
    size_t want = h->header + (size_t)h->count * h->item_bytes;
    char shape[96];
    shape_text_(h, shape, sizeof shape);
    if (s->gz && want / IDX_GZIP_MAX_RATIO > s->raw_size) {
        nn_err_set(err, "%s: the header declares %zu bytes, more than a gzip file of %zu bytes can hold "
                        "(corrupt or hostile header)", s->name, want, s->raw_size);
        return -1;
    }
    if (s->gz || s->raw_size == want) return 0;
    if (images)
        nn_err_set(err, "%s: file is %zu bytes, expected %zu for %d images of %s (%s)", s->name, s->raw_size, want,
                   h->count, shape, s->raw_size < want ? "truncated" : "trailing data");
    else
        nn_err_set(err, "%s: file is %zu bytes, expected %zu for %d labels (%s)", s->name, s->raw_size, want,
                   h->count, s->raw_size < want ? "truncated" : "trailing data");
    return -1;
}

/* Reads and checks the whole header. */
static int read_header_(idx_src *s, int images, idx_header *h, nn_err *err)
{
    uint8_t buf[4 + 4 * (IDX_MAX_DIMS + 1)];
    memset(h, 0, sizeof *h);
    if (!s->gz && s->raw_size < 8) {
        nn_err_set(err, "%s: file is %zu bytes, too short for an IDX header", s->name, s->raw_size);
        return -1;
    }
    if (src_read_(s, buf, 4, err) != 0 || check_magic_(buf, images, s->name, h, err) != 0) return -1;
    size_t dims_len = 4 * (size_t)h->n_dims;
    if (!s->gz && s->raw_size < 4 + dims_len) {
        nn_err_set(err, "%s: file is %zu bytes, too short for an IDX header of %d dimensions (%zu bytes)", s->name,
                   s->raw_size, h->n_dims, 4 + dims_len);
        return -1;
    }
    if (src_read_(s, buf + 4, dims_len, err) != 0 || check_dims_(buf + 4, images, s->name, h, err) != 0) return -1;
    return check_size_(s, images, h, err);
}

/* ---------- the items ---------- */

/* Big-endian float32 in place to host floats, each of them finite. */
static int convert_floats_(float *v, size_t n, size_t input_size, const char *name, nn_err *err)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = be32_((const uint8_t *)(v + i));
        float f;
        memcpy(&f, &bits, sizeof f);
        if (!isfinite(f)) {
            nn_err_set(err, "%s: value %zu of image %zu is %s; images must hold finite numbers", name,
                       i % input_size, i / input_size, isnan(f) ? "NaN" : "infinite");
            return -1;
        }
        v[i] = f;
    }
    return 0;
}

/* Fills out from a payload of n items that passed every check. */
static void take_items_(const idx_header *h, int images, uint8_t *payload, int n, idx_set *out)
{
    out->count = n;
    if (!images) {
        out->labels = payload;
        for (int i = 0; i < n; i++) out->max_label = payload[i] > out->max_label ? payload[i] : out->max_label;
        return;
    }
    out->input_size = h->input_size, out->n_dims = h->n_dims - 1, out->type = h->type;
    memcpy(out->input_dims, h->dims, sizeof out->input_dims);
    if (h->type == IDX_TYPE_FLOAT32) out->values = (float *)payload;
    else out->pixels = payload;
}

/* The checks of the header against what the caller wants: keep > count is IDX_ERR_TOO_FEW. */
static int check_keep_(const idx_src *s, const idx_header *h, int keep, nn_err *err)
{
    if (keep > h->count) {
        nn_err_set(err, "asked for %d items but %s holds only %d", keep, s->name, h->count);
        return IDX_ERR_TOO_FEW;
    }
    return 0;
}

/* Reads n items of a file whose header passed every check into payload
 * ((n, item_bytes)), then the rest of the file: a gzip stream is
 * decompressed to its end (the items past n are dropped, the CRC checked);
 * float32 values are converted in place and must be finite. */
static int read_payload_(idx_src *s, const idx_header *h, int images, int n, uint8_t *payload, nn_err *err)
{
    if (src_read_(s, payload, (size_t)n * h->item_bytes, err) != 0) return -1;
    if (s->gz && src_skip_(s, (size_t)(h->count - n) * h->item_bytes, err) != 0) return -1;
    if (src_finish_(s, err) != 0) return -1;
    if (images && h->type == IDX_TYPE_FLOAT32 &&
        convert_floats_((float *)payload, (size_t)n * (size_t)h->input_size, (size_t)h->input_size, s->name, err) != 0)
        return -1;
    return 0;
}

/* An IDX file held in memory (the fuzzer's and the unit tests' way in): all
 * of its items, into a malloc'ed payload. */
static int parse_mem_(const uint8_t *buf, size_t len, const char *name, int images, idx_set *out, nn_err *err)
{
    idx_src *s = NN_MALLOC(sizeof *s);
    memset(s, 0, sizeof *s);
    s->name = name, s->fd = -1, s->mem = buf, s->mem_len = len, s->raw_size = len;
    idx_header h;
    uint8_t *payload = NULL;
    int status = src_start_(s, err) == 0 && read_header_(s, images, &h, err) == 0 ? 0 : -1;
    if (status == 0) {
        payload = NN_MALLOC((size_t)h.count * h.item_bytes); /* bounded by the file's size (check_size_) */
        status = read_payload_(s, &h, images, h.count, payload, err);
    }
    if (status == 0) take_items_(&h, images, payload, h.count, out);
    else free(payload);
    src_end_(s);
    free(s);
    return status;
}

int idx_parse_images(const uint8_t *buf, size_t len, const char *name, idx_set *set, nn_err *err)
{
    idx_set got;
    memset(&got, 0, sizeof got);
    if (parse_mem_(buf, len, name, 1, &got, err) != 0) return -1;
    *set = got;
    return 0;
}

int idx_parse_labels(const uint8_t *buf, size_t len, const char *name, uint8_t **labels, int *count, int *max_label,
                     nn_err *err)
{
    idx_set got;
    memset(&got, 0, sizeof got);
    if (parse_mem_(buf, len, name, 0, &got, err) != 0) return -1;
    *labels = got.labels, *count = got.count, *max_label = got.max_label;
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
        nn_err_set(err, "data file '%s' is %s, expected an IDX file", path, nn_file_kind(st.st_mode));
        goto error;
    }
    *size = (size_t)st.st_size;
    return fd;
error:
    if (fd >= 0) close(fd);
    return -1;
}

/* ---------- files: opened and checked first, read into the caller's memory after ---------- */

struct idx_reader {
    idx_src src;       /* the open file (fd >= 0) */
    idx_header h;      /* checked against the file's size */
    int images;        /* an image file (1) or a label file (0) */
    int keep;          /* the items that idx_read_into reads: the first `keep` of h.count */
};

int idx_open(const char *path, int images, int keep, idx_reader **out, nn_err *err)
{
    idx_reader *r = NN_MALLOC(sizeof *r);
    memset(r, 0, sizeof *r);
    r->src.name = path, r->images = images;
    r->src.fd = open_regular_(path, &r->src.raw_size, err);
    int status = IDX_ERR_FILE;
    if (r->src.fd >= 0 && src_start_(&r->src, err) == 0 && read_header_(&r->src, images, &r->h, err) == 0)
        status = check_keep_(&r->src, &r->h, keep, err);
    r->keep = keep > 0 ? keep : r->h.count;
    *out = NULL;
    if (status != 0) idx_close(r);
    else *out = r;
    return status;
}

int idx_reader_count(const idx_reader *r) { return r->h.count; }

int idx_check_counts(const idx_reader *images, const idx_reader *labels, nn_err *err)
{
    if (images->h.count == labels->h.count) return 0;
    nn_err_set(err, "%s holds %d images but %s holds %d labels; the counts must agree", images->src.name,
               images->h.count, labels->src.name, labels->h.count);
    return IDX_ERR_FILE;
}

size_t idx_reader_bytes(const idx_reader *r) { return (size_t)r->keep * r->h.item_bytes; }

int idx_read_into(idx_reader *r, void *dst, idx_set *set, nn_err *err)
{
    if (read_payload_(&r->src, &r->h, r->images, r->keep, dst, err) != 0) return -1;
    take_items_(&r->h, r->images, dst, r->keep, set);
    return 0;
}

void idx_close(idx_reader *r)
{
    if (!r) return;
    src_end_(&r->src);
    if (r->src.fd >= 0) close(r->src.fd);
    free(r);
}

/* One file into malloc'ed memory; a label file's arrays go to set->labels. */
static int load_one_(idx_reader *r, idx_set *set, nn_err *err)
{
    uint8_t *payload = NN_MALLOC(idx_reader_bytes(r));
    if (idx_read_into(r, payload, set, err) == 0) return 0;
    free(payload);
    return -1;
}

int idx_load(const char *images_path, const char *labels_path, int limit, idx_set *set, nn_err *err)
{
    idx_reader *images = NULL, *labels = NULL;
    memset(set, 0, sizeof *set);
    int status = idx_open(images_path, 1, limit, &images, err);
    if (status == 0) status = idx_open(labels_path, 0, limit, &labels, err);
    if (status == 0) status = idx_check_counts(images, labels, err);
    if (status == 0 && (load_one_(images, set, err) != 0 || load_one_(labels, set, err) != 0)) status = IDX_ERR_FILE;
    idx_close(images);
    idx_close(labels);
    if (status != 0) idx_free(set);
    return status;
}

int idx_load_images(const char *images_path, idx_set *set, nn_err *err)
{
    idx_reader *images = NULL;
    memset(set, 0, sizeof *set);
    int status = idx_open(images_path, 1, 0, &images, err);
    if (status == 0 && load_one_(images, set, err) != 0) status = IDX_ERR_FILE;
    idx_close(images);
    if (status != 0) idx_free(set);
    return status;
}

int idx_check_labels(const idx_set *set, int classes, const char *labels_path, nn_err *err)
{
    for (int i = 0; i < set->count; i++) {
        if (set->labels[i] >= classes) {
            nn_err_set(err, "%s: label %d of item %d is out of range: expected 0..%d (%d classes)", labels_path,
                       set->labels[i], i, classes - 1, classes);
            return -1;
        }
    }
    return 0;
}

const char *idx_shape_text(const idx_set *set, char *buf, size_t len)
{
    idx_header h = {.type = set->type, .n_dims = set->n_dims + 1};
    memcpy(h.dims, set->input_dims, sizeof h.dims);
    shape_text_(&h, buf, len);
    if (set->type == IDX_TYPE_UBYTE) snprintf(buf + strlen(buf), len - strlen(buf), " ubyte");
    return buf;
}

int idx_same_geometry(const idx_set *a, const idx_set *b)
{
    if (a->n_dims != b->n_dims) return 0;
    for (int i = 0; i < a->n_dims; i++)
        if (a->input_dims[i] != b->input_dims[i]) return 0;
    return 1;
}

size_t idx_bytes(const idx_set *set)
{
    size_t rows = (size_t)(set->count > 0 ? set->count : 0), row = (size_t)set->input_size;
    size_t images = set->pixels ? rows * row : set->values ? rows * row * sizeof(float) : 0;
    return images + (set->labels ? rows : 0);
}

void idx_free(idx_set *set)
{
    if (!set->borrowed) { /* a shared window's views belong to the window's owner (data_share.h) */
        free(set->pixels);
        free(set->values);
        free(set->labels);
    }
    memset(set, 0, sizeof *set);
}

NN_VECTOR_CLONES void idx_gather_cols(const idx_set *set, const int *idx, int n, int c_lo, int c_hi, float *out)
{
    /* v * (1/255) in double, rounded once to float, is exactly v / 255.0f (what
     * numpy computes): v/255 is never within double rounding of a float
     * midpoint (test_idx checks all 256 values). A multiply vectorizes well. */
    const double inv255 = IDX_INPUT_SCALE;
    const size_t width = (size_t)set->input_size, cols = (size_t)(c_hi - c_lo);
    if (set->synthetic) {
        synth_gather_rows(set, idx, n, c_lo, c_hi, out);
        return;
    }
    for (int r = 0; r < n; r++) {
        float *dst = out + (size_t)r * cols;
        if (set->values) {
            memcpy(dst, set->values + (size_t)idx[r] * width + (size_t)c_lo, sizeof(float) * cols);
            continue;
        }
        const uint8_t *src = set->pixels + (size_t)idx[r] * width + (size_t)c_lo;
        for (size_t j = 0; j < cols; j++) dst[j] = (float)((double)src[j] * inv255);
    }
}

void idx_gather_rows(const idx_set *set, const int *idx, int n, float *out)
{
    idx_gather_cols(set, idx, n, 0, set->input_size, out);
}

void idx_prefetch_cols(const idx_set *set, const int *idx, int n, int c_lo, int c_hi)
{
    if (set->synthetic || c_hi <= c_lo) return; /* generated, nothing to load */
    size_t value = set->values ? sizeof(float) : 1, row_bytes = (size_t)set->input_size * value;
    size_t first = (size_t)c_lo * value, end = (size_t)c_hi * value;
    const uint8_t *base = set->values ? (const uint8_t *)set->values : set->pixels;
    for (int r = 0; r < n; r++) {
        const uint8_t *src = base + (size_t)idx[r] * row_bytes;
        for (size_t j = first; j < end; j += 64) __builtin_prefetch(src + j, 0, 3);
        __builtin_prefetch(src + end - 1, 0, 3); /* the columns straddle one more cache line than they fill */
    }
}

void idx_prefetch_rows(const idx_set *set, const int *idx, int n)
{
    idx_prefetch_cols(set, idx, n, 0, set->input_size);
}
