/* synth.c: the synthetic problem (synth.h): counter-based inputs, a linear teacher's labels. */
#include "synth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INPUT_STREAM 0x5359u   /* the hash streams: inputs and teacher weights never share a key */
#define TEACHER_STREAM 0x7eacu

/* splitmix64's finaliser: a well-mixed 64-bit value of its argument. */
static inline uint64_t mix_(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A uniform float in [0, 1) of (key, a, b): 24 random bits, exact in float. */
static inline float uniform_(uint64_t key, uint64_t a, uint64_t b)
{
    return (float)((double)(mix_(key ^ mix_(a ^ mix_(b))) >> 40) * 0x1p-24);
}

static uint64_t key_(uint64_t seed, uint64_t stream) { return mix_(seed ^ mix_(stream)); }

int synth_is_spec(const char *data) { return data && strncmp(data, SYNTH_PREFIX, strlen(SYNTH_PREFIX)) == 0; }

int synth_parse(const char *text, nn_synth_spec *spec, nn_err *err)
{
    static const long max[4] = {IDX_MAX_INPUT_SIZE, 256, IDX_MAX_COUNT, IDX_MAX_COUNT};
    static const long min[4] = {1, 2, 1, 1};
    long v[4];
    const char *p = text;
    for (int i = 0; i < 4; i++) {
        char *end = NULL;
        errno = 0;
        v[i] = strtol(p, &end, 10);
        if (end == p || errno != 0 || *end != (i < 3 ? ',' : '\0') || v[i] < min[i] || v[i] > max[i] || *p == '-' ||
            *p == '+' || *p == ' ') {
            nn_err_set(err, "--data: expected synthetic:INPUTS,CLASSES,TRAIN,TEST with INPUTS 1..%d, CLASSES 2..256, "
                            "TRAIN and TEST 1..%d, e.g. synthetic:64,4,4096,1024; got '%s%s'", IDX_MAX_INPUT_SIZE,
                       IDX_MAX_COUNT, SYNTH_PREFIX, text);
            return -1;
        }
        p = end + 1;
    }
    spec->inputs = (int)v[0], spec->classes = (int)v[1], spec->train = (int)v[2], spec->test = (int)v[3];
    return 0;
}

/* The teacher's label of sample g: argmax over classes of its weights times
 * the centred inputs it reads (features f * inputs / n_read, evenly spread). */
static uint8_t label_of_(const nn_synth_spec *spec, uint64_t input_key, const float *teacher, int n_read, long long g)
{
    int best = 0;
    double best_score = 0.0;
    for (int c = 0; c < spec->classes; c++) {
        double score = 0.0;
        for (int f = 0; f < n_read; f++) {
            uint64_t j = (uint64_t)((long long)f * spec->inputs / n_read);
            score += (double)teacher[c * n_read + f] * ((double)uniform_(input_key, (uint64_t)g, j) - 0.5);
        }
        if (c == 0 || score > best_score) best = c, best_score = score;
    }
    return (uint8_t)best;
}

void synth_make_set(const nn_synth_spec *spec, uint64_t seed, long long first, int count, idx_set *set)
{
    memset(set, 0, sizeof *set);
    set->count = count, set->input_size = spec->inputs, set->n_dims = 1, set->input_dims[0] = spec->inputs;
    set->type = IDX_TYPE_FLOAT32, set->synthetic = 1;
    set->synth_key = key_(seed, INPUT_STREAM), set->synth_first = first;
    int n_read = spec->inputs < SYNTH_TEACHER_INPUTS ? spec->inputs : SYNTH_TEACHER_INPUTS;
    float *teacher = NN_MALLOC(sizeof(float) * (size_t)(spec->classes * n_read)); /* uniform in [-1, 1) */
    uint64_t teacher_key = key_(seed, TEACHER_STREAM);
    for (int c = 0; c < spec->classes; c++)
        for (int f = 0; f < n_read; f++) teacher[c * n_read + f] = 2.0f * uniform_(teacher_key, (uint64_t)c, (uint64_t)f) - 1.0f;
    set->labels = NN_MALLOC((size_t)count);
    for (int i = 0; i < count; i++) {
        set->labels[i] = label_of_(spec, set->synth_key, teacher, n_read, first + i);
        if (set->labels[i] > set->max_label) set->max_label = set->labels[i];
    }
    free(teacher);
}

void synth_gather_rows(const idx_set *set, const int *idx, int n, int c_lo, int c_hi, float *out)
{
    const size_t width = (size_t)(c_hi - c_lo);
    for (int r = 0; r < n; r++) {
        uint64_t g = (uint64_t)(set->synth_first + idx[r]);
        float *dst = out + (size_t)r * width;
        for (size_t j = 0; j < width; j++) dst[j] = uniform_(set->synth_key, g, (size_t)c_lo + j);
    }
}
