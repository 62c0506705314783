/*
 * test_pieces.c (run under mpiexec -n 1..4): the paths that only gradients of
 * more than 2^31 - 1 floats take, run with a piece of 1000 elements instead
 * (nn_mpi_piece_max), so they run in CI's memory:
 *   - the helpers of mpi_pieces.h against sums and copies computed here by
 *     arithmetic (values whose float sums are exact in any order);
 *   - one epoch of every reduction path (MPI blocking and overlapped, the
 *     ring blocking and overlapped, shm, the --reproducible tree) in pieces
 *     against the same epoch unsplit: bitwise where nnmpi fixes the order
 *     (ring, shm, tree, and MPI at 1-2 ranks), to rounding for MPI's own
 *     algorithms at 3-4 ranks (which one runs depends on the message size);
 *   - a --resume whose weights reach the other ranks in pieces;
 *   - (the memory plan) the tree's buffers counted as repro_create makes them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>

#include "mpi_pieces.h"
#include "test_util.h"
#include "train.h"

#define PIECE 1000
static int rank, nranks;

static void piece_counts_follow_the_maximum(void **state)
{
    (void)state;
    nn_mpi_piece_max = PIECE;
    assert_int_equal(nn_pieces_count(0), 0);
    assert_int_equal(nn_pieces_count(1000), 1);
    assert_int_equal(nn_pieces_count(1001), 2);
    nn_mpi_piece_max = 0; /* clamped to 1 */
    assert_int_equal(nn_pieces_count(5), 5);
    nn_mpi_piece_max = SIZE_MAX; /* clamped to INT_MAX */
    assert_int_equal(nn_pieces_max(), INT_MAX);
    assert_int_equal(nn_pieces_count((size_t)INT_MAX * 2 + 1), 3);
    nn_mpi_piece_max = INT_MAX;
}

/* Rank r's i-th value: small whole numbers, so every summation order gives the same float. */
static float value_(int r, size_t i) { return (float)((r * 7 + (int)(i % 1009)) % 13); }

static void helpers_match_arithmetic(void **state)
{
    (void)state;
    const size_t n = 10007; /* 11 pieces, the last of 7 */
    float *buf = malloc(sizeof(float) * n);
    double *d = malloc(sizeof(double) * n);
    nn_mpi_piece_max = PIECE;
    for (size_t i = 0; i < n; i++) buf[i] = value_(rank, i), d[i] = rank == nranks - 1 ? 0.5 * (double)i : -1.0;
    nn_allreduce_pieces(buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (size_t i = 0; i < n; i++) {
        float want = 0.0f;
        for (int r = 0; r < nranks; r++) want += value_(r, i);
        if (buf[i] != want) fail_msg("rank %d: sum[%zu] = %g, want %g", rank, i, buf[i], want);
    }
    nn_bcast_pieces(d, n, MPI_DOUBLE, nranks - 1, MPI_COMM_WORLD);
    for (size_t i = 0; i < n; i++) assert_true(d[i] == 0.5 * (double)i);
    /* rank 0 and the last swap 2501 and 1999 floats (3 and 2 pieces), then send 2501 one way */
    int peer = rank == 0 ? nranks - 1 : 0, pair = nranks > 1 && (rank == 0 || rank == nranks - 1);
    size_t mine = rank == 0 ? 2501 : 1999, theirs = rank == 0 ? 1999 : 2501;
    for (size_t i = 0; i < n; i++) buf[i] = i < mine ? value_(rank, i) : -1.0f;
    if (pair) nn_sendrecv_pieces(buf, mine, buf + 5000, theirs, MPI_FLOAT, peer, 3, MPI_COMM_WORLD);
    for (size_t i = 0; pair && i < theirs; i++) assert_true(buf[5000 + i] == value_(peer, i));
    if (pair && rank == 0) nn_send_pieces(buf, 2501, MPI_FLOAT, peer, 4, MPI_COMM_WORLD);
    if (pair && rank != 0) nn_recv_pieces(buf + 5000, 2501, MPI_FLOAT, 0, 4, MPI_COMM_WORLD);
    for (size_t i = 0; pair && rank != 0 && i < 2501; i++) assert_true(buf[5000 + i] == value_(0, i));
    nn_mpi_piece_max = INT_MAX;
    free(buf);
    free(d);
}

static void base_options(nn_options *opt)
{
    options_defaults(opt);
    opt->data_dir = test_mnist_dir();
    opt->train_size = 97, opt->test_size = 50, opt->epochs = 1, opt->quiet = 1;
    /* gradient groups of 50240 (layer 0), 16640 + 2570 (layers 1 and 2): 51 and 20 pieces */
    opt->layers_given = 1, opt->n_sizes = 4, opt->sizes[0] = 784, opt->sizes[1] = 64, opt->sizes[2] = 256,
    opt->sizes[3] = 10;
}

/* One epoch of `opt` with pieces of `piece` floats; the trainer is left for the caller to compare and free. */
static void train_with_pieces_(nn_trainer *t, const nn_options *opt, size_t piece)
{
    nn_mpi_piece_max = piece;
    if (trainer_setup(t, opt, MPI_COMM_WORLD) != 0) fail_msg("trainer_setup failed (is MNIST in %s?)", opt->data_dir);
    trainer_begin_epoch(t, 0);
    for (int s = 0; s < t->steps_per_epoch; s++) assert_int_equal(trainer_step(t, s), STEP_OK);
    nn_mpi_piece_max = INT_MAX;
}

static void compare_(const nn_trainer *a, const nn_trainer *b, int bitwise, const char *what)
{
    for (size_t i = 0; i < a->net.n_params; i++) {
        float x = a->net.params[i], y = b->net.params[i];
        if (bitwise ? memcmp(&x, &y, sizeof x) != 0 : fabsf(x - y) > 1e-4f * (1.0f + fabsf(y)))
            fail_msg("%s at %d ranks: weight %zu is %.9g in pieces, %.9g whole", what, nranks, i, x, y);
    }
}

static void every_path_in_pieces_matches_whole(void **state)
{
    (void)state;
    static const struct { nn_reduce_kind kind; int overlap, reproducible; const char *name; } paths[] = {
        {REDUCE_MPI, 0, 0, "mpi"},   {REDUCE_MPI, 1, 0, "mpi overlapped"}, {REDUCE_RING, 0, 0, "ring"},
        {REDUCE_RING, 1, 0, "ring overlapped"}, {REDUCE_SHM, 0, 0, "shm"}, {REDUCE_MPI, 0, 1, "the tree"}};
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        nn_options opt;
        base_options(&opt);
        opt.allreduce = paths[p].kind, opt.overlap = paths[p].overlap, opt.reproducible = paths[p].reproducible;
        opt.chunk = opt.reproducible ? 2 : 0, opt.momentum = 0.5;
        nn_trainer pieces, whole;
        train_with_pieces_(&pieces, &opt, PIECE);
        train_with_pieces_(&whole, &opt, INT_MAX);
        if (paths[p].kind == REDUCE_MPI && paths[p].overlap && nranks > 1)
            assert_int_equal(pieces.reducer.n_req, 51 + 20); /* the groups did go in pieces */
        int bitwise = paths[p].kind != REDUCE_MPI || paths[p].reproducible || nranks <= 2;
        compare_(&pieces, &whole, bitwise, paths[p].name);
        trainer_free(&pieces);
        trainer_free(&whole);
    }
}

