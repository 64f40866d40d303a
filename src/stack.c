/* Default stacks: mmap'd with a guard page, and a per-thread pool of them
 * so that creating and destroying coroutines costs no system call. */
#include "internal.h"
#include "probes.h"

#if COROLINK_DEFAULT_STACK

#if CL_WINDOWS
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <windows.h>

/* Windows: a stack is laid out as the system lays out thread stacks, so
 * that __chkstk, exception dispatch and STATUS_STACK_OVERFLOW work on it
 * as on a thread's own:
 *
 *   [alloc, limit)            one page reserved, never accessible: the
 *                             hard guard (`guard`; DeallocationStack)
 *   [limit, + 2 pages)        committed: room for the handlers of a stack
 *                             overflow (the system commits it anyway when
 *                             it raises STATUS_STACK_OVERFLOW)
 *   the next page             committed, PAGE_GUARD: the first touch of it
 *                             raises STATUS_STACK_OVERFLOW, with rsp still
 *                             above the handlers' room
 *   [StackLimit, base)        the requested size, committed read-write
 *                             (the TEB's StackLimit is its start): the
 *                             control block at the top, the body's stack
 *                             below it
 *
 * The room and the guard page come on top of the requested size, so that
 * a body has the size it asked for before it overflows, as on Linux.
 *
 * Everything is committed up front: wine implements stack growth only for
 * the page under the current limit, not for an exception frame (a CONTEXT
 * and more, written below rsp in one go) that reaches past it, so a stack
 * grown page by page breaks the first exception dispatched deep in it.
 * Windows charges the commit but, as on Linux, a page costs memory only
 * once touched. */
/* CL_WIN_RESERVE_PAGES (2) and CL_WIN_PAGE (4 KiB, the only page size of
 * x64 Windows): in src/arch/x86_64_windows.h, for cl_arch_place() and
 * trap_windows.c too. */
static size_t page_size(void) { return CL_WIN_PAGE; }

/* Rounds a requested size up to pages; 0 if it overflows. */
static size_t round_size(size_t size) {
    size_t mask = page_size() - 1;
    return size > SIZE_MAX - mask ? 0 : (size + mask) & ~mask;
}

/* Reserves `size` bytes for the body with the overflow room, the guard
 * page and the hard guard page below, commits all but the hard guard and
 * arms the guard page; *committed = the lowest byte above it (the TEB's
 * StackLimit). */
static int map_stack_win(size_t size, corolink_stack *out, void **committed) {
    size_t page = page_size(), guard = page;
    size_t below = (CL_WIN_RESERVE_PAGES + 1) * page; /* room + guard page */
    if (size > SIZE_MAX - guard - below)
        return COROLINK_ENOMEM;
    char *m = VirtualAlloc(NULL, guard + below + size, MEM_RESERVE,
                           PAGE_NOACCESS);
    if (m == NULL)
        return COROLINK_ENOMEM;
    char *limit = m + guard, *guard_page = limit + below - page;
    if (VirtualAlloc(limit, below + size, MEM_COMMIT, PAGE_READWRITE) == NULL ||
        VirtualAlloc(guard_page, page, MEM_COMMIT,
                     PAGE_READWRITE | PAGE_GUARD) == NULL) {
        VirtualFree(m, 0, MEM_RELEASE);
        return COROLINK_ENOMEM;
    }
    out->limit = limit;
    out->base = limit + below + size;
    out->guard = guard;
    *committed = guard_page + page;
    return 0;
}

static int map_stack(size_t size, corolink_stack *out) {
    void *committed;
    return map_stack_win(size, out, &committed);
}

static void unmap_region(void *lo, size_t size) {
    (void)size;
    VirtualFree(lo, 0, MEM_RELEASE);
}

/* A block placed on a stack of ours: the TEB's StackLimit is the lowest
 * committed byte, which the system lowers as the stack grows (the block
 * keeps it while the coroutine is not running); GuaranteedStackBytes as
 * cl_arch_place() sets it for a one-page guard. */
