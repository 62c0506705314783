/* net.c: batched forward/backward with cblas_sgemm, fused elementwise passes. */
#include "net.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_check.h"
#include "rng.h"
#include "vec.h"

/* Whether activation level l (act[l], and delta[l - 1] for l > 0) is
 * stored a row per unit, (sizes[l], ld): a hidden layer's, in a net laid
 * out so. Otherwise a row per sample, (rows, sizes[l]). */
static inline int by_unit_(const nn_net *net, int level)
{
    return net->by_unit && level > 0 && level < net->n_layers;
}

/* Where sample `row`, unit `unit` of level `level` lies in its matrix. */
static inline size_t at_(const nn_net *net, int level, int row, int unit)
{
    return by_unit_(net, level) ? (size_t)unit * (size_t)net->ld + (size_t)row
                               : (size_t)row * (size_t)net->sizes[level] + (size_t)unit;
}

/* Level `level`'s leading dimension, and the op that reads its matrix as
 * (rows, units) (rows_op_) or as (units, rows) (units_op_). */
static inline int ld_(const nn_net *net, int level) { return by_unit_(net, level) ? net->ld : net->sizes[level]; }
static inline enum CBLAS_TRANSPOSE rows_op_(const nn_net *net, int level)
{
    return by_unit_(net, level) ? CblasTrans : CblasNoTrans;
}
static inline enum CBLAS_TRANSPOSE units_op_(const nn_net *net, int level)
{
    return by_unit_(net, level) ? CblasNoTrans : CblasTrans;
}

void net_create(nn_net *net, const int *sizes, int n_sizes, nn_activation activation, nn_loss loss, int max_rows,
                int with_velocity)
{
    memset(net, 0, sizeof *net);
    net->n_sizes = n_sizes;
    net->n_layers = n_sizes - 1;
    memcpy(net->sizes, sizes, sizeof(int) * (size_t)n_sizes);
    net->activation = activation;
    net->loss = loss;
    net->max_rows = max_rows > 0 ? max_rows : 1;
    net->ld = net->max_rows;
    net->by_unit = net_by_unit_suits(sizes, n_sizes, NULL);

    net->n_params = model_layout(sizes, n_sizes, net->w_off, net->b_off);

    net->params = NN_MALLOC(sizeof(float) * net->n_params);
    if (with_velocity) {
        net->velocity = NN_MALLOC(sizeof(float) * net->n_params);
        memset(net->velocity, 0, sizeof(float) * net->n_params);
    }
    for (int l = 0; l < n_sizes; l++)
        net->act[l] = net->own_act[l] = NN_MALLOC(sizeof(float) * (size_t)net->max_rows * (size_t)sizes[l]);
    for (int l = 0; l < net->n_layers; l++)
        net->delta[l] = net->own_delta[l] = NN_MALLOC(sizeof(float) * (size_t)net->max_rows * (size_t)sizes[l + 1]);
    net->ones = NN_MALLOC(sizeof(float) * (size_t)net->max_rows);
    for (int r = 0; r < net->max_rows; r++) net->ones[r] = 1.0f;
    net->labels = NN_MALLOC(sizeof(int) * (size_t)net->max_rows);
    memset(net->labels, 0, sizeof(int) * (size_t)net->max_rows);
}

void net_set_dropout(nn_net *net, float p, uint64_t key)
{
    net->dropout = p, net->dropout_key = key;
    if (p <= 0.0f || net->row_sample) return;
    net->row_sample = NN_MALLOC(sizeof(int) * (size_t)net->max_rows);
    memset(net->row_sample, 0, sizeof(int) * (size_t)net->max_rows);
    for (int l = 1; l < net->n_layers; l++) net->keep[l] = NN_MALLOC((size_t)net->max_rows * (size_t)net->sizes[l]);
}

/* A unit's 24-bit uniform: splitmix64 of its coordinates (key: seed and
 * epoch; the sample's data set index; layer; unit), top 24 bits. */
static inline uint32_t unit_draw_(uint64_t row_key, uint32_t unit)
{
    uint64_t z = row_key ^ (uint64_t)unit;
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (uint32_t)(z >> 40);
}

/* One unit's rows [lo, hi) (a and keep indexed by row, sample the rows'
 * data set indices): the unit is kept for a row when its draw k / 2^24 >= p,
 * i.e. k >= keep_from; kept units are scaled by `scale`, dropped ones set to
 * 0. An integer loop that vectorizes (the draws are most of dropout's cost). */
