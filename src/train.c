/* train.c: start-up checks, the epoch and step loops, evaluation, checkpoints. */
#include "train.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "rng.h"
#include "slice.h"

#define EVAL_ROWS 256 /* rows per forward pass when evaluating */

volatile sig_atomic_t nn_stop_signal = 0;

static void on_stop_signal_(int sig) { nn_stop_signal = sig; }

void trainer_install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal_;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

/* ---------- start-up ---------- */

/* Collective: every rank passes its own err; when any failed, the lowest
 * failing rank prints its message and every rank returns `status`. */
static int agree_(nn_trainer *t, const nn_err *err, int status)
{
    int mine = err->failed ? t->rank : t->nranks, first = t->nranks;
    MPI_CHECK(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, t->comm));
    if (first == t->nranks) return 0;
    if (t->rank == first) {
        if (t->nranks > 1 && first != 0)
            fprintf(stderr, "nnmpi: error (rank %d): %s\n", first, err->msg);
        else
            fprintf(stderr, "nnmpi: error: %s\n", err->msg);
        fflush(stderr);
    }
    return status;
}

static void data_path_(char *out, size_t len, const char *dir, const char *file)
{
    snprintf(out, len, "%s/%s", dir, file);
}

/* The rows [lo, hi) of a step's batch of `rows` that this rank computes:
 * its share of the rows, or with --reproducible its share of whole chunks. */
static void my_rows_(const nn_trainer *t, int rows, int *lo, int *hi)
{
    if (t->opt.reproducible)
        slice_chunk_rows(rows, t->chunk, t->rank, t->nranks, lo, hi);
    else
        slice_part(rows, t->rank, t->nranks, lo, hi);
}

/* Loads (rank 0) and broadcasts a --resume checkpoint, and reconciles it with the options. */
static int resume_load_(nn_trainer *t, nn_checkpoint *ck, nn_err *err)
{
    nn_options *opt = &t->opt;
    if (t->rank == 0) checkpoint_read(opt->resume_path, NULL, 0, ck, err);
    int status = agree_(t, err, NN_EXIT_ERROR);
    if (status) return status;
    /* Everything but the arrays, then the arrays (homogeneous cluster: plain bytes). */
    float *params = ck->params, *velocity = ck->velocity;
    int has_velocity = velocity != NULL;
    MPI_CHECK(MPI_Bcast(ck, sizeof *ck, MPI_BYTE, 0, t->comm));
    MPI_CHECK(MPI_Bcast(&has_velocity, 1, MPI_INT, 0, t->comm));
    if (t->rank != 0) {
        params = NN_MALLOC(sizeof(float) * ck->n_params);
        velocity = has_velocity ? NN_MALLOC(sizeof(float) * ck->n_params) : NULL;
    }
    ck->params = params;
    ck->velocity = velocity;
    MPI_CHECK(MPI_Bcast(ck->params, (int)ck->n_params, MPI_FLOAT, 0, t->comm));
    if (has_velocity) MPI_CHECK(MPI_Bcast(ck->velocity, (int)ck->n_params, MPI_FLOAT, 0, t->comm));

    /* Model: taken from the file unless given, and then it must match. */
    const char *path = opt->resume_path;
    if (opt->layers_given) {
        int same = opt->n_sizes == ck->n_sizes && memcmp(opt->sizes, ck->sizes, sizeof(int) * (size_t)ck->n_sizes) == 0;
        if (!same) nn_err_set(err, "--layers does not match the layers of checkpoint '%s'", path);
    }
    if (opt->activation_given && opt->activation != ck->activation)
        nn_err_set(err, "--activation %s does not match checkpoint '%s' (%s)", options_activation_name(opt->activation),
                   path, options_activation_name(ck->activation));
    if (opt->loss_given && opt->loss != ck->loss)
        nn_err_set(err, "--loss %s does not match checkpoint '%s' (%s)", options_loss_name(opt->loss), path,
                   options_loss_name(ck->loss));
    opt->n_sizes = ck->n_sizes;
    memcpy(opt->sizes, ck->sizes, sizeof opt->sizes);
    opt->activation = ck->activation;
    opt->loss = ck->loss;
    /* The data order: continuing exactly needs the same seed, batch, train size and shuffling. */
    if (!opt->eval_only) {
        int train_size = opt->train_size > 0 ? opt->train_size : t->train.count;
        if (ck->seed != opt->seed || ck->batch != opt->batch || ck->train_size != train_size ||
            ck->shuffle != opt->shuffle)
            nn_err_set(err,
                       "checkpoint '%s' was written with --seed %llu --batch %d --train-size %d --shuffle %s; "
                       "resume with the same values (given: --seed %llu --batch %d --train-size %d --shuffle %s)",
                       path, (unsigned long long)ck->seed, ck->batch, ck->train_size, ck->shuffle ? "on" : "off",
                       (unsigned long long)opt->seed, opt->batch, train_size, opt->shuffle ? "on" : "off");
        else if (ck->reproducible != opt->reproducible || (opt->reproducible && ck->chunk != options_chunk(opt)))
            nn_err_set(err, "checkpoint '%s' was written %s; resume with the same --reproducible/--chunk", path,
                       ck->reproducible ? "with --reproducible" : "without --reproducible");
        else if (ck->step > slice_steps_per_epoch(train_size, opt->batch))
            nn_err_set(err, "checkpoint '%s': step %d is past the end of an epoch of %d steps", path, ck->step,
                       slice_steps_per_epoch(train_size, opt->batch));
    }
    return agree_(t, err, NN_EXIT_USAGE);
}

