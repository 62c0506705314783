/* repro.c: --reproducible gradients, chunk by chunk into fixed point (see repro.h). */
#include "repro.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn_check.h"
#include "rng.h"

typedef enum { PRODUCT_FORWARD, PRODUCT_DELTA } product_kind;

static int chunk_end_(const nn_repro *p, int lo, int rows) { return lo + p->chunk < rows ? lo + p->chunk : rows; }

/* Layer l's forward product (act[l+1] from act[l]) or delta product
 * (delta[l-1] from delta[l]) over rows [0, rows): one call, or one per chunk. */
static void product_(nn_repro *p, product_kind kind, int l, int rows, int batched)
{
    int step = batched ? rows : p->chunk;
    for (int lo = 0; lo < rows; lo += step) {
        int hi = lo + step < rows ? lo + step : rows;
        if (kind == PRODUCT_FORWARD)
            net_forward_layer(p->net, l, lo, hi);
        else
            net_backprop_delta(p->net, l, lo, hi);
    }
}

static int is_batched_(const nn_repro *p, product_kind kind, int l)
{
    return ((kind == PRODUCT_FORWARD ? p->forward_batched : p->delta_batched) >> l) & 1u;
}

/* 1 when one call over `rows` rows gives every row the bits of chunk-sized
 * calls, for this product, on random inputs. A BLAS kernel that summed in
 * another order for another shape would differ in the low bits of nearly
 * every output; one that sums in the same order gives the same bits for
 * every input. */
static int rows_independent_(nn_repro *p, product_kind kind, int l, int rows)
{
    nn_net *net = p->net;
    float *in = kind == PRODUCT_FORWARD ? net->act[l] : net->delta[l];
    float *out = kind == PRODUCT_FORWARD ? net->act[l + 1] : net->delta[l - 1];
    size_t in_len = (size_t)rows * net->sizes[kind == PRODUCT_FORWARD ? l : l + 1];
    size_t out_len = (size_t)rows * net->sizes[kind == PRODUCT_FORWARD ? l + 1 : l];
    nn_rng rng;
    rng_seed(&rng, 0x5eed, (uint64_t)rows);
    for (size_t i = 0; i < in_len; i++) in[i] = (float)(rng_uniform(&rng) - 0.25);
    if (kind == PRODUCT_DELTA) /* the derivative reads the activations: some at zero, as relu makes them */
        for (size_t i = 0; i < out_len; i++) net->act[l][i] = (float)(rng_uniform(&rng) < 0.2 ? 0.0 : rng_uniform(&rng));
    float *copy = NN_MALLOC(sizeof(float) * out_len);
    product_(p, kind, l, rows, 0);
    memcpy(copy, out, sizeof(float) * out_len);
    product_(p, kind, l, rows, 1);
    int same = memcmp(copy, out, sizeof(float) * out_len) == 0;
    free(copy);
    return same;
}

void repro_create(nn_repro *p, nn_net *net, nn_reducer *reducer, int chunk, const int *row_counts, int n_counts)
{
    memset(p, 0, sizeof *p);
    p->net = net;
    p->reducer = reducer;
    p->chunk = chunk;
    p->block_len = NN_REPRO_BLOCK_ELEMS;
    for (int l = 1; l < net->n_sizes; l++)
        if ((size_t)net->sizes[l] > p->block_len) p->block_len = (size_t)net->sizes[l]; /* a bias gradient */
    p->block = NN_MALLOC(sizeof(float) * p->block_len);
    for (int l = 0; l < net->n_layers; l++) {
        int forward_ok = 1, delta_ok = l > 0;
        for (int i = 0; i < n_counts; i++) {
            if (row_counts[i] <= chunk) continue; /* one chunk: one call either way */
            forward_ok = forward_ok && rows_independent_(p, PRODUCT_FORWARD, l, row_counts[i]);
            delta_ok = delta_ok && rows_independent_(p, PRODUCT_DELTA, l, row_counts[i]);
        }
        p->forward_batched |= (unsigned)forward_ok << l;
        p->delta_batched |= (unsigned)delta_ok << l;
    }
}

void repro_free(nn_repro *p)
{
    free(p->block);
    memset(p, 0, sizeof *p);
}

void repro_forward(nn_repro *p, int rows, float stop_vote)
{
    nn_net *net = p->net;
    nn_reducer *r = p->reducer;
    for (int l = 0; l < net->n_layers; l++) product_(p, PRODUCT_FORWARD, l, rows, is_batched_(p, PRODUCT_FORWARD, l));
    float votes[NN_CTRL] = {0.0f};
    votes[NN_CTRL_STOP] = stop_vote;
    reducer_add_fixed(r, 0, votes, NN_CTRL, 1, 0); /* the bad-value vote is the reducer's */
    for (int lo = 0; lo < rows; lo += p->chunk) {
        float loss = (float)net_output_delta(net, lo, chunk_end_(p, lo, rows));
        reducer_add_fixed(r, NN_CTRL_LOSS, &loss, 1, 0, 0);
    }
}

/* Layer l's weight and bias gradients, every chunk added into the fixed-point sums. */
static void layer_sums_(nn_repro *p, int l, int rows)
{
    nn_net *net = p->net;
    nn_reducer *r = p->reducer;
    int n_in = net->sizes[l], n_out = net->sizes[l + 1];
    size_t w_at = NN_CTRL + net->w_off[l], b_at = NN_CTRL + net->b_off[l];
    if (rows == 0) { /* no chunk on this rank: zeros, still part of every reduction */
        reducer_zero_fixed(r, w_at, (size_t)n_out * n_in + (size_t)n_out);
        return;
    }
    /* Blocks of whole output units (rows of W), each block for every chunk in
     * turn, so the block's int64 sums stay in cache while the chunks are
     * added. The block shape depends on the layer only, never on the rank count. */
    int units = (int)(NN_REPRO_BLOCK_ELEMS / (size_t)n_in);
    units = units < 1 ? 1 : units > n_out ? n_out : units;
    for (int o_lo = 0; o_lo < n_out; o_lo += units) {
        int o_hi = o_lo + units < n_out ? o_lo + units : n_out;
        for (int lo = 0; lo < rows; lo += p->chunk) {
            net_weight_grad(net, l, lo, chunk_end_(p, lo, rows), o_lo, o_hi, p->block);
            int last = lo + p->chunk >= rows;
            reducer_add_fixed(r, w_at + (size_t)o_lo * n_in, p->block, (size_t)(o_hi - o_lo) * n_in, lo == 0, last);
        }
    }
    for (int lo = 0; lo < rows; lo += p->chunk) {
        net_bias_grad(net, l, lo, chunk_end_(p, lo, rows), p->block);
        reducer_add_fixed(r, b_at, p->block, (size_t)n_out, lo == 0, lo + p->chunk >= rows);
    }
}

void repro_backward(nn_repro *p, int rows)
{
    for (int l = p->net->n_layers - 1; l >= 0; l--) {
        layer_sums_(p, l, rows);
        reducer_layer_ready(p->reducer, l);
        if (l > 0) product_(p, PRODUCT_DELTA, l, rows, is_batched_(p, PRODUCT_DELTA, l));
    }
}