#define CL_MAP_AND_PLACE(rounded, co_out)                                      \
    do {                                                                       \
        corolink_stack st_;                                                    \
        void *committed_;                                                      \
        int rc_ = map_stack_win(rounded, &st_, &committed_);                   \
        if (rc_ != 0)                                                          \
            return rc_;                                                        \
        co_out = cl_place(st_.limit, st_.base, st_.guard);                     \
        co_out->hot.teb_stack_limit = committed_;                              \
    } while (0)
#else
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page_size(void) {
    static size_t cached;
    size_t p = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (p == 0) {
        long v = sysconf(_SC_PAGESIZE);
        p = v > 0 ? (size_t)v : 4096;
        __atomic_store_n(&cached, p, __ATOMIC_RELAXED);
    }
    return p;
}

/* Rounds a requested size up to pages; 0 if it overflows. */
static size_t round_size(size_t size) {
    size_t mask = page_size() - 1;
    return size > SIZE_MAX - mask ? 0 : (size + mask) & ~mask;
}

/* Maps `size` usable bytes with one PROT_NONE guard page below (slab.c). */
#define map_stack(size, out) cl_map_guarded(size, out)

static void unmap_region(void *lo, size_t size) { munmap(lo, size); }

/* corolink_create()'s stacks: a mapping of their own or a slab slot, as
 * the mode says (slab.c). A watched slot's block is flagged, so that its
 * release takes the slow path, which checks the zone. */
#define CL_MAP_AND_PLACE(rounded, co_out)                                      \
    do {                                                                       \
        corolink_stack st_;                                                    \
        struct cl_slab *slab_;                                                 \
        int rc_ = cl_stack_map(rounded, &st_, &slab_);                         \
        if (rc_ != 0)                                                          \
            return rc_;                                                        \
        co_out = cl_place(st_.limit, st_.base, st_.guard);                     \
        co_out->slab = slab_;                                                  \
        if (slab_ && cl_slab_watched(slab_))                                   \
            co_out->hot.flags |= CL_FLAG_WATCHED;                              \
    } while (0)
#endif

int corolink_stack_alloc(corolink_stack *out, size_t size) {
    if (out == NULL)
        return COROLINK_EINVAL;
    if (size == 0)
        size = COROLINK_STACK_DEFAULT_SIZE;
    if (size < COROLINK_STACK_MIN_SIZE)
        return COROLINK_ESTACK;
    size = round_size(size);
    if (size == 0)
        return COROLINK_ENOMEM;
    return map_stack(size, out);
}

void corolink_stack_free(corolink_stack *stack) {
    if (stack == NULL || stack->base == NULL)
        return;
    /* No poison left behind for the next mapping at these addresses. */
    cl_tools_unpoison(stack->limit,
                      (size_t)((char *)stack->base - (char *)stack->limit));
    char *lo = (char *)stack->limit - stack->guard;
    unmap_region(lo, (size_t)((char *)stack->base - lo));
    memset(stack, 0, sizeof *stack);
}

static void unmap_control(struct corolink *co) {
    cl_reg_remove(co); /* its slot goes to this thread's free list */
#if CL_WINDOWS
    char *lo = (char *)co->stack_limit - co->guard;
    unmap_region(lo, (size_t)((char *)co->stack_top - lo));
#else
    cl_stack_unmap(co);
#endif
}

/* The pool: a list of free control blocks (each atop its mapped stack) in
 * cl_thread. Once armed (first release on the thread), pool_room is the
 * number of stacks the pool may still take, pool_limit minus the list's
 * length, so that a release tests one word. */

static size_t pool_length(const struct cl_thread *t) {
    size_t n = 0;
    for (const struct corolink *co = t->pool_head; co; co = co->pool_next)
        n++;
    return n;
}