/* Names of the distinct hosts of the job, comma-separated, and how many. */
static int gather_node_names_(nn_trainer *t)
{
    char mine[MPI_MAX_PROCESSOR_NAME] = {0};
    int len = 0;
    MPI_CHECK(MPI_Get_processor_name(mine, &len));
    char *all = t->rank == 0 ? NN_MALLOC((size_t)t->nranks * MPI_MAX_PROCESSOR_NAME) : NULL;
    MPI_CHECK(MPI_Gather(mine, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, t->comm));
    int nodes = 0;
    if (t->rank == 0) {
        t->node_names[0] = '\0';
        for (int r = 0; r < t->nranks; r++) {
            const char *name = all + (size_t)r * MPI_MAX_PROCESSOR_NAME;
            int seen = 0;
            for (int q = 0; q < r && !seen; q++) seen = strcmp(name, all + (size_t)q * MPI_MAX_PROCESSOR_NAME) == 0;
            if (seen) continue;
            size_t used = strlen(t->node_names);
            snprintf(t->node_names + used, sizeof t->node_names - used, "%s%s", nodes ? "," : "", name);
            nodes++;
        }
        free(all);
    }
    MPI_CHECK(MPI_Bcast(&nodes, 1, MPI_INT, 0, t->comm));
    return nodes;
}

/* Times one blocking allreduce of the gradient buffer (median of 9 after warm-up):
 * the reference against which overlap reports the hidden fraction. */
static double measure_allreduce_(nn_trainer *t)
{
    if (t->nranks == 1) return 0.0;
    double times[9];
    size_t n = NN_CTRL + t->net.n_params;
    for (int i = 0; i < 3 + 9; i++) {
        MPI_CHECK(MPI_Barrier(t->comm));
        double t0 = MPI_Wtime();
        reducer_allreduce_whole(&t->reducer);
        double dt = MPI_Wtime() - t0, dt_max = 0.0;
        MPI_CHECK(MPI_Allreduce(&dt, &dt_max, 1, MPI_DOUBLE, MPI_MAX, t->comm));
        if (i >= 3) times[i - 3] = dt_max;
    }
    memset(t->net.reduced, 0, sizeof(float) * n);
    return median_of(times, 9);
}

