/*
 * main.c: nnmpi's entry point. Parses the options (identically on every
 * rank), sets MPI up so every error code comes back to the checked-call
 * macros, and hands over to the trainer. Read train.c next.
 */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>

#include "nn_check.h"
#include "options.h"
#include "train.h"

int main(int argc, char **argv)
{
    /* Before MPI_Init: a SIGUSR1 from Slurm during start-up must not kill the rank. */
    trainer_install_signal_handlers();
    MPI_Init(&argc, &argv);
    /* Errors come back as codes; MPI_CHECK reports them and aborts the job. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    /* HDF5 1.10's exit-time cleanup crashes on a file whose H5Fclose failed
     * (a full disk during a checkpoint write): it is run by hand below, on
     * the way out of a run that did not fail. Before any other HDF5 call,
     * which would register it. */
    H5dont_atexit();
    /* Our own messages instead of HDF5's automatic stack dumps. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rank = 0;
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));

    nn_options opt;
    nn_err err = {0};
    options_result parsed = options_parse(argc, argv, &opt, rank == 0 ? stdout : NULL, &err);
    if (parsed != OPTIONS_RUN) {
        if (parsed == OPTIONS_ERROR && rank == 0) fprintf(stderr, "nnmpi: error: %s\n", err.msg);
        MPI_Finalize();
        return parsed == OPTIONS_ERROR ? NN_EXIT_USAGE : NN_EXIT_OK;
    }
    nn_trainer trainer;
    int status = trainer_setup(&trainer, &opt, MPI_COMM_WORLD);
    if (status == NN_EXIT_OK) status = trainer_run(&trainer);
    trainer_free(&trainer);
    if (status != NN_EXIT_ERROR) H5close();
    MPI_Finalize();
    return status;
}
