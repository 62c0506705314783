/*
 * fuzz_idx.c: libFuzzer harness for the IDX reader (src/idx.c).
 *
 * Every input goes to both idx_parse_images() and idx_parse_labels(); each
 * checks its own magic number, so the fuzzer reaches both through the first
 * four bytes. Besides "no crash, no leak" the harness checks the contract of
 * include/idx.h, and abort()s (a finding) when it is broken:
 *   success: the count matches the header, the file size is exact, the copy
 *            equals the payload, and every label is 0..9;
 *   failure: err holds a message and the out-parameters were not touched.
 * Build and run: mpi-tests/fuzz/run.sh.
 */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy into an exact-size heap buffer so ASan sees any read past the end
     * (libFuzzer's own buffer is exact-size too; this keeps the intent explicit
     * and lets the harness pass NULL for an empty input, as a caller might). */
    uint8_t *buf = size ? malloc(size) : NULL;
    if (size) memcpy(buf, data, size);

    uint8_t *pixels = (uint8_t *)&pixels; /* sentinel: must be untouched on failure */
    int count = -7;
    nn_err err = {0};
    if (idx_parse_images(buf, size, "fuzz-images", &pixels, &count, &err) == 0) {
        CHECK(!err.failed);
        CHECK(size >= 16 && be32(buf) == IDX_IMAGE_MAGIC);
        CHECK(count > 0 && (uint32_t)count == be32(buf + 4));
        CHECK(be32(buf + 8) == IDX_ROWS && be32(buf + 12) == IDX_COLS);
        CHECK(size == 16 + (size_t)count * IDX_PIXELS);
        CHECK(memcmp(pixels, buf + 16, (size_t)count * IDX_PIXELS) == 0);
        free(pixels);
    } else {
        CHECK(err.failed && err.msg[0] != '\0');
        CHECK(pixels == (uint8_t *)&pixels && count == -7);
    }

    uint8_t *labels = (uint8_t *)&labels;
    count = -7;
    memset(&err, 0, sizeof err);
    if (idx_parse_labels(buf, size, "fuzz-labels", &labels, &count, &err) == 0) {
        CHECK(!err.failed);
        CHECK(size >= 8 && be32(buf) == IDX_LABEL_MAGIC);
        CHECK(count > 0 && (uint32_t)count == be32(buf + 4) && size == 8 + (size_t)count);
        for (int i = 0; i < count; i++) CHECK(labels[i] < IDX_CLASSES && labels[i] == buf[8 + i]);
        free(labels);
    } else {
        CHECK(err.failed && err.msg[0] != '\0');
        CHECK(labels == (uint8_t *)&labels && count == -7);
    }

    free(buf);
    return 0;
}
