/*
 * test_checkpoint.c: HDF5 checkpoint write/read round trip, the format written
 * (format_version 2), reading a format-1 file written by an older nnmpi,
 * atomic replace, and refusal of truncated, foreign, newer-format and
 * inconsistent files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <hdf5.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "net.h"
#include "rng.h"
#include "test_util.h"

static char dir[256];
static const int SIZES[] = {784, 12, 10};

static void make_checkpoint(nn_checkpoint *ck, nn_net *net, int with_velocity)
{
    net_create(net, SIZES, 3, ACT_TANH, LOSS_XENT, 4, with_velocity);
    net_init_params(net, INIT_HE, 11);
    if (with_velocity)
        for (size_t i = 0; i < net->n_params; i++) net->velocity[i] = (float)i * 1e-3f;
    memset(ck, 0, sizeof *ck);
    ck->n_sizes = 3;
    memcpy(ck->sizes, SIZES, sizeof SIZES);
    ck->activation = ACT_TANH, ck->loss = LOSS_XENT, ck->epoch = 3, ck->step = 17, ck->seed = 99, ck->batch = 32;
    ck->train_size = 5000, ck->shuffle = 1, ck->lr = 0.1, ck->momentum = with_velocity ? 0.9 : 0.0;
    ck->n_params = net->n_params, ck->params = net->params, ck->velocity = net->velocity;
    ck->lr_gamma = 0.1; /* the recipe's defaults, as a run without those options writes them */
}

