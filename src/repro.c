/* repro.c: --reproducible gradients, chunk by chunk, summed along one fixed tree (see repro.h). */
#include "repro.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_pieces.h"
#include "nn_check.h"
#include "rng.h"
#include "slice.h"
#include "vec.h"

typedef enum { PRODUCT_FORWARD, PRODUCT_DELTA } product_kind;

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
    /* whole buffers (the net's own, max_rows rows): a hidden layer's rows [0, rows) are strided in them */
    size_t in_len = (size_t)net->max_rows * net->sizes[kind == PRODUCT_FORWARD ? l : l + 1];
    size_t out_len = (size_t)net->max_rows * net->sizes[kind == PRODUCT_FORWARD ? l + 1 : l];
    nn_rng rng;
    rng_seed(&rng, 0x5eed, (uint64_t)rows);
    for (size_t i = 0; i < in_len; i++) in[i] = (float)(rng_uniform(&rng) - 0.25);
    if (kind == PRODUCT_DELTA) /* the derivative reads the activations: some at zero, as relu makes them */
        for (size_t i = 0; i < out_len; i++) net->act[l][i] = (float)(rng_uniform(&rng) < 0.2 ? 0.0 : rng_uniform(&rng));
    memset(out, 0, sizeof(float) * out_len); /* the rows past `rows` stay as they are: compared too */
    float *copy = NN_MALLOC(sizeof(float) * out_len);
    product_(p, kind, l, rows, 0);
    memcpy(copy, out, sizeof(float) * out_len);
    product_(p, kind, l, rows, 1);
    int same = memcmp(copy, out, sizeof(float) * out_len) == 0;
    free(copy);
    return same;
}

/* Pieces: the largest tree nodes under [lo, hi) whose present chunks are all this rank's. */
static void find_pieces_(nn_repro *p, int lo, int hi)
{
    int end = hi < p->chunks ? hi : p->chunks;
    if (lo >= end || end <= p->c_lo || lo >= p->c_hi) return; /* absent, or none of ours */
    if (lo >= p->c_lo && end <= p->c_hi) {
        if (p->n_pieces == NN_REPRO_MAX_PIECES)
            nn_die(1, "%s:%d: more than %d tree pieces", __FILE__, __LINE__, NN_REPRO_MAX_PIECES);
        p->piece[p->n_pieces++] = (nn_piece){lo, hi};
        return;
    }
    int mid = lo + (hi - lo) / 2;
    find_pieces_(p, lo, mid);
    find_pieces_(p, mid, hi);
}

void repro_begin_step(nn_repro *p, int batch_rows, int *lo, int *hi)
{
    p->chunks = slice_chunk_count(batch_rows, p->chunk);
    for (p->span = 1; p->span < p->chunks;) p->span *= 2;
    slice_part(p->chunks, p->rank, p->nranks, &p->c_lo, &p->c_hi);
    slice_chunk_rows(batch_rows, p->chunk, p->rank, p->nranks, lo, hi);
    p->rows = *hi - *lo;
    p->n_pieces = 0;
    find_pieces_(p, 0, p->span);
    if (p->n_pieces > p->n_extra + 1)
        nn_die(1, "%s:%d: %d tree pieces, buffers for %d", __FILE__, __LINE__, p->n_pieces, p->n_extra + 1);
}

/* The pieces find_pieces_ would find, counted without a net (the memory plan). */
static int count_pieces_(int lo, int hi, int chunks, int c_lo, int c_hi)
{
    int end = hi < chunks ? hi : chunks;
    if (lo >= end || end <= c_lo || lo >= c_hi) return 0;
    if (lo >= c_lo && end <= c_hi) return 1;
    int mid = lo + (hi - lo) / 2;
    return count_pieces_(lo, mid, chunks, c_lo, c_hi) + count_pieces_(mid, hi, chunks, c_lo, c_hi);
}

int repro_max_pieces(int chunk, int rank, int nranks, const int *batch_rows, int n_counts)
{
    int most = 1;
    for (int i = 0; i < n_counts; i++) {
        if (batch_rows[i] <= 0) continue;
        int chunks = slice_chunk_count(batch_rows[i], chunk), span = 1, c_lo, c_hi;
        while (span < chunks) span *= 2;
        slice_part(chunks, rank, nranks, &c_lo, &c_hi);
        int n = count_pieces_(0, span, chunks, c_lo, c_hi);
        if (n > most) most = n;
    }
    return most;
}

