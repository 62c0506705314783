/*
 * predict.c: a trained model's classes and probabilities for an image file
 * (predict.h).
 */
#include "predict.h"

#include <stdio.h>
#include <stdlib.h>

#include "options.h"
#include "outfile.h"
#include "train.h"

/* The buffers of one prediction, allocated once. */
typedef struct {
    int rank, nranks, classes;
    int idx[PREDICT_ROWS];  /* data set indices of this rank's rows in the round */
    float *gathered;        /* rank 0: (nranks * PREDICT_ROWS, classes), rank k's block at row k * PREDICT_ROWS */
    nn_outfile out;         /* rank 0 */
    nn_err err;             /* rank 0: the first write failure */
} predictor;

/* Writes rows [first, first + n) of the round: block k of `gathered` holds
 * rank k's rows, which follow each other in input order. */
static void write_round_(predictor *p, long first, long n, nn_loss loss)
{
    FILE *fp = p->out.fp;
    for (long r = 0; r < n && !p->err.failed; r++) {
        const float *a = p->gathered + (size_t)r * p->classes; /* blocks are contiguous and full but the last */
        double sum = 0.0;
        int best = 0;
        for (int j = 0; j < p->classes; j++) {
            sum += a[j];
            if (a[j] > a[best]) best = j;
        }
        double scale = loss == LOSS_MSE && sum > 0.0 ? 1.0 / sum : 1.0;
        fprintf(fp, "%ld,%d", first + r, best);
        for (int j = 0; j < p->classes; j++) fprintf(fp, ",%.6g", a[j] * scale);
        if (fputc('\n', fp) == EOF || ferror(fp))
            nn_file_fail_(&p->err, __FILE__, __LINE__, "--output: cannot write '%s'", p->out.tmp);
    }
}

/* One round: every rank passes its block forward, rank 0 gathers and writes. */
static void round_(predictor *p, nn_net *net, const idx_set *images, long base, MPI_Comm comm)
{
    long lo = base + (long)p->rank * PREDICT_ROWS, hi = lo + PREDICT_ROWS;
    if (hi > images->count) hi = images->count;
    int n = hi > lo ? (int)(hi - lo) : 0;
    for (int r = 0; r < n; r++) p->idx[r] = (int)(lo + r);
    idx_gather_rows(images, p->idx, n, net->act[0]);
    net_forward(net, 0, n);
    /* Every rank sends a full block (a short last block carries unused rows),
     * so the gather needs no counts. */
    MPI_CHECK(MPI_Gather(net->act[net->n_layers], PREDICT_ROWS * p->classes, MPI_FLOAT, p->gathered,
                         PREDICT_ROWS * p->classes, MPI_FLOAT, 0, comm));
    long round_rows = images->count - base;
    if (round_rows > (long)p->nranks * PREDICT_ROWS) round_rows = (long)p->nranks * PREDICT_ROWS;
    if (p->rank == 0) write_round_(p, base, round_rows, net->loss);
}

int predict_write(nn_net *net, const idx_set *images, const char *out_path, int may_replace, MPI_Comm comm)
{
    predictor p = {.classes = net->sizes[net->n_layers]};
    MPI_CHECK(MPI_Comm_rank(comm, &p.rank));
    MPI_CHECK(MPI_Comm_size(comm, &p.nranks));
    if (p.rank == 0 && outfile_open(&p.out, out_path, may_replace, "--output", &p.err) == 0) {
        p.gathered = NN_MALLOC((size_t)p.nranks * PREDICT_ROWS * p.classes * sizeof(float));
        fprintf(p.out.fp, "index,class");
        for (int j = 0; j < p.classes; j++) fprintf(p.out.fp, ",p%d", j);
        fputc('\n', p.out.fp);
    }
    if (nn_err_agree(&p.err, NN_EXIT_ERROR, comm) != 0) return NN_EXIT_ERROR;
    float dropout = net->dropout; /* none when predicting */
    net->dropout = 0.0f;
    int stop = 0;
    for (long base = 0; base < images->count && !stop; base += (long)p.nranks * PREDICT_ROWS) {
        round_(&p, net, images, base, comm);
        /* a full disk on rank 0 or a stop signal on any rank ends the work at once, everywhere */
        int mine = p.err.failed ? 2 : nn_stop_signal ? 1 : 0;
        MPI_CHECK(MPI_Allreduce(&mine, &stop, 1, MPI_INT, MPI_MAX, comm));
    }
    net->dropout = dropout;
    if (p.rank == 0 && stop == 1)
        nn_err_set(&p.err, "stopped by a signal before every image was classified: '%s' was not written", out_path);
    if (p.rank == 0 && !p.err.failed) outfile_commit(&p.out, &p.err);
    if (p.rank == 0 && p.err.failed) outfile_abandon(&p.out);
    free(p.gathered);
    return nn_err_agree(&p.err, stop == 1 ? NN_EXIT_STOPPED_UNSAVED : NN_EXIT_ERROR, comm);
}