int trainer_setup(nn_trainer *t, const nn_options *opt, MPI_Comm comm)
{
    memset(t, 0, sizeof *t);
    t->opt = *opt;
    t->comm = comm;
    MPI_CHECK(MPI_Comm_rank(comm, &t->rank));
    MPI_CHECK(MPI_Comm_size(comm, &t->nranks));
    openblas_set_num_threads(opt->threads);

    /* Data: every rank reads its own copy; a problem on any rank stops all. */
    nn_err err = {0};
    char images[4096], labels[4096];
    data_path_(images, sizeof images, opt->data_dir, "train-images-idx3-ubyte");
    data_path_(labels, sizeof labels, opt->data_dir, "train-labels-idx1-ubyte");
    if (!opt->eval_only) idx_load(images, labels, opt->train_size, &t->train, &err);
    if (!err.failed) {
        data_path_(images, sizeof images, opt->data_dir, "t10k-images-idx3-ubyte");
        data_path_(labels, sizeof labels, opt->data_dir, "t10k-labels-idx1-ubyte");
        idx_load(images, labels, opt->test_size, &t->test, &err);
    }
    if (err.failed && strstr(err.msg, "asked for") == err.msg) {
        /* --train-size / --test-size beyond the file: name the option */
        nn_err_prefix(&err, "%s: ", t->train.count == 0 && !opt->eval_only ? "--train-size" : "--test-size");
    }
    int status = agree_(t, &err, NN_EXIT_ERROR);
    if (status) return status;
    t->opt.train_size = t->train.count;
    t->opt.test_size = t->test.count;

    /* --resume: the model comes from the file, and so does the position. */
    nn_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    if (opt->resume_path) {
        status = resume_load_(t, &ck, &err);
        if (status) {
            checkpoint_free(&ck);
            return status;
        }
        t->start_epoch = ck.epoch;
        t->start_step = ck.step;
    }
    /* The checkpoint directory must be writable before an hour of training, not after. */
    if (opt->checkpoint_path && t->rank == 0) checkpoint_check_writable(opt->checkpoint_path, &err);
    if (opt->metrics_path && t->rank == 0) t->metrics = metrics_open(opt->metrics_path, &err);
    status = agree_(t, &err, NN_EXIT_ERROR);
    if (status) {
        checkpoint_free(&ck);
        return status;
    }

    /* --overlap auto: within one node the reduction is memory copies by the
     * cores that compute, so nothing can be hidden, and Open MPI's blocking
     * allreduce is faster than its non-blocking one (docs/benchmarks.md);
     * across nodes the network moves the data while backward computes. */
    t->info.nodes = gather_node_names_(t);
    if (t->opt.overlap == NN_OVERLAP_AUTO) t->opt.overlap = t->info.nodes > 1;
    /* --reproducible adds its chunk tree after backward, not through the
     * reducer: no overlap or ring to set up, measure or report. */
    if (t->opt.reproducible) t->opt.overlap = 0, t->opt.allreduce_ring = 0;

    /* Buffers, sized once for the most rows any pass computes: this rank's
     * part of a full batch (it is never smaller than the epoch's last one). */
    t->chunk = options_chunk(&t->opt);
    t->steps_per_epoch = t->train.count > 0 ? slice_steps_per_epoch(t->train.count, t->opt.batch) : 0;
    int step_rows[2] = {0, 0}; /* this rank's rows in a full step and in the epoch's last step */
    for (int i = 0; i < 2 && t->steps_per_epoch > 0; i++) {
        int rows = slice_batch_rows(t->train.count, t->opt.batch, i == 0 ? 0 : t->steps_per_epoch - 1), lo, hi;
        my_rows_(t, rows, &lo, &hi);
        step_rows[i] = hi - lo;
    }
    int rows = step_rows[0] > EVAL_ROWS ? step_rows[0] : EVAL_ROWS;
    net_create(&t->net, t->opt.sizes, t->opt.n_sizes, t->opt.activation, t->opt.loss, rows, t->opt.momentum > 0.0);
    reducer_create(&t->reducer, &t->net, comm, t->opt.overlap, t->opt.allreduce_ring);
    t->perm = NN_MALLOC(sizeof(int) * (size_t)(t->train.count > 0 ? t->train.count : 1));
    timer_spread_create(&t->spread, comm);

    if (opt->resume_path) {
        memcpy(t->net.params, ck.params, sizeof(float) * t->net.n_params);
        if (t->net.velocity && ck.velocity) memcpy(t->net.velocity, ck.velocity, sizeof(float) * t->net.n_params);
        checkpoint_free(&ck);
    } else {
        net_init_params(&t->net, t->opt.init, t->opt.seed);
    }
    if (t->opt.reproducible) {
        int batch_rows[2] = {0, 0}; /* global rows of a full step and of the epoch's last step */
        for (int i = 0; i < 2 && t->steps_per_epoch > 0; i++)
            batch_rows[i] = slice_batch_rows(t->train.count, t->opt.batch, i == 0 ? 0 : t->steps_per_epoch - 1);
        repro_create(&t->repro, &t->net, comm, t->chunk, batch_rows, 2);
    }
    t->global_step = (long)t->start_epoch * t->steps_per_epoch + t->start_step;

    /* What the metrics header records. */
    int len = 0;
    MPI_CHECK(MPI_Get_library_version(t->mpi_library, &len));
    for (char *c = t->mpi_library; *c; c++)
        if (*c == '\n') *c = ' ';
    t->info.ranks = t->nranks;
    t->info.node_names = t->node_names;
    t->info.threads = t->opt.threads;
    t->info.openblas_core = openblas_get_corename();
    t->info.openblas_config = openblas_get_config();
    t->info.mpi_library = t->mpi_library;
    t->info.allreduce_ref_s = t->opt.overlap ? measure_allreduce_(t) : 0.0;
    t->info.repro_forward_batched = t->repro.forward_batched;
    t->info.repro_delta_batched = t->repro.delta_batched;
    return 0;
}

