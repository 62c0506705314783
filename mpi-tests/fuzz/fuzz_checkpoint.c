/*
 * fuzz_checkpoint.c: libFuzzer harnesses for the checkpoint reader
 * (checkpoint_read in src/checkpoint.c).
 *
 * Two builds of this file:
 *
 *   fuzz_checkpoint_raw  (default) the fuzzer's bytes ARE the HDF5 file image,
 *       handed to checkpoint_read() through the core driver. This fuzzes
 *       libhdf5's parser as much as ours, and HDF5 1.10 is not hardened
 *       against malformed files: see docs/reliability.md ("Fuzzing") for what
 *       its findings mean and how run.sh treats them.
 *
 *   fuzz_checkpoint_fields  (-DFUZZ_FIELDS) the fuzzer's bytes choose the
 *       CONTENTS of a checkpoint (each attribute present or missing, of the
 *       right or a wrong type, with chosen values; each dataset of the right
 *       or a wrong shape, type, kind, or unwritten; the optimizer group; the
 *       HDF5 format version), the harness writes that file with the HDF5 API
 *       (the core driver, saved once to a scratch file on close), and
 *       checkpoint_read() reads its image. HDF5 only ever parses
 *       files it wrote itself, so every finding here is in nnmpi's code. All
 *       choices at 0 (an empty input) give a valid checkpoint.
 *
 * Both check the contract of include/checkpoint.h after every call, and
 * abort() (a finding) when it is broken:
 *   success: the sizes and scalars are in the ranges the reader promises,
 *            n_params matches layer_sizes, params is set, velocity is set
 *            exactly when /optimizer exists; (fields) the values are the ones
 *            written, and a checkpoint built with every choice at 0 is accepted;
 *   failure: err names the checkpoint, params/velocity are NULL;
 *   always:  no HDF5 object is left open (H5Fget_obj_count, and a probe of
 *            the dataspace/datatype/property-list ids made during the call).
 */
#include <float.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "idx.h"
#include "nn_version.h"

#define NAME "fuzz.h5"

#define CHECK(cond)                                                                                  \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            fprintf(stderr, "fuzz_checkpoint: contract broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                                 \
        }                                                                                            \
    } while (0)

