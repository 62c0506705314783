/* report.c: the console lines of a run (start-up, one per epoch, done), from records. */
#include "report.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "nn_version.h"

void report_startup(const nn_run_record *run)
{
    char layers[256] = "";
    for (int i = 0; i < run->n_sizes; i++) {
        size_t used = strlen(layers);
        snprintf(layers + used, sizeof layers - used, "%s%d", i ? "," : "", run->sizes[i]);
    }
    printf("nnmpi %s: %d ranks x %d threads on %d node%s, layers %s, %s/%s, init %s, batch %d, lr %g, momentum %g, "
           "train %d, test %d, seed %llu%s",
           NNMPI_VERSION, run->ranks, run->threads, run->nodes, run->nodes == 1 ? "" : "s", layers,
           nn_activation_names[run->activation], nn_loss_names[run->loss], nn_init_names[run->init], run->batch,
           run->lr, run->momentum, run->train_size, run->test_size, (unsigned long long)run->seed,
           run->reproducible ? ", reproducible" : "");
    if (run->reproducible) printf(" (chunk %d)", run->chunk);
    if (run->ranks > 1 && !run->reproducible)
        printf(", allreduce %s%s", run->allreduce, run->overlap ? " overlapped" : "");
    if (run->ranks > 1 && run->allreduce_fallback) printf(" (%s)", run->allreduce_fallback);
    if (run->resume_path)
        printf(", %s %s at epoch %d step %d", run->eval_only ? "evaluating" : "resumed from", run->resume_path,
               run->start_epoch, run->start_step);
    printf("\n");
    fflush(stdout);
}

void report_epoch(const nn_epoch_record *rec)
{
    const nn_timer_spread *s = rec->phases;
    printf("Epoch %d: %d/%d (%.2f%%)  loss %.4f  epoch %.2f s  compute %.2f s  allreduce %.2f s", rec->epoch,
           rec->correct, rec->test_total, 100.0 * rec->correct / rec->test_total, rec->train_loss, rec->epoch_s,
           rec->compute_s, rec->allreduce_s);
    if (rec->allreduce_hidden >= 0.0) printf(" (%.0f%% hidden)", 100.0 * rec->allreduce_hidden);
    printf("  %.0f samples/s  [fwd %.2f bwd %.2f upd %.2f eval %.2f ckpt %.2f s]\n",
           rec->epoch_s > 0 ? rec->samples / rec->epoch_s : 0.0, s->max[PH_FORWARD], s->max[PH_BACKWARD],
           s->max[PH_UPDATE], s->max[PH_EVAL], s->max[PH_CHECKPOINT]);
    fflush(stdout);
}

void report_final(const nn_final_record *rec)
{
    printf("Done: %d epochs in %.2f s; peak RSS per rank %.1f MB (max %.1f MB)\n", rec->epochs_done, rec->total_s,
           rec->rss_mb[1], rec->rss_mb[2]);
    fflush(stdout);
}

void report_eval(const nn_eval_record *rec)
{
    printf("Checkpoint %s (epoch %d, step %d): %d/%d (%.2f%%)  test loss %.4f\n", rec->checkpoint, rec->epoch,
           rec->step, rec->correct, rec->test_total, 100.0 * rec->correct / rec->test_total, rec->test_loss);
    fflush(stdout);
}

void report_utc_now(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}
