/*
 * reduce.h: sums each step's gradient across ranks.
 *
 * The reduced buffer is net->reduced: NN_CTRL control slots (loss sum, stop
 * votes, bad-value votes) followed by the gradient of all layers, one
 * contiguous block. Three ways to sum it, chosen by the options:
 *   blocking   one in-place MPI_Allreduce over the whole buffer after backward;
 *   overlap    one in-place non-blocking allreduce per layer, started as soon as
 *              backward has finished that layer, completed before the update;
 *              the control slots ride with layer 0, which finishes last;
 *              a layer under NN_FUSE_ELEMENTS is fused with the next to finish;
 *   fixed      (--reproducible) every chunk's float gradient is rounded to
 *              64-bit fixed point and added into `fixed`; integer sums are
 *              associative, so the result does not depend on which rank
 *              summed what. The int64 buffer is then reduced (blocking or
 *              overlapped) and converted back to floats in net->reduced.
 *              Blocking, on a large buffer, most of it travels as the low 32
 *              bits only ("narrow"): see reducer_finish in reduce.c.
 */
#ifndef NN_REDUCE_H
#define NN_REDUCE_H

#include <mpi.h>
#include <stdint.h>

#include "net.h"

/* Fixed point: a value v is stored as round-to-nearest(v * 2^NN_FIXED_FRAC_BITS);
 * one step's sum stays below 2^51 in magnitude (see fixed_limit). */
#define NN_FIXED_FRAC_BITS 28

/* Narrow transport (--reproducible, blocking): the buffer is cut into
 * segments of this many elements; a segment whose sum is sure to fit in 32
 * bits is reduced as uint32, the others as int64. Used from NN_NARROW_MIN
 * elements on (2 MB of int64); below that, one int64 allreduce is cheaper
 * than two collectives. */
#define NN_NARROW_SEG 2048
#define NN_NARROW_MIN 262144

/* Overlap: a layer with fewer gradient elements than this (64 KB of floats)
 * is not worth a collective of its own and joins the next layer's. */
#define NN_FUSE_ELEMENTS 16384

typedef struct {
    MPI_Comm comm;
    int nranks;
    int overlap, reproducible;
    nn_net *net;
    size_t n;                              /* elements reduced: NN_CTRL + net->n_params */
    size_t seg_lo[NN_MAX_SIZES];           /* layer l's segment [seg_lo, seg_hi) of the buffer */
    size_t seg_hi[NN_MAX_SIZES];
    size_t group_hi[NN_MAX_SIZES];         /* overlap: layer l starts [seg_lo[l], group_hi[l]); 0 = fused into the next */
    int n_groups;                          /* overlap: 1 means one reduction after backward, nothing to hide behind */
    MPI_Request req[NN_MAX_SIZES];         /* one per group, overlap mode (persistent where MPI allows) */
    int64_t *fixed;                        /* (n) fixed-point sums, --reproducible only */
    float fixed_limit;                     /* |value| one chunk may add must stay below this (no overflow) */
    int bad_local;                         /* this rank saw a value outside fixed_limit (or NaN) this step */
    int narrow;                            /* reduce through low_bits/seg_bound (set from n; tests may force it) */
    size_t n_segs;                         /* narrow: ceil(n / NN_NARROW_SEG) */
    uint32_t *low_bits;                    /* (n) narrow: fixed mod 2^32, the part that travels */
    uint64_t *seg_bound;                   /* (n_segs) narrow: sum over ranks of each segment's max |fixed| */
    uint64_t narrow_fits;                  /* narrow: a segment whose bound is below this travels as uint32 (2^31) */
    size_t wide_elems;                     /* narrow: elements sent as int64 last step (metrics, tests) */
    double t_post;                         /* seconds spent starting reductions (inside backward) this step */
} nn_reducer;

/* Prepares the reducer for `net`; max_chunks is the most chunks any step sums
 * (--reproducible), which sets the overflow bound. */
void reducer_create(nn_reducer *r, nn_net *net, MPI_Comm comm, int overlap, int reproducible, int max_chunks);
void reducer_free(nn_reducer *r);

/* Starts a step. */
void reducer_begin_step(nn_reducer *r);

/* --reproducible: fixed[at, at + n) += round(src * 2^FRAC) (= instead of +=
 * when `assign`, which spares clearing the buffer first); `at` counts elements
 * of the reduced buffer (control slots first). A value outside the fixed-point
 * range, or NaN, is left out and raises this rank's bad-value vote. `final`:
 * nothing else adds to these gradient elements this step (the narrow transport
 * packs them now, while they are in cache); every gradient element must get
 * exactly one final write, or a reducer_zero_fixed, per step. */
void reducer_add_fixed(nn_reducer *r, size_t at, const float *src, size_t n, int assign, int final);

/* fixed[at, at + n) = 0, as the final write of a rank with no rows this step. */
void reducer_zero_fixed(nn_reducer *r, size_t at, size_t n);

/* Layer l of the buffer is final on this rank: in overlap mode its reduction
 * starts now. Layers finish from the last to layer 0, which carries the
 * control slots (with --reproducible, the bad-value vote is written into them here). */
void reducer_layer_ready(nn_reducer *r, int layer);

/* Completes the step's reduction; afterwards net->reduced holds the sums on every rank, as floats. */
void reducer_finish(nn_reducer *r);

#endif