void trainer_free(nn_trainer *t)
{
    if (t->metrics) fclose(t->metrics);
    timer_spread_free(&t->spread);
    free(t->perm);
    if (t->opt.reproducible) repro_free(&t->repro);
    reducer_free(&t->reducer);
    net_free(&t->net);
    idx_free(&t->train);
    idx_free(&t->test);
    memset(t, 0, sizeof *t);
}

/* ---------- one step ---------- */

void trainer_begin_epoch(nn_trainer *t, int epoch)
{
    if (t->opt.shuffle) {
        nn_rng rng;
        rng_seed(&rng, t->opt.seed, (uint64_t)epoch + 1); /* stream 0x1a17 is the initialisation's */
        rng_permutation(&rng, t->perm, t->train.count);
    } else {
        for (int i = 0; i < t->train.count; i++) t->perm[i] = i;
    }
}

/* Copies rows [lo, hi) of the step's batch into act[0] and labels. */
static void gather_rows_(nn_trainer *t, const int *batch_idx, int lo, int hi)
{
    idx_gather_rows(&t->train, batch_idx + lo, hi - lo, t->net.act[0]);
    for (int r = lo; r < hi; r++) t->net.labels[r - lo] = t->train.labels[batch_idx[r]];
}

/* Starts loading into cache the images this rank will gather in step `step`
 * (none past the epoch's end): they are scattered over 47 MB, and for a small
 * net the gather waiting on memory was a fifth of a step. */
static void prefetch_step_(nn_trainer *t, int step)
{
    if (step >= t->steps_per_epoch) return;
    int lo, hi;
    my_rows_(t, slice_batch_rows(t->train.count, t->opt.batch, step), &lo, &hi);
    idx_prefetch_rows(&t->train, t->perm + (size_t)step * t->opt.batch + lo, hi - lo);
}

/* The backward pass's per-layer hook: start that layer's reduction. */
static void on_layer_done_(int layer, void *ctx) { reducer_layer_ready(ctx, layer); }

/* Forward and backward over rows [lo, hi) of the batch, with the control votes:
 * the float gradient into net->reduced, or with --reproducible the tree sums
 * of this rank's pieces. Each layer's reduction starts as backward finishes it
 * (without --reproducible). */
