/* options.c: --help text, and one table of options that parsing and validation read. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void options_defaults(nn_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->data_dir = "data/mnist";
    opt->n_sizes = 3;
    opt->trains = 1; /* until --eval-only or --predict say otherwise (finish_) */
    /* INPUT,30,CLASSES: the first and last sizes come from the data at start-up (784 and 10 on MNIST) */
    opt->sizes[0] = 0, opt->sizes[1] = 30, opt->sizes[2] = 0;
    opt->activation = ACT_SIGMOID;
    opt->loss = LOSS_MSE;
    opt->init = INIT_NORMAL;
    opt->epochs = 10;
    opt->batch = 10;
    opt->lr = 3.0;
    opt->momentum = 0.0;
    opt->shuffle = 1;
    opt->seed = 1;
    opt->threads = 1;
    opt->checkpoint_every = 1;
    opt->progress = 30.0;
    opt->overlap = NN_OVERLAP_AUTO;
    opt->allreduce = REDUCE_AUTO; /* shm when ranks share a node, unless mpi measures faster */
    opt->exchange = EXCHANGE_AUTO; /* factors on one node when they are fewer floats than the gradient */
    opt->share_data = NN_SHARE_AUTO; /* one copy of the data per node where /dev/shm has room */
    opt->lr_gamma = 0.1;
    opt->debug_signal_at = -1;
    opt->debug_nan_at = -1;
    opt->debug_perturb_rank = -1;
}

