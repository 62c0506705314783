/* train.c: the epoch loop, the step, evaluation, the replica check and when to checkpoint (start-up: startup.c). */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "checkpoint.h"
#include "memstat.h"
#include "metrics.h"
#include "predict.h"
#include "rng.h"
#include "slice.h"

#define EVAL_ROWS 256 /* rows per forward pass when evaluating (startup.c sizes the buffers for it) */

volatile sig_atomic_t nn_stop_signal = 0;

static void on_stop_signal_(int sig) { nn_stop_signal = sig; }

void trainer_install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal_;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    /* the natural ways of stopping a job (scancel, Ctrl-C, kill, a closed
     * terminal, Slurm's --signal) all stop it cleanly at the next step */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

/* The update from the reducer's sums, on the parameters this rank updates (reduce.h). */
static int apply_sums_(nn_trainer *t, int batch_rows, double lr)
{
    const nn_options *o = &t->opt;
    const nn_range *parts;
    int n_parts = reducer_update_parts(&t->reducer, &parts), nonfinite = 0;
    for (int i = 0; i < n_parts; i++)
        nonfinite |= net_sgd_update_range(&t->net, reducer_grad(&t->reducer), parts[i].lo, parts[i].hi,
                                          (float)(lr / batch_rows), (float)o->momentum, (float)(lr * o->weight_decay),
                                          o->nesterov);
    return nonfinite;
}

/* ---------- the plain gradient path: every rank's float gradient, summed by the reducer ---------- */

static void plain_rows_(const nn_trainer *t, int batch_rows, int *lo, int *hi)
{
    slice_part(batch_rows, t->rank, t->nranks, lo, hi);
}

static void plain_forward_(nn_trainer *t, const nn_step *s)
{
    int rows = s->hi - s->lo;
    float *sums = reducer_ctrl_slots(&t->reducer); /* this rank's control slots, summed by the reduction */
    net_forward(&t->net, 0, rows);
    sums[NN_CTRL_LOSS] = rows > 0 ? (float)net_output_delta(&t->net, 0, rows) : 0.0f;
    sums[NN_CTRL_STOP] = s->stop_vote;
}

/* The backward pass's per-layer hook: start that layer's reduction. */
static void on_layer_done_(int layer, void *reducer) { reducer_layer_ready(reducer, layer); }

static void plain_backward_(nn_trainer *t, const nn_step *s)
{
    reducer_begin_step(&t->reducer);
    net_backward(&t->net, s->hi - s->lo, reducer_grad(&t->reducer), on_layer_done_, &t->reducer);
}

static void plain_reduce_(nn_trainer *t, const nn_step *s)
{
    (void)s;
    /* starting the overlapped reductions happened inside backward's lap, but is communication */
    timers_move(&t->timers, PH_BACKWARD, PH_ALLREDUCE, t->reducer.posting_s);
    reducer_finish(&t->reducer);
}

const nn_grad_path nn_plain_path = {"plain",        plain_rows_,   NULL,        plain_forward_,
                                    plain_backward_, plain_reduce_, apply_sums_};

/* ---------- the factor path: shm on one node exchanges the batch's activations and deltas (reduce.h) ----------
 * Batches up to NN_FACTOR_REPLICATE_BATCH rows, every rank its own copy of
 * the weights (larger ones take the units path, below). One rank takes it
 * too, with its own buffers: its update straight from the factors stores
 * and reads no gradient. */

/* This rank's rows of every layer's input activations and deltas are rows
 * [lo, hi) of the node's matrices of the batch: the forward and backward
 * passes write them there, and every rank reads them all. The inputs stay
 * in this rank's buffer, at their rows of the batch (other_inputs_). */
static void factor_place_(nn_trainer *t, const nn_step *s)
{
    nn_reducer *r = &t->reducer;
    if (!r->factors) return;
    net_place_rows(&t->net, r->batch_act[r->parity], r->batch_delta[r->parity], s->lo, t->opt.batch);
    t->net.act[0] = t->net.own_act[0] + (size_t)s->lo * t->net.sizes[0];
}

/* The other ranks' input rows, converted here from the node's data set
 * (read-only bytes, a quarter of the floats, no line the other core just
 * wrote) rather than read from the shared matrix; and the next step's,
 * prefetched (gather_rows_ prefetches this rank's). own_act[0] holds a
 * whole batch: at most NN_FACTOR_REPLICATE_BATCH rows, fewer than the
 * evaluation's. */
static void other_inputs_(nn_trainer *t, const nn_step *s)
{
    const int *batch_idx = t->perm + (size_t)s->step * t->opt.batch, *next_idx = batch_idx + t->opt.batch;
    float *x = t->net.own_act[0];
    size_t width = (size_t)t->net.sizes[0];
    idx_gather_rows(&t->train, batch_idx, s->lo, x);
    idx_gather_rows(&t->train, batch_idx + s->hi, s->batch_rows - s->hi, x + (size_t)s->hi * width);
    if (s->step + 1 < t->steps_per_epoch) {
        int rows = slice_batch_rows(t->train.count, t->opt.batch, s->step + 1), lo, hi;
        t->path->my_rows(t, rows, &lo, &hi);
        idx_prefetch_rows(&t->train, next_idx, lo);
        idx_prefetch_rows(&t->train, next_idx + hi, rows - hi);
    }
}

