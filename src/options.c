/* options.c: --help text, parsing and validation of every option. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "idx.h"

void options_defaults(nn_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->data_dir = "data/mnist";
    opt->n_sizes = 3;
    opt->sizes[0] = IDX_PIXELS, opt->sizes[1] = 30, opt->sizes[2] = IDX_CLASSES;
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
    opt->overlap = NN_OVERLAP_AUTO;
    opt->debug_signal_at = -1;
    opt->debug_nan_at = -1;
    opt->debug_perturb_rank = -1;
}

static void print_help_(FILE *out)
{
    fprintf(out,
            "Usage: mpirun -n P nnmpi [options]\n"
            "Data-parallel SGD training of a fully connected network on MNIST.\n"
            "Every rank holds the weights; each step the global minibatch is split across\n"
            "ranks and the gradients are summed with MPI_Allreduce.\n"
            "\n"
            "Data and model:\n"
            "  --data DIR            directory with the four MNIST IDX files   [data/mnist]\n"
            "  --layers N,N,...      layer sizes, first 784, last 10            [784,30,10]\n"
            "  --activation NAME     hidden activation: sigmoid|relu|tanh       [sigmoid]\n"
            "  --loss NAME           mse (sigmoid out, quadratic cost) | xent (softmax,\n"
            "                        cross-entropy)                              [mse]\n"
            "  --init NAME           normal (N(0,1)) | xavier | he              [normal]\n"
            "Training:\n"
            "  --epochs N            epochs in total (with --resume: up to N)    [10]\n"
            "  --batch B             global minibatch size, split across ranks   [10]\n"
            "  --lr X                learning rate: W -= lr/B * sum of gradients [3.0]\n"
            "  --momentum M          momentum in [0, 1)                          [0]\n"
            "  --train-size N        use the first N training images             [all 60000]\n"
            "  --test-size N         evaluate on the first N test images         [all 10000]\n"
            "  --shuffle on|off      reshuffle every epoch (off: file order)     [on]\n"
            "  --seed S              seed for initialisation and shuffling       [1]\n"
            "  --reproducible        bitwise-identical weights for any rank count\n"
            "                        (chunked gradients summed along one tree)\n"
            "  --chunk C             rows per chunk with --reproducible          [ceil(B/8)]\n"
            "  --overlap on|off|auto overlap the gradient allreduce with backward;\n"
            "                        auto: on when the ranks span several nodes    [auto]\n"
            "                        (no effect with --reproducible)\n"
            "  --allreduce mpi|ring  mpi: MPI's collectives; ring: nnmpi's ring of\n"
            "                        point-to-point messages, which allocates nothing\n"
            "                        per step (no effect with --reproducible)    [mpi]\n"
            "Performance:\n"
            "  --threads T           OpenBLAS threads per rank                   [1]\n"
            "Output and state:\n"
            "  --metrics FILE        append JSON Lines metrics, one per epoch (rank 0)\n"
            "  --checkpoint FILE     HDF5 checkpoint, written atomically before the first\n"
            "                        step and after every K-th epoch (rank 0)\n"
            "  --checkpoint-every K  checkpoint every K epochs                   [1]\n"
            "  --resume FILE         continue from a checkpoint (also mid-epoch)\n"
            "  --eval-only           with --resume: evaluate on the test set and exit\n"
            "  --quiet               print only errors\n"
            "  --help, --version\n"
            "Signals: SIGTERM or SIGUSR1 stops all ranks at the next step; rank 0 writes the\n"
            "checkpoint and nnmpi exits with status 75. Re-run with --resume FILE to go on.\n"
            "Exit status: 0 done, 1 error (data, files), 2 bad option, 3 diverged (NaN/Inf),\n"
            "75 stopped by a signal after checkpointing.\n"
            "Testing hooks: --debug-signal-at STEP, --debug-nan-at STEP, --debug-perturb-rank R\n"
            "(see docs/reliability.md).\n");
}

const char *options_activation_name(nn_activation a)
{
    return a == ACT_SIGMOID ? "sigmoid" : a == ACT_RELU ? "relu" : "tanh";
}
const char *options_loss_name(nn_loss l) { return l == LOSS_MSE ? "mse" : "xent"; }
const char *options_init_name(nn_init i) { return i == INIT_NORMAL ? "normal" : i == INIT_XAVIER ? "xavier" : "he"; }

int options_activation_from(const char *s, nn_activation *a)
{
    if (strcmp(s, "sigmoid") == 0) return *a = ACT_SIGMOID, 0;
    if (strcmp(s, "relu") == 0) return *a = ACT_RELU, 0;
    if (strcmp(s, "tanh") == 0) return *a = ACT_TANH, 0;
    return -1;
}

int options_loss_from(const char *s, nn_loss *l)
{
    if (strcmp(s, "mse") == 0) return *l = LOSS_MSE, 0;
    if (strcmp(s, "xent") == 0) return *l = LOSS_XENT, 0;
    return -1;
}

int options_chunk(const nn_options *opt) { return opt->chunk > 0 ? opt->chunk : (opt->batch + 7) / 8; }

/* Parses a whole decimal integer in [min, max]. */
static int parse_long_(const char *name, const char *s, long min, long max, long *out, nn_err *err)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        if (max == 2147483647L)
            nn_err_set(err, "%s: expected a whole number >= %ld, got '%s'", name, min, s);
        else
            nn_err_set(err, "%s: expected a whole number from %ld to %ld, got '%s'", name, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_int_(const char *name, const char *s, long min, int *out, nn_err *err)
{
    long v = 0;
    if (parse_long_(name, s, min, 2147483647L, &v, err) != 0) return -1;
    *out = (int)v;
    return 0;
}

static int parse_double_(const char *name, const char *s, double *out, nn_err *err)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v)) {
        nn_err_set(err, "%s: expected a number, got '%s'", name, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_on_off_(const char *name, const char *s, int *out, nn_err *err)
{
    if (strcmp(s, "on") == 0) return *out = 1, 0;
    if (strcmp(s, "off") == 0) return *out = 0, 0;
    nn_err_set(err, "%s: expected on or off, got '%s'", name, s);
    return -1;
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
    if (opt->sizes[0] != IDX_PIXELS) {
        nn_err_set(err, "--layers: the first size must be %d (the 28x28 MNIST image), got %d", IDX_PIXELS,
                   opt->sizes[0]);
        return -1;
    }
    if (opt->sizes[n - 1] != IDX_CLASSES) {
        nn_err_set(err, "--layers: the last size must be %d (the MNIST classes), got %d", IDX_CLASSES,
                   opt->sizes[n - 1]);
        return -1;
    }
    opt->n_sizes = n;
    return 0;
}

enum {
    OPT_DATA = 256, OPT_LAYERS, OPT_ACTIVATION, OPT_LOSS, OPT_INIT, OPT_EPOCHS, OPT_BATCH, OPT_LR, OPT_MOMENTUM,
    OPT_TRAIN_SIZE, OPT_TEST_SIZE, OPT_SHUFFLE, OPT_SEED, OPT_THREADS, OPT_METRICS, OPT_CHECKPOINT,
    OPT_CHECKPOINT_EVERY, OPT_RESUME, OPT_EVAL_ONLY, OPT_REPRODUCIBLE, OPT_CHUNK, OPT_OVERLAP, OPT_ALLREDUCE, OPT_QUIET, OPT_HELP,
    OPT_VERSION, OPT_DEBUG_SIGNAL, OPT_DEBUG_NAN, OPT_DEBUG_PERTURB
};

options_result options_parse(int argc, char **argv, nn_options *opt, FILE *out, nn_err *err)
{
    static const struct option longopts[] = {
        {"data", required_argument, 0, OPT_DATA},
        {"layers", required_argument, 0, OPT_LAYERS},
        {"activation", required_argument, 0, OPT_ACTIVATION},
        {"loss", required_argument, 0, OPT_LOSS},
        {"init", required_argument, 0, OPT_INIT},
        {"epochs", required_argument, 0, OPT_EPOCHS},
        {"batch", required_argument, 0, OPT_BATCH},
        {"lr", required_argument, 0, OPT_LR},
        {"momentum", required_argument, 0, OPT_MOMENTUM},
        {"train-size", required_argument, 0, OPT_TRAIN_SIZE},
        {"test-size", required_argument, 0, OPT_TEST_SIZE},
        {"shuffle", required_argument, 0, OPT_SHUFFLE},
        {"seed", required_argument, 0, OPT_SEED},
        {"threads", required_argument, 0, OPT_THREADS},
        {"metrics", required_argument, 0, OPT_METRICS},
        {"checkpoint", required_argument, 0, OPT_CHECKPOINT},
        {"checkpoint-every", required_argument, 0, OPT_CHECKPOINT_EVERY},
        {"resume", required_argument, 0, OPT_RESUME},
        {"eval-only", no_argument, 0, OPT_EVAL_ONLY},
        {"reproducible", no_argument, 0, OPT_REPRODUCIBLE},
        {"chunk", required_argument, 0, OPT_CHUNK},
        {"overlap", required_argument, 0, OPT_OVERLAP},
        {"allreduce", required_argument, 0, OPT_ALLREDUCE},
        {"quiet", no_argument, 0, OPT_QUIET},
        {"help", no_argument, 0, OPT_HELP},
        {"version", no_argument, 0, OPT_VERSION},
        {"debug-signal-at", required_argument, 0, OPT_DEBUG_SIGNAL},
        {"debug-nan-at", required_argument, 0, OPT_DEBUG_NAN},
        {"debug-perturb-rank", required_argument, 0, OPT_DEBUG_PERTURB},
        {0, 0, 0, 0},
    };
    options_defaults(opt);
    opterr = 0; /* our own messages, printed once by rank 0 */
    optind = 1;
    long v = 0;
    for (;;) {
        int prev = optind;
        int c = getopt_long(argc, argv, ":", longopts, NULL);
        if (c == -1) break;
        const char *arg = optarg;
        int rc = 0;
        switch (c) {
        case OPT_DATA: opt->data_dir = arg; break;
        case OPT_LAYERS: rc = parse_layers_(arg, opt, err), opt->layers_given = 1; break;
        case OPT_ACTIVATION:
            opt->activation_given = 1;
            if (options_activation_from(arg, &opt->activation) != 0)
                rc = -1, nn_err_set(err, "--activation: expected sigmoid, relu or tanh, got '%s'", arg);
            break;
        case OPT_LOSS:
            opt->loss_given = 1;
            if (options_loss_from(arg, &opt->loss) != 0)
                rc = -1, nn_err_set(err, "--loss: expected mse or xent, got '%s'", arg);
            break;
        case OPT_INIT:
            if (strcmp(arg, "normal") == 0) opt->init = INIT_NORMAL;
            else if (strcmp(arg, "xavier") == 0) opt->init = INIT_XAVIER;
            else if (strcmp(arg, "he") == 0) opt->init = INIT_HE;
            else rc = -1, nn_err_set(err, "--init: expected normal, xavier or he, got '%s'", arg);
            break;
        case OPT_EPOCHS: rc = parse_int_("--epochs", arg, 0, &opt->epochs, err); break;
        case OPT_BATCH: rc = parse_int_("--batch", arg, 1, &opt->batch, err); break;
        case OPT_LR:
            rc = parse_double_("--lr", arg, &opt->lr, err);
            if (rc == 0 && !(opt->lr > 0.0)) rc = -1, nn_err_set(err, "--lr: expected a positive number, got '%s'", arg);
            break;
        case OPT_MOMENTUM:
            rc = parse_double_("--momentum", arg, &opt->momentum, err);
            if (rc == 0 && !(opt->momentum >= 0.0 && opt->momentum < 1.0))
                rc = -1, nn_err_set(err, "--momentum: expected a number in [0, 1), got '%s'", arg);
            break;
        case OPT_TRAIN_SIZE: rc = parse_int_("--train-size", arg, 1, &opt->train_size, err); break;
        case OPT_TEST_SIZE: rc = parse_int_("--test-size", arg, 1, &opt->test_size, err); break;
        case OPT_SHUFFLE: rc = parse_on_off_("--shuffle", arg, &opt->shuffle, err); break;
        case OPT_SEED:
            rc = parse_long_("--seed", arg, 0, 2147483647L, &v, err);
            opt->seed = (uint64_t)v;
            break;
        case OPT_THREADS: rc = parse_int_("--threads", arg, 1, &opt->threads, err); break;
        case OPT_METRICS: opt->metrics_path = arg; break;
        case OPT_CHECKPOINT: opt->checkpoint_path = arg; break;
        case OPT_CHECKPOINT_EVERY: rc = parse_int_("--checkpoint-every", arg, 1, &opt->checkpoint_every, err); break;
        case OPT_RESUME: opt->resume_path = arg; break;
        case OPT_EVAL_ONLY: opt->eval_only = 1; break;
        case OPT_REPRODUCIBLE: opt->reproducible = 1; break;
        case OPT_CHUNK: rc = parse_int_("--chunk", arg, 1, &opt->chunk, err); break;
        case OPT_OVERLAP:
            if (strcmp(arg, "auto") == 0)
                opt->overlap = NN_OVERLAP_AUTO;
            else if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
                nn_err_set(err, "--overlap: expected on, off or auto, got '%s'", arg), rc = -1;
            else
                rc = parse_on_off_("--overlap", arg, &opt->overlap, err);
            break;
        case OPT_ALLREDUCE:
            if (strcmp(arg, "mpi") == 0 || strcmp(arg, "ring") == 0)
                opt->allreduce_ring = strcmp(arg, "ring") == 0;
            else
                nn_err_set(err, "--allreduce: expected mpi or ring, got '%s'", arg), rc = -1;
            break;
        case OPT_QUIET: opt->quiet = 1; break;
        case OPT_HELP:
            if (out) print_help_(out);
            return OPTIONS_EXIT_OK;
        case OPT_VERSION:
            if (out) fprintf(out, "nnmpi %s\n", NNMPI_VERSION);
            return OPTIONS_EXIT_OK;
        case OPT_DEBUG_SIGNAL: rc = parse_long_("--debug-signal-at", arg, 0, 2147483647L, &opt->debug_signal_at, err); break;
        case OPT_DEBUG_NAN: rc = parse_long_("--debug-nan-at", arg, 0, 2147483647L, &opt->debug_nan_at, err); break;
        case OPT_DEBUG_PERTURB: rc = parse_int_("--debug-perturb-rank", arg, 0, &opt->debug_perturb_rank, err); break;
        case ':':
            nn_err_set(err, "%s: needs a value (see --help)", argv[prev]);
            return OPTIONS_ERROR;
        default:
            nn_err_set(err, "unknown option '%s' (see --help)", argv[prev]);
            return OPTIONS_ERROR;
        }
        if (rc != 0) return OPTIONS_ERROR;
    }
    if (optind < argc) {
        nn_err_set(err, "unexpected argument '%s' (options start with --; see --help)", argv[optind]);
        return OPTIONS_ERROR;
    }
    if (opt->eval_only && !opt->resume_path) {
        nn_err_set(err, "--eval-only: needs --resume FILE (the checkpoint to evaluate)");
        return OPTIONS_ERROR;
    }
    if (opt->chunk > 0 && !opt->reproducible) {
        nn_err_set(err, "--chunk: only has a meaning with --reproducible");
        return OPTIONS_ERROR;
    }
    return OPTIONS_RUN;
}
