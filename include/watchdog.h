/*
 * watchdog.h: --step-timeout. A thread on every rank watches the trainer's
 * heartbeat; when no step has ended (and no evaluation or checkpoint phase
 * has begun or ended) for the timeout, the rank says where it was waiting and
 * ends its process with NN_EXIT_HUNG, so that the launcher (mpirun, srun)
 * ends the whole job instead of every rank waiting forever on a rank that
 * was stopped (kill -STOP), hung, or lost without the launcher noticing.
 *
 * Why a thread and _exit, not MPI: the waiting ranks are inside an MPI call
 * (the step's reduction) that will never return, and MPI is initialised
 * without thread support; the launcher's own reaction to a rank exiting
 * non-zero is what ends the others. No checkpoint is written then: the last
 * complete one stays on disk (a rank that is not there cannot contribute to
 * a consistent one). Checkpoint writes are not timed: a slow file system is
 * not a hung rank.
 */
#ifndef NN_WATCHDOG_H
#define NN_WATCHDOG_H

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    double timeout_s;          /* 0: no watchdog */
    int rank;
    _Atomic long long beat_ns; /* CLOCK_MONOTONIC of the last sign of progress; 0 while paused */
    _Atomic long step;         /* the global step the rank was in */
    const char *_Atomic where; /* a string literal: what the rank was doing */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int running, stopping;
} nn_watchdog;

/* Starts the thread (nothing when timeout_s <= 0). */
void watchdog_start(nn_watchdog *w, double timeout_s, int rank);

/* Progress: the rank is now doing `where` (a string literal) in global step `step`. No allocation, no lock. */
void watchdog_beat(nn_watchdog *w, long step, const char *where);

/* Not timed from here until the next beat (a checkpoint write). */
void watchdog_pause(nn_watchdog *w);

/* Stops and joins the thread. */
void watchdog_stop(nn_watchdog *w);

#endif
