/* test_options.c: every bad option value is refused with a message naming the option. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "options.h"

/* Parses "nnmpi <a> <b>" and returns the result; the message lands in err. */
static options_result parse2(const char *a, const char *b, nn_options *opt, nn_err *err)
{
    char *argv[4] = {"nnmpi", (char *)a, (char *)b, NULL};
    memset(err, 0, sizeof *err);
    return options_parse(b ? 3 : 2, argv, opt, NULL, err);
}

static void refused(const char *a, const char *b, const char *must_contain)
{
    nn_options opt;
    nn_err err;
    options_result r = parse2(a, b, &opt, &err);
    if (r != OPTIONS_ERROR || strstr(err.msg, must_contain) == NULL)
        fail_msg("'%s %s': expected an error mentioning '%s', got %d '%s'", a, b ? b : "", must_contain, r, err.msg);
}

static void bad_values_are_refused_naming_the_option(void **state)
{
    (void)state;
    refused("--batch", "0", "--batch");
    refused("--batch", "-5", "--batch");
    refused("--batch", "ten", "--batch");
    refused("--lr", "fast", "--lr");
    refused("--lr", "-1", "--lr");
    refused("--lr", "nan", "--lr");
    refused("--layers", "784", "--layers");
    refused("--layers", "784,,10", "--layers");
    refused("--layers", "784,30,10,", "--layers");
    refused("--activation", "softplus", "--activation");
    refused("--loss", "hinge", "--loss");
    refused("--init", "zeros", "--init");
    refused("--momentum", "1.5", "--momentum");
    refused("--epochs", "-1", "--epochs");
    refused("--threads", "0", "--threads");
    refused("--shuffle", "maybe", "--shuffle");
    refused("--overlap", "yes", "--overlap");
    refused("--allreduce", "tree", "--allreduce");
    refused("--share-data", "nodes", "--share-data");
    refused("--checkpoint-every", "0", "--checkpoint-every");
    refused("--frobnicate", NULL, "unknown option '--frobnicate'");
    refused("--batch", NULL, "--batch: needs a value");
    refused("--eval-only", NULL, "--resume");
    refused("--chunk", "4", "--reproducible");
    refused("stray", NULL, "unexpected argument 'stray'");
    refused("--seed", "-1", "--seed: expected a whole number from 0 to 18446744073709551615");
    refused("--seed", "18446744073709551616", "--seed");
    refused("--threads", "1025", "--threads: expected a whole number from 1 to 1024");
    refused("--progress", "-1", "--progress");
    refused("--progress", "soon", "--progress");
}

