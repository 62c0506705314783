/*
 * pcoll_leak.c: shows, without nnmpi, the Open MPI 4.1 leak that lsan.supp
 * and valgrind.supp suppress: each persistent allreduce request leaks its
 * libnbc schedule even after MPI_Request_free.
 *
 *   mpicc -g -fsanitize=address -DNREP=1 pcoll_leak.c -o p1
 *   mpicc -g -fsanitize=address -DNREP=5 pcoll_leak.c -o p5
 *   mpirun -n 2 ./p1    # every rank: "Direct leak of 4000 byte(s) in 1 object(s)"
 *   mpirun -n 2 ./p5    # every rank: "Direct leak of 20000 byte(s) in 5 object(s)"
 * (allocated under PMPIX_Allreduce_init): one schedule per request.
 */
#include <mpi.h>
#if defined(OPEN_MPI) && OPEN_MPI
#include <mpi-ext.h>
#endif
#ifndef NREP
#define NREP 5
#endif
#if MPI_VERSION >= 4
#define ALLREDUCE_INIT MPI_Allreduce_init
#else
#define ALLREDUCE_INIT MPIX_Allreduce_init
#endif

int main(int argc, char **argv)
{
    static float buf[1000];
    MPI_Init(&argc, &argv);
    for (int rep = 0; rep < NREP; rep++) {
        MPI_Request req = MPI_REQUEST_NULL;
        ALLREDUCE_INIT(MPI_IN_PLACE, buf, 1000, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, MPI_INFO_NULL, &req);
        for (int i = 0; i < 3; i++) {
            MPI_Start(&req);
            MPI_Wait(&req, MPI_STATUS_IGNORE);
        }
        MPI_Request_free(&req);
    }
    MPI_Finalize();
    return 0;
}