NN_VECTOR_CLONES static void drop_unit_(float *a, uint8_t *keep, const int *sample, int lo, int hi,
                                        uint64_t layer_key, uint32_t unit, uint32_t keep_from, float scale)
{
    for (int r = lo; r < hi; r++) {
        keep[r] = unit_draw_(layer_key ^ ((uint64_t)(uint32_t)sample[r] << 20), unit) >= keep_from;
        a[r] = keep[r] ? a[r] * scale : 0.0f;
    }
}

/* The same for one row's units [u_lo, u_hi) (a and keep indexed by unit). */
NN_VECTOR_CLONES static void drop_row_(float *a, uint8_t *keep, int u_lo, int u_hi, uint64_t row_key,
                                       uint32_t keep_from, float scale)
{
    for (int j = u_lo; j < u_hi; j++) {
        keep[j] = unit_draw_(row_key, (uint32_t)j) >= keep_from;
        a[j] = keep[j] ? a[j] * scale : 0.0f;
    }
}

/* Where sample `row`, unit `unit` of hidden level `level` lies in keep[level]:
 * act's layout, in the net's own max_rows. */
static inline size_t keep_at_(const nn_net *net, int level, int row, int unit)
{
    return by_unit_(net, level) ? (size_t)unit * (size_t)net->max_rows + (size_t)row
                                : (size_t)row * (size_t)net->sizes[level] + (size_t)unit;
}

/* Rows [lo, hi), units [u_lo, u_hi) of hidden layer `layer`'s output:
 * dropped units to 0, kept ones scaled by 1/(1-p). */
static void drop_units_(nn_net *net, int layer, int lo, int hi, int u_lo, int u_hi)
{
    float scale = 1.0f / (1.0f - net->dropout);
    /* k / 2^24 >= p exactly when k >= ceil(p 2^24): p 2^24 is exact in double */
    uint32_t keep_from = (uint32_t)ceil((double)net->dropout * 0x1p24);
    uint64_t layer_key = net->dropout_key ^ ((uint64_t)layer << 56);
    if (by_unit_(net, layer)) {
        for (int j = u_lo; j < u_hi; j++)
            drop_unit_(net->act[layer] + at_(net, layer, 0, j), net->keep[layer] + keep_at_(net, layer, 0, j),
                       net->row_sample, lo, hi, layer_key, (uint32_t)j, keep_from, scale);
        return;
    }
    for (int r = lo; r < hi; r++)
        drop_row_(net->act[layer] + at_(net, layer, r, 0), net->keep[layer] + keep_at_(net, layer, r, 0), u_lo, u_hi,
                  layer_key ^ ((uint64_t)(uint32_t)net->row_sample[r] << 20), keep_from, scale);
}

void net_free(nn_net *net)
{
    free(net->row_sample);
    for (int l = 0; l < NN_MAX_SIZES; l++) free(net->keep[l]);
    if (!net->params_shared) free(net->params), free(net->velocity);
    for (int l = 0; l < net->n_sizes; l++) free(net->own_act[l]);
    for (int l = 0; l < net->n_layers; l++) free(net->own_delta[l]);
    free(net->ones);
    free(net->labels);
    memset(net, 0, sizeof *net);
}

void net_share_params(nn_net *net, float *params, float *velocity)
{
    if (!net->params_shared) free(net->params), free(net->velocity);
    net->params = params, net->velocity = velocity, net->params_shared = 1;
}

void net_init_params(nn_net *net, nn_init init, uint64_t seed)
{
    nn_rng rng;
    rng_seed(&rng, seed, UINT64_C(0x1a17)); /* a stream of its own, apart from the epoch shuffles */
    for (int l = 0; l < net->n_layers; l++) {
        int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        double std = 1.0, bias_std = 1.0; /* normal: N(0,1) weights and biases, as in the classic net */
        if (init == INIT_XAVIER) std = sqrt(2.0 / (n_in + n_out)), bias_std = 0.0;
        if (init == INIT_HE) std = sqrt(2.0 / n_in), bias_std = 0.0;
        float *w = net->params + net->w_off[l], *b = net->params + net->b_off[l];
        for (size_t i = 0; i < (size_t)n_out * (size_t)n_in; i++) w[i] = (float)(std * rng_normal(&rng));
        for (int i = 0; i < n_out; i++) b[i] = bias_std > 0.0 ? (float)(bias_std * rng_normal(&rng)) : 0.0f;
    }
    if (net->velocity) memset(net->velocity, 0, sizeof(float) * net->n_params);
}