static void factor_backward_(nn_trainer *t, const nn_step *s)
{
    net_backward_deltas(&t->net, s->hi - s->lo);
    if (t->reducer.factors) other_inputs_(t, s);
}

static void factor_reduce_(nn_trainer *t, const nn_step *s)
{
    (void)s;
    reducer_finish(&t->reducer); /* the node's barrier (every rank's rows are written), the control slots' sums */
    net_place_rows(&t->net, NULL, NULL, 0, 0); /* the net's own buffers again, should the step end here (divergence) */
}

/* The update of units [unit_lo[l], unit_hi[l]) of every layer l (all of
 * them when unit_lo is NULL) from all the batch's rows of act and delta,
 * where the caller placed them; then the net's own buffers again (for
 * evaluation) and the other set of matrices for the next step. The plain
 * update never stores the gradient. */
static int update_from_factors_(nn_trainer *t, int batch_rows, double lr, const int *unit_lo, const int *unit_hi)
{
    const nn_options *o = &t->opt;
    int nonfinite;
    if (o->weight_decay == 0.0 && !o->nesterov) {
        nonfinite = net_sgd_update_from_factors(&t->net, batch_rows, unit_lo, unit_hi, (float)(lr / batch_rows),
                                                (float)o->momentum);
    } else {
        for (int l = 0; l < t->net.n_layers; l++)
            net_unit_grads(&t->net, l, batch_rows, unit_lo ? unit_lo[l] : 0,
                           unit_lo ? unit_hi[l] : t->net.sizes[l + 1], reducer_grad(&t->reducer));
        nonfinite = apply_sums_(t, batch_rows, lr);
    }
    net_place_rows(&t->net, NULL, NULL, 0, 0);
    reducer_factors_read(&t->reducer);
    return nonfinite;
}

/* The update of all the weights from all the batch's rows: the same
 * products on every rank, so the same bits. */
static int factor_apply_(nn_trainer *t, int batch_rows, double lr)
{
    nn_reducer *r = &t->reducer;
    if (r->factors) {
        net_place_rows(&t->net, r->batch_act[r->parity], r->batch_delta[r->parity], 0, t->opt.batch);
        t->net.act[0] = t->net.own_act[0]; /* every input row, here (other_inputs_) */
    }
    return update_from_factors_(t, batch_rows, lr, NULL, NULL);
}

const nn_grad_path nn_factor_path = {"factors",        plain_rows_,    factor_place_, plain_forward_,
                                     factor_backward_, factor_reduce_, factor_apply_};

/* ---------- the units path: the factors of a large batch, the node's shared weights split by units ----------
 * Every rank computes its units of every hidden layer for all the batch's
 * rows (the rows of its part of each weight matrix, which only it updates:
 * no weight another core just wrote is read but for the next layer's
 * columns in backward), writing them into the node's matrices; a barrier
 * after each layer another rank reads whole. The output layer (a softmax
 * needs every unit) is computed whole on every rank, in its own buffers. */

static void units_rows_(const nn_trainer *t, int batch_rows, int *lo, int *hi)
{
    (void)t;
    *lo = 0, *hi = batch_rows; /* every rank gathers every row */
}

static void units_place_(nn_trainer *t, const nn_step *s)
{
    nn_reducer *r = &t->reducer;
    nn_net *net = &t->net;
    (void)s;
    net_place_rows(net, r->batch_act[r->parity], r->batch_delta[r->parity], 0, t->opt.batch);
    net->act[0] = net->own_act[0];                         /* the inputs: gathered by every rank */
    net->delta[net->n_layers - 1] = net->own_delta[net->n_layers - 1]; /* the output layer's: whole on every rank */
}

/* The node's barrier inside a pass: its wait is communication, not compute. */
static void units_barrier_(nn_trainer *t, nn_phase inside)
{
    double t0 = MPI_Wtime();
    reducer_node_barrier(&t->reducer);
    timers_move(&t->timers, inside, PH_ALLREDUCE, MPI_Wtime() - t0);
}

static void units_forward_(nn_trainer *t, const nn_step *s)
{
    nn_net *net = &t->net;
    nn_reducer *r = &t->reducer;
    int L = net->n_layers, rows = s->batch_rows;
    for (int l = 0; l + 1 < L; l++) {
        net_forward_units(net, l, rows, r->unit_lo[l], r->unit_hi[l]);
        units_barrier_(t, PH_FORWARD); /* act[l + 1] is whole: every rank wrote its units */
    }
    net_forward_layer(net, L - 1, 0, rows);
    float *sums = reducer_ctrl_slots(r);
    double loss = net_output_delta(net, 0, rows);
    sums[NN_CTRL_LOSS] = r->local_rank == 0 ? (float)loss : 0.0f; /* every rank has the whole batch's: once */
    sums[NN_CTRL_STOP] = s->stop_vote;
}

