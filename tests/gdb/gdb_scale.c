/* Scale test for the gdb plugin: 100,000 suspended coroutines (half parked
 * in scale_wait_a, half in scale_wait_b), then a stop in test_ready().
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

NOINLINE void *scale_body(corolink_yielder *y, void *in, void *arg) {
    (void)in;
    if ((uintptr_t)arg & 1)
        scale_wait_b(y);
    else
        scale_wait_a(y);
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