/* Whether C (m, n) = A (m, k) B (k, n), both untransposed, reaches OpenBLAS
 * 0.3.21's small-matrix kernel for NN products (AVX-512 CPUs, m n k <= 1e6)
 * where it mallocs: when n % 16 is 1..8 and k >= 32 (counted with an
 * interposed malloc; the kernel's source agrees). */
static int nn_kernel_allocates_(double m, int n, int k)
{
    return n % 16 >= 1 && n % 16 <= 8 && k >= 32 && m * n * k <= 1e6;
}

/* Whether a by-unit net's two NN products reach that kernel: a hidden
 * layer's forward from the hidden layer below (m = its units, k = the
 * units below, n = fwd_rows) and layer 0's weight gradient (m = layer 1's
 * units, n = the inputs, k = grad_rows); units[l]: weight layer l's output
 * units in the product. */
static int reaches_allocating_kernel_(const int *sizes, int n_layers, const int *units, int fwd_rows, int grad_rows)
{
    for (int l = 1; l + 1 < n_layers; l++)
        if (nn_kernel_allocates_(units[l], fwd_rows, sizes[l])) return 1;
    return n_layers > 1 && nn_kernel_allocates_(units[0], sizes[0], grad_rows);
}

int net_by_unit_suits(const int *sizes, int n_sizes, const nn_unit_split *split)
{
    int n_layers = n_sizes - 1;
    /* large layers only: small products lose by unit (the transposed ones
     * miss OpenBLAS's small-matrix kernels; the element-wise passes run over
     * short rows) */
    for (int l = 1; l < n_layers; l++)
        if (sizes[l] < NN_BY_UNIT_MIN_UNITS) return 0;
    /* Whole layers, at any row count: n = 1 and k = 32 are the worst cases */
    if (reaches_allocating_kernel_(sizes, n_layers, sizes + 1, 1, 32)) return 0;
    /* Split by units: m is a rank's block, and the rows are the step's */
    for (int i = 0; split && i < 2; i++)
        if (split->rows[i] > 0 &&
            reaches_allocating_kernel_(sizes, n_layers, split->fewest_units, split->rows[i], split->rows[i]))
            return 0;
    return 1;
}

static inline float sigmoid_(float z) { return 1.0f / (1.0f + expf(-z)); }

/* Adds the bias and applies the hidden activation in one pass over z (rows,
 * n), its rows ld floats apart. */
static void bias_activate_(float *z, int ld, const float *b, int rows, int n, nn_activation act)
{
    for (int r = 0; r < rows; r++) {
        float *zr = z + (size_t)r * ld;
        switch (act) {
        case ACT_SIGMOID:
            for (int j = 0; j < n; j++) zr[j] = sigmoid_(zr[j] + b[j]);
            break;
        case ACT_RELU:
            for (int j = 0; j < n; j++) {
                float v = zr[j] + b[j];
                zr[j] = v > 0.0f ? v : 0.0f;
            }
            break;
        case ACT_TANH:
            for (int j = 0; j < n; j++) zr[j] = tanhf(zr[j] + b[j]);
            break;
        }
    }
}

/* The same for a hidden layer's units, a row each: z (units, rows), its
 * rows ld floats apart, unit j's bias b[j]. */
static void bias_activate_units_(float *z, int ld, const float *b, int units, int rows, nn_activation act)
{
    for (int j = 0; j < units; j++) {
        float *zj = z + (size_t)j * ld, bj = b[j];
        switch (act) {
        case ACT_SIGMOID:
            for (int r = 0; r < rows; r++) zj[r] = sigmoid_(zj[r] + bj);
            break;
        case ACT_RELU:
            for (int r = 0; r < rows; r++) {
                float v = zj[r] + bj;
                zj[r] = v > 0.0f ? v : 0.0f;
            }
            break;
        case ACT_TANH:
            for (int r = 0; r < rows; r++) zj[r] = tanhf(zj[r] + bj);
            break;
        }
    }
}

