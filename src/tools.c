/* The tools that watch every stack switch: AddressSanitizer, ThreadSanitizer
 * and valgrind.
 *
 * Each of them keeps per-stack state and has to be told when execution
 * moves to another stack:
 *  - ASan knows the bounds of the stack it runs on (to unpoison what a
 *    throw or longjmp abandons, __asan_handle_no_return) and keeps a "fake
 *    stack" per context (for detect_stack_use_after_return);
 *    __sanitizer_start_switch_fiber()/__sanitizer_finish_switch_fiber()
 *    switch both. Frames that never return (a body reset, trapped or
 *    unwound) leave their redzones poisoned on the stack: a stack is
 *    unpoisoned before a body starts on it and when it is given back.
 *  - TSan keeps a shadow call stack and a vector clock per thread: one
 *    fiber per coroutine (__tsan_create_fiber), switched to on each
 *    transfer (__tsan_switch_to_fiber, which also orders the two sides:
 *    what one side wrote before a switch happens before what the other
 *    reads after it).
 *  - valgrind tells a stack switch from a huge stack frame by the stacks
 *    registered with it (VALGRIND_STACK_REGISTER).
 *
 * None of this may cost the inline switch anything, and the library need
 * not be instrumented itself: a program built with -fsanitize=address or
 * =thread brings the sanitizer's runtime, whose entry points the library
 * references weakly (they resolve to the runtime when it is loaded, to
 * NULL otherwise). At load time cl_tools_init() looks for them and for
 * valgrind, and if one is there:
 *  - it holds up the words the inline resume tests (cl_probes_hold(),
 *    see "Probes" in corolink.h), so that every resume, inline or out of
 *    line, goes through corolink__resume_traced() and so through
 *    cl_enter(), where the hooks run on the resumer's side of the switch,
 *    before it and after it comes back; the body's suspend needs nothing
 *    (the resumer does the switch-back's bookkeeping too);
 *  - every control block placed from then on carries CL_FLAG_TOOLS in
 *    hot.flags: its release takes cl_tools_release(), and the library's
 *    own resume (the forced unwind) takes cl_tools_enter().
 * Telling a tool "now on stack B" while the code still runs a few
 * instructions on stack A is safe: nothing the tool watches (an
 * instrumented function, an exception) runs in between.
 */
#include "internal.h"
#include "probes.h"

#if CL_TOOLS

#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>
#if COROLINK_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif

/* The sanitizer runtimes' interfaces (<sanitizer/common_interface_defs.h>,
 * <sanitizer/asan_interface.h>, <sanitizer/tsan_interface.h>), declared
 * weak: NULL unless a runtime is loaded. */
extern void __sanitizer_start_switch_fiber(void **fake_stack_save,
                                           const void *bottom, size_t size)
    __attribute__((weak));
extern void __sanitizer_finish_switch_fiber(void *fake_stack_save,
                                            const void **bottom_old,
                                            size_t *size_old)
    __attribute__((weak));
extern void __asan_unpoison_memory_region(void const volatile *addr,
                                          size_t size) __attribute__((weak));
extern void __asan_handle_no_return(void) __attribute__((weak));
extern void *__tsan_get_current_fiber(void) __attribute__((weak));
extern void *__tsan_create_fiber(unsigned flags) __attribute__((weak));
extern void __tsan_destroy_fiber(void *fiber) __attribute__((weak));
extern void __tsan_switch_to_fiber(void *fiber, unsigned flags)
    __attribute__((weak));

unsigned cl_tools;
bool cl_shstk_active;

/* The switch does not carry shadow stacks (see "Hardening" in
 * unwind-info/README.md): where the C library enabled them for the
 * process (cl_shadow_stack_enabled(), src/arch/), every resume fails with
 * COROLINK_ENOTSUP instead of faulting at the first return across
 * stacks. */
__attribute__((constructor)) static void cl_shstk_init(void) {
    if (cl_shadow_stack_enabled()) {
        cl_shstk_active = true;
        cl_probes_hold(true); /* every resume through the traced one */
    }
}

#define ASAN (cl_tools & CL_TOOL_ASAN)
#define TSAN (cl_tools & CL_TOOL_TSAN)
#define VALGRIND (cl_tools & CL_TOOL_VALGRIND)

/* Runs before any code of a program that links the library can create a
 * coroutine (constructors of a shared library run before those of the
 * objects that depend on it; in a static link, before main()). */
