/*
 * net.h: a fully connected network, batched forward and backward passes on
 * row-major buffers with cblas_sgemm. Knows nothing of MPI or files.
 *
 * Weight layer l (0 <= l < n_layers) maps sizes[l] inputs to sizes[l+1]
 * outputs: z = a W^T + b per row, W stored (sizes[l+1], sizes[l]) row-major,
 * so one row of W is one output unit's weights (the checkpoint layout too).
 *
 * The inputs (act[0]) and the outputs (act[n_layers], delta[n_layers - 1])
 * are stored a row per sample, (rows, units). The hidden layers' activations
 * and deltas are stored a row per unit, (units, ld), when by_unit: their
 * products then run as W times the batch (sgemm's faster orientation for
 * large layers, docs/design.md "Layouts"); else a row per sample too.
 * "Rows [lo, hi)" below means samples, whichever the layout.
 * All parameters live in one block (model_layout, model.h, says where
 * each layer's weights and biases start); a gradient is a block of the same layout that
 * the caller owns (the reduction, reduce.h) and passes to net_backward and
 * net_sgd_update_range, so the allreduce and the update are single flat loops.
 */
#ifndef NN_NET_H
#define NN_NET_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef struct {
    int n_sizes, n_layers;       /* n_layers = n_sizes - 1 weight layers */
    int sizes[NN_MAX_SIZES];
    nn_activation activation;    /* hidden layers */
    nn_loss loss;                /* mse: sigmoid output, 0.5*|a-y|^2; xent: softmax, -log a_y */
    int max_rows;                /* rows the activation and delta buffers hold */
    int by_unit;                 /* hidden layers stored a row per unit (net_by_unit_suits; a test may set it
                                    before the first pass) */
    int ld;                      /* their row length then: max_rows in the own buffers, the batch when placed
                                    in the node's (net_place_rows) */
    size_t n_params;             /* weights and biases of all layers */
    size_t w_off[NN_MAX_SIZES];  /* layer l's weights start at params + w_off[l]; w_off[n_layers] == n_params */
    size_t b_off[NN_MAX_SIZES];  /* layer l's biases start at params + b_off[l] */

    float *params;               /* (n_params) W0 b0 W1 b1 ... */
    float *velocity;             /* (n_params) momentum; NULL when momentum is 0 */
    int params_shared;           /* params and velocity are the node's shared copy (net_share_params): not freed here */
    float *act[NN_MAX_SIZES];    /* act[l]: (max_rows, sizes[l]); act[0] is the input rows; (sizes[l], ld)
                                    for the hidden layers between 0 and n_layers when by_unit */
    float *delta[NN_MAX_SIZES];  /* delta[l], dLoss/dz of weight layer l: act[l + 1]'s shape */
    float *own_act[NN_MAX_SIZES];   /* the net's own act and delta buffers: act and delta point at them except */
    float *own_delta[NN_MAX_SIZES]; /* inside a factor step, which places them in shared memory (net_place_rows) */
    float *ones;                 /* (max_rows) all 1.0: bias gradients as delta^T 1 with sgemv */
    int *labels;                 /* (max_rows) class of each input row */
    /* Inverted dropout on hidden layers, training passes only (net_set_dropout): */
    float dropout;               /* the probability of dropping a hidden unit; 0 = none */
    uint64_t dropout_key;        /* the seed and the epoch: masks differ every epoch */
    int *row_sample;             /* (max_rows) the data set index of each input row: masks follow the sample, not the rank */
    uint8_t *keep[NN_MAX_SIZES]; /* keep[l]: act[l]'s layout in max_rows, 1 where the unit was kept, for hidden l;
                                    dropout only */
} nn_net;

/* Called by net_backward as soon as layer l's weight and bias gradients are final. */
typedef void (*nn_layer_done_fn)(int layer, void *ctx);

/* A step split by units (reduce.h, reducer_unit_split): each rank computes
 * a block of every layer's output units for all of the step's rows, so the
 * products' m is that block, not the layer. */
typedef struct {
    int fewest_units[NN_MAX_SIZES]; /* weight layer l: the smallest block of its output units a rank computes */
    int rows[2];                    /* the rows of the epoch's full steps and of its last one */
} nn_unit_split;