/* A whole file in a malloc'ed buffer; aborts on failure. */
static void *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    CHECK(n > 0 && fseek(f, 0, SEEK_SET) == 0);
    void *buf = malloc((size_t)n);
    CHECK(buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* A scratch file name for this process (tmpfs when there is one). The file
 * is removed as soon as it has been read, so that a crash (the raw harness
 * crashes inside HDF5 often) leaves nothing behind. */
static char scratch[256];

static void make_scratch(void)
{
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(scratch, sizeof scratch, "%s/nnmpi-fuzz-XXXXXX", dir);
    int fd = mkstemp(scratch);
    CHECK(fd >= 0);
    close(fd);
}

/* Reads one valid checkpoint, from a file and from its image, so that HDF5's
 * lazily created default property lists and the like exist before the
 * leaked-id probe looks at the ids a call leaves behind. */
static void warm_up(void)
{
    static float params[784 * 2 + 2 + 10 * 3];
    nn_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    ck.n_sizes = 3, ck.sizes[0] = IDX_PIXELS, ck.sizes[1] = 2, ck.sizes[2] = IDX_CLASSES;
    ck.batch = 1, ck.train_size = 1, ck.lr = 0.1;
    ck.n_params = sizeof params / sizeof params[0], ck.params = params, ck.velocity = params;
    nn_err err = {0};
    nn_checkpoint back;
    CHECK(checkpoint_write(scratch, &ck, &err) == 0);
    CHECK(checkpoint_read(scratch, NULL, 0, &back, &err) == 0);
    checkpoint_free(&back);
    size_t len = 0;
    void *image = read_whole(scratch, &len);
    unlink(scratch);
    CHECK(checkpoint_read(NAME, image, len, &back, &err) == 0);
    checkpoint_free(&back);
    CHECK(checkpoint_read(NAME, image, len / 2, &back, &err) == -1);
    free(image);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    /* No free lists: HDF5 then returns freed memory to malloc at once, so
     * ASan sees its use-after-frees and LeakSanitizer's allocation stacks are
     * the real ones (a block reused from a free list shows where it was first
     * allocated, possibly in another input). */
    H5set_free_list_limits(0, 0, 0, 0, 0, 0);
    make_scratch();
    warm_up();
    return 0;
}

/* ---------- leaked-handle probe ---------- */

/* HDF5 1.10 numbers the ids of one type consecutively, so the ids created
 * during a call lie strictly between a fresh id made before it and one made
 * after it; any of them still valid afterwards was leaked by the call. */
typedef struct {
    hid_t space, type, plist;
} id_marks;

static id_marks id_marks_now(void)
{
    id_marks m;
    m.space = H5Screate(H5S_SCALAR);
    m.type = H5Tcopy(H5T_NATIVE_INT);
    m.plist = H5Pcreate(H5P_FILE_ACCESS);
    H5Sclose(m.space), H5Tclose(m.type), H5Pclose(m.plist);
    return m;
}

static void check_no_leaked_ids(id_marks before)
{
    /* The error stack of a failed call keeps its messages until the next
     * API call: clear it now, so that an input's mallocs and frees balance
     * and libFuzzer does not run a (slow) leak scan after every input. */
    H5Eclear2(H5E_DEFAULT);
    id_marks after = id_marks_now();
    CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
    const hid_t lo[3] = {before.space, before.type, before.plist}, hi[3] = {after.space, after.type, after.plist};
    for (int k = 0; k < 3; k++) {
        CHECK(lo[k] >= 0 && hi[k] > lo[k] && hi[k] - lo[k] < 1000000);
        for (hid_t id = lo[k] + 1; id < hi[k]; id++) {
            if (H5Iis_valid(id) > 0) {
                fprintf(stderr, "fuzz_checkpoint: checkpoint_read leaked HDF5 id %lld (type %d)\n", (long long)id,
                        (int)H5Iget_type(id));
                abort();
            }
        }
    }
}

/* ---------- the contract ---------- */

/* What the fields harness wrote, to compare against; NULL for the raw harness. */
typedef struct {
    int expect_ok;                       /* every choice was 0: the file is a valid checkpoint */
    int has_optimizer;                   /* /optimizer exists (a group or anything else) */
    int n_sizes, sizes[NN_MAX_SIZES + 8]; /* layer_sizes as written; n_sizes -1 when not known */
    int values_known;                    /* the datasets hold params_value(i) / velocity_value(i) */
} written;

static float params_value(size_t i) { return (float)((int)(i % 13) - 6) / 32.0f; }
static float velocity_value(size_t i) { return (float)(i % 7) / 256.0f; }

static void check_result(int rc, const nn_checkpoint *ck, const nn_err *err, const written *w)
{
    if (rc != 0) {
        CHECK(rc == -1);
        CHECK(err->failed && strstr(err->msg, NAME) != NULL);
        CHECK(ck->params == NULL && ck->velocity == NULL);
        if (w && w->expect_ok) {
            fprintf(stderr, "fuzz_checkpoint: a valid checkpoint was refused: %s\n", err->msg);
            abort();
        }
        return;
    }
    CHECK(!err->failed);
    CHECK(ck->format_version >= 1 && ck->format_version <= NN_CHECKPOINT_FORMAT_VERSION);
    CHECK(memchr(ck->nnmpi_version, '\0', sizeof ck->nnmpi_version) != NULL);
    CHECK(ck->n_sizes >= 2 && ck->n_sizes <= NN_MAX_SIZES);
    size_t n = 0;
    for (int l = 0; l < ck->n_sizes; l++) CHECK(ck->sizes[l] >= 1 && ck->sizes[l] <= 1000000);
    for (int l = 0; l + 1 < ck->n_sizes; l++) n += (size_t)ck->sizes[l + 1] * ((size_t)ck->sizes[l] + 1);
    CHECK(ck->n_params == n && ck->params != NULL);
    CHECK((unsigned)ck->activation <= ACT_TANH && (unsigned)ck->loss <= LOSS_XENT);
    CHECK(ck->epoch >= 0 && ck->step >= 0 && ck->batch >= 1 && ck->train_size >= 1 && ck->chunk >= 0);
    CHECK((ck->shuffle == 0 || ck->shuffle == 1) && (ck->reproducible == 0 || ck->reproducible == 1));
    CHECK(isfinite(ck->lr) && ck->momentum >= 0.0 && ck->momentum < 1.0);
    CHECK(ck->epochs >= -1 && (unsigned)ck->lr_schedule <= LR_LINEAR && ck->lr_batch >= 0);
    CHECK(ck->n_lr_steps >= 0 && ck->n_lr_steps <= NN_MAX_MILESTONES && (ck->n_lr_steps > 0) == (ck->lr_schedule == LR_STEP));
    for (int i = 0; i < ck->n_lr_steps; i++) CHECK(ck->lr_steps[i] > (i ? ck->lr_steps[i - 1] : 0.0));
    CHECK(ck->dropout >= 0.0 && ck->dropout < 1.0 && ck->weight_decay >= 0.0 && isfinite(ck->weight_decay));
    CHECK(ck->warmup >= 0.0 && ck->lr_min >= 0.0 && ck->lr_gamma >= 0.0 && (ck->nesterov == 0 || ck->nesterov == 1));
    volatile float sink = 0.0f; /* touch every element: ASan sees a short buffer */
    for (size_t i = 0; i < n; i++) sink += ck->params[i];
    if (ck->velocity)
        for (size_t i = 0; i < n; i++) sink += ck->velocity[i];
    (void)sink;
    if (!w) return;
    CHECK((ck->velocity != NULL) == (w->has_optimizer != 0));
    if (w->n_sizes >= 0)
        CHECK(ck->n_sizes == w->n_sizes && memcmp(ck->sizes, w->sizes, sizeof(int) * (size_t)w->n_sizes) == 0);
    if (w->values_known) {
        for (size_t i = 0; i < n; i++) CHECK(ck->params[i] == params_value(i));
        if (ck->velocity)
            for (size_t i = 0; i < n; i++) CHECK(ck->velocity[i] == velocity_value(i));
    }
}

#ifndef FUZZ_FIELDS

/* ---------- raw: the bytes are the file ---------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0; /* checkpoint_read() takes image == NULL as "read the file NAME" */
    id_marks before = id_marks_now();
    nn_checkpoint ck;
    nn_err err = {0};
    int rc = checkpoint_read(NAME, data, size, &ck, &err);
    check_result(rc, &ck, &err, NULL);
    if (rc == 0) checkpoint_free(&ck);
    check_no_leaked_ids(before);
    return 0;
}

