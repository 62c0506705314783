/* watchdog.c: --step-timeout (see watchdog.h). */
#include "watchdog.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nn_check.h"
#include "options.h"

static long long now_ns_(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void watchdog_beat(nn_watchdog *w, long step, const char *where)
{
    atomic_store(&w->step, step);
    atomic_store(&w->where, where);
    atomic_store(&w->beat_ns, now_ns_());
}

void watchdog_pause(nn_watchdog *w) { atomic_store(&w->beat_ns, 0); }

/* Checks a few times per timeout; ends the process once the heartbeat is older than the timeout. */
static void *watch_(void *arg)
{
    nn_watchdog *w = arg;
    double period_s = w->timeout_s / 4 < 1.0 ? w->timeout_s / 4 : 1.0;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long long ns = until.tv_nsec + (long long)(period_s * 1e9);
        until.tv_sec += (time_t)(ns / 1000000000LL), until.tv_nsec = (long)(ns % 1000000000LL);
        pthread_cond_timedwait(&w->wake, &w->lock, &until);
        long long beat = atomic_load(&w->beat_ns);
        if (w->stopping || beat == 0 || (now_ns_() - beat) / 1e9 < w->timeout_s) continue;
        char msg[512];
        int n = snprintf(msg, sizeof msg,
                         "nnmpi: error (rank %d): no progress for %.0f s (--step-timeout) while %s in global step %ld; "
                         "a rank is stopped, hung or far slower than the others: ending the job (the last "
                         "checkpoint on disk is kept)\n",
                         w->rank, w->timeout_s, atomic_load(&w->where), atomic_load(&w->step));
        if (n > 0) (void)!write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
        _exit(NN_EXIT_HUNG);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

void watchdog_start(nn_watchdog *w, double timeout_s, int rank)
{
    memset(w, 0, sizeof *w);
    w->timeout_s = timeout_s;
    w->rank = rank;
    if (timeout_s <= 0) return;
    watchdog_beat(w, 0, "starting");
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    int rc = pthread_create(&w->thread, NULL, watch_, w);
    if (rc != 0) nn_die(NN_EXIT_ERROR, "cannot start the --step-timeout watchdog thread: %s", strerror(rc));
    w->running = 1;
}

void watchdog_stop(nn_watchdog *w)
{
    if (!w->running) return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    w->running = 0;
}
