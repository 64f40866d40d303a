/* The portable core: creating coroutines on a given stack, resuming and
 * suspending (out-of-line copies of the inline switch), inspection. */
#include "internal.h"
#include "probes.h"
#include "arch/linux_syscall.h"

#if !CL_FREESTANDING
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#endif

#if COROLINK_GDB_EMBED
/* src/gdb_autoload.S: the gdb plugin in .debug_gdb_scripts. Referenced so
 * that static links keep it (see there). */
extern const char corolink__gdb_script_anchor[];
__attribute__((used)) static const char *const gdb_script_anchor =
    corolink__gdb_script_anchor;
#endif

const char *corolink_strerror(int code) {
    switch (code) {
    case 0: return "success";
    case COROLINK_YIELD: return "coroutine yielded";
    case COROLINK_RETURN: return "coroutine returned";
    case COROLINK_TRAP: return "coroutine trapped (fault in its body)";
    case COROLINK_EINVAL: return "invalid argument";
    case COROLINK_ENOMEM: return "out of memory";
    case COROLINK_EDONE: return "coroutine has finished";
    case COROLINK_ERUNNING: return "coroutine is running";
    case COROLINK_ESTACK: return "stack too small or malformed";
    case COROLINK_ENOTSUP: return "not supported in this build";
    case COROLINK_ENOTRAP: return "coroutine did not finish by a trap";
    default: return "unknown corolink error";
    }
}

/* ---- per-thread state: the stack pool (stack.c) and ids, which each
 * thread takes in blocks: one atomic add per 1024 creates ---- */

#if !CL_FREESTANDING
#define ID_BLOCK 1024
#define POOL_DEFAULT_LIMIT 64
static _Atomic uint64_t next_id_block = 1;
__thread struct cl_thread cl_thread __attribute__((tls_model("initial-exec"))) =
    {.pool_limit = POOL_DEFAULT_LIMIT};

uint64_t cl_id_refill(void) {
    struct cl_thread *t = &cl_thread;
    t->id_next = atomic_fetch_add_explicit(&next_id_block, ID_BLOCK,
                                           memory_order_relaxed);
    t->id_end = t->id_next + ID_BLOCK;
    return t->id_next++;
}
#else
/* Freestanding: no per-thread state; cl_init() takes each id from here. */
uint64_t cl_id_counter = 1;
#endif

struct corolink *cl_place(void *limit, void *top, size_t guard) {
    struct corolink *co = cl_place_inline(limit, top, guard);
    if (co && __builtin_expect(cl_tools != 0, 0))
        cl_tools_place(co); /* a sanitizer or valgrind watches */
    return co;
}

/* corolink_create_on() once the block is placed, every case. */
static __attribute__((noinline)) int create_on_rest(corolink **out,
                                                    struct corolink *co,
                                                    corolink_fn fn, void *arg,
                                                    void *site) {
    cl_trap_on_create();
    cl_init(co, fn, arg);
    co->create_site = site;
    cl_reg_add(co);
    CL_PROBE_CREATE(co);
    *out = co;
    return 0;
}

/* corolink_create_on() while a tool watches (cl_place() flags the block). */
static __attribute__((noinline)) int
create_on_tools(corolink **out, const corolink_stack *stack, corolink_fn fn,
                void *arg, void *site) {
    struct corolink *co = cl_place(stack->limit, stack->base, stack->guard);
    if (co == NULL)
        return COROLINK_ESTACK;
    return create_on_rest(out, co, fn, arg, site);
}

