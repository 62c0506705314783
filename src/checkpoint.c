/* checkpoint.c: HDF5 checkpoint writer and validating reader (goto-error cleanup). */
#include "checkpoint.h"
#include "reduce.h" /* the names of the allreduce attribute */

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn_version.h"
#include "outfile.h"

/* ---------- the attributes on '/' after format, format_version, nnmpi_version
 * and layer_sizes: one table that the writer and the reader both walk ---------- */

typedef enum {
    A_INT,    /* int field, stored as int64, accepted in [min, max] */
    A_SEED,   /* uint64_t field, stored as uint64 */
    A_DOUBLE, /* double field, stored as float64, finite and in [min, max] (max excluded when max_open) */
    A_NAME    /* enum field, stored as its name from names[] */
} attr_kind;

typedef struct {
    const char *name;
    attr_kind kind;
    size_t field; /* offsetof(nn_checkpoint, ...) */
    double min, max;
    int max_open;
    const char *const *names;
    int n_names;
    int optional;  /* may be absent (files of older nnmpi) ... */
    double absent; /* ... and then the field holds this: what those runs did */
} attr_spec;

#define F(field) offsetof(nn_checkpoint, field)
static const attr_spec schema_[] = {
    {"activation", A_NAME, F(activation), 0, 0, 0, nn_activation_names, ACT_COUNT, 0, 0},
    {"loss", A_NAME, F(loss), 0, 0, 0, nn_loss_names, LOSS_COUNT, 0, 0},
    {"epoch", A_INT, F(epoch), 0, INT_MAX, 0, NULL, 0, 0, 0},
    {"step", A_INT, F(step), 0, INT_MAX, 0, NULL, 0, 0, 0},
    {"seed", A_SEED, F(seed), 0, 0, 0, NULL, 0, 0, 0},
    {"batch", A_INT, F(batch), 1, INT_MAX, 0, NULL, 0, 0, 0},
    {"lr", A_DOUBLE, F(lr), -DBL_MAX, DBL_MAX, 0, NULL, 0, 0, 0},
    {"momentum", A_DOUBLE, F(momentum), 0, 1, 1, NULL, 0, 0, 0},
    {"train_size", A_INT, F(train_size), 1, INT_MAX, 0, NULL, 0, 0, 0},
    {"shuffle", A_INT, F(shuffle), 0, 1, 0, NULL, 0, 0, 0},
    {"reproducible", A_INT, F(reproducible), 0, 1, 0, NULL, 0, 0, 0},
    {"chunk", A_INT, F(chunk), 0, INT_MAX, 0, NULL, 0, 0, 0},
    {"init", A_NAME, F(init), 0, 0, 0, nn_init_names, INIT_COUNT, 1, 0},
    {"validation", A_INT, F(validation), 0, INT_MAX, 0, NULL, 0, 1, 0},
    {"best_accuracy", A_DOUBLE, F(best_accuracy), 0, 1, 0, NULL, 0, 1, 0},
    {"best_epoch", A_INT, F(best_epoch), 0, INT_MAX, 0, NULL, 0, 1, 0},
    {"since_best", A_INT, F(since_best), 0, INT_MAX, 0, NULL, 0, 1, 0},
    {"allreduce", A_NAME, F(allreduce), 0, 0, 0, nn_reduce_names, REDUCE_KIND_COUNT, 1, 0},
    /* the recipe (issue 14): absent in files written before it was stored, whose runs had these
     * defaults unless they were given; lr_steps, an array, is read by read_lr_steps_ */
    {"epochs", A_INT, F(epochs), 0, INT_MAX, 0, NULL, 0, 1, -1},
    {"lr_schedule", A_NAME, F(lr_schedule), 0, 0, 0, nn_lr_kind_names, LR_KIND_COUNT, 1, LR_CONSTANT},
    {"lr_gamma", A_DOUBLE, F(lr_gamma), 0, DBL_MAX, 0, NULL, 0, 1, 0.1}, /* > 0 with step: check_recipe_ */
    {"lr_min", A_DOUBLE, F(lr_min), 0, DBL_MAX, 0, NULL, 0, 1, 0},
    {"warmup", A_DOUBLE, F(warmup), 0, INT_MAX, 0, NULL, 0, 1, 0},
    {"lr_batch", A_INT, F(lr_batch), 0, INT_MAX, 0, NULL, 0, 1, 0},
    {"nesterov", A_INT, F(nesterov), 0, 1, 0, NULL, 0, 1, 0},
    {"weight_decay", A_DOUBLE, F(weight_decay), 0, DBL_MAX, 0, NULL, 0, 1, 0},
    {"dropout", A_DOUBLE, F(dropout), 0, 1, 1, NULL, 0, 1, 0},
};
#undef F
enum { N_SCHEMA = sizeof schema_ / sizeof schema_[0] };

/* ---------- writing ---------- */

static int write_attr_(hid_t obj, const char *name, hid_t type, int rank, hsize_t n, const void *value, nn_err *err)
{
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    int rc = -1;
    H5_TRY(err, space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL));
    H5_TRY(err, attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT));
    H5_TRY(err, H5Awrite(attr, type, value));
    rc = 0;
error:
    if (attr >= 0 && H5Aclose(attr) < 0 && rc == 0) rc = -1, nn_h5_fail_(err, "H5Aclose", __FILE__, __LINE__);
    if (space >= 0) H5Sclose(space);
    return rc;
}