/* The memory plan's count of the tree's gradient-sized buffers
 * (repro_max_pieces, arithmetic only) is what repro_create allocates, for
 * every chunk size of the test's batches of 10 and 7 rows at this rank count. */
static void plan_counts_the_trees_buffers(void **state)
{
    (void)state;
    for (int chunk = 1; chunk <= 10; chunk++) {
        nn_options opt;
        base_options(&opt);
        opt.reproducible = 1, opt.chunk = chunk;
        nn_trainer t;
        if (trainer_setup(&t, &opt, MPI_COMM_WORLD) != 0) fail_msg("trainer_setup failed");
        const int batch_rows[2] = {10, 7};
        int planned = repro_max_pieces(chunk, rank, nranks, batch_rows, 2);
        if (planned != t.repro.n_extra + 1)
            fail_msg("rank %d of %d, --chunk %d: plan counts %d pieces, repro_create made %d", rank, nranks, chunk,
                     planned, t.repro.n_extra + 1);
        trainer_free(&t);
    }
}

/* A checkpoint written by a whole-buffer run, resumed with the weights broadcast in pieces. */
static void resume_broadcasts_in_pieces(void **state)
{
    (void)state;
    char dir[256] = "", path[300];
    if (rank == 0) snprintf(dir, sizeof dir, "%s", test_tmpdir());
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    snprintf(path, sizeof path, "%s/ck.h5", dir);
    nn_options opt;
    base_options(&opt);
    opt.momentum = 0.5, opt.checkpoint_path = path;
    nn_trainer first, resumed;
    if (trainer_setup(&first, &opt, MPI_COMM_WORLD) != 0) fail_msg("trainer_setup failed");
    assert_int_equal(trainer_run(&first), 0);
    opt.checkpoint_path = NULL, opt.resume_path = path, opt.layers_given = 0;
    nn_mpi_piece_max = PIECE;
    if (trainer_setup(&resumed, &opt, MPI_COMM_WORLD) != 0) fail_msg("--resume failed");
    nn_mpi_piece_max = INT_MAX;
    assert_memory_equal(resumed.net.params, first.net.params, sizeof(float) * first.net.n_params);
    assert_memory_equal(resumed.net.velocity, first.net.velocity, sizeof(float) * first.net.n_params);
    trainer_free(&first);
    trainer_free(&resumed);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) test_remove_tree(dir);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(piece_counts_follow_the_maximum),
        cmocka_unit_test(helpers_match_arithmetic),
        cmocka_unit_test(every_path_in_pieces_matches_whole),
        cmocka_unit_test(plan_counts_the_trees_buffers),
        cmocka_unit_test(resume_broadcasts_in_pieces),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any != 0;
}