int corolink_create_on(corolink **out, const corolink_stack *stack,
                       corolink_fn fn, void *arg) {
    /* (base NULL is caught by base <= limit.) */
    if (out == NULL || stack == NULL || fn == NULL ||
        (uintptr_t)stack->base <= (uintptr_t)stack->limit)
        return COROLINK_EINVAL;
    /* A guard region larger than the stack (or below address 0) is no
     * stack anyone made: a wrong size or an uninitialised field. */
    if (stack->guard > (uintptr_t)stack->limit ||
        stack->guard > (uintptr_t)stack->base - (uintptr_t)stack->limit)
        return COROLINK_ESTACK;
    if (__builtin_expect(cl_tools != 0, 0)) /* a sanitizer or valgrind */
        return create_on_tools(out, stack, fn, arg,
                               __builtin_return_address(0));
    struct corolink *co =
        cl_place_inline(stack->limit, stack->base, stack->guard);
    if (co == NULL)
        return COROLINK_ESTACK;
#if !CL_FREESTANDING
    /* The common case makes no call: ids left in the thread's block, a
     * free registry slot on the thread's list, no trap set-up to do, no
     * tracer on the create probe. */
    struct cl_thread *t = &cl_thread;
    uintptr_t *slot = t->reg_free;
    if (!(__builtin_expect(CL_REGISTRY && slot == NULL, 0) ||
          cl_create_rare(t))) {
        cl_init_id(co, fn, arg, t->id_next++);
        co->create_site = __builtin_return_address(0);
#if CL_REGISTRY
        t->reg_free = (uintptr_t *)(*slot & ~CL_SLOT_FREE); /* cl_reg_add() */
        co->reg_slot = slot;
        __atomic_store_n(slot, (uintptr_t)co, __ATOMIC_RELEASE);
#endif
        *out = co;
        return 0;
    }
#endif
    return create_on_rest(out, co, fn, arg, __builtin_return_address(0));
}

#if !CL_FREESTANDING
void cl_fatal_msg(const struct corolink *co, const char *what,
                  const char *tail) {
    if (co)
        fprintf(stderr, "corolink: fatal: %s coroutine %llu \"%.*s\"%s\n", what,
                (unsigned long long)co->hot.id, COROLINK_NAME_MAX - 1,
                co->name, tail);
    else
        fprintf(stderr, "corolink: fatal: %s%s\n", what, tail);
    abort();
}

void cl_fatal_not_coroutine(const void *p, const char *what) {
    fprintf(stderr,
            "corolink: fatal: %s %p, which is not a coroutine (no live "
            "control block there)\n",
            what, p);
    abort();
}
#else
/* Freestanding: no stdio, no abort(). The message is formatted into a
 * buffer and written to fd 2 with one raw write(2); then the process kills
 * itself with SIGABRT (as abort() would, so that the exit status and core
 * dumps look the same), and traps if that somehow returns. */

enum { CL_SIGABRT = 6 };

struct cl_msg {
    char buf[512];
    size_t len;
};

/* Plain byte loops: no strlen()/memcpy() (and the build keeps the compiler
 * from turning them back into such calls, see CMakeLists.txt). */
static void cl_msg_strn(struct cl_msg *m, const char *s, size_t max) {
    for (size_t i = 0; i < max && s[i] && m->len < sizeof m->buf; i++)
        m->buf[m->len++] = s[i];
}
#define cl_msg_str(m, s) cl_msg_strn(m, s, (size_t)-1)

#if UINTPTR_MAX > 0xffffffffu
#define cl_div10(v, rem) (*(rem) = (unsigned)((v) % 10), (v) / 10)
#else
/* 32-bit targets (i686): a 64-bit division is a call into libgcc
 * (__udivmoddi4), which the freestanding build does not link: long
 * division by 10, one bit at a time (a cold path). */
static uint64_t cl_div10(uint64_t v, unsigned *rem) {
    uint64_t q = 0;
    unsigned r = 0;
    for (int i = 63; i >= 0; i--) {
        r = (r << 1) | (unsigned)((v >> i) & 1);
        if (r >= 10) {
            r -= 10;
            q |= (uint64_t)1 << i;
        }
    }
    *rem = r;
    return q;
}
#endif

static void cl_msg_u64(struct cl_msg *m, uint64_t v) {
    char digits[20];
    int n = 0;
    do {
        unsigned d;
        v = cl_div10(v, &d);
        digits[n++] = (char)('0' + d);
    } while (v);
    while (n > 0 && m->len < sizeof m->buf)
        m->buf[m->len++] = digits[--n];
}