/* Strings are fixed-length, stored inside the attribute: a variable-length
 * string lives in HDF5's global heap, the part of HDF5 1.10 that crashes most
 * readily on a damaged file (docs/reliability.md, "Fuzzing"). */
static int write_str_attr_(hid_t obj, const char *name, const char *value, nn_err *err)
{
    hid_t type = H5I_INVALID_HID;
    int rc = -1;
    H5_TRY(err, type = H5Tcopy(H5T_C_S1));
    H5_TRY(err, H5Tset_size(type, strlen(value) + 1));
    H5_TRY(err, H5Tset_strpad(type, H5T_STR_NULLTERM));
    H5_TRY(err, H5Tset_cset(type, H5T_CSET_UTF8));
    rc = write_attr_(obj, name, type, 0, 1, value, err);
error:
    if (type >= 0) H5Tclose(type);
    return rc;
}

/* One schema attribute from its field of ck. */
static int write_schema_attr_(hid_t file, const attr_spec *a, const nn_checkpoint *ck, nn_err *err)
{
    const char *field = (const char *)ck + a->field;
    long long v = 0;
    switch (a->kind) {
    case A_INT: v = *(const int *)field; return write_attr_(file, a->name, H5T_NATIVE_LLONG, 0, 1, &v, err);
    case A_SEED: return write_attr_(file, a->name, H5T_NATIVE_UINT64, 0, 1, field, err);
    case A_DOUBLE: return write_attr_(file, a->name, H5T_NATIVE_DOUBLE, 0, 1, field, err);
    case A_NAME: return write_str_attr_(file, a->name, a->names[*(const int *)field], err);
    }
    return -1;
}

