/* A million parked coroutines (issue 12): creates N coroutines with the
 * default call, resumes each once so that it parks three frames deep with
 * a 200-byte local, and reports what that cost (time, resident memory,
 * kernel mappings); then resumes each to its end, destroys it, trims the
 * pool and reports again. One line of key=value pairs per phase on stdout.
 *
 *   corolink_scale [N] [--hold] [--floor] [--check] [--dump]
 *     --hold   after parking, print "parked" and wait for a line on stdin
 *              (for the tools to look at the process)
 *     --floor  first, what the machine alone costs for as many stacks:
 *              one write to the top page of each of N fresh 320 KiB
 *              slots of one mapping, a second write to each, the unmap
 *              (the least a create+park and a teardown can cost)
 *     --dump   after parking, corolink_dump() to stderr, timed
 *     --check  exit 1 unless a parked coroutine costs at most 8 KiB
 *              resident and the trim leaves at most 16 mappings and
 *              32 MiB (the registry keeps 8 bytes a slot) more than at
 *              the start (ctest's scale.million) */
#include <corolink.h>

#include "proc_self.h"

#include <sys/mman.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

volatile int scale_sink;

__attribute__((noinline)) static void *park3(corolink_yielder *y, int k) {
    volatile char local[200];
    local[0] = (char)k;
    local[199] = (char)k;
    void *r = corolink_suspend(y, NULL);
    scale_sink += local[0] + local[199];
    return r;
}
__attribute__((noinline)) static void *park2(corolink_yielder *y, int k) {
    volatile char local[200];
    local[0] = (char)k;
    void *r = park3(y, k + 1);
    scale_sink += local[0];
    return r;
}
__attribute__((noinline)) static void *park1(corolink_yielder *y, int k) {
    volatile char local[200];
    local[0] = (char)k;
    void *r = park2(y, k + 1);
    scale_sink += local[0];
    return r;
}
static void *parked_body(corolink_yielder *y, void *in, void *arg) {
    (void)in;
    return park1(y, (int)(size_t)arg);
}

static void floor_phase(size_t n) {
    size_t slot = 320 * 1024;
    char *m = mmap(NULL, n * slot, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return;
    madvise(m, n * slot, MADV_NOHUGEPAGE);
    double t0 = now();
    for (size_t i = 0; i < n; i++)
        m[i * slot + slot - 512] = 1;
    double t1 = now();
    for (size_t i = 0; i < n; i++)
        m[i * slot + slot - 512]++;
    double t2 = now();
    munmap(m, n * slot);
    double t3 = now();
    printf("floor n=%zu first_touch_seconds=%.3f second_touch_seconds=%.3f "
           "unmap_seconds=%.3f\n",
           n, t1 - t0, t2 - t1, t3 - t2);
}

int main(int argc, char **argv) {
    size_t n = 1000000;
    int hold = 0, floor = 0, check = 0, dump = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--hold") == 0)
            hold = 1;
        else if (strcmp(argv[i], "--floor") == 0)
            floor = 1;
        else if (strcmp(argv[i], "--check") == 0)
            check = 1;
        else if (strcmp(argv[i], "--dump") == 0)
            dump = 1;
        else
            n = strtoul(argv[i], NULL, 10);
    }
    if (floor)
        floor_phase(n);
    corolink **co = malloc(n * sizeof *co);
    if (co == NULL)
        return 2;
    memset(co, 0, n * sizeof *co); /* resident before the first count */
    long rss0 = proc_rss_kib(), maps0 = proc_count_maps();
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        int rc = corolink_create(&co[i], parked_body, (void *)i, 0);
        if (rc != 0) {
            printf("create failed at %zu: %s\n", i, corolink_strerror(rc));
            return 1;
        }
        if (corolink_resume(co[i], NULL, NULL) != COROLINK_YIELD) {
            printf("resume %zu did not park\n", i);
            return 1;
        }
    }
    double t1 = now();
    long rss1 = proc_rss_kib(), maps1 = proc_count_maps();
    size_t guarded = 0;
    for (size_t i = 0; i < n; i++)
        guarded += corolink_stack_guard(co[i]) == COROLINK_GUARD_PAGE;
    printf("parked n=%zu seconds=%.3f rss_per_coroutine=%.0f maps_added=%ld "
           "guard_pages=%zu watched=%zu\n",
           n, t1 - t0, (double)(rss1 - rss0) * 1024.0 / (double)n,
           maps1 - maps0, guarded, n - guarded);
    fflush(stdout);
    if (dump) {
        double d0 = now();
        int rc = corolink_dump(stderr);
        printf("dump rc=%d seconds=%.3f\n", rc, now() - d0);
        fflush(stdout);
    }
    if (hold) {
        printf("parked\n");
        fflush(stdout);
        char line[16];
        if (!fgets(line, sizeof line, stdin))
            return 0;
    }
    double per = (double)(rss1 - rss0) * 1024.0 / (double)n;
    if (check && per > 8192.0) {
        printf("FAIL: %.0f bytes resident per parked coroutine (at most "
               "8192)\n", per);
        return 1;
    }
    double t2 = now();
    for (size_t i = 0; i < n; i++) {
        if (corolink_resume(co[i], NULL, NULL) != COROLINK_RETURN) {
            printf("resume %zu did not return\n", i);
            return 1;
        }
        corolink_destroy(co[i]);
    }
    double t3 = now();
    corolink_pool_trim();
    long rss2 = proc_rss_kib(), maps2 = proc_count_maps();
    printf("teardown n=%zu seconds=%.3f rss_left_kib=%ld maps_left=%ld\n", n,
           t3 - t2, rss2 - rss0, maps2 - maps0);
    free(co);
    if (check && (maps2 - maps0 > 16 || rss2 - rss0 > 32 * 1024)) {
        printf("FAIL: after the trim, %ld more mappings (at most 16) and "
               "%ld KiB more resident (at most 32768) than at the start\n",
               maps2 - maps0, rss2 - rss0);
        return 1;
    }
    return 0;
}