/* Adds the bias and applies a numerically safe softmax to each row. */
static void bias_softmax_(float *z, const float *b, int rows, int n)
{
    for (int r = 0; r < rows; r++) {
        float *zr = z + (size_t)r * n;
        float max = -INFINITY;
        for (int j = 0; j < n; j++) {
            zr[j] += b[j];
            if (zr[j] > max) max = zr[j];
        }
        float sum = 0.0f;
        for (int j = 0; j < n; j++) {
            zr[j] = expf(zr[j] - max);
            sum += zr[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < n; j++) zr[j] *= inv;
    }
}

static void activate_block_(nn_net *net, int layer, int lo, int hi, int u_lo, int u_hi);

/* bias (units [u_lo, u_hi) of `layer`) = keep * bias - step * the sums of
 * delta[layer] over rows [0, rows <= max_rows). A row per unit: one sgemv
 * with the net's ones (a unit's sum in a loop is a chain of dependent adds);
 * a row per sample: row by row, loads over the units that vectorize. */
NN_VECTOR_CLONES static void add_bias_step_(float *bias, const nn_net *net, int layer, int rows, int u_lo, int u_hi,
                                            float step, float keep)
{
    int units = u_hi - u_lo;
    if (by_unit_(net, layer + 1)) {
        if (rows > net->max_rows)
            nn_die(1, "%s:%d: internal error: %d rows of deltas, ones for %d", __FILE__, __LINE__, rows, net->max_rows);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, units, rows, -step, net->delta[layer] + at_(net, layer + 1, 0, u_lo),
                    net->ld, net->ones, 1, keep, bias, 1);
        return;
    }
    for (int j = 0; j < units; j++) bias[j] *= keep;
    for (int r = 0; r < rows; r++) {
        const float *dr = net->delta[layer] + at_(net, layer + 1, r, u_lo);
        for (int j = 0; j < units; j++) bias[j] -= step * dr[j];
    }
}

/* Rows [lo, hi), output units [u_lo, u_hi) of weight layer `layer`. */
static void forward_block_(nn_net *net, int layer, int lo, int hi, int u_lo, int u_hi)
{
    int rows = hi - lo, units = u_hi - u_lo, n_in = net->sizes[layer], n_out = net->sizes[layer + 1];
    if (rows <= 0 || units <= 0) return;
    const float *w = net->params + net->w_off[layer] + (size_t)u_lo * n_in;
    const float *in = net->act[layer] + at_(net, layer, lo, 0);
    float *out = net->act[layer + 1] + at_(net, layer + 1, lo, u_lo);
    if (by_unit_(net, layer + 1)) /* out (units, rows) = W (units, n_in) * in^T (n_in, rows) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, units_op_(net, layer), units, rows, n_in, 1.0f, w, n_in, in,
                    ld_(net, layer), 0.0f, out, net->ld);
    else /* out (rows, units) = in (rows, n_in) * W^T (n_in, units) */
        cblas_sgemm(CblasRowMajor, rows_op_(net, layer), CblasTrans, rows, units, n_in, 1.0f, in, ld_(net, layer), w,
                    n_in, 0.0f, out, n_out);
    activate_block_(net, layer, lo, hi, u_lo, u_hi);
}

/* Rows [lo, hi), units [u_lo, u_hi) of act[layer + 1], which hold the
 * products: the bias and the activation (dropout on hidden layers). */
static void activate_block_(nn_net *net, int layer, int lo, int hi, int u_lo, int u_hi)
{
    int rows = hi - lo, units = u_hi - u_lo, n_out = net->sizes[layer + 1];
    const float *b = net->params + net->b_off[layer] + u_lo;
    float *out = net->act[layer + 1] + at_(net, layer + 1, lo, u_lo);
    if (layer < net->n_layers - 1) {
        if (by_unit_(net, layer + 1))
            bias_activate_units_(out, net->ld, b, units, rows, net->activation);
        else
            bias_activate_(out, n_out, b, rows, units, net->activation);
        if (net->dropout > 0.0f) drop_units_(net, layer + 1, lo, hi, u_lo, u_hi);
    }
    else if (net->loss == LOSS_XENT) /* the softmax needs every unit of a row */
        bias_softmax_(out, b, rows, n_out);
    else
        bias_activate_(out, n_out, b, rows, units, ACT_SIGMOID);
}

void net_forward_layer(nn_net *net, int layer, int lo, int hi)
{
    forward_block_(net, layer, lo, hi, 0, net->sizes[layer + 1]);
}

void net_forward_units(nn_net *net, int layer, int rows, int u_lo, int u_hi)
{
    forward_block_(net, layer, 0, rows, u_lo, u_hi);
}