/* Frees pooled stacks beyond the first `keep`. */
static void pool_drain(struct cl_thread *t, size_t keep) {
    struct corolink **pp = &t->pool_head;
    for (size_t i = 0; *pp && i < keep; i++)
        pp = &(*pp)->pool_next;
    while (*pp) {
        struct corolink *co = *pp;
        *pp = co->pool_next;
        unmap_control(co);
    }
    if (t->pool_armed) {
        size_t n = pool_length(t);
        t->pool_room = t->pool_limit > n ? t->pool_limit - n : 0;
    }
}

/* Thread exit: free what the exiting thread's pool holds, and pool nothing
 * more (coroutines destroyed by later thread-exit handlers are unmapped). */
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static void on_thread_exit(void *arg) {
    struct cl_thread *t = arg;
    t->pool_limit = 0;
    pool_drain(t, 0);
#if CL_REGISTRY
    cl_reg_thread_exit(); /* the drained stacks' slots too */
#endif
}
static void make_exit_key(void) { pthread_key_create(&exit_key, on_thread_exit); }
#if CL_WINDOWS
/* Windows: `__thread` is emulated (libgcc's emutls), whose storage is
 * freed by a thread-exit destructor of its own key, created at the first
 * thread-local access of the module; winpthreads runs destructors in the
 * order keys were created, so ours must exist before that key for
 * on_thread_exit() to find cl_thread still there. Made at load time,
 * before any of the library's thread-local variables is touched. */
__attribute__((constructor(101))) static void make_exit_key_early(void) {
    pthread_once(&exit_once, make_exit_key);
}
#endif

static __attribute__((noinline)) int create_slow(corolink **out, corolink_fn fn,
                                                 void *arg, size_t size,
                                                 void *site) {
    if (size < COROLINK_STACK_MIN_SIZE)
        return COROLINK_ESTACK;
    size_t rounded = round_size(size);
    if (rounded == 0)
        return COROLINK_ENOMEM;
    cl_trap_on_create();
    struct cl_thread *t = &cl_thread;
    /* A pooled stack of this size further down the list? */
    for (struct corolink **pp = &t->pool_head; *pp; pp = &(*pp)->pool_next) {
        if ((*pp)->size_class == rounded) {
            struct corolink *co = *pp;
            *pp = co->pool_next;
            t->pool_room++; /* a pool with stacks is armed */
            cl_init(co, fn, arg);
            co->create_site = site;
            cl_reg_add(co);
            CL_PROBE_CREATE(co);
            *out = co;
            return 0;
        }
    }
    struct corolink *co;
    CL_MAP_AND_PLACE(rounded, co);
    co->hot.flags |= CL_STACK_POOLED; /* CL_FLAG_TOOLS stays */
    co->size_class = rounded;
    cl_init(co, fn, arg);
    co->create_site = site;
    cl_reg_add(co);
    CL_PROBE_CREATE(co);
    *out = co;
    return 0;
}

int corolink_create(corolink **out, corolink_fn fn, void *arg,
                    size_t stack_size) {
    if (__builtin_expect(out == NULL || fn == NULL, 0))
        return COROLINK_EINVAL;
    size_t size = stack_size ? stack_size : COROLINK_STACK_DEFAULT_SIZE;
    struct cl_thread *t = &cl_thread;
    struct corolink *co = t->pool_head;
    /* Fast path: the pool's head has the requested size (the default size
     * is a whole number of pages, so no rounding is needed for it). Only
     * an armed pool has stacks. */
    if (__builtin_expect(co != NULL && co->size_class == size, 1)) {
        /* Anything rare (the thread's trap set-up, a new block of ids, a
         * block without registry slot, a tracer on the create probe):
         * create_slow() takes the same stack from the pool's head, so
         * that this path makes no call. */
        if (!(__builtin_expect(CL_REGISTRY && co->reg_slot == NULL, 0) ||
              cl_create_rare(t))) {
            t->pool_head = co->pool_next;
            t->pool_room++;
            cl_init_id(co, fn, arg, t->id_next++);
            co->create_site = __builtin_return_address(0);
            cl_reg_add(co); /* one store: a pooled block keeps its slot */
            *out = co;
            return 0;
        }
    }
    return create_slow(out, fn, arg, size, __builtin_return_address(0));
}

