/* memplan.c: the memory plan of memplan.h: sizes with overflow checks, the memory available, the node's verdict. */
#include "memplan.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reduce.h"

/* ---------- sizes ---------- */

/* a * b, or SIZE_MAX (sticky) when it does not fit. */
static size_t mul_(size_t a, size_t b)
{
    size_t r;
    if (a == SIZE_MAX || b == SIZE_MAX || __builtin_mul_overflow(a, b, &r)) return SIZE_MAX;
    return r;
}

static size_t add_(size_t a, size_t b)
{
    size_t r;
    if (a == SIZE_MAX || b == SIZE_MAX || __builtin_add_overflow(a, b, &r)) return SIZE_MAX;
    return r;
}

/* The activation, delta and mask buffers of net_create and net_set_dropout,
 * in bytes, and the largest of those matrices and of the weights, in elements. */
static size_t activations_(const nn_mem_shape *s, size_t *largest)
{
    size_t rows = (size_t)(s->rows > 0 ? s->rows : 1), floats = 0, masks = 0;
    for (int l = 0; l < s->n_sizes; l++) {
        size_t act = mul_(rows, (size_t)s->sizes[l]);
        floats = add_(floats, act);                                  /* act[l] */
        if (l > 0) floats = add_(floats, act);                       /* delta[l - 1] */
        if (l > 0 && l + 1 < s->n_sizes && s->with_dropout) masks = add_(masks, act);
        if (act > *largest) *largest = act;
        if (l + 1 < s->n_sizes) {
            size_t w = mul_((size_t)s->sizes[l], (size_t)s->sizes[l + 1]);
            if (w > *largest) *largest = w;
        }
    }
    size_t per_row = add_(sizeof(float), sizeof(int)) + (s->with_dropout ? sizeof(int) : 0); /* ones, labels, rows */
    return add_(add_(mul_(floats, sizeof(float)), masks), mul_(rows, per_row));
}

/* Gradient-sized buffers a reduction allocates besides the gradient itself:
 * the ring's receive scratch (its largest segment, plus a share per layer
 * group), MPI's collectives a temporary of up to the whole message (Open MPI
 * allocates one inside each call), the tree's extra pieces and receive buffer. */
static size_t scratch_floats_(const nn_mem_shape *s, size_t n)
{
    if (s->repro_pieces > 0)
        return mul_(n, (size_t)(s->repro_pieces - 1) + (s->nranks > 1 ? 1 : 0));
    if (s->nranks <= 1) return 0;
    if (s->reduce_kind == REDUCE_RING) return add_(n / (size_t)s->nranks + 1, 2 * NN_MAX_SIZES);
    if (s->reduce_kind == REDUCE_MPI || s->reduce_kind == REDUCE_AUTO) return n; /* auto may end as mpi */
    return 0; /* shm: sums in place in the window */
}

int memplan_compute(const nn_mem_shape *s, nn_mem_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    size_t n_params = 0;
    for (int l = 0; l + 1 < s->n_sizes; l++) {
        size_t w = mul_((size_t)s->sizes[l + 1], (size_t)s->sizes[l]);
        n_params = add_(n_params, add_(w, (size_t)s->sizes[l + 1]));
    }
    size_t n = add_(n_params, NN_CTRL); /* the reducer's buffer: control slots, then the gradient */
    plan->params = mul_(n_params, sizeof(float));
    plan->velocity = s->with_velocity ? plan->params : 0;
    plan->gradient = mul_(n, sizeof(float));
    plan->scratch = mul_(scratch_floats_(s, n), sizeof(float));
    plan->activations = activations_(s, &plan->largest_matrix);
    plan->data = s->data_bytes, plan->index = s->index_bytes, plan->data_shared = s->data_shared;
    size_t total = add_(add_(plan->params, plan->velocity), add_(plan->gradient, plan->scratch));
    plan->to_allocate = add_(add_(total, plan->activations), plan->index);
    return plan->to_allocate == SIZE_MAX ? -1 : 0;
}

char *memplan_bytes_text(size_t bytes, char *out, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes == SIZE_MAX) {
        snprintf(out, len, "too large to count (2^64 bytes or more)");
        return out;
    }
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) v /= 1024.0, u++;
    if (u == 0) snprintf(out, len, "%zu B", bytes);
    else snprintf(out, len, "%.1f %s", v, units[u]);
    return out;
}

/* ---------- the memory available ---------- */

/* The first number in file root/path after `key` (at a line start; key ""
 * for the file's first number). 0 when found, -1 otherwise; "max" reads as
 * SIZE_MAX (cgroup v2's no limit). */