void net_partial_inputs(const nn_net *net, int rows, int k_lo, int k_hi, const float *x, float *partial)
{
    int n_in = net->sizes[0], n_out = net->sizes[1], k = k_hi - k_lo;
    if (rows <= 0) return;
    if (k <= 0) { /* more ranks than blocks of inputs: this rank's share of the sum is zero */
        memset(partial, 0, sizeof(float) * (size_t)rows * (size_t)n_out);
        return;
    }
    const float *w = net->params + k_lo; /* a block of W0's columns, its rows n_in apart */
    if (by_unit_(net, 1)) /* partial (n_out, rows) = W0[:, k_lo:k_hi] (n_out, k) * x^T (k, rows) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_out, rows, k, 1.0f, w, n_in, x, k, 0.0f, partial, rows);
    else /* a row per sample: partial (rows, n_out) = x (rows, k) * W0[:, k_lo:k_hi]^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n_out, k, 1.0f, x, k, w, n_in, 0.0f, partial, n_out);
}

void net_finish_inputs(nn_net *net, int rows, const float *partials, size_t stride, int n_partials)
{
    /* a share is rows * sizes[1] floats, runs of `run` floats `runs` times, each one row of act[1] */
    int by_unit = by_unit_(net, 1), runs = by_unit ? net->sizes[1] : 1;
    size_t run = by_unit ? (size_t)rows : (size_t)rows * (size_t)net->sizes[1];
    if (rows <= 0) return;
    for (int j = 0; j < runs; j++) {
        float *out = net->act[1] + (size_t)j * (size_t)ld_(net, 1);
        const float *share = partials + (size_t)j * run;
        memcpy(out, share, sizeof(float) * run);
        /* in rank order: the same bits on every rank */
        for (int q = 1; q < n_partials; q++) vec_add(out, share + (size_t)q * stride, run);
    }
    activate_block_(net, 0, 0, rows, 0, net->sizes[1]);
}

void net_forward(nn_net *net, int lo, int hi)
{
    for (int l = 0; l < net->n_layers; l++) net_forward_layer(net, l, lo, hi);
}

double net_output_delta(nn_net *net, int lo, int hi)
{
    int L = net->n_layers, n = net->sizes[L];
    double loss = 0.0;
    for (int r = lo; r < hi; r++) {
        const float *ar = net->act[L] + (size_t)r * n;
        float *dr = net->delta[L - 1] + (size_t)r * n;
        int y = net->labels[r];
        if (net->loss == LOSS_MSE) {
            float row_loss = 0.0f;
            for (int j = 0; j < n; j++) {
                float diff = ar[j] - (j == y ? 1.0f : 0.0f);
                row_loss += diff * diff;
                dr[j] = diff * ar[j] * (1.0f - ar[j]); /* sigmoid'(z) = a(1-a) */
            }
            loss += 0.5 * (double)row_loss;
        } else {
            for (int j = 0; j < n; j++) dr[j] = ar[j] - (j == y ? 1.0f : 0.0f); /* softmax + cross-entropy */
            loss -= log(fmax((double)ar[y], 1e-30));
        }
    }
    return loss;
}

/* delta (n) *= f'(z), written in terms of the activation a = f(z). */
NN_VECTOR_CLONES static void times_derivative_(float *delta, const float *a, size_t n, nn_activation act)
{
    switch (act) {
    case ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) delta[i] *= a[i] * (1.0f - a[i]);
        break;
    case ACT_RELU:
        for (size_t i = 0; i < n; i++) delta[i] = a[i] > 0.0f ? delta[i] : 0.0f;
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++) delta[i] *= 1.0f - a[i] * a[i];
        break;
    }
}

void net_weight_grad(const nn_net *net, int layer, int lo, int hi, int out_lo, int out_hi, float *dw)
{
    int n_in = net->sizes[layer];
    /* dw (out_hi - out_lo, n_in) = delta^T (units out_lo.., rows) * act[layer] (rows, n_in) */
    cblas_sgemm(CblasRowMajor, units_op_(net, layer + 1), rows_op_(net, layer), out_hi - out_lo, n_in, hi - lo, 1.0f,
                net->delta[layer] + at_(net, layer + 1, lo, out_lo), ld_(net, layer + 1),
                net->act[layer] + at_(net, layer, lo, 0), ld_(net, layer), 0.0f, dw, n_in);
}

void net_bias_grad(const nn_net *net, int layer, int lo, int hi, float *db)
{
    int n_out = net->sizes[layer + 1];
    const float *d = net->delta[layer] + at_(net, layer + 1, lo, 0);
    /* db (n_out) = delta^T (n_out, rows) * 1 (rows) */
    if (by_unit_(net, layer + 1))
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n_out, hi - lo, 1.0f, d, net->ld, net->ones, 1, 0.0f, db, 1);
    else
        cblas_sgemv(CblasRowMajor, CblasTrans, hi - lo, n_out, 1.0f, d, n_out, net->ones, 1, 0.0f, db, 1);
}