static __attribute__((noinline)) void release_slow(struct cl_thread *t,
                                                   struct corolink *co) {
    if (!t->pool_armed) {
        pthread_once(&exit_once, make_exit_key);
        pthread_setspecific(exit_key, t);
        t->pool_armed = true;
        size_t n = pool_length(t);
        t->pool_room = t->pool_limit > n ? t->pool_limit - n : 0;
    }
    if (t->pool_room == 0) {
        unmap_control(co);
        return;
    }
    t->pool_room--;
    co->pool_next = t->pool_head;
    t->pool_head = co;
    cl_reg_park(co);
}

#if !CL_WINDOWS
/* A watched slab slot (slab.c): an overflow found on its way out is fatal,
 * named after the coroutine (whose block is still intact: an overflow
 * writes below the stack, into the slot underneath). */
static __attribute__((noinline, cold)) void watch_check(struct corolink *co) {
    if (cl_watch_overflowed(co))
        cl_fatal_msg(co, "stack overflow found by corolink_destroy() in",
                     ": the watched zone below its stack (a slab stack "
                     "without guard page) was written; the memory below it "
                     "may be damaged");
}
#endif

/* Gives a finished or never-started coroutine's stack back. The block is
 * marked destroyed first (what a pooled block looks like until a create
 * takes it): corolink_destroy() of it again is diagnosed. */
static inline void release(struct corolink *co) {
    uint32_t flags = co->hot.flags;
#if !CL_WINDOWS
    if (__builtin_expect(flags & CL_FLAG_WATCHED, 0))
        watch_check(co);
#endif
    co->hot.finished = CL_DESTROYED;
    co->hot.pc = NULL; /* a resume of it fails (COROLINK_EINVAL) */
    if (flags != CL_STACK_POOLED) {
        if (__builtin_expect(flags & CL_FLAG_TOOLS, 0)) {
            cl_tools_release(co); /* then to the pool the slow way */
            if (flags & CL_STACK_POOLED) {
                release_slow(&cl_thread, co);
                return;
            }
        }
        if (flags & CL_STACK_POOLED) { /* watched: to the pool */
            release_slow(&cl_thread, co);
            return;
        }
        cl_reg_remove(co); /* a caller-provided stack: nothing else */
        return;
    }
    struct cl_thread *t = &cl_thread;
    if (__builtin_expect(t->pool_room != 0, 1)) {
        t->pool_room--;
        co->pool_next = t->pool_head;
        t->pool_head = co;
        cl_reg_park(co);
        return;
    }
    release_slow(t, co);
}

/* release() of the common cases, with no call (so that
 * corolink_destroy()'s fast path saves no register): a pooled stack while
 * the pool has room, a caller-provided stack that no tool watches. False:
 * nothing done, release() it. */
static inline bool release_fast(struct corolink *co) {
    uint32_t flags = co->hot.flags;
    if (flags == CL_STACK_POOLED) {
        struct cl_thread *t = &cl_thread;
        if (__builtin_expect(t->pool_room == 0, 0))
            return false;
        co->hot.finished = CL_DESTROYED;
        co->hot.pc = NULL; /* a resume of it fails (COROLINK_EINVAL) */
        t->pool_room--;
        co->pool_next = t->pool_head;
        t->pool_head = co;
        cl_reg_park(co);
        return true;
    }
    if (flags != CL_STACK_USER)
        return false;
    co->hot.finished = CL_DESTROYED;
    co->hot.pc = NULL;
    cl_reg_remove(co);
    return true;
}

void corolink_pool_trim(void) {
    pool_drain(&cl_thread, 0);
#if !CL_WINDOWS
    cl_slab_trim();
#endif
}

size_t corolink_pool_limit(size_t max_stacks) {
    struct cl_thread *t = &cl_thread;
    size_t old = t->pool_limit;
    t->pool_limit = max_stacks;
    pool_drain(t, max_stacks);
    return old;
}

