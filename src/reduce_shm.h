/*
 * reduce_shm.h: the pieces of --allreduce shm that its two files share; not
 * an interface of the reducer (that is reduce.h). reduce_shm.c: the node's
 * window and its flag barrier; reduce_shm_step.c: a training step's
 * exchanges through the node's windows, for nn_reduce_shm's table.
 */
#ifndef NN_REDUCE_SHM_H
#define NN_REDUCE_SHM_H

#include <stdatomic.h>

#include "reduce.h"

/* reduce_shm.c */
void reduce_shm_sync(nn_reducer *r); /* the node's barrier of flags; MPI_Win_sync on every window around it */
void reduce_shm_populate(nn_reducer *r, float *mine, size_t bytes, MPI_Win *win); /* real pages now, agreed */
atomic_ulong *reduce_shm_verdict(const nn_reducer *r, int q); /* rank q's verdict, in its flag's line */

/* reduce_shm_step.c: the sharded update (reducer_share_model) */
int reduce_shm_share_model(nn_reducer *r, nn_net *net);
void reduce_shm_sum_part(nn_reducer *r);
void reduce_shm_start_part_group(nn_reducer *r, int layer); /* overlap across nodes */
int reduce_shm_end_update(nn_reducer *r, int nonfinite);
void reduce_shm_free_model(nn_reducer *r);
/* the factor exchange (reducer_share_batch) */
int reduce_shm_share_batch(nn_reducer *r, const nn_net *net, int batch);
void reduce_shm_sum_ctrl(nn_reducer *r);
void reduce_shm_free_batch(nn_reducer *r);

#endif