/* With dropout, d act / dz = keep * f'(z) / (1 - p), and f' is written in
 * terms of the activation before scaling, act * (1 - p). One row's n units:
 * prev, a and keep start at the first of them. */
NN_VECTOR_CLONES static void undrop_derivative_(float *prev, const float *a, const uint8_t *keep, size_t n, float p,
                                                nn_activation act)
{
    float scale = 1.0f / (1.0f - p);
    /* one loop per activation (a switch inside would keep it from vectorizing) */
    switch (act) {
    case ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) {
            float u = a[i] * (1.0f - p);
            prev[i] = keep[i] ? prev[i] * (u * (1.0f - u)) * scale : 0.0f;
        }
        break;
    case ACT_RELU:
        for (size_t i = 0; i < n; i++) {
            float u = a[i] * (1.0f - p);
            prev[i] = keep[i] ? prev[i] * (u > 0.0f ? 1.0f : 0.0f) * scale : 0.0f;
        }
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++) {
            float u = a[i] * (1.0f - p);
            prev[i] = keep[i] ? prev[i] * (1.0f - u * u) * scale : 0.0f;
        }
        break;
    }
}

/* Rows [lo, hi), units [u_lo, u_hi) of delta[layer - 1] (units of layer
 * `layer`'s input) from all of delta[layer]. */
static void backprop_block_(nn_net *net, int layer, int lo, int hi, int u_lo, int u_hi)
{
    int n_in = net->sizes[layer], n_out = net->sizes[layer + 1], units = u_hi - u_lo, rows = hi - lo;
    if (rows <= 0 || units <= 0) return;
    const float *w = net->params + net->w_off[layer] + u_lo, *d = net->delta[layer] + at_(net, layer + 1, lo, 0);
    float *prev = net->delta[layer - 1] + at_(net, layer, lo, u_lo);
    int by_unit = by_unit_(net, layer);
    if (by_unit) /* prev (units, rows) = W^T (units of n_in, n_out) * delta[layer]^T (n_out, rows) */
        cblas_sgemm(CblasRowMajor, CblasTrans, units_op_(net, layer + 1), units, rows, n_out, 1.0f, w, n_in, d,
                    ld_(net, layer + 1), 0.0f, prev, net->ld);
    else /* prev (rows, units) = delta[layer] (rows, n_out) * W (n_out, units of n_in) */
        cblas_sgemm(CblasRowMajor, rows_op_(net, layer + 1), CblasNoTrans, rows, units, n_out, 1.0f, d,
                    ld_(net, layer + 1), w, n_in, 0.0f, prev, n_in);
    /* times f'(z): a run per unit, or per row (one for whole rows: they are one run of memory) */
    int whole = !by_unit && units == n_in, runs = by_unit ? units : whole ? 1 : rows;
    size_t run = by_unit ? (size_t)rows : whole ? (size_t)rows * (size_t)n_in : (size_t)units;
    for (int k = 0; k < runs; k++) {
        int r = by_unit ? lo : lo + k, j = by_unit ? u_lo + k : u_lo;
        size_t at = at_(net, layer, r, j);
        float *pr = net->delta[layer - 1] + at;
        if (net->dropout > 0.0f)
            undrop_derivative_(pr, net->act[layer] + at, net->keep[layer] + keep_at_(net, layer, r, j), run,
                               net->dropout, net->activation);
        else
            times_derivative_(pr, net->act[layer] + at, run, net->activation);
    }
}

void net_backprop_delta(nn_net *net, int layer, int lo, int hi)
{
    backprop_block_(net, layer, lo, hi, 0, net->sizes[layer]);
}

void net_backprop_units(nn_net *net, int layer, int rows, int u_lo, int u_hi)
{
    backprop_block_(net, layer, 0, rows, u_lo, u_hi);
}

void net_backward(nn_net *net, int rows, float *grad, nn_layer_done_fn done, void *ctx)
{
    for (int l = net->n_layers - 1; l >= 0; l--) {
        int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        float *dw = grad + net->w_off[l], *db = grad + net->b_off[l];
        if (rows <= 0) {
            memset(dw, 0, sizeof(float) * ((size_t)n_out * n_in + (size_t)n_out));
            if (done) done(l, ctx);
            continue;
        }
        net_weight_grad(net, l, 0, rows, 0, n_out, dw);
        net_bias_grad(net, l, 0, rows, db);
        if (done) done(l, ctx); /* layer l is final: its reduction can start while we go on */
        if (l > 0) net_backprop_delta(net, l, 0, rows);
    }
}

