/*
 * slice.h: who computes which rows of a global minibatch. Pure arithmetic on
 * (rank, nranks), so a unit test can check every split in one process.
 */
#ifndef NN_SLICE_H
#define NN_SLICE_H

/* ceil(a / b) for a >= 0, b > 0, without the overflow of (a + b - 1) / b near INT_MAX. */
static inline int slice_ceil_div(int a, int b) { return a / b + (a % b != 0); }

/* Steps in an epoch of n_train samples with global batch `batch`; the last batch may be short. */
static inline int slice_steps_per_epoch(int n_train, int batch) { return slice_ceil_div(n_train, batch); }

/* Rows in step `step` of an epoch: `batch`, or what is left for the last step. */
static inline int slice_batch_rows(int n_train, int batch, int step)
{
    long long left = (long long)n_train - (long long)step * batch;
    return left < batch ? (int)left : batch;
}

/* The contiguous part [*lo, *hi) of n items that rank `rank` of `nranks` takes:
 * part sizes differ by at most one, and a part is empty when nranks > n. */
static inline void slice_part(int n, int rank, int nranks, int *lo, int *hi)
{
    *lo = (int)((long long)n * rank / nranks);
    *hi = (int)((long long)n * (rank + 1) / nranks);
}

/* Chunks of at most `chunk` rows that a batch of `rows` is cut into (--reproducible). */
static inline int slice_chunk_count(int rows, int chunk) { return slice_ceil_div(rows, chunk); }

/* --reproducible: the rows [*lo, *hi) of a batch of `rows` that rank `rank`
 * takes as whole chunks (slice_part over the chunks; empty when the rank gets none). */
static inline void slice_chunk_rows(int rows, int chunk, int rank, int nranks, int *lo, int *hi)
{
    int c_lo, c_hi;
    slice_part(slice_chunk_count(rows, chunk), rank, nranks, &c_lo, &c_hi);
    long long a = (long long)c_lo * chunk, b = (long long)c_hi * chunk;
    *lo = a < rows ? (int)a : rows;
    *hi = b < rows ? (int)b : rows;
}

#endif
