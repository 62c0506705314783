/* metrics.c: JSON Lines records, flushed line by line so a killed job keeps what it wrote. */
#include "metrics.h"

#include <errno.h>

FILE *metrics_open(const char *path, nn_err *err)
{
    errno = 0;
    FILE *f = fopen(path, "a");
    if (!f) {
        nn_file_fail_(err, __FILE__, __LINE__, "--metrics: cannot open '%s' for appending", path);
        return NULL;
    }
    return f;
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

void metrics_header(FILE *f, const nn_options *opt, const nn_run_info *info, int resumed_epoch, int resumed_step)
{
    fprintf(f, "{\"type\":\"header\",\"nnmpi_version\":\"%s\",\"ranks\":%d,\"nodes\":%d,\"node_names\":[", NNMPI_VERSION,
            info->ranks, info->nodes);
    /* node_names arrives comma-separated: one JSON string each */
    const char *p = info->node_names;
    int first = 1;
    while (p && *p) {
        const char *comma = p;
        while (*comma && *comma != ',') comma++;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(comma - p), p);
        if (!first) fputc(',', f);
        json_str_(f, name);
        first = 0;
        p = *comma ? comma + 1 : comma;
    }
    fprintf(f, "],\"threads\":%d,\"openblas_core\":", info->threads);
    json_str_(f, info->openblas_core);
    fprintf(f, ",\"openblas_config\":");
    json_str_(f, info->openblas_config);
    fprintf(f, ",\"mpi_library\":");
    json_str_(f, info->mpi_library);
    fprintf(f, ",\"layers\":[");
    for (int i = 0; i < opt->n_sizes; i++) fprintf(f, "%s%d", i ? "," : "", opt->sizes[i]);
    /* --reproducible: the layers whose forward / delta product run over all of rank 0's rows per call */
    for (int kind = 0; kind < 2 && opt->reproducible; kind++) {
        unsigned mask = kind == 0 ? info->repro_forward_batched : info->repro_delta_batched;
        fprintf(f, "],\"%s\":[", kind == 0 ? "batched_forward_layers" : "batched_delta_layers");
        for (int l = 0, first = 1; l + 1 < opt->n_sizes; l++)
            if ((mask >> l) & 1u) fprintf(f, "%s%d", first ? "" : ",", l), first = 0;
    }
    fprintf(f,
            "],\"activation\":\"%s\",\"loss\":\"%s\",\"init\":\"%s\",\"batch\":%d,\"lr\":%.17g,\"momentum\":%.17g,"
            "\"epochs\":%d,\"train_size\":%d,\"test_size\":%d,\"shuffle\":%s,\"seed\":%llu,\"reproducible\":%s,"
            "\"chunk\":%d,\"overlap\":%s,\"allreduce\":\"%s\",\"allreduce_ref_s\":%.9g,\"resumed_epoch\":%d,\"resumed_step\":%d}\n",
            options_activation_name(opt->activation), options_loss_name(opt->loss), options_init_name(opt->init),
            opt->batch, opt->lr, opt->momentum, opt->epochs, opt->train_size, opt->test_size,
            opt->shuffle ? "true" : "false", (unsigned long long)opt->seed, opt->reproducible ? "true" : "false",
            opt->reproducible ? options_chunk(opt) : 0, opt->overlap ? "true" : "false",
            opt->reproducible ? "tree" : opt->allreduce_ring ? "ring" : "mpi", info->allreduce_ref_s,
            resumed_epoch, resumed_step);
    fflush(f);
}

void metrics_epoch(FILE *f, const nn_epoch_record *rec)
{
    const nn_timer_spread *s = rec->phases;
    double epoch_s = s->max[PH_EPOCH];
    double compute_s = s->max[PH_GATHER] + s->max[PH_FORWARD] + s->max[PH_BACKWARD] + s->max[PH_UPDATE];
    fprintf(f,
            "{\"type\":\"epoch\",\"epoch\":%d,\"correct\":%d,\"test_total\":%d,\"accuracy\":%.6f,\"train_loss\":%.9g,"
            "\"test_loss\":%.9g,\"steps\":%ld,\"samples\":%ld,\"epoch_s\":%.9g,\"samples_per_s\":%.9g,"
            "\"compute_s\":%.9g,\"allreduce_s\":%.9g,\"phases\":{",
            rec->epoch, rec->correct, rec->test_total, rec->test_total ? (double)rec->correct / rec->test_total : 0.0,
            rec->train_loss, rec->test_loss, rec->steps, rec->samples, epoch_s,
            epoch_s > 0 ? rec->samples / epoch_s : 0.0, compute_s, s->max[PH_ALLREDUCE]);
    for (int p = 0; p < PH_COUNT; p++)
        fprintf(f, "%s\"%s\":{\"min\":%.9g,\"median\":%.9g,\"max\":%.9g}", p ? "," : "", nn_phase_names[p], s->min[p],
                s->median[p], s->max[p]);
    fprintf(f, "},\"allreduce_hidden\":");
    if (rec->allreduce_hidden >= 0.0) fprintf(f, "%.4f}\n", rec->allreduce_hidden);
    else fprintf(f, "null}\n");
    fflush(f);
}

void metrics_final(FILE *f, const char *status, int epochs_done, double total_s, const double rss_mb[3])
{
    fprintf(f,
            "{\"type\":\"final\",\"status\":\"%s\",\"epochs_done\":%d,\"total_s\":%.9g,"
            "\"peak_rss_mb\":{\"min\":%.1f,\"median\":%.1f,\"max\":%.1f}}\n",
            status, epochs_done, total_s, rss_mb[0], rss_mb[1], rss_mb[2]);
    fflush(f);
}
