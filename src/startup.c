/*
 * startup.c: trainer_setup. Everything that can be checked before training is
 * checked here, in this order: the data files, the --resume checkpoint and
 * how it fits the command line, the network's shape against the data, the
 * output files; then the options are resolved once (--overlap auto, the
 * chunk, the sizes), every buffer is allocated, and the run is described for
 * the reports. A failure on any rank ends every rank with the same status.
 */
#include <cblas.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "checkpoint.h"
#include "data_share.h"
#include "memplan.h"
#include "mpi_pieces.h"
#include "metrics.h"
#include "nn_version.h"
#include "predict.h"
#include "slice.h"
#include "train.h"

#define EVAL_ROWS 256 /* train.c evaluates in blocks of this many rows */

/* Appends printf-style text to buf (size len), truncating. */
static void append_(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append_(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strnlen(buf, len);
    if (used + 1 >= len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

/* --validation N: the last N of the loaded training images become the
 * validation set (a view into the same memory), the rest the training set. */
static void split_validation_(nn_trainer *t, nn_err *err)
{
    int n = t->opt.validation, total = t->train.count;
    if (n >= total) {
        nn_err_set(err, "--validation: expected fewer than the %d training images, got %d", total, n);
        return;
    }
    size_t first = (size_t)(total - n) * (size_t)t->train.input_size;
    t->val = t->train;
    t->val.count = n;
    t->val.pixels = t->train.pixels ? t->train.pixels + first : NULL;
    t->val.values = t->train.values ? t->train.values + first : NULL;
    t->val.labels = t->train.labels + (total - n);
    t->val.synth_first = t->train.synth_first + (total - n);
    t->train.count = total - n;
}

/* The standard names, in the order of nn_options.data_paths and t->data_paths. */
static const char *const data_names_[NN_DATA_FILES] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

/* Each file: its option (--train-images ...), else NAME in --data DIR, else
 * NAME.gz there; a path found nowhere stays DIR/NAME, for the message. */
static void resolve_paths_(nn_trainer *t)
{
    const nn_options *o = &t->opt;
    struct stat st;
    for (int i = 0; i < NN_DATA_FILES; i++) {
        char *path = t->data_paths[i];
        size_t len = sizeof t->data_paths[i];
        if (o->data_paths[i]) {
            snprintf(path, len, "%s", o->data_paths[i]);
            continue;
        }
        snprintf(path, len, "%s/%s", o->data_dir, data_names_[i]);
        size_t plain = strlen(path);
        if (stat(path, &st) == 0) continue;
        snprintf(path + plain, len - plain, ".gz");
        if (stat(path, &st) != 0) path[plain] = '\0';
    }
}

/* Train and test images must have one geometry and type; the classes are
 * --classes, the checkpoint's, or the largest label + 1; no label reaches them. */
static void check_data_(nn_trainer *t, nn_err *err)
{
    nn_options *o = &t->opt;
    char a[96], b[96];
    if (o->trains && (!idx_same_geometry(&t->train, &t->test) || t->train.type != t->test.type)) {
        nn_err_set(err, "the training images %s are %s but the test images %s are %s: they must agree",
                   t->data_paths[0], idx_shape_text(&t->train, a, sizeof a), t->data_paths[2],
                   idx_shape_text(&t->test, b, sizeof b));
        return;
    }
    if (o->predict_path) return; /* no labels: the classes are the checkpoint's */
    if (o->classes == 0 && o->synthetic) o->classes = o->synth.classes; /* a class the teacher never picks stays one */
    if (o->classes == 0) {
        int max_label = t->test.max_label > t->train.max_label ? t->test.max_label : t->train.max_label;
        o->classes = max_label + 1;
    }
    /* the default (no --classes, no --resume) holds every label */
    if ((o->trains && idx_check_labels(&t->train, o->classes, t->data_paths[1], err) != 0) ||
        idx_check_labels(&t->test, o->classes, t->data_paths[3], err) != 0) {
        if (o->classes_given) nn_err_prefix(err, "--classes %d: ", o->classes);
        else nn_err_prefix(err, "the %d classes of checkpoint '%s': ", o->classes, o->resume_path);
    }
    if (!o->layers_given && !o->resume_path) /* INPUT,30,CLASSES */
        o->sizes[0] = t->test.input_size, o->sizes[o->n_sizes - 1] = o->classes;
}

/* --data synthetic:...: the sets are generated from the seed (labels now,
 * rows as steps gather them); the first `wanted` training samples (all when 0). */
static int make_synthetic_(nn_trainer *t, long long wanted, nn_err *err)
{
    const nn_options *o = &t->opt;
    const nn_synth_spec *spec = &o->synth;
    for (int i = 0; i < NN_DATA_FILES; i++) snprintf(t->data_paths[i], sizeof t->data_paths[i], "%s", o->data_dir);
    if ((o->trains && wanted > spec->train) || o->test_size > spec->test) {
        int train = o->trains && wanted > spec->train;
        nn_err_set(err, "asked for %lld %s samples but %s has only %d", train ? wanted : (long long)o->test_size,
                   train ? "training" : "test", o->data_dir, train ? spec->train : spec->test);
        return IDX_ERR_TOO_FEW;
    }
    if (o->trains) synth_make_set(spec, o->seed, 0, wanted > 0 ? (int)wanted : spec->train, &t->train);
    synth_make_set(spec, o->seed, spec->train, o->test_size > 0 ? o->test_size : spec->test, &t->test);
    return 0;
}

/* What asked for the training items, for a "holds only" message; with
 * --validation N, the N images right after the training ones count too. */
static const char *train_option_(const nn_options *o)
{
    if (o->validation)
        return o->train_size_given ? "--train-size plus --validation" : "the checkpoint's train_size plus --validation";
    return o->train_size_given ? "--train-size" : "the checkpoint's train_size";
}

/* The files to load: the training set (not with --eval-only) and the test
 * set, or --predict's images in the test set's place; `wanted` training
 * items (0: all), --validation's included. */
static int load_files_(nn_trainer *t, long long wanted)
{
    const nn_options *o = &t->opt;
    nn_data_request req[NN_DATA_MAX_SETS];
    int n = 0;
    if (o->predict_path) { /* the images to classify take the test set's place */
        snprintf(t->data_paths[2], sizeof t->data_paths[2], "%s", o->predict_path);
        req[n++] = (nn_data_request){o->predict_path, NULL, 0, NULL, "--predict: ", &t->test};
        return data_load(req, n, o->share_data, &t->data, t->comm);
    }
    if (!o->eval_only)
        req[n++] = (nn_data_request){t->data_paths[0], t->data_paths[1], wanted > INT_MAX ? INT_MAX : (int)wanted,
                                     train_option_(o), NULL, &t->train};
    req[n++] = (nn_data_request){t->data_paths[2], t->data_paths[3], o->test_size, "--test-size", NULL, &t->test};
    return data_load(req, n, o->share_data, &t->data, t->comm);
}

/* The data sets: from the files, once per node or once per rank
 * (--share-data, data_share.h), or generated (--data synthetic:..., every
 * rank its own labels); then checked against each other and the options. */
static int load_data_(nn_trainer *t)
{
    const nn_options *o = &t->opt;
    nn_err err = {0};
    int status = 0;
    long long wanted = o->train_size > 0 ? (long long)o->train_size + o->validation : 0;
    resolve_paths_(t);
    if (o->predict_path || !o->synthetic) {
        status = load_files_(t, wanted);
    } else {
        int too_many_train = o->trains && wanted > o->synth.train; /* what make_synthetic_'s message names */
        if (make_synthetic_(t, wanted, &err) == IDX_ERR_TOO_FEW)
            nn_err_prefix(&err, "%s: ", too_many_train ? train_option_(o) : "--test-size");
        status = nn_err_agree(&err, NN_EXIT_ERROR, t->comm);
    }
    if (status == 0) {
        check_data_(t, &err);
        status = nn_err_agree(&err, NN_EXIT_ERROR, t->comm);
    }
    if (status == 0 && o->validation && o->trains) {
        split_validation_(t, &err);
        status = nn_err_agree(&err, NN_EXIT_USAGE, t->comm);
    }
    if (o->trains) t->opt.train_size = t->train.count;
    t->opt.test_size = t->test.count;
    return status;
}

/* Rank 0 reads a --resume checkpoint and broadcasts it (a homogeneous
 * cluster: the struct as bytes, then the arrays). */
static int resume_read_(nn_trainer *t, nn_checkpoint *ck)
{
    nn_err err = {0};
    if (t->rank == 0) checkpoint_read(t->opt.resume_path, NULL, 0, ck, &err);
    int status = nn_err_agree(&err, NN_EXIT_ERROR, t->comm);
    if (status) return status;
    float *params = ck->params, *velocity = ck->velocity;
    int has_velocity = velocity != NULL;
    MPI_CHECK(MPI_Bcast(ck, sizeof *ck, MPI_BYTE, 0, t->comm));
    MPI_CHECK(MPI_Bcast(&has_velocity, 1, MPI_INT, 0, t->comm));
    /* every other rank is about to hold a copy: a checkpoint too large for its node is refused first */
    char what[4200];
    snprintf(what, sizeof what, "checkpoint '%s' (a copy of its weights on every rank)", t->opt.resume_path);
    size_t copy = sizeof(float) * ck->n_params * (has_velocity ? 2 : 1);
    memplan_check_copy(copy, t->rank == 0, what, t->comm, &err);
    if ((status = nn_err_agree(&err, NN_EXIT_ERROR, t->comm)) != 0) {
        if (t->rank == 0) checkpoint_free(ck);
        memset(ck, 0, sizeof *ck);
        return status;
    }
    if (t->rank != 0) {
        params = NN_MALLOC(sizeof(float) * ck->n_params);
        velocity = has_velocity ? NN_MALLOC(sizeof(float) * ck->n_params) : NULL;
    }
    ck->params = params;
    ck->velocity = velocity;
    nn_bcast_pieces(ck->params, ck->n_params, MPI_FLOAT, 0, t->comm);
    if (has_velocity) nn_bcast_pieces(ck->velocity, ck->n_params, MPI_FLOAT, 0, t->comm);
    return 0;
}

/* One setting of the checkpoint's: taken from it unless given; a given value
 * that differs is refused, naming both (a resumed run continues the data
 * order those settings define). */
static void take_int_(int *value, int given, int ck_value, const char *option, const char *path, nn_err *err)
{
    if (!given)
        *value = ck_value;
    else if (*value != ck_value)
        nn_err_set(err, "%s %d does not match checkpoint '%s' (%d): a resumed run continues its data order; leave %s "
                        "out to take the checkpoint's", option, *value, path, ck_value, option);
}

/* The recipe: the training settings a checkpoint stores, beside --lr and
 * --momentum, so that a resume without them is the same training. Each is
 * taken from the checkpoint unless given; a given value that differs is used
 * and noted, as --lr is: none of them changes what the checkpoint's weights,
 * velocity and position in the data order mean (the settings that do are
 * refused in resume_reconcile_). Read by both directions: the checkpoint
 * writer (trainer_recipe_to_checkpoint) and the resume. */
typedef enum { R_INT, R_DOUBLE, R_FLAG, R_SCHEDULE } recipe_kind;
typedef struct {
    const char *option;
    recipe_kind kind;
    size_t opt_field, given, ck_field; /* offsets into nn_options and nn_checkpoint */
    int knob; /* 1: belongs to the checkpoint's schedule, taken only when the schedule is kept */
} recipe_spec;

#define O(f) offsetof(nn_options, f)
#define C(f) offsetof(nn_checkpoint, f)
static const recipe_spec recipe_[] = {
    {"--lr-schedule", R_SCHEDULE, O(lr_schedule), O(lr_schedule_given), C(lr_schedule), 0},
    {"--lr-gamma", R_DOUBLE, O(lr_gamma), O(lr_gamma_given), C(lr_gamma), 1},
    {"--lr-min", R_DOUBLE, O(lr_min), O(lr_min_given), C(lr_min), 1},
    {"--warmup", R_DOUBLE, O(warmup), O(warmup_given), C(warmup), 0},
    {"--lr-batch", R_INT, O(lr_batch), O(lr_batch_given), C(lr_batch), 0},
    {"--nesterov", R_FLAG, O(nesterov), O(nesterov_given), C(nesterov), 0},
    {"--weight-decay", R_DOUBLE, O(weight_decay), O(weight_decay_given), C(weight_decay), 0},
    {"--dropout", R_DOUBLE, O(dropout), O(dropout_given), C(dropout), 0},
};
#undef O
#undef C
enum { N_RECIPE = sizeof recipe_ / sizeof recipe_[0] };
_Static_assert(sizeof(nn_lr_kind) == sizeof(int), "recipe_ copies --lr-schedule as an int");

static size_t recipe_size_(const recipe_spec *r) { return r->kind == R_DOUBLE ? sizeof(double) : sizeof(int); }

/* 1 when the setting's value in the options equals the checkpoint's. */
static int recipe_same_(const recipe_spec *r, const nn_options *opt, const nn_checkpoint *ck)
{
    const char *o = (const char *)opt + r->opt_field, *c = (const char *)ck + r->ck_field;
    return r->kind == R_DOUBLE ? *(const double *)o == *(const double *)c : *(const int *)o == *(const int *)c;
}

/* A setting's value as the command line spells it. */
static void recipe_text_(const recipe_spec *r, const void *base, size_t field, char *buf, size_t len)
{
    const char *v = (const char *)base + field;
    if (r->kind == R_DOUBLE) snprintf(buf, len, "%g", *(const double *)v);
    else if (r->kind == R_SCHEDULE) snprintf(buf, len, "%s", nn_lr_kind_names[*(const int *)v]);
    else if (r->kind == R_FLAG) snprintf(buf, len, "%s", *(const int *)v ? "on" : "off");
    else snprintf(buf, len, "%d", *(const int *)v);
}

static void steps_text_(const double *steps, int n, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++) append_(buf, len, "%s%g", i ? "," : "", steps[i]);
    if (n == 0) snprintf(buf, len, "none");
}

void trainer_recipe_to_checkpoint(const nn_options *opt, nn_checkpoint *ck)
{
    for (int i = 0; i < N_RECIPE; i++) {
        const recipe_spec *r = &recipe_[i];
        memcpy((char *)ck + r->ck_field, (const char *)opt + r->opt_field, recipe_size_(r));
    }
    ck->epochs = opt->epochs;
    ck->n_lr_steps = opt->n_lr_steps;
    memcpy(ck->lr_steps, opt->lr_steps, sizeof ck->lr_steps);
}

/* Fills what the command line left out of the recipe from the checkpoint.
 * A given --lr-schedule other than the checkpoint's starts from its own
 * knobs: the checkpoint's steps, gamma and final rate were for the other. */
static void recipe_take_(nn_options *opt, const nn_checkpoint *ck)
{
    int keeps_schedule = !opt->lr_schedule_given || (int)opt->lr_schedule == ck->lr_schedule;
    for (int i = 0; i < N_RECIPE; i++) {
        const recipe_spec *r = &recipe_[i];
        if (*(const int *)((const char *)opt + r->given) || (r->knob && !keeps_schedule)) continue;
        memcpy((char *)opt + r->opt_field, (const char *)ck + r->ck_field, recipe_size_(r));
    }
    if (!opt->lr_steps_given && keeps_schedule) {
        opt->n_lr_steps = ck->n_lr_steps;
        memcpy(opt->lr_steps, ck->lr_steps, sizeof opt->lr_steps);
    }
    if (!opt->epochs_given && ck->epochs >= 0) opt->epochs = ck->epochs; /* absent in older files: the default */
    /* --momentum 0 given: plain SGD, for which Nesterov's form is the same update */
    if (!opt->nesterov_given && opt->momentum == 0.0) opt->nesterov = 0;
}

/* Rank 0 says which given recipe settings differ from the checkpoint's. A
 * file without the recipe (epochs absent: the recipe's attributes are written
 * together) recorded none of it: nothing to differ from. */
static void recipe_notes_(const nn_options *opt, const nn_checkpoint *ck)
{
    char given[256], stored[256];
    const char *path = opt->resume_path;
    if (ck->epochs < 0) return;
    for (int i = 0; i < N_RECIPE; i++) {
        const recipe_spec *r = &recipe_[i];
        if (!*(const int *)((const char *)opt + r->given) || recipe_same_(r, opt, ck)) continue;
        recipe_text_(r, opt, r->opt_field, given, sizeof given);
        recipe_text_(r, ck, r->ck_field, stored, sizeof stored);
        fprintf(stderr, "nnmpi: note: %s %s differs from checkpoint '%s' (%s); training goes on with %s\n", r->option,
                given, path, stored, given);
    }
    if (opt->lr_steps_given && (opt->n_lr_steps != ck->n_lr_steps ||
                                memcmp(opt->lr_steps, ck->lr_steps, sizeof(double) * (size_t)ck->n_lr_steps) != 0)) {
        steps_text_(opt->lr_steps, opt->n_lr_steps, given, sizeof given);
        steps_text_(ck->lr_steps, ck->n_lr_steps, stored, sizeof stored);
        fprintf(stderr, "nnmpi: note: --lr-steps %s differs from checkpoint '%s' (%s); training goes on with %s\n",
                given, path, stored, given);
    }
    /* the other schedules do not depend on the end: a longer or shorter run is the same training up to it */
    if (opt->epochs_given && opt->epochs != ck->epochs &&
        (opt->lr_schedule == LR_COSINE || opt->lr_schedule == LR_LINEAR))
        fprintf(stderr, "nnmpi: note: --epochs %d differs from checkpoint '%s' (%d): the %s schedule now spans %d "
                        "epochs, so the rates from here differ from the checkpoint's run\n", opt->epochs, path,
                ck->epochs, nn_lr_kind_names[opt->lr_schedule], opt->epochs);
}

/* Everything the checkpoint knows comes from it unless given: the model
 * (which must then match), the optimizer (a given value that differs is
 * used, and resume_ says so), and the data order (which must then match).
 * Pure: checks opt against ck and fills opt. */
static void resume_reconcile_(nn_options *opt, const nn_checkpoint *ck, nn_err *err)
{
    const char *path = opt->resume_path;
    if (opt->layers_given && (opt->n_sizes != ck->n_sizes ||
                              memcmp(opt->sizes, ck->sizes, sizeof(int) * (size_t)ck->n_sizes) != 0)) {
        char given[256], stored[256];
        nn_err_set(err, "--layers %s does not match checkpoint '%s' (%s)",
                   model_sizes_text(opt->sizes, opt->n_sizes, given, sizeof given), path,
                   model_sizes_text(ck->sizes, ck->n_sizes, stored, sizeof stored));
    }
    if (opt->activation_given && opt->activation != ck->activation)
        nn_err_set(err, "--activation %s does not match checkpoint '%s' (%s)", nn_activation_names[opt->activation],
                   path, nn_activation_names[ck->activation]);
    if (opt->loss_given && opt->loss != ck->loss)
        nn_err_set(err, "--loss %s does not match checkpoint '%s' (%s)", nn_loss_names[opt->loss], path,
                   nn_loss_names[ck->loss]);
    opt->n_sizes = ck->n_sizes;
    memcpy(opt->sizes, ck->sizes, sizeof opt->sizes);
    if (!opt->classes_given) opt->classes = ck->sizes[ck->n_sizes - 1]; /* its labels must fit the file's output */
    opt->activation = ck->activation;
    opt->loss = ck->loss;
    opt->init = ck->init; /* the weights come from the file: its init is the one that drew them */
    /* auto's choice is a measurement, which may differ from run to run, and
     * so would the sums' order at 3+ ranks: a resumed run goes on with the
     * method the checkpoint's run used, for the same bits as an uninterrupted run. */
    if (opt->allreduce == REDUCE_AUTO) opt->allreduce = ck->allreduce;
    if (!opt->lr_given) opt->lr = ck->lr;
    if (!opt->momentum_given) opt->momentum = ck->momentum;
    recipe_take_(opt, ck);
    if (!opt->trains) { /* nothing is trained: the checkpoint's settings, for the start-up line */
        opt->seed = ck->seed, opt->batch = ck->batch, opt->shuffle = ck->shuffle, opt->train_size = ck->train_size;
        opt->reproducible = ck->reproducible, opt->chunk = ck->chunk;
        return;
    }
    if (opt->seed_given && opt->seed != ck->seed)
        nn_err_set(err, "--seed %llu does not match checkpoint '%s' (%llu): a resumed run continues its data order; "
                        "leave --seed out to take the checkpoint's", (unsigned long long)opt->seed, path,
                   (unsigned long long)ck->seed);
    opt->seed = ck->seed;
    take_int_(&opt->batch, opt->batch_given, ck->batch, "--batch", path, err);
    take_int_(&opt->train_size, opt->train_size_given, ck->train_size, "--train-size", path, err);
    if (opt->shuffle_given && opt->shuffle != ck->shuffle)
        nn_err_set(err, "--shuffle %s does not match checkpoint '%s' (%s)", opt->shuffle ? "on" : "off", path,
                   ck->shuffle ? "on" : "off");
    opt->shuffle = ck->shuffle;
    if (opt->reproducible && !ck->reproducible)
        nn_err_set(err, "--reproducible does not match checkpoint '%s', written without it", path);
    opt->reproducible = ck->reproducible;
    if (ck->reproducible) take_int_(&opt->chunk, opt->chunk_given, ck->chunk, "--chunk", path, err);
    take_int_(&opt->validation, opt->validation != 0, ck->validation, "--validation", path, err);
    int steps = slice_steps_per_epoch(opt->train_size, opt->batch);
    if (!err->failed && ck->step > steps)
        nn_err_set(err, "checkpoint '%s': step %d is past the end of an epoch of %d steps", path, ck->step, steps);
    /* the combinations options_parse leaves for now, with the checkpoint's recipe filled in */
    if (!err->failed && options_check_training(opt, err) != 0)
        nn_err_prefix(err, "with --resume %s (options not given are the checkpoint's): ", path);
}

/* The network's first size must be the data's input size, its last the
 * classes: checked once, here, against the files just read, in one message
 * that names both. */
/* A checkpoint that records its input's geometry (input_shape) applies only
 * to data of that geometry: 28x28 images and 784 flat values, or 5x7 and
 * 7x5, have one input size but are not the same input. */
static int check_geometry_(const nn_trainer *t, const nn_checkpoint *ck)
{
    const idx_set *data = &t->test;
    nn_err err = {0};
    idx_set recorded = {.n_dims = ck->n_input_dims, .type = data->type};
    memcpy(recorded.input_dims, ck->input_dims, sizeof recorded.input_dims);
    if (ck->n_input_dims > 0 && !idx_same_geometry(&recorded, data)) {
        char a[96], b[96];
        idx_shape_text(&recorded, a, sizeof a);
        a[strcspn(a, " ")] = '\0'; /* the geometry alone: the checkpoint does not record the file's type */
        nn_err_set(&err, "checkpoint '%s' was trained on inputs of shape %s but %s holds %s images: they must agree",
                   t->opt.resume_path, a, t->data_paths[2], idx_shape_text(data, b, sizeof b));
    }
    return nn_err_agree(&err, NN_EXIT_ERROR, t->comm);
}

static int check_shape_(nn_trainer *t, const nn_checkpoint *ck)
{
    const nn_options *o = &t->opt;
    const idx_set *data = &t->test;
    nn_err err = {0};
    int first = o->sizes[0], last = o->sizes[o->n_sizes - 1];
    if (first == data->input_size && last == o->classes) return o->resume_path ? check_geometry_(t, ck) : 0;
    char sizes[256], shape[96];
    const char *classes_from = o->classes_given ? "--classes" : o->resume_path ? "the checkpoint's" : NULL;
    char from[8300], who[4200];
    if (classes_from) snprintf(from, sizeof from, "%s", classes_from);
    else snprintf(from, sizeof from, "the largest label + 1 in %s and %s", t->data_paths[1], t->data_paths[3]);
    if (o->layers_given) snprintf(who, sizeof who, "--layers");
    else snprintf(who, sizeof who, "checkpoint '%s'", o->resume_path ? o->resume_path : "?");
    nn_err_set(&err, "%s: the first size must be %d, the input size of the data (%s images in %s), and the last %d, "
                     "the classes (%s); got %s", who, data->input_size, idx_shape_text(data, shape, sizeof shape),
               t->data_paths[2], o->classes, from, model_sizes_text(o->sizes, o->n_sizes, sizes, sizeof sizes));
    return nn_err_agree(&err, o->layers_given ? NN_EXIT_USAGE : NN_EXIT_ERROR, t->comm);
}

/* --resume: read, reconcile, check the shape; the position comes from the file. */
static int resume_(nn_trainer *t, nn_checkpoint *ck)
{
    int status = resume_read_(t, ck);
    if (status) return status;
    nn_err err = {0};
    resume_reconcile_(&t->opt, ck, &err);
    if ((status = nn_err_agree(&err, NN_EXIT_USAGE, t->comm)) != 0) return status;
    const nn_options *o = &t->opt;
    if (t->rank == 0 && o->trains && o->lr_given && o->lr != ck->lr)
        fprintf(stderr, "nnmpi: note: --lr %g differs from checkpoint '%s' (%g); training goes on with %g\n", o->lr,
                o->resume_path, ck->lr, o->lr);
    if (t->rank == 0 && o->trains && o->momentum_given && o->momentum != ck->momentum)
        fprintf(stderr, "nnmpi: note: --momentum %g differs from checkpoint '%s' (%g); training goes on with %g%s\n",
                o->momentum, o->resume_path, ck->momentum, o->momentum,
                ck->velocity && o->momentum == 0.0 ? ", without the checkpoint's velocity" : "");
    if (t->rank == 0 && o->trains) recipe_notes_(o, ck);
    t->start_epoch = ck->epoch;
    t->start_step = ck->step;
    t->best_accuracy = ck->best_accuracy, t->best_epoch = ck->best_epoch, t->since_best = ck->since_best;
    return 0;
}

/* 1 when paths a and b name the same file (or the same path, when either does not exist yet). */
static int same_file_(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!a || !b) return 0;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    return strcmp(a, b) == 0;
}

/* nnmpi never replaces a file it did not create as a checkpoint: an existing
 * --checkpoint must be an nnmpi checkpoint, and either the --resume file (the
 * run continues it) or --overwrite must be given; --metrics must not be it. */
/* What may stand at a checkpoint path `path` (option `option`) before this
 * run replaces it: nothing, or an nnmpi checkpoint that the run may replace
 * (`may_replace`); never any other file. */
static void check_target_(const char *option, const char *path, int may_replace, const char *hint, nn_err *err)
{
    struct stat st;
    if (!path || lstat(path, &st) != 0) return;
    if (!S_ISREG(st.st_mode))
        nn_err_set(err, "%s: '%s' exists and is not a regular file (%s); nnmpi replaces only checkpoints it wrote",
                   option, path, nn_file_kind(st.st_mode));
    else if (!checkpoint_is_checkpoint(path))
        nn_err_set(err, "%s: '%s' exists and is not an nnmpi checkpoint; nnmpi replaces only checkpoints it wrote "
                        "(choose another path)", option, path);
    else if (!may_replace)
        nn_err_set(err, "%s: '%s' already holds a checkpoint; %s", option, path, hint);
}

static void check_targets_(const nn_options *o, nn_err *err)
{
    char hint[4200];
    snprintf(hint, sizeof hint, "continue it with --resume %s, or replace it with --overwrite",
             o->checkpoint_path ? o->checkpoint_path : "");
    check_target_("--checkpoint", o->checkpoint_path, same_file_(o->checkpoint_path, o->resume_path) || o->overwrite,
                  hint, err);
    /* the best model so far: a resumed run goes on improving it */
    check_target_("--keep-best", o->keep_best_path, o->resume_path || o->overwrite,
                  "replace it with --overwrite (or --resume the run that wrote it)", err);
    if (o->metrics_path && same_file_(o->metrics_path, o->checkpoint_path))
        nn_err_set(err, "--metrics and --checkpoint name the same file '%s'", o->metrics_path);
    if (o->keep_best_path && (same_file_(o->keep_best_path, o->checkpoint_path) ||
                              same_file_(o->keep_best_path, o->metrics_path)))
        nn_err_set(err, "--keep-best names the same file as --checkpoint or --metrics: '%s'", o->keep_best_path);
    if (o->nesterov && o->momentum == 0.0)
        nn_err_set(err, "--nesterov: needs --momentum M > 0 (Nesterov's look-ahead is a momentum method)");
}

/* The outputs are checked before an hour of training, not after: what they
 * would replace, then that the checkpoint's directory is writable. */
static int open_outputs_(nn_trainer *t)
{
    nn_err err = {0};
    if (t->rank == 0 && t->opt.trains) check_targets_(&t->opt, &err);
    int status = nn_err_agree(&err, NN_EXIT_USAGE, t->comm);
    if (status) return status;
    if (t->opt.checkpoint_path && t->rank == 0) checkpoint_check_writable(t->opt.checkpoint_path, &err);
    if (t->opt.keep_best_path && t->rank == 0 && !err.failed) checkpoint_check_writable(t->opt.keep_best_path, &err);
    if (t->opt.metrics_path && t->rank == 0 && !err.failed) t->metrics = metrics_open(t->opt.metrics_path, &err);
    return nn_err_agree(&err, NN_EXIT_ERROR, t->comm);
}

/* Names of the distinct hosts of the job (on rank 0), and how many (on every rank). */
static int gather_node_names_(nn_trainer *t)
{
    char mine[MPI_MAX_PROCESSOR_NAME] = {0};
    int len = 0, nodes = 0;
    MPI_CHECK(MPI_Get_processor_name(mine, &len));
    char *all = t->rank == 0 ? NN_MALLOC((size_t)t->nranks * MPI_MAX_PROCESSOR_NAME) : NULL;
    MPI_CHECK(MPI_Gather(mine, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, t->comm));
    if (t->rank == 0) {
        t->node_names = NN_MALLOC(sizeof(char *) * (size_t)t->nranks);
        for (int r = 0; r < t->nranks; r++) {
            const char *name = all + (size_t)r * MPI_MAX_PROCESSOR_NAME;
            int seen = 0;
            for (int q = 0; q < nodes && !seen; q++) seen = strcmp(name, t->node_names[q]) == 0;
            if (seen) continue;
            t->node_names[nodes] = NN_MALLOC(strlen(name) + 1);
            memcpy(t->node_names[nodes++], name, strlen(name) + 1);
        }
        free(all);
    }
    MPI_CHECK(MPI_Bcast(&nodes, 1, MPI_INT, 0, t->comm));
    return nodes;
}

/* --overlap auto: within one node the reduction is memory copies by the
 * cores that compute, so nothing can be hidden, and Open MPI's blocking
 * allreduce is faster than its non-blocking one (docs/design.md); across
 * nodes the network moves the data while backward computes. --reproducible
 * adds its chunk tree after backward, not through the reducer: no overlap to
 * set up, measure or report. */
static void resolve_modes_(nn_trainer *t)
{
    nn_options *o = &t->opt;
    nn_schedule *s = &t->schedule;
    s->kind = o->lr_schedule, s->lr_min = o->lr_min, s->gamma = o->lr_gamma, s->warmup_epochs = o->warmup;
    s->lr = o->lr_batch > 0 ? o->lr * o->batch / o->lr_batch : o->lr; /* the linear scaling rule */
    s->n_milestones = o->n_lr_steps;
    memcpy(s->milestones, o->lr_steps, sizeof s->milestones);
    t->run.nodes = gather_node_names_(t);
    if (o->overlap == NN_OVERLAP_AUTO) o->overlap = t->run.nodes > 1;
    if (o->reproducible) o->overlap = 0;
    /* --reproducible sums along its own tree: nothing for auto to choose or measure */
    if (o->reproducible && o->allreduce == REDUCE_AUTO) o->allreduce = REDUCE_MPI;
    if (!o->trains) o->allreduce = REDUCE_MPI; /* --eval-only, --predict: no gradient to sum, no window to make */
    t->path = o->reproducible ? &nn_repro_path : &nn_plain_path;
    t->steps_per_epoch = t->train.count > 0 ? slice_steps_per_epoch(t->train.count, o->batch) : 0;
}

/* Whether a step may be split by units (reducer_share_batch decides, after
 * the buffers exist): factors of large batches on one node. Several nodes
 * may still answer yes here (the reducer finds its nodes later): buffers of
 * whole batches, and the layout rule for blocks of nranks ways, are the
 * safe side. */
static int may_split_units_(const nn_trainer *t)
{
    const nn_options *o = &t->opt;
    return o->trains && !o->reproducible &&
           reducer_may_split_units(o->sizes, o->n_sizes, o->batch, o->exchange, o->allreduce, t->nranks);
}

/* The most rows any pass computes: this rank's part of a full batch (never
 * smaller than the epoch's last one; the whole batch when the step may be
 * split by units), at least EVAL_ROWS for evaluation; batch_rows: the
 * global rows of a full step and of the epoch's last step. */
static int buffer_rows_(const nn_trainer *t, int batch_rows[2])
{
    int lo = 0, hi = 0;
    batch_rows[0] = batch_rows[1] = 0;
    for (int i = 0; i < 2 && t->steps_per_epoch > 0; i++)
        batch_rows[i] = slice_batch_rows(t->train.count, t->opt.batch, i == 0 ? 0 : t->steps_per_epoch - 1);
    if (t->steps_per_epoch > 0) t->path->my_rows(t, batch_rows[0], &lo, &hi);
    if (may_split_units_(t)) lo = 0, hi = batch_rows[0];
    int rows = hi - lo > EVAL_ROWS ? hi - lo : EVAL_ROWS;
    return rows > PREDICT_ROWS ? rows : PREDICT_ROWS;
}

/* What create_buffers_ will allocate, checked against each node's memory
 * before it does (memplan.h); every rank learns the verdict. */
static int plan_memory_(nn_trainer *t)
{
    const nn_options *o = &t->opt;
    int batch_rows[2];
    nn_mem_shape shape = {
        .sizes = o->sizes, .n_sizes = o->n_sizes, .rows = buffer_rows_(t, batch_rows),
        .with_velocity = o->momentum > 0.0, .with_dropout = o->dropout > 0, .nranks = t->nranks,
        .reduce_kind = (int)o->allreduce,
        .repro_pieces = o->reproducible ? repro_max_pieces(o->chunk, t->rank, t->nranks, batch_rows, 2) : 0,
        .data_bytes = idx_bytes(&t->train) + idx_bytes(&t->val) + idx_bytes(&t->test), /* val: the train file's tail */
        .data_shared = t->data.has_win,
        .index_bytes = sizeof(int) * (size_t)(t->train.count > 0 ? t->train.count : 1),
    };
    nn_mem_plan plan;
    nn_err err = {0};
    memplan_compute(&shape, &plan);
    memplan_check(&plan, t->comm, o->quiet, &err);
    return nn_err_agree(&err, NN_EXIT_ERROR, t->comm);
}

/* Every buffer, sized once for the most rows any pass computes
 * (buffer_rows_). The weights come from the checkpoint or the seed. */
static void create_buffers_(nn_trainer *t, const nn_checkpoint *ck)
{
    const nn_options *o = &t->opt;
    int batch_rows[2];
    int rows = buffer_rows_(t, batch_rows);
    net_create(&t->net, o->sizes, o->n_sizes, o->activation, o->loss, rows, o->momentum > 0.0);
    if (t->net.by_unit && may_split_units_(t)) { /* by unit only if no rank's block of units reaches the
                                                   allocating kernel either (net.c) */
        nn_unit_split split;
        reducer_unit_split(o->sizes, o->n_sizes, t->nranks, batch_rows, &split);
        t->net.by_unit = net_by_unit_suits(o->sizes, o->n_sizes, &split);
    }
    reducer_create(&t->reducer, &t->net, t->comm, o->overlap, o->allreduce, o->batch, o->exchange);
    /* shm overlaps only across nodes (within one, the cores that would sum are the ones computing) */
    if (t->reducer.kind == REDUCE_SHM) t->opt.overlap = t->reducer.overlap;
    t->perm = NN_MALLOC(sizeof(int) * (size_t)(t->train.count > 0 ? t->train.count : 1));
    timer_spread_create(&t->spread, t->comm);
    if (ck->params) {
        memcpy(t->net.params, ck->params, sizeof(float) * t->net.n_params);
        if (t->net.velocity && ck->velocity) memcpy(t->net.velocity, ck->velocity, sizeof(float) * t->net.n_params);
    } else {
        net_init_params(&t->net, o->init, o->seed);
    }
    if (o->reproducible) repro_create(&t->repro, &t->net, t->reducer.sums, t->comm, o->chunk, batch_rows, 2);
    else {
        reducer_share_batch(&t->reducer, &t->net, t->opt.batch, o->exchange, /* shm, one node: maybe factors */
                            o->weight_decay == 0.0 && !o->nesterov);
        reducer_share_model(&t->reducer, &t->net); /* else shm: one copy of the weights per node, the update split */
        /* one rank has no exchange: it updates straight from its factors unless told gradients */
        if (t->reducer.factors || (t->nranks == 1 && o->exchange != EXCHANGE_GRADIENTS)) t->path = &nn_factor_path;
        if (t->reducer.factor_inputs) t->path = &nn_inputs_path;
        if (t->reducer.factor_shard) { /* buffer_rows_ foresaw it: whole batches */
            if (t->net.max_rows < t->opt.batch)
                nn_die(NN_EXIT_ERROR, "internal error: the step is split by units but the buffers hold %d rows, not "
                                      "the batch's %d", t->net.max_rows, t->opt.batch);
            t->path = &nn_units_path;
        }
        t->opt.overlap = t->reducer.overlap; /* shm without the shared copy does not overlap */
    }
    if (o->dropout > 0) net_set_dropout(&t->net, (float)o->dropout, 0); /* the masks' buffers, now */
    t->global_step = (long)t->start_epoch * t->steps_per_epoch + t->start_step;
}

/* Times one blocking allreduce of the gradient buffer (median of 9 after warm-up):
 * the reference against which overlap reports the hidden fraction. */
static double measure_allreduce_(nn_trainer *t)
{
    if (t->nranks == 1) return 0.0;
    double times[9], min, median, max;
    for (int i = 0; i < 3 + 9; i++) {
        MPI_CHECK(MPI_Barrier(t->comm));
        double t0 = MPI_Wtime();
        reducer_allreduce_whole(&t->reducer);
        double dt = MPI_Wtime() - t0, dt_max = 0.0;
        MPI_CHECK(MPI_Allreduce(&dt, &dt_max, 1, MPI_DOUBLE, MPI_MAX, t->comm));
        if (i >= 3) times[i - 3] = dt_max;
    }
    memset(t->reducer.sums, 0, sizeof(float) * t->reducer.n);
    spread_of(times, 9, &min, &median, &max);
    return median;
}

/* Where the run came from: the command line, the start time, the data files
 * as found (size and modification time: hashing 50 MB would cost more than
 * the start-up), the Slurm job; as the record and as text for checkpoints. */
static void describe_provenance_(nn_trainer *t)
{
    nn_run_record *run = &t->run;
    const nn_options *o = &t->opt;
    run->argc = o->argc, run->argv = o->argv, run->git = NNMPI_GIT, run->data_dir = o->data_dir;
    run->slurm_job_id = getenv("SLURM_JOB_ID"), run->slurm_job_name = getenv("SLURM_JOB_NAME");
    for (int i = 0; i < o->argc; i++) append_(t->command_line, sizeof t->command_line, "%s%s", i ? " " : "", o->argv[i]);
    for (int i = 0; i < run->nodes && t->node_names; i++)
        append_(t->host_list, sizeof t->host_list, "%s%s", i ? "," : "", t->node_names[i]);
    if (o->synthetic) { /* no files: the spec and the seed are the data */
        append_(t->data_note, sizeof t->data_note, "%s generated from seed %llu (docs/data.md)", o->data_dir,
                (unsigned long long)o->seed);
        return;
    }
    append_(t->data_note, sizeof t->data_note, "%s:", o->data_dir);
    size_t dir_len = strlen(o->data_dir);
    for (int i = o->trains ? 0 : 2; i < (o->predict_path ? 3 : NN_DATA_FILES); i++) {
        const char *path = t->data_paths[i];
        struct stat st;
        if (stat(path, &st) != 0) continue;
        nn_data_file *d = &run->data_files[run->n_data_files++];
        /* a file of --data DIR by its name there (as before .gz and the path options), any other by its path */
        int in_dir = !o->data_paths[i] && strncmp(path, o->data_dir, dir_len) == 0 && path[dir_len] == '/';
        d->name = in_dir ? path + dir_len + 1 : path, d->bytes = (long long)st.st_size;
        struct tm tm;
        gmtime_r(&st.st_mtime, &tm);
        strftime(d->mtime, sizeof d->mtime, "%Y-%m-%dT%H:%M:%SZ", &tm);
        append_(t->data_note, sizeof t->data_note, " %s %lld bytes %s;", d->name, d->bytes, d->mtime);
    }
}

/* OpenBLAS 0.3.21 does not know some newer CPUs (an Intel Xeon with
 * AVX-512 here) and falls back to its Prescott (SSE3) kernels, several times
 * slower (docs/benchmarks.md: 4.7x on 784-800-800-10). The choice is made when
 * the library loads, before main, so nnmpi can only say what to set. */
static void blas_kernels_note_(const nn_trainer *t)
{
    if (t->rank != 0 || t->opt.quiet || getenv("OPENBLAS_CORETYPE")) return;
    if (strcasecmp(openblas_get_corename(), "prescott") != 0) return;
    __builtin_cpu_init();
    const char *better = __builtin_cpu_supports("avx512f") ? "SkylakeX"
                         : __builtin_cpu_supports("avx2")  ? "Haswell"
                                                           : NULL;
    if (better)
        fprintf(stderr, "nnmpi: note: OpenBLAS chose its Prescott (SSE3) kernels on a CPU with %s, several times "
                        "slower; export OPENBLAS_CORETYPE=%s before mpirun (docs/benchmarks.md)\n",
                strcmp(better, "SkylakeX") == 0 ? "AVX-512" : "AVX2", better);
}

/* What the start-up line and the metrics header record. */
static void describe_run_(nn_trainer *t)
{
    const nn_options *o = &t->opt;
    nn_run_record *run = &t->run;
    int len = 0;
    MPI_CHECK(MPI_Get_library_version(t->mpi_library, &len));
    for (char *c = t->mpi_library; *c; c++)
        if (*c == '\n') *c = ' ';
    run->ranks = t->nranks, run->threads = openblas_get_num_threads(); /* what OpenBLAS took of --threads */
    run->node_names = (const char *const *)t->node_names;
    run->openblas_core = openblas_get_corename(), run->openblas_config = openblas_get_config();
    run->mpi_library = t->mpi_library;
    run->n_sizes = o->n_sizes;
    memcpy(run->sizes, o->sizes, sizeof run->sizes);
    run->activation = o->activation, run->loss = o->loss, run->init = o->init;
    run->train_size = o->train_size, run->test_size = o->test_size;
    run->epochs = o->epochs, run->batch = o->batch, run->shuffle = o->shuffle;
    run->lr = o->lr, run->momentum = o->momentum, run->seed = o->seed;
    run->reproducible = o->reproducible, run->chunk = o->chunk, run->overlap = o->overlap;
    run->schedule = &t->schedule, run->lr_batch = o->lr_batch, run->nesterov = o->nesterov;
    run->validation = t->val.count, run->early_stop = o->early_stop;
    run->weight_decay = o->weight_decay, run->target_accuracy = o->target_accuracy, run->dropout = o->dropout;
    run->allreduce = o->reproducible ? t->path->name : nn_reduce_names[t->reducer.kind];
    run->allreduce_fallback = o->reproducible ? NULL : t->reducer.fallback;
    run->update_split = t->reducer.shard ? t->reducer.local_size : 0;
    run->split_inputs = t->reducer.factor_inputs;
    run->exchange = t->reducer.factors ? "factors" : t->reducer.kind == REDUCE_SHM && t->nranks > 1 ? "gradients" : NULL;
    run->exchange_note = t->reducer.exchange_note;
    run->factor_floats = t->reducer.factor_floats, run->grad_floats = t->net.n_params;
    run->allreduce_ref_s = o->overlap ? measure_allreduce_(t) : 0.0;
    run->repro_forward_batched = t->repro.forward_batched;
    run->repro_delta_batched = t->repro.delta_batched;
    run->resume_path = o->resume_path, run->eval_only = o->eval_only, run->predict_path = o->predict_path;
    run->start_epoch = t->start_epoch, run->start_step = t->start_step;
    if (t->rank == 0) describe_provenance_(t);
}

int trainer_setup(nn_trainer *t, const nn_options *opt, MPI_Comm comm)
{
    memset(t, 0, sizeof *t);
    report_utc_now(t->run.started);
    t->opt = *opt;
    t->comm = comm;
    MPI_CHECK(MPI_Comm_rank(comm, &t->rank));
    MPI_CHECK(MPI_Comm_size(comm, &t->nranks));
    openblas_set_num_threads(opt->threads);

    nn_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    int status = opt->resume_path ? resume_(t, &ck) : 0;
    /* --reproducible's chunk: --chunk, or ceil(batch / 8) (without overflow at INT_MAX) */
    if (t->opt.reproducible && t->opt.chunk == 0) t->opt.chunk = slice_ceil_div(t->opt.batch, 8);
    if (!t->opt.reproducible) t->opt.chunk = 0;
    if (status == 0) status = load_data_(t);
    if (status == 0) status = check_shape_(t, &ck);
    if (status == 0) status = open_outputs_(t);
    if (status == 0) {
        resolve_modes_(t);
        status = plan_memory_(t);
    }
    if (status == 0) {
        create_buffers_(t, &ck);
        describe_run_(t);
        blas_kernels_note_(t);
    }
    checkpoint_free(&ck);
    return status;
}

void trainer_free(nn_trainer *t)
{
    if (t->metrics) fclose(t->metrics);
    for (int i = 0; t->node_names && i < t->run.nodes; i++) free(t->node_names[i]);
    free(t->node_names);
    timer_spread_free(&t->spread);
    free(t->perm);
    if (t->opt.reproducible) repro_free(&t->repro);
    reducer_free(&t->reducer);
    net_free(&t->net);
    idx_free(&t->train);
    idx_free(&t->test);
    data_share_free(&t->data); /* after the sets: they may be views of its window */
    memset(t, 0, sizeof *t);
}
