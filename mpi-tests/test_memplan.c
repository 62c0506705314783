/* test_memplan.c: the memory plan's sizes against sums worked out by hand
 * from the buffers net_create, the reducer and repro_create allocate; sizes
 * that overflow 64 bits; and the memory available read from a made-up /proc
 * and /sys (cgroup v2 with a Slurm-like job/step nesting, cgroup v1, none). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memplan.h"
#include "reduce.h"

static void sizes_match_a_hand_count(void **state)
{
    (void)state;
    int sizes[3] = {784, 30, 10};
    nn_mem_shape s = {.sizes = sizes, .n_sizes = 3, .rows = 256, .with_velocity = 1, .nranks = 2,
                      .reduce_kind = REDUCE_MPI, .data_bytes = 7, .index_bytes = 40};
    nn_mem_plan p;
    assert_int_equal(memplan_compute(&s, &p), 0);
    /* 784*30 + 30 + 30*10 + 10 = 23860 parameters */
    assert_int_equal(p.params, 23860 * 4);
    assert_int_equal(p.velocity, 23860 * 4);
    assert_int_equal(p.gradient, (23860 + 2) * 4); /* two control slots */
    assert_int_equal(p.scratch, (23860 + 2) * 4);  /* MPI's temporary, up to the message */
    /* act 256*(784+30+10), delta 256*(30+10), floats; ones (float) and labels (int) per row */
    assert_int_equal(p.activations, 256 * (784 + 30 + 10 + 30 + 10) * 4 + 256 * 8);
    assert_int_equal(p.largest_matrix, 256 * 784); /* the input rows, larger than W0 (784*30) */
    assert_int_equal(p.to_allocate, 2 * 23860 * 4 + 2 * 23862 * 4 + 256 * 864 * 4 + 256 * 8 + 40);
    /* the ring: its largest segment of 4 ranks (ceil) plus a share per group; dropout: a byte per hidden unit */
    s.reduce_kind = REDUCE_RING, s.nranks = 4, s.with_dropout = 1, s.with_velocity = 0;
    assert_int_equal(memplan_compute(&s, &p), 0);
    assert_int_equal(p.velocity, 0);
    assert_int_equal(p.scratch, (23862 / 4 + 1 + 2 * NN_MAX_SIZES) * 4);
    assert_int_equal(p.activations, 256 * 864 * 4 + 256 * 30 + 256 * 12);
    /* --reproducible with 3 pieces on 2 ranks: 2 extra pieces and a receive buffer */
    s.repro_pieces = 3, s.nranks = 2;
    assert_int_equal(memplan_compute(&s, &p), 0);
    assert_int_equal(p.scratch, 3 * 23862 * 4);
}

static void huge_networks_are_counted_without_wrapping(void **state)
{
    (void)state;
    /* 784-200000-200000-10: 40,159,200,010 parameters, 160.6 GB of floats */
    int sizes[4] = {784, 200000, 200000, 10};
    nn_mem_shape s = {.sizes = sizes, .n_sizes = 4, .rows = 256, .nranks = 1};
    nn_mem_plan p;
    assert_int_equal(memplan_compute(&s, &p), 0);
    size_t n = 784ull * 200000 + 200000 + 200000ull * 200000 + 200000 + 200000ull * 10 + 10;
    assert_true(n == 40159200010ull);
    assert_true(p.params == n * 4);
    assert_true(p.largest_matrix == 40000000000ull);
    /* sizes no option allows, but a product that wraps 64 bits if unchecked */
    int giant[16];
    for (int i = 0; i < 16; i++) giant[i] = 2147483647;
    s.sizes = giant, s.n_sizes = 16;
    assert_int_equal(memplan_compute(&s, &p), -1);
    assert_true(p.to_allocate == SIZE_MAX);
    char text[64];
    assert_non_null(strstr(memplan_bytes_text(p.to_allocate, text, sizeof text), "too large"));
    assert_string_equal(memplan_bytes_text(1536, text, sizeof text), "1.5 KiB");
    assert_string_equal(memplan_bytes_text(512, text, sizeof text), "512 B");
}

/* Writes text to root/path, making the directories on the way. */
static void put_(const char *root, const char *path, const char *text)
{
    char full[4096];
    snprintf(full, sizeof full, "%s%s", root, path);
    for (char *p = full + strlen(root) + 1; *p; p++)
        if (*p == '/') *p = '\0', mkdir(full, 0700), *p = '/';
    FILE *f = fopen(full, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void available_memory_reads_meminfo_and_cgroups(void **state)
{
    (void)state;
    char root[] = "/tmp/nnmpi-memplan-XXXXXX", source[128], cmd[256];
    assert_non_null(mkdtemp(root));
    unsetenv(NN_MEMPLAN_TEST_ENV);
    put_(root, "/proc/meminfo", "MemTotal:  2000 kB\nMemFree: 10 kB\nMemAvailable:   1000 kB\n");
    put_(root, "/proc/self/cgroup", "0::/\n");
    assert_true(memplan_available(root, source, sizeof source) == 1024000);
    assert_string_equal(source, "MemAvailable");
    /* v2, Slurm's nesting: no limit on the step, the job's limit above it;
     * room = 500000 - (100000 used - 20000 reclaimable cache) */
    put_(root, "/proc/self/cgroup", "0::/job_7/step_0\n");
    put_(root, "/sys/fs/cgroup/job_7/step_0/memory.max", "max\n");
    put_(root, "/sys/fs/cgroup/job_7/step_0/memory.current", "90000\n");
    put_(root, "/sys/fs/cgroup/job_7/memory.max", "500000\n");
    put_(root, "/sys/fs/cgroup/job_7/memory.current", "100000\n");
    put_(root, "/sys/fs/cgroup/job_7/memory.stat", "anon 80000\ninactive_file 20000\nactive_file 0\n");
    assert_true(memplan_available(root, source, sizeof source) == 420000);
    assert_non_null(strstr(source, "cgroup v2 limit 488.3 KiB"));
    /* v1: memory controller on its own line; the root's "no limit" is ignored */
    put_(root, "/proc/self/cgroup", "5:cpu:/\n4:memory:/slurm/uid_0/job_8\n0::/\n");
    put_(root, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put_(root, "/sys/fs/cgroup/memory/slurm/uid_0/job_8/memory.limit_in_bytes", "800000\n");
    put_(root, "/sys/fs/cgroup/memory/slurm/uid_0/job_8/memory.usage_in_bytes", "300000\n");
    assert_true(memplan_available(root, source, sizeof source) == 500000);
    assert_non_null(strstr(source, "cgroup v1"));
    /* the testing hook overrides everything */
    setenv(NN_MEMPLAN_TEST_ENV, "12345", 1);
    assert_true(memplan_available(root, source, sizeof source) == 12345);
    unsetenv(NN_MEMPLAN_TEST_ENV);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    assert_true(memplan_available(root, source, sizeof source) == SIZE_MAX); /* nothing readable */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sizes_match_a_hand_count),
        cmocka_unit_test(huge_networks_are_counted_without_wrapping),
        cmocka_unit_test(available_memory_reads_meminfo_and_cgroups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
