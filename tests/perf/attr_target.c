/* The program the corolink-perf attribution, stack-copy and timeline tests
 * profile (perf.attribution, perf.stack_copy, perf.timeline). It writes one
 * line per coroutine to the file named by its first argument:
 *
 *   <id> <name> <stack limit> <stack base> <resumes>
 *
 * ([limit, base): the body's usable stack as corolink_get_stack() gives it,
 * in hex; resumes: how many times the program resumed it, the one that
 * makes it return included).
 *
 *   attr_target FILE mix ROUNDS   nested, migrating and fast-switching
 *       coroutines: "outer" resumes "inner" every round (nested); "nomad"
 *       and "outer" are resumed from the main thread in the first half of
 *       the rounds and from a second thread in the second half (migrating);
 *       "fast-0".."fast-3" run about a microsecond between switches. Every
 *       body runs ROUNDS rounds, suspending after each, then returns.
 *   attr_target FILE deep ROUNDS  one coroutine "deep" whose body recurses
 *       about 24 KiB deep and spins there, ROUNDS times.
 */
#include <corolink.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/noinline.h"

static volatile uint64_t sink;
static long rounds;

NOINLINE static uint64_t spin(uint64_t n, int iters) {
    uint64_t x = n;
    for (int i = 0; i < iters; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        __asm__ volatile("" : "+r"(x));
    }
    return x;
}

enum { N_FAST = 4, N_CO = 3 + N_FAST };
static corolink *cos[N_CO];
static long resumes[N_CO];
#define OUTER 0
#define INNER 1
#define NOMAD 2

static void resume(int i) {
    resumes[i]++;
    int rc = corolink_resume(cos[i], NULL, NULL);
    if (rc != COROLINK_YIELD && rc != COROLINK_RETURN)
        abort();
}

static void *inner_body(corolink_yielder *y, void *input, void *arg) {
    (void)input, (void)arg;
    for (long r = 0; r < rounds; r++) {
        sink = spin((uint64_t)r, 3000);
        corolink_suspend(y, NULL);
    }
    return NULL;
}

static void *outer_body(corolink_yielder *y, void *input, void *arg) {
    (void)input, (void)arg;
    for (long r = 0; r < rounds; r++) {
        sink = spin((uint64_t)r, 2000);
        resume(INNER); /* nested: inner runs on top of outer */
        sink = spin((uint64_t)r, 2000);
        corolink_suspend(y, NULL);
    }
    resume(INNER); /* inner returns */
    return NULL;
}

static void *plain_body(corolink_yielder *y, void *input, void *arg) {
    (void)input;
    int iters = (int)(intptr_t)arg;
    for (long r = 0; r < rounds; r++) {
        sink = spin((uint64_t)r, iters);
        corolink_suspend(y, NULL);
    }
    return NULL;
}

/* One round of the main loop: the thread's own stack spins too. */
static void phase(long from, long to) {
    for (long r = from; r < to; r++) {
        resume(OUTER);
        resume(NOMAD);
        for (int i = 0; i < N_FAST; i++)
            resume(3 + i);
        sink = spin((uint64_t)r, 1000);
    }
}

static void *second_thread(void *arg) {
    (void)arg;
    phase(rounds / 2, rounds);
    return NULL;
}

/* ~24 KiB of frames below the body, then spin: a 4 KiB stack copy does not
 * reach the coroutine's root. */
NOINLINE static uint64_t dive(int depth, uint64_t n) {
    volatile char pad[200];
    pad[0] = (char)depth;
    /* The whole array escapes (clang keeps only the elements used of a
     * local array otherwise: a 16-byte frame). */
    __asm__ volatile("" : : "r"(pad) : "memory");
    if (depth == 0)
        return spin(n, 20000);
    uint64_t v = dive(depth - 1, n + (uint64_t)pad[0]);
    __asm__ volatile("" ::: "memory"); /* no tail call */
    return v;
}

static void *deep_body(corolink_yielder *y, void *input, void *arg) {
    (void)input, (void)arg;
    for (long r = 0; r < rounds; r++) {
        sink = dive(100, (uint64_t)r);
        corolink_suspend(y, NULL);
    }
    return NULL;
}

static void write_ranges(const char *path, int n) {
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        corolink_stack st;
        if (corolink_get_stack(cos[i], &st) != 0)
            abort();
        fprintf(f, "%llu %s %#llx %#llx %ld\n",
                (unsigned long long)corolink_id(cos[i]), corolink_name(cos[i]),
                (unsigned long long)(uintptr_t)st.limit,
                (unsigned long long)(uintptr_t)st.base, resumes[i]);
    }
    fclose(f);
}

static void make(int i, corolink_fn fn, void *arg, const char *name) {
    if (corolink_create(&cos[i], fn, arg, 0) != 0 ||
        corolink_set_name(cos[i], name) != 0)
        abort();
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: attr_target FILE mix|deep ROUNDS\n");
        return 2;
    }
    rounds = atol(argv[3]);
    if (strcmp(argv[2], "deep") == 0) {
        make(0, deep_body, NULL, "deep");
        while (corolink_resume(cos[0], NULL, NULL) == COROLINK_YIELD)
            resumes[0]++;
        resumes[0]++;
        write_ranges(argv[1], 1);
        corolink_destroy(cos[0]);
        return 0;
    }
    make(OUTER, outer_body, NULL, "outer");
    make(INNER, inner_body, NULL, "inner");
    make(NOMAD, plain_body, (void *)(intptr_t)2500, "nomad");
    for (int i = 0; i < N_FAST; i++) {
        char name[16];
        snprintf(name, sizeof name, "fast-%d", i);
        make(3 + i, plain_body, (void *)(intptr_t)600, name);
    }
    phase(0, rounds / 2);
    pthread_t t;
    if (pthread_create(&t, NULL, second_thread, NULL) != 0 ||
        pthread_join(t, NULL) != 0)
        abort();
    /* The last resumes: every body returns (outer makes inner return). */
    resume(OUTER);
    resume(NOMAD);
    for (int i = 0; i < N_FAST; i++)
        resume(3 + i);
    write_ranges(argv[1], N_CO);
    for (int i = 0; i < N_CO; i++)
        corolink_destroy(cos[i]);
    return 0;
}
