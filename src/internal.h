/* Private definitions shared by the library's sources. */
#ifndef COROLINK_INTERNAL_H
#define COROLINK_INTERNAL_H

#define COROLINK__BUILDING 1
#include "corolink.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define CL_WINDOWS 1
#else
#define CL_WINDOWS 0
#endif

#if CL_WINDOWS
/* PE has no symbol visibility: a DLL exports what is marked
 * __declspec(dllexport) (COROLINK_API) and nothing else. */
#define CL_HIDDEN
#define CL_EXPORTED COROLINK_API
#else
#define CL_HIDDEN __attribute__((visibility("hidden")))
#define CL_EXPORTED __attribute__((visibility("default")))
#endif

/* The freestanding core: built without default stacks and without the
 * unwinder, the library needs no C library (no libc calls, no TLS) and
 * has no traps. */
#define CL_FREESTANDING (!COROLINK_DEFAULT_STACK && !COROLINK_UNWIND)

/* The registry of live coroutines (registry.c), unless configured out or
 * freestanding (it keeps per-thread free lists). */
#define CL_REGISTRY (COROLINK_REGISTRY && !CL_FREESTANDING)

/* How a coroutine's stack was obtained (struct corolink__hot.flags). */
enum {
    CL_STACK_USER = 0,   /* corolink_create_on(): the caller owns it */
    CL_STACK_POOLED = 1, /* corolink_create(): a mapping of ours */
    /* A sanitizer or valgrind watches this coroutine's switches (tools.c):
     * its release and the library's own resume of it take the hooks. */
    CL_FLAG_TOOLS = 0x100,
    /* The stack is a watched slab slot (slab.c): its release checks the
     * zone below it. */
    CL_FLAG_WATCHED = 0x200,
    /* A forced unwind of the coroutine stopped at a corolink__ontop frame
     * (fn of corolink_resume_with() was suspended): the body's pending
     * suspend starts it again (unwind.c). */
    CL_FLAG_REUNWIND = 0x400,
};

/* How a coroutine finished (struct corolink__hot.finished; 0 = not). */
enum {
    CL_FINISHED_RETURNED = 1, /* the body returned */
    CL_FINISHED_TRAPPED = 2,  /* a fault was redirected (trap.c) */
    CL_FINISHED_THREW = 3,    /* an exception left the body (unwind.c) */
    CL_FINISHED_UNWOUND = 4,  /* a forced unwind reached the root */
    CL_FINISHED_RESET = 5,    /* corolink_force_reset() */
    CL_FINISHED_LAST = CL_FINISHED_RESET,
    /* Not a coroutine any more: destroyed, its block waits in the pool
     * (with pc NULL: see corolink_destroy()). Never seen by tools (the
     * registry slot of a pooled block is tagged). */
    CL_DESTROYED = 0xdead,
};

/* Statuses of the switch beyond COROLINK_YIELD/RETURN/TRAP, and commands
 * a resume passes to a suspended body (ABI v2: CF on x86-64, a register on
 * the other targets). */
#define CL_STATUS_THROW 4 /* the body threw: hot.pending holds the exception */
#define CL_STATUS_BUSY 5  /* x86-64: corolink__busy (co->pc was NULL) */
#define CL_CMD_CONTINUE 0
#define CL_CMD_UNWIND 1   /* the pending suspend raises a forced unwind */
/* Any other command is a struct cl_with * (corolink_resume_with()): the
 * switch goes through corolink__ontop, which calls fn(input, arg) on the
 * coroutine's stack and enters its pending suspend with the result. */
struct cl_with {
    corolink_with_fn fn; /* 0x00 (WITH_FN in unwind-info/) */
    void *arg;           /* 0x08 on 64-bit targets, 0x04 on 32-bit (WITH_ARG) */
};

/* Checks that a word found on a stack is a live control block (trap.c):
 * co->check == ((uintptr_t)co ^ CL_CHECK). */
#define CL_CHECK ((uintptr_t)0x636f726f6c696e6bULL) /* "corolink" */

