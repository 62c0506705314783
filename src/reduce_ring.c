/* reduce_ring.c: --allreduce ring, the reducer's buffer summed by nnmpi's ring (ring.h). */
#include <stdlib.h>

#include "nn_check.h"
#include "reduce.h"

/* Scratch for the larger of: the whole buffer's operation, or all groups' in
 * flight at once (each takes its own part). */
static void create_(nn_reducer *r)
{
    ring_create(&r->ring, r->comm, r->n);
    size_t whole = ring_scratch_len(&r->ring, 0, r->n), groups = 0;
    for (int l = 0; l < r->n_layers; l++)
        if (r->group_hi[l] > 0) groups += ring_scratch_len(&r->ring, r->seg_lo[l], r->group_hi[l]);
    r->ring_scratch = NN_MALLOC(sizeof(float) * (whole > groups ? whole : groups));
    ring_op_init(&r->ring_whole, r->sums, 0, r->n, r->ring_scratch, 0);
    float *scratch = r->ring_scratch;
    for (int l = 0; l < r->n_layers; l++) {
        if (r->group_hi[l] == 0) continue;
        ring_op_init(&r->ring_ops[l], r->sums, r->seg_lo[l], r->group_hi[l], scratch, 1 + l);
        scratch += ring_scratch_len(&r->ring, r->seg_lo[l], r->group_hi[l]);
    }
}

static void free_(nn_reducer *r)
{
    free(r->ring_scratch);
    ring_free(&r->ring);
}

/* A ring moves on only when called (each step needs the last one's
 * messages): every layer boundary advances all rings in flight. */
static void start_group_(nn_reducer *r, int layer)
{
    ring_op_start(&r->ring, &r->ring_ops[layer]);
    for (int l = layer; l < r->n_layers; l++)
        if (r->group_hi[l] > 0) ring_op_test(&r->ring, &r->ring_ops[l]);
}

static void wait_groups_(nn_reducer *r)
{
    for (int l = 0; l < r->n_layers; l++)
        if (r->group_hi[l] > 0) ring_op_wait(&r->ring, &r->ring_ops[l]);
}

static void whole_(nn_reducer *r)
{
    ring_op_start(&r->ring, &r->ring_whole);
    ring_op_wait(&r->ring, &r->ring_whole);
}

const nn_reduce_method nn_reduce_ring = {
    .create = create_, .free = free_, .start_group = start_group_, .wait_groups = wait_groups_, .whole = whole_};