static const char help_text_[] =
    "Usage: mpirun -n P nnmpi [options]\n"
    "Data-parallel SGD training of a fully connected network on IDX data (MNIST,\n"
    "Fashion-MNIST, any geometry) or synthetic data; --predict applies a model.\n"
    "Every rank holds the weights; each step the global minibatch is split across\n"
    "ranks and the gradients are summed across ranks (shared memory within a node\n"
    "and MPI across nodes, MPI's allreduce, or nnmpi's ring; with --reproducible,\n"
    "along one fixed tree).\n"
    "\n"
    "Data and model:\n"
    "  --data DIR            directory with the four IDX files, by their MNIST\n"
    "                        names, plain or NAME.gz                     [data/mnist]\n"
    "  --data synthetic:INPUTS,CLASSES,TRAIN,TEST  a learnable problem drawn from\n"
    "                        --seed, rows generated as needed (docs/data.md)\n"
    "  --train-images PATH, --train-labels PATH, --test-images PATH, --test-labels PATH\n"
    "                        one IDX file in place of DIR's (gzip is told by content)\n"
    "  --classes K           labels are 0..K-1  [the largest label + 1, or the checkpoint's]\n"
    "  --layers N,N,...      layer sizes: first the input size, last the\n"
    "                        classes                       [INPUT,30,CLASSES: 784,30,10]\n"
    "  --activation NAME     hidden activation: sigmoid|relu|tanh       [sigmoid]\n"
    "  --loss NAME           mse (sigmoid out, quadratic cost) | xent (softmax,\n"
    "                        cross-entropy)                              [mse]\n"
    "  --init NAME           normal (N(0,1)) | xavier | he              [normal]\n"
    "  --share-data auto|node|rank  node: the node's first rank reads the data\n"
    "                        into shared memory that the node's ranks map, one\n"
    "                        copy per node; rank: every rank reads its own copy;\n"
    "                        auto: node, or rank when /dev/shm lacks room [auto]\n"
    "Training:\n"
    "  --epochs N            epochs in total (with --resume: up to N)    [10]\n"
    "  --batch B             global minibatch size, split across ranks   [10]\n"
    "  --lr X                learning rate: W -= lr/B * sum of gradients [3.0]\n"
    "  --momentum M          momentum in [0, 1)                          [0]\n"
    "  --nesterov            Nesterov momentum (with --momentum)\n"
    "  --weight-decay L      L2 on the weights: W -= lr*L*W per step; L is\n"
    "                        network2.py's lambda/n and PyTorch's weight_decay [0]\n"
    "  --dropout P           inverted dropout of hidden units, in [0, 1); masks\n"
    "                        follow (seed, epoch, sample): any rank count     [0]\n"
    "  --lr-schedule NAME    constant|step|cosine|linear, per step       [constant]\n"
    "  --lr-steps E1,E2,...  step: multiply the rate by --lr-gamma at these epochs\n"
    "  --lr-gamma G          step: the factor                            [0.1]\n"
    "  --lr-min X            cosine, linear: the final rate              [0]\n"
    "  --warmup E            a linear ramp from ~0 over E epochs (fractions too) [0]\n"
    "  --lr-batch B0         --lr was tuned for global batch B0: scale it by\n"
    "                        --batch / B0 (the linear scaling rule; use --warmup)\n"
    "  --validation N        hold out the last N training images; report their\n"
    "                        accuracy every epoch\n"
    "  --keep-best FILE      checkpoint whenever validation accuracy improves\n"
    "  --early-stop K        end after K epochs without a better validation accuracy\n"
    "  --target-accuracy A   end after the first epoch whose accuracy (validation,\n"
    "                        else test) reaches A in (0, 1]; report the time to it\n"
    "  --train-size N        use the first N training images             [all 60000]\n"
    "  --test-size N         evaluate on the first N test images         [all 10000]\n"
    "  --shuffle on|off      reshuffle every epoch (off: file order)     [on]\n"
    "  --seed S              seed for initialisation and shuffling       [1]\n"
    "  --reproducible        bitwise-identical weights for any rank count\n"
    "                        (chunked gradients summed along one tree)\n"
    "  --chunk C             rows per chunk with --reproducible          [ceil(B/8)]\n"
    "  --overlap on|off|auto overlap the gradient allreduce with backward;\n"
    "                        auto: on when the ranks span several nodes    [auto]\n"
    "                        (no effect with --reproducible; shm: only across\n"
    "                        nodes)\n"
    "  --allreduce auto|mpi|ring|shm  mpi: MPI's collectives; ring: nnmpi's ring\n"
    "                        of point-to-point messages, which allocates nothing\n"
    "                        per step; shm: shared memory within a node, MPI\n"
    "                        across nodes; auto: shm when ranks share a node,\n"
    "                        unless a start-up measurement finds mpi faster\n"
    "                        (--resume: the checkpoint's method) (no effect\n"
    "                        with --reproducible)                        [auto]\n"
    "  --exchange auto|gradients|factors  shm on one node: what the ranks\n"
    "                        share each step. gradients: each rank sums a part\n"
    "                        of every rank's; factors: the batch's activations\n"
    "                        and deltas, from which the weights are updated\n"
    "                        over the whole batch (own copies up to 16 rows,\n"
    "                        layer 0 split by its inputs where it holds half\n"
    "                        the weights and the update is plain; else the\n"
    "                        node's copy, each rank computing and updating\n"
    "                        its units of every layer); auto:\n"
    "                        factors when they are fewer floats. One rank\n"
    "                        updates from its factors unless gradients. No\n"
    "                        effect with --reproducible                [auto]\n"
    "Performance:\n"
    "  --threads T           OpenBLAS threads per rank                   [1]\n"
    "Output and state:\n"
    "  --metrics FILE        append JSON Lines metrics, one per epoch (rank 0)\n"
    "  --checkpoint FILE     HDF5 checkpoint, written atomically before the first\n"
    "                        step and after every K-th epoch (rank 0)\n"
    "  --checkpoint-every K  checkpoint every K epochs                   [1]\n"
    "  --overwrite           let --checkpoint replace an existing checkpoint that\n"
    "                        is not the --resume file, and --output an existing\n"
    "                        file (only ever a regular file)\n"
    "  --resume FILE         continue from a checkpoint (also mid-epoch); the model,\n"
    "                        optimizer, recipe and data order are the file's\n"
    "                        unless given\n"
    "  --eval-only           with --resume: evaluate on the test set and exit\n"
    "  --predict FILE        with --resume and --output: the class and class\n"
    "                        probabilities of every image of the IDX file FILE\n"
    "  --output FILE         --predict's CSV: index,class,p0,...; written whole\n"
    "                        or not at all, never over an existing file\n"
    "                        (unless --overwrite)\n"
    "  --step-timeout S      end the job (status 4) when a rank makes no\n"
    "                        progress for S seconds: a stopped or hung rank;\n"
    "                        checkpoint writes are not timed; 0: never   [0]\n"
    "  --progress S          inside an epoch, print the step, samples/s and ETA\n"
    "                        every S seconds (fractions too); on a terminal one\n"
    "                        line redrawn every second (or S); 0: never    [30]\n"
    "  --quiet               print only errors\n"
    "  -h, --help, --version\n"
    "Signals: SIGTERM, SIGINT, SIGHUP or SIGUSR1 stops all ranks at the next step;\n"
    "rank 0 writes the checkpoint and nnmpi exits with status 75. Re-run with\n"
    "--resume FILE to go on. mpirun turns Ctrl-C into SIGTERM and SIGKILL one\n"
    "second apart: stop a direct mpirun with kill -USR1 <mpirun pid>, or launch\n"
    "with jobs/local.sh, which turns Ctrl-C into SIGUSR1.\n"
    "Exit status: 0 done, 1 error (data, files), 2 bad option, 3 diverged (NaN/Inf),\n"
    "4 no progress for --step-timeout seconds, 75 stopped by a signal after\n"
    "checkpointing, 143 stopped by a signal with no --checkpoint (nothing saved).\n"
    "Testing hooks: --debug-signal-at STEP, --debug-nan-at STEP, --debug-perturb-rank R\n"
    "(see docs/reliability.md).\n";

