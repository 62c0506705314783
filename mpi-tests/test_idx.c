/* test_idx.c: the IDX reader on files the test writes itself, valid and
 * malformed: other geometries, float32, gzip (written here with zlib). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <zlib.h>

#include "idx.h"
#include "synth.h"
#include "test_util.h"

#define MNIST_PIXELS IDX_PIXELS

static char dir[256];

/* An IDX file being built: header of `n_dims` dimensions, then payload. */
typedef struct {
    uint8_t *buf;
    size_t len;
} file_buf;

/* Builds an image file: magic 0x0000TTKK, n items of dims[0..k), pixel j of
 * image i = (i*7+j) % 256 as a byte, or as the float ((i*7+j) % 256) * 0.25 - 3. */
static file_buf make_images(int type, uint32_t n, const uint32_t *dims, int k)
{
    size_t per = 1;
    for (int i = 0; i < k; i++) per *= dims[i];
    size_t elem = type == IDX_TYPE_FLOAT32 ? 4 : 1, header = 4 + 4 * (size_t)(k + 1);
    file_buf f = {calloc(1, header + n * per * elem + 64), header + n * per * elem};
    assert_non_null(f.buf);
    test_put_be32(f.buf, (uint32_t)(type << 8 | (k + 1))), test_put_be32(f.buf + 4, n);
    for (int i = 0; i < k; i++) test_put_be32(f.buf + 8 + 4 * i, dims[i]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < per; j++) {
            uint8_t *p = f.buf + header + (i * per + j) * elem;
            if (elem == 1) *p = (uint8_t)((i * 7 + j) % 256);
            else {
                float v = (float)((i * 7 + j) % 256) * 0.25f - 3.0f;
                uint32_t bits;
                memcpy(&bits, &v, 4);
                test_put_be32(p, bits);
            }
        }
    return f;
}

/* n labels, label i = i % 10. */
static file_buf make_labels(uint32_t n)
{
    file_buf f = {calloc(1, 8 + n + 64), 8 + n};
    assert_non_null(f.buf);
    test_put_be32(f.buf, IDX_LABEL_MAGIC), test_put_be32(f.buf + 4, n);
    for (uint32_t i = 0; i < n; i++) f.buf[8 + i] = (uint8_t)(i % 10);
    return f;
}

/* Writes f (len + size_delta bytes) to dir/name, plain or gzip-compressed; frees f. */
static void put(const char *name, file_buf f, long size_delta, int gz)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len = (size_t)((long)f.len + size_delta);
    if (!gz) {
        assert_int_equal(test_write_file(path, f.buf, len), 0);
    } else {
        gzFile z = gzopen(path, "wb");
        assert_non_null(z);
        assert_int_equal(gzwrite(z, f.buf, (unsigned)len), (int)len);
        assert_int_equal(gzclose(z), Z_OK);
    }
    free(f.buf);
}

static void write_images(const char *name, uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols, long size_delta)
{
    uint32_t dims[2] = {rows, cols};
    file_buf f = make_images(IDX_TYPE_UBYTE, n, dims, 2);
    test_put_be32(f.buf, magic);
    put(name, f, size_delta, 0);
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
    if (rc != 0) assert_true(set->pixels == NULL && set->values == NULL && set->labels == NULL);
    return err.failed ? err.msg : "";
}

/* Every row of set against make_images' formula, through idx_gather_rows. */
static void check_rows(const idx_set *set, int n)
{
    float *out = calloc((size_t)n * (size_t)set->input_size, sizeof(float));
    int *rows = calloc((size_t)n, sizeof(int));
    assert_true(out && rows);
    for (int r = 0; r < n; r++) rows[r] = n - 1 - r;
    idx_gather_rows(set, rows, n, out);
    for (int r = 0; r < n; r++)
        for (int j = 0; j < set->input_size; j++) {
            int v = (rows[r] * 7 + j) % 256;
            float want = set->type == IDX_TYPE_FLOAT32 ? (float)v * 0.25f - 3.0f : (float)v / 255.0f;
            if (out[(size_t)r * set->input_size + j] != want) fail_msg("row %d value %d", rows[r], j);
        }
    free(out);
    free(rows);
}