static void units_backward_(nn_trainer *t, const nn_step *s)
{
    nn_net *net = &t->net;
    nn_reducer *r = &t->reducer;
    for (int l = net->n_layers - 1; l > 0; l--) {
        net_backprop_units(net, l, s->batch_rows, r->unit_lo[l - 1], r->unit_hi[l - 1]);
        if (l > 1) units_barrier_(t, PH_BACKWARD); /* delta[l - 1] is whole, for the layer below */
    }
}

static int units_apply_(nn_trainer *t, int batch_rows, double lr)
{
    units_place_(t, NULL);
    return update_from_factors_(t, batch_rows, lr, t->reducer.unit_lo, t->reducer.unit_hi);
}

const nn_grad_path nn_units_path = {"units",         units_rows_,    units_place_, units_forward_,
                                    units_backward_, factor_reduce_, units_apply_};

/* ---------- the inputs path: a small batch, layer 0 split by its inputs (reduce.h) ----------
 * With few rows a batch, layer 0's products (the inputs times W0: most of
 * an MNIST net's arithmetic and weights) are what splits: each rank
 * converts its columns of every input row (gather_rows_) and multiplies
 * them by its columns of W0, a share of layer 0's products for the whole
 * batch; after the node's barrier every rank sums the shares in rank order
 * (the same bits everywhere), computes the rest of the forward pass and
 * every delta itself, and updates its columns of W0 and all the other
 * weights, in its own copy (reducer_whole_inputs fills in the other ranks'
 * columns when something reads them all). Own copies, not the node's: a
 * rank's columns of W0 share each row's memory pages with the others',
 * and updating them in one shared copy took twice as long as in a copy
 * of its own (the CPU's prefetchers pull the neighbours' lines across). */

static void inputs_forward_(nn_trainer *t, const nn_step *s)
{
    nn_net *net = &t->net;
    nn_reducer *r = &t->reducer;
    int rows = s->batch_rows;
    float *shares = r->batch_partial[r->parity], *slots = reducer_ctrl_slots(r);
    net_partial_inputs(net, rows, r->in_lo, r->in_hi, net->act[0], shares + r->partial_stride * (size_t)r->local_rank);
    slots[NN_CTRL_LOSS] = 0.0f;
    slots[NN_CTRL_STOP] = s->stop_vote;
    double t0 = MPI_Wtime();
    reducer_finish(r); /* the node's barrier: every share is written; the stop votes summed */
    timers_move(&t->timers, PH_FORWARD, PH_ALLREDUCE, MPI_Wtime() - t0);
    net_finish_inputs(net, rows, shares, r->partial_stride, r->local_size);
    for (int l = 1; l < net->n_layers; l++) net_forward_layer(net, l, 0, rows);
    r->ctrl[NN_CTRL_LOSS] = (float)net_output_delta(net, 0, rows); /* the whole batch's, the same on every rank */
}

static void inputs_backward_(nn_trainer *t, const nn_step *s) { net_backward_deltas(&t->net, s->batch_rows); }

static void inputs_reduce_(nn_trainer *t, const nn_step *s)
{
    (void)t, (void)s; /* the step's one exchange was the shares', in forward */
}

static int inputs_apply_(nn_trainer *t, int batch_rows, double lr)
{
    nn_reducer *r = &t->reducer;
    int nonfinite = net_sgd_update_inputs(&t->net, batch_rows, t->net.act[0], r->in_lo, r->in_hi,
                                          (float)(lr / batch_rows), (float)t->opt.momentum);
    r->inputs_stale = 1; /* the other ranks' columns of W0, here, until reducer_whole_inputs */
    reducer_factors_read(r);
    return nonfinite;
}

const nn_grad_path nn_inputs_path = {"inputs",         units_rows_,    NULL,         inputs_forward_,
                                     inputs_backward_, inputs_reduce_, inputs_apply_};

/* ---------- the --reproducible path: whole chunks, summed along one fixed tree (repro.h) ---------- */

static void repro_rows_(const nn_trainer *t, int batch_rows, int *lo, int *hi)
{
    slice_chunk_rows(batch_rows, t->opt.chunk, t->rank, t->nranks, lo, hi);
}

static void repro_forward_(nn_trainer *t, const nn_step *s)
{
    int lo, hi;
    repro_begin_step(&t->repro, s->batch_rows, &lo, &hi); /* the same rows as repro_rows_, and the tree's pieces */
    repro_forward(&t->repro, s->stop_vote);
}

static void repro_backward_(nn_trainer *t, const nn_step *s)
{
    (void)s;
    repro_backward(&t->repro);
}

static void repro_reduce_(nn_trainer *t, const nn_step *s)
{
    (void)s;
    repro_reduce(&t->repro);
}