static void print_help_(FILE *out) { fputs(help_text_, out); }

const char *const nn_overlap_names[NN_OVERLAP_COUNT] = {"off", "on", "auto"};
const char *const nn_share_names[NN_SHARE_COUNT] = {"rank", "node", "auto"};
static const char *const on_off_names_[2] = {"off", "on"};

/* How an option's value is read (and where it goes, in the table below). */
typedef enum {
    K_FLAG,     /* no value: the int field becomes 1 */
    K_INT,      /* a whole number in [min, max] into an int field */
    K_LONG,     /* the same into a long field */
    K_SEED,     /* a whole number from 0 to 2^64 - 1 into a uint64_t field */
    K_POSITIVE, /* a finite number > 0 into a double field */
    K_UNIT,     /* a finite number in [0, 1) into a double field */
    K_NONNEG,   /* a finite number >= 0 into a double field */
    K_FRACTION, /* a finite number in (0, 1] into a double field */
    K_EPOCHS,   /* --lr-steps: ascending positive numbers of epochs, comma-separated */
    K_PATH,     /* the text itself into a const char * field */
    K_NAME,     /* one of names[0..n_names) into an int (or enum) field: its index */
    K_LAYERS,   /* --layers */
    K_HELP,
    K_VERSION
} option_kind;

typedef struct {
    const char *name; /* without the leading -- */
    option_kind kind;
    size_t field;     /* offsetof(nn_options, ...) */
    long min, max;    /* K_INT, K_LONG, K_SEED */
    const char *const *names;
    int n_names;      /* K_NAME */
    size_t given;     /* offsetof an int set to 1 when the option is given (0: none) */
} option_spec;

