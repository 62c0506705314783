/*
 * idx.h: reads IDX files (docs/data.md): images n x d1 x ... x dk (1 <= k <=
 * IDX_MAX_DIMS) of unsigned bytes (type 0x08) or big-endian float32 (0x0D),
 * labels n of unsigned bytes (0x00000801); plain or gzip-compressed (told by
 * the content's first two bytes, not the name). Knows nothing of MPI: a file
 * is loaded whole into malloc'ed memory (idx_load), or opened and checked
 * first and then decoded into memory the caller provides (idx_open,
 * idx_read_into: data_share.h puts a node's one copy in a shared window);
 * the trainer agrees on failures. Byte images stay as raw bytes;
 * idx_gather_rows() converts only the rows a step needs.
 */
#ifndef NN_IDX_H
#define NN_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "nn_check.h"

#define IDX_IMAGE_MAGIC 0x00000803u /* MNIST's: unsigned bytes, 3 dimensions (n x 28 x 28) */
#define IDX_LABEL_MAGIC 0x00000801u
#define IDX_TYPE_UBYTE 0x08
#define IDX_TYPE_FLOAT32 0x0D
#define IDX_MAX_DIMS 4                /* of one image; the checkpoint's input_shape holds 4 */
#define IDX_MAX_INPUT_SIZE (1 << 24)  /* values per image: 4096 x 4096, 64 MB of float32 a row */
#define IDX_MAX_COUNT 100000000       /* items per file */
#define IDX_INPUT_SCALE (1.0 / 255.0) /* a byte image's input is byte * IDX_INPUT_SCALE, nothing subtracted */
#define IDX_LABEL_HEADER 8            /* magic, count */
/* MNIST's image size and classes, for tests and fuzz seeds; the reader and
 * the trainer take the sizes from the data. */
#define IDX_PIXELS 784
#define IDX_CLASSES 10
/* Every byte of a deflate stream decodes to at most 1032 bytes (RFC 1951's
 * longest match per shortest code): a header that declares more than that of
 * a gzip file's size is refused before anything is allocated. */
#define IDX_GZIP_MAX_RATIO 1032

/* A labelled image set; owns its arrays unless `borrowed`. */
typedef struct {
    int count;                     /* number of images */
    int input_size;                /* values per image, the network's input size: d1 * ... * dk */
    int n_dims;                    /* k */
    int input_dims[IDX_MAX_DIMS];  /* one image's geometry d1 .. dk, flattened row-major into the input */
    int type;                      /* IDX_TYPE_UBYTE or IDX_TYPE_FLOAT32 */
    int max_label;                 /* the largest label of the file (the default classes are it + 1) */
    uint8_t *pixels;               /* IDX_TYPE_UBYTE: (count, input_size) row-major, 0..255; else NULL */
    float *values;                 /* IDX_TYPE_FLOAT32: (count, input_size) row-major, finite; else NULL */
    uint8_t *labels;               /* (count) */
    int synthetic;                 /* --data synthetic:...: rows are generated (synth.h), no pixels or values */
    uint64_t synth_key;            /* synthetic: the inputs' hash key, from the seed */
    long long synth_first;         /* synthetic: row i is sample synth_first + i of the problem */
    int borrowed;                  /* the arrays are views into memory someone else frees (a node's shared
                                      window, data_share.h): idx_free leaves them */
} idx_set;

/* idx_load's failures: the files are unreadable or malformed, or they hold
 * fewer items than asked for (the caller names its option). */
enum { IDX_ERR_FILE = -1, IDX_ERR_TOO_FEW = -2 };

/* Parses an IDX image file held in memory, plain or gzip (`name` is for
 * messages). On success fills set's count, geometry, type and pixels or
 * values (malloc'ed, freed by idx_free); labels stay NULL. Returns 0, or -1
 * with the reason in err and set untouched. */
int idx_parse_images(const uint8_t *buf, size_t len, const char *name, idx_set *set, nn_err *err);

/* Same for a label file: *labels malloc'ed (caller frees), *count, and
 * *max_label the largest label. */
