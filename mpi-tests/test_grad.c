/*
 * test_grad.c: the batched backward pass against two independent references,
 * for every activation and loss:
 *   - a per-sample loop in double precision, written here from the equations
 *     (no BLAS), summed over the batch;
 *   - central finite differences of the summed loss.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "reduce.h"
#include "rng.h"

enum { ROWS = 7 };
static const int SIZES[] = {6, 5, 4, 3}; /* three weight layers */

static double act_d(nn_activation a, double z)
{
    return a == ACT_SIGMOID ? 1.0 / (1.0 + exp(-z)) : a == ACT_RELU ? (z > 0 ? z : 0) : tanh(z);
}
static double act_deriv_d(nn_activation a, double z)
{
    double s = act_d(a, z);
    return a == ACT_SIGMOID ? s * (1 - s) : a == ACT_RELU ? (z > 0 ? 1.0 : 0.0) : 1 - s * s;
}

/* Per-sample reference: adds sample x's gradient into g (double, params layout); returns its loss. */
static double reference_sample(const nn_net *net, const float *x, int y, double *g)
{
    enum { MAXN = 8 };
    int L = net->n_layers;
    double a[NN_MAX_SIZES][MAXN], z[NN_MAX_SIZES][MAXN], d[NN_MAX_SIZES][MAXN];
    for (int j = 0; j < net->sizes[0]; j++) a[0][j] = x[j];
    for (int l = 0; l < L; l++) {
        int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        const float *W = net->params + net->w_off[l], *b = net->params + net->b_off[l];
        for (int i = 0; i < n_out; i++) {
            double s = b[i];
            for (int j = 0; j < n_in; j++) s += (double)W[i * n_in + j] * a[l][j];
            z[l + 1][i] = s;
        }
        for (int i = 0; i < n_out; i++) {
            if (l < L - 1) a[l + 1][i] = act_d(net->activation, z[l + 1][i]);
            else if (net->loss == LOSS_MSE) a[l + 1][i] = act_d(ACT_SIGMOID, z[l + 1][i]);
        }
        if (l == L - 1 && net->loss == LOSS_XENT) {
            double m = z[l + 1][0], sum = 0;
            for (int i = 1; i < n_out; i++) m = fmax(m, z[l + 1][i]);
            for (int i = 0; i < n_out; i++) sum += exp(z[l + 1][i] - m);
            for (int i = 0; i < n_out; i++) a[l + 1][i] = exp(z[l + 1][i] - m) / sum;
        }
    }
    int n_out = net->sizes[L];
    double loss = 0;
    for (int i = 0; i < n_out; i++) {
        double t = i == y ? 1.0 : 0.0;
        if (net->loss == LOSS_MSE) {
            loss += 0.5 * (a[L][i] - t) * (a[L][i] - t);
            d[L][i] = (a[L][i] - t) * act_deriv_d(ACT_SIGMOID, z[L][i]);
        } else {
            d[L][i] = a[L][i] - t;
        }
    }
    if (net->loss == LOSS_XENT) loss = -log(a[L][y]);
    for (int l = L - 1; l >= 0; l--) {
        int n_in = net->sizes[l], n_out_l = net->sizes[l + 1];
        const float *W = net->params + net->w_off[l];
        for (int i = 0; i < n_out_l; i++) {
            for (int j = 0; j < n_in; j++) g[net->w_off[l] + (size_t)i * n_in + j] += d[l + 1][i] * a[l][j];
            g[net->b_off[l] + i] += d[l + 1][i];
        }
        if (l > 0)
            for (int j = 0; j < n_in; j++) {
                double s = 0;
                for (int i = 0; i < n_out_l; i++) s += (double)W[i * n_in + j] * d[l + 1][i];
                d[l][j] = s * act_deriv_d(net->activation, z[l][j]);
            }
    }
    return loss;
}

static void fill_batch(nn_net *net, nn_rng *rng)
{
    for (int i = 0; i < ROWS * net->sizes[0]; i++) net->act[0][i] = (float)rng_uniform(rng);
    for (int r = 0; r < ROWS; r++) net->labels[r] = (int)rng_below(rng, (uint32_t)net->sizes[net->n_sizes - 1]);
}

/* Summed loss of the batch now in act[0] (forward again: act[0] is kept). */
static double batch_loss(nn_net *net)
{
    net_forward(net, 0, ROWS);
    return net_output_delta(net, 0, ROWS);
}

/* by_unit: the hidden layers stored a row per unit (net.h), in buffers of
 * more rows than the batch (their rows then lie apart from each other). */