#define F(field) offsetof(nn_options, field)
#define NAMES(table) table, (int)(sizeof table / sizeof table[0])
static const option_spec specs_[] = {
    {"data", K_PATH, F(data_dir), 0, 0, NULL, 0, 0},
    {"train-images", K_PATH, F(data_paths[0]), 0, 0, NULL, 0, 0},
    {"train-labels", K_PATH, F(data_paths[1]), 0, 0, NULL, 0, 0},
    {"test-images", K_PATH, F(data_paths[2]), 0, 0, NULL, 0, 0},
    {"test-labels", K_PATH, F(data_paths[3]), 0, 0, NULL, 0, 0},
    {"share-data", K_NAME, F(share_data), 0, 0, NAMES(nn_share_names), 0},
    {"classes", K_INT, F(classes), 1, 256, NULL, 0, F(classes_given)},
    {"layers", K_LAYERS, F(sizes), 0, 0, NULL, 0, F(layers_given)},
    {"activation", K_NAME, F(activation), 0, 0, NAMES(nn_activation_names), F(activation_given)},
    {"loss", K_NAME, F(loss), 0, 0, NAMES(nn_loss_names), F(loss_given)},
    {"init", K_NAME, F(init), 0, 0, NAMES(nn_init_names), 0},
    {"epochs", K_INT, F(epochs), 0, INT_MAX, NULL, 0, F(epochs_given)},
    {"batch", K_INT, F(batch), 1, INT_MAX, NULL, 0, F(batch_given)},
    {"lr", K_POSITIVE, F(lr), 0, 0, NULL, 0, F(lr_given)},
    {"momentum", K_UNIT, F(momentum), 0, 0, NULL, 0, F(momentum_given)},
    {"lr-schedule", K_NAME, F(lr_schedule), 0, 0, NAMES(nn_lr_kind_names), F(lr_schedule_given)},
    {"lr-steps", K_EPOCHS, F(lr_steps), 0, 0, NULL, 0, F(lr_steps_given)},
    {"lr-gamma", K_POSITIVE, F(lr_gamma), 0, 0, NULL, 0, F(lr_gamma_given)},
    {"lr-min", K_NONNEG, F(lr_min), 0, 0, NULL, 0, F(lr_min_given)},
    {"warmup", K_NONNEG, F(warmup), 0, 0, NULL, 0, F(warmup_given)},
    {"lr-batch", K_INT, F(lr_batch), 1, INT_MAX, NULL, 0, F(lr_batch_given)},
    {"nesterov", K_FLAG, F(nesterov), 0, 0, NULL, 0, F(nesterov_given)},
    {"dropout", K_UNIT, F(dropout), 0, 0, NULL, 0, F(dropout_given)},
    {"weight-decay", K_NONNEG, F(weight_decay), 0, 0, NULL, 0, F(weight_decay_given)},
    {"validation", K_INT, F(validation), 1, INT_MAX, NULL, 0, 0},
    {"keep-best", K_PATH, F(keep_best_path), 0, 0, NULL, 0, 0},
    {"early-stop", K_INT, F(early_stop), 1, INT_MAX, NULL, 0, 0},
    {"target-accuracy", K_FRACTION, F(target_accuracy), 0, 0, NULL, 0, 0},
    {"train-size", K_INT, F(train_size), 1, INT_MAX, NULL, 0, F(train_size_given)},
    {"test-size", K_INT, F(test_size), 1, INT_MAX, NULL, 0, 0},
    {"shuffle", K_NAME, F(shuffle), 0, 0, NAMES(on_off_names_), F(shuffle_given)},
    {"seed", K_SEED, F(seed), 0, 0, NULL, 0, F(seed_given)},
    {"threads", K_INT, F(threads), 1, 1024, NULL, 0, 0},
    {"metrics", K_PATH, F(metrics_path), 0, 0, NULL, 0, 0},
    {"checkpoint", K_PATH, F(checkpoint_path), 0, 0, NULL, 0, 0},
    {"overwrite", K_FLAG, F(overwrite), 0, 0, NULL, 0, 0},
    {"checkpoint-every", K_INT, F(checkpoint_every), 1, INT_MAX, NULL, 0, 0},
    {"resume", K_PATH, F(resume_path), 0, 0, NULL, 0, 0},
    {"eval-only", K_FLAG, F(eval_only), 0, 0, NULL, 0, 0},
    {"predict", K_PATH, F(predict_path), 0, 0, NULL, 0, 0},
    {"output", K_PATH, F(output_path), 0, 0, NULL, 0, 0},
    {"reproducible", K_FLAG, F(reproducible), 0, 0, NULL, 0, 0},
    {"chunk", K_INT, F(chunk), 1, INT_MAX, NULL, 0, F(chunk_given)},
    {"overlap", K_NAME, F(overlap), 0, 0, NAMES(nn_overlap_names), 0},
    {"allreduce", K_NAME, F(allreduce), 0, 0, NAMES(nn_reduce_names), 0},
    {"exchange", K_NAME, F(exchange), 0, 0, NAMES(nn_exchange_names), 0},
    {"step-timeout", K_INT, F(step_timeout), 0, INT_MAX, NULL, 0, 0},
    {"progress", K_NONNEG, F(progress), 0, 0, NULL, 0, 0},
    {"quiet", K_FLAG, F(quiet), 0, 0, NULL, 0, 0},
    {"help", K_HELP, 0, 0, 0, NULL, 0, 0},
    {"version", K_VERSION, 0, 0, 0, NULL, 0, 0},
    {"debug-signal-at", K_LONG, F(debug_signal_at), 0, INT_MAX, NULL, 0, 0},
    {"debug-nan-at", K_LONG, F(debug_nan_at), 0, INT_MAX, NULL, 0, 0},
    {"debug-perturb-rank", K_INT, F(debug_perturb_rank), 0, INT_MAX, NULL, 0, 0},
};
#undef F
#undef NAMES
enum { N_SPECS = sizeof specs_ / sizeof specs_[0] };