/* idx_open + idx_read_into (the path of a node's shared window) decode into
 * the caller's memory exactly what make_images wrote, gzip and float32
 * included, keep only the first `keep` items, check the counts of the
 * pair, and leave a borrowed set's arrays alone in idx_free. */
static void reading_into_caller_memory(void **state)
{
    (void)state;
    uint32_t dims[3] = {3, 2, 4};
    put("into-images.gz", make_images(IDX_TYPE_FLOAT32, 9, dims, 3), 0, 1);
    put("into-labels", make_labels(9), 0, 0);
    put("into-labels-8", make_labels(8), 0, 0);
    char ip[512], lp[512], lp8[512];
    snprintf(ip, sizeof ip, "%s/into-images.gz", dir);
    snprintf(lp, sizeof lp, "%s/into-labels", dir);
    snprintf(lp8, sizeof lp8, "%s/into-labels-8", dir);
    nn_err err = {0};
    idx_reader *images = NULL, *labels = NULL;
    assert_int_equal(idx_open(ip, 1, 7, &images, &err), 0);
    assert_int_equal(idx_open(lp, 0, 7, &labels, &err), 0);
    assert_int_equal(idx_reader_count(images), 9);
    assert_int_equal(idx_check_counts(images, labels, &err), 0);
    assert_int_equal(idx_reader_bytes(images), 7 * 24 * sizeof(float));
    assert_int_equal(idx_reader_bytes(labels), 7);
    /* one block, as a window holds it: the images, then the labels on a later cache line */
    uint8_t *block = aligned_alloc(64, 64 * 20);
    assert_non_null(block);
    memset(block, 0xee, 64 * 20);
    idx_set set;
    memset(&set, 0, sizeof set);
    assert_int_equal(idx_read_into(images, block, &set, &err), 0);
    assert_int_equal(idx_read_into(labels, block + 64 * 11, &set, &err), 0);
    idx_close(images);
    idx_close(labels);
    assert_true(set.values == (float *)(void *)block && set.labels == block + 64 * 11 && set.pixels == NULL);
    assert_true(set.count == 7 && set.input_size == 24 && set.n_dims == 3 && set.type == IDX_TYPE_FLOAT32);
    assert_int_equal(set.max_label, 6);
    check_rows(&set, 7);
    for (int i = 0; i < 7; i++) assert_int_equal(set.labels[i], i % 10);
    assert_int_equal(block[64 * 11 + 7], 0xee); /* nothing past the kept items */
    set.borrowed = 1;
    idx_free(&set); /* must not free block: ASan and free() below would catch a double free */
    assert_null(set.values);
    free(block);
    /* a pair whose counts differ, and more items than the file holds */
    assert_int_equal(idx_open(ip, 1, 0, &images, &err), 0);
    assert_int_equal(idx_open(lp8, 0, 0, &labels, &err), 0);
    assert_int_equal(idx_check_counts(images, labels, &err), IDX_ERR_FILE);
    assert_non_null(strstr(err.msg, "holds 9 images but"));
    idx_close(images);
    idx_close(labels);
    memset(&err, 0, sizeof err);
    assert_int_equal(idx_open(ip, 1, 10, &images, &err), IDX_ERR_TOO_FEW);
    assert_null(images);
    assert_non_null(strstr(err.msg, "asked for 10 items but"));
}

static void valid_files_load_with_scaled_pixels(void **state)
{
    (void)state;
    write_images("ok-images", IDX_IMAGE_MAGIC, 5, 28, 28, 0);
    put("ok-labels", make_labels(5), 0, 0);
    idx_set set;
    assert_string_equal(load("ok-images", "ok-labels", 0, &set), "");
    assert_int_equal(set.count, 5);
    assert_int_equal(set.labels[3], 3);
    assert_int_equal(set.max_label, 4);
    assert_true(set.input_size == MNIST_PIXELS && set.n_dims == 2 && set.type == IDX_TYPE_UBYTE);
    check_rows(&set, 5);
    idx_free(&set);
    assert_string_equal(load("ok-images", "ok-labels", 3, &set), "");
    assert_int_equal(set.count, 3);
    idx_free(&set);
}

