/* The portable core: creating coroutines on a given stack, resuming and
 * suspending (out-of-line copies of the inline switch), inspection. */
#include "internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__thread struct corolink *corolink__current
    __attribute__((tls_model("initial-exec")));

const char *corolink_strerror(int code) {
    switch (code) {
    case 0: return "success";
    case COROLINK_YIELD: return "coroutine yielded";
    case COROLINK_RETURN: return "coroutine returned";
    case COROLINK_EINVAL: return "invalid argument";
    case COROLINK_ENOMEM: return "out of memory";
    case COROLINK_EDONE: return "coroutine has finished";
    case COROLINK_ERUNNING: return "coroutine is running";
    case COROLINK_ESTACK: return "stack too small or malformed";
    case COROLINK_ENOTSUP: return "not supported in this build";
    default: return "unknown corolink error";
    }
}

/* ---- ids: blocks of ids per thread, one atomic add per 1024 creates ---- */

#define ID_BLOCK 1024
static _Atomic uint64_t next_id_block = 1;
__thread uint64_t cl_id_next __attribute__((tls_model("initial-exec")));
__thread uint64_t cl_id_end __attribute__((tls_model("initial-exec")));

uint64_t cl_id_refill(void) {
    cl_id_next = atomic_fetch_add_explicit(&next_id_block, ID_BLOCK,
                                           memory_order_relaxed);
    cl_id_end = cl_id_next + ID_BLOCK;
    return cl_id_next++;
}

struct corolink *cl_place(void *limit, void *top, size_t guard) {
    uintptr_t lo = (uintptr_t)limit, hi = (uintptr_t)top;
    if (hi <= lo || hi - lo < COROLINK_CONTROL_SIZE + COROLINK_STACK_MIN_USABLE)
        return NULL;
    /* 64-byte aligned: the body starts with rsp = co, which the ABI wants
     * 16-byte aligned at a call, and the hot fields share a cache line. */
    uintptr_t at = (hi - COROLINK_CONTROL_SIZE) & ~(uintptr_t)63;
    if (at - lo < COROLINK_STACK_MIN_USABLE)
        return NULL;
    /* Every field is set here or by cl_init(); the rest of the hot block
     * (the link fields) is written by the first resume. */
    struct corolink *co = (struct corolink *)at;
    co->stack_limit = limit;
    co->stack_top = top;
    co->guard = guard;
    co->size_class = 0;
    co->pool_next = NULL;
    co->hot.flags = CL_STACK_USER;
    return co;
}

int corolink_create_on(corolink **out, const corolink_stack *stack,
                       corolink_fn fn, void *arg) {
    if (out == NULL || stack == NULL || fn == NULL || stack->base == NULL ||
        (uintptr_t)stack->base <= (uintptr_t)stack->limit)
        return COROLINK_EINVAL;
    struct corolink *co = cl_place(stack->limit, stack->base, stack->guard);
    if (co == NULL)
        return COROLINK_ESTACK;
    cl_init(co, fn, arg);
    *out = co;
    return 0;
}

void cl_fatal_running(const struct corolink *co, const char *what) {
    fprintf(stderr,
            "corolink: fatal: %s coroutine %llu \"%s\" while it is running\n",
            what, (unsigned long long)co->hot.id, co->name);
    abort();
}

int corolink_force_reset(corolink *co) {
    if (co == NULL)
        return COROLINK_EINVAL;
    if (co->hot.state == COROLINK__RUNNING)
        return COROLINK_ERUNNING;
    co->hot.state = COROLINK__DONE;
    return 0;
}

/* ---- running ---- */

int corolink__resume_fail(corolink *co, void **output) {
    if (output)
        *output = NULL;
    if (co == NULL)
        return COROLINK_EINVAL;
    if (co->hot.state == COROLINK__DONE)
        return COROLINK_EDONE;
    if (co->hot.state == COROLINK__RUNNING)
        return COROLINK_ERUNNING;
    /* Only reached for the states above; anything else is a corrupted
     * control block. */
    return COROLINK_EINVAL;
}

int corolink_resume(corolink *co, void *input, void **output) {
    return corolink__inline_corolink_resume(co, input, output);
}

void *corolink_suspend(corolink_yielder *yielder, void *value) {
    return corolink__inline_corolink_suspend(yielder, value);
}

void *corolink_on_parent_stack(corolink_yielder *yielder, void *(*fn)(void *),
                               void *arg) {
    struct corolink *co = (struct corolink *)yielder;
    /* Below the resumer's return address (the word under link_sp), which the
     * suspend that returns to the resumer still needs, and below the
     * resumer's 128-byte red zone (never in use across a resume, but the
     * margin costs nothing). */
    void *r = corolink__call_on(arg, fn, (char *)co->hot.link_sp - 8 - 128);
    /* Not a tail call: corolink__call_on is a signal frame, and a `jmp` to
     * it leaves debuggers (gdb at -O2, with call-site info) a synthetic
     * tail-call frame that they look up past the end of this function. */
    __asm__ volatile("" ::: "memory");
    return r;
}

int corolink_on_stack(const corolink_stack *stack, void *(*fn)(void *),
                      void *arg, void **result) {
    if (stack == NULL || fn == NULL || stack->base == NULL ||
        (uintptr_t)stack->base <= (uintptr_t)stack->limit)
        return COROLINK_EINVAL;
    if ((uintptr_t)stack->base - (uintptr_t)stack->limit <
        COROLINK_STACK_MIN_USABLE)
        return COROLINK_ESTACK;
    void *r = corolink__call_on(arg, fn, stack->base);
    if (result)
        *result = r;
    return 0;
}

/* ---- inspecting ---- */

bool corolink_started(const corolink *co) {
    return co != NULL && co->hot.state != COROLINK__CREATED;
}

bool corolink_done(const corolink *co) {
    return co != NULL && co->hot.state == COROLINK__DONE;
}

uint64_t corolink_id(const corolink *co) { return co ? co->hot.id : 0; }

int corolink_set_name(corolink *co, const char *name) {
    if (co == NULL)
        return COROLINK_EINVAL;
    size_t n = name ? strnlen(name, COROLINK_NAME_MAX - 1) : 0;
    memcpy(co->name, name ? name : "", n);
    co->name[n] = '\0';
    return 0;
}

const char *corolink_name(const corolink *co) { return co ? co->name : ""; }

corolink *corolink_current(void) {
    corolink *co;
    __asm__ volatile("movq corolink__current@gottpoff(%%rip), %0\n\t"
                     "movq %%fs:(%0), %0"
                     : "=r"(co));
    return co;
}

corolink *corolink_from_yielder(corolink_yielder *yielder) {
    return (corolink *)yielder;
}

int corolink_get_stack(const corolink *co, corolink_stack *out) {
    if (co == NULL || out == NULL)
        return COROLINK_EINVAL;
    out->base = (void *)co;
    out->limit = co->stack_limit;
    out->guard = co->guard;
    return 0;
}

size_t corolink_stack_used(const corolink *co) {
    if (co == NULL)
        return 0;
    /* Lowest non-zero word of the body's stack [limit, co). */
    uintptr_t lo = ((uintptr_t)co->stack_limit + 7) & ~(uintptr_t)7;
    const uint64_t *p = (const uint64_t *)lo, *end = (const uint64_t *)co;
    while (p < end && *p == 0)
        p++;
    return (size_t)((const char *)end - (const char *)p);
}