/* Most pieces and tree levels this rank can meet in a batch of batch_rows. */
static void measure_step_(nn_repro *p, int batch_rows, int *pieces, int *levels)
{
    int lo, hi;
    repro_begin_step(p, batch_rows, &lo, &hi);
    if (p->n_pieces > *pieces) *pieces = p->n_pieces;
    int l = 0;
    for (int s = 1; s < p->span; s *= 2) l++;
    if (l > *levels) *levels = l;
}

void repro_create(nn_repro *p, nn_net *net, float *sums, MPI_Comm comm, int chunk, const int *batch_rows,
                  int n_counts)
{
    memset(p, 0, sizeof *p);
    p->net = net;
    p->sums = sums;
    p->n = NN_CTRL + net->n_params;
    p->comm = comm;
    MPI_CHECK(MPI_Comm_rank(comm, &p->rank));
    MPI_CHECK(MPI_Comm_size(comm, &p->nranks));
    p->chunk = chunk;
    p->block_len = NN_REPRO_BLOCK_ELEMS;
    /* a block is at least one output unit's weights (sizes[l] of layer l, when
     * that alone is more than NN_REPRO_BLOCK_ELEMS) or a bias gradient (sizes[l + 1]) */
    for (int l = 0; l < net->n_sizes; l++)
        if ((size_t)net->sizes[l] > p->block_len) p->block_len = (size_t)net->sizes[l];
    /* Buffers for the worst step: pieces (the first is sums), tree levels, chunk losses. */
    int pieces = 1, levels = 0, max_chunks = 1;
    p->n_extra = NN_REPRO_MAX_PIECES; /* no limit while measuring */
    for (int i = 0; i < n_counts; i++) {
        if (batch_rows[i] <= 0) continue;
        measure_step_(p, batch_rows[i], &pieces, &levels);
        if (p->chunks > max_chunks) max_chunks = p->chunks;
    }
    p->n_extra = pieces - 1;
    for (int k = 0; k < p->n_extra; k++) p->extra[k] = NN_MALLOC(sizeof(float) * p->n);
    p->recv = p->nranks > 1 ? NN_MALLOC(sizeof(float) * p->n) : NULL;
    p->chunk_loss = NN_MALLOC(sizeof(float) * (size_t)max_chunks);
    p->scratch = NN_MALLOC(sizeof(float) * p->block_len * (size_t)(levels > 0 ? levels : 1));
    /* Batched products: one call over the rank's rows against chunk-sized calls. */
    for (int l = 0; l < net->n_layers; l++) {
        int forward_ok = 1, delta_ok = l > 0;
        for (int i = 0; i < n_counts; i++) {
            int lo, hi;
            if (batch_rows[i] <= 0) continue;
            slice_chunk_rows(batch_rows[i], chunk, p->rank, p->nranks, &lo, &hi);
            if (hi - lo <= chunk) continue; /* one chunk: one call either way */
            forward_ok = forward_ok && rows_independent_(p, PRODUCT_FORWARD, l, hi - lo);
            delta_ok = delta_ok && rows_independent_(p, PRODUCT_DELTA, l, hi - lo);
        }
        p->forward_batched |= (unsigned)forward_ok << l;
        p->delta_batched |= (unsigned)delta_ok << l;
    }
}

void repro_free(nn_repro *p)
{
    for (int k = 0; k < p->n_extra; k++) free(p->extra[k]);
    free(p->recv);
    free(p->chunk_loss);
    free(p->scratch);
    memset(p, 0, sizeof *p);
}

/* The buffer of this rank's k-th piece of the step. */
static float *piece_buf_(const nn_repro *p, int k) { return k == 0 ? p->sums : p->extra[k - 1]; }

/* This rank's local rows of chunk c. */
static void chunk_rows_(const nn_repro *p, int c, int *lo, int *hi)
{
    int rows = p->rows;
    *lo = (c - p->c_lo) * p->chunk;
    *hi = *lo + p->chunk < rows ? *lo + p->chunk : rows;
}