/* Parses a whole decimal integer in [min, max]. */
static int parse_long_(const char *name, const char *s, long min, long max, long *out, nn_err *err)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        nn_err_set(err, "--%s: expected a whole number from %ld to %ld, got '%s'", name, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* A whole number from 0 to 2^64 - 1 (the checkpoint stores the seed as uint64). */
static int parse_seed_(const char *name, const char *s, uint64_t *out, nn_err *err)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || strchr(s, '-') != NULL) {
        nn_err_set(err, "--%s: expected a whole number from 0 to %llu, got '%s'", name, (unsigned long long)UINT64_MAX, s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static int parse_double_(const char *name, const char *s, double *out, nn_err *err)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v)) {
        nn_err_set(err, "--%s: expected a number, got '%s'", name, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* One of names[0..n): its index; else a message listing them ("a, b or c"). */
static int parse_name_(const char *name, const char *s, const char *const *names, int n, int *out, nn_err *err)
{
    int i = nn_name_index(names, n, s);
    if (i >= 0) return *out = i, 0;
    char list[256] = "";
    for (int k = 0; k < n; k++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", k == 0 ? "" : k + 1 == n ? " or " : ", ", names[k]);
    }
    nn_err_set(err, "--%s: expected %s, got '%s'", name, list, s);
    return -1;
}

/* --lr-steps E1,E2,...: positive epochs, strictly ascending. */
static int parse_epochs_(const char *name, const char *s, nn_options *opt, nn_err *err)
{
    int n = 0;
    for (const char *p = s; *p;) {
        char *end = NULL;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno != 0 || !isfinite(v) || v <= 0 || (*end != ',' && *end != '\0') ||
            (n > 0 && v <= opt->lr_steps[n - 1]) || n == NN_MAX_MILESTONES) {
            nn_err_set(err, "--%s: expected at most %d ascending positive epochs such as 30,60, got '%s'", name,
                       NN_MAX_MILESTONES, s);
            return -1;
        }
        opt->lr_steps[n++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    opt->n_lr_steps = n;
    return n > 0 ? 0 : (nn_err_set(err, "--%s: expected epochs such as 30,60, got '%s'", name, s), -1);
}

static int parse_layers_(const char *s, nn_options *opt, nn_err *err)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end = NULL;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno != 0 || v < 1 || v > 1000000 || (*end != ',' && *end != '\0')) {
            nn_err_set(err, "--layers: expected comma-separated positive sizes such as 784,30,10, got '%s'", s);
            return -1;
        }
        if (n == NN_MAX_SIZES) {
            nn_err_set(err, "--layers: at most %d sizes are supported, got more in '%s'", NN_MAX_SIZES, s);
            return -1;
        }
        opt->sizes[n++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end == ',' && *p == '\0') {
            nn_err_set(err, "--layers: trailing comma in '%s'", s);
            return -1;
        }
    }
    if (n < 2) {
        nn_err_set(err, "--layers: need at least an input and an output size, got '%s'", s);
        return -1;
    }
    opt->n_sizes = n;
    return 0;
}