const nn_grad_path nn_repro_path = {"tree",          repro_rows_,   NULL,       repro_forward_,
                                    repro_backward_, repro_reduce_, apply_sums_};

/* ---------- one step ---------- */

void trainer_begin_epoch(nn_trainer *t, int epoch)
{
    /* this epoch's dropout masks: keyed by the seed and the epoch (and in the net by sample, layer, unit) */
    if (t->opt.dropout > 0)
        net_set_dropout(&t->net, (float)t->opt.dropout, t->opt.seed * 0x9e3779b97f4a7c15ull ^ ((uint64_t)epoch << 32));
    if (t->opt.shuffle) {
        nn_rng rng;
        rng_seed(&rng, t->opt.seed, (uint64_t)epoch + 1); /* stream 0x1a17 is the initialisation's */
        rng_permutation(&rng, t->perm, t->train.count);
    } else {
        for (int i = 0; i < t->train.count; i++) t->perm[i] = i;
    }
}

/* Copies this rank's rows of batch `step` into act[0] and labels, then asks
 * the CPU to start loading the next step's images (scattered over the whole
 * training set) so they arrive while this step computes. */
static void gather_rows_(nn_trainer *t, int step, const nn_step *s)
{
    const int *batch_idx = t->perm + (size_t)step * t->opt.batch;
    int c_lo = t->reducer.in_lo, c_hi = t->reducer.in_hi; /* every column, but on the inputs path */
    idx_gather_cols(&t->train, batch_idx + s->lo, s->hi - s->lo, c_lo, c_hi, t->net.act[0]);
    for (int r = s->lo; r < s->hi; r++) t->net.labels[r - s->lo] = t->train.labels[batch_idx[r]];
    if (t->net.row_sample)
        for (int r = s->lo; r < s->hi; r++) t->net.row_sample[r - s->lo] = batch_idx[r];
    if (step + 1 < t->steps_per_epoch) {
        int lo, hi;
        t->path->my_rows(t, slice_batch_rows(t->train.count, t->opt.batch, step + 1), &lo, &hi);
        idx_prefetch_cols(&t->train, batch_idx + t->opt.batch + lo, hi - lo, c_lo, c_hi);
    }
}

/* The summed gradient is in the reducer's buffer: count the step, check the
 * loss, update the weights (this rank's part of them when the node's ranks
 * share one copy, reduce.h). Every rank applies the same sums to the same
 * weights (the replica check verifies it), so every rank reaches the same verdict. */
static step_outcome update_(nn_trainer *t, int batch_rows)
{
    const nn_options *o = &t->opt;
    const float *ctrl = t->reducer.ctrl_sums;
    double lr = schedule_lr(&t->schedule, t->global_step, t->steps_per_epoch, o->epochs);
    t->lr_now = lr;
    t->global_step++;
    t->epoch_steps++;
    t->epoch_samples += batch_rows;
    t->epoch_loss += ctrl[NN_CTRL_LOSS];
    if (!isfinite(ctrl[NN_CTRL_LOSS])) return STEP_DIVERGED;
    int nonfinite = t->path->apply(t, batch_rows, lr);
    timers_lap(&t->timers, PH_UPDATE);
    nonfinite = reducer_end_update(&t->reducer, nonfinite);
    timers_lap(&t->timers, PH_ALLREDUCE);
    if (nonfinite) return STEP_DIVERGED;
    return ctrl[NN_CTRL_STOP] > 0.0f ? STEP_STOP : STEP_OK;
}

/* Testing hooks (docs/reliability.md): a signal or a NaN at a chosen global step. */
static void debug_hooks_(nn_trainer *t)
{
    if (t->opt.debug_signal_at == t->global_step && t->rank == t->nranks - 1) raise(SIGUSR1);
    if (t->opt.debug_nan_at == t->global_step) t->net.params[0] = NAN;
}

step_outcome trainer_step(nn_trainer *t, int step)
{
    watchdog_beat(&t->watchdog, t->global_step, "computing its part of a training step");
    debug_hooks_(t);
    /* A vote to stop: a signal arrived on this rank. Summed with the gradient, so
     * every rank learns of it in the same step without a second collective. */
    nn_step s = {.step = step,
                 .batch_rows = slice_batch_rows(t->train.count, t->opt.batch, step),
                 .stop_vote = nn_stop_signal ? 1.0f : 0.0f};
    t->path->my_rows(t, s.batch_rows, &s.lo, &s.hi);
    if (t->path->place) t->path->place(t, &s);
    timers_start(&t->timers);
    gather_rows_(t, step, &s);
    timers_lap(&t->timers, PH_GATHER);
    t->path->forward(t, &s);
    timers_lap(&t->timers, PH_FORWARD);
    t->path->backward(t, &s);
    timers_lap(&t->timers, PH_BACKWARD);
    watchdog_beat(&t->watchdog, t->global_step, "waiting in the step's reduction for a rank that has not joined it");
    t->path->reduce(t, &s);
    timers_lap(&t->timers, PH_ALLREDUCE);
    return update_(t, s.batch_rows);
}

