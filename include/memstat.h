/*
 * memstat.h: the memory a run's processes hold, as the kernel counts it.
 *
 * PSS (proportional set size, Pss: of /proc/self/smaps_rollup) charges each
 * resident page to the processes that map it in equal parts, so the PSS of a
 * node's ranks adds up to the memory they hold together: a page of the
 * node's shared data window counts once in the node's sum, however many
 * ranks map it, where RSS would count it once per rank.
 */
#ifndef NN_MEMSTAT_H
#define NN_MEMSTAT_H

#include <mpi.h>

/* This process's PSS in bytes, or -1 when it cannot be read (a kernel before
 * 4.14, no /proc). */
long long memstat_pss_bytes(void);

/* Collective over comm: the ranks' PSS in MiB, min and max (pss_mb[0], [1]),
 * and the largest sum over one node's ranks (*node_pss_mb); -1 in all three
 * when any rank could not read its own. Valid on every rank. */
void memstat_pss(MPI_Comm comm, double pss_mb[2], double *node_pss_mb);

#endif