/* Room for the forced unwind's exception object (unwind.c): libgcc's
 * SEH unwinder (Windows) keeps six private words in it, the DWARF one two. */
#if CL_WINDOWS
#define CL_UNWIND_EXC_SIZE 96
#elif defined(__arm__)
/* ARM EHABI: the object is a 88-byte _Unwind_Control_Block. */
#define CL_UNWIND_EXC_SIZE 96
#else
#define CL_UNWIND_EXC_SIZE 48
#endif

/* The control block: placed at the top of the coroutine's stack, 64-byte
 * aligned; its address is the stack pointer the body starts from. */
struct corolink {
    struct corolink__hot hot;    /* 0x000: ABI v2, read by inline code */
    char name[COROLINK_NAME_MAX];
    /* Introspection (registry.c), in the cache line that create writes
     * anyway (name[0]): the registry slot that holds this control block
     * (NULL: none), where corolink_create*() was called from, and when the
     * body last suspended (CLOCK_MONOTONIC_COARSE ns; 0: not recorded, see
     * corolink_debug_timestamps()). */
    uintptr_t *reg_slot;
    void *create_site;
    uint64_t suspend_ns;
    void *stack_limit;           /* lowest usable address */
    void *stack_top;             /* end of the stack region (exclusive) */
    size_t guard;                /* bytes of guard below stack_limit */
    size_t size_class;           /* pooled stacks: their rounded size */
    struct corolink *pool_next;  /* pooled stacks: next in the free list */
    struct cl_slab *slab;        /* Linux: the slab of a slot (slab.c) */
    uintptr_t check;             /* (uintptr_t)this ^ CL_CHECK */
    /* Exceptions (unwind.c): the exception that finished the coroutine,
     * until its resumer raises it again; and the forced-unwind exception
     * object (a struct _Unwind_Exception and a word, 16-aligned). */
    void *pending;
    alignas(16) unsigned char unwind_exc[CL_UNWIND_EXC_SIZE];
    /* Traps (trap.c): what the last trap was. */
    void *trap_addr;
    int trap_signo;
    bool trap_overflow;
    /* Tools (tools.c), set only in blocks with CL_FLAG_TOOLS: ASan's fake
     * stack of the body while it is not running, and the resumer's stack
     * as ASan knew it; TSan's fiber; valgrind's stack id (0: none). */
    unsigned tool_vg_id;
    void *tool_fake;
    void *tool_fiber;
    const void *tool_parent_lo;
    size_t tool_parent_size;
};

_Static_assert(sizeof(struct corolink) + 64 <= COROLINK_CONTROL_SIZE,
               "control block fits its reserved space");

/* The hot fields every target lays out alike (corolink.h's target
 * headers), in words of W bytes (8 on 64-bit targets, 4 on i686: pc, sp,
 * fp, a private word, then finished and flags in 8 bytes); the arch header
 * checks the rest. ARM32 keeps the 64-bit targets' 8-byte slots (a pointer
 * and a zero word: include/corolink/arm_aapcs_elf.h). */
#if defined(__arm__)
#define CL_HOT_W 8
#else
#define CL_HOT_W sizeof(void *)
#endif
_Static_assert(offsetof(struct corolink__hot, pc) == 0x00, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, sp) == 1 * CL_HOT_W, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, fp) == 2 * CL_HOT_W, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, finished) == 4 * CL_HOT_W, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, fn) == 4 * CL_HOT_W + 8, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, arg) == 5 * CL_HOT_W + 8, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, id) == 6 * CL_HOT_W + 8, "ABI v2");

/* The target: register numbers, signal contexts, layout checks. */
#include "arch/target.h"

/* Where the root frame's frame pointer points in the control block while
 * the body runs: at link_fp (the record {link_fp, link_ra}), or, on RISC-V,
 * just above that record (the target header says so). */
#ifndef CL_ROOT_FP_OFFSET
#define CL_ROOT_FP_OFFSET offsetof(struct corolink__hot, link_fp)
#endif