int idx_parse_labels(const uint8_t *buf, size_t len, const char *name, uint8_t **labels, int *count, int *max_label,
                     nn_err *err);

/* Loads images and labels from two files (each plain or gzip), checks the
 * counts agree, and keeps the first `limit` (all when limit <= 0). Returns 0,
 * or IDX_ERR_FILE, or IDX_ERR_TOO_FEW when limit > count, with the reason in
 * err (set is then empty). Labels are not checked against any class count:
 * see idx_check_labels. */
int idx_load(const char *images_path, const char *labels_path, int limit, idx_set *set, nn_err *err);

/* Loads an image file alone (--predict): labels stay NULL. Returns 0 or
 * IDX_ERR_FILE with the reason in err (set is then empty). */
int idx_load_images(const char *images_path, idx_set *set, nn_err *err);

/* An IDX file opened, its header read and checked against the file's size,
 * its items not read yet. */
typedef struct idx_reader idx_reader;

/* Opens a data file (a regular file: a directory, FIFO or device is refused
 * without blocking), plain or gzip, images (images 1) or labels (0), and
 * checks its header; the first `keep` items (all when keep <= 0) are the
 * ones idx_read_into will read. Returns 0 with *out set (idx_close frees
 * it), or IDX_ERR_FILE, or IDX_ERR_TOO_FEW when keep > the file's count,
 * with the reason in err and *out NULL. */
int idx_open(const char *path, int images, int keep, idx_reader **out, nn_err *err);

/* The item count of the file's header. */
int idx_reader_count(const idx_reader *r);

/* An image file and its label file hold as many items: 0, or IDX_ERR_FILE
 * with a message naming both files and both counts. */
int idx_check_counts(const idx_reader *images, const idx_reader *labels, nn_err *err);

/* The bytes the kept items take in memory (float32 stays 4 bytes a value). */
size_t idx_reader_bytes(const idx_reader *r);

/* Reads the kept items into dst (idx_reader_bytes of them, float-aligned),
 * then the rest of the file as idx_load does (a gzip stream to its end);
 * float32 values are converted to host order and must be finite. Points
 * set's pixels or values (an image file) or labels (a label file) at dst and
 * fills its count and geometry or max_label; dst stays the caller's. Returns
 * 0, or -1 with the reason in err (dst's contents are then undefined). Once. */
int idx_read_into(idx_reader *r, void *dst, idx_set *set, nn_err *err);

/* Closes the file and frees r (NULL is fine). */
void idx_close(idx_reader *r);

/* Every label of set is below `classes`; else -1 with a message naming
 * `labels_path`, the item and the label. */
int idx_check_labels(const idx_set *set, int classes, const char *labels_path, nn_err *err);

/* "5x7 ubyte" / "28x28 float32": one image's shape, for messages. */
const char *idx_shape_text(const idx_set *set, char *buf, size_t len);

/* 1 when a and b have the same image geometry (d1 .. dk). */
int idx_same_geometry(const idx_set *a, const idx_set *b);

/* The bytes the set's arrays hold (for the memory plan): images and labels;
 * a synthetic set holds its labels only. */
size_t idx_bytes(const idx_set *set);

/* Frees the arrays (not when borrowed) and empties set. */
void idx_free(idx_set *set);

/* Converts rows idx[0..n) of `set` to the network's inputs: out is (n,
 * input_size); bytes are scaled by IDX_INPUT_SCALE, float32 copied. */
void idx_gather_rows(const idx_set *set, const int *idx, int n, float *out);

/* Columns [c_lo, c_hi) of those rows: out is (n, c_hi - c_lo). */
void idx_gather_cols(const idx_set *set, const int *idx, int n, int c_lo, int c_hi, float *out);

/* Asks the CPU to start loading rows idx[0..n) into cache (a hint; no effect
 * on results), so that a later idx_gather_rows of them does not wait on memory;
 * idx_prefetch_cols: only their columns [c_lo, c_hi). */
void idx_prefetch_rows(const idx_set *set, const int *idx, int n);
void idx_prefetch_cols(const idx_set *set, const int *idx, int n, int c_lo, int c_hi);

#endif
