/*
 * cfi_target_bad.c - negative control for check-cfi.
 *
 * The window holds one correct corolink round trip (resumer_ok) and one call
 * through bad_stack_switch (bad_switch_<target>.S), a stack switch with no
 * CFI for it. check-cfi, run with --expect-fail-under=bad_stack_switch,
 * must report failures, and only at instructions where bad_stack_switch is
 * live; a checker that accepts every backtrace fails this test.
 */
#include <corolink.h>

#include <stdint.h>
#include <stdio.h>

#include "cfi_target.h"

void *bad_stack_switch(void *(*fn)(void *), void *arg, void *top);

volatile uintptr_t cfi_sink;

CFI_EXPORT CFI_FN void cfi_window_begin(void) { cfi_sink = 0x0bad1u; }

CFI_EXPORT CFI_FN void cfi_window_end(void) {
    cfi_sink = cfi_sink * 5u + 0x0bad2u;
}

/* Zeroed: a wrong unwind that reads it finds return address 0 (or the
 * saved rsp) instead of a way back. */
static _Alignas(64) unsigned char bad_stack[16384];

CFI_FN uintptr_t leaf_on_bad(uintptr_t x) { return x * 19u + 6u; }

CFI_FN void *fn_on_bad(void *arg) {
    return (void *)leaf_on_bad((uintptr_t)arg);
}

CFI_FN int resumer_bad(void) {
    /* leaf_on_bad(3) = 63 */
    return (uintptr_t)bad_stack_switch(fn_on_bad, (void *)3,
                                       bad_stack + sizeof bad_stack) == 63u;
}

static corolink *co_ok;

CFI_FN void *body_ok(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    uintptr_t in = (uintptr_t)corolink_suspend(y, input);
    return (void *)(in + 1u);
}

CFI_FN int resumer_ok(void) {
    void *out = NULL;
    int ok = corolink_resume(co_ok, (void *)8, &out) == COROLINK_YIELD &&
             (uintptr_t)out == 8u;
    ok &= corolink_resume(co_ok, (void *)9, &out) == COROLINK_RETURN &&
          (uintptr_t)out == 10u;
    return ok;
}

int main(void) {
    if (corolink_create(&co_ok, body_ok, NULL, 0) != 0) {
        fprintf(stderr, "cfi_target_bad: setup failed\n");
        return 2;
    }
    cfi_window_begin();
    int ok = resumer_ok();
    ok &= resumer_bad();
    cfi_window_end();
    corolink_destroy(co_ok);
    if (!ok) {
        fprintf(stderr, "cfi_target_bad: wrong values\n");
        return 1;
    }
    printf("cfi_target_bad: ok\n");
    return 0;
}