/* ---------- evaluation, replica check, checkpoint ---------- */

/* Collective: the correct count and summed loss of `set`, sharded across ranks. */
static void evaluate_set_(nn_trainer *t, const idx_set *set, int *correct, double *loss_sum)
{
    reducer_whole_inputs(&t->reducer, &t->net); /* the inputs path: every rank's columns of W0 */
    float dropout = t->net.dropout; /* none while evaluating */
    t->net.dropout = 0.0f;
    int lo, hi;
    slice_part(set->count, t->rank, t->nranks, &lo, &hi);
    double sums[2] = {0.0, 0.0}; /* correct, loss */
    int idx[EVAL_ROWS];
    for (int start = lo; start < hi; start += EVAL_ROWS) {
        int n = hi - start < EVAL_ROWS ? hi - start : EVAL_ROWS;
        for (int r = 0; r < n; r++) idx[r] = start + r;
        idx_gather_rows(set, idx, n, t->net.act[0]);
        for (int r = 0; r < n; r++) t->net.labels[r] = set->labels[start + r];
        net_forward(&t->net, 0, n);
        sums[0] += net_count_correct(&t->net, n, &sums[1]);
    }
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, t->comm));
    *correct = (int)sums[0];
    *loss_sum = sums[1];
    t->net.dropout = dropout;
}

void trainer_evaluate(nn_trainer *t, int *correct, double *loss_sum) { evaluate_set_(t, &t->test, correct, loss_sum); }

static uint64_t fnv1a_(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

int trainer_replica_check(nn_trainer *t)
{
    reducer_whole_inputs(&t->reducer, &t->net); /* the inputs path: every rank's columns of W0 (before the hook) */
    if (t->opt.debug_perturb_rank == t->rank) t->net.params[t->net.n_params / 2] += 1e-3f; /* testing hook */
    uint64_t h = fnv1a_(0xcbf29ce484222325ull, t->net.params, sizeof(float) * t->net.n_params);
    if (t->net.velocity) h = fnv1a_(h, t->net.velocity, sizeof(float) * t->net.n_params);
    /* One allreduce gives max(h) and max(~h) = ~min(h): all agree when they meet. */
    uint64_t v[2] = {h, ~h}, maxes[2];
    MPI_CHECK(MPI_Allreduce(v, maxes, 2, MPI_UINT64_T, MPI_MAX, t->comm));
    if (maxes[0] == ~maxes[1]) return 0;
    /* Rare path: name the ranks that differ from rank 0. */
    uint64_t *all = t->rank == 0 ? NN_MALLOC(sizeof(uint64_t) * (size_t)t->nranks) : NULL;
    MPI_CHECK(MPI_Gather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, t->comm));
    if (t->rank == 0) {
        char list[1024] = "";
        for (int r = 1; r < t->nranks; r++) {
            size_t used = strlen(list);
            if (all[r] != all[0] && used + 16 < sizeof list) snprintf(list + used, sizeof list - used, " %d", r);
        }
        fprintf(stderr,
                "nnmpi: error: replica check failed at global step %ld: the weights of rank(s)%s differ from "
                "rank 0's; the replicas have diverged (a hardware or MPI fault?)\n",
                t->global_step, list);
        free(all);
    }
    return -1;
}

/* What a checkpoint tells other tools: the input's preprocessing and
 * geometry, and the run's provenance (docs/checkpoint-format.md). */
static void describe_for_others_(const nn_trainer *t, nn_checkpoint *ck)
{
    const nn_run_record *run = &t->run;
    const idx_set *data = &t->test;
    ck->input_scale = data->type == IDX_TYPE_FLOAT32 ? 1.0 : IDX_INPUT_SCALE, ck->input_offset = 0.0;
    ck->n_input_dims = data->n_dims;
    memcpy(ck->input_dims, data->input_dims, sizeof(int) * (size_t)data->n_dims);
    const char *notes[][2] = {
        {"command_line", t->command_line}, {"started", run->started},          {"hosts", t->host_list},
        {"data", t->data_note},            {"nnmpi_git", run->git},
        {"slurm_job_id", run->slurm_job_id}, {"slurm_job_name", run->slurm_job_name},
    };
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++)
        if (notes[i][1]) ck->notes[ck->n_notes].name = notes[i][0], ck->notes[ck->n_notes++].value = notes[i][1];
}