/* Whether a net of these sizes is laid out by unit: where every hidden layer
 * has NN_BY_UNIT_MIN_UNITS units or more (784-1024-1024-10 at batch 128: 5 %
 * faster by unit; 784-30-10 at batch 10: 7 % slower) and no product can fall
 * to OpenBLAS's small-matrix kernel for NN products, which allocates on
 * AVX-512 CPUs (net.c says when), neither whole nor, when split is not
 * NULL, in a rank's block of units. net_create decides without a split;
 * start-up asks again where a step may be split by units. */
#define NN_BY_UNIT_MIN_UNITS 256
int net_by_unit_suits(const int *sizes, int n_sizes, const nn_unit_split *split);

/* Computes all sizes and allocates every buffer once; max_rows is the most
 * rows any forward/backward call will pass. Aborts the job on allocation failure. */
void net_create(nn_net *net, const int *sizes, int n_sizes, nn_activation activation, nn_loss loss, int max_rows,
                int with_velocity);
void net_free(nn_net *net);

/* Turns inverted dropout on (p > 0) for the training passes that follow:
 * hidden unit j of layer l for the sample of data set index i is dropped when
 * a counter-based hash of (key, i, l, j) falls below p, else scaled by
 * 1/(1-p). The same sample gives the same mask on any rank, in any pass
 * shape (chunks, --reproducible), and after a resume. p = 0 turns it off
 * (evaluation). Allocates the masks the first time (at start-up). */
void net_set_dropout(nn_net *net, float p, uint64_t key);

/* Points params and velocity (NULL without momentum) at memory the caller
 * owns (the node's copy in a shared window, reduce.h) and frees the net's
 * own; net_free then leaves them alone. */
void net_share_params(nn_net *net, float *params, float *velocity);

/* Draws the initial weights and biases from `seed` (see docs/design.md for the scheme). */
void net_init_params(nn_net *net, nn_init init, uint64_t seed);

/* Forward pass over rows [lo, hi) of act[0]; fills those rows of act[1..n_layers].
 * A row's outputs depend on that row and the weights only. */
void net_forward(nn_net *net, int lo, int hi);
/* One layer of it: rows [lo, hi) of act[layer + 1] from act[layer]. */
void net_forward_layer(nn_net *net, int layer, int lo, int hi);
/* Hidden layer `layer`'s output units [u_lo, u_hi) for rows [0, rows): those
 * columns of act[layer + 1], from all of act[layer] (the split by units). */
void net_forward_units(nn_net *net, int layer, int rows, int u_lo, int u_hi);

/* After net_forward: the summed loss of rows [lo, hi) against net->labels, and
 * those rows of the output layer's delta (unscaled: the gradient of the summed loss). */
double net_output_delta(nn_net *net, int lo, int hi);

/* Backward pass over rows [0, rows): writes the gradient of the summed loss
 * into grad (n_params, params layout), calling done(l, ctx) after each layer
 * from the last to the first. rows == 0 gives a zero gradient. done may be NULL. */
void net_backward(nn_net *net, int rows, float *grad, nn_layer_done_fn done, void *ctx);

/* The pieces of net_backward, for callers that sum the gradient their own way
 * (--reproducible). Rows [lo, hi) of delta[layer] must be final.
 * net_weight_grad: dw (out_hi - out_lo, sizes[layer]) = the weight gradient
 * of output units [out_lo, out_hi) of `layer` over those rows.
 * net_bias_grad: db (sizes[layer + 1]) = the bias gradient of `layer` over those rows.
 * net_backprop_delta (layer >= 1): rows [lo, hi) of delta[layer - 1]. */
void net_weight_grad(const nn_net *net, int layer, int lo, int hi, int out_lo, int out_hi, float *dw);
void net_bias_grad(const nn_net *net, int layer, int lo, int hi, float *db);
void net_backprop_delta(nn_net *net, int layer, int lo, int hi);
/* Units [u_lo, u_hi) of delta[layer - 1] (layer >= 1) for rows [0, rows),
 * from all of delta[layer]: the columns of W they need. */
void net_backprop_units(nn_net *net, int layer, int rows, int u_lo, int u_hi);

