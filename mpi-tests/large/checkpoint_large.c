/*
 * checkpoint_large.c PATH: a checkpoint with a dataset of more than 2^31
 * bytes (a 23200x23200 layer: 538 million floats, 2.15 GB), written by
 * checkpoint_write from the weights themselves (no copy), read back by the
 * hardened reader and compared with the formula that filled it; prints the
 * sizes and times. Not in the default suite (NNMPI_LARGE_TESTS=ON: 2.2 GB of
 * memory and disk); large/checkpoint_large.sh adds h5py's reading of it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "checkpoint.h"

static float value_(size_t i) { return (float)(i % 1000003) * 1e-6f - 0.5f; }

static double now_(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 2) return fprintf(stderr, "usage: checkpoint_large PATH\n"), 2;
    nn_checkpoint ck = {.n_sizes = 3, .sizes = {23200, 23200, 10}, .batch = 10, .train_size = 60000, .shuffle = 1,
                        .lr = 0.1, .seed = 1, .input_scale = 1.0 / 255, .n_input_dims = 1, .input_dims = {23200}};
    ck.n_params = model_layout(ck.sizes, ck.n_sizes, NULL, NULL);
    ck.params = malloc(sizeof(float) * ck.n_params);
    if (!ck.params) return fprintf(stderr, "FAIL: no memory for %zu floats\n", ck.n_params), 1;
    for (size_t i = 0; i < ck.n_params; i++) ck.params[i] = value_(i);
    nn_err err = {0};
    double t0 = now_();
    if (checkpoint_write(argv[1], &ck, &err) != 0) return fprintf(stderr, "FAIL: write: %s\n", err.msg), 1;
    double written = now_() - t0;
    free(ck.params);
    struct stat st;
    stat(argv[1], &st);
    nn_checkpoint back;
    t0 = now_();
    if (checkpoint_read(argv[1], NULL, 0, &back, &err) != 0) return fprintf(stderr, "FAIL: read: %s\n", err.msg), 1;
    double read = now_() - t0;
    if (back.n_params != ck.n_params) return fprintf(stderr, "FAIL: %zu parameters read back\n", back.n_params), 1;
    for (size_t i = 0; i < back.n_params; i++)
        if (memcmp(&back.params[i], &(float){value_(i)}, sizeof(float)) != 0)
            return fprintf(stderr, "FAIL: parameter %zu is %g, wrote %g\n", i, back.params[i], value_(i)), 1;
    checkpoint_free(&back);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("PASS: %zu parameters (layer 0: %zu bytes), file %lld bytes, written in %.1f s, read and validated in "
           "%.1f s, peak RSS %.0f MB\n", ck.n_params, (size_t)23200 * 23200 * 4, (long long)st.st_size, written, read,
           ru.ru_maxrss / 1024.0);
    return 0;
}
