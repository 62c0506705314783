/*
 * test_slice.c: batch slicing and the epoch order for many rank counts in one
 * process: every training index is used exactly once per epoch, parts differ
 * by at most one, and the permutation is a permutation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "slice.h"

static void every_index_used_once_for_any_split(void **state)
{
    (void)state;
    const int n_train = 103; /* batch sizes below do not divide it */
    int perm[103], used[103];
    nn_rng rng;
    rng_seed(&rng, 5, 1);
    rng_permutation(&rng, perm, n_train);
    int batches[] = {1, 7, 10, 32, 200};
    for (size_t b = 0; b < sizeof batches / sizeof *batches; b++) {
        for (int nranks = 1; nranks <= 9; nranks++) {
            memset(used, 0, sizeof used);
            int batch = batches[b], steps = slice_steps_per_epoch(n_train, batch);
            for (int step = 0; step < steps; step++) {
                int rows = slice_batch_rows(n_train, batch, step), smallest = rows, largest = 0, covered = 0;
                for (int rank = 0; rank < nranks; rank++) {
                    int lo, hi;
                    slice_part(rows, rank, nranks, &lo, &hi);
                    assert_true(lo <= hi);
                    assert_int_equal(lo, covered); /* contiguous, in rank order */
                    covered = hi;
                    smallest = hi - lo < smallest ? hi - lo : smallest;
                    largest = hi - lo > largest ? hi - lo : largest;
                    for (int r = lo; r < hi; r++) used[perm[step * batch + r]]++;
                }
                assert_int_equal(covered, rows);
                assert_true(largest - smallest <= 1);
            }
            for (int i = 0; i < n_train; i++) assert_int_equal(used[i], 1);
        }
    }
}

static void chunks_cover_the_batch_for_any_rank_count(void **state)
{
    (void)state;
    for (int rows = 1; rows <= 40; rows++)
        for (int chunk = 1; chunk <= 9; chunk++) {
            int n_chunks = slice_chunk_count(rows, chunk);
            assert_true((n_chunks - 1) * chunk < rows && n_chunks * chunk >= rows);
            for (int nranks = 1; nranks <= 12; nranks++) {
                int covered = 0, covered_rows = 0;
                for (int rank = 0; rank < nranks; rank++) {
                    int lo, hi, row_lo, row_hi;
                    slice_part(n_chunks, rank, nranks, &lo, &hi);
                    assert_int_equal(lo, covered);
                    covered = hi;
                    /* the rows of those chunks: contiguous, chunk-aligned, only the batch's last chunk short */
                    slice_chunk_rows(rows, chunk, rank, nranks, &row_lo, &row_hi);
                    assert_int_equal(row_lo, covered_rows);
                    assert_true(row_lo <= row_hi);
                    if (row_hi > row_lo) assert_int_equal(row_lo, lo * chunk);
                    if (row_hi < rows) assert_int_equal((row_hi - row_lo) % chunk, 0);
                    assert_int_equal(row_hi - row_lo == 0, hi == lo);
                    covered_rows = row_hi;
                }
                assert_int_equal(covered, n_chunks);
                assert_int_equal(covered_rows, rows);
            }
        }
}

static void permutation_is_a_permutation_and_depends_on_the_seed(void **state)
{
    (void)state;
    enum { N = 1000 };
    int a[N], b[N], seen[N] = {0};
    nn_rng r1, r2;
    rng_seed(&r1, 1, 1), rng_permutation(&r1, a, N);
    rng_seed(&r2, 1, 2), rng_permutation(&r2, b, N);
    for (int i = 0; i < N; i++) seen[a[i]]++;
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    assert_memory_not_equal(a, b, sizeof a);
    int fixed = 0;
    for (int i = 0; i < N; i++) fixed += a[i] == i;
    assert_true(fixed < 10); /* expected about 1 fixed point */
}

static void normal_draws_have_unit_moments(void **state)
{
    (void)state;
    nn_rng rng;
    rng_seed(&rng, 3, 9);
    double sum = 0, sq = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double v = rng_normal(&rng);
        sum += v, sq += v * v;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    assert_true(mean > -0.01 && mean < 0.01);
    assert_true(var > 0.98 && var < 1.02);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_index_used_once_for_any_split),
        cmocka_unit_test(chunks_cover_the_batch_for_any_rank_count),
        cmocka_unit_test(permutation_is_a_permutation_and_depends_on_the_seed),
        cmocka_unit_test(normal_draws_have_unit_moments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