static void check_layout_(nn_activation activation, nn_loss loss, float dropout, int by_unit)
{
    nn_net net;
    net_create(&net, SIZES, 4, activation, loss, ROWS + 5 * by_unit, 0);
    net.by_unit = by_unit; /* 6-5-4-3 by itself: by sample */
    net_init_params(&net, INIT_XAVIER, 42);
    if (dropout > 0) { /* fixed masks (the key and the rows' samples do not change): the loss stays differentiable */
        net_set_dropout(&net, dropout, 12345);
        for (int r = 0; r < ROWS; r++) net.row_sample[r] = 7 * r + 3;
    }
    nn_rng rng;
    rng_seed(&rng, 7, 0);
    /* biases away from zero so relu units are active and no kink sits near a sample */
    for (int l = 0; l < net.n_layers; l++)
        for (int i = 0; i < net.sizes[l + 1]; i++) net.params[net.b_off[l] + i] = (float)(0.2 + 0.3 * rng_uniform(&rng));
    fill_batch(&net, &rng);
    float *input = malloc(sizeof(float) * ROWS * SIZES[0]);
    memcpy(input, net.act[0], sizeof(float) * ROWS * SIZES[0]);

    /* batched, with sgemm */
    float *grad = malloc(sizeof(float) * net.n_params);
    double loss_batched = batch_loss(&net);
    net_backward(&net, ROWS, grad, NULL, NULL);

    /* per-sample reference */
    double *ref = calloc(net.n_params, sizeof(double));
    double loss_ref = 0;
    for (int r = 0; r < ROWS && dropout == 0; r++)
        loss_ref += reference_sample(&net, input + r * SIZES[0], net.labels[r], ref);
    if (dropout == 0) assert_true(fabs(loss_batched - loss_ref) <= 1e-5 * (1 + fabs(loss_ref)));
    double max_ref = 0;
    for (size_t i = 0; i < net.n_params; i++) max_ref = fmax(max_ref, fabs(ref[i]));
    assert_true(max_ref > 1e-3 || dropout > 0); /* the check below must not be vacuous */
    for (size_t i = 0; i < net.n_params && dropout == 0; i++) {
        /* float32 sums of ROWS products against double: a few ulps of the largest term */
        if (fabs(grad[i] - ref[i]) > 1e-5 * (1 + max_ref))
            fail_msg("%s/%s, by unit %d, param %zu: batched %.8g, per-sample %.8g", nn_activation_names[activation],
                     nn_loss_names[loss], by_unit, i, grad[i], ref[i]);
    }

    /* central finite differences of the summed loss, in float: eps 1e-2 keeps
     * rounding (1e-7 * loss / eps) well below the tolerance */
    const float eps = 1e-2f;
    for (size_t i = 0; i < net.n_params; i++) {
        float keep = net.params[i];
        net.params[i] = keep + eps;
        double up = batch_loss(&net);
        net.params[i] = keep - eps;
        double down = batch_loss(&net);
        net.params[i] = keep;
        double fd = (up - down) / (2.0 * eps);
        if (fabs(fd - grad[i]) > 2e-3 + 2e-2 * fabs(fd))
            fail_msg("%s, dropout %g, by unit %d, param %zu: analytic %.6g, finite difference %.6g",
                     nn_activation_names[activation], dropout, by_unit, i, grad[i], fd);
    }
    free(grad);
    free(ref);
    free(input);
    net_free(&net);
}

/* Both layouts. */
static void check_combination_(nn_activation activation, nn_loss loss, float dropout)
{
    check_layout_(activation, loss, dropout, 0);
    check_layout_(activation, loss, dropout, 1);
}

static void check_combination(nn_activation activation, nn_loss loss) { check_combination_(activation, loss, 0.0f); }

/* With dropout (masks fixed by their key and the rows' samples) the per-sample
 * reference does not apply, but the finite differences of the dropped-out
 * loss still check the gradient, the masks' 1/(1-p) and f' included; on the
 * smooth activations (relu's scaled kinks come within the differences' step). */
static void dropout_gradients(void **s)
{
    (void)s;
    check_combination_(ACT_SIGMOID, LOSS_XENT, 0.3f);
    check_combination_(ACT_TANH, LOSS_MSE, 0.3f);
}

static void sigmoid_mse(void **s) { (void)s, check_combination(ACT_SIGMOID, LOSS_MSE); }
static void sigmoid_xent(void **s) { (void)s, check_combination(ACT_SIGMOID, LOSS_XENT); }
static void relu_mse(void **s) { (void)s, check_combination(ACT_RELU, LOSS_MSE); }
static void relu_xent(void **s) { (void)s, check_combination(ACT_RELU, LOSS_XENT); }
static void tanh_mse(void **s) { (void)s, check_combination(ACT_TANH, LOSS_MSE); }
static void tanh_xent(void **s) { (void)s, check_combination(ACT_TANH, LOSS_XENT); }