static void compute_rows_(nn_trainer *t, int step, const int *batch_idx, int lo, int hi, float stop_vote)
{
    nn_net *net = &t->net;
    int rows = hi - lo;
    double t0 = MPI_Wtime();
    gather_rows_(t, batch_idx, lo, hi);
    prefetch_step_(t, step + 1);
    double t1 = MPI_Wtime();
    if (t->opt.reproducible) {
        repro_forward(&t->repro, stop_vote);
    } else {
        net_forward(net, 0, rows);
        net->reduced[NN_CTRL_LOSS] = rows > 0 ? (float)net_output_delta(net, 0, rows) : 0.0f;
        net->reduced[NN_CTRL_STOP] = stop_vote;
    }
    double t2 = MPI_Wtime();
    double posted = t->reducer.t_post;
    if (t->opt.reproducible)
        repro_backward(&t->repro);
    else
        net_backward(net, rows, net->grad, on_layer_done_, &t->reducer);
    double t3 = MPI_Wtime();
    double post = t->reducer.t_post - posted;
    t->timers.sec[PH_GATHER] += t1 - t0;
    t->timers.sec[PH_FORWARD] += t2 - t1;
    t->timers.sec[PH_BACKWARD] += (t3 - t2) - post;
}

step_outcome trainer_step(nn_trainer *t, int step)
{
    nn_net *net = &t->net;
    const nn_options *opt = &t->opt;

    /* Testing hooks: a signal or a NaN at a chosen global step. */
    if (opt->debug_signal_at == t->global_step && t->rank == t->nranks - 1) raise(SIGUSR1);
    if (opt->debug_nan_at == t->global_step) net->params[0] = NAN;

    int rows = slice_batch_rows(t->train.count, opt->batch, step);
    const int *batch_idx = t->perm + (size_t)step * opt->batch;
    /* A vote to stop: a signal arrived on this rank. Summed with the gradient, so
     * every rank learns of it in the same step without a second collective. */
    float stop_vote = nn_stop_signal ? 1.0f : 0.0f;
    reducer_begin_step(&t->reducer);
    /* With --reproducible, whole chunks: their shapes depend on the batch only, never on the rank count. */
    int lo, hi;
    if (t->opt.reproducible)
        repro_begin_step(&t->repro, rows, &lo, &hi); /* my_rows_, and this step's tree pieces */
    else
        my_rows_(t, rows, &lo, &hi);
    compute_rows_(t, step, batch_idx, lo, hi, stop_vote);
    double t0 = MPI_Wtime();
    if (t->opt.reproducible)
        repro_reduce(&t->repro);
    else
        reducer_finish(&t->reducer);
    double t1 = MPI_Wtime();
    t->timers.sec[PH_ALLREDUCE] += (t1 - t0) + t->reducer.t_post;

    t->global_step++;
    t->epoch_steps++;
    t->epoch_samples += rows;
    float loss = net->reduced[NN_CTRL_LOSS];
    t->epoch_loss += loss;
    if (!isfinite(loss)) return STEP_DIVERGED;

    /* Every rank applies the same sums to the same weights (the replica check
     * verifies it), so every rank reaches the same verdict here. */
    int nonfinite = net_sgd_update(net, net->grad, (float)(opt->lr / rows), (float)opt->momentum);
    t->timers.sec[PH_UPDATE] += MPI_Wtime() - t1;
    if (nonfinite) return STEP_DIVERGED;
    if (net->reduced[NN_CTRL_STOP] > 0.0f) return STEP_STOP;
    return STEP_OK;
}

/* ---------- evaluation, replica check, checkpoint ---------- */