void net_place_rows(nn_net *net, float *const *act_base, float *const *delta_base, int lo, int batch)
{
    net->ld = act_base ? batch : net->max_rows;
    for (int l = 0; l < net->n_layers; l++) /* the output layer's activations stay the rank's own */
        net->act[l] = act_base ? act_base[l] + at_(net, l, lo, 0) : net->own_act[l];
    for (int l = 0; l < net->n_layers; l++)
        net->delta[l] = delta_base ? delta_base[l] + at_(net, l + 1, lo, 0) : net->own_delta[l];
}

void net_backward_deltas(nn_net *net, int rows)
{
    if (rows <= 0) return;
    for (int l = net->n_layers - 1; l > 0; l--) net_backprop_delta(net, l, 0, rows);
}

void net_unit_grads(const nn_net *net, int layer, int rows, int u_lo, int u_hi, float *grad)
{
    int n_in = net->sizes[layer];
    float *db = grad + net->b_off[layer];
    if (u_hi <= u_lo) return;
    net_weight_grad(net, layer, 0, rows, u_lo, u_hi, grad + net->w_off[layer] + (size_t)u_lo * n_in);
    /* db = delta^T 1 over the rows, for these units (a whole batch: at most max_rows, startup.c sees to it) */
    memset(db + u_lo, 0, sizeof(float) * (size_t)(u_hi - u_lo));
    add_bias_step_(db + u_lo, net, layer, rows, u_lo, u_hi, -1.0f, 1.0f);
}

int net_count_correct(const nn_net *net, int rows, double *loss_sum)
{
    int L = net->n_layers, n = net->sizes[L], correct = 0;
    double loss = 0.0;
    for (int r = 0; r < rows; r++) {
        const float *ar = net->act[L] + (size_t)r * n;
        int y = net->labels[r], best = 0;
        for (int j = 1; j < n; j++)
            if (ar[j] > ar[best]) best = j;
        correct += best == y;
        if (net->loss == LOSS_MSE) {
            double s = 0.0;
            for (int j = 0; j < n; j++) {
                double diff = (double)ar[j] - (j == y ? 1.0 : 0.0);
                s += diff * diff;
            }
            loss += 0.5 * s;
        } else {
            loss -= log(fmax((double)ar[y], 1e-30));
        }
    }
    *loss_sum += loss;
    return correct;
}

/* True when the float's exponent bits are all ones (Inf or NaN); an integer test vectorizes. */
static inline uint32_t nonfinite_bits_(float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return (bits & 0x7f800000u) == 0x7f800000u;
}

/* Plain SGD over parameters [lo, hi): with momentum v = m v - step g, p += v; without, p -= step g. */
NN_VECTOR_CLONES static uint32_t plain_range_(float *p, float *v, const float *grad, size_t lo, size_t hi, float step,
                                               float momentum)
{
    uint32_t bad = 0;
    if (v) {
        for (size_t i = lo; i < hi; i++) {
            v[i] = momentum * v[i] - step * grad[i];
            p[i] += v[i];
            bad |= nonfinite_bits_(p[i]);
        }
    } else {
        for (size_t i = lo; i < hi; i++) {
            p[i] -= step * grad[i];
            bad |= nonfinite_bits_(p[i]);
        }
    }
    return bad;
}

/* One parameter range of the decayed update: decay 0 for biases. */
NN_VECTOR_CLONES static uint32_t update_range_(float *p, float *v, const float *grad, size_t n, float step,
                                                float momentum, float decay, int nesterov)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float d = step * grad[i] + decay * p[i];
        if (v) {
            v[i] = momentum * v[i] - d;
            p[i] += nesterov ? momentum * v[i] - d : v[i];
        } else {
            p[i] -= d;
        }
        bad |= nonfinite_bits_(p[i]);
    }
    return bad;
}

/* [a, b) of [lo, hi) through update_range_, with parameter indices as given. */
static uint32_t decayed_part_(nn_net *net, const float *grad, size_t a, size_t b, size_t lo, size_t hi, float step,
                              float momentum, float decay, int nesterov)
{
    a = a > lo ? a : lo, b = b < hi ? b : hi;
    if (a >= b) return 0;
    float *v = net->velocity;
    return update_range_(net->params + a, v ? v + a : NULL, grad + a, b - a, step, momentum, decay, nesterov);
}