/* The vectorized conversion equals v / 255.0f for every byte value. */
static void pixel_scaling_is_exact_division(void **state)
{
    (void)state;
    static uint8_t pixels[256 * MNIST_PIXELS];
    for (int v = 0; v < 256; v++) memset(pixels + v * MNIST_PIXELS, v, MNIST_PIXELS);
    idx_set set = {.count = 256, .input_size = MNIST_PIXELS, .type = IDX_TYPE_UBYTE, .pixels = pixels};
    int rows[256];
    for (int v = 0; v < 256; v++) rows[v] = v;
    static float out[256 * MNIST_PIXELS];
    idx_gather_rows(&set, rows, 256, out);
    for (int v = 0; v < 256; v++)
        for (int j = 0; j < MNIST_PIXELS; j++)
            if (out[v * MNIST_PIXELS + j] != (float)v / 255.0f) fail_msg("byte %d converts to %.9g", v, out[v * MNIST_PIXELS + j]);
}

/* Images of 1 to 4 dimensions per item, bytes and float32, plain and gzip. */
static void any_geometry_and_type_loads(void **state)
{
    (void)state;
    static const uint32_t shapes[][4] = {{5, 7}, {11}, {2, 3, 4}, {2, 1, 3, 2}};
    static const int ks[] = {2, 1, 3, 4};
    put("labels-6", make_labels(6), 0, 0);
    put("labels-6.gz", make_labels(6), 0, 1);
    for (int s = 0; s < 4; s++)
        for (int type = 0; type < 2; type++)
            for (int gz = 0; gz < 2; gz++) {
                int t = type ? IDX_TYPE_FLOAT32 : IDX_TYPE_UBYTE;
                put("shaped", make_images(t, 6, shapes[s], ks[s]), 0, gz);
                idx_set set;
                assert_string_equal(load("shaped", gz ? "labels-6.gz" : "labels-6", 0, &set), "");
                int size = 1;
                for (int i = 0; i < ks[s]; i++) size *= (int)shapes[s][i], assert_int_equal(set.input_dims[i], shapes[s][i]);
                assert_true(set.count == 6 && set.n_dims == ks[s] && set.input_size == size && set.type == t);
                assert_true((set.values != NULL) == (t == IDX_TYPE_FLOAT32) && set.max_label == 5);
                check_rows(&set, 6);
                idx_free(&set);
                /* the first 4 only: a gzip file is still read to its end */
                assert_string_equal(load("shaped", "labels-6", 4, &set), "");
                assert_int_equal(set.count, 4);
                check_rows(&set, 4);
                idx_free(&set);
            }
    uint32_t five_by_seven[2] = {5, 7};
    idx_set a = {.n_dims = 2, .input_dims = {5, 7}, .type = IDX_TYPE_FLOAT32}, b = {.n_dims = 2, .input_dims = {7, 5}};
    char text[96];
    assert_string_equal(idx_shape_text(&a, text, sizeof text), "5x7 float32");
    assert_false(idx_same_geometry(&a, &b));
    (void)five_by_seven;
}

/* NaN and Inf in a float32 file are refused, naming the file and the item. */
static void float32_nan_and_inf_are_refused(void **state)
{
    (void)state;
    uint32_t dims[2] = {5, 7};
    put("labels-3", make_labels(3), 0, 0);
    static const uint32_t bad[2] = {0x7fc00000u, 0xff800000u};
    static const char *const says[2] = {"value 5 of image 2 is NaN", "value 5 of image 2 is infinite"};
    for (int i = 0; i < 2; i++) {
        file_buf f = make_images(IDX_TYPE_FLOAT32, 3, dims, 2);
        test_put_be32(f.buf + 16 + 4 * (2 * 35 + 5), bad[i]);
        put("nan-images", f, 0, i);
        idx_set set;
        const char *msg = load("nan-images", "labels-3", 0, &set);
        assert_non_null(strstr(msg, says[i]));
        assert_non_null(strstr(msg, "nan-images"));
    }
}