void trainer_evaluate(nn_trainer *t, int *correct, double *loss_sum)
{
    int lo, hi;
    slice_part(t->test.count, t->rank, t->nranks, &lo, &hi);
    double sums[2] = {0.0, 0.0}; /* correct, loss */
    int idx[EVAL_ROWS];
    for (int start = lo; start < hi; start += EVAL_ROWS) {
        int n = hi - start < EVAL_ROWS ? hi - start : EVAL_ROWS;
        for (int r = 0; r < n; r++) idx[r] = start + r;
        idx_gather_rows(&t->test, idx, n, t->net.act[0]);
        for (int r = 0; r < n; r++) t->net.labels[r] = t->test.labels[start + r];
        net_forward(&t->net, 0, n);
        sums[0] += net_count_correct(&t->net, n, &sums[1]);
    }
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, t->comm));
    *correct = (int)sums[0];
    *loss_sum = sums[1];
}

static uint64_t fnv1a_(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

int trainer_replica_check(nn_trainer *t)
{
    if (t->opt.debug_perturb_rank == t->rank) t->net.params[t->net.n_params / 2] += 1e-3f; /* testing hook */
    uint64_t h = fnv1a_(0xcbf29ce484222325ull, t->net.params, sizeof(float) * t->net.n_params);
    if (t->net.velocity) h = fnv1a_(h, t->net.velocity, sizeof(float) * t->net.n_params);
    /* One allreduce gives max(h) and max(~h) = ~min(h): all agree when they meet. */
    uint64_t v[2] = {h, ~h}, maxes[2];
    MPI_CHECK(MPI_Allreduce(v, maxes, 2, MPI_UINT64_T, MPI_MAX, t->comm));
    if (maxes[0] == ~maxes[1]) return 0;
    /* Rare path: name the ranks that differ from rank 0. */
    uint64_t *all = t->rank == 0 ? NN_MALLOC(sizeof(uint64_t) * (size_t)t->nranks) : NULL;
    MPI_CHECK(MPI_Gather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, t->comm));
    if (t->rank == 0) {
        char list[1024] = "";
        for (int r = 1; r < t->nranks; r++) {
            size_t used = strlen(list);
            if (all[r] != all[0] && used + 16 < sizeof list) snprintf(list + used, sizeof list - used, " %d", r);
        }
        fprintf(stderr,
                "nnmpi: error: replica check failed at global step %ld: the weights of rank(s)%s differ from "
                "rank 0's; the replicas have diverged (a hardware or MPI fault?)\n",
                t->global_step, list);
        free(all);
    }
    return -1;
}

/* Rank 0 writes the checkpoint at position (epoch, step); collective so every rank learns the outcome. */
static int write_checkpoint_(nn_trainer *t, int epoch, int step)
{
    double t0 = MPI_Wtime();
    if (trainer_replica_check(t) != 0) return NN_EXIT_ERROR;
    nn_err err = {0};
    if (t->rank == 0) {
        const nn_options *o = &t->opt;
        nn_checkpoint ck = {
            .n_sizes = o->n_sizes, .activation = o->activation, .loss = o->loss, .epoch = epoch, .step = step,
            .seed = o->seed, .batch = o->batch, .train_size = o->train_size, .shuffle = o->shuffle,
            .reproducible = o->reproducible, .chunk = o->reproducible ? t->chunk : 0, .lr = o->lr,
            .momentum = o->momentum, .n_params = t->net.n_params, .params = t->net.params, .velocity = t->net.velocity,
        };
        memcpy(ck.sizes, o->sizes, sizeof ck.sizes);
        checkpoint_write(o->checkpoint_path, &ck, &err);
    }
    int status = agree_(t, &err, NN_EXIT_ERROR);
    t->timers.sec[PH_CHECKPOINT] += MPI_Wtime() - t0;
    return status;
}

/* ---------- the run ---------- */

/* Peak resident set size of every rank, in MB: min, median, max on rank 0. */
static void peak_rss_(nn_trainer *t, double out[3])
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double mine = ru.ru_maxrss / 1024.0;
    double *all = t->rank == 0 ? NN_MALLOC(sizeof(double) * (size_t)t->nranks) : NULL;
    MPI_CHECK(MPI_Gather(&mine, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, 0, t->comm));
    if (t->rank == 0) {
        out[1] = median_of(all, t->nranks);
        out[0] = all[0];
        out[2] = all[t->nranks - 1];
        free(all);
    }
}

