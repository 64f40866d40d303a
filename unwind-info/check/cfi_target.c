/*
 * cfi_target.c - the program check-cfi single-steps.
 *
 * main() creates everything it needs (coroutines, a side stack) first, then
 * calls cfi_window_begin(), runs the scenarios below, and calls
 * cfi_window_end(). check-cfi single-steps every instruction between the two
 * markers and unwinds the thread at each one. Nothing inside the window
 * calls libc or makes a system call: the only library code stepped through
 * is corolink's switch path (the inline resume/suspend, corolink__trampoline,
 * corolink_on_parent_stack, corolink_on_stack, corolink__call_on; built with
 * COROLINK_NO_INLINE, the library's corolink_resume/corolink_suspend).
 *
 * Scenarios (each one a function called directly by main):
 *   resumer_basic     first resume (trampoline entry); the body calls a
 *                     function; suspends from the body; second resume (switch
 *                     in at the resume point); suspends from a callee of the
 *                     body; third resume; the body returns (trampoline exit);
 *                     a fourth resume finds it finished (x86-64: enters
 *                     corolink__busy, which reports "not resumable").
 *   resumer_nested    coroutine A's body calls resumer_in_a, which resumes
 *                     coroutine B twice (first resume + switch in); B suspends
 *                     back to A and later returns to A; A suspends to
 *                     resumer_nested and finishes on the next resume.
 *   resumer_parent    the body calls corolink_on_parent_stack() (fn runs on
 *                     the resumer's stack) and corolink_on_stack() (fn runs on
 *                     a third stack, called from the coroutine's stack).
 *   resumer_on_stack  corolink_on_stack() from the thread's own stack.
 *   resumer_with      corolink_resume_with() on a coroutine that has not
 *                     started (fn runs first, called from the root frame)
 *                     and on one suspended in its body (fn runs on top of
 *                     the pending suspend, which returns fn's result):
 *                     corolink__ontop's switches both ways.
 *
 * Names matter: check-cfi prints them, and requires the frames named
 * resumer_* that are live at an instruction to appear, in order, before
 * `main` in the backtrace. Every function is noipa (no inlining, cloning,
 * identical-code folding or signature changes), so each keeps its name at
 * -O2, and the program is linked with -rdynamic (ENABLE_EXPORTS).
 *
 * The program checks the values passed through every switch and exits 1 if
 * one is wrong, so a checker run also proves the switch still works.
 */
#include <corolink.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cfi_target.h"

/* ---- window markers: exported, distinct bodies ---- */

volatile uintptr_t cfi_sink;

CFI_EXPORT CFI_FN void cfi_window_begin(void) { cfi_sink = 0xb391u; }

CFI_EXPORT CFI_FN void cfi_window_end(void) {
    cfi_sink = cfi_sink * 3u + 0xe4du;
}

/* ---- leaves (distinct arithmetic so that nothing gets folded) ---- */

CFI_FN uintptr_t leaf_basic(uintptr_t x) { return x * 7u + 1u; }
CFI_FN uintptr_t leaf_b(uintptr_t x) { return x * 11u + 2u; }
CFI_FN uintptr_t leaf_b_after(uintptr_t x) { return (x ^ 0x55u) + 3u; }
CFI_FN uintptr_t leaf_parent(uintptr_t x) { return x * 13u + 4u; }
CFI_FN uintptr_t leaf_side(uintptr_t x) { return x * 17u + 5u; }

/* ---- scenario 1: create, run, suspend twice, return ---- */

static corolink *co_basic;

CFI_FN uintptr_t deep_suspend(corolink_yielder *y, uintptr_t v) {
    uintptr_t in = (uintptr_t)corolink_suspend(y, (void *)(v + 1u));
    return in * 2u;
}

CFI_FN void *body_basic(corolink_yielder *y, void *input, void *arg) {
    uintptr_t x = leaf_basic((uintptr_t)input);                /* a call */
    uintptr_t in = (uintptr_t)corolink_suspend(y, (void *)x); /* in body */
    x = deep_suspend(y, in);                         /* from a callee */
    return (void *)(x + (uintptr_t)arg);             /* trampoline exit */
}

CFI_FN int resumer_basic(void) {
    void *out = NULL;
    int ok = 1;
    /* leaf_basic(3) = 22 */
    ok &= corolink_resume(co_basic, (void *)3, &out) == COROLINK_YIELD &&
          (uintptr_t)out == 22u;
    /* deep_suspend(y, 5) yields 6 */
    ok &= corolink_resume(co_basic, (void *)5, &out) == COROLINK_YIELD &&
          (uintptr_t)out == 6u;
    /* deep_suspend returns 10 * 2; + arg 100 */
    ok &= corolink_resume(co_basic, (void *)10, &out) == COROLINK_RETURN &&
          (uintptr_t)out == 120u;
    /* Finished: the resume reports it (x86-64: through corolink__busy). */
    ok &= corolink_resume(co_basic, (void *)11, &out) == COROLINK_EDONE;
    return ok;
}

/* ---- scenario 2: A resumes B, B suspends back to A ---- */

static corolink *co_a, *co_b;

CFI_FN void *body_b(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    uintptr_t x = leaf_b((uintptr_t)input);
    uintptr_t in = (uintptr_t)corolink_suspend(y, (void *)x); /* back to A */
    return (void *)leaf_b_after(in);
}

