/* timers.c: gathers per-phase times to rank 0 and reduces them to min/median/max. */
#include "timers.h"

#include <stdlib.h>
#include <string.h>

#include "nn_check.h"

const char *const nn_phase_names[PH_COUNT] = {"gather", "forward", "backward", "allreduce_wait",
                                              "update", "eval",    "checkpoint", "epoch"};

void timer_spread_create(nn_timer_spread *s, MPI_Comm comm)
{
    memset(s, 0, sizeof *s);
    MPI_CHECK(MPI_Comm_size(comm, &s->nranks));
    s->all = NN_MALLOC(sizeof(double) * (size_t)s->nranks * PH_COUNT);
}

void timer_spread_free(nn_timer_spread *s)
{
    free(s->all);
    s->all = NULL;
}

static int cmp_double_(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void spread_of(double *v, int n, double *min, double *median, double *max)
{
    *min = *median = *max = 0.0;
    if (n <= 0) return;
    qsort(v, (size_t)n, sizeof *v, cmp_double_);
    *min = v[0];
    *median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    *max = v[n - 1];
}

void timers_gather(const nn_timers *t, nn_timer_spread *s, MPI_Comm comm)
{
    int rank = 0;
    MPI_CHECK(MPI_Comm_rank(comm, &rank));
    MPI_CHECK(MPI_Gather(t->sec, PH_COUNT, MPI_DOUBLE, s->all, PH_COUNT, MPI_DOUBLE, 0, comm));
    if (rank != 0) return;
    double column[s->nranks];
    for (int p = 0; p < PH_COUNT; p++) {
        for (int r = 0; r < s->nranks; r++) column[r] = s->all[(size_t)r * PH_COUNT + p];
        spread_of(column, s->nranks, &s->min[p], &s->median[p], &s->max[p]);
    }
}