/* A float32 dataset of the given shape under `group`. */
static int write_floats_(hid_t group, const char *name, int rank, const hsize_t *dims, const float *data, nn_err *err)
{
    hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    int rc = -1;
    H5_TRY(err, space = H5Screate_simple(rank, dims, NULL));
    H5_TRY(err, dset = H5Dcreate2(group, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5_TRY(err, H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
    rc = 0;
error:
    if (dset >= 0 && H5Dclose(dset) < 0 && rc == 0) rc = -1, nn_h5_fail_(err, "H5Dclose", __FILE__, __LINE__);
    if (space >= 0) H5Sclose(space);
    return rc;
}

/* Writes /<top>/<i>/weights and /<top>/<i>/biases for every layer from the flat block. */
static int write_layers_(hid_t file, const char *top, const nn_checkpoint *ck, const float *block, nn_err *err)
{
    hid_t lcpl = H5I_INVALID_HID, group = H5I_INVALID_HID;
    size_t w_off[NN_MAX_SIZES], b_off[NN_MAX_SIZES];
    int rc = -1;
    model_layout(ck->sizes, ck->n_sizes, w_off, b_off);
    H5_TRY(err, lcpl = H5Pcreate(H5P_LINK_CREATE));
    H5_TRY(err, H5Pset_create_intermediate_group(lcpl, 1));
    for (int l = 0; l + 1 < ck->n_sizes; l++) {
        char name[128];
        snprintf(name, sizeof name, "%s/%d", top, l);
        H5_TRY(err, group = H5Gcreate2(file, name, lcpl, H5P_DEFAULT, H5P_DEFAULT));
        hsize_t wdims[2] = {(hsize_t)ck->sizes[l + 1], (hsize_t)ck->sizes[l]};
        hsize_t bdims[1] = {(hsize_t)ck->sizes[l + 1]};
        if (write_floats_(group, "weights", 2, wdims, block + w_off[l], err) != 0) goto error;
        if (write_floats_(group, "biases", 1, bdims, block + b_off[l], err) != 0) goto error;
        H5_TRY(err, H5Gclose(group));
        group = H5I_INVALID_HID;
    }
    rc = 0;
error:
    if (group >= 0) H5Gclose(group);
    if (lcpl >= 0) H5Pclose(lcpl);
    return rc;
}

/* What a tool other than nnmpi needs to apply the weights (the input's
 * preprocessing and geometry, the output layer, the classes) and where the
 * run came from (the notes). */
static int write_for_others_(hid_t file, const nn_checkpoint *ck, nn_err *err)
{
    long long classes = ck->sizes[ck->n_sizes - 1];
    if (write_attr_(file, "input_scale", H5T_NATIVE_DOUBLE, 0, 1, &ck->input_scale, err) != 0) return -1;
    if (write_attr_(file, "input_offset", H5T_NATIVE_DOUBLE, 0, 1, &ck->input_offset, err) != 0) return -1;
    if (ck->n_input_dims > 0 &&
        write_attr_(file, "input_shape", H5T_NATIVE_INT, 1, (hsize_t)ck->n_input_dims, ck->input_dims, err) != 0)
        return -1;
    if (write_str_attr_(file, "output", ck->loss == LOSS_XENT ? "softmax" : "sigmoid", err) != 0) return -1;
    if (write_attr_(file, "classes", H5T_NATIVE_LLONG, 0, 1, &classes, err) != 0) return -1;
    for (int i = 0; i < ck->n_notes; i++)
        if (write_str_attr_(file, ck->notes[i].name, ck->notes[i].value, err) != 0) return -1;
    return 0;
}

static int write_contents_(hid_t file, const nn_checkpoint *ck, nn_err *err)
{
    int sizes[NN_MAX_SIZES];
    memcpy(sizes, ck->sizes, sizeof sizes);
    if (write_str_attr_(file, "format", NN_CHECKPOINT_FORMAT, err) != 0) return -1;
    long long format_version = NN_CHECKPOINT_FORMAT_VERSION;
    if (write_attr_(file, "format_version", H5T_NATIVE_LLONG, 0, 1, &format_version, err) != 0) return -1;
    if (write_str_attr_(file, "nnmpi_version", NNMPI_VERSION, err) != 0) return -1;
    if (write_attr_(file, "layer_sizes", H5T_NATIVE_INT, 1, (hsize_t)ck->n_sizes, sizes, err) != 0) return -1;
    for (int i = 0; i < N_SCHEMA; i++)
        if (write_schema_attr_(file, &schema_[i], ck, err) != 0) return -1;
    /* only with lr_schedule step, which needs them: absent means none, as in older files */
    if (ck->n_lr_steps > 0 &&
        write_attr_(file, "lr_steps", H5T_NATIVE_DOUBLE, 1, (hsize_t)ck->n_lr_steps, ck->lr_steps, err) != 0)
        return -1;
    if (write_for_others_(file, ck, err) != 0) return -1;
    if (write_layers_(file, "/layers", ck, ck->params, err) != 0) return -1;
    if (ck->velocity && write_layers_(file, "/optimizer/velocity", ck, ck->velocity, err) != 0) return -1;
    return 0;
}

/* Writes the checkpoint into the file `tmp` (created empty, exclusively, by
 * the caller) with HDF5, flushed and closed. */
static int write_hdf5_(const char *tmp, const nn_checkpoint *ck, nn_err *err)
{
    hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
    int rc = -1;
    /* The HDF5 1.8 file format: its superblock and object headers carry
     * checksums, so HDF5 refuses a damaged file instead of parsing it. */
    H5_TRY(err, fapl = H5Pcreate(H5P_FILE_ACCESS));
    H5_TRY(err, H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18));
    H5_TRY(err, file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
    if (write_contents_(file, ck, err) != 0) goto error;
    H5_TRY(err, H5Fflush(file, H5F_SCOPE_GLOBAL));
    rc = 0;
error:
    if (file >= 0 && H5Fclose(file) < 0 && rc == 0) rc = -1, nn_h5_fail_(err, "H5Fclose", __FILE__, __LINE__);
    if (fapl >= 0) H5Pclose(fapl);
    return rc;
}

/* 0 when `path` does not exist or is a regular file: the only things a
 * checkpoint may replace (a symlink, device, FIFO or directory is refused). */
static int replaceable_(const char *path, nn_err *err)
{
    struct stat st;
    errno = 0;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        nn_file_fail_(err, __FILE__, __LINE__, "cannot stat it");
        return -1;
    }
    if (S_ISREG(st.st_mode)) return 0;
    nn_err_set(err, "it exists and is not a regular file (%s); nnmpi replaces only checkpoints it wrote",
               nn_file_kind(st.st_mode));
    return -1;
}

int checkpoint_write(const char *path, const nn_checkpoint *ck, nn_err *err)
{
    char tmp[4096] = "";
    int fd = -1, made_tmp = 0;
    if (replaceable_(path, err) != 0) goto error;
    /* A name no one can predict, created exclusively (never through a
     * planted symlink), in the target's directory so the rename is atomic;
     * HDF5 then writes into that file. */
    errno = 0;
    FILE_TRY(err, snprintf(tmp, sizeof tmp, "%s.tmp.%ld.XXXXXX", path, (long)getpid()) < (int)sizeof tmp,
             "the path is too long");
    fd = mkstemp(tmp);
    FILE_TRY(err, fd >= 0, "cannot create a temporary file in its directory");
    made_tmp = 1;
    mode_t mask = umask(0);
    umask(mask);
    FILE_TRY(err, fchmod(fd, 0666 & ~mask) == 0, "cannot set the permissions of '%s'", tmp);
    if (write_hdf5_(tmp, ck, err) != 0) goto error;
    errno = 0;
    FILE_TRY(err, fsync(fd) == 0, "cannot sync checkpoint '%s'", tmp);
    int closed = close(fd);
    fd = -1;
    FILE_TRY(err, closed == 0, "cannot close checkpoint '%s'", tmp);
    if (replaceable_(path, err) != 0) goto error; /* checked again: the path may have changed during the write */
    FILE_TRY(err, rename(tmp, path) == 0, "cannot rename '%s' to '%s'", tmp, path);
    made_tmp = 0;
    outfile_sync_dir(path); /* the rename is durable once the directory entry is on disk */
    return 0;
error:
    if (fd >= 0) close(fd);
    if (made_tmp) unlink(tmp);
    nn_err_prefix(err, "writing checkpoint '%s': ", path);
    return -1;
}

int checkpoint_check_writable(const char *path, nn_err *err)
{
    char probe[4096];
    errno = 0;
    FILE_TRY(err, snprintf(probe, sizeof probe, "%s.probe.XXXXXX", path) < (int)sizeof probe,
             "checkpoint path '%s' is too long", path);
    int fd = mkstemp(probe); /* exclusive, unpredictable: never truncates a planted file */
    FILE_TRY(err, fd >= 0,
             "--checkpoint: cannot create a file beside '%s' (does the directory exist and is it writable?)", path);
    close(fd);
    unlink(probe);
    return 0;
error:
    return -1;
}

/* ---------- reading ---------- */

/* 1: `type` is one of HDF5's standard integer (ints != 0) or IEEE float
 * (floats != 0) types, which is all nnmpi writes. HDF5 1.10 converts a value
 * from the file's type without checking that type (a damaged precision or
 * offset makes its converters read out of bounds), so the reader hands it
 * only types it knows. */
static int standard_type_(hid_t type, int ints, int floats)
{
    const hid_t known[] = {H5T_STD_I8LE,   H5T_STD_I8BE,   H5T_STD_I16LE,  H5T_STD_I16BE,  H5T_STD_I32LE,
                           H5T_STD_I32BE,  H5T_STD_I64LE,  H5T_STD_I64BE,  H5T_STD_U8LE,   H5T_STD_U8BE,
                           H5T_STD_U16LE,  H5T_STD_U16BE,  H5T_STD_U32LE,  H5T_STD_U32BE,  H5T_STD_U64LE,
                           H5T_STD_U64BE,  H5T_IEEE_F32LE, H5T_IEEE_F32BE, H5T_IEEE_F64LE, H5T_IEEE_F64BE};
    const size_t n_ints = 16;
    for (size_t i = ints ? 0 : n_ints; i < (floats ? sizeof known / sizeof known[0] : n_ints); i++)
        if (H5Tequal(type, known[i]) > 0) return 1;
    return 0;
}

static int attr_exists_(hid_t obj, const char *name, const char *path, nn_err *err)
{
    htri_t e = H5Aexists(obj, name);
    if (e <= 0) {
        nn_err_set(err, "%s: not an nnmpi checkpoint, or damaged: attribute '%s' is missing", path, name);
        return -1;
    }
    return 0;
}

/* Opens attribute `name` of obj with its dataspace and type; the caller closes all three. */
static int open_attr_(hid_t obj, const char *name, hid_t *attr, hid_t *space, hid_t *type, const char *path,
                      nn_err *err)
{
    if (attr_exists_(obj, name, path, err) != 0) return -1;
    H5_TRY(err, *attr = H5Aopen(obj, name, H5P_DEFAULT));
    H5_TRY(err, *space = H5Aget_space(*attr));
    H5_TRY(err, *type = H5Aget_type(*attr));
    return 0;
error:
    return -1;
}

static void close_attr_(hid_t attr, hid_t space, hid_t type)
{
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (attr >= 0) H5Aclose(attr);
}

/* Reads a scalar numeric attribute converted to `mem_type`. */
static int read_num_attr_(hid_t obj, const char *name, hid_t mem_type, void *out, const char *path, nn_err *err)
{
    hid_t attr = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    int rc = -1;
    if (open_attr_(obj, name, &attr, &space, &type, path, err) != 0) goto error;
    if (H5Sget_simple_extent_npoints(space) != 1 || !standard_type_(type, 1, 1)) {
        nn_err_set(err, "%s: attribute '%s' should be a single number", path, name);
        goto error;
    }
    H5_TRY(err, H5Aread(attr, mem_type, out));
    rc = 0;
error:
    close_attr_(attr, space, type);
    return rc;
}

static int read_int_attr_(hid_t obj, const char *name, long long min, long long max, int *out, const char *path,
                          nn_err *err)
{
    long long v = 0;
    if (read_num_attr_(obj, name, H5T_NATIVE_LLONG, &v, path, err) != 0) return -1;
    if (v < min || v > max) {
        nn_err_set(err, "%s: attribute '%s' = %lld is out of range [%lld, %lld]", path, name, v, min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Reads a string attribute (variable or fixed length) into out. */
static int read_str_attr_(hid_t obj, const char *name, char *out, size_t out_len, const char *path, nn_err *err)
{
    hid_t attr = H5I_INVALID_HID, type = H5I_INVALID_HID, mem = H5I_INVALID_HID, space = H5I_INVALID_HID;
    int rc = -1;
    if (open_attr_(obj, name, &attr, &space, &type, path, err) != 0) goto error;
    if (H5Tget_class(type) != H5T_STRING || H5Sget_simple_extent_npoints(space) != 1) {
        nn_err_set(err, "%s: attribute '%s' should be a string", path, name);
        goto error;
    }
    H5_TRY(err, mem = H5Tcopy(H5T_C_S1));
    H5_TRY(err, H5Tset_cset(mem, H5Tget_cset(type))); /* HDF5 converts no character sets */
    if (H5Tis_variable_str(type) > 0) {
        char *s = NULL;
        H5_TRY(err, H5Tset_size(mem, H5T_VARIABLE));
        H5_TRY(err, H5Aread(attr, mem, &s));
        snprintf(out, out_len, "%s", s ? s : "");
        H5free_memory(s);
    } else {
        size_t n = H5Tget_size(type);
        if (n == 0 || n >= out_len) {
            nn_err_set(err, "%s: attribute '%s' is an implausibly long string", path, name);
            goto error;
        }
        H5_TRY(err, H5Tset_size(mem, n + 1));
        char buf[512] = {0};
        H5_TRY(err, H5Aread(attr, mem, buf));
        snprintf(out, out_len, "%s", buf);
    }
    rc = 0;
error:
    if (mem >= 0) H5Tclose(mem);
    close_attr_(attr, space, type);
    return rc;
}

/* One schema attribute into its field of ck, checked against the schema's range or names. */
static int read_schema_attr_(hid_t file, const attr_spec *a, nn_checkpoint *ck, const char *path, nn_err *err)
{
    char *field = (char *)ck + a->field, text[64];
    double d = 0.0;
    if (a->optional) {
        htri_t exists = H5Aexists(file, a->name);
        if (exists < 0) return nn_h5_fail_(err, "H5Aexists", __FILE__, __LINE__), -1;
        if (exists == 0) {
            if (a->kind == A_DOUBLE) *(double *)field = a->absent;
            else if (a->kind != A_SEED) *(int *)field = (int)a->absent;
            return 0;
        }
    }
    switch (a->kind) {
    case A_INT: return read_int_attr_(file, a->name, (long long)a->min, (long long)a->max, (int *)field, path, err);
    case A_SEED: return read_num_attr_(file, a->name, H5T_NATIVE_UINT64, field, path, err);
    case A_DOUBLE:
        if (read_num_attr_(file, a->name, H5T_NATIVE_DOUBLE, &d, path, err) != 0) return -1;
        if (!isfinite(d) || d < a->min || d > a->max || (a->max_open && d == a->max)) {
            nn_err_set(err, "%s: attribute '%s' = %g is out of range [%g, %g%s", path, a->name, d, a->min, a->max,
                       a->max_open ? ")" : "]");
            return -1;
        }
        *(double *)field = d;
        return 0;
    case A_NAME:
        if (read_str_attr_(file, a->name, text, sizeof text, path, err) != 0) return -1;
        if ((*(int *)field = nn_name_index(a->names, a->n_names, text)) < 0) {
            nn_err_set(err, "%s: unknown %s '%s'", path, a->name, text);
            return -1;
        }
        return 0;
    }
    return -1;
}

static int read_sizes_(hid_t file, nn_checkpoint *ck, const char *path, nn_err *err)
{
    hid_t attr = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    int rc = -1;
    if (open_attr_(file, "layer_sizes", &attr, &space, &type, path, err) != 0) goto error;
    hssize_t n = H5Sget_simple_extent_npoints(space);
    if (n < 2 || n > NN_MAX_SIZES || H5Sget_simple_extent_ndims(space) != 1 || !standard_type_(type, 1, 0)) {
        nn_err_set(err, "%s: attribute 'layer_sizes' should hold 2 to %d sizes", path, NN_MAX_SIZES);
        goto error;
    }
    H5_TRY(err, H5Aread(attr, H5T_NATIVE_INT, ck->sizes));
    ck->n_sizes = (int)n;
    for (int i = 0; i < ck->n_sizes; i++) {
        if (ck->sizes[i] < 1 || ck->sizes[i] > 1000000) {
            nn_err_set(err, "%s: layer size %d is out of range", path, ck->sizes[i]);
            goto error;
        }
    }
    rc = 0;
error:
    close_attr_(attr, space, type);
    return rc;
}

/* The optional input_shape (written since 0.2.0): 1 to 4 dimensions whose
 * product is the first layer size; absent, n_input_dims stays 0. */
static int read_input_shape_(hid_t file, nn_checkpoint *ck, const char *path, nn_err *err)
{
    hid_t attr = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    int rc = -1, max = (int)(sizeof ck->input_dims / sizeof ck->input_dims[0]);
    htri_t exists = H5Aexists(file, "input_shape");
    if (exists <= 0) return exists == 0 ? 0 : (nn_h5_fail_(err, "H5Aexists", __FILE__, __LINE__), -1);
    if (open_attr_(file, "input_shape", &attr, &space, &type, path, err) != 0) goto error;
    hssize_t n = H5Sget_simple_extent_npoints(space);
    if (n < 1 || n > max || H5Sget_simple_extent_ndims(space) != 1 || !standard_type_(type, 1, 0)) {
        nn_err_set(err, "%s: attribute 'input_shape' should hold 1 to %d sizes", path, max);
        goto error;
    }
    H5_TRY(err, H5Aread(attr, H5T_NATIVE_INT, ck->input_dims));
    long long product = 1;
    for (int i = 0; i < n; i++) {
        if (ck->input_dims[i] < 1 || ck->input_dims[i] > ck->sizes[0]) {
            nn_err_set(err, "%s: input_shape size %d is out of range", path, ck->input_dims[i]);
            goto error;
        }
        product *= ck->input_dims[i]; /* each <= sizes[0] <= 10^6: no overflow before the break */
        if (product > ck->sizes[0]) break;
    }
    if (product != ck->sizes[0]) {
        nn_err_set(err, "%s: input_shape does not multiply out to the first layer size %d", path, ck->sizes[0]);
        goto error;
    }
    ck->n_input_dims = (int)n;
    rc = 0;
error:
    close_attr_(attr, space, type);
    return rc;
}

/* The optional lr_steps: 1 to NN_MAX_MILESTONES epochs, finite, positive,
 * strictly ascending (as --lr-steps accepts them); the count is checked
 * before anything is read, so a huge array costs nothing. Absent: none. */
static int read_lr_steps_(hid_t file, nn_checkpoint *ck, const char *path, nn_err *err)
{
    hid_t attr = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    int rc = -1;
    htri_t exists = H5Aexists(file, "lr_steps");
    if (exists <= 0) return exists == 0 ? 0 : (nn_h5_fail_(err, "H5Aexists", __FILE__, __LINE__), -1);
    if (open_attr_(file, "lr_steps", &attr, &space, &type, path, err) != 0) goto error;
    hssize_t n = H5Sget_simple_extent_npoints(space);
    if (n < 1 || n > NN_MAX_MILESTONES || H5Sget_simple_extent_ndims(space) != 1 || !standard_type_(type, 1, 1)) {
        nn_err_set(err, "%s: attribute 'lr_steps' should hold 1 to %d numbers (epochs)", path, NN_MAX_MILESTONES);
        goto error;
    }
    H5_TRY(err, H5Aread(attr, H5T_NATIVE_DOUBLE, ck->lr_steps));
    for (int i = 0; i < n; i++) {
        double e = ck->lr_steps[i];
        if (!isfinite(e) || e <= 0 || e > INT_MAX || (i > 0 && e <= ck->lr_steps[i - 1])) {
            nn_err_set(err, "%s: attribute 'lr_steps' should hold strictly ascending positive epochs (at most %d), "
                            "got %g at position %d", path, INT_MAX, e, i);
            goto error;
        }
    }
    ck->n_lr_steps = (int)n;
    rc = 0;
error:
    close_attr_(attr, space, type);
    return rc;
}

/* The recipe's attributes agree with each other as nnmpi's option checks
 * make them agree when it writes them (options_check_training, options.h). */
static int check_recipe_(const nn_checkpoint *ck, const char *path, nn_err *err)
{
    int step = ck->lr_schedule == LR_STEP;
    if (step != (ck->n_lr_steps > 0))
        nn_err_set(err, "%s: attribute 'lr_steps' is %s but 'lr_schedule' is '%s'", path,
                   step ? "missing" : "present", nn_lr_kind_names[ck->lr_schedule]);
    else if (step && !(ck->lr_gamma > 0))
        nn_err_set(err, "%s: attribute 'lr_gamma' = %g should be positive with 'lr_schedule' step", path, ck->lr_gamma);
    else if (ck->epochs >= 0 && step && ck->lr_steps[ck->n_lr_steps - 1] >= ck->epochs)
        nn_err_set(err, "%s: attribute 'lr_steps' ends at epoch %g, not before 'epochs' = %d", path,
                   ck->lr_steps[ck->n_lr_steps - 1], ck->epochs);
    else if (ck->epochs >= 0 && ck->warmup > ck->epochs)
        nn_err_set(err, "%s: attribute 'warmup' = %g is more than 'epochs' = %d", path, ck->warmup, ck->epochs);
    else if (ck->lr_min > ck->lr)
        nn_err_set(err, "%s: attribute 'lr_min' = %g is more than 'lr' = %g", path, ck->lr_min, ck->lr);
    else if (ck->nesterov && ck->momentum == 0.0)
        nn_err_set(err, "%s: attribute 'nesterov' is 1 but 'momentum' is 0", path);
    return err->failed ? -1 : 0;
}

/* Every link on the way to `name` ("/a/b/c": /a, /a/b, /a/b/c) exists and is
 * a hard link: a soft link may point anywhere in the file, an external link
 * into any other file the user can read. nnmpi writes hard links only. */
static int hard_links_only_(hid_t file, const char *name, const char *path, nn_err *err)
{
    char prefix[128];
    for (const char *p = strchr(name + 1, '/');; p = strchr(p + 1, '/')) {
        size_t n = p ? (size_t)(p - name) : strlen(name);
        snprintf(prefix, sizeof prefix, "%.*s", (int)n, name);
        H5L_info_t info;
        if (H5Lexists(file, prefix, H5P_DEFAULT) <= 0 || H5Lget_info(file, prefix, &info, H5P_DEFAULT) < 0) {
            nn_err_set(err, "%s: dataset '%s' is missing", path, name);
            return -1;
        }
        if (info.type != H5L_TYPE_HARD) {
            nn_err_set(err, "%s: '%s' is %s link; a checkpoint is read only through the file's own hard links",
                       path, prefix, info.type == H5L_TYPE_SOFT ? "a soft" : info.type == H5L_TYPE_EXTERNAL ? "an external" : "a user-defined");
            return -1;
        }
        if (!p) return 0;
    }
}

/* The dataset's data lies inside this file, as nnmpi stores it: contiguous,
 * unfiltered, no external storage, allocated when written (not before), and
 * within the file's size (HDF5 would read a region past the end as fill
 * values: zeros, at the dataset's full size). */
static int check_storage_(hid_t dset, const char *name, size_t file_bytes, const char *path, nn_err *err)
{
    hid_t dcpl = H5I_INVALID_HID;
    int rc = -1;
    H5_TRY(err, dcpl = H5Dget_create_plist(dset));
    H5D_alloc_time_t alloc = H5D_ALLOC_TIME_DEFAULT;
    H5_TRY(err, H5Pget_alloc_time(dcpl, &alloc));
    const char *why = H5Pget_layout(dcpl) != H5D_CONTIGUOUS ? "is not stored contiguously (chunked, compact or virtual)"
                      : H5Pget_external_count(dcpl) != 0   ? "is stored in external files"
                      : H5Pget_nfilters(dcpl) != 0         ? "is filtered (compressed)"
                      : alloc == H5D_ALLOC_TIME_EARLY      ? "was allocated before it was written"
                                                           : NULL;
    haddr_t offset = why ? HADDR_UNDEF : H5Dget_offset(dset);
    hsize_t stored = H5Dget_storage_size(dset);
    if (!why && (offset == HADDR_UNDEF || stored == 0)) why = "holds no data (created but never written)";
    if (!why && (offset > file_bytes || stored > file_bytes - offset)) why = "lies past the end of the file";
    if (why) {
        nn_err_set(err, "%s: dataset '%s' %s; nnmpi reads only the contiguous float datasets it writes", path, name, why);
        goto error;
    }
    rc = 0;
error:
    if (dcpl >= 0) H5Pclose(dcpl);
    return rc;
}

/* Reads one float dataset that must have exactly the given shape, be stored
 * as nnmpi stores it, and hold finite numbers only. */
static int read_floats_(hid_t file, size_t file_bytes, const char *name, int rank, const hsize_t *want, float *out,
                        const char *path, nn_err *err)
{
    hid_t dset = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    hsize_t dims[2] = {0, 0};
    int rc = -1;
    if (hard_links_only_(file, name, path, err) != 0) return -1;
    /* The basic fields and which messages the header holds, none of them
     * decoded (decoding all of a damaged header's messages overflowed inside
     * HDF5 1.10.8). A filter pipeline or an external file list is refused
     * here, before H5Dopen2 decodes them: a damaged one overflows inside
     * HDF5 1.10.8 (H5MM_xstrdup of an unterminated filter name), and nnmpi
     * writes neither. */
    H5O_info_t oinfo;
    if (H5Oget_info_by_name2(file, name, &oinfo, H5O_INFO_BASIC | H5O_INFO_HDR, H5P_DEFAULT) < 0 ||
        oinfo.type != H5O_TYPE_DATASET) {
        nn_err_set(err, "%s: '%s' is not a dataset", path, name);
        return -1;
    }
    enum { MSG_EFL = 0x0007, MSG_PLINE = 0x000B }; /* object header message types (the HDF5 file format) */
    if (oinfo.hdr.mesg.present & ((1ull << MSG_PLINE) | (1ull << MSG_EFL))) {
        nn_err_set(err, "%s: dataset '%s' is %s; nnmpi writes plain contiguous datasets", path, name,
                   oinfo.hdr.mesg.present & (1ull << MSG_EFL) ? "stored in external files" : "filtered (compressed)");
        return -1;
    }
    H5_TRY(err, dset = H5Dopen2(file, name, H5P_DEFAULT));
    H5_TRY(err, space = H5Dget_space(dset));
    H5_TRY(err, type = H5Dget_type(dset));
    if (!standard_type_(type, 0, 1) || H5Sget_simple_extent_ndims(space) != rank) {
        nn_err_set(err, "%s: dataset '%s' should be a %d-dimensional float array", path, name, rank);
        goto error;
    }
    H5Sget_simple_extent_dims(space, dims, NULL);
    for (int i = 0; i < rank; i++) {
        if (dims[i] != want[i]) {
            nn_err_set(err, "%s: dataset '%s' has shape %llu%s%llu, expected %llu%s%llu (from layer_sizes)", path, name,
                       (unsigned long long)dims[0], rank == 2 ? "x" : "", rank == 2 ? (unsigned long long)dims[1] : 0ull,
                       (unsigned long long)want[0], rank == 2 ? "x" : "", rank == 2 ? (unsigned long long)want[1] : 0ull);
            goto error;
        }
    }
    if (check_storage_(dset, name, file_bytes, path, err) != 0) goto error;
    H5_TRY(err, H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out));
    size_t count = (size_t)want[0] * (rank == 2 ? (size_t)want[1] : 1);
    for (size_t i = 0; i < count; i++) {
        if (!isfinite(out[i])) {
            nn_err_set(err, "%s: dataset '%s' holds %s at element %zu; a checkpoint holds finite numbers only", path,
                       name, isnan(out[i]) ? "NaN" : "Inf", i);
            goto error;
        }
    }
    rc = 0;
error:
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    return rc;
}

static int read_layers_(hid_t file, size_t file_bytes, const char *top, nn_checkpoint *ck, float *block,
                        const char *path, nn_err *err)
{
    size_t w_off[NN_MAX_SIZES], b_off[NN_MAX_SIZES];
    model_layout(ck->sizes, ck->n_sizes, w_off, b_off);
    for (int l = 0; l + 1 < ck->n_sizes; l++) {
        char name[128];
        hsize_t wdims[2] = {(hsize_t)ck->sizes[l + 1], (hsize_t)ck->sizes[l]};
        hsize_t bdims[1] = {(hsize_t)ck->sizes[l + 1]};
        snprintf(name, sizeof name, "%s/%d/weights", top, l);
        if (read_floats_(file, file_bytes, name, 2, wdims, block + w_off[l], path, err) != 0) return -1;
        snprintf(name, sizeof name, "%s/%d/biases", top, l);
        if (read_floats_(file, file_bytes, name, 1, bdims, block + b_off[l], path, err) != 0) return -1;
    }
    return 0;
}

/* format, nnmpi_version and format_version: is this a checkpoint this build reads? */
static int read_format_(hid_t file, nn_checkpoint *ck, const char *path, nn_err *err)
{
    char text[64];
    if (read_str_attr_(file, "format", text, sizeof text, path, err) != 0) return -1;
    if (strcmp(text, NN_CHECKPOINT_FORMAT) != 0) {
        nn_err_set(err, "%s: attribute 'format' is '%s', not '%s': not an nnmpi checkpoint", path, text,
                   NN_CHECKPOINT_FORMAT);
        return -1;
    }
    if (read_str_attr_(file, "nnmpi_version", ck->nnmpi_version, sizeof ck->nnmpi_version, path, err) != 0) return -1;
    if (read_int_attr_(file, "format_version", 1, 1000000, &ck->format_version, path, err) != 0) return -1;
    if (ck->format_version > NN_CHECKPOINT_FORMAT_VERSION) {
        nn_err_set(err, "%s: written by nnmpi %s in checkpoint format %d; this build (nnmpi %s) reads format %d: "
                        "use a newer nnmpi", path, ck->nnmpi_version, ck->format_version, NNMPI_VERSION,
                   NN_CHECKPOINT_FORMAT_VERSION);
        return -1;
    }
    return 0;
}

/* nnmpi writes no user block: the HDF5 file starts at byte 0, so dataset
 * offsets are offsets in the file. */
static int no_user_block_(hid_t file, const char *path, nn_err *err)
{
    hid_t fcpl = H5I_INVALID_HID;
    hsize_t user_block = 0;
    int rc = -1;
    H5_TRY(err, fcpl = H5Fget_create_plist(file));
    H5_TRY(err, H5Pget_userblock(fcpl, &user_block));
    if (user_block != 0) {
        nn_err_set(err, "%s: has a user block of %llu bytes before the HDF5 data; nnmpi writes none", path,
                   (unsigned long long)user_block);
        goto error;
    }
    rc = 0;
error:
    if (fcpl >= 0) H5Pclose(fcpl);
    return rc;
}

/* file_bytes: the size of the file or image, which bounds what it can hold. */
static int read_contents_(hid_t file, size_t file_bytes, nn_checkpoint *ck, const char *path, nn_err *err)
{
    if (read_format_(file, ck, path, err) != 0) return -1;
    if (read_sizes_(file, ck, path, err) != 0) return -1;
    if (read_input_shape_(file, ck, path, err) != 0) return -1;
    for (int i = 0; i < N_SCHEMA; i++)
        if (read_schema_attr_(file, &schema_[i], ck, path, err) != 0) return -1;
    if (read_lr_steps_(file, ck, path, err) != 0 || check_recipe_(ck, path, err) != 0) return -1;

    size_t n = model_layout(ck->sizes, ck->n_sizes, NULL, NULL);
    /* The one check before allocating: nnmpi writes contiguous, uncompressed
     * float32 datasets, so a file too small to hold every float its
     * layer_sizes promise (twice that with momentum) is damaged, and is refused
     * before anything that size is allocated; what is allocated is never more
     * than the file's size. Each dataset's shape and data are checked as it is
     * read. */
    int has_velocity = H5Lexists(file, "/optimizer", H5P_DEFAULT) > 0;
    size_t floats = has_velocity ? 2 * n : n;
    if (floats > file_bytes / sizeof(float)) {
        nn_err_set(err, "%s: layer_sizes promise %zu parameters%s (%zu bytes) but the file is only %zu bytes", path, n,
                   has_velocity ? " and as many velocities" : "", floats * sizeof(float), file_bytes);
        return -1;
    }
    ck->n_params = n;
    ck->params = NN_MALLOC(sizeof(float) * n);
    if (read_layers_(file, file_bytes, "/layers", ck, ck->params, path, err) != 0) return -1;
    if (has_velocity) {
        ck->velocity = NN_MALLOC(sizeof(float) * n);
        if (read_layers_(file, file_bytes, "/optimizer/velocity", ck, ck->velocity, path, err) != 0) return -1;
    }
    return 0;
}

int checkpoint_read(const char *path, const void *image, size_t image_len, nn_checkpoint *ck, nn_err *err)
{
    hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
    size_t file_bytes = image_len;
    int rc = -1;
    memset(ck, 0, sizeof *ck);
    if (image == NULL) {
        struct stat st;
        errno = 0;
        if (access(path, R_OK) != 0 || stat(path, &st) != 0) {
            nn_err_set(err, "cannot read checkpoint '%s': %s", path, strerror(errno));
            return -1;
        }
        if (!S_ISREG(st.st_mode)) { /* a FIFO would block HDF5's open forever */
            nn_err_set(err, "cannot read checkpoint '%s': not a regular file (%s)", path,
                       nn_file_kind(st.st_mode));
            return -1;
        }
        file_bytes = (size_t)st.st_size;
        if (H5Fis_hdf5(path) <= 0) {
            nn_err_set(err, "%s: not an HDF5 file (truncated, or not a checkpoint)", path);
            return -1;
        }
        H5_TRY(err, file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT));
    } else {
        /* nnmpi writes no user block: the signature is at offset 0 */
        static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
        if (image_len < sizeof sig || memcmp(image, sig, sizeof sig) != 0) {
            nn_err_set(err, "%s: not an HDF5 file (truncated, or not a checkpoint)", path);
            return -1;
        }
        H5_TRY(err, fapl = H5Pcreate(H5P_FILE_ACCESS));
        H5_TRY(err, H5Pset_fapl_core(fapl, 1 << 16, 0));
        H5_TRY(err, H5Pset_file_image(fapl, (void *)image, image_len));
        H5_TRY(err, file = H5Fopen(path, H5F_ACC_RDONLY, fapl));
    }
    if (no_user_block_(file, path, err) != 0) goto error;
    if (read_contents_(file, file_bytes, ck, path, err) != 0) goto error;
    rc = 0;
error:
    if (file >= 0) H5Fclose(file);
    if (fapl >= 0) H5Pclose(fapl);
    if (rc != 0) {
        checkpoint_free(ck);
        if (strstr(err->msg, path) == NULL) nn_err_prefix(err, "reading checkpoint '%s': ", path);
    }
    return rc;
}

int checkpoint_is_checkpoint(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || H5Fis_hdf5(path) <= 0) return 0;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return 0;
    char text[64] = "";
    nn_err ignored = {0};
    int ours = read_str_attr_(file, "format", text, sizeof text, path, &ignored) == 0 &&
               strcmp(text, NN_CHECKPOINT_FORMAT) == 0;
    H5Fclose(file);
    return ours;
}

void checkpoint_free(nn_checkpoint *ck)
{
    free(ck->params);
    free(ck->velocity);
    ck->params = ck->velocity = NULL;
}
