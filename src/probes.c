/* USDT probes, provider "corolink" (see "Probes" in include/corolink.h and
 * perf/README.md):
 *
 *   create  (id, entry fn, stack base, stack size)
 *   resume  (from id or 0, to id)
 *   suspend (id)
 *   return  (id)
 *   destroy (id)
 *   trap    (id, signal, address)
 *
 * Every probe has an SDT semaphore, a 16-bit counter in section .probes
 * that tracers (perf, bpftrace, systemtap) increment while the probe is
 * enabled (the kernel does it through the uprobe's reference counter). The
 * switch is inline in the user's code and cannot carry a probe of its own:
 * instead the resume and suspend probes share one semaphore, which the
 * inline resume tests as part of an exported word (one load through the
 * GOT and a predicted branch: corolink__probe_gate on x86-64, whose top 16
 * bits it is, corolink__probe_switch on AArch64), and only while it is
 * nonzero hands the resume to corolink__resume_traced() below, which fires
 * both probes. The library's assembly (the trampoline's return path, the
 * out-of-line resume, the forced unwind's resume) and its C (create,
 * destroy, the trap redirect) test the same semaphores.
 *
 * `from` of the resume probe: the switch keeps no record of the coroutine
 * running on a thread (it would cost a third of a round trip). While the
 * resume, suspend, return or trap probe is enabled, this file keeps one: a
 * per-thread stack of the coroutines seen resumed on the thread (pushed by
 * the resume probe, popped by the suspend, return and trap probes), each
 * with its stack's address range. `from` is the entry whose stack holds
 * the resumer's stack pointer: entries above it are stale and dropped; if
 * none holds it, the resumer runs on the thread's own stack or on a
 * coroutine resumed before tracing started, and `from` is 0. So the answer
 * is exact whenever tracing saw the resumer resumed, and 0 otherwise; it
 * never names a coroutine the resumer does not run on. Only a coroutine
 * whose stack holds the stack pointer is ever read (then it is live: code
 * is running on it), so stale entries of destroyed coroutines are harmless.
 */
#include "internal.h"
#include "probes.h"

#if CL_PROBES

