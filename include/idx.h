/*
 * idx.h: reads the MNIST IDX files (images 0x00000803, labels 0x00000801).
 * Knows nothing of MPI: every rank loads its own copy and the trainer agrees
 * on failures. Images stay as raw bytes; idx_gather_rows() converts only the
 * rows a step needs into a float buffer.
 */
#ifndef NN_IDX_H
#define NN_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "nn_check.h"

#define IDX_IMAGE_MAGIC 0x00000803u
#define IDX_LABEL_MAGIC 0x00000801u
#define IDX_ROWS 28
#define IDX_COLS 28
#define IDX_PIXELS (IDX_ROWS * IDX_COLS)
#define IDX_CLASSES 10
#define IDX_IMAGE_HEADER 16 /* magic, count, rows, cols: big-endian uint32 each */
#define IDX_INPUT_SCALE (1.0 / 255.0) /* a network input is pixel byte * IDX_INPUT_SCALE, nothing subtracted */
#define IDX_LABEL_HEADER 8  /* magic, count */

/* A labelled image set; owns both arrays. */
typedef struct {
    int count;          /* number of images */
    int input_size;     /* values per image, the network's input size: IDX_PIXELS */
    int input_dims[2];  /* one image's geometry, rows x cols, flattened row-major into the input */
    int classes;        /* labels are 0 .. classes - 1: IDX_CLASSES */
    uint8_t *pixels;    /* (count, input_size) row-major, 0..255 */
    uint8_t *labels;    /* (count) 0 .. classes - 1 */
} idx_set;

/* idx_load's failures: the files are unreadable or malformed, or they hold
 * fewer items than asked for (the caller names its option). */
enum { IDX_ERR_FILE = -1, IDX_ERR_TOO_FEW = -2 };

/* Parses an IDX image file held in memory (`name` is for messages). On success
 * *pixels is a malloc'ed copy the caller frees and *count the image count.
 * Returns 0, or -1 with the reason in err. */
int idx_parse_images(const uint8_t *buf, size_t len, const char *name, uint8_t **pixels, int *count, nn_err *err);

/* Same for a label file; checks every label is 0..9. */
int idx_parse_labels(const uint8_t *buf, size_t len, const char *name, uint8_t **labels, int *count, nn_err *err);

/* Loads images and labels from two files, checks the counts agree, and keeps
 * the first `limit` (all when limit <= 0). Returns 0, or IDX_ERR_FILE, or
 * IDX_ERR_TOO_FEW when limit > count, with the reason in err (set is then empty). */
int idx_load(const char *images_path, const char *labels_path, int limit, idx_set *set, nn_err *err);

void idx_free(idx_set *set);

/* Converts rows idx[0..n) of `set` to floats in [0,1]: out is (n, IDX_PIXELS). */
void idx_gather_rows(const idx_set *set, const int *idx, int n, float *out);

/* Asks the CPU to start loading rows idx[0..n) into cache (a hint; no effect
 * on results), so that a later idx_gather_rows of them does not wait on memory. */
void idx_prefetch_rows(const idx_set *set, const int *idx, int n);

#endif