#if CL_WINDOWS
/* One kind of stack on Windows: the system's thread-stack layout. */
int corolink_stack_mode(int mode) {
    (void)mode;
    return COROLINK_ENOTSUP;
}
#endif

#else /* !COROLINK_DEFAULT_STACK: no mmap, no pool; caller-provided stacks only */

int corolink_create(corolink **out, corolink_fn fn, void *arg,
                    size_t stack_size) {
    (void)out, (void)fn, (void)arg, (void)stack_size;
    return COROLINK_ENOTSUP;
}
int corolink_stack_alloc(corolink_stack *out, size_t size) {
    (void)out, (void)size;
    return COROLINK_ENOTSUP;
}
void corolink_stack_free(corolink_stack *stack) { (void)stack; }
/* Caller-provided stacks only: nothing to release but the slot (and the
 * tools' state). */
static inline void release(struct corolink *co) {
    co->hot.finished = CL_DESTROYED;
    co->hot.pc = NULL; /* a resume of it fails (COROLINK_EINVAL) */
    if (__builtin_expect(co->hot.flags & CL_FLAG_TOOLS, 0))
        cl_tools_release(co);
    cl_reg_remove(co);
}
static inline bool release_fast(struct corolink *co) {
    if (co->hot.flags != CL_STACK_USER)
        return false;
    co->hot.finished = CL_DESTROYED;
    co->hot.pc = NULL;
    cl_reg_remove(co);
    return true;
}
void corolink_pool_trim(void) {}
int corolink_stack_mode(int mode) {
    (void)mode;
    return COROLINK_ENOTSUP;
}
size_t corolink_pool_limit(size_t max_stacks) {
    (void)max_stacks;
    return 0;
}

#endif

/* A coroutine that is neither finished nor created-but-not-started: fatal
 * if running, if destroyed already or if co is no control block at all;
 * unwound (if the build can) if suspended. */
static __attribute__((noinline, cold)) void destroy_slow(struct corolink *co) {
    if (!cl_is_block(co))
        cl_fatal_not_coroutine(co, "corolink_destroy() called on");
    if (co->hot.finished == CL_DESTROYED)
        cl_fatal_msg(co, "corolink_destroy() called on", ", which was "
                     "destroyed already (destroyed twice?)");
    if (co->hot.finished)
        cl_fatal_msg(co, "corolink_destroy() called on",
                     ", whose state is damaged");
    if (cl_running(co))
        cl_fatal_running(co, "corolink_destroy() called on");
    void *exc = cl_destroy_unwind(co); /* aborts without the unwinder */
    CL_PROBE_DESTROY(co); /* unwound; the stack is still there */
    if (exc == NULL) {
        release(co);
        return;
    }
    /* The body threw while being unwound: free the stack, then let the
     * exception go on from here. */
    uint64_t id = co->hot.id;
    char name[COROLINK_NAME_MAX];
    for (size_t i = 0; i < sizeof name; i++)
        name[i] = co->name[i];
    release(co);
    cl_raise(exc, id, name);
}

/* corolink_destroy() of a finished or never-started coroutine that a
 * tracer watches, or whose stack release_fast() does not take: out of
 * line, so that the fast path makes no call. */
static __attribute__((noinline)) void destroy_rest(struct corolink *co) {
    CL_PROBE_DESTROY(co); /* before release() may unmap co */
    release(co);
}

void corolink_destroy(corolink *co) {
    if (co == NULL)
        return;
    /* Finished (how: 1 to CL_FINISHED_LAST), or created and never started:
     * nothing runs. Anything else (suspended, running, destroyed, no
     * control block) takes the slow path, which checks. */
    if (__builtin_expect(co->hot.finished - 1u >= CL_FINISHED_LAST &&
                             co->hot.pc != (void *)corolink__trampoline,
                         0)) {
        destroy_slow(co);
        return;
    }
    if (COROLINK_PROBE_ENABLED(destroy) || !release_fast(co))
        destroy_rest(co);
}
