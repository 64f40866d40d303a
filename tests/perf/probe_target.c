/* The program the probe tests trace (perf.sdt_record*): a fixed sequence of
 * creates, resumes (from the thread's own stack and nested), suspends,
 * returns, a forced unwind, a trap and destroys. It prints the events the corolink probes
 * must report, one per line, in order, with the real ids:
 *
 *   create <id> <fn address> <stack base> <stack size>
 *   resume <from id> <to id>
 *   suspend <id> | return <id> | destroy <id>
 *   trap <id> <signal> <address>
 *
 * (addresses in hex). Built twice: with the inline switch and with
 * COROLINK_NO_INLINE (the library's out-of-line switch). */
#include <corolink.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STACK_SIZE ((size_t)64 * 1024)

static void expect_create(corolink *co, corolink_fn fn) {
    corolink_stack st;
    if (corolink_get_stack(co, &st) != 0)
        abort();
    /* The probe reports the whole region: the body's stack and the
     * control block above it, up to the mapping's end. */
    uintptr_t top = (uintptr_t)st.limit + STACK_SIZE;
    printf("create %llu %#llx %#llx %llu\n",
           (unsigned long long)corolink_id(co),
           (unsigned long long)(uintptr_t)fn, (unsigned long long)top,
           (unsigned long long)STACK_SIZE);
}

static uint64_t id_b;

/* Suspends once, then returns. */
static void *body_b(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    printf("suspend %llu\n", (unsigned long long)id_b);
    input = corolink_suspend(y, input);
    printf("return %llu\n", (unsigned long long)id_b);
    return input;
}

/* Resumes b twice (nested: from a), suspends, and returns. */
static void *body_a(corolink_yielder *y, void *input, void *arg) {
    corolink *b = arg;
    uint64_t a = corolink_id(corolink_from_yielder(y));
    void *out;
    printf("resume %llu %llu\n", (unsigned long long)a,
           (unsigned long long)id_b);
    if (corolink_resume(b, input, &out) != COROLINK_YIELD)
        abort();
    printf("resume %llu %llu\n", (unsigned long long)a,
           (unsigned long long)id_b);
    if (corolink_resume(b, input, &out) != COROLINK_RETURN)
        abort();
    printf("suspend %llu\n", (unsigned long long)a);
    corolink_suspend(y, out);
    printf("return %llu\n", (unsigned long long)a);
    return NULL;
}

static uint64_t id_d;

/* Suspends for good: destroyed suspended. */
static void *body_d(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    for (;;) {
        printf("suspend %llu\n", (unsigned long long)id_d);
        input = corolink_suspend(y, input);
    }
    return input; /* not reached */
}

static volatile int *volatile null_pointer;

static void *body_c(corolink_yielder *y, void *input, void *arg) {
    (void)y, (void)arg;
    *null_pointer = 1; /* faults: trap */
    return input;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    corolink *a, *b, *c;
    void *out;
    if (corolink_create(&b, body_b, NULL, STACK_SIZE) != 0)
        abort();
    expect_create(b, body_b);
    id_b = corolink_id(b);
    if (corolink_create(&a, body_a, b, STACK_SIZE) != 0)
        abort();
    expect_create(a, body_a);
    uint64_t id_a = corolink_id(a);
    /* name: the 32 bytes of the name as four little-endian words. */
    if (corolink_set_name(a, "probe-target-alpha") != 0)
        abort();
    uint64_t w[4] = {0, 0, 0, 0};
    memcpy(w, corolink_name(a), strlen(corolink_name(a)));
    printf("name %llu %#llx %#llx %#llx %#llx\n", (unsigned long long)id_a,
           (unsigned long long)w[0], (unsigned long long)w[1],
           (unsigned long long)w[2], (unsigned long long)w[3]);

    printf("resume 0 %llu\n", (unsigned long long)id_a);
    if (corolink_resume(a, NULL, &out) != COROLINK_YIELD)
        abort();
    printf("resume 0 %llu\n", (unsigned long long)id_a);
    if (corolink_resume(a, NULL, &out) != COROLINK_RETURN)
        abort();
    /* A failing resume fires nothing. */
    if (corolink_resume(a, NULL, &out) != COROLINK_EDONE)
        abort();
    printf("destroy %llu\n", (unsigned long long)id_a);
    corolink_destroy(a);
    printf("destroy %llu\n", (unsigned long long)id_b);
    corolink_destroy(b);

    /* A suspended coroutine unwound (the library's own resume, then the
     * trampoline's return path), where the build has the unwinder. */
    corolink *d;
    if (corolink_create(&d, body_d, NULL, STACK_SIZE) != 0)
        abort();
    expect_create(d, body_d);
    id_d = corolink_id(d);
    printf("resume 0 %llu\n", (unsigned long long)id_d);
    if (corolink_resume(d, NULL, &out) != COROLINK_YIELD)
        abort();
    int rc = corolink_force_unwind(d);
    if (rc == 0) {
        printf("resume 0 %llu\n", (unsigned long long)id_d);
        printf("return %llu\n", (unsigned long long)id_d);
    } else if (rc != COROLINK_ENOTSUP || corolink_force_reset(d) != 0) {
        abort();
    }
    printf("destroy %llu\n", (unsigned long long)id_d);
    corolink_destroy(d);

    if (corolink_trap_install() != 0)
        abort();
    if (corolink_create(&c, body_c, NULL, STACK_SIZE) != 0)
        abort();
    expect_create(c, body_c);
    uint64_t id_c = corolink_id(c);
    printf("resume 0 %llu\n", (unsigned long long)id_c);
    printf("trap %llu %d 0\n", (unsigned long long)id_c, SIGSEGV);
    if (corolink_resume(c, NULL, &out) != COROLINK_TRAP)
        abort();
    printf("destroy %llu\n", (unsigned long long)id_c);
    corolink_destroy(c);
    return 0;
}