#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The semaphores, in the layout the inline switch and the assembly rely on
 * (one 64-bit word first, 8-byte aligned, then the rest):
 *   +0 return, +2 trap, +4 zero, +6 resume = suspend
 *   +8 create, +10 destroy, +12 name
 * The resume and suspend probes share one semaphore (their stapsdt notes
 * name the same address): tracers of either add 1 to its low byte, and the
 * library's holders (cl_probes_hold()) 1 to its high byte. The word at +0
 * is three things at once:
 *  - corolink__probe_gate (exported, 64-bit): the word the x86-64 inline
 *    resume compares co with. The semaphore is its top 16 bits, so it is
 *    >= 2^48 while the semaphore is nonzero (see corolink/x86_64_sysv_elf.h);
 *  - cl_probe_sems (hidden): nonzero while any probe that involves the
 *    per-thread bookkeeping of `from` is enabled or held;
 * and its upper half, +4, is corolink__probe_switch (exported, 32-bit; the
 * word AArch64's inline resume tests) = cl_probe_switch (hidden, for the
 * library's own assembly): nonzero exactly while the semaphore is. */
__asm__(".pushsection .probes,\"aw\",%progbits\n"
        "\t.balign 8\n"
#define CL_SYMBOL(sym, vis, size)                                              \
    "\t.globl " #sym "\n"                                                      \
    "\t" vis " " #sym "\n"                                                     \
    "\t.type " #sym ", %object\n"                                              \
    "\t.size " #sym ", " #size "\n"
#define CL_SEMAPHORE(name)                                                     \
    CL_SYMBOL(corolink_##name##_semaphore, ".hidden", 2)                       \
    "corolink_" #name "_semaphore:\n"
        CL_SYMBOL(corolink__probe_gate, ".globl", 8)
        CL_SYMBOL(cl_probe_sems, ".hidden", 8)
        "corolink__probe_gate:\n"
        "cl_probe_sems:\n"
        CL_SEMAPHORE(return) "\t.2byte 0\n"
        CL_SEMAPHORE(trap) "\t.2byte 0\n"
        CL_SYMBOL(corolink__probe_switch, ".globl", 4)
        CL_SYMBOL(cl_probe_switch, ".hidden", 4)
        "corolink__probe_switch:\n"
        "cl_probe_switch:\n"
        "\t.2byte 0\n"
        CL_SEMAPHORE(resume)
        CL_SEMAPHORE(suspend) "\t.2byte 0\n"
        CL_SEMAPHORE(create) "\t.2byte 0\n"
        CL_SEMAPHORE(destroy) "\t.2byte 0\n"
        CL_SEMAPHORE(name) "\t.2byte 0\n"
        ".popsection");

/* ---- the per-thread stack behind `from` ---- */

#define DEPTH 64 /* deeper nesting loses the outermost entries */

struct frame {
    uintptr_t co; /* control block = the top of the body's stack */
    uintptr_t lo; /* lowest address of its stack, guard included */
};

struct probe_stack {
    unsigned depth;
    struct frame f[DEPTH];
};

/* Allocated at a thread's first resume probe; freed at thread exit. A
 * pointer, not the array, in static TLS (kept small for dlopen()). */
static __thread struct probe_stack *probe_stack
    __attribute__((tls_model("initial-exec")));
static pthread_key_t stack_key;
static bool stack_key_ok;
static pthread_once_t stack_once = PTHREAD_ONCE_INIT;

static void stack_free(void *s) {
    if (probe_stack == s)
        probe_stack = NULL;
    free(s);
}

static void make_stack_key(void) {
    stack_key_ok = pthread_key_create(&stack_key, stack_free) == 0;
}

static struct probe_stack *stack_get(void) {
    struct probe_stack *s = probe_stack;
    if (__builtin_expect(s != NULL, 1))
        return s;
    pthread_once(&stack_once, make_stack_key);
    if (!stack_key_ok || (s = calloc(1, sizeof *s)) == NULL)
        return NULL;
    if (pthread_setspecific(stack_key, s) != 0) {
        free(s);
        return NULL;
    }
    probe_stack = s;
    return s;
}

/* The id of the coroutine whose stack holds sp, dropping the entries above
 * it; 0 (and an empty stack) if there is none. */
static uint64_t stack_from(struct probe_stack *s, uintptr_t sp) {
    for (unsigned i = s->depth; i-- > 0;) {
        if (sp >= s->f[i].lo && sp < s->f[i].co) {
            s->depth = i + 1;
            return ((const struct corolink *)s->f[i].co)->hot.id;
        }
    }
    s->depth = 0;
    return 0;
}

static void stack_push(struct probe_stack *s, const struct corolink *co) {
    if (s->depth == DEPTH) {
        memmove(&s->f[0], &s->f[1], (DEPTH - 1) * sizeof s->f[0]);
        s->depth--;
    }
    uintptr_t limit = (uintptr_t)co->stack_limit;
    s->f[s->depth].co = (uintptr_t)co;
    s->f[s->depth].lo = limit >= co->guard ? limit - co->guard : 0;
    s->depth++;
}

/* co leaves the thread (suspend, return, trap): drop it and anything above
 * it; nothing if it is not there (resumed before tracing started). */
static void stack_pop(const struct corolink *co) {
    struct probe_stack *s = probe_stack;
    if (s == NULL)
        return;
    for (unsigned i = s->depth; i-- > 0;) {
        if (s->f[i].co == (uintptr_t)co) {
            s->depth = i;
            return;
        }
    }
}

/* ---- the probes ---- */

/* Before a resume enters co (inline, out of line, or the library's own
 * resume for a forced unwind). A resume that is about to fail (co running
 * or finished) fires nothing. */
CL_HIDDEN void cl_probe_resume(corolink *co) {
    if (co->hot.pc == NULL)
        return;
    uint64_t from = 0;
    struct probe_stack *s = stack_get();
    if (s != NULL) {
        from = stack_from(s, (uintptr_t)__builtin_frame_address(0));
        stack_push(s, co);
    }
    uint64_t to = co->hot.id;
    if (corolink_resume_semaphore)
        STAP_PROBE2(corolink, resume, from, to);
}

/* Before a suspend leaves co. */
CL_HIDDEN void cl_probe_suspend(corolink *co) {
    stack_pop(co);
    uint64_t id = co->hot.id;
    if (corolink_suspend_semaphore)
        STAP_PROBE1(corolink, suspend, id);
}

/* The trampoline, as co finishes (its body returned, or an exception or a
 * forced unwind left it) and is about to return into its resumer. */
CL_HIDDEN void cl_probe_leave(corolink *co) {
    stack_pop(co);
    uint64_t id = co->hot.id;
    if (corolink_return_semaphore)
        STAP_PROBE1(corolink, return, id);
}

void cl_probe_trap(const struct corolink *co, int signo, void *addr) {
    stack_pop(co);
    uint64_t id = co->hot.id;
    if (corolink_trap_semaphore)
        STAP_PROBE3(corolink, trap, id, signo, addr);
}

void cl_probe_create(const struct corolink *co) {
    uint64_t id = co->hot.id;
    void *fn = (void *)co->hot.fn;
    uintptr_t base = (uintptr_t)co->stack_top;
    uint64_t size = (uint64_t)(base - (uintptr_t)co->stack_limit);
    STAP_PROBE4(corolink, create, id, fn, base, size);
}

void cl_probe_destroy(const struct corolink *co) {
    uint64_t id = co->hot.id;
    STAP_PROBE1(corolink, destroy, id);
}

/* The name as four 64-bit words (its 32 bytes, NUL-padded, little-endian):
 * every tracer reads integer arguments, not every one strings. */
void cl_probe_name(const struct corolink *co) {
    uint64_t w[COROLINK_NAME_MAX / 8];
    _Static_assert(sizeof w == COROLINK_NAME_MAX, "four words");
    memcpy(w, co->name, sizeof w);
    uint64_t id = co->hot.id, w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
    STAP_PROBE5(corolink, name, id, w0, w1, w2, w3);
}

void cl_probes_hold(bool on) {
    /* One more holder of the resume/suspend semaphore (its high byte;
     * tracers count in the low one) while suspend timestamps are on, and
     * while a sanitizer or valgrind watches (tools.c). (The kernel
     * updates semaphores with plain read-modify-writes: toggling
     * timestamps at the very moment a tracer attaches could lose one
     * count.) */
    __atomic_add_fetch(&corolink_suspend_semaphore,
                       on ? 0x100 : (unsigned short)-0x100, __ATOMIC_RELAXED);
}

#else /* no probes: the word the inline resume tests */

/* No tracer knows of it (no stapsdt notes): nonzero only while suspend
 * timestamps are on or a tool watches (cl_probes_hold(): a count of
 * holders), so that resumes go through corolink__resume_traced(), which
 * stamps and calls the tools' hooks. */
COROLINK_API volatile uint32_t corolink__probe_switch = 0;
/* The x86-64 inline resume's gate word: 0, or >= 2^56 while held. */
COROLINK_API volatile uint64_t corolink__probe_gate = 0;
void cl_probes_hold(bool on) {
    __atomic_add_fetch(&corolink__probe_switch, on ? 1u : (uint32_t)-1,
                       __ATOMIC_RELAXED);
    __atomic_add_fetch(&corolink__probe_gate,
                       on ? (uint64_t)1 << 56 : (uint64_t) - ((uint64_t)1 << 56),
                       __ATOMIC_RELAXED);
}

#endif

/* The resume taken by the inline corolink_resume() (and the out-of-line
 * one) while the resume/suspend semaphore is nonzero (a tracer has the
 * resume or suspend probe enabled, or suspend timestamps are on, or a tool
 * watches), and by the x86-64 inline resume for co == NULL. corolink__enter()
 * fires the resume probe; when the coroutine comes back suspended, the
 * suspend probe fires and the suspend time is taken here, on the
 * resumer's side, so that the body's suspend needs no test at all (each
 * test there cost about 10% of a round trip in -O3 code). The return and
 * trap probes fire where they happen (the trampoline, the trap handler). */
static inline __attribute__((always_inline)) int
cl_resume_cmd(corolink *co, void *input, uintptr_t cmd, void **output) {
    if (co == NULL || co->hot.pc == NULL)
        return corolink__resume_fail(co, output);
    if (__builtin_expect(cl_shstk_active, 0)) {
        if (output)
            *output = NULL;
        return COROLINK_ENOTSUP; /* see cl_shstk_init() */
    }
    void *value = NULL;
    int st = cl_enter(co, input, cmd, &value);
    if (st == COROLINK_YIELD) {
        if (corolink__debug_flags & COROLINK__DEBUG_TIMESTAMPS)
            corolink__stamp(co);
#if CL_PROBES
        if (cl_probe_sems != 0)
            cl_probe_suspend(co);
#endif
    } else if (st == CL_STATUS_THROW) {
        corolink__resume_throw(co); /* a real call: the exception goes on */
    }
    if (output)
        *output = value;
    return st;
}

CL_RESUME_PATH int corolink__resume_traced(corolink *co, void *input,
                                          void **output) {
    return cl_resume_cmd(co, input, CL_CMD_CONTINUE, output);
}

/* corolink_resume_with(): the same resume with the command that sends the
 * switch through corolink__ontop (unwind-info/), whose frame runs fn on
 * co's stack. In the resume path's section: tools show the caller of
 * corolink_resume_with() as the resumer, as for an inline resume. */
CL_RESUME_PATH int corolink_resume_with(corolink *co, corolink_with_fn fn,
                                        void *arg, void *input,
                                        void **output) {
    if (fn == NULL) {
        if (output)
            *output = NULL;
        return COROLINK_EINVAL;
    }
    struct cl_with with = {fn, arg};
    return cl_resume_cmd(co, input, (uintptr_t)&with, output);
}