/* The layout rule (net_by_unit_suits): by unit where every hidden layer has
 * 256 units or more and no product can reach OpenBLAS's allocating NN
 * small-matrix kernel (n % 16 in 1..8, k >= 32, m n k <= 1e6). */
static void layout_rule(void **s)
{
    (void)s;
    const int classic[] = {784, 30, 10}, wide[] = {784, 256, 10}, large[] = {784, 1024, 1024, 10};
    const int pair[] = {784, 512, 512, 10}, odd_inputs[] = {40, 256, 5}, odd_large[] = {40, 1024, 10};
    assert_false(net_by_unit_suits(classic, 3, NULL));  /* 30 units: small products */
    assert_true(net_by_unit_suits(wide, 3, NULL));      /* one hidden layer, 784 inputs: 49 x 16 */
    assert_true(net_by_unit_suits(large, 4, NULL));     /* 1024 x 1024 > 1e6 */
    assert_false(net_by_unit_suits(pair, 4, NULL));     /* k = 512, 512 x 512 units: rows 1-3 reach it */
    assert_false(net_by_unit_suits(odd_inputs, 3, NULL)); /* n = 40 = 2 x 16 + 8 inputs: 40 x 256 x 32 rows <= 1e6 */
    assert_true(net_by_unit_suits(odd_large, 3, NULL));   /* 40 x 1024 x 32 > 1e6 */
    /* Split by units (the blocks reducer_unit_split computes), m is a rank's block: */
    nn_unit_split split;
    const int rows48[2] = {48, 16}, rows20[2] = {20, 4}, rows33[2] = {33, 33}, rows128[2] = {128, 80};
    reducer_unit_split(odd_large, 3, 2, rows48, &split);
    assert_int_equal(split.fewest_units[0], 512), assert_int_equal(split.fewest_units[1], 10);
    assert_false(net_by_unit_suits(odd_large, 3, &split)); /* layer 0's gradient: 512 x 40 x 48 rows <= 1e6 */
    reducer_unit_split(odd_large, 3, 2, rows20, &split);
    assert_true(net_by_unit_suits(odd_large, 3, &split));  /* k = 20 rows < 32 */
    reducer_unit_split(odd_large, 3, 3, rows48, &split);
    assert_int_equal(split.fewest_units[0], 336);          /* 64 blocks of 16 three ways: 21, 21, 22 */
    assert_false(net_by_unit_suits(odd_large, 3, &split));
    reducer_unit_split(large, 4, 2, rows33, &split);
    assert_true(net_by_unit_suits(large, 4, &split));      /* 512 x 33 x 1024 > 1e6 */
    reducer_unit_split(large, 4, 64, rows33, &split);
    assert_int_equal(split.fewest_units[1], 16);
    assert_false(net_by_unit_suits(large, 4, &split));     /* 16 x 33 (% 16 = 1) x 1024 <= 1e6 */
    reducer_unit_split(large, 4, 64, rows128, &split);
    assert_true(net_by_unit_suits(large, 4, &split));      /* 128 and 80 rows: multiples of 16 */
    reducer_unit_split(wide, 3, 4, rows33, &split);
    assert_true(net_by_unit_suits(wide, 3, &split));       /* 784 inputs: a multiple of 16 */
}

/* rows == 0 (a rank with an empty slice) gives an exact zero gradient and still reports every layer. */
static int layers_seen;
static void count_layer(int layer, void *ctx) { (void)layer, (void)ctx, layers_seen++; }
static void empty_slice_gives_zero_gradient(void **s)
{
    (void)s;
    nn_net net;
    net_create(&net, SIZES, 4, ACT_SIGMOID, LOSS_MSE, ROWS, 0);
    float *grad = malloc(sizeof(float) * net.n_params);
    for (size_t i = 0; i < net.n_params; i++) grad[i] = 1.0f;
    layers_seen = 0;
    net_backward(&net, 0, grad, count_layer, NULL);
    assert_int_equal(layers_seen, net.n_layers);
    for (size_t i = 0; i < net.n_params; i++) assert_true(grad[i] == 0.0f);
    free(grad);
    net_free(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigmoid_mse), cmocka_unit_test(sigmoid_xent), cmocka_unit_test(relu_mse),
        cmocka_unit_test(relu_xent),   cmocka_unit_test(tanh_mse),     cmocka_unit_test(tanh_xent),
        cmocka_unit_test(dropout_gradients),
        cmocka_unit_test(empty_slice_gives_zero_gradient), cmocka_unit_test(layout_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
