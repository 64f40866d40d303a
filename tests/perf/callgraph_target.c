/* The program perf.callgraph_fp samples: its hot loop runs inside
 * coroutines, three named functions deep in the body (body -> stage_outer
 * -> stage_inner -> spin), resumed by drive(), a distinct function that
 * main() calls. Built with frame pointers: perf --call-graph fp must walk
 * from spin() through the coroutine's root frame (corolink__trampoline)
 * into drive() and main() on the thread's own stack. */
#include <corolink.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/noinline.h"

static volatile uint64_t sink;

NOINLINE static uint64_t finish(uint64_t x) { return x ^ (x >> 17); }

/* Not a leaf: gcc 12 omits the frame pointer of leaf functions that need no
 * stack even with -mno-omit-leaf-frame-pointer, and a walker then skips the
 * leaf's caller. */
NOINLINE static uint64_t spin(uint64_t n) {
    uint64_t x = n;
    for (uint64_t i = 0; i < 20000; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        __asm__ volatile("" : "+r"(x));
    }
    return finish(x);
}

NOINLINE static uint64_t stage_inner(uint64_t n) { return spin(n) ^ n; }

NOINLINE static uint64_t stage_outer(uint64_t n) {
    return stage_inner(n + 1) + 1;
}

NOINLINE static void *body(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    for (;;) {
        uint64_t v = stage_outer((uint64_t)(uintptr_t)input);
        sink = v;
        input = corolink_suspend(y, (void *)(uintptr_t)v);
    }
    return NULL;
}

/* Round-robins the coroutines for `rounds` rounds. */
NOINLINE static void drive(corolink **cos, int n, long rounds) {
    void *out = NULL;
    for (long r = 0; r < rounds; r++)
        for (int i = 0; i < n; i++)
            if (corolink_resume(cos[i], out, &out) != COROLINK_YIELD)
                abort();
    __asm__ volatile("" ::: "memory"); /* no tail call */
}

int main(int argc, char **argv) {
    long rounds = argc > 1 ? atol(argv[1]) : 20000;
    enum { N = 4 };
    corolink *cos[N];
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "worker-%d", i);
        if (corolink_create(&cos[i], body, NULL, 0) != 0 ||
            corolink_set_name(cos[i], name) != 0)
            abort();
    }
    drive(cos, N, rounds);
    for (int i = 0; i < N; i++) {
        corolink_force_reset(cos[i]);
        corolink_destroy(cos[i]);
    }
    printf("%llu\n", (unsigned long long)sink);
    return 0;
}