/* B's resumer: runs on A's stack. */
CFI_FN uintptr_t resumer_in_a(corolink *b) {
    void *out = NULL;
    uintptr_t acc = 0;
    if (corolink_resume(b, (void *)4, &out) != COROLINK_YIELD) /* 46 */
        return 0;
    acc += (uintptr_t)out;
    if (corolink_resume(b, (void *)6, &out) != COROLINK_RETURN) /* 6^0x55+3 */
        return 0;
    acc += (uintptr_t)out;
    return acc;
}

CFI_FN void *body_a(corolink_yielder *y, void *input, void *arg) {
    (void)input;
    (void)arg;
    uintptr_t r = resumer_in_a(co_b);
    uintptr_t in = (uintptr_t)corolink_suspend(y, (void *)r);
    return (void *)(in + r);
}

CFI_FN int resumer_nested(void) {
    void *out = NULL;
    int ok = 1;
    const uintptr_t r = 46u + ((6u ^ 0x55u) + 3u);
    ok &= corolink_resume(co_a, NULL, &out) == COROLINK_YIELD &&
          (uintptr_t)out == r;
    ok &= corolink_resume(co_a, (void *)7, &out) == COROLINK_RETURN &&
          (uintptr_t)out == 7u + r;
    return ok;
}

/* ---- scenario 3: on the parent's stack and on a side stack ---- */

static corolink *co_p;
static corolink_stack side_stack;

CFI_FN void *fn_on_parent(void *arg) {
    return (void *)leaf_parent((uintptr_t)arg);
}

CFI_FN void *fn_on_side(void *arg) {
    return (void *)leaf_side((uintptr_t)arg);
}

CFI_FN void *body_parent(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    uintptr_t r = (uintptr_t)corolink_on_parent_stack(y, fn_on_parent, input);
    void *s = NULL;
    if (corolink_on_stack(&side_stack, fn_on_side, (void *)r, &s) != 0)
        return NULL;
    return s;
}

CFI_FN int resumer_parent(void) {
    void *out = NULL;
    /* leaf_parent(2) = 30, leaf_side(30) = 515 */
    return corolink_resume(co_p, (void *)2, &out) == COROLINK_RETURN &&
           (uintptr_t)out == 515u;
}

/* ---- scenario 4: corolink_on_stack from the thread's own stack ---- */

CFI_FN int resumer_on_stack(void) {
    void *r = NULL;
    /* leaf_side(9) = 158 */
    return corolink_on_stack(&side_stack, fn_on_side, (void *)9, &r) == 0 &&
           (uintptr_t)r == 158u;
}

/* ---- scenario 5: corolink_resume_with() ---- */

/* The targets whose corolink__ontop exists. */
#if defined(__x86_64__) || defined(__aarch64__) || defined(__i386__) ||     \
    defined(__arm__) ||                                                     \
    (defined(__riscv) && __riscv_xlen == 64)
#define CFI_HAVE_ONTOP 1
#else
#define CFI_HAVE_ONTOP 0
#endif

static corolink *co_w;

CFI_FN uintptr_t leaf_with(uintptr_t x) { return x * 19u + 6u; }

CFI_FN void *fn_with(void *input, void *arg) {
    return (void *)leaf_with((uintptr_t)input + (uintptr_t)arg);
}

CFI_FN void *body_with(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    uintptr_t in = (uintptr_t)corolink_suspend(y, (void *)((uintptr_t)input + 1u));
    return (void *)(in * 3u);
}

CFI_FN int resumer_with(void) {
#if CFI_HAVE_ONTOP
    void *out = NULL;
    int ok = 1;
    /* Not started: fn(2, 3) = leaf_with(5) = 101 is the body's input,
     * which yields 102. */
    ok &= corolink_resume_with(co_w, fn_with, (void *)3, (void *)2, &out) ==
              COROLINK_YIELD &&
          (uintptr_t)out == 102u;
    /* Suspended: fn(4, 5) = leaf_with(9) = 177 comes out of the suspend;
     * the body returns 531. */
    ok &= corolink_resume_with(co_w, fn_with, (void *)5, (void *)4, &out) ==
              COROLINK_RETURN &&
          (uintptr_t)out == 531u;
    return ok;
#else
    return 1;
#endif
}

int main(void) {
    if (corolink_create(&co_basic, body_basic, (void *)100, 0) != 0 ||
        corolink_create(&co_a, body_a, NULL, 0) != 0 ||
        corolink_create(&co_b, body_b, NULL, 0) != 0 ||
        corolink_create(&co_p, body_parent, NULL, 0) != 0 ||
        corolink_create(&co_w, body_with, NULL, 0) != 0 ||
        corolink_stack_alloc(&side_stack, 0) != 0) {
        fprintf(stderr, "cfi_target: setup failed\n");
        return 2;
    }

    cfi_window_begin();
    int ok = resumer_basic();
    ok &= resumer_nested();
    ok &= resumer_parent();
    ok &= resumer_on_stack();
    ok &= resumer_with();
    cfi_window_end();

    corolink_destroy(co_basic);
    corolink_destroy(co_a);
    corolink_destroy(co_b);
    corolink_destroy(co_p);
    corolink_destroy(co_w);
    corolink_stack_free(&side_stack);
    if (!ok) {
        fprintf(stderr, "cfi_target: wrong values through the switch\n");
        return 1;
    }
    printf("cfi_target: ok\n");
    return 0;
}
