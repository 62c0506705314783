/*
 * reduce.h: sums each step's gradient across ranks. The reducer owns the
 * buffer it sums, `sums`: NN_CTRL control slots, then the gradient of every
 * layer in the network's parameter layout, one contiguous block. Backward
 * writes this rank's gradient into reducer_grad(); after reducer_finish the
 * same memory holds the sums over ranks, which the update reads.
 *
 * The control slots ride with the gradient, so one collective per step also
 * tells every rank the batch's loss and whether any rank caught a signal.
 *
 * Two schedules, chosen by --overlap:
 *   blocking   one in-place allreduce over the whole buffer after backward;
 *   overlap    one in-place non-blocking allreduce per layer group, started
 *              as soon as backward has finished the group's last layer,
 *              completed before the update; the control slots ride with
 *              layer 0, which finishes last; a layer under NN_FUSE_ELEMENTS
 *              joins the next to finish.
 * Each run by one method (--allreduce): MPI's collectives (reduce_mpi.c),
 * nnmpi's ring of point-to-point messages (reduce_ring.c, ring.h), which
 * allocates nothing, or shared memory within a node (reduce_shm.c): the
 * buffer lives in an MPI-3 shared window, each rank sums its slice of every
 * rank's buffer in place, and across nodes each slice is summed with MPI
 * (overlapped: each group's slice as backward finishes it on the node);
 * or auto, which picks shm or mpi at start-up. --reproducible sums the buffer along its own fixed tree
 * instead (repro.h); the reducer then only owns the buffer.
 *
 * On one node, shm can exchange the batch's factors instead of gradients
 * (--exchange, reducer_share_batch): a layer's weight gradient over the
 * batch is delta^T act, so the node's ranks write their rows of every
 * layer's input activations and deltas into shared matrices of the whole
 * batch, and after one barrier the weights are updated from all the rows.
 * Up to NN_FACTOR_REPLICATE_BATCH rows every rank updates its own copy of
 * all of them (the same products on every rank, so the same bits; the
 * matrices double-buffered, even and odd steps, so one barrier a step is
 * enough); larger batches share the node's copy (reducer_share_model) and
 * each rank computes its units of every layer for all the rows and updates
 * them (train.c's units path: a barrier after each layer another rank
 * reads whole, reducer_node_barrier), with the second barrier. Small
 * batches with a plain update, where layer 0 holds half the weights or
 * more, split layer 0 by its inputs instead (train.c's inputs path): each
 * rank converts and multiplies its columns of the inputs, the node sums
 * the ranks' shares of layer 0's products (batch_partial), and each rank
 * updates its columns of W0 in its own copy, and all the other weights
 * (reducer_whole_inputs makes the copies whole).
 */
#ifndef NN_REDUCE_H
#define NN_REDUCE_H

#include <mpi.h>
#include <stddef.h>

#include "net.h"
#include "ring.h"

/* Control slots at the head of the summed buffer: values every rank
 * contributes to each step, summed with the gradient. */
enum { NN_CTRL_LOSS, NN_CTRL_STOP, NN_CTRL };

/* Factors for batches up to this many rows: every rank updates its own copy
 * of all the weights (the whole weight gradient, batch multiply-adds per
 * parameter, on every rank); larger batches share the node's copy and split
 * the update by units (docs/design.md has the measurements). */
#define NN_FACTOR_REPLICATE_BATCH 16

/* Overlap: a layer with fewer gradient elements than this (64 KB of floats)
 * is not worth a collective of its own and joins the next layer's. */
#define NN_FUSE_ELEMENTS 16384

/* auto is a choice made at start-up, not a method: it becomes one of the others (reducer_create). */
typedef enum { REDUCE_AUTO, REDUCE_MPI, REDUCE_RING, REDUCE_SHM, REDUCE_KIND_COUNT } nn_reduce_kind;
extern const char *const nn_reduce_names[REDUCE_KIND_COUNT]; /* auto mpi ring shm */

