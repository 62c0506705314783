/*
 * test_parallel.c (run under mpiexec -n 1..4): data parallelism against a
 * single-process reference computed in the same process on MPI_COMM_SELF.
 *   - the summed gradient of a step and the weights after an epoch equal the
 *     1-process result up to float rounding (tolerances below);
 *   - all ranks hold bitwise-identical weights after training;
 *   - every training index is used exactly once per epoch;
 *   - --reproducible gives bitwise the 1-process weights at any rank count
 *     and for every tree shape (chunk sizes 1 to 10),
 *     the float path's gradient to rounding, and the same bits with its
 *     batched products forced back to chunk-sized calls;
 *   - the overlapped allreduce gives bitwise the blocking path's weights;
 *   - all of the first and the last with --allreduce ring as well.
 * The training set (97 images, batch 10) is chosen so that neither the rank
 * count divides the batch nor the batch the training size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <hdf5.h>
#include <mpi.h>

#include "slice.h"
#include "test_util.h"
#include "train.h"

static int rank, nranks;

static void base_options(nn_options *opt)
{
    options_defaults(opt);
    opt->data_dir = test_mnist_dir();
    opt->train_size = 97;
    opt->test_size = 50;
    opt->epochs = 1;
}

/* base_options, with shm exchanging factors */
static void factor_options(nn_options *opt)
{
    base_options(opt);
    opt->allreduce = REDUCE_SHM, opt->exchange = EXCHANGE_FACTORS;
}

static void setup_or_fail(nn_trainer *t, const nn_options *opt, MPI_Comm comm)
{
    if (trainer_setup(t, opt, comm) != 0) fail_msg("trainer_setup failed (is MNIST in %s?)", opt->data_dir);
}

static void run_epoch(nn_trainer *t, int epoch)
{
    trainer_begin_epoch(t, epoch);
    for (int s = 0; s < t->steps_per_epoch; s++) assert_int_equal(trainer_step(t, s), STEP_OK);
}