/* The library's resume path (corolink__resume_traced(), cl_tools_enter(),
 * corolink__enter()): code that runs between a running coroutine's root
 * frame and its resumer's own frames while a tracer, suspend timestamps or
 * a tool route resumes through the library. Its functions go in one
 * section, corolink_hidden, whose bounds the linker provides
 * (__start_/__stop_corolink_hidden) and the debug table publishes
 * (hidden_lo, hidden_hi): the gdb plugin, corolink-stacks and
 * corolink_backtrace() leave frames there out of backtraces, as if the
 * resume had been the inline one. (ELF only; not in the freestanding
 * core, whose one relocatable object must not need the linker's symbols.) */
#if defined(__ELF__) && !CL_FREESTANDING
#define CL_HIDDEN_RANGE 1
#define CL_RESUME_PATH __attribute__((section("corolink_hidden")))
CL_HIDDEN extern const char __start_corolink_hidden[],
    __stop_corolink_hidden[];
#else
#define CL_HIDDEN_RANGE 0
#define CL_RESUME_PATH
#endif

/* Enters a suspended coroutine with a command (CL_CMD_*) for its pending
 * suspend, as a resume would; returns the switch's status (COROLINK_YIELD,
 * COROLINK_RETURN, COROLINK_TRAP or CL_STATUS_THROW) and stores the value
 * in *value. Raises nothing: the caller handles CL_STATUS_THROW. */
int corolink__enter(struct corolink *co, void *input, uintptr_t cmd,
                    void **value) CL_EXPORTED;

/* The assembly in unwind-info/. Exported (though not API) so that
 * backtrace_symbols(), perf and other symbolizers that read only the dynamic
 * symbol table can name the root frame of a coroutine stack. */
extern char corolink__trampoline[] CL_EXPORTED;
#if defined(_WIN32)
/* Windows: `teb` (a struct cl_teb_record, src/arch/x86_64_windows.h, or
 * NULL) describes the stack fn runs on, for the Thread Environment Block
 * while fn runs (unwind-info/x86_64_win64_pe.S). */
void *corolink__call_on(void *arg, void *(*fn)(void *), void *top, void *teb)
    CL_EXPORTED;
#define cl_call_on(arg, fn, top, teb) corolink__call_on(arg, fn, top, teb)
#else
void *corolink__call_on(void *arg, void *(*fn)(void *), void *top)
    CL_EXPORTED;
#define cl_call_on(arg, fn, top, teb) corolink__call_on(arg, fn, top)
#endif
/* Bytes below `top` that corolink__call_on() writes before fn runs (its
 * record for libunwind and its call's return address, after aligning top
 * down to 16), with a margin. */
#define CL_CALL_ON_FRAME 0x100
/* The body's return address in the trampoline, and fn's in
 * corolink__call_on. */
CL_HIDDEN extern char corolink__trampoline_ret[];
CL_HIDDEN extern char corolink__call_on_ret[];
/* The end of the trampoline's code, and the out-of-line suspend's resume
 * point. */
CL_HIDDEN extern char corolink__trampoline_end[];
CL_HIDDEN extern char corolink__suspend_resumed[];

#if COROLINK_DEFAULT_STACK && !CL_WINDOWS
/* Linux stacks of corolink_create() (slab.c): maps or carves a stack of
 * `size` bytes as the mode says (*slab: its slab, NULL for a mapping of
 * its own); 0 or COROLINK_ENOMEM. cl_stack_unmap() gives it back. */
CL_HIDDEN int cl_stack_map(size_t size, corolink_stack *out,
                           struct cl_slab **slab);
CL_HIDDEN void cl_stack_unmap(struct corolink *co);
/* Maps `size` usable bytes with one PROT_NONE guard page below (what
 * corolink_stack_alloc() does); 0 or COROLINK_ENOMEM. */
CL_HIDDEN int cl_map_guarded(size_t size, corolink_stack *out);
/* The slab's slots are watched (no guard page). */
CL_HIDDEN bool cl_slab_watched(const struct cl_slab *s);
/* Returns the memory of free slab slots to the system. */
CL_HIDDEN void cl_slab_trim(void);
/* co's watched zone was touched (async-signal-safe). */
CL_HIDDEN bool cl_watch_overflowed(const struct corolink *co);
/* Where the address of the slab's lowest byte is kept (its mapping, a
 * watched slab's PROT_NONE page included): the trap handler reads it
 * without faulting. No memory is read. */
