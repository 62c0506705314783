/*
 * predict.h: --predict FILE --resume CK.h5 --output OUT.csv: the class and
 * the class probabilities of every image of an IDX file, by a trained model.
 * Every rank holds the image file (as for training); the rows are shared out
 * in rounds (rank k takes the k-th block of PREDICT_ROWS of each round) and
 * rank 0 gathers each round and writes it in input order, so the output
 * needs one round's memory however large the file.
 */
#ifndef NN_PREDICT_H
#define NN_PREDICT_H

#include <mpi.h>

#include "idx.h"
#include "net.h"

/* Rows each rank passes forward per round; the net must hold this many rows. */
#define PREDICT_ROWS 256

/* Collective. Writes OUT (outfile.h: whole or not at all; an existing file
 * only with may_replace): a header "index,class,p0,...,p<K-1>", then one line
 * per image in file order. p are the softmax outputs (--loss xent) or the
 * sigmoid outputs scaled to sum to 1 (--loss mse). Returns 0, or
 * NN_EXIT_ERROR (a write failed) or NN_EXIT_STOPPED_UNSAVED (a stop signal:
 * SIGTERM, SIGINT, SIGHUP, SIGUSR1) on every rank after one printed why;
 * OUT is then untouched. */
int predict_write(nn_net *net, const idx_set *images, const char *out_path, int may_replace, MPI_Comm comm);

#endif