static void print_startup_(const nn_trainer *t)
{
    const nn_options *o = &t->opt;
    char layers[256] = "";
    for (int i = 0; i < o->n_sizes; i++) {
        size_t used = strlen(layers);
        snprintf(layers + used, sizeof layers - used, "%s%d", i ? "," : "", o->sizes[i]);
    }
    printf("nnmpi %s: %d ranks x %d threads on %d node%s, layers %s, %s/%s, init %s, batch %d, lr %g, momentum %g, "
           "train %d, test %d, seed %llu%s",
           NNMPI_VERSION, t->nranks, o->threads, t->info.nodes, t->info.nodes == 1 ? "" : "s", layers,
           options_activation_name(o->activation), options_loss_name(o->loss), options_init_name(o->init), o->batch,
           o->lr, o->momentum, o->train_size, o->test_size, (unsigned long long)o->seed,
           o->reproducible ? ", reproducible" : "");
    if (o->reproducible) printf(" (chunk %d)", t->chunk);
    if (t->nranks > 1 && !o->reproducible)
        printf(", allreduce %s%s", o->allreduce_ring ? "ring" : "mpi", o->overlap ? " overlapped" : "");
    if (o->resume_path) printf(", resumed from %s at epoch %d step %d", o->resume_path, t->start_epoch, t->start_step);
    printf("\n");
    fflush(stdout);
}

/* The epoch line and metrics record, after evaluation and checkpoint; collective (gathers the timers). */
static void report_epoch_(nn_trainer *t, int epoch, int correct, double test_loss)
{
    timers_gather(&t->timers, &t->spread, t->comm);
    if (t->rank != 0) return;
    const nn_timer_spread *s = &t->spread;
    double epoch_s = s->max[PH_EPOCH];
    double compute_s = s->max[PH_GATHER] + s->max[PH_FORWARD] + s->max[PH_BACKWARD] + s->max[PH_UPDATE];
    double train_loss = t->epoch_samples ? t->epoch_loss / t->epoch_samples : 0.0;
    double hidden = -1.0;
    /* Only when a reduction can run while backward goes on: with every layer
     * fused into one group (small nets) it starts after backward. */
    if (t->opt.overlap && t->reducer.n_groups > 1 && t->nranks > 1 && t->info.allreduce_ref_s > 0.0 &&
        t->epoch_steps > 0) {
        double wait_per_step = s->median[PH_ALLREDUCE] / t->epoch_steps;
        hidden = 1.0 - wait_per_step / t->info.allreduce_ref_s;
        hidden = hidden < 0.0 ? 0.0 : hidden > 1.0 ? 1.0 : hidden;
    }
    if (!t->opt.quiet) {
        printf("Epoch %d: %d/%d (%.2f%%)  loss %.4f  epoch %.2f s  compute %.2f s  allreduce %.2f s", epoch + 1, correct,
               t->test.count, 100.0 * correct / t->test.count, train_loss, epoch_s, compute_s, s->max[PH_ALLREDUCE]);
        if (hidden >= 0.0) printf(" (%.0f%% hidden)", 100.0 * hidden);
        printf("  %.0f samples/s  [fwd %.2f bwd %.2f upd %.2f eval %.2f ckpt %.2f s]\n",
               epoch_s > 0 ? t->epoch_samples / epoch_s : 0.0, s->max[PH_FORWARD], s->max[PH_BACKWARD],
               s->max[PH_UPDATE], s->max[PH_EVAL], s->max[PH_CHECKPOINT]);
        fflush(stdout);
    }
    if (t->metrics) {
        nn_epoch_record rec = {
            .epoch = epoch + 1, .correct = correct, .test_total = t->test.count, .steps = t->epoch_steps,
            .samples = t->epoch_samples, .train_loss = train_loss, .test_loss = test_loss / t->test.count,
            .allreduce_hidden = hidden, .phases = s,
        };
        metrics_epoch(t->metrics, &rec);
    }
}