static __attribute__((noreturn)) void cl_die(struct cl_msg *m) {
    if (m->len == sizeof m->buf)
        m->buf[m->len - 1] = '\n'; /* truncated: still one line */
    for (size_t done = 0; done < m->len;) {
        long r = cl_raw_syscall3(CL_SYS_WRITE, 2, (long)(m->buf + done),
                             (long)(m->len - done));
        if (r <= 0) {
            if (r == -4 /* EINTR */)
                continue;
            break;
        }
        done += (size_t)r;
    }
    long pid = cl_raw_syscall3(CL_SYS_GETPID, 0, 0, 0);
    long tid = cl_raw_syscall3(CL_SYS_GETTID, 0, 0, 0);
    cl_raw_syscall3(CL_SYS_TGKILL, pid, tid, CL_SIGABRT);
    __builtin_trap(); /* SIGABRT blocked or caught and returned */
}

/* "corolink: fatal: <what>[ coroutine <id> "<name>"]" */
static void cl_msg_head(struct cl_msg *m, const struct corolink *co,
                        const char *what) {
    m->len = 0;
    cl_msg_str(m, "corolink: fatal: ");
    cl_msg_str(m, what);
    if (co) {
        cl_msg_str(m, " coroutine ");
        cl_msg_u64(m, co->hot.id);
        cl_msg_str(m, " \"");
        cl_msg_strn(m, co->name, COROLINK_NAME_MAX - 1);
        cl_msg_str(m, "\"");
    }
}

static void cl_msg_hex(struct cl_msg *m, uintptr_t v) {
    cl_msg_str(m, "0x");
    char digits[16];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    while (n > 0 && m->len < sizeof m->buf)
        m->buf[m->len++] = digits[--n];
}

void cl_fatal_msg(const struct corolink *co, const char *what,
                  const char *tail) {
    struct cl_msg m;
    cl_msg_head(&m, co, what);
    cl_msg_str(&m, tail);
    cl_msg_str(&m, "\n");
    cl_die(&m);
}

void cl_fatal_not_coroutine(const void *p, const char *what) {
    struct cl_msg m;
    cl_msg_head(&m, NULL, what);
    cl_msg_str(&m, " ");
    cl_msg_hex(&m, (uintptr_t)p);
    cl_msg_str(&m, ", which is not a coroutine (no live control block "
                   "there)\n");
    cl_die(&m);
}
#endif

int corolink_force_reset(corolink *co) {
    if (co == NULL)
        return COROLINK_EINVAL;
    if (cl_running(co))
        return COROLINK_ERUNNING;
    if (!co->hot.finished)
        co->hot.finished = CL_FINISHED_RESET;
    co->hot.pc = NULL;
    return 0;
}

/* ---- running ---- */

int corolink__resume_fail(corolink *co, void **output) {
    if (output)
        *output = NULL;
    if (co == NULL)
        return COROLINK_EINVAL;
    if (!cl_is_block(co) || co->hot.finished == CL_DESTROYED)
        return COROLINK_EINVAL; /* not (or no longer) a coroutine */
    if (co->hot.finished)
        return COROLINK_EDONE;
    if (co->hot.pc == NULL)
        return COROLINK_ERUNNING;
    /* Only reached for the states above; anything else is a corrupted
     * control block. */
    return COROLINK_EINVAL;
}

/* corolink_resume() and corolink_suspend() are in unwind-info/ (assembly). */

/* Calls of corolink_on_parent_stack() under way on this thread: their fn
 * runs on a resumer's stack, possibly the thread's own, on behalf of a
 * coroutine (see corolink_current()). fn cannot suspend, so the count is
 * always taken and given back on the same thread. */
#if !CL_FREESTANDING
static __thread unsigned on_parent_depth
    __attribute__((tls_model("initial-exec")));

/* A trap finished the coroutine whose fn of corolink_on_parent_stack() was
 * running on this thread (trap.c): that call never returns. */
void cl_on_parent_trapped(void) {
    if (on_parent_depth > 0)
        on_parent_depth--;
}
#endif

#if CL_FREESTANDING
/* No count (no thread-local storage): corolink_current() returns NULL
 * without the unwinder anyway. */