/* Rank 0 writes a checkpoint of position (epoch, step) to `path`; collective so every rank learns the outcome. */
static int write_checkpoint_to_(nn_trainer *t, const char *path, int epoch, int step)
{
    double t0 = MPI_Wtime();
    watchdog_pause(&t->watchdog); /* a slow file system is not a hung rank */
    if (trainer_replica_check(t) != 0) return NN_EXIT_ERROR;
    nn_err err = {0};
    if (t->rank == 0) {
        const nn_options *o = &t->opt;
        nn_checkpoint ck = {
            .n_sizes = o->n_sizes, .activation = o->activation, .loss = o->loss, .init = o->init, .epoch = epoch,
            .step = step,
            .seed = o->seed, .batch = o->batch, .train_size = o->train_size, .shuffle = o->shuffle,
            .reproducible = o->reproducible, .chunk = o->chunk, .lr = o->lr, .momentum = o->momentum,
            .validation = o->validation, .best_accuracy = t->best_accuracy, .best_epoch = t->best_epoch,
            .since_best = t->since_best, .allreduce = t->reducer.kind, .n_params = t->net.n_params,
            .params = t->net.params,
            .velocity = t->net.velocity,
        };
        memcpy(ck.sizes, o->sizes, sizeof ck.sizes);
        trainer_recipe_to_checkpoint(o, &ck);
        describe_for_others_(t, &ck);
        checkpoint_write(path, &ck, &err);
    }
    int status = nn_err_agree(&err, NN_EXIT_ERROR, t->comm);
    watchdog_beat(&t->watchdog, t->global_step, "after a checkpoint");
    t->timers.sec[PH_CHECKPOINT] += MPI_Wtime() - t0;
    return status;
}

static int write_checkpoint_(nn_trainer *t, int epoch, int step)
{
    return write_checkpoint_to_(t, t->opt.checkpoint_path, epoch, step);
}

/* ---------- the run ---------- */

/* Peak resident set size of every rank, in MB: min, median, max on rank 0. */
static void peak_rss_(nn_trainer *t, double out[3])
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double mine = ru.ru_maxrss / 1024.0;
    double *all = t->rank == 0 ? NN_MALLOC(sizeof(double) * (size_t)t->nranks) : NULL;
    MPI_CHECK(MPI_Gather(&mine, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, 0, t->comm));
    if (t->rank == 0) {
        spread_of(all, t->nranks, &out[0], &out[1], &out[2]);
        free(all);
    }
}

/* Rank 0: a metrics record that did not reach the file is an error the next
 * metrics_agree_ ends the run with; no more records are written after it. */
static void metrics_written_(nn_trainer *t, int rc)
{
    if (rc == 0) return;
    nn_file_fail_(&t->metrics_err, __FILE__, __LINE__, "--metrics: cannot write '%s'", t->opt.metrics_path);
    fclose(t->metrics);
    t->metrics = NULL;
}

/* Collective: NN_EXIT_ERROR on every rank once (after rank 0 said why) when a record was lost, else 0. */
static int metrics_agree_(nn_trainer *t)
{
    int status = nn_err_agree(&t->metrics_err, NN_EXIT_ERROR, t->comm);
    memset(&t->metrics_err, 0, sizeof t->metrics_err);
    return status;
}

/* One epoch's scores: on the test set, and on the validation set when there is one. */
typedef struct {
    int correct, val_correct;
    double test_loss, val_loss; /* sums */
} nn_scores;

/* The epoch line and metrics record, after evaluation and checkpoint; collective (gathers the timers). */
static void report_epoch_(nn_trainer *t, int epoch, const nn_scores *sc)
{
    timers_gather(&t->timers, &t->spread, t->comm);
    if (t->rank != 0) return;
    const nn_timer_spread *s = &t->spread;
    t->train_s += s->max[PH_EPOCH];
    nn_epoch_record rec = {
        .epoch = epoch + 1, .correct = sc->correct, .test_total = t->test.count, .steps = t->epoch_steps,
        .samples = t->epoch_samples, .train_loss = t->epoch_samples ? t->epoch_loss / t->epoch_samples : 0.0,
        .test_loss = sc->test_loss / t->test.count, .epoch_s = s->max[PH_EPOCH], .compute_s = timers_compute_s(s),
        .first_step = epoch == t->start_epoch ? t->start_step : 0,
        .allreduce_s = s->max[PH_ALLREDUCE], .allreduce_hidden = -1.0, .phases = s, .lr = t->lr_now,
        .val_correct = sc->val_correct, .val_total = t->val.count,
        .val_loss = t->val.count ? sc->val_loss / t->val.count : 0.0, .train_s = t->train_s,
    };
    /* Only when a reduction can run while backward goes on: with every layer
     * fused into one group (small nets) it starts after backward. */
    if (t->opt.overlap && t->reducer.n_groups > 1 && t->nranks > 1 && t->run.allreduce_ref_s > 0.0 &&
        t->epoch_steps > 0) {
        double hidden = 1.0 - s->median[PH_ALLREDUCE] / t->epoch_steps / t->run.allreduce_ref_s;
        rec.allreduce_hidden = hidden < 0.0 ? 0.0 : hidden > 1.0 ? 1.0 : hidden;
    }
    if (!t->opt.quiet) report_epoch(&rec);
    if (t->metrics) metrics_written_(t, metrics_epoch(t->metrics, &rec));
}