/* Stores one option's value as its table entry says; 0, or -1 with err set. */
static int apply_(const option_spec *spec, const char *arg, nn_options *opt, nn_err *err)
{
    char *field = (char *)opt + spec->field;
    long v = 0;
    double d = 0.0;
    int rc = 0;
    if (spec->given) *(int *)((char *)opt + spec->given) = 1;
    switch (spec->kind) {
    case K_FLAG: *(int *)field = 1; break;
    case K_PATH: *(const char **)field = arg; break;
    case K_NAME: rc = parse_name_(spec->name, arg, spec->names, spec->n_names, (int *)field, err); break;
    case K_LAYERS: rc = parse_layers_(arg, opt, err); break;
    case K_INT:
    case K_LONG:
        rc = parse_long_(spec->name, arg, spec->min, spec->max, &v, err);
        if (rc == 0 && spec->kind == K_INT) *(int *)field = (int)v;
        if (rc == 0 && spec->kind == K_LONG) *(long *)field = v;
        break;
    case K_SEED: rc = parse_seed_(spec->name, arg, (uint64_t *)field, err); break;
    case K_EPOCHS: rc = parse_epochs_(spec->name, arg, opt, err); break;
    case K_POSITIVE:
    case K_UNIT:
    case K_NONNEG:
    case K_FRACTION:
        rc = parse_double_(spec->name, arg, &d, err);
        if (rc == 0 && spec->kind == K_POSITIVE && !(d > 0.0))
            rc = -1, nn_err_set(err, "--%s: expected a positive number, got '%s'", spec->name, arg);
        if (rc == 0 && spec->kind == K_UNIT && !(d >= 0.0 && d < 1.0))
            rc = -1, nn_err_set(err, "--%s: expected a number in [0, 1), got '%s'", spec->name, arg);
        if (rc == 0 && spec->kind == K_NONNEG && !(d >= 0.0))
            rc = -1, nn_err_set(err, "--%s: expected a number >= 0, got '%s'", spec->name, arg);
        if (rc == 0 && spec->kind == K_FRACTION && !(d > 0.0 && d <= 1.0))
            rc = -1, nn_err_set(err, "--%s: expected a number in (0, 1], got '%s'", spec->name, arg);
        if (rc == 0) *(double *)field = d;
        break;
    case K_HELP:
    case K_VERSION: break;
    }
    return rc;
}

/* The schedule, the regularization and the stopping rules, together. */
int options_check_training(const nn_options *o, nn_err *err)
{
    if (o->lr_schedule == LR_STEP && o->n_lr_steps == 0)
        nn_err_set(err, "--lr-schedule step: needs --lr-steps E1,E2,... (the epochs at which the rate is multiplied by --lr-gamma)");
    else if (o->lr_schedule != LR_STEP && o->n_lr_steps > 0)
        nn_err_set(err, "--lr-steps: only has a meaning with --lr-schedule step");
    else if (o->n_lr_steps > 0 && o->lr_steps[o->n_lr_steps - 1] >= o->epochs)
        nn_err_set(err, "--lr-steps: the last step (epoch %g) must come before the end of training (--epochs %d)",
                   o->lr_steps[o->n_lr_steps - 1], o->epochs);
    else if (o->lr_min > 0 && o->lr_schedule != LR_COSINE && o->lr_schedule != LR_LINEAR)
        nn_err_set(err, "--lr-min: only has a meaning with --lr-schedule cosine or linear");
    else if (o->lr_min > o->lr)
        nn_err_set(err, "--lr-min: expected a number from 0 to --lr (%g), got %g", o->lr, o->lr_min);
    else if (o->warmup > o->epochs)
        nn_err_set(err, "--warmup: expected at most --epochs (%d) epochs, got %g", o->epochs, o->warmup);
    else if (o->keep_best_path && !o->validation)
        nn_err_set(err, "--keep-best: needs --validation N (the best is judged on held-out images, not the test set)");
    else if (o->early_stop && !o->validation)
        nn_err_set(err, "--early-stop: needs --validation N (stopping is judged on held-out images, not the test set)");
    return err->failed ? -1 : 0;
}

/* --data synthetic:...: a valid spec, and no data file options beside it. */
static options_result finish_data_(nn_options *opt, nn_err *err)
{
    static const char *const file_options[NN_DATA_FILES] = {"--train-images", "--train-labels", "--test-images",
                                                            "--test-labels"};
    opt->synthetic = synth_is_spec(opt->data_dir);
    if (!opt->synthetic) return OPTIONS_RUN;
    if (synth_parse(opt->data_dir + strlen(SYNTH_PREFIX), &opt->synth, err) != 0) return OPTIONS_ERROR;
    for (int i = 0; i < NN_DATA_FILES; i++)
        if (opt->data_paths[i]) {
            nn_err_set(err, "%s: has no meaning with --data %s (no files are read)", file_options[i], opt->data_dir);
            return OPTIONS_ERROR;
        }
    return OPTIONS_RUN;
}