#define CL_ON_PARENT_BEGIN (void)0
#define CL_ON_PARENT_GUARD (void)0
#define CL_ON_PARENT_DONE (void)0
#elif COROLINK_UNWIND
/* fn may throw: the count is given back as the exception passes (the
 * library is built with -fexceptions when it has the unwinder). */
static void on_parent_done(unsigned **depth) { --**depth; }
#define CL_ON_PARENT_GUARD                                                     \
    __attribute__((cleanup(on_parent_done))) unsigned *guard = &on_parent_depth
#define CL_ON_PARENT_BEGIN on_parent_depth++
#define CL_ON_PARENT_DONE (void)guard
#else
#define CL_ON_PARENT_BEGIN on_parent_depth++
#define CL_ON_PARENT_GUARD (void)0
#define CL_ON_PARENT_DONE on_parent_depth--
#endif

/* The checks of a yielder that must belong to the innermost running
 * coroutine, the one whose stack holds sp: fatal otherwise, naming it. */
static void check_yielder(const struct corolink *co, uintptr_t sp,
                          const char *fn) {
    if (co == NULL)
        cl_fatal_msg(NULL, fn, " called with a NULL yielder");
    if (!cl_is_block(co))
        cl_fatal_not_coroutine(co, fn);
    if (co->hot.finished)
        cl_fatal_msg(co, fn, " (finished) passed as the yielder");
    if (co->hot.pc != NULL)
        cl_fatal_msg(co, fn, " (suspended) passed as the yielder");
    if (sp < (uintptr_t)co->stack_limit || sp >= (uintptr_t)co)
        cl_fatal_msg(co, fn,
                     " passed as the yielder off its stack (not the "
                     "innermost running coroutine)");
}

/* The out-of-line corolink_suspend() found a yielder that is not the
 * innermost running coroutine's (NULL, or its stack does not hold the
 * caller's sp): say which, and abort. */
CL_HIDDEN __attribute__((noreturn, cold)) void
cl_suspend_misuse(const struct corolink *co, uintptr_t sp);
void cl_suspend_misuse(const struct corolink *co, uintptr_t sp) {
    check_yielder(co, sp, "corolink_suspend():");
    cl_fatal_msg(co, "corolink_suspend(): bad yielder for", "");
}

void *corolink_on_parent_stack(corolink_yielder *yielder, void *(*fn)(void *),
                               void *arg) {
    struct corolink *co = (struct corolink *)yielder;
    check_yielder(co, (uintptr_t)__builtin_frame_address(0),
                  "corolink_on_parent_stack():");
    if (fn == NULL)
        cl_fatal_msg(co, "corolink_on_parent_stack() called by", " with fn NULL");
    CL_ON_PARENT_BEGIN;
    CL_ON_PARENT_GUARD;
    /* Below what the resumer still needs (see CL_PARENT_STACK_RESERVE). */
    void *top = (char *)co->hot.link_sp - CL_PARENT_STACK_RESERVE, *r;
    if (__builtin_expect(co->hot.flags & CL_FLAG_TOOLS, 0))
        r = cl_tools_call_on(arg, fn, top, co->tool_parent_lo,
                             co->tool_parent_size, false);
    else {
#if CL_WINDOWS
        /* The TEB describes the resumer's stack while fn runs there. */
        struct cl_teb_record teb;
        cl_teb_for_parent(&teb, co);
        r = cl_call_on(arg, fn, top, &teb);
#else
        r = cl_call_on(arg, fn, top, NULL);
#endif
    }
    /* Never a tail call (the decrement after it sees to it):
     * corolink__call_on is a signal frame, and a `jmp` to it leaves
     * debuggers (gdb at -O2, with call-site info) a synthetic tail-call
     * frame that they look up past the end of this function. */
    CL_ON_PARENT_DONE;
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
    void *r;
#if CL_WINDOWS
    struct cl_teb_record teb; /* the TEB's view of the stack fn runs on */
    cl_teb_for_stack(&teb, stack);
#define CL_ON_STACK_TEB (&teb)
#else
#define CL_ON_STACK_TEB NULL
#endif
    if (__builtin_expect(cl_tools != 0, 0))
        r = cl_tools_call_on(arg, fn, stack->base, stack->limit,
                             (size_t)((char *)stack->base -
                                      (char *)stack->limit),
                             true);
    else
        r = cl_call_on(arg, fn, stack->base, CL_ON_STACK_TEB);
    if (result)
        *result = r;
    return 0;
}

