/*
 * sgemm_ceiling: single-thread OpenBLAS cblas_sgemm speed, the ceiling for nnmpi's compute.
 *
 * Measures 2048^3 (the machine's practical peak) and, for each STEP given on the command
 * line, every matrix product of one SGD step of that net at that per-rank batch B, in the
 * row-major layout nnmpi uses (W is (out, in), activations A and deltas D are (B, n)):
 *   forward   Z  (B, out) = A (B, in) x W^T           sgemm(N, T, B, out, in)
 *   weights   dW (out, in) = D^T (out, B) x A (B, in)  sgemm(T, N, out, in, B)
 *   delta     D' (B, in) = D (B, out) x W (out, in)    sgemm(N, N, B, in, out)  (not for layer 1)
 * and each also as its transpose (Z^T = W A^T, dW^T = A^T D, D'^T = W^T D^T): the same flops,
 * but OpenBLAS can be much faster one way round for small shapes (at B = 10 the first
 * forward product takes ~14 us as Z and ~10 us as Z^T on the machine this was written on).
 * Each product: warm-up, then SAMPLES timed samples of enough back-to-back calls to last
 * >= 3 ms; best and median per call (only SAMPLES_SLOW samples, of one call each, when one
 * call takes >= 0.1 s: the 262144-input nets' products take seconds). A step's ceiling time
 * is the sum over its products of the fastest way's best time: no implementation of that step
 * can do its matrix products with OpenBLAS on one core faster.
 * At B = 1 the products are matrix-vector products and an outer product (memory-bound: each
 * streams the whole W or dW once), so each is also timed as the level-2 call that does the
 * same work: forward z = W a as sgemv(N), delta d' = W^T d as sgemv(T), weights
 * dW += d a^T as sger (which reads and writes dW; sgemm with beta = 0 only writes it), the
 * "gemv"/"ger" orientation. OpenBLAS 0.3.21's sgemm does not forward M = 1 to sgemv.
 *
 * Usage: sgemm_ceiling [LAYERS:BATCH ...]     e.g. sgemm_ceiling 784,30,10:10 784,1024,1024,10:128
 * Output: JSON Lines on stdout: one "header", one "gemm" per product, one "step" per STEP.
 * Build:  cc -O2 sgemm_ceiling.c $(pkg-config --cflags --libs openblas) -o sgemm_ceiling
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SAMPLES 21
#define SAMPLES_SLOW 5
#define SLOW_CALL_S 0.1
#define MAX_LAYERS 16
#define MIN_SAMPLE_S 3e-3

typedef struct {
    double best_s;   /* fastest per-call time over the samples */
    double median_s; /* median per-call time over the samples */
} timing;

