/*
 * step_count.c - instructions per round trip and per call on targets that
 * valgrind does not run (i686 on a kernel without 32-bit programs, ARM32;
 * RISC-V 64's rows were counted the same way before this program was kept),
 * by check-cfi single-stepping under qemu's gdb stub.
 * Not part of the build (bench/README.md: "i686: instruction counts",
 * "ARM32: instruction counts").
 *
 *   step_count switch N   N round trips (resume + suspend) of a body that
 *                         echoes, the round-trip benchmark's shape
 *   step_count call N     N times corolink_create_on() on a stack allocated
 *                         once + a resume to completion + corolink_destroy()
 *
 * Everything is created before cfi_window_begin() and freed after
 * cfi_window_end() (the first create, which fills the registry through
 * libc, too); check-cfi prints "stepped K instructions" for what runs
 * between them. (K(11) - K(1)) / 10 is one iteration, the loop and
 * `sink += out` included, as in the x86-64 callgrind rows.
 *
 * Built against a cross build tree (RelWithDebInfo, COROLINK_TESTS=ON, the
 * targets corolink and build-check-cfi), e.g. for i686 (add
 * -DCOROLINK_NO_INLINE for the out-of-line switch):
 *   gcc -m32 -std=c11 -O2 -g -Iinclude bench/step_count.c -o sc \
 *       -Wl,-rpath,$PWD/build-i686 build-i686/libcorolink.so
 *   build-i686/unwind-info/check-cfi --stub=/usr/bin/qemu-i386 sc call 11
 * ARM32: arm-linux-gnueabihf-gcc -mthumb (the default) or -marm, with -g
 * -funwind-tables (check-cfi unwinds with DWARF CFI only), and
 *   --stub=/usr/bin/qemu-arm,-cpu,max,-L,/usr/arm-linux-gnueabihf
 * Natively on x86-64, check-cfi without --stub (ptrace). On ARM32 the call
 * mode needs a check-cfi whose model lets a conditional return not taken
 * (corolink_destroy's `bxeq lr`) pass: bench/README.md, "ARM32".
 */
#include <corolink.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STEP_FN __attribute__((noipa, noinline, used))

volatile uintptr_t step_sink;

STEP_FN void cfi_window_begin(void) { step_sink = 1; }
STEP_FN void cfi_window_end(void) { step_sink += 2; }

#define STOP_ECHO (~(uintptr_t)0)

/* Replies input + 1 to every resume until it gets STOP_ECHO. */
static void *echo_body(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    for (;;) {
        uintptr_t in = (uintptr_t)input;
        if (in == STOP_ECHO)
            return NULL;
        input = corolink_suspend(y, (void *)(in + 1));
    }
}

/* Returns at once, replying input + 1. */
static void *return_body(corolink_yielder *y, void *input, void *arg) {
    (void)y;
    (void)arg;
    return (void *)((uintptr_t)input + 1);
}

STEP_FN int resumer_switch(corolink *co, uintptr_t n) {
    for (uintptr_t i = 1; i <= n; i++) {
        void *out = NULL;
        if (corolink_resume(co, (void *)i, &out) != COROLINK_YIELD)
            return 0;
        step_sink += (uintptr_t)out;
    }
    return 1;
}

STEP_FN int resumer_call(corolink_stack *stack, uintptr_t n) {
    for (uintptr_t i = 1; i <= n; i++) {
        corolink *co = NULL;
        if (corolink_create_on(&co, stack, return_body, NULL) != 0)
            return 0;
        void *out = NULL;
        int rc = corolink_resume(co, (void *)i, &out);
        corolink_destroy(co);
        if (rc != COROLINK_RETURN)
            return 0;
        step_sink += (uintptr_t)out;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3)
        return 2;
    uintptr_t n = strtoul(argv[2], NULL, 0);
    corolink_stack stack;
    if (corolink_stack_alloc(&stack, 64 * 1024) != 0)
        return 2;
    int ok;
    if (strcmp(argv[1], "switch") == 0) {
        corolink *co = NULL;
        void *out = NULL;
        if (corolink_create_on(&co, &stack, echo_body, NULL) != 0)
            return 2;
        /* The body starts inside the window: check-cfi's model of calls
         * and returns must see the out-of-line suspend's call to pair its
         * return (the same in every run, so it cancels out). */
        cfi_window_begin();
        ok = corolink_resume(co, NULL, &out) == COROLINK_YIELD &&
             resumer_switch(co, n);
        cfi_window_end();
        if (corolink_resume(co, (void *)STOP_ECHO, &out) != COROLINK_RETURN)
            ok = 0;
        corolink_destroy(co);
    } else if (strcmp(argv[1], "call") == 0) {
        /* The first create fills the registry (libc, system calls): once
         * before the window, as the benchmark's warm-up does. */
        if (!resumer_call(&stack, 1))
            return 2;
        cfi_window_begin();
        ok = resumer_call(&stack, n);
        cfi_window_end();
    } else
        return 2;
    corolink_stack_free(&stack);
    return ok ? 0 : 1;
}
