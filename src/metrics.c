/* metrics.c: JSON Lines records, flushed line by line so a killed job keeps what it wrote. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn_version.h"

FILE *metrics_open(const char *path, nn_err *err)
{
    struct stat st;
    FILE *f = NULL;
    int fd = -1;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) goto not_regular;
    errno = 0;
    /* O_NONBLOCK: a FIFO put there since must not block the job forever (it is refused below) */
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0666);
    FILE_TRY(err, fd >= 0, "--metrics: cannot open '%s' for appending", path);
    FILE_TRY(err, fstat(fd, &st) == 0, "--metrics: cannot stat '%s'", path);
    if (!S_ISREG(st.st_mode)) goto not_regular;
    FILE_TRY(err, fcntl(fd, F_SETFL, O_WRONLY | O_APPEND) == 0, "--metrics: cannot use '%s'", path);
    f = fdopen(fd, "a");
    FILE_TRY(err, f != NULL, "--metrics: cannot use '%s'", path);
    return f;
not_regular:
    nn_err_set(err, "--metrics: '%s' is not a regular file (%s); the metrics are appended to a regular file", path,
               nn_file_kind(st.st_mode));
error:
    if (fd >= 0) close(fd);
    return NULL;
}

/* 0 when everything written to f so far reached the file, else -1 with errno. */
static int flushed_(FILE *f)
{
    errno = 0;
    int rc = fflush(f) == 0 && !ferror(f) ? 0 : -1;
    if (rc != 0 && errno == 0) errno = EIO;
    return rc;
}