static int eval_only_(nn_trainer *t)
{
    int correct = 0;
    double loss = 0.0;
    trainer_evaluate(t, &correct, &loss);
    nn_eval_record rec = {.checkpoint = t->opt.resume_path, .epoch = t->start_epoch, .step = t->start_step,
                          .correct = correct, .test_total = t->test.count, .test_loss = loss / t->test.count};
    if (t->rank == 0 && !t->opt.quiet) report_eval(&rec);
    if (t->metrics) metrics_written_(t, metrics_eval(t->metrics, &t->run, &rec));
    return metrics_agree_(t);
}

/* A step ended the epoch early: say why, checkpoint a stop; returns the exit status. */
static int end_early_(nn_trainer *t, step_outcome out, int epoch, int step, const char **final_status)
{
    const nn_options *o = &t->opt;
    if (out == STEP_DIVERGED) {
        if (t->rank == 0)
            fprintf(stderr,
                    "nnmpi: error: training diverged at epoch %d step %d (global step %ld): the loss or the "
                    "weights became NaN or Inf; try a smaller --lr. The last checkpoint was left as it was.\n",
                    epoch + 1, step, t->global_step - 1);
        *final_status = "diverged";
        return NN_EXIT_DIVERGED;
    }
    *final_status = "stopped";
    if (!o->checkpoint_path) {
        if (t->rank == 0)
            fprintf(stderr, "nnmpi: error: Stopping on a signal after epoch %d step %d (global step %ld) with no "
                            "--checkpoint given: nothing was saved\n", epoch + 1, step + 1, t->global_step);
        return NN_EXIT_STOPPED_UNSAVED;
    }
    if (t->rank == 0 && !o->quiet)
        printf("Stopping on a signal after epoch %d step %d (global step %ld); writing the checkpoint\n", epoch + 1,
               step + 1, t->global_step);
    int status = write_checkpoint_(t, epoch, step + 1);
    return status == NN_EXIT_OK ? NN_EXIT_STOPPED : status;
}

/* The test (and validation) scores of the weights as they are; collective. */
static void evaluate_(nn_trainer *t, nn_scores *sc)
{
    double t0 = MPI_Wtime();
    memset(sc, 0, sizeof *sc);
    watchdog_beat(&t->watchdog, t->global_step, "evaluating (its sum waits for every rank)");
    trainer_evaluate(t, &sc->correct, &sc->test_loss);
    if (t->val.count > 0) evaluate_set_(t, &t->val, &sc->val_correct, &sc->val_loss);
    t->timers.sec[PH_EVAL] += MPI_Wtime() - t0;
}

/* After epoch `epoch`: the best validation accuracy so far, and whether a
 * stopping rule ends the run here (its reason, else NULL). Every rank sees
 * the same allreduced scores, so every rank decides the same. */
static const char *judge_(nn_trainer *t, int epoch, const nn_scores *sc, int *improved, const char **final_status)
{
    const nn_options *o = &t->opt;
    double val_accuracy = t->val.count ? (double)sc->val_correct / t->val.count : 0.0;
    double accuracy = t->val.count ? val_accuracy : (double)sc->correct / t->test.count;
    *improved = t->val.count > 0 && val_accuracy > t->best_accuracy;
    if (*improved) t->best_accuracy = val_accuracy, t->best_epoch = epoch + 1, t->since_best = 0;
    else if (t->val.count > 0) t->since_best++;
    if (o->target_accuracy > 0 && accuracy >= o->target_accuracy) {
        *final_status = "target-reached";
        return t->val.count ? "the validation accuracy reached --target-accuracy" : "the test accuracy reached --target-accuracy";
    }
    if (o->early_stop > 0 && t->since_best >= o->early_stop) {
        *final_status = "early-stopped";
        return "no better validation accuracy in --early-stop epochs";
    }
    return NULL;
}

/* ---------- progress inside an epoch (--progress, rank 0) ---------- */

/* A terminal's line is redrawn every second, or every --progress seconds if that is sooner. */
static double progress_interval_(const nn_progress *p)
{
    return p->terminal && p->every_s > 1.0 ? 1.0 : p->every_s;
}

/* stdout is a terminal a person watches: a tty with a window size. Open MPI
 * gives every rank a pseudo-terminal even when mpirun's own output goes to a
 * file or a pipe; that one has no size (0 columns), a real terminal's does
 * (mpirun passes its size on). */
static int stdout_is_terminal_(void)
{
    struct winsize size;
    memset(&size, 0, sizeof size);
    return isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0;
}

static void progress_begin_(nn_trainer *t, int first_step)
{
    nn_progress *p = &t->progress;
    p->every_s = t->rank == 0 && !t->opt.quiet ? t->opt.progress : 0.0;
    if (p->every_s <= 0.0) return;
    p->terminal = stdout_is_terminal_();
    p->started = report_clock_s();
    p->next = p->started + progress_interval_(p);
    p->first_step = first_step;
    p->drawn = 0;
}