/* --predict uses a trained model and trains nothing. */
static int finish_predict_(const nn_options *o, nn_err *err)
{
    if (o->output_path && !o->predict_path)
        nn_err_set(err, "--output: only has a meaning with --predict FILE");
    else if (!o->predict_path)
        return 0;
    else if (!o->resume_path)
        nn_err_set(err, "--predict: needs --resume FILE (the trained model)");
    else if (!o->output_path)
        nn_err_set(err, "--predict: needs --output FILE (where the CSV goes)");
    else if (o->eval_only)
        nn_err_set(err, "--predict and --eval-only: choose one");
    else if (o->checkpoint_path || o->metrics_path || o->keep_best_path)
        nn_err_set(err, "--predict: trains nothing, so --checkpoint, --metrics and --keep-best have no meaning");
    return err->failed ? -1 : 0;
}

/* What no single option can check: combinations. */
static options_result finish_(nn_options *opt, nn_err *err)
{
    if (finish_data_(opt, err) != OPTIONS_RUN) return OPTIONS_ERROR;
    if (opt->eval_only && !opt->resume_path) {
        nn_err_set(err, "--eval-only: needs --resume FILE (the checkpoint to evaluate)");
        return OPTIONS_ERROR;
    }
    if (finish_predict_(opt, err) != 0) return OPTIONS_ERROR;
    opt->trains = !opt->eval_only && !opt->predict_path;
    if (opt->chunk > 0 && !opt->reproducible) {
        nn_err_set(err, "--chunk: only has a meaning with --reproducible");
        return OPTIONS_ERROR;
    }
    /* with --resume, what is not given comes from the checkpoint: checked then (startup.c) */
    if (opt->resume_path) return OPTIONS_RUN;
    return options_check_training(opt, err) == 0 ? OPTIONS_RUN : OPTIONS_ERROR;
}

options_result options_parse(int argc, char **argv, nn_options *opt, FILE *out, nn_err *err)
{
    struct option longopts[N_SPECS + 1];
    for (int i = 0; i < N_SPECS; i++)
    {
        int takes_value = specs_[i].kind != K_FLAG && specs_[i].kind != K_HELP && specs_[i].kind != K_VERSION;
        longopts[i] = (struct option){specs_[i].name, takes_value ? required_argument : no_argument, NULL, 256 + i};
    }
    longopts[N_SPECS] = (struct option){0, 0, 0, 0};
    options_defaults(opt);
    memset(err, 0, sizeof *err);
    opt->argc = argc, opt->argv = argv;
    opterr = 0; /* our own messages, printed once by rank 0 */
    optind = 1;
    for (;;) {
        int prev = optind;
        int c = getopt_long(argc, argv, ":h", longopts, NULL);
        if (c == -1) break;
        if (c == 'h') {
            if (out) print_help_(out);
            return OPTIONS_EXIT_OK;
        }
        if (c == ':') {
            nn_err_set(err, "%s: needs a value (see --help)", argv[prev]);
            return OPTIONS_ERROR;
        }
        if (c < 256 || c >= 256 + N_SPECS) {
            nn_err_set(err, "unknown option '%s' (see --help)", argv[prev]);
            return OPTIONS_ERROR;
        }
        const option_spec *spec = &specs_[c - 256];
        if (spec->kind == K_HELP || spec->kind == K_VERSION) {
            if (out && spec->kind == K_HELP) print_help_(out);
            if (out && spec->kind == K_VERSION)
                fprintf(out, "nnmpi %s%s%s%s\nLicense: BSD-3-Clause (see LICENSE)\n", NNMPI_VERSION,
                        NNMPI_GIT[0] ? " (" : "", NNMPI_GIT, NNMPI_GIT[0] ? ")" : "");
            return OPTIONS_EXIT_OK;
        }
        if (apply_(spec, optarg, opt, err) != 0) return OPTIONS_ERROR;
    }
    if (optind < argc) {
        nn_err_set(err, "unexpected argument '%s' (options start with --; see --help)", argv[optind]);
        return OPTIONS_ERROR;
    }
    return finish_(opt, err);
}
