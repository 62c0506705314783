/* checkpoint.c: HDF5 checkpoint writer and validating reader (goto-error cleanup). */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "idx.h"
#include "options.h"

/* ---------- writing ---------- */

static int write_attr_(hid_t obj, const char *name, hid_t type, int rank, hsize_t n, const void *value, nn_err *err)
{
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    H5_TRY(err, space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL));
    H5_TRY(err, attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT));
    H5_TRY(err, H5Awrite(attr, type, value));
    H5_TRY(err, H5Aclose(attr));
    H5_TRY(err, H5Sclose(space));
    return 0;
error:
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    return -1;
}

/* Strings are fixed-length, stored inside the attribute: a variable-length
 * string lives in HDF5's global heap, the part of HDF5 1.10 that crashes most
 * readily on a damaged file (docs/reliability.md, "Fuzzing"). */
static int write_str_attr_(hid_t obj, const char *name, const char *value, nn_err *err)
{
    hid_t type = H5I_INVALID_HID;
    H5_TRY(err, type = H5Tcopy(H5T_C_S1));
    H5_TRY(err, H5Tset_size(type, strlen(value) + 1));
    H5_TRY(err, H5Tset_strpad(type, H5T_STR_NULLTERM));
    H5_TRY(err, H5Tset_cset(type, H5T_CSET_UTF8));
    if (write_attr_(obj, name, type, 0, 1, value, err) != 0) goto error;
    H5_TRY(err, H5Tclose(type));
    return 0;
error:
    if (type >= 0) H5Tclose(type);
    return -1;
}

static int write_int_attr_(hid_t obj, const char *name, long long v, nn_err *err)
{
    return write_attr_(obj, name, H5T_NATIVE_LLONG, 0, 1, &v, err);
}

static int write_double_attr_(hid_t obj, const char *name, double v, nn_err *err)
{
    return write_attr_(obj, name, H5T_NATIVE_DOUBLE, 0, 1, &v, err);
}