#else

/* ---------- fields: the bytes choose what a well-formed file holds ---------- */

typedef struct {
    const uint8_t *p;
    size_t n;
} bytes;

/* The next byte; 0 once the input is used up (so a short input means "valid"). */
static unsigned take8(bytes *b)
{
    if (b->n == 0) return 0;
    b->n--;
    return *b->p++;
}

static uint64_t take64(bytes *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | take8(b);
    return v;
}

/* An integer worth trying: boundaries of the reader's ranges, or raw bits. */
static long long take_int(bytes *b)
{
    static const long long pick[] = {0, 1, -1, 2, 7, 10, 784, 1000000, 1000001, 2147483647LL, 2147483648LL,
                                     -2147483648LL, 4294967296LL, 9223372036854775807LL, (-9223372036854775807LL - 1),
                                     700000 /* a hidden layer of gigabytes, inside the reader's limits */};
    unsigned c = take8(b);
    if (c < sizeof pick / sizeof pick[0]) return pick[c];
    return (long long)take64(b);
}

static double take_double(bytes *b)
{
    static const double pick[] = {0.0, 0.5, 1.0, -0.5, 0.999999, 1e308, -1e-308, INFINITY, -INFINITY, NAN, DBL_MIN};
    unsigned c = take8(b);
    if (c < sizeof pick / sizeof pick[0]) return pick[c];
    uint64_t u = take64(b);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* A string: the valid one, another known name, or up to 300 fuzzed bytes. */
static void take_string(bytes *b, const char *valid, char *out, size_t out_len)
{
    static const char *pick[] = {"nnmpi-checkpoint", "sigmoid", "relu", "tanh", "mse", "xent", "", "0.1.0",
                                 "nnmpi-checkpoint\n", "RELU"};
    unsigned c = take8(b);
    if (c == 0) {
        snprintf(out, out_len, "%s", valid);
    } else if (c <= sizeof pick / sizeof pick[0]) {
        snprintf(out, out_len, "%s", pick[c - 1]);
    } else {
        size_t len = take8(b) + (c & 1 ? 0 : 44u); /* reach past the reader's 64-byte buffers */
        if (len >= out_len) len = out_len - 1;
        for (size_t i = 0; i < len; i++) out[i] = (char)take8(b);
        out[len] = '\0';
    }
}

/* Writes attribute `name` on `obj` with a type and value the bytes choose. */
typedef enum { K_STR, K_INT, K_U64, K_DOUBLE } attr_kind;

static void put_attr(hid_t obj, const char *name, hid_t mem, hid_t file_type, hid_t space, const void *value)
{
    hid_t a = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        H5Awrite(a, mem, value);
        H5Aclose(a);
    }
}