void repro_forward(nn_repro *p, float stop_vote)
{
    nn_net *net = p->net;
    int rows = p->rows;
    p->stop_vote = stop_vote;
    for (int l = 0; l < net->n_layers; l++) product_(p, PRODUCT_FORWARD, l, rows, is_batched_(p, PRODUCT_FORWARD, l));
    for (int c = p->c_lo; c < p->c_hi; c++) {
        int lo, hi;
        chunk_rows_(p, c, &lo, &hi);
        p->chunk_loss[c - p->c_lo] = (float)net_output_delta(net, lo, hi);
    }
}

/* dst[i] = left[i] + right[i]; dst may be left or right (in place, element by
 * element). The tree's arithmetic is this and vec_add, nothing else. */
NN_VECTOR_CLONES static void sum_into_(float *dst, const float *left, const float *right, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = left[i] + right[i];
}

typedef enum { PART_WEIGHTS, PART_BIASES } grad_part;

/* dst = the tree sum over node [lo, hi) of layer l's weight gradient for
 * output units [o_lo, o_hi) (PART_WEIGHTS) or its bias gradient (PART_BIASES);
 * the right subtree goes through the scratch block of this level. */
static void node_sum_(nn_repro *p, grad_part part, int l, int o_lo, int o_hi, int lo, int hi, float *dst, int level)
{
    if (hi - lo == 1) {
        int r_lo, r_hi;
        chunk_rows_(p, lo, &r_lo, &r_hi);
        if (part == PART_WEIGHTS)
            net_weight_grad(p->net, l, r_lo, r_hi, o_lo, o_hi, dst);
        else
            net_bias_grad(p->net, l, r_lo, r_hi, dst);
        return;
    }
    int mid = lo + (hi - lo) / 2;
    node_sum_(p, part, l, o_lo, o_hi, lo, mid, dst, level + 1);
    if (mid >= p->chunks) return; /* the right subtree is absent */
    float *right = p->scratch + (size_t)level * p->block_len;
    node_sum_(p, part, l, o_lo, o_hi, mid, hi, right, level + 1);
    size_t len = part == PART_WEIGHTS ? (size_t)(o_hi - o_lo) * (size_t)p->net->sizes[l] : (size_t)(o_hi - o_lo);
    vec_add(dst, right, len);
}

static float loss_sum_(const nn_repro *p, int lo, int hi)
{
    if (hi - lo == 1) return p->chunk_loss[lo - p->c_lo];
    int mid = lo + (hi - lo) / 2;
    float left = loss_sum_(p, lo, mid);
    return mid >= p->chunks ? left : left + loss_sum_(p, mid, hi);
}

/* Layer l's weight and bias gradients for every piece, in blocks of whole
 * output units: each block's chunks are summed while it is in cache. The
 * block shape depends on the layer only, never on the rank count. */
static void layer_sums_(nn_repro *p, int l)
{
    nn_net *net = p->net;
    int n_in = net->sizes[l], n_out = net->sizes[l + 1];
    size_t w_at = NN_CTRL + net->w_off[l], b_at = NN_CTRL + net->b_off[l];
    int units = (int)(NN_REPRO_BLOCK_ELEMS / (size_t)n_in);
    units = units < 1 ? 1 : units > n_out ? n_out : units;
    for (int o_lo = 0; o_lo < n_out; o_lo += units) {
        int o_hi = o_lo + units < n_out ? o_lo + units : n_out;
        for (int k = 0; k < p->n_pieces; k++)
            node_sum_(p, PART_WEIGHTS, l, o_lo, o_hi, p->piece[k].lo, p->piece[k].hi,
                      piece_buf_(p, k) + w_at + (size_t)o_lo * n_in, 0);
    }
    for (int k = 0; k < p->n_pieces; k++)
        node_sum_(p, PART_BIASES, l, 0, n_out, p->piece[k].lo, p->piece[k].hi, piece_buf_(p, k) + b_at, 0);
}

void repro_backward(nn_repro *p)
{
    nn_net *net = p->net;
    for (int k = 0; k < p->n_pieces; k++) {
        float *ctrl = piece_buf_(p, k);
        ctrl[NN_CTRL_LOSS] = loss_sum_(p, p->piece[k].lo, p->piece[k].hi);
        ctrl[NN_CTRL_STOP] = k == 0 ? p->stop_vote : 0.0f;
    }
    for (int l = net->n_layers - 1; l >= 0; l--) {
        layer_sums_(p, l);
        if (l > 0) product_(p, PRODUCT_DELTA, l, p->rows, is_batched_(p, PRODUCT_DELTA, l));
    }
}