__attribute__((constructor)) static void cl_tools_init(void) {
    unsigned t = 0;
    if (__sanitizer_start_switch_fiber && __sanitizer_finish_switch_fiber &&
        __asan_unpoison_memory_region && __asan_handle_no_return)
        t |= CL_TOOL_ASAN;
    if (__tsan_get_current_fiber && __tsan_create_fiber &&
        __tsan_destroy_fiber && __tsan_switch_to_fiber)
        t |= CL_TOOL_TSAN;
#if COROLINK_HAVE_VALGRIND
    if (RUNNING_ON_VALGRIND)
        t |= CL_TOOL_VALGRIND;
#endif
    /* COROLINK_TOOLS=0 in the environment turns the hooks off (to compare,
     * or to reproduce the reports they prevent). */
    const char *env = getenv("COROLINK_TOOLS");
    if (env && env[0] == '0' && env[1] == '\0')
        t = 0;
    if (t == 0)
        return;
    cl_tools = t;
    cl_probes_hold(true); /* every resume through cl_enter() */
}

/* [lo, hi): the body's usable stack (the control block sits above it). */
static void body_stack(const struct corolink *co, const void **lo,
                       size_t *size) {
    *lo = co->stack_limit;
    *size = (size_t)((const char *)co - (const char *)co->stack_limit);
}

static void unpoison(const struct corolink *co) {
    const void *lo;
    size_t size;
    body_stack(co, &lo, &size);
    __asan_unpoison_memory_region(lo, size);
}

void cl_tools_place(struct corolink *co) {
    co->hot.flags |= CL_FLAG_TOOLS;
    co->tool_fake = NULL;
    co->tool_fiber = NULL;
    co->tool_vg_id = 0;
    co->tool_parent_lo = NULL;
    co->tool_parent_size = 0;
}

CL_RESUME_PATH int cl_tools_enter(struct corolink *co, void *input,
                                  uintptr_t cmd, void **value) {
    const void *lo;
    size_t size;
    body_stack(co, &lo, &size);
    if (co->hot.pc == (void *)corolink__trampoline) {
        /* The body starts: a clean stack, known to every tool. */
        if (ASAN)
            __asan_unpoison_memory_region(lo, size);
        if (TSAN && co->tool_fiber == NULL)
            co->tool_fiber = __tsan_create_fiber(0);
#if COROLINK_HAVE_VALGRIND
        if (VALGRIND && co->tool_vg_id == 0)
            co->tool_vg_id = VALGRIND_STACK_REGISTER(lo, co);
#endif
    }
    void *resumer_fake = NULL, *resumer_fiber = NULL;
    if (ASAN) {
        /* Into the coroutine's stack with its fake stack; ASan hands back
         * the bounds of the resumer's (kept for the way back, and for
         * corolink_on_parent_stack()). */
        __sanitizer_start_switch_fiber(&resumer_fake, lo, size);
        __sanitizer_finish_switch_fiber(co->tool_fake, &co->tool_parent_lo,
                                        &co->tool_parent_size);
    }
    if (TSAN) {
        resumer_fiber = __tsan_get_current_fiber();
        __tsan_switch_to_fiber(co->tool_fiber, 0);
    }
    const void *parent_lo = co->tool_parent_lo;
    size_t parent_size = co->tool_parent_size;
    int st = corolink__enter(co, input, cmd, value);
    /* Back on the resumer's stack: suspended, returned, threw, unwound or
     * trapped. */
    if (TSAN)
        __tsan_switch_to_fiber(resumer_fiber, 0);
    if (ASAN) {
        /* A finished body's fake stack is freed (NULL: "this context
         * ends"); a suspended one's is kept for its next resume. */
        bool done = co->hot.finished != 0;
        __sanitizer_start_switch_fiber(done ? NULL : &co->tool_fake,
                                       parent_lo, parent_size);
        __sanitizer_finish_switch_fiber(resumer_fake, NULL, NULL);
        if (done)
            co->tool_fake = NULL;
    }
    return st;
}