/* Returns 1 when the attribute was written exactly as the writer would. */
static int fuzz_attr(hid_t file, bytes *b, const char *name, attr_kind kind, const char *valid_str, long long valid_int,
                     double valid_double)
{
    unsigned mode = take8(b) % 12;
    hid_t scalar = H5Screate(H5S_SCALAR);
    char s[320];
    long long i = valid_int;
    double d = valid_double;
    switch (mode) {
    case 0: /* as nnmpi writes it, valid value */
    case 1: /* as nnmpi writes it, fuzzed value */
        if (kind == K_STR) { /* fixed-length, null-terminated UTF-8 (format 2); fuzzed: or variable-length (format 1) */
            int vlen = 0;
            if (mode == 0) snprintf(s, sizeof s, "%s", valid_str);
            else vlen = take8(b) & 1, take_string(b, valid_str, s, sizeof s);
            hid_t t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, vlen ? H5T_VARIABLE : strlen(s) + 1);
            H5Tset_strpad(t, H5T_STR_NULLTERM);
            H5Tset_cset(t, H5T_CSET_UTF8);
            const char *p = s;
            put_attr(file, name, t, t, scalar, vlen ? (const void *)&p : s);
            H5Tclose(t);
        } else if (kind == K_DOUBLE) {
            if (mode == 1) d = take_double(b);
            put_attr(file, name, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE, scalar, &d);
        } else {
            if (mode == 1) i = take_int(b);
            put_attr(file, name, H5T_NATIVE_LLONG, kind == K_U64 ? H5T_NATIVE_UINT64 : H5T_NATIVE_LLONG, scalar, &i);
        }
        break;
    case 2: /* missing */
        break;
    case 3: { /* a fixed-length string, null-terminated or space-padded, ASCII or UTF-8 */
        take_string(b, valid_str ? valid_str : "1", s, sizeof s);
        unsigned f = take8(b);
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, strlen(s) + (f & 1) + (strlen(s) == 0));
        H5Tset_strpad(t, f & 2 ? H5T_STR_SPACEPAD : f & 4 ? H5T_STR_NULLPAD : H5T_STR_NULLTERM);
        H5Tset_cset(t, f & 8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
        hid_t m = H5Tcopy(t);
        char fixed[330] = {0};
        memcpy(fixed, s, strlen(s));
        put_attr(file, name, m, t, scalar, fixed);
        H5Tclose(m), H5Tclose(t);
        break;
    }
    case 4: /* a 32-bit float or a small integer type, converted on read */
        if (take8(b) & 1) {
            float v = (float)take_double(b);
            put_attr(file, name, H5T_NATIVE_FLOAT, H5T_IEEE_F32BE, scalar, &v);
        } else {
            signed char v = (signed char)take_int(b);
            put_attr(file, name, H5T_NATIVE_SCHAR, H5T_STD_I8BE, scalar, &v);
        }
        break;
    case 5: { /* a 1-D array of 0..20 values where one is expected (and for layer_sizes: its own test) */
        hsize_t n = take8(b) % 21;
        int v[20] = {0};
        for (hsize_t k = 0; k < n; k++) v[k] = (int)take_int(b);
        hid_t sp = H5Screate_simple(1, &n, NULL);
        put_attr(file, name, H5T_NATIVE_INT, H5T_STD_I32LE, sp, v);
        H5Sclose(sp);
        break;
    }
    case 6: { /* a variable-length string array of two */
        hsize_t n = 2;
        const char *v[2] = {valid_str ? valid_str : "1", "x"};
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        hid_t sp = H5Screate_simple(1, &n, NULL);
        put_attr(file, name, t, t, sp, v);
        H5Sclose(sp), H5Tclose(t);
        break;
    }
    case 7: { /* a compound with one member: no conversion to a number or a string */
        hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(long long));
        H5Tinsert(t, "v", 0, H5T_NATIVE_LLONG);
        put_attr(file, name, t, t, scalar, &i);
        H5Tclose(t);
        break;
    }
    case 8: { /* a null dataspace: zero elements */
        hid_t sp = H5Screate(H5S_NULL);
        hid_t a = H5Acreate2(file, name, kind == K_DOUBLE ? H5T_NATIVE_DOUBLE : H5T_NATIVE_LLONG, sp, H5P_DEFAULT,
                             H5P_DEFAULT);
        if (a >= 0) H5Aclose(a);
        H5Sclose(sp);
        break;
    }
    case 9: { /* an enum, an opaque or a bitfield of 8 bytes */
        unsigned f = take8(b) % 3;
        hid_t t = f == 0 ? H5Tenum_create(H5T_NATIVE_LLONG) : f == 1 ? H5Tcreate(H5T_OPAQUE, 8) : H5Tcopy(H5T_STD_B64LE);
        if (f == 0) H5Tenum_insert(t, "v", &i);
        put_attr(file, name, t, t, scalar, &i);
        H5Tclose(t);
        break;
    }
    case 10: { /* a 1-D array type of 2 int64 in a scalar space */
        hsize_t two = 2;
        hid_t t = H5Tarray_create2(H5T_NATIVE_LLONG, 1, &two);
        long long v[2] = {i, i};
        put_attr(file, name, t, t, scalar, v);
        H5Tclose(t);
        break;
    }
    default: { /* a variable-length sequence of ints */
        hid_t t = H5Tvlen_create(H5T_NATIVE_INT);
        int v[3] = {1, 2, 3};
        hvl_t vl = {3, v};
        put_attr(file, name, t, t, scalar, &vl);
        H5Tclose(t);
        break;
    }
    }
    H5Sclose(scalar);
    return mode == 0;
}