static int eval_only_(nn_trainer *t)
{
    int correct = 0;
    double loss = 0.0;
    trainer_evaluate(t, &correct, &loss);
    if (t->rank == 0 && !t->opt.quiet) {
        printf("Checkpoint %s (epoch %d, step %d): %d/%d (%.2f%%)  test loss %.4f\n", t->opt.resume_path,
               t->start_epoch, t->start_step, correct, t->test.count, 100.0 * correct / t->test.count,
               loss / t->test.count);
        fflush(stdout);
    }
    return NN_EXIT_OK;
}

int trainer_run(nn_trainer *t)
{
    const nn_options *o = &t->opt;
    double start = MPI_Wtime();
    if (t->rank == 0 && !o->quiet) print_startup_(t);
    if (o->eval_only) return eval_only_(t);
    if (t->metrics) metrics_header(t->metrics, o, &t->info, t->start_epoch, t->start_step);

    const char *final_status = "completed";
    int status = NN_EXIT_OK, epoch = t->start_epoch;
    /* The initial weights are a checkpoint too (epoch 0), unless we resumed from one. */
    if (o->checkpoint_path && !o->resume_path) status = write_checkpoint_(t, 0, 0);

    for (; status == NN_EXIT_OK && epoch < o->epochs; epoch++) {
        timers_reset(&t->timers);
        t->epoch_loss = 0.0;
        t->epoch_samples = t->epoch_steps = 0;
        trainer_begin_epoch(t, epoch);
        int first = epoch == t->start_epoch ? t->start_step : 0;
        double t0 = MPI_Wtime();
        for (int step = first; step < t->steps_per_epoch; step++) {
            step_outcome out = trainer_step(t, step);
            if (out == STEP_DIVERGED) {
                if (t->rank == 0)
                    fprintf(stderr,
                            "nnmpi: error: training diverged at epoch %d step %d (global step %ld): the loss or the "
                            "weights became NaN or Inf; try a smaller --lr. The last checkpoint was left as it was.\n",
                            epoch + 1, step, t->global_step - 1);
                final_status = "diverged";
                status = NN_EXIT_DIVERGED;
                break;
            }
            if (out == STEP_STOP) {
                if (t->rank == 0 && !o->quiet)
                    printf("Stopping on a signal after epoch %d step %d (global step %ld)%s\n", epoch + 1, step + 1,
                           t->global_step, o->checkpoint_path ? "; writing the checkpoint" : "; no --checkpoint given");
                status = o->checkpoint_path ? write_checkpoint_(t, epoch, step + 1) : NN_EXIT_OK;
                if (status == NN_EXIT_OK) status = NN_EXIT_STOPPED;
                final_status = "stopped";
                break;
            }
        }
        t->timers.sec[PH_EPOCH] = MPI_Wtime() - t0;
        if (status != NN_EXIT_OK) break;
        double t1 = MPI_Wtime();
        int correct = 0;
        double test_loss = 0.0;
        trainer_evaluate(t, &correct, &test_loss);
        t->timers.sec[PH_EVAL] += MPI_Wtime() - t1;
        int last = epoch + 1 == o->epochs;
        if (o->checkpoint_path && ((epoch + 1) % o->checkpoint_every == 0 || last))
            status = write_checkpoint_(t, epoch + 1, 0);
        report_epoch_(t, epoch, correct, test_loss);
    }
    if (status == NN_EXIT_OK && trainer_replica_check(t) != 0) status = NN_EXIT_ERROR;

    double rss[3] = {0, 0, 0};
    peak_rss_(t, rss);
    double total = MPI_Wtime() - start;
    if (t->rank == 0) {
        int done = status == NN_EXIT_OK ? o->epochs : epoch;
        if (!o->quiet && status == NN_EXIT_OK)
            printf("Done: %d epochs in %.2f s; peak RSS per rank %.1f MB (max %.1f MB)\n", done, total, rss[1], rss[2]);
        if (t->metrics) metrics_final(t->metrics, status == NN_EXIT_ERROR ? "error" : final_status, done, total, rss);
        fflush(stdout);
    }
    return status;
}