/* A float32 dataset of the given shape under `group`. */
static int write_floats_(hid_t group, const char *name, int rank, const hsize_t *dims, const float *data, nn_err *err)
{
    hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    H5_TRY(err, space = H5Screate_simple(rank, dims, NULL));
    H5_TRY(err, dset = H5Dcreate2(group, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5_TRY(err, H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
    H5_TRY(err, H5Dclose(dset));
    H5_TRY(err, H5Sclose(space));
    return 0;
error:
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    return -1;
}

/* Writes /<top>/<i>/weights and /<top>/<i>/biases for every layer from the flat block. */
static int write_layers_(hid_t file, const char *top, const nn_checkpoint *ck, const float *block, nn_err *err)
{
    hid_t lcpl = H5I_INVALID_HID, group = H5I_INVALID_HID;
    H5_TRY(err, lcpl = H5Pcreate(H5P_LINK_CREATE));
    H5_TRY(err, H5Pset_create_intermediate_group(lcpl, 1));
    size_t off = 0;
    for (int l = 0; l + 1 < ck->n_sizes; l++) {
        char name[128];
        snprintf(name, sizeof name, "%s/%d", top, l);
        H5_TRY(err, group = H5Gcreate2(file, name, lcpl, H5P_DEFAULT, H5P_DEFAULT));
        hsize_t wdims[2] = {(hsize_t)ck->sizes[l + 1], (hsize_t)ck->sizes[l]};
        hsize_t bdims[1] = {(hsize_t)ck->sizes[l + 1]};
        if (write_floats_(group, "weights", 2, wdims, block + off, err) != 0) goto error;
        off += (size_t)wdims[0] * wdims[1];
        if (write_floats_(group, "biases", 1, bdims, block + off, err) != 0) goto error;
        off += (size_t)bdims[0];
        H5_TRY(err, H5Gclose(group));
        group = H5I_INVALID_HID;
    }
    H5_TRY(err, H5Pclose(lcpl));
    return 0;
error:
    if (group >= 0) H5Gclose(group);
    if (lcpl >= 0) H5Pclose(lcpl);
    return -1;
}

static int write_contents_(hid_t file, const nn_checkpoint *ck, nn_err *err)
{
    int sizes[NN_MAX_SIZES];
    memcpy(sizes, ck->sizes, sizeof sizes);
    if (write_str_attr_(file, "format", NN_CHECKPOINT_FORMAT, err) != 0) return -1;
    if (write_int_attr_(file, "format_version", NN_CHECKPOINT_FORMAT_VERSION, err) != 0) return -1;
    if (write_str_attr_(file, "nnmpi_version", NNMPI_VERSION, err) != 0) return -1;
    if (write_attr_(file, "layer_sizes", H5T_NATIVE_INT, 1, (hsize_t)ck->n_sizes, sizes, err) != 0) return -1;
    if (write_str_attr_(file, "activation", options_activation_name(ck->activation), err) != 0) return -1;
    if (write_str_attr_(file, "loss", options_loss_name(ck->loss), err) != 0) return -1;
    if (write_int_attr_(file, "epoch", ck->epoch, err) != 0) return -1;
    if (write_int_attr_(file, "step", ck->step, err) != 0) return -1;
    if (write_attr_(file, "seed", H5T_NATIVE_UINT64, 0, 1, &ck->seed, err) != 0) return -1;
    if (write_int_attr_(file, "batch", ck->batch, err) != 0) return -1;
    if (write_double_attr_(file, "lr", ck->lr, err) != 0) return -1;
    if (write_double_attr_(file, "momentum", ck->momentum, err) != 0) return -1;
    if (write_int_attr_(file, "train_size", ck->train_size, err) != 0) return -1;
    if (write_int_attr_(file, "shuffle", ck->shuffle, err) != 0) return -1;
    if (write_int_attr_(file, "reproducible", ck->reproducible, err) != 0) return -1;
    if (write_int_attr_(file, "chunk", ck->chunk, err) != 0) return -1;
    if (write_layers_(file, "/layers", ck, ck->params, err) != 0) return -1;
    if (ck->velocity && write_layers_(file, "/optimizer/velocity", ck, ck->velocity, err) != 0) return -1;
    return 0;
}

/* fsync()s a file or directory by path; 0 or -1 with errno. */
static int fsync_path_(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int checkpoint_write(const char *path, const nn_checkpoint *ck, nn_err *err)
{
    char tmp[4096], dir_buf[4096];
    hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
    int made_tmp = 0;
    errno = 0;
    FILE_TRY(err, snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) < (int)sizeof tmp,
             "checkpoint path '%s' is too long", path);
    /* The HDF5 1.8 file format: its superblock and object headers carry
     * checksums, so HDF5 refuses a damaged file instead of parsing it. */
    H5_TRY(err, fapl = H5Pcreate(H5P_FILE_ACCESS));
    H5_TRY(err, H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18));
    H5_TRY(err, file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
    made_tmp = 1;
    if (write_contents_(file, ck, err) != 0) goto error;
    H5_TRY(err, H5Fflush(file, H5F_SCOPE_GLOBAL));
    H5_TRY(err, H5Fclose(file));
    file = H5I_INVALID_HID;
    H5Pclose(fapl);
    fapl = H5I_INVALID_HID;
    errno = 0;
    FILE_TRY(err, fsync_path_(tmp, O_RDONLY) == 0, "cannot sync checkpoint '%s'", tmp);
    FILE_TRY(err, rename(tmp, path) == 0, "cannot rename '%s' to '%s'", tmp, path);
    made_tmp = 0;
    /* The rename is durable once the directory entry is on disk. */
    snprintf(dir_buf, sizeof dir_buf, "%s", path);
    fsync_path_(dirname(dir_buf), O_RDONLY | O_DIRECTORY); /* best effort: some filesystems refuse */
    return 0;
error:
    if (file >= 0) H5Fclose(file);
    if (fapl >= 0) H5Pclose(fapl);
    if (made_tmp) unlink(tmp);
    if (err->failed && strstr(err->msg, path) == NULL) nn_err_prefix(err, "writing checkpoint '%s': ", path);
    return -1;
}

int checkpoint_check_writable(const char *path, nn_err *err)
{
    char probe[4096];
    errno = 0;
    FILE_TRY(err, snprintf(probe, sizeof probe, "%s.probe.%ld", path, (long)getpid()) < (int)sizeof probe,
             "checkpoint path '%s' is too long", path);
    FILE *f = fopen(probe, "wb");
    FILE_TRY(err, f != NULL, "--checkpoint: cannot create a file beside '%s' (does the directory exist and is it writable?)", path);
    fclose(f);
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

/* Reads a scalar numeric attribute converted to `mem_type`. */
static int read_num_attr_(hid_t obj, const char *name, hid_t mem_type, void *out, const char *path, nn_err *err)
{
    hid_t attr = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    if (attr_exists_(obj, name, path, err) != 0) return -1;
    H5_TRY(err, attr = H5Aopen(obj, name, H5P_DEFAULT));
    H5_TRY(err, space = H5Aget_space(attr));
    H5_TRY(err, type = H5Aget_type(attr));
    if (H5Sget_simple_extent_npoints(space) != 1 || !standard_type_(type, 1, 1)) {
        nn_err_set(err, "%s: attribute '%s' should be a single number", path, name);
        goto error;
    }
    H5_TRY(err, H5Aread(attr, mem_type, out));
    H5Tclose(type);
    H5Sclose(space);
    H5Aclose(attr);
    return 0;
error:
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (attr >= 0) H5Aclose(attr);
    return -1;
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
    if (attr_exists_(obj, name, path, err) != 0) return -1;
    H5_TRY(err, attr = H5Aopen(obj, name, H5P_DEFAULT));
    H5_TRY(err, type = H5Aget_type(attr));
    H5_TRY(err, space = H5Aget_space(attr));
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
    H5Tclose(mem);
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(attr);
    return 0;
error:
    if (mem >= 0) H5Tclose(mem);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (attr >= 0) H5Aclose(attr);
    return -1;
}

static int read_sizes_(hid_t file, nn_checkpoint *ck, const char *path, nn_err *err)
{
    hid_t attr = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    if (attr_exists_(file, "layer_sizes", path, err) != 0) return -1;
    H5_TRY(err, attr = H5Aopen(file, "layer_sizes", H5P_DEFAULT));
    H5_TRY(err, space = H5Aget_space(attr));
    H5_TRY(err, type = H5Aget_type(attr));
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
    if (ck->sizes[0] != IDX_PIXELS || ck->sizes[ck->n_sizes - 1] != IDX_CLASSES) {
        nn_err_set(err, "%s: layer sizes must start at %d and end at %d", path, IDX_PIXELS, IDX_CLASSES);
        goto error;
    }
    H5Tclose(type);
    H5Sclose(space);
    H5Aclose(attr);
    return 0;
error:
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (attr >= 0) H5Aclose(attr);
    return -1;
}

/* Reads one float dataset that must have exactly the given shape and hold data. */
static int read_floats_(hid_t file, const char *name, int rank, const hsize_t *want, float *out, const char *path,
                        nn_err *err)
{
    hid_t dset = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    hsize_t dims[2] = {0, 0};
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) {
        nn_err_set(err, "%s: dataset '%s' is missing", path, name);
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
    /* Created but never written (fill values only): HDF5 would read zeros.
     * (Not H5Dget_space_status: it calls a compressed dataset "partly
     * allocated".) */
    if (H5Dget_storage_size(dset) == 0) {
        nn_err_set(err, "%s: dataset '%s' holds no data (created but never written)", path, name);
        goto error;
    }
    H5_TRY(err, H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out));
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(dset);
    return 0;
error:
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    return -1;
}

static int read_layers_(hid_t file, const char *top, nn_checkpoint *ck, float *block, const char *path, nn_err *err)
{
    size_t off = 0;
    for (int l = 0; l + 1 < ck->n_sizes; l++) {
        char name[128];
        hsize_t wdims[2] = {(hsize_t)ck->sizes[l + 1], (hsize_t)ck->sizes[l]};
        hsize_t bdims[1] = {(hsize_t)ck->sizes[l + 1]};
        snprintf(name, sizeof name, "%s/%d/weights", top, l);
        if (read_floats_(file, name, 2, wdims, block + off, path, err) != 0) return -1;
        off += (size_t)wdims[0] * wdims[1];
        snprintf(name, sizeof name, "%s/%d/biases", top, l);
        if (read_floats_(file, name, 1, bdims, block + off, path, err) != 0) return -1;
        off += (size_t)bdims[0];
    }
    return 0;
}

/* file_bytes: the size of the file or image, which bounds what it can hold. */
static int read_contents_(hid_t file, size_t file_bytes, nn_checkpoint *ck, const char *path, nn_err *err)
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
    if (read_sizes_(file, ck, path, err) != 0) return -1;
    if (read_str_attr_(file, "activation", text, sizeof text, path, err) != 0) return -1;
    if (options_activation_from(text, &ck->activation) != 0) {
        nn_err_set(err, "%s: unknown activation '%s'", path, text);
        return -1;
    }
    if (read_str_attr_(file, "loss", text, sizeof text, path, err) != 0) return -1;
    if (options_loss_from(text, &ck->loss) != 0) {
        nn_err_set(err, "%s: unknown loss '%s'", path, text);
        return -1;
    }
    const long long big = 2147483647LL;
    if (read_int_attr_(file, "epoch", 0, big, &ck->epoch, path, err) != 0) return -1;
    if (read_int_attr_(file, "step", 0, big, &ck->step, path, err) != 0) return -1;
    if (read_num_attr_(file, "seed", H5T_NATIVE_UINT64, &ck->seed, path, err) != 0) return -1;
    if (read_int_attr_(file, "batch", 1, big, &ck->batch, path, err) != 0) return -1;
    if (read_num_attr_(file, "lr", H5T_NATIVE_DOUBLE, &ck->lr, path, err) != 0) return -1;
    if (read_num_attr_(file, "momentum", H5T_NATIVE_DOUBLE, &ck->momentum, path, err) != 0) return -1;
    if (!isfinite(ck->lr) || !(ck->momentum >= 0.0 && ck->momentum < 1.0)) {
        nn_err_set(err, "%s: attributes lr/momentum are out of range", path);
        return -1;
    }
    if (read_int_attr_(file, "train_size", 1, big, &ck->train_size, path, err) != 0) return -1;
    if (read_int_attr_(file, "shuffle", 0, 1, &ck->shuffle, path, err) != 0) return -1;
    if (read_int_attr_(file, "reproducible", 0, 1, &ck->reproducible, path, err) != 0) return -1;
    if (read_int_attr_(file, "chunk", 0, big, &ck->chunk, path, err) != 0) return -1;

    size_t n = 0;
    for (int l = 0; l + 1 < ck->n_sizes; l++) n += (size_t)ck->sizes[l + 1] * ((size_t)ck->sizes[l] + 1);
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
    if (read_layers_(file, "/layers", ck, ck->params, path, err) != 0) return -1;
    if (has_velocity) {
        ck->velocity = NN_MALLOC(sizeof(float) * n);
        if (read_layers_(file, "/optimizer/velocity", ck, ck->velocity, path, err) != 0) return -1;
    }
    return 0;
}

int checkpoint_read(const char *path, const void *image, size_t image_len, nn_checkpoint *ck, nn_err *err)
{
    hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
    size_t file_bytes = image_len;
    memset(ck, 0, sizeof *ck);
    if (image == NULL) {
        struct stat st;
        errno = 0;
        if (access(path, R_OK) != 0 || stat(path, &st) != 0) {
            nn_err_set(err, "cannot read checkpoint '%s': %s", path, strerror(errno));
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
    if (read_contents_(file, file_bytes, ck, path, err) != 0) goto error;
    H5_TRY(err, H5Fclose(file));
    if (fapl >= 0) H5Pclose(fapl);
    return 0;
error:
    if (file >= 0) H5Fclose(file);
    if (fapl >= 0) H5Pclose(fapl);
    checkpoint_free(ck);
    if (strstr(err->msg, path) == NULL) nn_err_prefix(err, "reading checkpoint '%s': ", path);
    return -1;
}

void checkpoint_free(nn_checkpoint *ck)
{
    free(ck->params);
    free(ck->velocity);
    ck->params = ck->velocity = NULL;
}