/* ---- inspecting ---- */

bool corolink_started(const corolink *co) {
    return co != NULL &&
           (co->hot.finished || co->hot.pc != (void *)corolink__trampoline);
}

bool corolink_done(const corolink *co) {
    return co != NULL && co->hot.finished;
}

uint64_t corolink_id(const corolink *co) { return co ? co->hot.id : 0; }

int corolink_state(const corolink *co) {
    if (co == NULL)
        return COROLINK_EINVAL;
    if (co->hot.finished)
        return COROLINK_STATE_FINISHED;
    if (co->hot.pc == NULL)
        return COROLINK_STATE_RUNNING;
    if (co->hot.pc == (void *)corolink__trampoline)
        return COROLINK_STATE_CREATED;
    return COROLINK_STATE_SUSPENDED;
}

void *corolink_create_site(const corolink *co) {
    return co ? co->create_site : NULL;
}

int corolink_set_name(corolink *co, const char *name) {
    if (co == NULL)
        return COROLINK_EINVAL;
#if !CL_FREESTANDING
    size_t n = name ? strnlen(name, COROLINK_NAME_MAX - 1) : 0;
    memcpy(co->name, name ? name : "", n);
#else
    size_t n = 0;
    if (name)
        for (; n < COROLINK_NAME_MAX - 1 && name[n]; n++)
            co->name[n] = name[n];
#endif
    co->name[n] = '\0';
    CL_PROBE_NAME(co);
    return 0;
}

const char *corolink_name(const corolink *co) { return co ? co->name : ""; }

/* corolink_current(): the switch records nothing per thread, so find the
 * innermost coroutine root frame on the calling thread's stack. */

#if CL_WINDOWS
#include <windows.h>

/* Windows: walk the calling thread's frames with the system's own unwinder
 * (the SEH records; the trampoline's lead from a coroutine stack into its
 * resumer) until the body's return address into the trampoline, where rbp
 * = &co->link_fp. (_Unwind_GetGR() of libgcc's SEH unwinder gives only the
 * two exception-data registers, so the DWARF targets' way is closed.) */
corolink *corolink_current(void) {
    CONTEXT ctx;
    RtlCaptureContext(&ctx);
    for (int depth = 0; depth < 4096; depth++) {
        DWORD64 image;
        PRUNTIME_FUNCTION fn = RtlLookupFunctionEntry(ctx.Rip, &image, NULL);
        if (fn == NULL)
            return NULL; /* no unwind record: the end of this walk */
        void *handler_data;
        DWORD64 frame;
        RtlVirtualUnwind(UNW_FLAG_NHANDLER, image, ctx.Rip, fn, &ctx,
                         &handler_data, &frame, NULL);
        if (ctx.Rip == (DWORD64)(uintptr_t)corolink__trampoline_ret)
            return (struct corolink *)(uintptr_t)(
                ctx.Rbp - offsetof(struct corolink__hot, link_fp));
        if (ctx.Rip == 0)
            return NULL;
    }
    return NULL;
}
#else
#if !CL_FREESTANDING
/* The calling thread's own stack, looked up once per thread. */
static __thread uintptr_t thread_stack_lo
    __attribute__((tls_model("initial-exec")));
static __thread uintptr_t thread_stack_hi
    __attribute__((tls_model("initial-exec")));

static bool on_thread_stack(uintptr_t sp) {
    if (thread_stack_hi == 0) {
        pthread_attr_t attr;
        void *addr;
        size_t size;
        thread_stack_hi = 1; /* looked up (even if the lookup fails) */
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
                thread_stack_lo = (uintptr_t)addr;
                thread_stack_hi = (uintptr_t)addr + size;
            }
            pthread_attr_destroy(&attr);
        }
    }
    return sp >= thread_stack_lo && sp < thread_stack_hi;
}
#endif

