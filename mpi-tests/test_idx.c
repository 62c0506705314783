/* test_idx.c: the IDX reader on files the test writes itself, valid and malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "idx.h"
#include "test_util.h"

static char dir[256];

/* Writes an image file of n images whose pixel j of image i is (i*7+j) % 256. */
static void write_images(const char *name, uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols, long size_delta)
{
    size_t len = 16 + (size_t)n * rows * cols;
    uint8_t *buf = calloc(1, len + 64);
    assert_non_null(buf);
    test_put_be32(buf, magic), test_put_be32(buf + 4, n), test_put_be32(buf + 8, rows), test_put_be32(buf + 12, cols);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < (size_t)rows * cols; j++) buf[16 + i * rows * cols + j] = (uint8_t)((i * 7 + j) % 256);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(test_write_file(path, buf, (size_t)((long)len + size_delta)), 0);
    free(buf);
}

/* Writes a label file of n labels (i % 10), with label `bad_at` set to 10 when >= 0. */
static void write_labels(const char *name, uint32_t n, int bad_at, long size_delta)
{
    size_t len = 8 + n;
    uint8_t *buf = calloc(1, len + 64);
    assert_non_null(buf);
    test_put_be32(buf, IDX_LABEL_MAGIC), test_put_be32(buf + 4, n);
    for (uint32_t i = 0; i < n; i++) buf[8 + i] = (uint8_t)(i % 10);
    if (bad_at >= 0) buf[8 + bad_at] = 10;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(test_write_file(path, buf, (size_t)((long)len + size_delta)), 0);
    free(buf);
}

/* Loads dir/images + dir/labels; returns the error message ("" on success). */
static const char *load(const char *images, const char *labels, int limit, idx_set *set)
{
    static nn_err err;
    memset(&err, 0, sizeof err);
    char ip[512], lp[512];
    snprintf(ip, sizeof ip, "%s/%s", dir, images);
    snprintf(lp, sizeof lp, "%s/%s", dir, labels);
    int rc = idx_load(ip, lp, limit, set, &err);
    assert_int_equal(rc != 0, err.failed);
    return err.failed ? err.msg : "";
}

static void valid_files_load_with_scaled_pixels(void **state)
{
    (void)state;
    write_images("ok-images", IDX_IMAGE_MAGIC, 5, 28, 28, 0);
    write_labels("ok-labels", 5, -1, 0);
    idx_set set;
    assert_string_equal(load("ok-images", "ok-labels", 0, &set), "");
    assert_int_equal(set.count, 5);
    assert_int_equal(set.labels[3], 3);
    int rows[2] = {4, 1};
    float out[2 * IDX_PIXELS];
    idx_gather_rows(&set, rows, 2, out);
    for (int j = 0; j < IDX_PIXELS; j++) {
        assert_true(out[j] == (float)((4 * 7 + j) % 256) / 255.0f);
        assert_true(out[IDX_PIXELS + j] == (float)((1 * 7 + j) % 256) / 255.0f);
    }
    idx_free(&set);
    assert_string_equal(load("ok-images", "ok-labels", 3, &set), "");
    assert_int_equal(set.count, 3);
    idx_free(&set);
}

/* The vectorized conversion equals v / 255.0f for every byte value. */
static void pixel_scaling_is_exact_division(void **state)
{
    (void)state;
    uint8_t pixels[256 * IDX_PIXELS];
    for (int v = 0; v < 256; v++) memset(pixels + v * IDX_PIXELS, v, IDX_PIXELS);
    idx_set set = {.count = 256, .pixels = pixels, .labels = NULL};
    int rows[256];
    for (int v = 0; v < 256; v++) rows[v] = v;
    static float out[256 * IDX_PIXELS];
    idx_gather_rows(&set, rows, 256, out);
    for (int v = 0; v < 256; v++)
        for (int j = 0; j < IDX_PIXELS; j++)
            if (out[v * IDX_PIXELS + j] != (float)v / 255.0f) fail_msg("byte %d converts to %.9g", v, out[v * IDX_PIXELS + j]);
}

static void malformed_files_are_refused_with_their_reason(void **state)
{
    (void)state;
    idx_set set;
    write_labels("ok-labels", 5, -1, 0);
    write_images("bad-magic", 0x00000801, 5, 28, 28, 0);
    assert_non_null(strstr(load("bad-magic", "ok-labels", 0, &set), "wrong magic number"));
    write_images("bad-dims", IDX_IMAGE_MAGIC, 5, 28, 27, 0);
    assert_non_null(strstr(load("bad-dims", "ok-labels", 0, &set), "28x27, expected 28x28"));
    write_images("truncated", IDX_IMAGE_MAGIC, 5, 28, 28, -100);
    assert_non_null(strstr(load("truncated", "ok-labels", 0, &set), "truncated"));
    write_images("trailing", IDX_IMAGE_MAGIC, 5, 28, 28, +3);
    assert_non_null(strstr(load("trailing", "ok-labels", 0, &set), "trailing data"));
    write_images("short-header", IDX_IMAGE_MAGIC, 5, 28, 28, -(16 + 5 * 784 - 10));
    assert_non_null(strstr(load("short-header", "ok-labels", 0, &set), "too short"));
    write_images("ok-images", IDX_IMAGE_MAGIC, 5, 28, 28, 0);
    write_labels("six-labels", 6, -1, 0);
    assert_non_null(strstr(load("ok-images", "six-labels", 0, &set), "counts must agree"));
    write_labels("bad-label", 5, 2, 0);
    assert_non_null(strstr(load("ok-images", "bad-label", 0, &set), "label 10 of item 2 is out of range"));
    write_labels("labels-truncated", 5, -1, -1);
    assert_non_null(strstr(load("ok-images", "labels-truncated", 0, &set), "truncated"));
    assert_non_null(strstr(load("missing", "ok-labels", 0, &set), "cannot open data file"));
    assert_non_null(strstr(load("ok-images", "ok-labels", 6, &set), "asked for 6"));
    /* each message names the file */
    assert_non_null(strstr(load("bad-dims", "ok-labels", 0, &set), "bad-dims"));
    assert_null(set.pixels);
}

int main(void)
{
    char *d = test_tmpdir();
    if (!d) return 1;
    snprintf(dir, sizeof dir, "%s", d);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_files_load_with_scaled_pixels),
        cmocka_unit_test(malformed_files_are_refused_with_their_reason),
        cmocka_unit_test(pixel_scaling_is_exact_division),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    test_remove_tree(dir);
    return failed;
}