CL_HIDDEN const void *cl_slab_floor_at(const struct cl_slab *s);
#endif

/* Places a control block at the top of [limit, top) and initialises the
 * stack fields; NULL if the region is too small. */
CL_HIDDEN struct corolink *cl_place(void *limit, void *top, size_t guard);

/* Readies a placed control block to run fn(arg) with the given id (no
 * name). On the create paths, hence inline. */
static inline void cl_init_id(struct corolink *co, corolink_fn fn, void *arg,
                              uint64_t id) {
    co->hot.pc = corolink__trampoline;
    co->hot.finished = 0;
    co->hot.fn = fn;
    co->hot.arg = arg;
    co->hot.id = id;
    co->name[0] = '\0';
    co->suspend_ns = 0;
}

#if !CL_FREESTANDING
/* The library's per-thread state, one block (one GOT entry to reach it). */
struct cl_thread {
    struct corolink *pool_head; /* pooled control blocks, each atop its stack */
    size_t pool_room;   /* stacks the pool may still take (0: not armed yet) */
    size_t pool_limit;  /* corolink_pool_limit() */
    bool pool_armed;    /* thread-exit hook in place, pool_room maintained */
    uint64_t id_next;   /* ids: blocks taken from a global counter */
    uint64_t id_end;
    bool trap_ready;    /* trap.c: this thread's alternate signal stack is set */
    uintptr_t *reg_free; /* registry.c: this thread's free slots */
};
extern __thread struct cl_thread cl_thread CL_HIDDEN
    __attribute__((tls_model("initial-exec")));
CL_HIDDEN uint64_t cl_id_refill(void);

/* cl_init_id() with a fresh id. */
static inline void cl_init(struct corolink *co, corolink_fn fn, void *arg) {
    cl_init_id(co, fn, arg,
               __builtin_expect(cl_thread.id_next != cl_thread.id_end, 1)
                   ? cl_thread.id_next++
                   : cl_id_refill());
}
#else
/* Freestanding: no thread-local storage (a `__thread` variable needs a
 * thread pointer that a C library sets up). Ids come straight from a global
 * counter: one relaxed atomic add per create keeps them unique. */
CL_HIDDEN extern uint64_t cl_id_counter;
static inline void cl_init(struct corolink *co, corolink_fn fn, void *arg) {
    cl_init_id(co, fn, arg,
               __atomic_fetch_add(&cl_id_counter, 1, __ATOMIC_RELAXED));
}
#endif

/* ---- the registry (registry.c) ----
 * Every live coroutine's control block is stored in a slot of a global
 * array of chunks that debuggers walk (see the debug-offsets table). A slot
 * holds a control block's address (live), that address | CL_SLOT_POOLED (a
 * pooled stack's control block keeps its slot while it waits in the pool:
 * reusing it costs one store), or the next free slot's address |
 * CL_SLOT_FREE. Each thread keeps a free list of slots; a slot belongs to
 * exactly one party at a time (a control block or a free list), so no
 * atomic operation is needed: a coroutine destroyed on another thread
 * hands its slot to that thread's free list. */