/* Writes s as a JSON string literal. */
static void json_str_(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* "name":[v0,v1,...] for the indices whose bit is set in mask, among the first n. */
static void json_bits_(FILE *f, const char *name, unsigned mask, int n)
{
    fprintf(f, ",\"%s\":[", name);
    for (int l = 0, first = 1; l < n; l++)
        if ((mask >> l) & 1u) fprintf(f, "%s%d", first ? "" : ",", l), first = 0;
    fputc(']', f);
}

/* {"type":"<type>","time":"<now, UTC>" */
static void json_open_(FILE *f, const char *type)
{
    char now[32];
    report_utc_now(now);
    fprintf(f, "{\"type\":\"%s\",\"time\":\"%s\"", type, now);
}

/* Where the run came from: the command line, when, what built it, the data, the Slurm job. */
static void json_provenance_(FILE *f, const nn_run_record *run)
{
    fprintf(f, ",\"command_line\":[");
    for (int i = 0; i < run->argc; i++) {
        if (i) fputc(',', f);
        json_str_(f, run->argv[i]);
    }
    fprintf(f, "],\"started\":\"%s\",\"nnmpi_git\":", run->started);
    json_str_(f, run->git);
    fprintf(f, ",\"data\":{\"dir\":");
    json_str_(f, run->data_dir);
    fprintf(f, ",\"files\":[");
    for (int i = 0; i < run->n_data_files; i++) {
        const nn_data_file *d = &run->data_files[i];
        fprintf(f, "%s{\"name\":", i ? "," : "");
        json_str_(f, d->name);
        fprintf(f, ",\"bytes\":%lld,\"mtime\":\"%s\"}", d->bytes, d->mtime);
    }
    fprintf(f, "]},\"slurm_job_id\":");
    if (run->slurm_job_id) json_str_(f, run->slurm_job_id);
    else fputs("null", f);
    fprintf(f, ",\"slurm_job_name\":");
    if (run->slurm_job_name) json_str_(f, run->slurm_job_name);
    else fputs("null", f);
}

/* The schedule, the regularization and the stopping rules, and the record's end. */
static void json_training_(FILE *f, const nn_run_record *run)
{
    const nn_schedule *s = run->schedule;
    if (s) {
        fprintf(f, ",\"lr_schedule\":\"%s\",\"lr_steps\":[", nn_lr_kind_names[s->kind]);
        for (int i = 0; i < s->n_milestones; i++) fprintf(f, "%s%.17g", i ? "," : "", s->milestones[i]);
        fprintf(f, "],\"lr_gamma\":%.17g,\"lr_min\":%.17g,\"warmup\":%.17g,\"lr_scaled\":%.17g", s->gamma, s->lr_min,
                s->warmup_epochs, s->lr);
    }
    fprintf(f, ",\"dropout\":%.17g", run->dropout);
    fprintf(f, ",\"lr_batch\":%d,\"nesterov\":%s,\"weight_decay\":%.17g,\"validation\":%d,\"early_stop\":%d,"
               "\"target_accuracy\":%.17g}\n",
            run->lr_batch, run->nesterov ? "true" : "false", run->weight_decay, run->validation, run->early_stop,
            run->target_accuracy);
}

int metrics_header(FILE *f, const nn_run_record *run)
{
    json_open_(f, "header");
    json_provenance_(f, run);
    fprintf(f, ",\"nnmpi_version\":\"%s\",\"ranks\":%d,\"nodes\":%d,\"node_names\":[", NNMPI_VERSION, run->ranks,
            run->nodes);
    for (int i = 0; i < run->nodes; i++) {
        if (i) fputc(',', f);
        json_str_(f, run->node_names[i]);
    }
    fprintf(f, "],\"threads\":%d,\"openblas_core\":", run->threads);
    json_str_(f, run->openblas_core);
    fprintf(f, ",\"openblas_config\":");
    json_str_(f, run->openblas_config);
    fprintf(f, ",\"mpi_library\":");
    json_str_(f, run->mpi_library);
    fprintf(f, ",\"layers\":[");
    for (int i = 0; i < run->n_sizes; i++) fprintf(f, "%s%d", i ? "," : "", run->sizes[i]);
    fputc(']', f);
    /* --reproducible: the layers whose forward / delta product run over all of rank 0's rows per call */
    if (run->reproducible) {
        json_bits_(f, "batched_forward_layers", run->repro_forward_batched, run->n_sizes - 1);
        json_bits_(f, "batched_delta_layers", run->repro_delta_batched, run->n_sizes - 1);
    }
    fprintf(f,
            ",\"activation\":\"%s\",\"loss\":\"%s\",\"init\":\"%s\",\"batch\":%d,\"lr\":%.17g,\"momentum\":%.17g,"
            "\"epochs\":%d,\"train_size\":%d,\"test_size\":%d,\"shuffle\":%s,\"seed\":%llu,\"reproducible\":%s,"
            "\"chunk\":%d,\"overlap\":%s,\"allreduce\":\"%s\",\"allreduce_ref_s\":%.9g,\"resumed_epoch\":%d,"
            "\"resumed_step\":%d",
            nn_activation_names[run->activation], nn_loss_names[run->loss], nn_init_names[run->init], run->batch,
            run->lr, run->momentum, run->epochs, run->train_size, run->test_size, run->shuffle ? "true" : "false",
            (unsigned long long)run->seed, run->reproducible ? "true" : "false", run->chunk,
            run->overlap ? "true" : "false", run->allreduce, run->allreduce_ref_s, run->start_epoch, run->start_step);
    fputs(",\"allreduce_note\":", f); /* why this method: auto's measured times, or a fallback */
    if (run->allreduce_fallback && run->ranks > 1)
        json_str_(f, run->allreduce_fallback);
    else
        fputs("null", f);
    fprintf(f, ",\"update_split\":%d", run->update_split); /* shm: ranks per node sharing the weights; 0: none */
    fprintf(f, ",\"inputs_split\":%d", run->split_inputs ? run->ranks : 0); /* factors: layer 0 split by its inputs */
    fprintf(f, ",\"exchange\":"); /* shm sharded: factors or gradients; null: neither (reduce.h) */
    if (run->exchange) json_str_(f, run->exchange);
    else fputs("null", f);
    json_training_(f, run);
    return flushed_(f);
}

int metrics_epoch(FILE *f, const nn_epoch_record *rec)
{
    const nn_timer_spread *s = rec->phases;
    json_open_(f, "epoch");
    fprintf(f, ",\"partial\":%s,\"first_step\":%d", rec->first_step > 0 ? "true" : "false", rec->first_step);
    fprintf(f,
            ",\"epoch\":%d,\"correct\":%d,\"test_total\":%d,\"accuracy\":%.6f,\"train_loss\":%.9g,"
            "\"test_loss\":%.9g,\"steps\":%ld,\"samples\":%ld,\"epoch_s\":%.9g,\"samples_per_s\":%.9g,"
            "\"compute_s\":%.9g,\"allreduce_s\":%.9g,\"phases\":{",
            rec->epoch, rec->correct, rec->test_total, rec->test_total ? (double)rec->correct / rec->test_total : 0.0,
            rec->train_loss, rec->test_loss, rec->steps, rec->samples, rec->epoch_s,
            rec->epoch_s > 0 ? rec->samples / rec->epoch_s : 0.0, rec->compute_s, rec->allreduce_s);
    for (int p = 0; p < PH_COUNT; p++)
        fprintf(f, "%s\"%s\":{\"min\":%.9g,\"median\":%.9g,\"max\":%.9g}", p ? "," : "", nn_phase_names[p], s->min[p],
                s->median[p], s->max[p]);
    fprintf(f, "},\"lr\":%.9g,\"train_s\":%.9g", rec->lr, rec->train_s);
    if (rec->val_total > 0)
        fprintf(f, ",\"val_correct\":%d,\"val_total\":%d,\"val_accuracy\":%.6f,\"val_loss\":%.9g", rec->val_correct,
                rec->val_total, (double)rec->val_correct / rec->val_total, rec->val_loss);
    fprintf(f, ",\"allreduce_hidden\":");
    if (rec->allreduce_hidden >= 0.0) fprintf(f, "%.4f}\n", rec->allreduce_hidden);
    else fprintf(f, "null}\n");
    return flushed_(f);
}

int metrics_final(FILE *f, const nn_final_record *rec)
{
    json_open_(f, "final");
    fprintf(f, ",\"reason\":");
    if (rec->reason) json_str_(f, rec->reason);
    else fputs("null", f);
    fprintf(f,
            ",\"status\":\"%s\",\"train_s\":%.9g,\"epochs_done\":%d,\"total_s\":%.9g,"
            "\"peak_rss_mb\":{\"min\":%.1f,\"median\":%.1f,\"max\":%.1f}",
            rec->status, rec->train_s, rec->epochs_done, rec->total_s, rec->rss_mb[0], rec->rss_mb[1], rec->rss_mb[2]);
    if (rec->node_pss_mb >= 0.0)
        fprintf(f, ",\"pss_mb\":{\"min\":%.1f,\"max\":%.1f},\"node_pss_mb\":%.1f}\n", rec->pss_mb[0],
                rec->pss_mb[1], rec->node_pss_mb);
    else
        fputs(",\"pss_mb\":null,\"node_pss_mb\":null}\n", f);
    return flushed_(f);
}

int metrics_eval(FILE *f, const nn_run_record *run, const nn_eval_record *rec)
{
    if (metrics_header(f, run) != 0) return -1;
    json_open_(f, "evaluation");
    fprintf(f, ",\"checkpoint\":");
    json_str_(f, rec->checkpoint);
    fprintf(f, ",\"epoch\":%d,\"step\":%d,\"correct\":%d,\"test_total\":%d,\"accuracy\":%.6f,\"test_loss\":%.9g}\n",
            rec->epoch, rec->step, rec->correct, rec->test_total,
            rec->test_total ? (double)rec->correct / rec->test_total : 0.0, rec->test_loss);
    return flushed_(f);
}