/* A gzip file of `plain` (len bytes) with the deflate data's byte `at` flipped
 * (at < 0: none), cut by `cut` bytes, with `extra` appended. */
static void put_gzip_damaged(const char *name, file_buf plain, long at, size_t cut, const char *extra)
{
    uLongf cap = compressBound(plain.len) + 64;
    uint8_t *z = malloc(cap);
    z_stream s = {0};
    assert_int_equal(deflateInit2(&s, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    s.next_in = plain.buf, s.avail_in = (uInt)plain.len, s.next_out = z, s.avail_out = (uInt)cap;
    assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
    size_t len = s.total_out;
    deflateEnd(&s);
    if (at >= 0) z[10 + at] ^= 0x55;
    len -= cut;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(z, 1, len, f), len);
    if (extra) fputs(extra, f);
    assert_int_equal(fclose(f), 0);
    free(z);
    free(plain.buf);
}

static void corrupt_gzip_is_refused(void **state)
{
    (void)state;
    uint32_t dims[2] = {5, 7};
    idx_set set;
    put("labels-40", make_labels(40), 0, 0);
    put_gzip_damaged("flipped.gz", make_images(IDX_TYPE_UBYTE, 40, dims, 2), 30, 0, NULL);
    const char *msg = load("flipped.gz", "labels-40", 0, &set);
    assert_true(strstr(msg, "corrupt gzip data") || strstr(msg, "truncated") || strstr(msg, "trailing"));
    put_gzip_damaged("cut.gz", make_images(IDX_TYPE_UBYTE, 40, dims, 2), -1, 12, NULL);
    assert_non_null(strstr(load("cut.gz", "labels-40", 0, &set), "cut.gz: the gzip stream is truncated"));
    put_gzip_damaged("garbage.gz", make_images(IDX_TYPE_UBYTE, 40, dims, 2), -1, 0, "junk");
    assert_non_null(strstr(load("garbage.gz", "labels-40", 0, &set), "trailing data after the gzip stream"));
    put("short.gz", make_images(IDX_TYPE_UBYTE, 40, dims, 2), -35, 1);
    assert_non_null(strstr(load("short.gz", "labels-40", 0, &set), "truncated: the decompressed data ends 35 bytes"));
    put("long.gz", make_images(IDX_TYPE_UBYTE, 40, dims, 2), +3, 1);
    assert_non_null(strstr(load("long.gz", "labels-40", 0, &set), "decompressed file is longer than its header"));
    /* a header that declares 10^8 images of 4096x4096 in a file of a few dozen bytes: refused before allocating */
    file_buf bomb = make_images(IDX_TYPE_UBYTE, 1, dims, 2);
    test_put_be32(bomb.buf + 4, 100000000), test_put_be32(bomb.buf + 8, 4096), test_put_be32(bomb.buf + 12, 4096);
    put("bomb.gz", bomb, 0, 1);
    assert_non_null(strstr(load("bomb.gz", "labels-40", 0, &set), "more than a gzip file of"));
}

/* Header words: magic, then the dimensions; the payload is whatever follows. */
static const char *load_header(const uint32_t *words, int n_words, size_t payload)
{
    file_buf f = {calloc(1, 4 * (size_t)n_words + payload + 1), 4 * (size_t)n_words + payload};
    for (int i = 0; i < n_words; i++) test_put_be32(f.buf + 4 * i, words[i]);
    put("header", f, 0, 0);
    idx_set set;
    return load("header", "labels-5", 0, &set);
}

static void malformed_files_are_refused_with_their_reason(void **state)
{
    (void)state;
    idx_set set;
    put("labels-5", make_labels(5), 0, 0);
    write_images("bad-magic", 0x12340803, 5, 28, 28, 0);
    assert_non_null(strstr(load("bad-magic", "labels-5", 0, &set), "wrong magic number 0x12340803: not an IDX file"));
    assert_non_null(strstr(load("labels-5", "labels-5", 0, &set), "labels-5: 1 dimensions"));
    write_images("truncated", IDX_IMAGE_MAGIC, 5, 28, 28, -100);
    assert_non_null(strstr(load("truncated", "labels-5", 0, &set), "expected 3936 for 5 images of 28x28 (truncated)"));
    write_images("trailing", IDX_IMAGE_MAGIC, 5, 28, 28, +3);
    assert_non_null(strstr(load("trailing", "labels-5", 0, &set), "trailing data"));
    write_images("short-header", IDX_IMAGE_MAGIC, 5, 28, 28, -(16 + 5 * 784 - 10));
    assert_non_null(strstr(load("short-header", "labels-5", 0, &set), "too short"));
    static const struct { uint32_t type; const char *name; } types[] = {
        {0x09, "0x09 (signed byte)"}, {0x0B, "0x0b (int16)"}, {0x0C, "0x0c (int32)"}, {0x0E, "0x0e (float64)"}};
    for (int i = 0; i < 4; i++) {
        uint32_t words[4] = {types[i].type << 8 | 3, 5, 2, 2};
        const char *msg = load_header(words, 4, 5 * 4 * 8);
        assert_non_null(strstr(msg, types[i].name));
        assert_non_null(strstr(msg, "is not read by nnmpi: images must be unsigned bytes (0x08) or float32 (0x0D)"));
    }
    uint32_t six_dims[7] = {0x0806, 5, 1, 1, 1, 1, 1};
    assert_non_null(strstr(load_header(six_dims, 7, 5), "6 dimensions"));
    uint32_t zero_dim[4] = {0x0803, 5, 0, 3};
    assert_non_null(strstr(load_header(zero_dim, 4, 0), "dimension 2 of the images is 0"));
    uint32_t huge[4] = {0x0803, 5, 65536, 65536};
    assert_non_null(strstr(load_header(huge, 4, 0), "at most 16777216 values per image"));
    uint32_t no_items[4] = {0x0803, 0, 2, 2};
    assert_non_null(strstr(load_header(no_items, 4, 0), "implausible item count 0"));
    write_images("ok-images", IDX_IMAGE_MAGIC, 5, 28, 28, 0);
    put("six-labels", make_labels(6), 0, 0);
    assert_non_null(strstr(load("ok-images", "six-labels", 0, &set), "counts must agree"));
    write_images("image-as-labels", IDX_IMAGE_MAGIC, 5, 28, 28, 0);
    assert_non_null(strstr(load("ok-images", "image-as-labels", 0, &set), "nnmpi reads labels as unsigned bytes"));
    put("labels-truncated", make_labels(5), -1, 0);
    assert_non_null(strstr(load("ok-images", "labels-truncated", 0, &set), "truncated"));
    assert_non_null(strstr(load("missing", "labels-5", 0, &set), "cannot open data file"));
    assert_non_null(strstr(load("ok-images", "labels-5", 6, &set), "asked for 6"));
    assert_non_null(strstr(load(".", "labels-5", 0, &set), "is a directory"));
}

/* Labels against a class count: the file and the item are named. */
static void labels_are_checked_against_the_classes(void **state)
{
    (void)state;
    write_images("ok-images", IDX_IMAGE_MAGIC, 5, 28, 28, 0);
    put("labels-5", make_labels(5), 0, 0);
    idx_set set;
    assert_string_equal(load("ok-images", "labels-5", 0, &set), "");
    nn_err err = {0};
    assert_int_equal(idx_check_labels(&set, 5, "L", &err), 0);
    assert_int_equal(idx_check_labels(&set, 3, "L", &err), -1);
    assert_string_equal(err.msg, "L: label 3 of item 3 is out of range: expected 0..2 (3 classes)");
    idx_free(&set);
}

/* idx_parse_*: the same reader on memory, the way the fuzzer calls it. */
static void parsing_memory_matches_the_files(void **state)
{
    (void)state;
    uint32_t dims[3] = {2, 3, 4};
    file_buf f = make_images(IDX_TYPE_FLOAT32, 3, dims, 3);
    idx_set set = {0};
    nn_err err = {0};
    if (idx_parse_images(f.buf, f.len, "mem", &set, &err) != 0) fail_msg("%s", err.msg);
    assert_true(set.count == 3 && set.input_size == 24 && set.n_dims == 3 && set.values[24 + 1] == 8 * 0.25f - 3);
    idx_free(&set);
    assert_int_equal(idx_parse_images(f.buf, f.len - 1, "mem", &set, &err), -1);
    assert_non_null(strstr(err.msg, "mem: file is"));
    assert_null(set.values);
    free(f.buf);
    file_buf l = make_labels(12);
    uint8_t *labels = NULL;
    int count = 0, max_label = -1;
    memset(&err, 0, sizeof err);
    assert_int_equal(idx_parse_labels(l.buf, l.len, "mem", &labels, &count, &max_label, &err), 0);
    assert_true(count == 12 && max_label == 9 && labels[11] == 1);
    free(labels);
    free(l.buf);
}

/* Synthetic rows: in [0, 1), the same for the same sample whichever set or
 * offset it is reached from, different for another seed; labels < classes. */
static void synthetic_rows_are_a_function_of_the_sample(void **state)
{
    (void)state;
    nn_synth_spec spec;
    nn_err err = {0};
    assert_int_equal(synth_parse("300,5,100,40", &spec, &err), 0);
    assert_true(spec.inputs == 300 && spec.classes == 5 && spec.train == 100 && spec.test == 40);
    idx_set train, test, other;
    synth_make_set(&spec, 9, 0, 100, &train);
    synth_make_set(&spec, 9, 100, 40, &test);
    synth_make_set(&spec, 10, 0, 100, &other);
    assert_true(train.synthetic && train.n_dims == 1 && train.input_size == 300 && train.type == IDX_TYPE_FLOAT32);
    static float a[2 * 300], b[2 * 300];
    int rows[2] = {97, 3};
    idx_gather_rows(&train, rows, 2, a);
    idx_set view = train; /* a --validation view: the last 10 rows, reached from offset 90 */
    view.synth_first = 90;
    int view_rows[2] = {7, 3};
    idx_gather_rows(&view, view_rows, 1, b);
    assert_memory_equal(a, b, sizeof(float) * 300);
    idx_gather_rows(&other, rows, 2, b);
    int same = 0;
    for (int j = 0; j < 600; j++) assert_true(a[j] >= 0.0f && a[j] < 1.0f), same += a[j] == b[j];
    assert_true(same < 10);
    int counts[5] = {0};
    for (int i = 0; i < 40; i++) assert_true(test.labels[i] < 5), counts[test.labels[i]]++;
    for (int c = 0; c < 5; c++) assert_true(counts[c] > 0);
    static const char *const bad[] = {"0,5,100,40", "300,1,100,40", "300,5,0,40", "300,5,100", "300,5,100,40,",
                                      "x,5,100,40", "300,5,100000001,40", "-3,5,100,40", "300,5,100, 40"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(synth_parse(bad[i], &spec, &err), -1);
        assert_non_null(strstr(err.msg, "--data: expected synthetic:INPUTS,CLASSES,TRAIN,TEST"));
    }
    idx_free(&train), idx_free(&test), idx_free(&other);
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
        cmocka_unit_test(any_geometry_and_type_loads),
        cmocka_unit_test(float32_nan_and_inf_are_refused),
        cmocka_unit_test(corrupt_gzip_is_refused),
        cmocka_unit_test(labels_are_checked_against_the_classes),
        cmocka_unit_test(parsing_memory_matches_the_files),
        cmocka_unit_test(reading_into_caller_memory),
        cmocka_unit_test(synthetic_rows_are_a_function_of_the_sample),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    test_remove_tree(dir);
    return failed;
}