static int read_number_(const char *root, const char *path, const char *key, size_t *out)
{
    char full[4096], line[512];
    snprintf(full, sizeof full, "%s%s", root, path);
    FILE *f = fopen(full, "r");
    if (!f) return -1;
    int found = -1;
    size_t key_len = strlen(key);
    while (found < 0 && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, key_len) != 0) continue;
        const char *p = line + key_len;
        while (*p == ' ' || *p == '\t' || *p == ':') p++;
        char *end = NULL;
        unsigned long long v = strtoull(p, &end, 10);
        if (strncmp(p, "max", 3) == 0) *out = SIZE_MAX, found = 0;
        else if (end != p) *out = (size_t)v, found = 0;
    }
    fclose(f);
    return found;
}

/* This process's cgroup path for the v2 hierarchy (version 2) or v1's
 * memory controller (version 1), from root/proc/self/cgroup, into path. */
static int cgroup_path_(const char *root, int version, char *path, size_t len)
{
    char file[4096], line[4096];
    snprintf(file, sizeof file, "%s/proc/self/cgroup", root);
    FILE *f = fopen(file, "r");
    if (!f) return -1;
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *controllers = strchr(line, ':'), *where = controllers ? strchr(controllers + 1, ':') : NULL;
        if (!where) continue;
        *where++ = '\0';
        *controllers++ = '\0'; /* line: the hierarchy's number */
        int is_memory = strstr(controllers, "memory") != NULL;
        if ((version == 2 && strncmp(line, "0", 2) == 0 && *controllers == '\0') || (version == 1 && is_memory))
            snprintf(path, len, "%s", where), found = 0;
    }
    fclose(f);
    return found;
}

/* The least room (limit - usage + inactive page cache, which the kernel
 * reclaims before it kills) over the cgroup and its ancestors up to the mount
 * at `mount`; SIZE_MAX without a limit. *limit_out: that cgroup's limit. */
static size_t cgroup_room_(const char *root, int version, const char *mount, size_t *limit_out)
{
    char dir[4096], file[4200];
    if (cgroup_path_(root, version, dir, sizeof dir) != 0) return SIZE_MAX;
    const char *limit_name = version == 2 ? "memory.max" : "memory.limit_in_bytes";
    const char *usage_name = version == 2 ? "memory.current" : "memory.usage_in_bytes";
    const char *cache_key = version == 2 ? "inactive_file" : "total_inactive_file";
    size_t room = SIZE_MAX;
    for (;;) {
        size_t limit = SIZE_MAX, usage = 0, cache = 0;
        snprintf(file, sizeof file, "%s%s/%s", mount, dir, limit_name);
        /* v1 writes "no limit" as a huge page-rounded number */
        if (read_number_(root, file, "", &limit) == 0 && limit < ((size_t)1 << 62)) {
            snprintf(file, sizeof file, "%s%s/%s", mount, dir, usage_name);
            if (read_number_(root, file, "", &usage) != 0) usage = 0;
            snprintf(file, sizeof file, "%s%s/memory.stat", mount, dir);
            if (read_number_(root, file, cache_key, &cache) != 0 || cache > usage) cache = 0;
            size_t here = usage - cache >= limit ? 0 : limit - (usage - cache);
            if (here < room) room = here, *limit_out = limit;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || dir[0] == '\0' || strcmp(dir, "/") == 0) break;
        slash == dir ? (void)(dir[1] = '\0') : (void)(*slash = '\0');
    }
    return room;
}

size_t memplan_available(const char *root, char *source, size_t len)
{
    const char *forced = getenv(NN_MEMPLAN_TEST_ENV);
    if (forced && *forced) {
        snprintf(source, len, "%s", NN_MEMPLAN_TEST_ENV);
        return (size_t)strtoull(forced, NULL, 10);
    }
    size_t best = SIZE_MAX, kb = 0, limit = 0;
    snprintf(source, len, "nothing readable");
    if (read_number_(root, "/proc/meminfo", "MemAvailable", &kb) == 0 && kb < SIZE_MAX / 1024)
        best = kb * 1024, snprintf(source, len, "MemAvailable");
    static const struct { int version; const char *mount, *name; } hierarchies[] = {
        {2, "/sys/fs/cgroup", "cgroup v2"}, {2, "/sys/fs/cgroup/unified", "cgroup v2"},
        {1, "/sys/fs/cgroup/memory", "cgroup v1"}};
    for (size_t i = 0; i < sizeof hierarchies / sizeof hierarchies[0]; i++) {
        size_t room = cgroup_room_(root, hierarchies[i].version, hierarchies[i].mount, &limit);
        if (room >= best) continue;
        char text[64];
        best = room;
        snprintf(source, len, "%s limit %s", hierarchies[i].name, memplan_bytes_text(limit, text, sizeof text));
    }
    return best;
}

/* ---------- the node's verdict ---------- */

/* Rank 0's line: one rank's needs and the node's total against what it
 * has; then the data on the node, loaded already: one copy when shared, one
 * per rank otherwise. */