/* What the node's ranks exchange with shm on one node (reducer_share_batch). */
typedef enum { EXCHANGE_AUTO, EXCHANGE_GRADIENTS, EXCHANGE_FACTORS, EXCHANGE_KIND_COUNT } nn_exchange_kind;
extern const char *const nn_exchange_names[EXCHANGE_KIND_COUNT]; /* auto gradients factors */

/* Parameters [lo, hi) in the params layout. */
typedef struct {
    size_t lo, hi;
} nn_range;

typedef struct nn_reducer nn_reducer;

/* One way of summing the buffer (nccl-tests' one small struct per
 * strategy). reduce.c calls these only with more than one rank. */
typedef struct {
    float *(*alloc_sums)(nn_reducer *r); /* the buffer of r->n floats; NULL: malloc'ed by reduce.c (no such
                                            function), or auto cannot have it (r->note says why) */
    void (*create)(nn_reducer *r); /* after the buffer and the groups are set */
    void (*free)(nn_reducer *r);
    void (*start_group)(nn_reducer *r, int layer); /* overlap: start group `layer`, advance those in flight */
    void (*wait_groups)(nn_reducer *r);            /* overlap: complete every group started */
    void (*whole)(nn_reducer *r);                  /* one blocking allreduce of the whole buffer */
    /* sharded update (shm; NULL for the others): */
    int (*share_model)(nn_reducer *r, nn_net *net); /* the node's one copy of the weights; 0: not possible */
    void (*sum_part)(nn_reducer *r);                /* sums this rank's part and the control slots */
    int (*end_update)(nn_reducer *r, int nonfinite); /* after each rank updated its part: any rank's verdict */
    void (*free_model)(nn_reducer *r);
    int (*share_batch)(nn_reducer *r, const nn_net *net, int batch); /* the factor matrices; 0: no room */
    void (*sum_ctrl)(nn_reducer *r);                /* factors: barrier, then the control slots' sums */
    void (*node_barrier)(nn_reducer *r);            /* factors split by units: the node's ranks meet */
    void (*free_batch)(nn_reducer *r);
} nn_reduce_method;

extern const nn_reduce_method nn_reduce_mpi, nn_reduce_ring, nn_reduce_shm;

