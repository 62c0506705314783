/*
 * fuzz_idx.c: libFuzzer harness for the IDX reader (src/idx.c).
 *
 * Every input goes to both idx_parse_images() and idx_parse_labels(), the
 * same reader nnmpi runs on files (plain or gzip, told by the first two
 * bytes); each checks its own magic number, so the fuzzer reaches both
 * through the first four bytes. Besides "no crash, no leak" the harness
 * checks the contract of include/idx.h, and abort()s (a finding) when it is
 * broken:
 *   success: the count and geometry match the header, every dimension >= 1
 *            and their product the input size; a plain input's size is
 *            exact and the copy equals the payload (bytes as they are,
 *            float32 byte-swapped and finite); every label is at most
 *            max_label;
 *   failure: err holds a message and the out-parameters were not touched.
 * Build and run: mpi-tests/fuzz/run.sh.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idx.h"

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz_idx: contract broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* A successful image parse of a plain (not gzip) input: exact size, exact copy. */
static void check_plain_images(const uint8_t *buf, size_t size, const idx_set *set)
{
    size_t header = 4 + 4 * (size_t)(set->n_dims + 1), elem = set->type == IDX_TYPE_FLOAT32 ? 4 : 1;
    size_t n = (size_t)set->count * (size_t)set->input_size;
    CHECK(buf[2] == set->type && buf[3] == set->n_dims + 1 && (uint32_t)set->count == be32(buf + 4));
    for (int i = 0; i < set->n_dims; i++) CHECK((uint32_t)set->input_dims[i] == be32(buf + 8 + 4 * i));
    CHECK(size == header + n * elem);
    if (set->type == IDX_TYPE_UBYTE) {
        CHECK(set->pixels && !set->values && memcmp(set->pixels, buf + header, n) == 0);
        return;
    }
    CHECK(set->values && !set->pixels);
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = be32(buf + header + 4 * i), got;
        memcpy(&got, &set->values[i], 4);
        CHECK(bits == got && isfinite(set->values[i]));
    }
}

static void check_images(const uint8_t *buf, size_t size)
{
    idx_set set;
    memset(&set, 0x5a, sizeof set); /* sentinel: must be untouched on failure */
    idx_set sentinel = set;
    nn_err err = {0};
    if (idx_parse_images(buf, size, "fuzz-images", &set, &err) == 0) {
        CHECK(!err.failed && set.count > 0 && set.count <= IDX_MAX_COUNT && !set.labels);
        CHECK(set.n_dims >= 1 && set.n_dims <= IDX_MAX_DIMS);
        CHECK(set.type == IDX_TYPE_UBYTE || set.type == IDX_TYPE_FLOAT32);
        long long product = 1;
        for (int i = 0; i < set.n_dims; i++) {
            CHECK(set.input_dims[i] >= 1);
            product *= set.input_dims[i];
        }
        CHECK(product == set.input_size && product <= IDX_MAX_INPUT_SIZE);
        if (!(size >= 2 && buf[0] == 0x1f && buf[1] == 0x8b)) check_plain_images(buf, size, &set);
        idx_free(&set);
    } else {
        CHECK(err.failed && err.msg[0] != '\0');
        CHECK(memcmp(&set, &sentinel, sizeof set) == 0);
    }
}

static void check_labels(const uint8_t *buf, size_t size)
{
    uint8_t *labels = (uint8_t *)&labels;
    int count = -7, max_label = -7;
    nn_err err = {0};
    if (idx_parse_labels(buf, size, "fuzz-labels", &labels, &count, &max_label, &err) == 0) {
        CHECK(!err.failed && count > 0 && max_label >= 0 && max_label <= 255);
        int seen = 0;
        for (int i = 0; i < count; i++) {
            CHECK(labels[i] <= max_label);
            seen |= labels[i] == max_label;
        }
        CHECK(seen);
        if (!(size >= 2 && buf[0] == 0x1f && buf[1] == 0x8b)) {
            CHECK(size >= 8 && be32(buf) == IDX_LABEL_MAGIC);
            CHECK((uint32_t)count == be32(buf + 4) && size == 8 + (size_t)count);
            CHECK(memcmp(labels, buf + 8, (size_t)count) == 0);
        }
        free(labels);
    } else {
        CHECK(err.failed && err.msg[0] != '\0');
        CHECK(labels == (uint8_t *)&labels && count == -7 && max_label == -7);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy into an exact-size heap buffer so ASan sees any read past the end
     * (libFuzzer's own buffer is exact-size too; this keeps the intent explicit
     * and lets the harness pass NULL for an empty input, as a caller might). */
    uint8_t *buf = size ? malloc(size) : NULL;
    if (size) memcpy(buf, data, size);
    check_images(buf, size);
    check_labels(buf, size);
    free(buf);
    return 0;
}