/* After each step: one clock read; a line when the interval has passed. */
static void progress_step_(nn_trainer *t, int epoch)
{
    nn_progress *p = &t->progress;
    if (p->every_s <= 0.0) return;
    double now = report_clock_s();
    if (now < p->next) return;
    double elapsed = now - p->started;
    long done = t->epoch_steps, left = t->steps_per_epoch - p->first_step - done;
    nn_progress_record rec = {.epoch = epoch + 1, .step = p->first_step + done, .steps = t->steps_per_epoch,
                              .samples_per_s = elapsed > 0.0 ? t->epoch_samples / elapsed : 0.0,
                              .elapsed_s = elapsed, .eta_s = done > 0 ? elapsed * left / done : 0.0};
    report_progress(&rec, p->terminal);
    p->drawn = p->terminal;
    p->next = now + progress_interval_(p);
}

/* The epoch's steps are over: a terminal's progress line is erased before the epoch line (or an error). */
static void progress_end_(nn_trainer *t)
{
    if (t->progress.drawn) report_progress_clear();
    t->progress.drawn = 0;
}

/* One epoch: its steps, evaluation, the stopping rules, checkpoints and
 * report. Returns the exit status so far; *epochs_done becomes epoch + 1
 * once its steps are all taken; *reason is set when a stopping rule ends
 * the run after this epoch. */
static int run_epoch_(nn_trainer *t, int epoch, int *epochs_done, const char **final_status, const char **reason)
{
    const nn_options *o = &t->opt;
    timers_reset(&t->timers);
    t->epoch_loss = 0.0;
    t->epoch_samples = t->epoch_steps = 0;
    trainer_begin_epoch(t, epoch);
    int first_step = epoch == t->start_epoch ? t->start_step : 0;
    progress_begin_(t, first_step);
    double t0 = MPI_Wtime();
    for (int step = first_step; step < t->steps_per_epoch; step++) {
        step_outcome out = trainer_step(t, step);
        if (out != STEP_OK) {
            progress_end_(t);
            return end_early_(t, out, epoch, step, final_status);
        }
        progress_step_(t, epoch);
    }
    progress_end_(t);
    t->timers.sec[PH_EPOCH] = MPI_Wtime() - t0;
    *epochs_done = epoch + 1;
    nn_scores sc;
    evaluate_(t, &sc);
    int improved = 0, status = NN_EXIT_OK;
    *reason = judge_(t, epoch, &sc, &improved, final_status);
    if (improved && o->keep_best_path) status = write_checkpoint_to_(t, o->keep_best_path, epoch + 1, 0);
    int last = epoch + 1 == o->epochs || *reason != NULL;
    if (!status && o->checkpoint_path && ((epoch + 1) % o->checkpoint_every == 0 || last))
        status = write_checkpoint_(t, epoch + 1, 0);
    report_epoch_(t, epoch, &sc);
    int metrics_status = metrics_agree_(t);
    return status ? status : metrics_status;
}

int trainer_run(nn_trainer *t)
{
    const nn_options *o = &t->opt;
    double start = MPI_Wtime();
    if (t->rank == 0 && !o->quiet) report_startup(&t->run);
    if (o->eval_only) return eval_only_(t);
    if (o->predict_path) return predict_write(&t->net, &t->test, o->output_path, o->overwrite, t->comm);
    if (o->resume_path && t->start_epoch >= o->epochs) {
        if (t->rank == 0)
            printf("Nothing to train: checkpoint %s is at epoch %d step %d, already at --epochs %d (raise --epochs to "
                   "train further)\n", o->resume_path, t->start_epoch, t->start_step, o->epochs);
        return NN_EXIT_OK;
    }
    if (t->metrics) metrics_written_(t, metrics_header(t->metrics, &t->run));
    watchdog_start(&t->watchdog, t->opt.step_timeout, t->rank);

    const char *final_status = "completed", *reason = NULL;
    int status = metrics_agree_(t), done = t->start_epoch;
    /* The initial weights are a checkpoint too (epoch 0), unless we resumed from one. */
    if (o->checkpoint_path && !o->resume_path) status = write_checkpoint_(t, 0, 0);
    for (int epoch = t->start_epoch; status == NN_EXIT_OK && !reason && epoch < o->epochs; epoch++)
        status = run_epoch_(t, epoch, &done, &final_status, &reason);
    if (status == NN_EXIT_OK && trainer_replica_check(t) != 0) status = NN_EXIT_ERROR;
    watchdog_stop(&t->watchdog);

    nn_final_record fin = {.status = status == NN_EXIT_ERROR ? "error" : final_status, .reason = reason,
                           .train_s = t->train_s, .epochs_done = status == NN_EXIT_OK && !reason ? o->epochs : done};
    peak_rss_(t, fin.rss_mb);
    memstat_pss(t->comm, fin.pss_mb, &fin.node_pss_mb);
    fin.total_s = MPI_Wtime() - start;
    if (t->rank == 0) {
        if (!o->quiet && status == NN_EXIT_OK) report_final(&fin);
        if (t->metrics) metrics_written_(t, metrics_final(t->metrics, &fin));
    }
    int metrics_status = metrics_agree_(t);
    return status ? status : metrics_status;
}