#if COROLINK_UNWIND
#include <unwind.h>

static _Unwind_Reason_Code find_root(struct _Unwind_Context *ctx, void *arg) {
    /* The root frame of a coroutine stack is the trampoline, stopped at the
     * return address of its call of the body, with the frame pointer
     * = &co->link_fp. */
    if (_Unwind_GetIP(ctx) == (_Unwind_Ptr)corolink__trampoline_ret) {
        *(struct corolink **)arg =
            (struct corolink *)(_Unwind_GetGR(ctx, CL_DWARF_FP) -
                                CL_ROOT_FP_OFFSET);
        return _URC_END_OF_STACK;
    }
    return _URC_NO_REASON;
}
#endif

#if CL_FREESTANDING
/* No unwinder to search with (and no thread-local state): NULL, as in every
 * build with COROLINK_UNWIND=OFF. */
corolink *corolink_current(void) { return NULL; }
#else
corolink *corolink_current(void) {
    /* On the thread's own stack no coroutine runs, unless this is fn of a
     * corolink_on_parent_stack() call: then unwind into the coroutine. */
    if (on_parent_depth == 0 &&
        on_thread_stack((uintptr_t)__builtin_frame_address(0)))
        return NULL;
    struct corolink *co = NULL;
#if COROLINK_UNWIND
    _Unwind_Backtrace(find_root, &co);
#endif
    return co;
}
#endif
#endif /* !CL_WINDOWS */

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

int corolink_stack_guard(const corolink *co) {
    if (co == NULL)
        return COROLINK_EINVAL;
    if (co->hot.flags & CL_FLAG_WATCHED)
        return COROLINK_GUARD_WATCHED;
    return co->guard ? COROLINK_GUARD_PAGE : COROLINK_GUARD_NONE;
}

/* Reads the stack's dead parts on purpose: not for ASan (the redzones of
 * frames) and, under valgrind, through cl_tools_read(). */
__attribute__((no_sanitize_address)) size_t
corolink_stack_used(const corolink *co) {
    if (co == NULL)
        return 0;
    /* Lowest non-zero word of the body's stack [limit, co). */
    uintptr_t lo = ((uintptr_t)co->stack_limit + 7) & ~(uintptr_t)7;
    const uint64_t *p = (const uint64_t *)lo, *end = (const uint64_t *)co;
#if CL_WINDOWS
    /* Start above what cannot be read without side effects: a stack of
     * corolink_create() or corolink_stack_alloc() holds a PAGE_GUARD page
     * above its limit (reading it would raise STATUS_GUARD_PAGE_VIOLATION
     * and disarm it), a caller's stack may hold uncommitted pages. */
    MEMORY_BASIC_INFORMATION mbi;
    for (const uint64_t *q = p;
         q < end && VirtualQuery(q, &mbi, sizeof mbi) == sizeof mbi;) {
        const uint64_t *next =
            (const uint64_t *)((const char *)mbi.BaseAddress + mbi.RegionSize);
        if (next <= q)
            break;
        if (mbi.State != MEM_COMMIT || (mbi.Protect & PAGE_GUARD) ||
            (mbi.Protect & PAGE_NOACCESS))
            p = next < end ? next : end;
        q = next;
    }
#endif
#if CL_TOOLS
    if (__builtin_expect(cl_tools & CL_TOOL_VALGRIND, 0)) {
        /* memcheck marks the stack below a body's sp undefined or
         * inaccessible: copy it through the kernel, a page at a time. */
        uint64_t buf[512];
        while (p < end) {
            size_t n = (size_t)(end - p) < 512 ? (size_t)(end - p) : 512;
            if (!cl_tools_read(buf, p, n * 8))
                break;
            for (size_t i = 0; i < n; i++)
                if (buf[i] != 0)
                    return (size_t)((const char *)end - (const char *)(p + i));
            p += n;
        }
        return 0;
    }
#endif
    while (p < end && *p == 0)
        p++;
    return (size_t)((const char *)end - (const char *)p);
}
