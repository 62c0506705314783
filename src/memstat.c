/* memstat.c: PSS from /proc/self/smaps_rollup, summed per node (memstat.h). */
#include "memstat.h"

#include <stdio.h>
#include <string.h>

#include "nn_check.h"

long long memstat_pss_bytes(void)
{
    char line[256];
    long long kb = -1;
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return -1;
    while (kb < 0 && fgets(line, sizeof line, f))
        if (strncmp(line, "Pss:", 4) != 0 || sscanf(line + 4, "%lld", &kb) != 1) kb = -1;
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

void memstat_pss(MPI_Comm comm, double pss_mb[2], double *node_pss_mb)
{
    MPI_Comm node;
    long long mine = memstat_pss_bytes();
    double mb = (double)mine / (1024.0 * 1024.0), node_sum = 0.0;
    MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
    MPI_CHECK(MPI_Allreduce(&mb, &node_sum, 1, MPI_DOUBLE, MPI_SUM, node));
    MPI_CHECK(MPI_Comm_free(&node));
    /* one MPI_MAX for all four: the minimum as the maximum of the negated values */
    double v[4] = {-mb, mb, node_sum, mine < 0 ? 1.0 : 0.0}, top[4];
    MPI_CHECK(MPI_Allreduce(v, top, 4, MPI_DOUBLE, MPI_MAX, comm));
    int unreadable = top[3] > 0.0;
    pss_mb[0] = unreadable ? -1.0 : -top[0];
    pss_mb[1] = unreadable ? -1.0 : top[1];
    *node_pss_mb = unreadable ? -1.0 : top[2];
}
