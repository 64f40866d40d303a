/* Scale test for the gdb plugin: 100,000 suspended coroutines (a quarter
 * parked in scale_wait_a, a quarter in scale_wait_b, and half in
 * scale_leaf, called from scale_from_c or scale_from_d), then a stop in
 * test_ready().
 *
 * The two scale_leaf quarters are suspended at the same pc with the same
 * frame sizes, so their saved registers lie at the same offsets from the
 * top of their stacks: only the return addresses differ. The plugin's
 * unwind memo must tell them apart (by the frame-pointer chain: this
 * program keeps frame pointers).
 *
 * Memory: the stacks are carved from one mapping with corolink_create_on(),
 * 1 KiB apart. Each region formally spans 4.5 KiB (the library's minimum),
 * so neighbouring regions overlap, but a body here suspends at once and
 * uses well under 512 bytes below its 512-byte control block: the used
 * parts never meet. This keeps the test at ~100 MB instead of ~450 MB. */
#include <corolink.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define N 100000
#define STRIDE 1024
#define NOINLINE __attribute__((noinline))

volatile int sink;

NOINLINE void test_ready(void) { __asm__ volatile("" ::: "memory"); }

NOINLINE void scale_wait_a(corolink_yielder *y) {
    corolink_suspend(y, NULL);
    sink = 1;
}

NOINLINE void scale_wait_b(corolink_yielder *y) {
    corolink_suspend(y, (void *)2);
    sink = 2;
}

NOINLINE void scale_leaf(corolink_yielder *y) {
    corolink_suspend(y, (void *)3);
    sink = 3;
}

/* Same frame, distinct bodies (gcc -O2 merges identical functions). */
NOINLINE void scale_from_c(corolink_yielder *y) {
    scale_leaf(y);
    sink = 30;
}

NOINLINE void scale_from_d(corolink_yielder *y) {
    scale_leaf(y);
    sink = 40;
}

NOINLINE void *scale_body(corolink_yielder *y, void *in, void *arg) {
    (void)in;
    switch ((uintptr_t)arg & 3) {
    case 0:
        scale_wait_a(y);
        break;
    case 1:
        scale_wait_b(y);
        break;
    case 2:
        scale_from_c(y);
        break;
    default:
        scale_from_d(y);
        break;
    }
    return NULL;
}

int main(void) {
    corolink_debug_timestamps(true);
    size_t span = COROLINK_CONTROL_SIZE + COROLINK_STACK_MIN_USABLE;
    size_t len = (size_t)N * STRIDE + span + 4096;
    char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    static corolink *cos[N];
    for (size_t i = 0; i < N; i++) {
        corolink_stack st = {.base = mem + span + i * STRIDE,
                             .limit = mem + i * STRIDE,
                             .guard = 0};
        if (corolink_create_on(&cos[i], &st, scale_body, (void *)i) != 0) {
            fprintf(stderr, "create_on failed at %zu\n", i);
            return 1;
        }
        corolink_resume(cos[i], NULL, NULL);
    }
    test_ready();
    for (size_t i = 0; i < N; i++) {
        corolink_force_reset(cos[i]);
        corolink_destroy(cos[i]);
    }
    munmap(mem, len);
    return 0;
}