static const char *path_in_dir(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

/* checkpoint_read of the file `name` in the test directory fails, and its
 * message contains `must_contain`. */
static void read_is_refused(const char *name, const char *must_contain)
{
    nn_checkpoint back;
    nn_err err = {0};
    assert_int_equal(checkpoint_read(path_in_dir(name), NULL, 0, &back, &err), -1);
    if (strstr(err.msg, must_contain) == NULL)
        fail_msg("%s: expected a message containing '%s', got '%s'", name, must_contain, err.msg);
}

/* Overwrites the existing attribute `attr_name` of the file `name` in the test
 * directory with `value` (of memory type `mem_type`), as a damaged or
 * foreign writer would. */
static void overwrite_attr(const char *name, const char *attr_name, hid_t mem_type, const void *value)
{
    hid_t fid = H5Fopen(path_in_dir(name), H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(fid >= 0);
    hid_t attr = H5Aopen(fid, attr_name, H5P_DEFAULT);
    assert_true(attr >= 0);
    assert_true(H5Awrite(attr, mem_type, value) >= 0);
    H5Aclose(attr);
    H5Fclose(fid);
}

/* Replaces (or creates) attribute `attr_name` of / in the file `name` with
 * n values (a scalar when n == 0) of file and memory type `type`. */
static void replace_attr(const char *name, const char *attr_name, hid_t type, hsize_t n, const void *value)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS); /* the 1.8 format's dense storage, for a huge attribute */
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18);
    hid_t fid = H5Fopen(path_in_dir(name), H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    assert_true(fid >= 0);
    if (H5Aexists(fid, attr_name) > 0) assert_true(H5Adelete(fid, attr_name) >= 0);
    hid_t space = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
    hid_t attr = H5Acreate2(fid, attr_name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(attr >= 0);
    assert_true(H5Awrite(attr, type, value) >= 0);
    H5Aclose(attr);
    H5Sclose(space);
    H5Fclose(fid);
}

/* fsync fails with ENOSPC while fail_fsync is set (the test is linked with --wrap=fsync). */
static int fail_fsync;
int __real_fsync(int fd);
int __wrap_fsync(int fd)
{
    if (fail_fsync) return errno = ENOSPC, -1;
    return __real_fsync(fd);
}

/* Temporaries (<name>.tmp.<pid>.XXXXXX) left in the test directory. */
static int count_temporaries(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '\\.tmp\\.' || true", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p && fscanf(p, "%d", &n) != 1) n = -1;
    if (p) pclose(p);
    return n;
}

static void round_trip_is_exact(void **state)
{
    (void)state;
    for (int v = 0; v <= 1; v++) {
        nn_net net;
        nn_checkpoint ck, back;
        nn_err err = {0};
        make_checkpoint(&ck, &net, v);
        ck.validation = 500, ck.best_accuracy = 0.8125, ck.best_epoch = 2, ck.since_best = 1, ck.init = INIT_HE;
        const char *path = path_in_dir("round.h5");
        if (checkpoint_write(path, &ck, &err) != 0) fail_msg("%s", err.msg);
        if (checkpoint_read(path, NULL, 0, &back, &err) != 0) fail_msg("%s", err.msg);
        assert_int_equal(back.n_sizes, 3);
        assert_memory_equal(back.sizes, SIZES, sizeof SIZES);
        assert_int_equal(back.activation, ACT_TANH);
        assert_int_equal(back.loss, LOSS_XENT);
        assert_int_equal(back.epoch, 3);
        assert_int_equal(back.step, 17);
        assert_int_equal(back.seed, 99);
        assert_int_equal(back.batch, 32);
        assert_true(back.lr == 0.1);
        assert_int_equal(back.validation, 500);
        assert_int_equal(back.init, INIT_HE);
        assert_true(back.best_accuracy == 0.8125);
        assert_int_equal(back.best_epoch, 2);
        assert_int_equal(back.since_best, 1);
        assert_int_equal(back.n_params, net.n_params);
        assert_memory_equal(back.params, net.params, sizeof(float) * net.n_params);
        if (v) assert_memory_equal(back.velocity, net.velocity, sizeof(float) * net.n_params);
        else assert_null(back.velocity);
        checkpoint_free(&back);
        net_free(&net);
    }
}

/* The attribute `name` of / is a string; returns 1 when it is variable-length. */
static int str_attr_is_vlen(hid_t file, const char *name)
{
    hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
    assert_true(attr >= 0);
    hid_t type = H5Aget_type(attr);
    assert_int_equal(H5Tget_class(type), H5T_STRING);
    int vlen = H5Tis_variable_str(type) > 0;
    H5Tclose(type);
    H5Aclose(attr);
    return vlen;
}

/* Format 2: fixed-length strings (no global heap) in the HDF5 1.8 file format
 * (superblock version 2, with a checksum). */
static void writes_format_2(void **state)
{
    (void)state;
    nn_net net;
    nn_checkpoint ck;
    nn_err err = {0};
    make_checkpoint(&ck, &net, 1);
    const char *path = path_in_dir("v2.h5");
    if (checkpoint_write(path, &ck, &err) != 0) fail_msg("%s", err.msg);
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(fid >= 0);
    H5F_info2_t info;
    assert_true(H5Fget_info2(fid, &info) >= 0);
    assert_int_equal(info.super.version, 2);
    const char *strings[] = {"format", "nnmpi_version", "activation", "loss"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) assert_false(str_attr_is_vlen(fid, strings[i]));
    long long version = 0;
    hid_t attr = H5Aopen(fid, "format_version", H5P_DEFAULT);
    H5Aread(attr, H5T_NATIVE_LLONG, &version);
    H5Aclose(attr);
    assert_int_equal(version, 2);
    H5Fclose(fid);
    net_free(&net);
}

/* mpi-tests/fixtures/checkpoint-format1.h5 was written by nnmpi's format-1
 * writer (variable-length strings, the oldest HDF5 file format): the seed
 * ck-784-2-10-momentum.h5 of mpi-tests/fuzz/gen_seeds.c built at 61ca095,
 * 784,2,10, relu/xent, with momentum. It must still load, with every value. */
static void reads_format_1(void **state)
{
    (void)state;
    const char *path = NNMPI_TEST_FIXTURE_DIR "/checkpoint-format1.h5";
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(fid >= 0);
    assert_true(str_attr_is_vlen(fid, "format")); /* really the old layout */
    H5Fclose(fid);
    nn_checkpoint back;
    nn_err err = {0};
    if (checkpoint_read(path, NULL, 0, &back, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(back.format_version, 1);
    assert_string_equal(back.nnmpi_version, "0.1.0");
    assert_int_equal(back.n_sizes, 3);
    assert_int_equal(back.sizes[0], 784);
    assert_int_equal(back.sizes[1], 2);
    assert_int_equal(back.sizes[2], 10);
    assert_int_equal(back.activation, ACT_RELU);
    assert_int_equal(back.loss, LOSS_XENT);
    assert_int_equal(back.epoch, 2);
    assert_int_equal(back.step, 3);
    assert_int_equal(back.seed, 42);
    assert_int_equal(back.batch, 10);
    assert_int_equal(back.train_size, 100);
    assert_int_equal(back.shuffle, 1);
    assert_int_equal(back.reproducible, 1);
    assert_int_equal(back.chunk, 2);
    assert_true(back.lr == 0.1 && back.momentum == 0.9);
    /* no recipe attributes in a format-1 file: the defaults of the options */
    assert_int_equal(back.lr_schedule, LR_CONSTANT);
    assert_int_equal(back.epochs, -1);
    assert_true(back.lr_gamma == 0.1 && back.dropout == 0 && back.weight_decay == 0 && !back.nesterov);
    assert_int_equal(back.n_params, 2 * 785 + 10 * 3);
    assert_non_null(back.velocity);
    for (size_t i = 0; i < back.n_params; i++) {
        assert_true(back.params[i] == (float)((int)(i % 17) - 8) / 64.0f);
        assert_true(back.velocity[i] == (float)(i % 5) / 1024.0f);
    }
    checkpoint_free(&back);
}

static void bad_files_are_refused(void **state)
{
    (void)state;
    nn_net net;
    nn_checkpoint ck, back;
    nn_err err = {0};
    make_checkpoint(&ck, &net, 0);
    char good[512];
    snprintf(good, sizeof good, "%s", path_in_dir("good.h5"));
    assert_int_equal(checkpoint_write(good, &ck, &err), 0);

    /* missing */
    read_is_refused("nope.h5", "nope.h5");

    /* truncated: half of a valid file */
    FILE *f = fopen(good, "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(test_write_file(path_in_dir("half.h5"), buf, len / 2), 0);
    read_is_refused("half.h5", "half.h5");

    /* not HDF5 at all */
    assert_int_equal(test_write_file(path_in_dir("text.h5"), "hello", 5), 0);
    read_is_refused("text.h5", "not an HDF5 file");

    /* foreign HDF5: no format attribute */
    hid_t fid = H5Fcreate(path_in_dir("foreign.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(fid >= 0);
    H5Fclose(fid);
    read_is_refused("foreign.h5", "attribute 'format' is missing");

    /* not HDF5 at all, as an in-memory image */
    memset(&err, 0, sizeof err);
    assert_int_equal(checkpoint_read("image.h5", "hello, world", 12, &back, &err), -1);
    assert_non_null(strstr(err.msg, "image.h5: not an HDF5 file"));

    /* the next format version: refused with a hint */
    assert_int_equal(checkpoint_write(path_in_dir("newer.h5"), &ck, &err), 0);
    long long version = NN_CHECKPOINT_FORMAT_VERSION + 1;
    overwrite_attr("newer.h5", "format_version", H5T_NATIVE_LLONG, &version);
    memset(&err, 0, sizeof err);
    assert_int_equal(checkpoint_read(path_in_dir("newer.h5"), NULL, 0, &back, &err), -1);
    assert_non_null(strstr(err.msg, "in checkpoint format 3; this build"));
    assert_non_null(strstr(err.msg, "reads format 2: use a newer nnmpi"));

    /* a number attribute of a type HDF5 would have to convert unchecked (a bitfield) */
    assert_int_equal(checkpoint_write(path_in_dir("type.h5"), &ck, &err), 0);
    fid = H5Fopen(path_in_dir("type.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Adelete(fid, "epoch");
    hid_t scalar = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(fid, "epoch", H5T_STD_B64LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attr, H5T_NATIVE_B64, &version);
    H5Aclose(attr);
    H5Sclose(scalar);
    H5Fclose(fid);
    read_is_refused("type.h5", "attribute 'epoch' should be a single number");

    /* a dataset created but never written */
    assert_int_equal(checkpoint_write(path_in_dir("unwritten.h5"), &ck, &err), 0);
    fid = H5Fopen(path_in_dir("unwritten.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(fid, "/layers/1/biases", H5P_DEFAULT);
    hsize_t ten = 10;
    hid_t space = H5Screate_simple(1, &ten, NULL);
    hid_t dset = H5Dcreate2(fid, "/layers/1/biases", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(dset);
    H5Sclose(space);
    H5Fclose(fid);
    read_is_refused("unwritten.h5", "dataset '/layers/1/biases' holds no data");

    /* a weights dataset of the wrong shape */
    assert_int_equal(checkpoint_write(path_in_dir("shape.h5"), &ck, &err), 0);
    int sizes[3] = {784, 13, 10};
    overwrite_attr("shape.h5", "layer_sizes", H5T_NATIVE_INT, sizes);
    read_is_refused("shape.h5", "has shape 12x784, expected 13x784");

    /* layer sizes promising more parameters than the file can hold: refused before allocating */
    int huge[3] = {784, 1000000, 10};
    overwrite_attr("shape.h5", "layer_sizes", H5T_NATIVE_INT, huge);
    read_is_refused("shape.h5", "promise 795000010 parameters (3180000040 bytes)");
    net_free(&net);

    /* with momentum the file must hold the velocity too: a 784,12,10
     * checkpoint with a velocity, whose layer_sizes then say 784,20,10, which
     * the file could hold without a velocity but not with one */
    make_checkpoint(&ck, &net, 1);
    assert_int_equal(checkpoint_write(path_in_dir("velocity.h5"), &ck, &err), 0);
    int bigger[3] = {784, 20, 10};
    overwrite_attr("velocity.h5", "layer_sizes", H5T_NATIVE_INT, bigger);
    struct stat st;
    assert_int_equal(stat(path_in_dir("velocity.h5"), &st), 0);
    assert_true((size_t)st.st_size > 15910 * sizeof(float) && (size_t)st.st_size < 2 * 15910 * sizeof(float));
    read_is_refused("velocity.h5", "promise 15910 parameters and as many velocities (127280 bytes)");
    net_free(&net);
}

static void failed_write_leaves_the_old_file_and_no_temporary(void **state)
{
    (void)state;
    nn_net net;
    nn_checkpoint ck, back;
    nn_err err = {0};
    make_checkpoint(&ck, &net, 0);
    /* a directory that vanished */
    char gone[512];
    snprintf(gone, sizeof gone, "%s/vanished/ck.h5", dir);
    assert_int_equal(checkpoint_write(gone, &ck, &err), -1);
    assert_non_null(strstr(err.msg, "vanished/ck.h5"));
    /* a disk that fills up: the file system's error (fsync fails with
     * ENOSPC, injected with --wrap=fsync) reaches the message, the previous
     * checkpoint stays intact and no temporary is left */
    const char *path = path_in_dir("keep.h5");
    assert_int_equal(checkpoint_write(path, &ck, &err), 0);
    float keep0 = net.params[0];
    net.params[0] = 12345.0f;
    memset(&err, 0, sizeof err);
    fail_fsync = 1;
    int rc = checkpoint_write(path, &ck, &err);
    fail_fsync = 0;
    assert_int_equal(rc, -1);
    if (!strstr(err.msg, "keep.h5") || !strstr(err.msg, "No space left on device")) fail_msg("got '%s'", err.msg);
    assert_int_equal(count_temporaries(), 0);
    memset(&err, 0, sizeof err);
    assert_int_equal(checkpoint_read(path, NULL, 0, &back, &err), 0);
    assert_true(back.params[0] == keep0);
    checkpoint_free(&back);
    net_free(&net);
}

/* A checkpoint path that is a symlink, a FIFO or a directory is never
 * replaced: the write is refused and the link's target keeps its bytes. */
/* A checkpoint with every recipe setting on: a step schedule with a fractional milestone, warmup,
 * the linear scaling rule, Nesterov momentum, weight decay, dropout. */
static void make_recipe(nn_checkpoint *ck, nn_net *net)
{
    make_checkpoint(ck, net, 1);
    ck->epochs = 6, ck->lr_schedule = LR_STEP, ck->n_lr_steps = 2, ck->lr_steps[0] = 2.5, ck->lr_steps[1] = 4;
    ck->lr_gamma = 0.5, ck->warmup = 0.75, ck->lr_batch = 128, ck->nesterov = 1, ck->weight_decay = 5e-4;
    ck->dropout = 0.2;
}

static void recipe_round_trip_and_absent_defaults(void **state)
{
    (void)state;
    nn_net net;
    nn_checkpoint ck, back;
    nn_err err = {0};
    make_recipe(&ck, &net);
    if (checkpoint_write(path_in_dir("recipe.h5"), &ck, &err) != 0) fail_msg("%s", err.msg);
    if (checkpoint_read(path_in_dir("recipe.h5"), NULL, 0, &back, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(back.epochs, 6);
    assert_int_equal(back.lr_schedule, LR_STEP);
    assert_int_equal(back.n_lr_steps, 2);
    assert_true(back.lr_steps[0] == 2.5 && back.lr_steps[1] == 4.0);
    assert_true(back.lr_gamma == 0.5 && back.warmup == 0.75 && back.weight_decay == 5e-4 && back.dropout == 0.2);
    assert_int_equal(back.lr_batch, 128);
    assert_int_equal(back.nesterov, 1);
    checkpoint_free(&back);

    /* a file of an nnmpi before the recipe was stored: none of its attributes */
    hid_t fid = H5Fopen(path_in_dir("recipe.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
    const char *recipe[] = {"epochs", "lr_schedule", "lr_steps", "lr_gamma", "lr_min", "warmup", "lr_batch",
                            "nesterov", "weight_decay", "dropout"};
    for (size_t i = 0; i < sizeof recipe / sizeof recipe[0]; i++) assert_true(H5Adelete(fid, recipe[i]) >= 0);
    H5Fclose(fid);
    if (checkpoint_read(path_in_dir("recipe.h5"), NULL, 0, &back, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(back.epochs, -1); /* unknown: --epochs or its default */
    assert_int_equal(back.lr_schedule, LR_CONSTANT);
    assert_int_equal(back.n_lr_steps, 0);
    assert_true(back.lr_gamma == 0.1 && back.lr_min == 0 && back.warmup == 0);
    assert_true(back.weight_decay == 0 && back.dropout == 0);
    assert_int_equal(back.lr_batch, 0);
    assert_int_equal(back.nesterov, 0);
    assert_true(back.lr == 0.1 && back.momentum == 0.9); /* the rest as written */
    checkpoint_free(&back);
    net_free(&net);
}

/* The recipe's attributes, each made hostile in a copy of a valid file. */
static void recipe_attributes_are_validated(void **state)
{
    (void)state;
    nn_net net;
    nn_checkpoint ck;
    nn_err err = {0};
    make_recipe(&ck, &net);
    const char *f = "hostile-recipe.h5";
    const double descending[2] = {4, 2.5}, nan_step[2] = {2.5, NAN}, dropout = 1.5;
    static double huge[1 << 20]; /* 8 MB of milestones: refused by its count, nothing read */
    const long long two = 2, three = 3, minus_one = -1;
    struct {
        const char *attr;
        hid_t type;
        hsize_t n;
        const void *value;
        const char *message;
    } cases[] = {
        {"lr_steps", H5T_NATIVE_DOUBLE, 2, descending, "'lr_steps' should hold strictly ascending positive epochs"},
        {"lr_steps", H5T_NATIVE_DOUBLE, 2, nan_step, "got nan at position 1"},
        {"lr_steps", H5T_NATIVE_DOUBLE, 1 << 20, huge, "'lr_steps' should hold 1 to 16 numbers"},
        {"lr_steps", H5T_NATIVE_DOUBLE, 0, descending, "'lr_steps' should hold 1 to 16 numbers"}, /* a scalar */
        {"dropout", H5T_NATIVE_DOUBLE, 0, &dropout, "attribute 'dropout' = 1.5 is out of range [0, 1)"},
        {"dropout", H5T_NATIVE_DOUBLE, 2, descending, "attribute 'dropout' should be a single number"},
        {"nesterov", H5T_NATIVE_LLONG, 0, &two, "attribute 'nesterov' = 2 is out of range [0, 1]"},
        {"epochs", H5T_NATIVE_LLONG, 0, &three, "'lr_steps' ends at epoch 4, not before 'epochs' = 3"},
        {"lr_batch", H5T_NATIVE_LLONG, 0, &minus_one, "attribute 'lr_batch' = -1 is out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(checkpoint_write(path_in_dir(f), &ck, &err), 0);
        replace_attr(f, cases[i].attr, cases[i].type, cases[i].n, cases[i].value);
        read_is_refused(f, cases[i].message);
    }
    /* a string where a number belongs, and a name nnmpi does not know */
    const char *text[][3] = {{"weight_decay", "0.0005", "attribute 'weight_decay' should be a single number"},
                             {"lr_schedule", "exponential", "unknown lr_schedule 'exponential'"},
                             {"lr_schedule", "cosine", "attribute 'lr_steps' is present but 'lr_schedule' is 'cosine'"}};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++) {
        assert_int_equal(checkpoint_write(path_in_dir(f), &ck, &err), 0);
        hid_t type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, strlen(text[i][1]) + 1);
        replace_attr(f, text[i][0], type, 0, text[i][1]);
        H5Tclose(type);
        read_is_refused(f, text[i][2]);
    }
    net_free(&net);
}

static void only_regular_files_are_replaced(void **state)
{
    (void)state;
    nn_net net;
    nn_checkpoint ck;
    make_checkpoint(&ck, &net, 0);
    const char *victim = "precious data\n";
    char target[600];
    snprintf(target, sizeof target, "%s", path_in_dir("precious.txt"));
    assert_int_equal(test_write_file(target, victim, strlen(victim)), 0);
    assert_int_equal(symlink(target, path_in_dir("link.h5")), 0);
    assert_int_equal(mkfifo(path_in_dir("fifo.h5"), 0600), 0);
    assert_int_equal(mkdir(path_in_dir("dir.h5"), 0700), 0);
    const char *names[] = {"link.h5", "fifo.h5", "dir.h5"}, *kinds[] = {"symbolic link", "FIFO", "directory"};
    for (int i = 0; i < 3; i++) {
        nn_err err = {0};
        assert_int_equal(checkpoint_write(path_in_dir(names[i]), &ck, &err), -1);
        if (!strstr(err.msg, "is not a regular file") || !strstr(err.msg, kinds[i])) fail_msg("%s: '%s'", names[i], err.msg);
    }
    char back[64] = {0};
    FILE *f = fopen(target, "rb");
    assert_non_null(f);
    assert_true(fread(back, 1, sizeof back - 1, f) > 0);
    fclose(f);
    assert_string_equal(back, victim);
    assert_int_equal(count_temporaries(), 0);
    net_free(&net);
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char *d = test_tmpdir();
    if (!d) return 1;
    snprintf(dir, sizeof dir, "%s", d);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_is_exact),
        cmocka_unit_test(writes_format_2),
        cmocka_unit_test(reads_format_1),
        cmocka_unit_test(bad_files_are_refused),
        cmocka_unit_test(failed_write_leaves_the_old_file_and_no_temporary),
        cmocka_unit_test(only_regular_files_are_replaced),
        cmocka_unit_test(recipe_round_trip_and_absent_defaults),
        cmocka_unit_test(recipe_attributes_are_validated),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    test_remove_tree(dir);
    return failed;
}