/* ---------- the tree across ranks ---------- */

/* The rank that holds chunk c (slice_part's inverse). */
static int owner_(const nn_repro *p, int c) { return (int)(((long long)(c + 1) * p->nranks - 1) / p->chunks); }

/* This rank's buffer for the node starting at chunk lo: a node's value stays
 * in the buffer of its leftmost piece, on that piece's rank. */
static float *buf_at_(const nn_repro *p, int lo)
{
    for (int k = 0; k < p->n_pieces; k++)
        if (p->piece[k].lo == lo) return piece_buf_(p, k);
    nn_die(1, "%s:%d: rank %d holds no tree piece at chunk %d", __FILE__, __LINE__, p->rank, lo);
}

/* Node [lo, hi) whose chunks span ranks: its two children, computed first,
 * added by the left child's rank (the right child's rank sends). With two
 * ranks, the root is exchanged and both ranks add, left + right. Returns 1
 * when that exchange left the root on every rank. Every rank walks the same
 * tree in the same order, so the messages match one by one. */
static int combine_(nn_repro *p, int lo, int hi)
{
    int end = hi < p->chunks ? hi : p->chunks;
    if (owner_(p, lo) == owner_(p, end - 1)) return 0; /* one rank's piece (or inside one) */
    int mid = lo + (hi - lo) / 2;
    if (mid >= p->chunks) return combine_(p, lo, mid);
    combine_(p, lo, mid);
    combine_(p, mid, hi);
    int left = owner_(p, lo), right = owner_(p, mid);
    size_t n = p->n;
    if (left == right) {
        if (p->rank == left) vec_add(buf_at_(p, lo), buf_at_(p, mid), n);
        return 0;
    }
    if (lo == 0 && hi == p->span && p->nranks == 2) {
        /* Two ranks, the root: as a ring allreduce does, each rank adds one
         * half (left + right) and the halves are swapped, so each rank moves
         * and adds half the buffer. The left rank's value is in sums. */
        size_t half = n / 2;
        int other = 1 - p->rank;
        float *root = p->sums, *mine = buf_at_(p, p->rank == left ? lo : mid);
        size_t my_lo = p->rank == left ? 0 : half, my_n = p->rank == left ? half : n - half;
        size_t its_lo = p->rank == left ? half : 0, its_n = n - my_n;
        nn_sendrecv_pieces(mine + its_lo, its_n, p->recv + my_lo, my_n, MPI_FLOAT, other, 0, p->comm);
        if (p->rank == left)
            sum_into_(root + my_lo, mine + my_lo, p->recv + my_lo, my_n);
        else
            sum_into_(root + my_lo, p->recv + my_lo, mine + my_lo, my_n);
        nn_sendrecv_pieces(root + my_lo, my_n, root + its_lo, its_n, MPI_FLOAT, other, 1, p->comm);
        return 1;
    }
    if (p->rank == right) nn_send_pieces(buf_at_(p, mid), n, MPI_FLOAT, left, 0, p->comm);
    if (p->rank == left) {
        nn_recv_pieces(p->recv, n, MPI_FLOAT, right, 0, p->comm);
        vec_add(buf_at_(p, lo), p->recv, n);
    }
    return 0;
}

void repro_reduce(nn_repro *p)
{
    if (p->nranks == 1) return;
    int everywhere = combine_(p, 0, p->span);
    /* The root is at the owner of chunk 0, in its first piece: sums. */
    if (!everywhere) nn_bcast_pieces(p->sums, p->n, MPI_FLOAT, owner_(p, 0), p->comm);
    /* A rank without chunks this step (more ranks than chunks) holds no piece,
     * so its stop vote is not in the tree: it joins here, in such steps only. */
    if (p->chunks < p->nranks) {
        float vote = p->stop_vote;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &vote, 1, MPI_FLOAT, MPI_MAX, p->comm));
        if (vote > p->sums[NN_CTRL_STOP]) p->sums[NN_CTRL_STOP] = vote;
    }
}
