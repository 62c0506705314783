/*
 * reduce.h: sums each step's gradient across ranks.
 *
 * The reduced buffer is net->reduced: NN_CTRL control slots (loss sum, stop
 * votes) followed by the gradient of all layers, one contiguous block. Two
 * ways to sum it, chosen by --overlap (with
 * --reproducible, repro.h sums it instead, along a fixed tree):
 *   blocking   one in-place allreduce over the whole buffer after backward;
 *   overlap    one in-place non-blocking allreduce per layer, started as soon as
 *              backward has finished that layer, completed before the update;
 *              the control slots ride with layer 0, which finishes last;
 *              a layer under NN_FUSE_ELEMENTS is fused with the next to finish.
 * Each made by MPI's collectives (--allreduce mpi: MPI_Allreduce, persistent
 * MPI_Allreduce_init) or by nnmpi's ring of point-to-point messages
 * (--allreduce ring, ring.h), which allocates nothing.
 */
#ifndef NN_REDUCE_H
#define NN_REDUCE_H

#include <mpi.h>

#include "net.h"
#include "ring.h"

/* Overlap: a layer with fewer gradient elements than this (64 KB of floats)
 * is not worth a collective of its own and joins the next layer's. */
#define NN_FUSE_ELEMENTS 16384

typedef struct {
    MPI_Comm comm;
    int nranks;
    int overlap;
    int ring;                              /* 1: --allreduce ring, 0: MPI's collectives */
    nn_net *net;
    size_t n;                              /* elements reduced: NN_CTRL + net->n_params */
    size_t seg_lo[NN_MAX_SIZES];           /* layer l's segment [seg_lo, seg_hi) of the buffer */
    size_t seg_hi[NN_MAX_SIZES];
    size_t group_hi[NN_MAX_SIZES];         /* overlap: layer l starts [seg_lo[l], group_hi[l]); 0 = fused into the next */
    int n_groups;                          /* overlap: 1 means one reduction after backward, nothing to hide behind */
    MPI_Request req[NN_MAX_SIZES];         /* --allreduce mpi: one per group, overlap mode (persistent where MPI allows) */
    nn_ring ring_comm;                     /* --allreduce ring: */
    nn_ring_op whole;                      /*   blocking: the whole buffer */
    nn_ring_op ops[NN_MAX_SIZES];          /*   overlap: one per group, like req */
    float *ring_scratch;                   /*   shared by whole and ops (never in flight together) */
    double t_post;                         /* seconds spent starting reductions (inside backward) this step */
} nn_reducer;

/* Prepares the reducer for `net`; ring: 1 for --allreduce ring. */
void reducer_create(nn_reducer *r, nn_net *net, MPI_Comm comm, int overlap, int ring);
void reducer_free(nn_reducer *r);

/* Starts a step. */
void reducer_begin_step(nn_reducer *r);

/* Layer l of the buffer is final on this rank: in overlap mode its reduction
 * starts now. Layers finish from the last to layer 0, which carries the
 * control slots. */
void reducer_layer_ready(nn_reducer *r, int layer);

/* Completes the step's reduction; afterwards net->reduced holds the sums on every rank, as floats. */
void reducer_finish(nn_reducer *r);

/* One blocking allreduce of the whole buffer by the chosen method, outside a
 * step: the reference time against which overlap reports what it hid. */
void reducer_allreduce_whole(nn_reducer *r);

#endif