void cl_tools_release(struct corolink *co) {
    if (ASAN) {
        if (co->tool_fake) {
            /* Suspended and never resumed again (reset without the
             * unwinder): free its fake stack by switching to it in place
             * and ending it. */
            void *mine = NULL;
            const void *lo;
            size_t size;
            __sanitizer_start_switch_fiber(&mine, NULL, 0);
            __sanitizer_finish_switch_fiber(co->tool_fake, &lo, &size);
            __sanitizer_start_switch_fiber(NULL, lo, size);
            __sanitizer_finish_switch_fiber(mine, NULL, NULL);
            co->tool_fake = NULL;
        }
        unpoison(co); /* frames that never returned leave poison */
    }
    if (TSAN && co->tool_fiber) {
        __tsan_destroy_fiber(co->tool_fiber);
        co->tool_fiber = NULL;
    }
#if COROLINK_HAVE_VALGRIND
    if (VALGRIND && co->tool_vg_id) {
        VALGRIND_STACK_DEREGISTER(co->tool_vg_id);
        co->tool_vg_id = 0;
    }
#endif
    co->tool_parent_lo = NULL;
    co->tool_parent_size = 0;
}

/* What cl_tools_call_on() restores when fn returns, or when an exception
 * leaves it (a cleanup: the library is built with -fexceptions when it
 * has the unwinder), before anything of the caller runs again. */
struct call_on_state {
    void *fake;
    const void *old_lo;
    size_t old_size;
    unsigned vg_id;
    bool returned; /* false: an exception is leaving fn */
};

static void call_on_done(struct call_on_state *st) {
#if COROLINK_HAVE_VALGRIND
    if (st->vg_id)
        VALGRIND_STACK_DEREGISTER(st->vg_id);
#endif
    if (ASAN) {
        __sanitizer_start_switch_fiber(NULL, st->old_lo, st->old_size);
        __sanitizer_finish_switch_fiber(st->fake, NULL, NULL);
        /* The exception was thrown on the other stack, where __cxa_throw
         * unpoisoned the frames it leaves; the frames it leaves here (the
         * caller's, this one's) are unpoisoned now. */
        if (!st->returned)
            __asan_handle_no_return();
    }
}

/* corolink__call_on() is a signal frame: unwinders look its caller up at
 * the exact return address, which in cl_tools_call_on() would fall past
 * the call's entry in the call-site table, and its cleanup would not run.
 * This plain caller (no cleanups, the call not its last instruction)
 * stands in between. */
static __attribute__((noinline)) void *call_on(void *arg, void *(*fn)(void *),
                                               void *top) {
    void *r = corolink__call_on(arg, fn, top);
    __asm__ volatile("" : "+r"(r)); /* not a tail call */
    return r;
}

void *cl_tools_call_on(void *arg, void *(*fn)(void *), void *top,
                       const void *lo, size_t size, bool new_stack) {
    __attribute__((cleanup(call_on_done))) struct call_on_state st = {0};
    if (ASAN) {
        /* fn runs on [lo, lo + size) with a fake stack of its own, freed
         * when it returns. */
        __sanitizer_start_switch_fiber(&st.fake, lo, size);
        __sanitizer_finish_switch_fiber(NULL, &st.old_lo, &st.old_size);
    }
#if COROLINK_HAVE_VALGRIND
    /* A stack of the caller's (corolink_on_stack()) is new to valgrind; a
     * resumer's (corolink_on_parent_stack()) is known already. */
    if (VALGRIND && new_stack)
        st.vg_id = VALGRIND_STACK_REGISTER(lo, (const char *)lo + size);
    /* memcheck takes the move of sp to another stack for a switch and
     * makes nothing below the new sp accessible (on a resumer's stack,
     * everything below its sp is dead to it): the record that
     * corolink__call_on() writes at the top, and its call's return
     * address, are. From there on fn's frames grow sp as usual. */
    if (VALGRIND)
        VALGRIND_MAKE_MEM_UNDEFINED((char *)top - CL_CALL_ON_FRAME,
                                    CL_CALL_ON_FRAME);
#else
    (void)new_stack;
#endif
    void *r = call_on(arg, fn, top);
    st.returned = true;
    return r;
}

void cl_tools_no_return(void) {
    if (ASAN)
        __asan_handle_no_return();
}

void cl_tools_unpoison(const void *lo, size_t size) {
    if (ASAN)
        __asan_unpoison_memory_region(lo, size);
}

bool cl_tools_read(void *dst, const void *src, size_t n) {
    struct iovec local = {dst, n}, remote = {(void *)(uintptr_t)src, n};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) ==
           (ssize_t)n;
}

#endif /* CL_TOOLS */
