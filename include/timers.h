/*
 * timers.h: per-phase wall-clock totals of one rank, taken as laps (each
 * phase's time runs from the end of the previous lap), and their spread over
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
    double lap_start;     /* MPI_Wtime() at timers_start or the last lap */
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

/* Starts the clock of the next lap. */
static inline void timers_start(nn_timers *t) { t->lap_start = MPI_Wtime(); }

/* The time since the last lap (or timers_start) goes to `phase`; the next lap starts now. */
static inline void timers_lap(nn_timers *t, nn_phase phase)
{
    double now = MPI_Wtime();
    t->sec[phase] += now - t->lap_start;
    t->lap_start = now;
}

/* Moves `seconds` already counted in `from` to `to` (work of one phase done inside another's lap). */
static inline void timers_move(nn_timers *t, nn_phase from, nn_phase to, double seconds)
{
    t->sec[from] -= seconds;
    t->sec[to] += seconds;
}

void timer_spread_create(nn_timer_spread *s, MPI_Comm comm);
void timer_spread_free(nn_timer_spread *s);
/* Collective: gathers every rank's totals and fills min/median/max on rank 0. */
void timers_gather(const nn_timers *t, nn_timer_spread *s, MPI_Comm comm);

/* The compute phases (gather, forward, backward, update) summed, each its maximum over ranks. */
static inline double timers_compute_s(const nn_timer_spread *s)
{
    return s->max[PH_GATHER] + s->max[PH_FORWARD] + s->max[PH_BACKWARD] + s->max[PH_UPDATE];
}

/* Sorts v[0..n) and gives its minimum, median and maximum (all 0 when n is 0). */
void spread_of(double *v, int n, double *min, double *median, double *max);

#endif