int net_sgd_update_range(nn_net *net, const float *grad, size_t lo, size_t hi, float step, float momentum,
                         float decay, int nesterov)
{
    if (decay == 0.0f && !nesterov) return plain_range_(net->params, net->velocity, grad, lo, hi, step, momentum) != 0;
    uint32_t bad = 0;
    for (int l = 0; l < net->n_layers; l++) {
        size_t w = net->w_off[l], b = net->b_off[l], end = net->w_off[l + 1];
        bad |= decayed_part_(net, grad, w, b, lo, hi, step, momentum, decay, nesterov);
        bad |= decayed_part_(net, grad, b, end, lo, hi, step, momentum, 0.0f, nesterov);
    }
    return bad != 0;
}

/* Whether any of v[0, n) is not finite: a read-only pass that vectorizes. */
NN_VECTOR_CLONES static uint32_t any_nonfinite_(const float *v, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) bad |= nonfinite_bits_(v[i]);
    return bad;
}

/* p += v over n parameters, and whether any is no longer finite. */
NN_VECTOR_CLONES static uint32_t add_velocity_(float *p, const float *v, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        p[i] += v[i];
        bad |= nonfinite_bits_(p[i]);
    }
    return bad;
}

/* Parameters [at, at + n) after the product went into them (or into their
 * velocity: then params += velocity); whether any is no longer finite. */
static uint32_t settle_(nn_net *net, size_t at, size_t n)
{
    return net->velocity ? add_velocity_(net->params + at, net->velocity + at, n) : any_nonfinite_(net->params + at, n);
}

/* Units [u_lo, u_hi) of `layer`: their weights and bias from the factors;
 * whether any of them is no longer finite. */
static uint32_t update_units_(nn_net *net, int layer, int rows, int u_lo, int u_hi, float step, float momentum)
{
    int n_in = net->sizes[layer], units = u_hi - u_lo;
    size_t w = net->w_off[layer] + (size_t)u_lo * n_in, b = net->b_off[layer] + (size_t)u_lo;
    float *target = net->velocity ? net->velocity : net->params, keep = net->velocity ? momentum : 1.0f;
    if (units <= 0) return 0;
    /* target's rows = keep * target - step * delta^T act: the gradient is never stored */
    cblas_sgemm(CblasRowMajor, units_op_(net, layer + 1), rows_op_(net, layer), units, n_in, rows, -step,
                net->delta[layer] + at_(net, layer + 1, 0, u_lo), ld_(net, layer + 1), net->act[layer],
                ld_(net, layer), keep, target + w, n_in);
    add_bias_step_(target + b, net, layer, rows, u_lo, u_hi, step, keep);
    return settle_(net, w, (size_t)units * n_in) | settle_(net, b, (size_t)units);
}

int net_sgd_update_from_factors(nn_net *net, int rows, const int *unit_lo, const int *unit_hi, float step,
                                float momentum)
{
    uint32_t bad = 0;
    for (int l = 0; l < net->n_layers; l++)
        bad |= update_units_(net, l, rows, unit_lo ? unit_lo[l] : 0, unit_hi ? unit_hi[l] : net->sizes[l + 1], step,
                             momentum);
    return bad != 0;
}

int net_sgd_update_inputs(nn_net *net, int rows, const float *x, int k_lo, int k_hi, float step, float momentum)
{
    int n_in = net->sizes[0], n_out = net->sizes[1], k = k_hi - k_lo;
    float *target = net->velocity ? net->velocity : net->params, keep = net->velocity ? momentum : 1.0f;
    uint32_t bad = 0;
    if (k > 0) {
        /* target's columns [k_lo, k_hi) of W0 = keep * them - step * delta[0]^T x: every unit, these inputs */
        cblas_sgemm(CblasRowMajor, units_op_(net, 1), CblasNoTrans, n_out, k, rows, -step, net->delta[0], ld_(net, 1),
                    x, k, keep, target + net->w_off[0] + k_lo, n_in);
        for (int j = 0; j < n_out; j++) bad |= settle_(net, net->w_off[0] + (size_t)j * n_in + (size_t)k_lo, (size_t)k);
    }
    size_t b = net->b_off[0]; /* layer 0's biases: all of them, like the layers above */
    add_bias_step_(target + b, net, 0, rows, 0, n_out, step, keep);
    bad |= settle_(net, b, (size_t)n_out);
    for (int l = 1; l < net->n_layers; l++) bad |= update_units_(net, l, rows, 0, net->sizes[l + 1], step, momentum);
    return bad != 0;
}

int net_sgd_update_decayed(nn_net *net, const float *grad, float step, float momentum, float decay, int nesterov)
{
    return net_sgd_update_range(net, grad, 0, net->n_params, step, momentum, decay, nesterov);
}