static void print_plan_(const nn_mem_plan *p, int local, size_t node_need, size_t available, const char *source)
{
    char t[11][64];
    size_t node_data = p->data_shared ? p->data : mul_(p->data, (size_t)local);
    printf("Memory per rank: parameters %s, gradient %s, velocity %s, reduction scratch %s, activations %s, "
           "index %s, data %s (loaded); per node: %d rank%s x %s = %s, available %s (%s); data on the node %s "
           "(%s)\n",
           memplan_bytes_text(p->params, t[0], 64), memplan_bytes_text(p->gradient, t[1], 64),
           memplan_bytes_text(p->velocity, t[2], 64), memplan_bytes_text(p->scratch, t[3], 64),
           memplan_bytes_text(p->activations, t[4], 64), memplan_bytes_text(p->index, t[5], 64),
           memplan_bytes_text(p->data, t[6], 64), local, local == 1 ? "" : "s",
           memplan_bytes_text(p->to_allocate, t[7], 64), memplan_bytes_text(node_need, t[8], 64),
           available == SIZE_MAX ? "unknown" : memplan_bytes_text(available, t[9], 64), source,
           memplan_bytes_text(node_data, t[10], 64), p->data_shared ? "one copy, shared" : "a copy per rank");
    fflush(stdout);
}

/* The sum of every rank's to_allocate on this rank's node (saturating at
 * SIZE_MAX), and how many ranks the node has and which one this is. */
static size_t node_need_(size_t per_rank, MPI_Comm comm, int *local, int *local_rank)
{
    MPI_Comm node;
    MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
    MPI_CHECK(MPI_Comm_rank(node, local_rank));
    MPI_CHECK(MPI_Comm_size(node, local));
    /* MPI's sum does not saturate: each share is capped so the sum cannot wrap */
    size_t cap = SIZE_MAX / (size_t)*local;
    uint64_t mine = per_rank > cap ? cap : per_rank, sum = 0, too_large = 0;
    MPI_CHECK(MPI_Allreduce(&mine, &sum, 1, MPI_UINT64_T, MPI_SUM, node));
    uint64_t flag = per_rank == SIZE_MAX;
    MPI_CHECK(MPI_Allreduce(&flag, &too_large, 1, MPI_UINT64_T, MPI_MAX, node));
    MPI_CHECK(MPI_Comm_free(&node));
    return too_large ? SIZE_MAX : (size_t)sum;
}

void memplan_check(const nn_mem_plan *plan, MPI_Comm comm, int quiet, nn_err *err)
{
    int rank = 0, local_rank = 0, local = 0;
    MPI_CHECK(MPI_Comm_rank(comm, &rank));
    size_t node_need = node_need_(plan->to_allocate, comm, &local, &local_rank);
    char source[128] = "", one[64], params[64], reduce[64], act[64], node[64], have[64];
    size_t available = local_rank == 0 ? memplan_available("", source, sizeof source) : SIZE_MAX;
    if (rank == 0 && !quiet) print_plan_(plan, local, node_need, available, source);
    if (local_rank != 0) return; /* the node's first rank speaks for it */
    if (available != SIZE_MAX && node_need > available) {
        nn_err_set(err, "not enough memory: --layers and --batch need %s per rank (parameters %s, gradient and reduction "
                        "%s, activations %s), %s for the %d rank%s on this node, but %s is available (%s); use fewer "
                        "ranks per node, smaller layers or a smaller --batch",
                   memplan_bytes_text(plan->to_allocate, one, sizeof one), memplan_bytes_text(plan->params, params, 64),
                   memplan_bytes_text(add_(plan->gradient, plan->scratch), reduce, 64),
                   memplan_bytes_text(plan->activations, act, 64), memplan_bytes_text(node_need, node, 64), local,
                   local == 1 ? "" : "s", memplan_bytes_text(available, have, 64), source);
        return;
    }
    if (plan->largest_matrix > (size_t)INT_MAX)
        nn_err_set(err, "--layers: a matrix of %zu elements (a layer's weights, or its activations for a batch's "
                        "rows) is more than 2^31 - 1, the most the 32-bit BLAS interface indexes; use smaller "
                        "layers or a smaller --batch", plan->largest_matrix);
}

void memplan_check_copy(size_t bytes, int held_here, const char *what, MPI_Comm comm, nn_err *err)
{
    int local_rank = 0, local = 0;
    size_t node_need = node_need_(held_here ? 0 : bytes, comm, &local, &local_rank);
    if (local_rank != 0 || node_need == 0) return;
    char source[128] = "", one[64], node[64], have[64];
    size_t available = memplan_available("", source, sizeof source);
    if (available == SIZE_MAX || node_need <= available) return;
    nn_err_set(err, "not enough memory: %s needs %s per rank, %s more on this node, but %s is available (%s); use "
                    "fewer ranks per node", what, memplan_bytes_text(bytes, one, sizeof one),
               memplan_bytes_text(node_need, node, sizeof node), memplan_bytes_text(available, have, sizeof have),
               source);
}