#define CL_SLOT_FREE ((uintptr_t)1)
#define CL_SLOT_POOLED ((uintptr_t)2)
#if CL_REGISTRY
CL_HIDDEN uintptr_t *cl_reg_refill(void);
/* Puts co (placed, initialised) in the registry. */
static inline void cl_reg_add(struct corolink *co) {
    uintptr_t *slot = co->reg_slot;
    if (__builtin_expect(slot == NULL, 0)) {
        slot = cl_thread.reg_free;
        if (__builtin_expect(slot != NULL, 1))
            cl_thread.reg_free = (uintptr_t *)(*slot & ~CL_SLOT_FREE);
        else if ((slot = cl_reg_refill()) == NULL)
            return; /* no memory for the registry: not listed */
        co->reg_slot = slot;
    }
    __atomic_store_n(slot, (uintptr_t)co, __ATOMIC_RELEASE);
}
/* co's stack waits in the pool: not live, but it keeps its slot. */
static inline void cl_reg_park(struct corolink *co) {
    if (co->reg_slot)
        *co->reg_slot = (uintptr_t)co | CL_SLOT_POOLED;
}
/* co is gone for good: its slot goes to the calling thread's free list. */
static inline void cl_reg_remove(struct corolink *co) {
    uintptr_t *slot = co->reg_slot;
    if (slot) {
        *slot = (uintptr_t)cl_thread.reg_free | CL_SLOT_FREE;
        cl_thread.reg_free = slot;
        co->reg_slot = NULL;
    }
}
/* Thread exit: the thread's free slots go back to the global list. */
CL_HIDDEN void cl_reg_thread_exit(void);
#else
static inline void cl_reg_add(struct corolink *co) { (void)co; }
static inline void cl_reg_park(struct corolink *co) { (void)co; }
static inline void cl_reg_remove(struct corolink *co) { (void)co; }
#endif

/* registry.c: process-wide debugging switches (exported, so that
 * debuggers find them through the debug-offsets table); bit 0 = record
 * suspend times, which corolink__stamp() takes (probes.c calls it). */
#define COROLINK__DEBUG_TIMESTAMPS 1u
extern unsigned corolink__debug_flags CL_EXPORTED;
CL_HIDDEN void corolink__stamp(corolink *co);

/* trap.c: set once corolink_trap_install() ran; cl_trap_thread_setup()
 * gives the calling thread an alternate signal stack (if it has none) and
 * sets cl_thread.trap_ready. Called on the cold create paths. */
CL_HIDDEN extern bool cl_trap_installed;
CL_HIDDEN void cl_trap_thread_setup(void);
/* corolink.c: a trap ended a corolink_on_parent_stack() call on this
 * thread (its fn faulted): give back its count. */
CL_HIDDEN void cl_on_parent_trapped(void);
#if !CL_FREESTANDING
static inline void cl_trap_on_create(void) {
    if (__builtin_expect(
            __atomic_load_n(&cl_trap_installed, __ATOMIC_RELAXED) &&
                !cl_thread.trap_ready,
            0))
        cl_trap_thread_setup();
}
#else
/* No traps in the freestanding core (no signals without a C library). */
static inline void cl_trap_on_create(void) {}
#endif

/* ---- the tools that watch every switch (tools.c) ----
 * AddressSanitizer, ThreadSanitizer, valgrind: found at load time (the
 * sanitizers' entry points are weak references). cl_tools holds the
 * CL_TOOL_* bits of the ones found; 0 in the freestanding core. */
#define CL_TOOLS (!CL_FREESTANDING && !CL_WINDOWS)
enum { CL_TOOL_ASAN = 1, CL_TOOL_TSAN = 2, CL_TOOL_VALGRIND = 4 };
#if CL_TOOLS
CL_HIDDEN extern unsigned cl_tools;
/* Shadow stacks (CET SHSTK) are enabled for the process: resumes fail. */
CL_HIDDEN extern bool cl_shstk_active;
/* A block is placed while a tool watches: flag it, clear its tool state. */
CL_HIDDEN void cl_tools_place(struct corolink *co);
/* corolink__enter() with every tool told of both switches. */
CL_HIDDEN CL_RESUME_PATH int cl_tools_enter(struct corolink *co, void *input, uintptr_t cmd,
                             void **value);
/* A flagged coroutine's stack is given back (destroy). */
CL_HIDDEN void cl_tools_release(struct corolink *co);
/* corolink__call_on() on [lo, lo + size) (new_stack: not a stack the
 * tools know, corolink_on_stack()). */
CL_HIDDEN void *cl_tools_call_on(void *arg, void *(*fn)(void *), void *top,
                                 const void *lo, size_t size, bool new_stack);
/* The frames above the caller's on this stack will never return (an
 * exception is raised): ASan unpoisons them (__asan_handle_no_return). */