/* Writes one dataset of layer `l` (rows x cols) under group `g`; returns 1 when as nnmpi writes it. */
static int fuzz_dataset(hid_t g, bytes *b, const char *name, int rank, hsize_t rows, hsize_t cols, size_t *off,
                        int velocity)
{
    unsigned mode = take8(b) % 12;
    hsize_t dims[2] = {rows, cols};
    size_t count = (size_t)rows * (rank == 2 ? (size_t)cols : 1);
    float *v = malloc(sizeof(float) * (count + 2) * 2);
    for (size_t i = 0; i < (count + 2) * 2; i++) v[i] = velocity ? velocity_value(*off + i) : params_value(*off + i);
    *off += count;
    hid_t type = H5T_IEEE_F32LE, space = H5I_INVALID_HID, dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int write = 1, as_nnmpi = 0;
    switch (mode) {
    case 0: as_nnmpi = 1; break;
    case 1: /* missing */
        write = -1;
        break;
    case 2: dims[rank - 1] += 1; break; /* one too many */
    case 3: dims[0] = dims[0] > 1 ? dims[0] - 1 : 0; break;
    case 4: rank = rank == 2 ? 1 : 2, dims[1] = 1; break; /* wrong rank */
    case 5: type = H5T_STD_I32LE; break;
    case 6: type = H5T_IEEE_F64BE; as_nnmpi = 2; break; /* converts exactly: same values */
    case 7: write = 0; break;                           /* created, never written: fill values */
    case 8: { /* chunked and deflated: a layout nnmpi never writes, refused (only contiguous datasets are read) */
        hsize_t chunk[2] = {dims[0] ? dims[0] : 1, rank == 2 ? (dims[1] ? dims[1] : 1) : 1};
        H5Pset_chunk(dcpl, rank, chunk);
        H5Pset_deflate(dcpl, 1);
        break;
    }
    case 9: /* a group where the dataset should be */
        write = -1;
        H5Gclose(H5Gcreate2(g, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        break;
    case 10: /* a dangling soft link */
        write = -1;
        H5Lcreate_soft("/nowhere", g, name, H5P_DEFAULT, H5P_DEFAULT);
        break;
    default: /* a scalar dataspace */
        write = 2;
        break;
    }
    if (write >= 0) {
        space = write == 2 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
        hid_t d = H5Dcreate2(g, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (d >= 0 && write) H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        if (d >= 0) H5Dclose(d);
        H5Sclose(space);
    }
    H5Pclose(dcpl);
    free(v);
    return as_nnmpi;
}

/* Writes /<top>/<l>/{weights,biases} for sizes[0..n); returns 1 when all are as nnmpi writes them. */
static int fuzz_layers(hid_t file, bytes *b, const char *top, const int *sizes, int n, int velocity, int *exact_values)
{
    int ok = 1;
    size_t off = 0;
    hid_t top_g = H5Gcreate2(file, top, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (top_g < 0) return 0;
    for (int l = 0; l + 1 < n; l++) {
        char name[32];
        snprintf(name, sizeof name, "%d", l);
        hid_t g = H5Gcreate2(top_g, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        int w = fuzz_dataset(g, b, "weights", 2, (hsize_t)sizes[l + 1], (hsize_t)sizes[l], &off, velocity);
        int bi = fuzz_dataset(g, b, "biases", 1, (hsize_t)sizes[l + 1], 0, &off, velocity);
        ok &= w != 0 && bi != 0; /* 1: as nnmpi writes it; 2: another valid encoding of the same floats */
        if (!w || !bi) *exact_values = 0;
        H5Gclose(g);
    }
    H5Gclose(top_g);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bytes b = {data, size};
    written w;
    memset(&w, 0, sizeof w);
    w.values_known = 1;

    /* The file, in the HDF5 1.8 format as nnmpi writes it (0), the oldest
     * format (1: as nnmpi wrote format-1 checkpoints) or the newest (2): built
     * in memory by the core driver and written once on close to a scratch
     * file (tmpfs when there is one), then read back as the image.
     * (H5Fget_file_image() cannot be used: in HDF5 1.10.8 it returns v2/v3
     * superblocks with a stale checksum.) */
    unsigned lib = take8(&b) % 3;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 16, 1);
    if (lib == 0) H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18);
    if (lib == 2) H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t file = H5Fcreate(scratch, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    CHECK(file >= 0);

    /* layer_sizes: the bytes pick how many and which; the datasets follow them
     * (when they are small enough to write), so a size the reader must refuse
     * is not simply caught by a missing dataset. */
    int sizes[NN_MAX_SIZES + 8] = {IDX_PIXELS, 2, IDX_CLASSES};
    int n_sizes = 3, ok = 1;
    unsigned sm = take8(&b) % 4;
    if (sm == 1 || sm == 2) {
        n_sizes = (int)(take8(&b) % (NN_MAX_SIZES + 4));
        for (int l = 0; l < n_sizes; l++) {
            unsigned c = take8(&b);
            sizes[l] = l == 0 && c < 128 ? IDX_PIXELS : l == n_sizes - 1 && c < 128 ? IDX_CLASSES
                     : c < 200 ? (int)(c % 4) + 1 : (int)take_int(&b);
        }
        ok = 0;
    }
    if (sm == 3) {
        ok &= fuzz_attr(file, &b, "layer_sizes", K_INT, NULL, 784, 0); /* a wrong type or missing */
        n_sizes = -1;
    } else if (sm != 2) {
        hsize_t n = (hsize_t)n_sizes;
        hid_t sp = H5Screate_simple(1, &n, NULL);
        put_attr(file, "layer_sizes", H5T_NATIVE_INT, H5T_NATIVE_INT, sp, sizes);
        H5Sclose(sp);
    } /* sm == 2: missing */

    /* the other attributes, in the writer's order */
    ok &= fuzz_attr(file, &b, "format", K_STR, NN_CHECKPOINT_FORMAT, 0, 0);
    ok &= fuzz_attr(file, &b, "format_version", K_INT, NULL, NN_CHECKPOINT_FORMAT_VERSION, 0);
    ok &= fuzz_attr(file, &b, "nnmpi_version", K_STR, NNMPI_VERSION, 0, 0);
    ok &= fuzz_attr(file, &b, "activation", K_STR, "tanh", 0, 0);
    ok &= fuzz_attr(file, &b, "loss", K_STR, "xent", 0, 0);
    ok &= fuzz_attr(file, &b, "epoch", K_INT, NULL, 3, 0);
    ok &= fuzz_attr(file, &b, "step", K_INT, NULL, 17, 0);
    ok &= fuzz_attr(file, &b, "seed", K_U64, NULL, 99, 0);
    ok &= fuzz_attr(file, &b, "batch", K_INT, NULL, 32, 0);
    ok &= fuzz_attr(file, &b, "lr", K_DOUBLE, NULL, 0, 0.1);
    ok &= fuzz_attr(file, &b, "momentum", K_DOUBLE, NULL, 0, 0.9);
    ok &= fuzz_attr(file, &b, "train_size", K_INT, NULL, 5000, 0);
    ok &= fuzz_attr(file, &b, "shuffle", K_INT, NULL, 1, 0);
    ok &= fuzz_attr(file, &b, "reproducible", K_INT, NULL, 0, 0);
    ok &= fuzz_attr(file, &b, "chunk", K_INT, NULL, 0, 0);
    /* the recipe (optional): valid values that agree with each other and with lr and momentum above */
    ok &= fuzz_attr(file, &b, "epochs", K_INT, NULL, 6, 0);
    ok &= fuzz_attr(file, &b, "lr_schedule", K_STR, "cosine", 0, 0);
    ok &= fuzz_attr(file, &b, "lr_gamma", K_DOUBLE, NULL, 0, 0.5);
    ok &= fuzz_attr(file, &b, "lr_min", K_DOUBLE, NULL, 0, 0.01);
    ok &= fuzz_attr(file, &b, "warmup", K_DOUBLE, NULL, 0, 0.5);
    ok &= fuzz_attr(file, &b, "lr_batch", K_INT, NULL, 128, 0);
    ok &= fuzz_attr(file, &b, "nesterov", K_INT, NULL, 1, 0);
    ok &= fuzz_attr(file, &b, "weight_decay", K_DOUBLE, NULL, 0, 5e-4);
    ok &= fuzz_attr(file, &b, "dropout", K_DOUBLE, NULL, 0, 0.2);
    if (take8(&b) % 4 == 0) { /* lr_steps, an array, in any of fuzz_attr's shapes: valid with cosine in none */
        fuzz_attr(file, &b, "lr_steps", K_DOUBLE, NULL, 0, 2.5);
        ok = 0;
    }

    /* the datasets, for the layer sizes above when each is 1..64 (else for 784,2,10) */
    int ds[NN_MAX_SIZES + 8] = {IDX_PIXELS, 2, IDX_CLASSES}, n_ds = 3;
    if (n_sizes >= 0) {
        int small = n_sizes >= 2;
        for (int l = 0; l < n_sizes; l++) small &= sizes[l] == IDX_PIXELS || (sizes[l] >= 1 && sizes[l] <= 64);
        if (small) memcpy(ds, sizes, sizeof ds), n_ds = n_sizes;
    }
    int exact = 1;
    unsigned lm = take8(&b) % 4;
    if (lm == 0) ok &= fuzz_layers(file, &b, "/layers", ds, n_ds, 0, &exact);
    else if (lm == 1) ok = 0; /* no /layers */
    else if (lm == 2) ok = 0, H5Gclose(H5Gcreate2(file, "/layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    else fuzz_layers(file, &b, "/layers", ds, n_ds - 1 > 1 ? n_ds - 1 : n_ds, 0, &exact), ok = 0; /* a layer short */

    unsigned om = take8(&b) % 5;
    w.has_optimizer = om != 0;
    if (om == 1) {
        hid_t opt = H5Gcreate2(file, "/optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Gclose(opt);
        ok &= fuzz_layers(file, &b, "/optimizer/velocity", ds, n_ds, 1, &exact);
    } else if (om == 2) { /* an empty optimizer group */
        H5Gclose(H5Gcreate2(file, "/optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        ok = 0;
    } else if (om == 3) { /* /optimizer is a dataset */
        hid_t sp = H5Screate(H5S_SCALAR);
        H5Dclose(H5Dcreate2(file, "/optimizer", H5T_NATIVE_INT, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        H5Sclose(sp);
        ok = 0;
    } else if (om == 4) { /* a soft link to the weights: valid HDF5, velocity == params */
        H5Gclose(H5Gcreate2(file, "/optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        H5Lcreate_soft("/layers", file, "/optimizer/velocity", H5P_DEFAULT, H5P_DEFAULT);
        ok = 0;
    }

    /* the image */
    CHECK(H5Fclose(file) >= 0);
    H5Pclose(fapl);
    size_t len = 0;
    void *image = read_whole(scratch, &len);
    unlink(scratch);

    /* Valid, unless its datasets were compressed below the size of their
     * floats (twice that with a velocity): the reader refuses a file that
     * small, as docs/checkpoint-format.md says. */
    size_t floats = 0;
    for (int l = 0; l + 1 < n_ds; l++) floats += (size_t)ds[l + 1] * ((size_t)ds[l] + 1);
    if (om == 1) floats *= 2;
    w.expect_ok = ok && n_sizes == 3 && len >= floats * sizeof(float);
    w.n_sizes = n_sizes; /* -1: chosen by fuzz_attr, not known here */
    memcpy(w.sizes, sizes, sizeof w.sizes);
    w.values_known = exact && om <= 1;

    id_marks before = id_marks_now();
    nn_checkpoint ck;
    nn_err err = {0};
    int rc = checkpoint_read(NAME, image, len, &ck, &err);
    check_result(rc, &ck, &err, &w);
    if (rc == 0) checkpoint_free(&ck);
    check_no_leaked_ids(before);
    free(image);
    return 0;
}

#endif
