/* Private definitions shared by the library's sources. */
#ifndef COROLINK_INTERNAL_H
#define COROLINK_INTERNAL_H

#define COROLINK__BUILDING 1
#include "corolink.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CL_HIDDEN __attribute__((visibility("hidden")))

/* How a coroutine's stack was obtained (struct corolink__hot.flags). */
enum {
    CL_STACK_USER = 0,   /* corolink_create_on(): the caller owns it */
    CL_STACK_POOLED = 1, /* corolink_create(): a mapping of ours */
};

/* The control block: placed at the top of the coroutine's stack, 64-byte
 * aligned; its address is the stack pointer the body starts from. */
struct corolink {
    struct corolink__hot hot;    /* 0x000: ABI v1, read by inline code */
    char name[COROLINK_NAME_MAX];
    void *stack_limit;           /* lowest usable address */
    void *stack_top;             /* end of the stack region (exclusive) */
    size_t guard;                /* bytes of guard below stack_limit */
    size_t size_class;           /* pooled stacks: their rounded size */
    struct corolink *pool_next;  /* pooled stacks: next in the free list */
};

_Static_assert(sizeof(struct corolink__hot) == 0xb0, "ABI v1 hot layout");
_Static_assert(offsetof(struct corolink__hot, pc) == 0x00, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, sp) == 0x08, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, fp) == 0x10, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, finished) == 0x20, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, fn) == 0x28, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, arg) == 0x30, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, id) == 0x38, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, link_fp) == 0x78, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, link_ra) == 0x80, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, link_sp) == 0xa0, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, link_ip) == 0xa8, "ABI v1");
_Static_assert(sizeof(struct corolink) + 64 <= COROLINK_CONTROL_SIZE,
               "control block fits its reserved space");

/* The assembly in unwind-info/. Exported (though not API) so that
 * backtrace_symbols(), perf and other symbolizers that read only the dynamic
 * symbol table can name the root frame of a coroutine stack. */
extern char corolink__trampoline[] __attribute__((visibility("default")));
void *corolink__call_on(void *arg, void *(*fn)(void *), void *top)
    __attribute__((visibility("default")));
/* The body's return address in the trampoline. */
CL_HIDDEN extern char corolink__trampoline_ret[];

/* Places a control block at the top of [limit, top) and initialises the
 * stack fields; NULL if the region is too small. */
CL_HIDDEN struct corolink *cl_place(void *limit, void *top, size_t guard);

/* The library's per-thread state, one block (one GOT entry to reach it). */
struct cl_thread {
    struct corolink *pool_head; /* pooled control blocks, each atop its stack */
    size_t pool_room;   /* stacks the pool may still take (0: not armed yet) */
    size_t pool_limit;  /* corolink_pool_limit() */
    bool pool_armed;    /* thread-exit hook in place, pool_room maintained */
    uint64_t id_next;   /* ids: blocks taken from a global counter */
    uint64_t id_end;
};
extern __thread struct cl_thread cl_thread CL_HIDDEN
    __attribute__((tls_model("initial-exec")));
CL_HIDDEN uint64_t cl_id_refill(void);

/* Readies a placed control block to run fn(arg) (a fresh id, no name). On
 * the create path, hence inline. */
static inline void cl_init(struct corolink *co, corolink_fn fn, void *arg) {
    co->hot.pc = corolink__trampoline;
    co->hot.finished = 0;
    co->hot.fn = fn;
    co->hot.arg = arg;
    co->hot.id = __builtin_expect(cl_thread.id_next != cl_thread.id_end, 1)
                     ? cl_thread.id_next++
                     : cl_id_refill();
    co->name[0] = '\0';
}

/* The coroutine is running: resumed and neither suspended nor finished. */
static inline bool cl_running(const struct corolink *co) {
    return co->hot.pc == NULL && !co->hot.finished;
}

/* Prints "corolink: fatal: <what> coroutine <id> "<name>" while it is
 * running" and aborts. */
CL_HIDDEN __attribute__((noreturn, cold)) void
cl_fatal_running(const struct corolink *co, const char *what);


#endif