CL_HIDDEN void cl_tools_no_return(void);
/* Memory that ASan may have poisoned (a stack) is free again. */
CL_HIDDEN void cl_tools_unpoison(const void *lo, size_t size);
/* Copies memory without the tools' checks (process_vm_readv on
 * ourselves: valgrind sees a system call that fills dst); false if it is
 * not readable. */
CL_HIDDEN bool cl_tools_read(void *dst, const void *src, size_t n);
#else
#define cl_tools 0u
#define cl_shstk_active false
static inline void cl_tools_place(struct corolink *co) { (void)co; }
static inline int cl_tools_enter(struct corolink *co, void *input,
                                 uintptr_t cmd, void **value) {
    return corolink__enter(co, input, cmd, value);
}
static inline void cl_tools_release(struct corolink *co) { (void)co; }
static inline void cl_tools_no_return(void) {}
static inline void *cl_tools_call_on(void *arg, void *(*fn)(void *),
                                     void *top, const void *lo, size_t size,
                                     bool new_stack) {
    (void)lo, (void)size, (void)new_stack;
    return cl_call_on(arg, fn, top, NULL);
}
static inline void cl_tools_unpoison(const void *lo, size_t size) {
    (void)lo, (void)size;
}
#endif

/* The library's own resume of co (the traced resume, the forced unwind):
 * corolink__enter(), through the tools' hooks when they watch co. */
static inline int cl_enter(struct corolink *co, void *input, uintptr_t cmd,
                           void **value) {
    if (__builtin_expect(co->hot.flags & CL_FLAG_TOOLS, 0))
        return cl_tools_enter(co, input, cmd, value);
    return corolink__enter(co, input, cmd, value);
}

/* cl_place() but for the tools' part (cl_tools_place(), which cl_place()
 * adds): inline, for corolink_create_on()'s fast path. */
static inline __attribute__((always_inline)) struct corolink *
cl_place_inline(void *limit, void *top, size_t guard) {
    uintptr_t lo = (uintptr_t)limit, hi = (uintptr_t)top;
    if (hi <= lo || hi - lo < COROLINK_CONTROL_SIZE + COROLINK_STACK_MIN_USABLE)
        return NULL;
    /* 64-byte aligned: the body's stack starts at co, which every ABI wants
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
    co->slab = NULL;
    cl_arch_place(co);
    co->hot.flags = CL_STACK_USER;
    co->check = (uintptr_t)co ^ CL_CHECK;
    co->pending = NULL;
    co->reg_slot = NULL;
    return co;
}

/* The coroutine is running: resumed and neither suspended nor finished. */
static inline bool cl_running(const struct corolink *co) {
    return co->hot.pc == NULL && !co->hot.finished;
}

/* Prints one line, "corolink: fatal: <what> coroutine <id> "<name>"<tail>"
 * ("corolink: fatal: <what><tail>" for co NULL), and aborts. */
CL_HIDDEN __attribute__((noreturn, cold)) void
cl_fatal_msg(const struct corolink *co, const char *what, const char *tail);
#define cl_fatal(co, what) cl_fatal_msg(co, what, "")
#define cl_fatal_running(co, what) cl_fatal_msg(co, what, " while it is running")

/* Prints "corolink: fatal: <what> <p>, which is not a coroutine (no live
 * control block there)" and aborts. */
CL_HIDDEN __attribute__((noreturn, cold)) void
cl_fatal_not_coroutine(const void *p, const char *what);

/* Whether co points at a control block: its check word matches. */
static inline bool cl_is_block(const struct corolink *co) {
    return co->check == ((uintptr_t)co ^ CL_CHECK);
}

/* unwind.c. corolink_destroy() of a suspended coroutine: unwinds it
 * (aborts in builds without the unwinder) and returns the exception the
 * body threw while being unwound, or NULL; then, once the stack is freed,
 * cl_raise() raises that exception (id and name: the coroutine's, for the
 * message if nothing catches it). */
CL_HIDDEN void *cl_destroy_unwind(struct corolink *co);
CL_HIDDEN __attribute__((noreturn)) void cl_raise(void *exc, uint64_t id,
                                                  const char *name);


#endif
