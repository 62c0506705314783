/*
 * timers.h: per-phase wall-clock totals of one rank, and their spread over
 * ranks (min / median / max), gathered to rank 0 once per epoch.
 */
#ifndef NN_TIMERS_H
#define NN_TIMERS_H

#include <mpi.h>

typedef enum {
    PH_GATHER,     /* bytes -> floats of the step's rows */
    PH_FORWARD,
    PH_BACKWARD,   /* excluding starting the overlapped reductions */
    PH_ALLREDUCE,  /* starting reductions plus waiting for them: communication not hidden */
    PH_UPDATE,
    PH_EVAL,
    PH_CHECKPOINT,
    PH_EPOCH,      /* wall time of the epoch's training steps */
    PH_COUNT
} nn_phase;

extern const char *const nn_phase_names[PH_COUNT];

typedef struct {
    double sec[PH_COUNT]; /* this rank's totals since timers_reset */
} nn_timers;

/* Spread of each phase over ranks, valid on rank 0 after timers_gather. */
typedef struct {
    double min[PH_COUNT], median[PH_COUNT], max[PH_COUNT];
    double *all; /* (nranks, PH_COUNT) scratch on rank 0, allocated once */
    int nranks;
} nn_timer_spread;

static inline void timers_reset(nn_timers *t)
{
    for (int i = 0; i < PH_COUNT; i++) t->sec[i] = 0.0;
}

void timer_spread_create(nn_timer_spread *s, MPI_Comm comm);
void timer_spread_free(nn_timer_spread *s);
/* Collective: gathers every rank's totals and fills min/median/max on rank 0. */
void timers_gather(const nn_timers *t, nn_timer_spread *s, MPI_Comm comm);

/* Sorts v[0..n) and returns its median. */
double median_of(double *v, int n);

#endif