/* The factor exchange (reduce.h): act[l] and delta[l] (l < n_layers) become
 * rows lo.. of the node's shared matrices of a whole batch of `batch` rows,
 * act_base[l] (act[l]'s shape) and delta_base[l] (delta[l]'s), so this rank's
 * passes over its rows [0, hi - lo) write straight into them; NULL bases put
 * back the net's own buffers (evaluation passes more rows than a batch). */
void net_place_rows(nn_net *net, float *const *act_base, float *const *delta_base, int lo, int batch);

/* Backward without the weight gradients: rows [0, rows) of every delta
 * from the output layer's (net_output_delta). */
void net_backward_deltas(nn_net *net, int rows);

/* Units [u_lo, u_hi) of `layer`: their weight and bias gradients over rows
 * [0, rows) of act and delta, written where those parameters lie in grad
 * (the params layout). */
void net_unit_grads(const nn_net *net, int layer, int rows, int u_lo, int u_hi, float *grad);

/* After net_forward: the number of rows whose arg-max output equals the label,
 * and (added to *loss_sum) their summed loss. */
int net_count_correct(const nn_net *net, int rows, double *loss_sum);

/* One SGD step from the summed gradient, on parameters [lo, hi) only, grad
 * indexed as the parameters (grad[i] for parameter i): the whole update is
 * [0, n_params); a part is what one rank applies when the node's ranks share
 * the weights and split the update (reduce.h). Plain (decay 0, no Nesterov):
 * velocity = momentum*velocity - step*grad, params += velocity (params -=
 * step*grad without momentum), step = lr / B. Otherwise d = step*grad +
 * decay*W for weights (decay = lr * --weight-decay; biases are not decayed),
 * velocity = momentum*velocity - d, params += nesterov ? momentum*velocity -
 * d : velocity (params -= d without momentum). Returns 1 when any parameter
 * is no longer finite, else 0. */
int net_sgd_update_range(nn_net *net, const float *grad, size_t lo, size_t hi, float step, float momentum,
                         float decay, int nesterov);

/* The plain update (no decay, no Nesterov) straight from rows [0, rows) of
 * act and delta, the factors of the summed gradient, without storing it:
 * per layer one product accumulated into the weights (into the velocity
 * with momentum, then params += velocity). Units [unit_lo[l], unit_hi[l])
 * of each layer l (their weights and biases), or all of them when unit_lo
 * is NULL. The same result as net_unit_grads then net_sgd_update_range, to
 * rounding. Returns 1 when any parameter updated is no longer finite. */
int net_sgd_update_from_factors(nn_net *net, int rows, const int *unit_lo, const int *unit_hi, float step,
                                float momentum);

/* The split of layer 0 by its inputs (train.c's inputs path): each of the
 * node's ranks holds columns [k_lo, k_hi) of every input row.
 * net_partial_inputs: partial = x (rows, k_hi - k_lo) times those columns
 * of W0, transposed: this rank's share of layer 0's products, rows * sizes[1]
 * floats in act[1]'s layout with rows in place of ld.
 * net_finish_inputs: rows [0, rows) of act[1] = the sum of n_partials such
 * shares, `stride` floats apart, added in that order, then layer 0's bias and
 * activation (dropout, or the output's when layer 0 is the last).
 * net_sgd_update_inputs: the plain update (no decay, no Nesterov) from rows
 * [0, rows) of the factors: W0's columns [k_lo, k_hi) from delta[0] and x,
 * and every other parameter (layer 0's biases, the layers above), as
 * net_sgd_update_from_factors. Returns 1 when any parameter updated is no
 * longer finite. */
void net_partial_inputs(const nn_net *net, int rows, int k_lo, int k_hi, const float *x, float *partial);
void net_finish_inputs(nn_net *net, int rows, const float *partials, size_t stride, int n_partials);
int net_sgd_update_inputs(nn_net *net, int rows, const float *x, int k_lo, int k_hi, float step, float momentum);

/* The whole decayed update, [0, n_params) of net_sgd_update_range. */
int net_sgd_update_decayed(nn_net *net, const float *grad, float step, float momentum, float decay, int nesterov);

#endif
