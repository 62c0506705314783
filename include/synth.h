/*
 * synth.h: --data synthetic:INPUTS,CLASSES,TRAIN,TEST, a learnable problem
 * drawn from the seed (docs/data.md). Input value j of sample g is uniform in
 * [0, 1), a counter-based hash of (seed, g, j): rows are generated when a
 * step gathers them, so they cost no memory and no files, and every rank
 * sees the same sample for the same index. Test sample i is sample TRAIN + i.
 * The label of a sample is the argmax over classes of a fixed random linear
 * teacher (weights also hashed from the seed) applied to SYNTH_TEACHER_INPUTS
 * inputs spread evenly over the row (all of them when there are fewer), so
 * labelling costs TRAIN * 64 * CLASSES hashes at start-up, whatever INPUTS.
 */
#ifndef NN_SYNTH_H
#define NN_SYNTH_H

#include <stdint.h>

#include "idx.h"
#include "nn_check.h"

#define SYNTH_PREFIX "synthetic:"
#define SYNTH_TEACHER_INPUTS 64

/* What --data synthetic:INPUTS,CLASSES,TRAIN,TEST asks for. */
typedef struct {
    int inputs, classes, train, test;
} nn_synth_spec;

/* 1 when `data` (the --data value) names a synthetic problem. */
int synth_is_spec(const char *data);

/* Parses the text after "synthetic:"; 0, or -1 with a message naming --data
 * and the limits in err. */
int synth_parse(const char *text, nn_synth_spec *spec, nn_err *err);

/* Fills set with `count` samples of the problem starting at sample `first`
 * (0 for training, spec->train for test): geometry, labels (malloc'ed, freed
 * by idx_free), no pixels; rows come from synth_gather_rows. */
void synth_make_set(const nn_synth_spec *spec, uint64_t seed, long long first, int count, idx_set *set);

/* Generates columns [c_lo, c_hi) of rows idx[0..n) of a synthetic set into
 * out (n, c_hi - c_lo). */
void synth_gather_rows(const idx_set *set, const int *idx, int n, int c_lo, int c_hi, float *out);

#endif