static double max_abs(const float *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

/* Epoch 0, step 0 on both trainers: the summed gradients and losses agree.
 * The same per-sample gradients summed in another order: float rounding
 * bounds the difference by a few ulps of the largest entry. Where the node's
 * ranks share the weights (shm) each holds the sums of its part of the
 * parameters only (reducer_update_parts): the parts together cover them all. */
static void first_step_sums_agree(nn_trainer *t, nn_trainer *ref, const char *ref_name)
{
    trainer_begin_epoch(t, 0), trainer_begin_epoch(ref, 0);
    assert_int_equal(trainer_step(t, 0), STEP_OK);
    assert_int_equal(trainer_step(ref, 0), STEP_OK);
    float loss = ref->reducer.ctrl_sums[NN_CTRL_LOSS];
    assert_true(fabs(t->reducer.ctrl_sums[NN_CTRL_LOSS] - loss) <= 1e-5 * fabs(loss));
    /* the update from factors stores no gradient: the weights are compared */
    if (t->path == &nn_factor_path || t->path == &nn_units_path || t->path == &nn_inputs_path) return;
    size_t n = ref->net.n_params, part = 0, total = 0;
    const nn_range *parts;
    int n_parts = reducer_update_parts(&t->reducer, &parts);
    const float *grad = reducer_grad(&t->reducer), *ref_grad = reducer_grad(&ref->reducer);
    double scale = max_abs(ref_grad, n);
    assert_true(scale > 0);
    unsigned char *mine = calloc(n, 1), *covered = calloc(n, 1);
    for (int p = 0; p < n_parts; p++) {
        assert_true(parts[p].lo <= parts[p].hi && parts[p].hi <= n);
        for (size_t i = parts[p].lo; i < parts[p].hi; i++) {
            if (fabs(grad[i] - ref_grad[i]) > 1e-5 * scale)
                fail_msg("rank %d: grad[%zu] %g vs %s %g", rank, i, grad[i], ref_name, ref_grad[i]);
            assert_int_equal(mine[i], 0); /* no parameter twice in one rank's parts */
            mine[i] = 1;
        }
        part += parts[p].hi - parts[p].lo;
    }
    MPI_Allreduce(&part, &total, 1, MPI_UNSIGNED_LONG, MPI_SUM, MPI_COMM_WORLD);
    assert_true(total == n || total == n * (size_t)nranks); /* split once over the node, or whole on every rank */
    MPI_Allreduce(mine, covered, (int)n, MPI_UNSIGNED_CHAR, MPI_MAX, MPI_COMM_WORLD);
    for (size_t i = 0; i < n; i++) assert_int_equal(covered[i], 1); /* and every parameter by some rank */
    free(mine), free(covered);
}

static void weights_match_one_process_opt_(const nn_options *given)
{
    nn_options opt = *given, ref_opt = *given;
    nn_trainer world, self;
    ref_opt.exchange = EXCHANGE_GRADIENTS; /* the reference: net_backward's gradient, then the update */
    setup_or_fail(&world, &opt, MPI_COMM_WORLD);
    setup_or_fail(&self, &ref_opt, MPI_COMM_SELF);
    /* shm: the node's ranks share one copy of the weights and split the update; or exchange factors */
    if (opt.allreduce == REDUCE_SHM && nranks > 1 && opt.exchange == EXCHANGE_GRADIENTS)
        assert_true(world.reducer.shard && world.net.params_shared && !world.reducer.factors);
    /* factors: each rank its own weights for small batches, layer 0 split by its inputs where it holds half the
     * weights or more and the update is plain; larger batches share them and split the update by units */
    if (opt.allreduce == REDUCE_SHM && nranks > 1 && opt.exchange == EXCHANGE_FACTORS) {
        int small = opt.batch <= NN_FACTOR_REPLICATE_BATCH;
        int inputs = small && opt.weight_decay == 0 && !opt.nesterov &&
                     2 * (size_t)world.net.sizes[0] * (size_t)world.net.sizes[1] >= world.net.n_params;
        assert_true(world.reducer.factors && world.reducer.shard == !small &&
                    world.net.params_shared == world.reducer.shard && world.reducer.factor_inputs == inputs &&
                    world.path == (!small ? &nn_units_path : inputs ? &nn_inputs_path : &nn_factor_path));
    }
    first_step_sums_agree(&world, &self, "one process");
    reducer_whole_inputs(&world.reducer, &world.net); /* the inputs path: the other ranks' columns of W0 */
    size_t n = world.net.n_params;
    for (size_t i = 0; i < n; i++) assert_true(fabs(world.net.params[i] - self.net.params[i]) <= 1e-5 * (1 + fabs(self.net.params[i])));
    /* The rest of the epoch, including the short last batch of 7. */
    for (int s = 1; s < world.steps_per_epoch; s++) {
        assert_int_equal(trainer_step(&world, s), STEP_OK);
        assert_int_equal(trainer_step(&self, s), STEP_OK);
    }
    reducer_whole_inputs(&world.reducer, &world.net);
    /* 10 steps of lr 3 (or up to 33 of lr 1): rounding differences grow but stay far below 1e-3. */
    for (size_t i = 0; i < n; i++)
        if (fabs(world.net.params[i] - self.net.params[i]) > 1e-3 * (1 + fabs(self.net.params[i])))
            fail_msg("rank %d: weight %zu %g vs one process %g", rank, i, world.net.params[i], self.net.params[i]);

    /* All ranks hold bitwise-identical weights: compare with rank 0's copy. */
    float *copy = malloc(sizeof(float) * n);
    memcpy(copy, world.net.params, sizeof(float) * n);
    MPI_Bcast(copy, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
    int same = memcmp(copy, world.net.params, sizeof(float) * n) == 0, all_same = 0;
    MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    assert_true(all_same);
    assert_int_equal(trainer_replica_check(&world), 0);
    free(copy);
    trainer_free(&world);
    trainer_free(&self);
}

static void weights_match_one_process_(nn_reduce_kind method)
{
    nn_options opt;
    base_options(&opt);
    opt.allreduce = method;
    if (method == REDUCE_SHM) opt.exchange = EXCHANGE_GRADIENTS; /* factors: their own tests below */
    weights_match_one_process_opt_(&opt);
}

static void gradient_and_weights_match_one_process(void **state)
{
    (void)state;
    weights_match_one_process_(REDUCE_MPI);
}

/* The same with nnmpi's ring instead of MPI_Allreduce (an independent sum:
 * the one-process reference reduces nothing). */
static void ring_gradient_and_weights_match_one_process(void **state)
{
    (void)state;
    weights_match_one_process_(REDUCE_RING);
}

/* The same through the node's shared-memory window (every rank of this test
 * is on one node): each part summed by one rank, which also updates that
 * part of the node's one copy of the weights. */
static void shm_gradient_and_weights_match_one_process(void **state)
{
    (void)state;
    weights_match_one_process_(REDUCE_SHM);
}

/* --exchange factors (every rank of this test is on one node): each rank
 * writes its rows' activations and deltas into the node's matrices of the
 * batch, and every rank updates its own copy of the weights from all the
 * rows, with the plain update straight from the factors (no gradient
 * stored): the weights after a step and an epoch match one process, and
 * every rank holds the same bits. */
static void shm_factors_match_one_process(void **state)
{
    (void)state;
    nn_options opt;
    factor_options(&opt);
    weights_match_one_process_opt_(&opt);
}

/* The other updates from factors: momentum (the product accumulated into the
 * velocity), weight decay with Nesterov (the gradient stored, then the
 * decayed update), the same with dropout, and batches of 3 rows, fewer than
 * ranks at -n 4 (a rank with no rows writes none, and still updates from
 * the others'). */
static void shm_factors_other_updates_match_one_process(void **state)
{
    (void)state;
    nn_options opt;
    factor_options(&opt);
    opt.momentum = 0.9;
    weights_match_one_process_opt_(&opt);
    opt.weight_decay = 1e-3, opt.nesterov = 1;
    weights_match_one_process_opt_(&opt);
    opt.dropout = 0.3; /* the masks follow the sample: the rows written are the ones one process drops */
    weights_match_one_process_opt_(&opt);
    factor_options(&opt);
    opt.batch = 3, opt.lr = 1.0;
    weights_match_one_process_opt_(&opt);
}

/* Small batches of a net whose layer 0 holds most weights, plain update:
 * layer 0 split by its inputs (the inputs path; 784 inputs in blocks of 16
 * split unevenly at -n 3 and 4), each rank converting and multiplying its
 * columns of every row, the node summing the shares, each rank updating its
 * columns of W0: with momentum and dropout, batches of 3 (fewer rows than
 * ranks at -n 4), two hidden layers with relu and softmax, and inputs too
 * few for every rank to have a block of columns (synthetic data, 40 inputs:
 * 3 blocks of 16, none for one rank of four). */
static void shm_inputs_factors_match_one_process(void **state)
{
    (void)state;
    nn_options opt;
    factor_options(&opt);
    opt.momentum = 0.9, opt.dropout = 0.3;
    weights_match_one_process_opt_(&opt);
    factor_options(&opt);
    opt.batch = 3, opt.lr = 1.0;
    weights_match_one_process_opt_(&opt);
    factor_options(&opt);
    opt.batch = 7, opt.lr = 0.5, opt.activation = ACT_RELU, opt.loss = LOSS_XENT, opt.init = INIT_HE;
    opt.layers_given = 1, opt.n_sizes = 4, opt.sizes[0] = 784, opt.sizes[1] = 37, opt.sizes[2] = 23, opt.sizes[3] = 10;
    weights_match_one_process_opt_(&opt);
    opt.n_sizes = 3, opt.sizes[1] = 256, opt.sizes[2] = 10, opt.dropout = 0.3; /* by unit (net.h) */
    assert_true(net_by_unit_suits(opt.sizes, opt.n_sizes, NULL));
    weights_match_one_process_opt_(&opt);
    factor_options(&opt);
    nn_err err = {0};
    opt.data_dir = "synthetic:40,5,97,50", opt.synthetic = 1, opt.lr = 0.5;
    assert_int_equal(synth_parse("40,5,97,50", &opt.synth, &err), 0);
    opt.layers_given = 1, opt.n_sizes = 3, opt.sizes[0] = 40, opt.sizes[1] = 30, opt.sizes[2] = 5;
    weights_match_one_process_opt_(&opt);
}

/* Batches over NN_FACTOR_REPLICATE_BATCH rows: the node's ranks share the
 * weights, and each computes its units of every hidden layer for all the
 * batch's rows and updates them (the units path; at -n 3 and 4 the layers
 * split unevenly) from all the batch's rows: plain, momentum with dropout,
 * and the decayed update through the stored gradient of its units; then a
 * net of two hidden layers (a barrier between the backward layers, the
 * columns of W a layer's deltas need) with tanh and dropout, and with relu,
 * softmax and cross-entropy. */
static void shm_sharded_factors_match_one_process(void **state)
{
    (void)state;
    nn_options opt;
    factor_options(&opt);
    opt.batch = 20, opt.lr = 1.0; /* 97 images: 4 batches of 20, then 17 */
    weights_match_one_process_opt_(&opt);
    opt.momentum = 0.9, opt.dropout = 0.3;
    weights_match_one_process_opt_(&opt);
    opt.weight_decay = 1e-3, opt.nesterov = 1, opt.dropout = 0;
    weights_match_one_process_opt_(&opt);
    factor_options(&opt);
    opt.batch = 33, opt.lr = 0.5, opt.momentum = 0.5, opt.dropout = 0.2, opt.activation = ACT_TANH;
    opt.layers_given = 1, opt.n_sizes = 4, opt.sizes[0] = 784, opt.sizes[1] = 37, opt.sizes[2] = 23, opt.sizes[3] = 10;
    weights_match_one_process_opt_(&opt);
    opt.activation = ACT_RELU, opt.loss = LOSS_XENT, opt.init = INIT_HE, opt.dropout = 0;
    weights_match_one_process_opt_(&opt);
    opt.n_sizes = 3, opt.sizes[1] = 256, opt.sizes[2] = 10, opt.dropout = 0.2; /* by unit (net.h) */
    assert_true(net_by_unit_suits(opt.sizes, opt.n_sizes, NULL));
    weights_match_one_process_opt_(&opt);
}

/* --allreduce auto: whichever method it measured faster, every rank took the
 * same one (never auto itself), and the weights match one process. */
static void auto_gradient_and_weights_match_one_process(void **state)
{
    (void)state;
    weights_match_one_process_(REDUCE_AUTO);
    nn_options opt;
    base_options(&opt);
    nn_trainer t;
    setup_or_fail(&t, &opt, MPI_COMM_WORLD);
    int kind = (int)t.reducer.kind, lo = 0, hi = 0;
    MPI_Allreduce(&kind, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&kind, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    assert_int_equal(lo, hi);
    assert_true(kind == REDUCE_MPI || kind == REDUCE_SHM);
    if (nranks == 1) assert_int_equal(kind, REDUCE_MPI);
    /* batch 10 of the classic net on one node: factors, so shm without a timing */
    if (nranks > 1) assert_true(kind == REDUCE_SHM && t.reducer.factors);
    trainer_free(&t);
}

/* --allreduce shm with overlap on sums at the end, as blocking does: the same bits. */
static void shm_overlap_is_bitwise_blocking(void **state)
{
    (void)state;
    nn_options opt;
    base_options(&opt);
    opt.layers_given = 1, opt.n_sizes = 4, opt.sizes[0] = 784, opt.sizes[1] = 64, opt.sizes[2] = 256, opt.sizes[3] = 10;
    opt.allreduce = REDUCE_SHM;
    nn_trainer on, off;
    opt.overlap = 1;
    setup_or_fail(&on, &opt, MPI_COMM_WORLD);
    opt.overlap = 0;
    setup_or_fail(&off, &opt, MPI_COMM_WORLD);
    if (nranks > 1) assert_int_equal(on.reducer.kind, REDUCE_SHM);
    run_epoch(&on, 0), run_epoch(&off, 0);
    assert_memory_equal(on.net.params, off.net.params, sizeof(float) * on.net.n_params);
    trainer_free(&on);
    trainer_free(&off);
}

static void every_index_used_once_per_epoch(void **state)
{
    (void)state;
    nn_options opt;
    base_options(&opt);
    nn_trainer t;
    setup_or_fail(&t, &opt, MPI_COMM_WORLD);
    trainer_begin_epoch(&t, 2);
    int n = t.train.count, *used = calloc((size_t)n, sizeof(int));
    for (int s = 0; s < t.steps_per_epoch; s++) {
        int lo, hi, rows = slice_batch_rows(n, opt.batch, s);
        slice_part(rows, rank, nranks, &lo, &hi);
        for (int r = lo; r < hi; r++) used[t.perm[s * opt.batch + r]]++;
    }
    MPI_Allreduce(MPI_IN_PLACE, used, n, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    for (int i = 0; i < n; i++)
        if (used[i] != 1) fail_msg("index %d used %d times over the epoch with %d ranks", i, used[i], nranks);
    /* and the order is the same on every rank */
    int *perm0 = malloc(sizeof(int) * (size_t)n);
    memcpy(perm0, t.perm, sizeof(int) * (size_t)n);
    MPI_Bcast(perm0, n, MPI_INT, 0, MPI_COMM_WORLD);
    assert_memory_equal(perm0, t.perm, sizeof(int) * (size_t)n);
    free(perm0);
    free(used);
    trainer_free(&t);
}

static void reproducible_is_bitwise_one_process(void **state)
{
    (void)state;
    nn_options opt;
    base_options(&opt);
    opt.reproducible = 1;
    opt.chunk = 3; /* chunks of 3,3,3,1 rows; the last batch 3,3,1 */
    opt.momentum = 0.5;
    nn_trainer world, self;
    setup_or_fail(&world, &opt, MPI_COMM_WORLD);
    setup_or_fail(&self, &opt, MPI_COMM_SELF);
    for (int e = 0; e < 2; e++) run_epoch(&world, e), run_epoch(&self, e);
    assert_memory_equal(world.net.params, self.net.params, sizeof(float) * world.net.n_params);
    assert_memory_equal(world.net.velocity, self.net.velocity, sizeof(float) * world.net.n_params);
    trainer_free(&world);
    trainer_free(&self);
}

/* Every tree shape gives the one-process bits: chunk sizes from 1 (10 chunks
 * a step, a tree of 16 leaves with 6 absent, 2-3 pieces per rank at -n 3) to
 * 10 (one chunk, the other ranks idle); the epoch's last batch of 7 rows
 * makes a second shape. Checks that the pieces of all ranks cover every
 * chunk once, and that some rank held more than one piece. */
static void reproducible_every_tree_is_bitwise(void **state)
{
    (void)state;
    const int chunks[] = {1, 2, 4, 7, 10};
    int most_pieces = 0;
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        nn_options opt;
        base_options(&opt);
        opt.reproducible = 1, opt.chunk = chunks[c];
        nn_trainer world, self;
        setup_or_fail(&world, &opt, MPI_COMM_WORLD);
        setup_or_fail(&self, &opt, MPI_COMM_SELF);
        trainer_begin_epoch(&world, 0), trainer_begin_epoch(&self, 0);
        for (int s = 0; s < world.steps_per_epoch; s++) {
            assert_int_equal(trainer_step(&world, s), STEP_OK);
            assert_int_equal(trainer_step(&self, s), STEP_OK);
            int covered = 0;
            for (int k = 0; k < world.repro.n_pieces; k++) {
                const nn_piece *pc = &world.repro.piece[k];
                covered += (pc->hi < world.repro.chunks ? pc->hi : world.repro.chunks) - pc->lo;
            }
            MPI_Allreduce(MPI_IN_PLACE, &covered, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
            assert_int_equal(covered, world.repro.chunks);
            most_pieces = world.repro.n_pieces > most_pieces ? world.repro.n_pieces : most_pieces;
        }
        if (memcmp(world.net.params, self.net.params, sizeof(float) * world.net.n_params) != 0)
            fail_msg("%d ranks, --chunk %d: weights differ from the one-process run", nranks, chunks[c]);
        trainer_free(&world);
        trainer_free(&self);
    }
    MPI_Allreduce(MPI_IN_PLACE, &most_pieces, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (nranks == 3 || nranks == 4) assert_true(most_pieces > 1);
}

/* The tree path computes the same gradient as the float path (to float
 * rounding): its blockwise, chunkwise weight gradients sum what net_backward
 * sums, which test_grad checks against a per-sample loop. A hidden layer of
 * 100 units makes layer 0's gradient several blocks of output units. */
static void reproducible_gradient_matches_float_path(void **state)
{
    (void)state;
    nn_options opt;
    base_options(&opt);
    opt.layers_given = 1, opt.n_sizes = 3, opt.sizes[0] = 784, opt.sizes[1] = 100, opt.sizes[2] = 10;
    nn_trainer repro, plain;
    opt.reproducible = 1, opt.chunk = 3;
    setup_or_fail(&repro, &opt, MPI_COMM_WORLD);
    opt.reproducible = 0, opt.chunk = 0, opt.exchange = EXCHANGE_GRADIENTS; /* the reference stores its gradient */
    setup_or_fail(&plain, &opt, MPI_COMM_SELF);
    assert_true(NN_REPRO_BLOCK_ELEMS / 784 < 100); /* the blocks this test means to cover */
    first_step_sums_agree(&repro, &plain, "the float path");
    trainer_free(&repro);
    trainer_free(&plain);
}

/* The products that start-up found row-independent run over all the rank's
 * rows in one call; forced back to chunk-sized calls they give the same bits. */
static void reproducible_batched_products_are_bitwise_per_chunk(void **state)
{
    (void)state;
    nn_options opt;
    base_options(&opt);
    opt.reproducible = 1, opt.chunk = 2; /* chunks 2,2,2,2,2; the last batch 2,2,2,1 */
    nn_trainer batched, per_chunk;
    setup_or_fail(&batched, &opt, MPI_COMM_WORLD);
    setup_or_fail(&per_chunk, &opt, MPI_COMM_WORLD);
    per_chunk.repro.forward_batched = per_chunk.repro.delta_batched = 0;
    if (rank == 0)
        print_message("%d ranks: batched products: forward layers 0x%x, delta layers 0x%x\n", nranks,
                      batched.repro.forward_batched, batched.repro.delta_batched);
    run_epoch(&batched, 0), run_epoch(&per_chunk, 0);
    assert_memory_equal(batched.net.params, per_chunk.net.params, sizeof(float) * batched.net.n_params);
    trainer_free(&batched);
    trainer_free(&per_chunk);
}

/* Overlapped and blocking reductions sum the same numbers, in the same order:
 * with MPI's collectives only at two ranks, where a + b is the only possible
 * order (with 3+ the order is MPI's choice); with the ring at any rank count,
 * since its segments slice the whole buffer whichever layer is reduced. */
static void overlap_is_bitwise_blocking_(int ring)
{
    nn_options opt;
    base_options(&opt);
    /* layer 2 (2570 gradients) is fused with layer 1 (16640), layer 0 is its own group */
    opt.layers_given = 1, opt.n_sizes = 4, opt.sizes[0] = 784, opt.sizes[1] = 64, opt.sizes[2] = 256, opt.sizes[3] = 10;
    opt.allreduce = ring ? REDUCE_RING : REDUCE_MPI;
    nn_trainer on, off;
    opt.overlap = 1;
    setup_or_fail(&on, &opt, MPI_COMM_WORLD);
    opt.overlap = 0;
    setup_or_fail(&off, &opt, MPI_COMM_WORLD);
    assert_true(on.reducer.group_hi[2] == 0 && on.reducer.group_hi[1] > 0 && on.reducer.group_hi[0] > 0);
    run_epoch(&on, 0), run_epoch(&off, 0);
    assert_memory_equal(on.net.params, off.net.params, sizeof(float) * on.net.n_params);
    trainer_free(&on);
    trainer_free(&off);
}

static void overlap_is_bitwise_blocking(void **state)
{
    (void)state;
    if (nranks > 2) skip();
    overlap_is_bitwise_blocking_(0);
}

static void ring_overlap_is_bitwise_blocking(void **state)
{
    (void)state;
    overlap_is_bitwise_blocking_(1);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gradient_and_weights_match_one_process),
        cmocka_unit_test(ring_gradient_and_weights_match_one_process),
        cmocka_unit_test(shm_gradient_and_weights_match_one_process),
        cmocka_unit_test(shm_overlap_is_bitwise_blocking),
        cmocka_unit_test(shm_factors_match_one_process),
        cmocka_unit_test(shm_factors_other_updates_match_one_process),
        cmocka_unit_test(shm_sharded_factors_match_one_process),
        cmocka_unit_test(shm_inputs_factors_match_one_process),
        cmocka_unit_test(auto_gradient_and_weights_match_one_process),
        cmocka_unit_test(every_index_used_once_per_epoch),
        cmocka_unit_test(reproducible_is_bitwise_one_process),
        cmocka_unit_test(reproducible_every_tree_is_bitwise),
        cmocka_unit_test(reproducible_gradient_matches_float_path),
        cmocka_unit_test(reproducible_batched_products_are_bitwise_per_chunk),
        cmocka_unit_test(overlap_is_bitwise_blocking),
        cmocka_unit_test(ring_overlap_is_bitwise_blocking),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    /* A failure on any rank fails the test on every rank (and so the mpiexec). */
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any ? 1 : 0;
}