struct nn_reducer {
    MPI_Comm comm;
    int nranks;
    int overlap;
    const nn_reduce_method *method;
    nn_reduce_kind kind;               /* the method in use, never auto (shm falls back to mpi on uneven nodes) */
    const char *fallback;              /* why the method asked for is not in use, or what auto chose and why; or NULL */
    char note[160];                    /* auto's reason and measured times, pointed to by fallback */
    int auto_pick;                     /* --allreduce auto is trying shm: a window that does not fit means mpi */
    int n_layers;
    size_t n;                          /* floats summed: NN_CTRL + the network's n_params */
    float *sums;                       /* (n) control slots, then the gradient; see the top of this file */
    size_t seg_lo[NN_MAX_SIZES];       /* layer l's part [seg_lo, seg_hi) of sums (layer 0's includes the slots) */
    size_t seg_hi[NN_MAX_SIZES];
    size_t group_hi[NN_MAX_SIZES];     /* overlap: layer l starts [seg_lo[l], group_hi[l]); 0 = fused into the next */
    int n_groups;                      /* overlap: 1 means one reduction after backward, nothing to hide behind */
    double posting_s;                  /* seconds spent starting reductions (inside backward) this step */
    /* method state */
    MPI_Request *req;                  /* mpi: (n_req) one per piece of each group, overlap mode (persistent where MPI allows);
                                          shm across nodes: the same for this rank's part of each group, then the slots' */
    int n_req;
    size_t piece_max;                  /*   floats per request: nn_pieces_max() when the reducer was created */
    int req_lo[NN_MAX_SIZES];          /*   group l's requests start at req[req_lo[l]] (mpi_pieces.h: at most INT_MAX floats each) */
    nn_ring ring;                      /* ring: */
    nn_ring_op ring_whole;             /*   blocking: the whole buffer */
    nn_ring_op ring_ops[NN_MAX_SIZES]; /*   overlap: one per group, like req */
    float *ring_scratch;               /*   shared by ring_whole and ring_ops (never in flight together) */
    MPI_Comm node, across;             /* shm: this node's ranks; the ranks of the same local index on every node */
    int local_rank, local_size, nodes;
    MPI_Win win;                       /*   the node's window: every rank's sums, one segment each */
    float **segment;                   /*   (local_size) the node's segments, mapped here; each ends in its rank's flag */
    unsigned long phase;               /*   node barriers this rank has passed (its flag's value) */
    long spin_polls;                   /*   a wait's polls before it yields: 0 with more ranks than cores */
    /* The sharded update (reducer_share_model): the node's ranks share one copy of the weights, and each
     * rank updates only its part of them, from the sums lying in its own segment. */
    int shard;
    MPI_Win model_win;                 /*   the node's weights and velocity, held by local rank 0 */
    nn_range parts[2 * NN_MAX_SIZES];  /* the parameters this rank updates: all of them, unless sharded */
    int n_parts;
    /* The factor exchange (reducer_share_batch), on one node, each rank with its own weights: */
    int factors;
    MPI_Win batch_win;                    /*   the batch's matrices, held by local rank 0 */
    float *batch_act[2][NN_MAX_SIZES];    /*   set [parity]: the input activations of layer l, act[l]'s layout
                                                 (net.h) for `batch` rows: batch * sizes[l] floats */
    float *batch_delta[2][NN_MAX_SIZES];  /*   set [parity]: its deltas, batch * sizes[l+1] floats */
    float *batch_ctrl[2];                 /*   (local_size, 16) per set: each rank's control slots, a line each */
    int parity;                           /*   the set this step writes: steps alternate */
    int factor_shard;                     /*   the weights shared, the step split by units (large batches: train.c's units path) */
    int unit_lo[NN_MAX_SIZES], unit_hi[NN_MAX_SIZES]; /* sharded factors: this rank's units of layer l */
    int factor_inputs;                    /*   small batches, plain update: layer 0 split by its inputs (train.c's inputs path) */
    int in_lo, in_hi;                     /* the input columns this rank converts: all, or split by inputs its
                                             columns of layer 0, on 64-byte boundaries */
    int inputs_stale;                     /*   split by inputs: a step since the copies were last made whole */
    float *batch_partial[2];              /*   set [parity]: (local_size, partial_stride) each rank's share of layer 0's products */
    size_t partial_stride;
    size_t factor_floats;                 /*   floats a batch writes into them (split by inputs: the shares) */
    const char *exchange_note;            /* why --exchange factors is not in use, or NULL */
    float ctrl[NN_CTRL];               /*   the control slots' sums, summed by every rank for itself */
    const float *ctrl_sums;            /* the control slots' sums after reducer_finish: sums, or ctrl when sharded */
};

/* Allocates the buffer for `net`'s gradient and prepares `kind`'s schedule.
 * REDUCE_AUTO: shm when ranks share a node (at least 2 on each, the same
 * number on every node) unless a few timed rounds of both with this buffer
 * show MPI's allreduce faster (decided on rank 0, the same on every rank);
 * else mpi. On one node, when `exchange` will take factors for batches of
 * `batch` rows (reducer_share_batch), shm without timing: the step then
 * makes no allreduce. Collective over comm. */
void reducer_create(nn_reducer *r, const nn_net *net, MPI_Comm comm, int overlap, nn_reduce_kind kind, int batch,
                    nn_exchange_kind exchange);
void reducer_free(nn_reducer *r);

/* The gradient part of the buffer: (n_params) in the network's layout. */
static inline float *reducer_grad(const nn_reducer *r) { return r->sums + NN_CTRL; }

/* Starts a step. */
void reducer_begin_step(nn_reducer *r);

/* Layer l of the gradient is final on this rank: in overlap mode its group's
 * reduction starts now. Layers finish from the last to layer 0, which
 * carries the control slots. */
void reducer_layer_ready(nn_reducer *r, int layer);

/* Completes the step's reduction: afterwards sums holds the sums on every
 * rank (sharded: this rank's part of them; factors: only the control
 * slots' sums, in ctrl_sums, and every rank's rows of the factors). */
void reducer_finish(nn_reducer *r);