static void *alloc_check(size_t bytes)
{
    void *p = malloc(bytes);
    if (p == NULL) {
        fprintf(stderr, "sgemm_ceiling: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *random_matrix(size_t n)
{
    float *m = alloc_check(n * sizeof *m);
    unsigned s = 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        m[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
    return m;
}

/* Time C (m, n) = op(A) op(B) with op(A) (m, k), op(B) (k, n), all row-major. */
static timing time_sgemm(int ta, int tb, int m, int n, int k)
{
    float *a = random_matrix((size_t)m * k), *b = random_matrix((size_t)k * n);
    float *c = random_matrix((size_t)m * n);
    enum CBLAS_TRANSPOSE opa = ta ? CblasTrans : CblasNoTrans, opb = tb ? CblasTrans : CblasNoTrans;
    int lda = ta ? m : k, ldb = tb ? k : n;
    double t = now_s();
    long calls = 0;
    do { /* warm-up: >= 0.1 s, which also sizes a sample */
        cblas_sgemm(CblasRowMajor, opa, opb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
        calls++;
    } while (now_s() - t < 0.1);
    double per_call = (now_s() - t) / (double)calls;
    long per_sample = (long)(MIN_SAMPLE_S / per_call) + 1;
    int samples = per_call >= SLOW_CALL_S ? SAMPLES_SLOW : SAMPLES;
    double s[SAMPLES];
    for (int i = 0; i < samples; i++) {
        t = now_s();
        for (long j = 0; j < per_sample; j++)
            cblas_sgemm(CblasRowMajor, opa, opb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
        s[i] = (now_s() - t) / (double)per_sample;
    }
    qsort(s, (size_t)samples, sizeof s[0], cmp_double);
    free(a);
    free(b);
    free(c);
    return (timing){s[0], s[samples / 2]};
}

/* Time the level-2 form of a batch-1 product: kind 'f' y (m) = W (m, n) x; 'd' y (n) = W^T x
 * (W (m, n)); 'w' W (m, n) += x (m) y (n)^T. Same sampling as time_sgemm. */
static timing time_level2(char kind, int m, int n)
{
    float *w = random_matrix((size_t)m * n), *x = random_matrix((size_t)(m > n ? m : n));
    float *y = random_matrix((size_t)(m > n ? m : n));
    double t = now_s();
    long calls = 0;
#define LEVEL2_CALL()                                                                            \
    do {                                                                                         \
        if (kind == 'f')                                                                         \
            cblas_sgemv(CblasRowMajor, CblasNoTrans, m, n, 1.0f, w, n, x, 1, 0.0f, y, 1);        \
        else if (kind == 'd')                                                                    \
            cblas_sgemv(CblasRowMajor, CblasTrans, m, n, 1.0f, w, n, x, 1, 0.0f, y, 1);          \
        else                                                                                     \
            cblas_sger(CblasRowMajor, m, n, 1e-30f, x, 1, y, 1, w, n);                            \
    } while (0)
    do {
        LEVEL2_CALL();
        calls++;
    } while (now_s() - t < 0.1);
    double per_call = (now_s() - t) / (double)calls;
    long per_sample = (long)(MIN_SAMPLE_S / per_call) + 1;
    int samples = per_call >= SLOW_CALL_S ? SAMPLES_SLOW : SAMPLES;
    double s[SAMPLES];
    for (int i = 0; i < samples; i++) {
        t = now_s();
        for (long j = 0; j < per_sample; j++)
            LEVEL2_CALL();
        s[i] = (now_s() - t) / (double)per_sample;
    }
#undef LEVEL2_CALL
    qsort(s, (size_t)samples, sizeof s[0], cmp_double);
    free(w);
    free(x);
    free(y);
    return (timing){s[0], s[samples / 2]};
}

static timing report_sgemm(const char *role, const char *orient, int layer, int ta, int tb,
                           int m, int n, int k)
{
    timing t = time_sgemm(ta, tb, m, n, k);
    double flops = 2.0 * m * n * k;
    printf("{\"type\":\"gemm\",\"role\":\"%s\",\"orient\":\"%s\",\"layer\":%d,"
           "\"ta\":\"%c\",\"tb\":\"%c\",\"m\":%d,\"n\":%d,\"k\":%d,\"flops\":%.0f,"
           "\"best_s\":%.9f,\"median_s\":%.9f,\"gflops_best\":%.2f,\"gflops_median\":%.2f}\n",
           role, orient, layer, ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, flops, t.best_s,
           t.median_s, flops / t.best_s * 1e-9, flops / t.median_s * 1e-9);
    fflush(stdout);
    return t;
}

/* C (m, n) = op(A) op(B), and its transpose C^T (n, m) = op(B)^T op(A)^T; the faster one.
 * At batch 1 also the level-2 call (kind 'f', 'w', 'd' of time_level2 on W (out, in)). */
static timing best_orientation(const char *role, int layer, int ta, int tb, int m, int n, int k,
                               int batch, char kind, int out, int in)
{
    timing c = report_sgemm(role, "C", layer, ta, tb, m, n, k);
    timing ct = report_sgemm(role, "C^T", layer, !tb, !ta, n, m, k);
    timing best = c.best_s <= ct.best_s ? c : ct;
    if (batch == 1) {
        timing l2 = time_level2(kind, out, in);
        double flops = 2.0 * out * in;
        printf("{\"type\":\"gemm\",\"role\":\"%s\",\"orient\":\"%s\",\"layer\":%d,"
               "\"m\":%d,\"n\":%d,\"k\":1,\"flops\":%.0f,\"best_s\":%.9f,\"median_s\":%.9f,"
               "\"gflops_best\":%.2f,\"gflops_median\":%.2f,\"gb_s_best\":%.2f}\n",
               role, kind == 'w' ? "ger" : "gemv", layer, out, in, flops, l2.best_s, l2.median_s,
               flops / l2.best_s * 1e-9, flops / l2.median_s * 1e-9,
               /* bytes of W streamed: read (gemv), read + write (ger) */
               (kind == 'w' ? 8.0 : 4.0) * out * in / l2.best_s * 1e-9);
        fflush(stdout);
        if (l2.best_s < best.best_s)
            best = l2;
    }
    return best;
}

/* Parse "784,30,10:10" into sizes[] and *batch; return the number of layers or 0. */
static int parse_step(const char *arg, int sizes[MAX_LAYERS], int *batch)
{
    char buf[256];
    if (strlen(arg) >= sizeof buf)
        return 0;
    strcpy(buf, arg);
    char *colon = strchr(buf, ':');
    if (colon == NULL || (*batch = atoi(colon + 1)) < 1)
        return 0;
    *colon = '\0';
    int n = 0;
    for (char *tok = strtok(buf, ","); tok != NULL; tok = strtok(NULL, ",")) {
        if (n == MAX_LAYERS || (sizes[n] = atoi(tok)) < 1)
            return 0;
        n++;
    }
    return n >= 2 ? n : 0;
}

int main(int argc, char **argv)
{
    openblas_set_num_threads(1);
    printf("{\"type\":\"header\",\"openblas_core\":\"%s\",\"openblas_config\":\"%s\","
           "\"threads\":%d}\n", openblas_get_corename(), openblas_get_config(),
           openblas_get_num_threads());
    report_sgemm("square", "C", 0, 0, 0, 2048, 2048, 2048);

    for (int a = 1; a < argc; a++) {
        int sizes[MAX_LAYERS], batch, n = parse_step(argv[a], sizes, &batch);
        if (n == 0) {
            fprintf(stderr, "sgemm_ceiling: bad step '%s' (want LAYERS:BATCH, e.g. 784,30,10:10)\n",
                    argv[a]);
            return 2;
        }
        double best = 0, median = 0, flops = 0;
        for (int l = 0; l + 1 < n; l++) {
            int in = sizes[l], out = sizes[l + 1];
            timing f = best_orientation("forward", l + 1, 0, 1, batch, out, in, batch, 'f', out, in);
            timing w = best_orientation("weights", l + 1, 1, 0, out, in, batch, batch, 'w', out, in);
            best += f.best_s + w.best_s;
            median += f.median_s + w.median_s;
            flops += 4.0 * batch * out * in;
            if (l > 0) {
                timing d = best_orientation("delta", l + 1, 0, 0, batch, in, out, batch, 'd', out, in);
                best += d.best_s;
                median += d.median_s;
                flops += 2.0 * batch * out * in;
            }
        }
        char layers[200];
        strncpy(layers, argv[a], sizeof layers - 1);
        layers[sizeof layers - 1] = '\0';
        *strchr(layers, ':') = '\0';
        printf("{\"type\":\"step\",\"layers\":\"%s\",\"batch\":%d,\"flops\":%.0f,"
               "\"best_s\":%.9f,\"median_s\":%.9f,\"gflops_best\":%.2f,\"gflops_median\":%.2f}\n",
               layers, batch, flops, best, median, flops / best * 1e-9, flops / median * 1e-9);
        fflush(stdout);
    }
    return 0;
}