static void defaults_are_the_classic_network(void **state)
{
    (void)state;
    nn_options opt;
    nn_err err;
    char *argv[] = {"nnmpi", NULL};
    assert_int_equal(options_parse(1, argv, &opt, NULL, &err), OPTIONS_RUN);
    /* INPUT,30,CLASSES: the first and last sizes are the data's, filled in at
     * start-up (784 and 10 on MNIST; cli_test checks the network it builds) */
    int classic[] = {0, 30, 0};
    assert_int_equal(opt.n_sizes, 3);
    assert_memory_equal(opt.sizes, classic, sizeof classic);
    assert_int_equal(opt.classes, 0);
    assert_int_equal(parse2("--classes", "3", &opt, &err), OPTIONS_RUN);
    assert_true(opt.classes == 3 && opt.classes_given);
    assert_int_equal(parse2("--classes", "0", &opt, &err), OPTIONS_ERROR);
    assert_non_null(strstr(err.msg, "--classes: expected a whole number from 1 to 256"));
    assert_int_equal(parse2("--classes", "257", &opt, &err), OPTIONS_ERROR);
    assert_int_equal(parse2("--train-images", "x.gz", &opt, &err), OPTIONS_RUN);
    assert_string_equal(opt.data_paths[0], "x.gz");
    assert_false(opt.synthetic);
    assert_int_equal(parse2("--data", "synthetic:64,4,4096,1024", &opt, &err), OPTIONS_RUN);
    assert_true(opt.synthetic && opt.synth.inputs == 64 && opt.synth.classes == 4 && opt.synth.train == 4096 &&
                opt.synth.test == 1024);
    assert_int_equal(parse2("--data", "synthetic:64,4,0,1024", &opt, &err), OPTIONS_ERROR);
    assert_non_null(strstr(err.msg, "got 'synthetic:64,4,0,1024'"));
    assert_int_equal(opt.activation, ACT_SIGMOID);
    assert_int_equal(opt.loss, LOSS_MSE);
    assert_int_equal(opt.epochs, 10);
    assert_int_equal(opt.batch, 10);
    assert_true(opt.lr == 3.0 && opt.momentum == 0.0);
    assert_int_equal(opt.seed, 1);
    assert_int_equal(opt.shuffle, 1);
    assert_int_equal(opt.overlap, NN_OVERLAP_AUTO);
    assert_true(opt.progress == 30.0 && opt.quiet == 0); /* a progress line every 30 s into a file */
    assert_int_equal(parse2("--progress", "0.25", &opt, &err), OPTIONS_RUN);
    assert_true(opt.progress == 0.25); /* fractions of a second */
    const char *overlap_words[] = {"on", "off", "auto"};
    const int overlap_values[] = {NN_OVERLAP_ON, NN_OVERLAP_OFF, NN_OVERLAP_AUTO};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(parse2("--overlap", overlap_words[i], &opt, &err), OPTIONS_RUN);
        assert_int_equal(opt.overlap, overlap_values[i]);
    }
    assert_int_equal(opt.share_data, NN_SHARE_AUTO); /* the default: one copy per node where /dev/shm has room */
    assert_int_equal(parse2("--share-data", "rank", &opt, &err), OPTIONS_RUN);
    assert_int_equal(opt.share_data, NN_SHARE_RANK);
    assert_int_equal(parse2("--share-data", "node", &opt, &err), OPTIONS_RUN);
    assert_int_equal(opt.share_data, NN_SHARE_NODE);
    assert_int_equal(parse2("--share-data", "auto", &opt, &err), OPTIONS_RUN);
    assert_int_equal(opt.share_data, NN_SHARE_AUTO);
    assert_int_equal(opt.allreduce, REDUCE_AUTO); /* the default */
    assert_int_equal(parse2("--allreduce", "ring", &opt, &err), OPTIONS_RUN);
    assert_int_equal(opt.allreduce, REDUCE_RING);
    assert_int_equal(parse2("--allreduce", "mpi", &opt, &err), OPTIONS_RUN);
    assert_int_equal(opt.allreduce, REDUCE_MPI);
    /* sizes that do not fit MNIST parse: the data, read at start-up, decides (cli_test) */
    assert_int_equal(parse2("--layers", "100,30,9", &opt, &err), OPTIONS_RUN);
    assert_int_equal(parse2("--layers", "784,100,50,10", &opt, &err), OPTIONS_RUN);
    assert_int_equal(opt.n_sizes, 4);
    assert_int_equal(opt.sizes[2], 50);
    assert_int_equal(parse2("--help", NULL, &opt, &err), OPTIONS_EXIT_OK);
    assert_int_equal(parse2("-h", NULL, &opt, &err), OPTIONS_EXIT_OK);
    /* the whole 64-bit seed a checkpoint can hold */
    assert_int_equal(parse2("--seed", "18446744073709551615", &opt, &err), OPTIONS_RUN);
    assert_true(opt.seed == UINT64_MAX);
}

/* With --resume, the training combinations wait for the checkpoint's recipe
 * (startup.c runs options_check_training then); the given flags say what
 * the command line set. */
static void resume_defers_the_training_checks(void **state)
{
    (void)state;
    nn_options opt;
    nn_err err;
    char *alone[] = {"nnmpi", "--lr-steps", "3,5", NULL};
    char *resumed[] = {"nnmpi", "--lr-steps", "3,5", "--resume", "ck.h5", NULL};
    memset(&err, 0, sizeof err);
    assert_int_equal(options_parse(3, alone, &opt, NULL, &err), OPTIONS_ERROR);
    assert_non_null(strstr(err.msg, "--lr-steps: only has a meaning with --lr-schedule step"));
    memset(&err, 0, sizeof err);
    assert_int_equal(options_parse(5, resumed, &opt, NULL, &err), OPTIONS_RUN);
    assert_true(opt.lr_steps_given && !opt.lr_schedule_given && !opt.dropout_given && !opt.epochs_given);
    assert_int_equal(options_check_training(&opt, &err), -1); /* a constant schedule from the file: refused then */
    assert_non_null(strstr(err.msg, "--lr-steps: only has a meaning with --lr-schedule step"));
    opt.lr_schedule = LR_STEP; /* a step schedule from the file, over its 10 epochs */
    memset(&err, 0, sizeof err);
    assert_int_equal(options_check_training(&opt, &err), 0);
    char *given[] = {"nnmpi", "--dropout", "0", "--nesterov", "--epochs", "4", "--warmup", "1", NULL};
    assert_int_equal(options_parse(8, given, &opt, NULL, &err), OPTIONS_RUN);
    assert_true(opt.dropout_given && opt.nesterov_given && opt.epochs_given && opt.warmup_given);
    assert_true(!opt.lr_gamma_given && !opt.lr_min_given && !opt.lr_batch_given && !opt.weight_decay_given);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_values_are_refused_naming_the_option),
        cmocka_unit_test(defaults_are_the_classic_network),
        cmocka_unit_test(resume_defers_the_training_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