/* After start-up has set the weights (initial or resumed), collective over
 * comm: with shm, the node's ranks move to one shared copy of the weights
 * (and velocity) in a window, and each step each rank updates only its part
 * of them (reducer_update_parts), from the sums lying in its own segment, with
 * no copy of the summed gradient to every rank; the update's arithmetic and
 * memory traffic are split R ways. The others (and --reproducible, which
 * does not call it) keep a private copy per rank and update all of it. */
void reducer_share_model(nn_reducer *r, nn_net *net);

/* Collective over comm, before reducer_share_model: with shm on a single
 * node, chooses what the node's ranks exchange (EXCHANGE_AUTO: factors when
 * a batch's activations and deltas are fewer floats than the gradient) and
 * for factors maps the node's matrices for a batch of up to `batch` rows;
 * over NN_FACTOR_REPLICATE_BATCH rows the weights are then shared and split
 * by units (reducer_share_model, reducer.unit_lo/hi); up to it every rank
 * keeps its own copy, and with a plain update (`plain_update`: no decay, no
 * Nesterov) where layer 0 holds half the weights or more, layer 0 is split
 * by its inputs (factor_inputs, reducer.in_lo/hi). Otherwise (another
 * method, several nodes, no room in /dev/shm) gradients, with why in
 * r->exchange_note when factors were asked for. */
void reducer_share_batch(nn_reducer *r, const nn_net *net, int batch, nn_exchange_kind want, int plain_update);

/* Whether reducer_share_batch may split a step by units (factor_shard)
 * on a run of nranks ranks: pure, before anything is allocated, true
 * whenever it will (it may not: several nodes, no room in /dev/shm). Then
 * every rank passes whole batches, and start-up sizes the net's buffers
 * for them. */
int reducer_may_split_units(const int *sizes, int n_sizes, int batch, nn_exchange_kind exchange, nn_reduce_kind kind,
                            int nranks);

/* The blocks of units a step split by units over `ways` ranks of one node
 * gives each rank (as unit_lo/hi will), for net_by_unit_suits: per layer
 * the smallest block any rank computes, and the steps' rows. */
void reducer_unit_split(const int *sizes, int n_sizes, int ways, const int rows[2], nn_unit_split *split);

/* Factors: this rank's control slots for this step (the loss and the stop
 * vote go there); otherwise the head of the buffer, r->sums. */
float *reducer_ctrl_slots(const nn_reducer *r);

/* Factors of a batch over NN_FACTOR_REPLICATE_BATCH rows, split by units:
 * every rank of the node has written its units (columns) of the matrix it
 * wrote last; a barrier of the node's ranks. */
void reducer_node_barrier(nn_reducer *r);

/* Factors: the step's matrices are read; the next step writes the other set. */
static inline void reducer_factors_read(nn_reducer *r) { r->parity ^= 1; }

/* The parameter ranges this rank updates after reducer_finish (their sums
 * lie in reducer_grad(), indexed as the parameters): the whole gradient, or
 * this rank's part when the update is sharded, or with factors its units of
 * every layer (their weights, then their biases). Returns how many. */
int reducer_update_parts(const nn_reducer *r, const nn_range **parts);

/* After this rank's update of its part, with its verdict (1: a parameter is
 * no longer finite): returns the verdict of any rank, the same on all; when
 * sharded, waits until the node's whole update is done (the next step reads
 * the weights and overwrites the segments). */
int reducer_end_update(nn_reducer *r, int nonfinite);

/* Split by inputs (factor_inputs), each rank keeps its own copy of the
 * weights and updates only its columns of W0 (and all the other weights,
 * the same bits on every rank): the other columns of its copy are stale.
 * Collective over the node: makes every rank's W0 (and velocity) whole
 * again, each rank broadcasting its columns (a strided datatype), before
 * anything reads all of it (evaluation, the replica check, a checkpoint).
 * No effect otherwise, or when no step has run since the last call. */
void reducer_whole_inputs(nn_reducer *r, nn_net *net);

/* One blocking allreduce of the whole buffer by the chosen method, outside a
 * step: the reference time against which overlap reports what it hid. */
void reducer_allreduce_whole(nn_reducer *r);

#endif
