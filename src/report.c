/* report.c: the console lines of a run (start-up, one per epoch, done), from records. */
#include "report.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "nn_version.h"

/* The start-up line's training settings beyond the classic ones, only when used. */
static void report_training_(const nn_run_record *run)
{
    const nn_schedule *s = run->schedule;
    if (!s) return;
    if (s->kind != LR_CONSTANT) printf(", lr-schedule %s", nn_lr_kind_names[s->kind]);
    for (int i = 0; i < s->n_milestones; i++) printf("%s%g", i ? "," : " at epochs ", s->milestones[i]);
    if (s->kind == LR_STEP) printf(" x%g", s->gamma);
    if (s->kind == LR_COSINE || s->kind == LR_LINEAR) printf(" to %g", s->lr_min);
    if (s->warmup_epochs > 0) printf(", warmup %g epochs", s->warmup_epochs);
    if (run->lr_batch > 0) printf(", lr scaled to %g (batch %d / %d)", s->lr, run->batch, run->lr_batch);
    if (run->nesterov) printf(", nesterov");
    if (run->weight_decay > 0) printf(", weight-decay %g", run->weight_decay);
    if (run->dropout > 0) printf(", dropout %g", run->dropout);
    if (run->validation > 0) printf(", validation %d", run->validation);
    if (run->early_stop > 0) printf(", early-stop %d", run->early_stop);
    if (run->target_accuracy > 0) printf(", target %g", run->target_accuracy);
}

void report_startup(const nn_run_record *run)
{
    char layers[256];
    model_sizes_text(run->sizes, run->n_sizes, layers, sizeof layers);
    printf("nnmpi %s: %d ranks x %d threads on %d node%s, layers %s, %s/%s, init %s, batch %d, lr %g, momentum %g, "
           "train %d, test %d, seed %llu%s",
           NNMPI_VERSION, run->ranks, run->threads, run->nodes, run->nodes == 1 ? "" : "s", layers,
           nn_activation_names[run->activation], nn_loss_names[run->loss], nn_init_names[run->init], run->batch,
           run->lr, run->momentum, run->train_size, run->test_size, (unsigned long long)run->seed,
           run->reproducible ? ", reproducible" : "");
    if (run->reproducible) printf(" (chunk %d)", run->chunk);
    report_training_(run);
    if (run->ranks > 1 && !run->reproducible)
        printf(", allreduce %s%s", run->allreduce, run->overlap ? " overlapped" : "");
    if (run->ranks > 1 && run->allreduce_fallback) printf(" (%s)", run->allreduce_fallback);
    int factors = run->exchange && !strcmp(run->exchange, "factors");
    if (run->update_split > 1)
        printf(", weights shared per node (%s split %d ways)", factors ? "every layer's units" : "update",
               run->update_split);
    if (run->split_inputs)
        printf(", layer 0 split by its inputs %d ways (each rank its own copy of the weights)", run->ranks);
    if (factors)
        printf(", exchanging factors (%zu floats a batch, against %zu of a gradient)", run->factor_floats,
               run->grad_floats);
    if (run->exchange_note) printf(", exchanging gradients (%s)", run->exchange_note);
    if (run->predict_path)
        printf(", predicting %s with %s at epoch %d step %d", run->predict_path, run->resume_path, run->start_epoch,
               run->start_step);
    else if (run->resume_path)
        printf(", %s %s at epoch %d step %d", run->eval_only ? "evaluating" : "resumed from", run->resume_path,
               run->start_epoch, run->start_step);
    printf("\n");
    fflush(stdout);
}

void report_epoch(const nn_epoch_record *rec)
{
    const nn_timer_spread *s = rec->phases;
    printf("Epoch %d: %d/%d (%.2f%%)", rec->epoch, rec->correct, rec->test_total,
           100.0 * rec->correct / rec->test_total);
    if (rec->val_total > 0)
        printf("  val %d/%d (%.2f%%, loss %.4f)", rec->val_correct, rec->val_total,
               100.0 * rec->val_correct / rec->val_total, rec->val_loss);
    printf("  loss %.4f  lr %.4g  epoch %.2f s  compute %.2f s  allreduce %.2f s", rec->train_loss, rec->lr,
           rec->epoch_s, rec->compute_s, rec->allreduce_s);
    if (rec->allreduce_hidden >= 0.0) printf(" (%.0f%% hidden)", 100.0 * rec->allreduce_hidden);
    printf("  %.0f samples/s  [fwd %.2f bwd %.2f upd %.2f eval %.2f ckpt %.2f s]\n",
           rec->epoch_s > 0 ? rec->samples / rec->epoch_s : 0.0, s->max[PH_FORWARD], s->max[PH_BACKWARD],
           s->max[PH_UPDATE], s->max[PH_EVAL], s->max[PH_CHECKPOINT]);
    fflush(stdout);
}

void report_final(const nn_final_record *rec)
{
    if (rec->reason)
        printf("Done after %d epochs: %s; training %.2f s, wall %.2f s; peak RSS per rank %.1f MB (max %.1f MB)",
               rec->epochs_done, rec->reason, rec->train_s, rec->total_s, rec->rss_mb[1], rec->rss_mb[2]);
    else
        printf("Done: %d epochs in %.2f s; peak RSS per rank %.1f MB (max %.1f MB)", rec->epochs_done, rec->total_s,
               rec->rss_mb[1], rec->rss_mb[2]);
    /* PSS counts a page shared by the node's ranks once in their sum: the memory the node really holds */
    if (rec->node_pss_mb >= 0.0) printf("; node PSS %.1f MB", rec->node_pss_mb);
    printf("\n");
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

double report_clock_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void report_progress(const nn_progress_record *rec, int terminal)
{
    /* on a terminal: back to the line's start, then erase what a longer line left (ANSI EL) */
    printf("%sEpoch %d step %ld/%ld (%.0f%%): %.0f samples/s, elapsed %.1f s, ETA %.1f s%s", terminal ? "\r\033[K" : "",
           rec->epoch, rec->step, rec->steps, rec->steps > 0 ? 100.0 * rec->step / rec->steps : 0.0,
           rec->samples_per_s, rec->elapsed_s, rec->eta_s, terminal ? "" : "\n");
    fflush(stdout);
}

void report_progress_clear(void)
{
    printf("\r\033[K");
    fflush(stdout);
}
