/* Default stacks: mmap'd with a guard page, and a per-thread pool of them
 * so that creating and destroying coroutines costs no system call. */
#include "internal.h"

#if COROLINK_DEFAULT_STACK

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define POOL_DEFAULT_LIMIT 64

struct pool {
    struct corolink *head; /* free control blocks, each atop its stack */
    size_t count;
    size_t limit;          /* valid once limit_set */
    bool limit_set;
    bool exit_hook;        /* thread-exit destructor armed */
};

static __thread struct pool pool __attribute__((tls_model("initial-exec")));

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

/* Maps `size` usable bytes with one guard page below. */
static int map_stack(size_t size, corolink_stack *out) {
    size_t guard = page_size();
    if (size > SIZE_MAX - guard)
        return COROLINK_ENOMEM;
    char *m = mmap(NULL, size + guard, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    if (m == MAP_FAILED)
        return COROLINK_ENOMEM;
    if (mprotect(m, guard, PROT_NONE) != 0) {
        munmap(m, size + guard);
        return COROLINK_ENOMEM;
    }
    out->limit = m + guard;
    out->base = m + guard + size;
    out->guard = guard;
    return 0;
}

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
    char *lo = (char *)stack->limit - stack->guard;
    munmap(lo, (size_t)((char *)stack->base - lo));
    memset(stack, 0, sizeof *stack);
}

static void unmap_control(struct corolink *co) {
    char *lo = (char *)co->stack_limit - co->guard;
    munmap(lo, (size_t)((char *)co->stack_top - lo));
}

static size_t pool_limit_now(void) {
    return pool.limit_set ? pool.limit : POOL_DEFAULT_LIMIT;
}

static void pool_drain(struct pool *p, size_t keep) {
    while (p->count > keep) {
        struct corolink *co = p->head;
        p->head = co->pool_next;
        p->count--;
        unmap_control(co);
    }
}

/* Thread exit: free what the exiting thread's pool holds. */
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static void on_thread_exit(void *p) { pool_drain(p, 0); }
static void make_exit_key(void) { pthread_key_create(&exit_key, on_thread_exit); }

static __attribute__((noinline)) int create_slow(corolink **out, corolink_fn fn,
                                                 void *arg, size_t size) {
    if (size < COROLINK_STACK_MIN_SIZE)
        return COROLINK_ESTACK;
    size_t rounded = round_size(size);
    if (rounded == 0)
        return COROLINK_ENOMEM;
    /* A pooled stack of this size further down the list? */
    for (struct corolink **pp = &pool.head; *pp; pp = &(*pp)->pool_next) {
        if ((*pp)->size_class == rounded) {
            struct corolink *co = *pp;
            *pp = co->pool_next;
            pool.count--;
            cl_init(co, fn, arg);
            *out = co;
            return 0;
        }
    }
    corolink_stack st;
    int rc = map_stack(rounded, &st);
    if (rc != 0)
        return rc;
    struct corolink *co = cl_place(st.limit, st.base, st.guard);
    co->hot.flags = CL_STACK_POOLED;
    co->size_class = rounded;
    cl_init(co, fn, arg);
    *out = co;
    return 0;
}

int corolink_create(corolink **out, corolink_fn fn, void *arg,
                    size_t stack_size) {
    if (__builtin_expect(out == NULL || fn == NULL, 0))
        return COROLINK_EINVAL;
    size_t size = stack_size ? stack_size : COROLINK_STACK_DEFAULT_SIZE;
    struct corolink *co = pool.head;
    /* Fast path: the pool's head has the requested size (the default size
     * is a whole number of pages, so no rounding is needed for it). */
    if (__builtin_expect(co != NULL && co->size_class == size, 1)) {
        pool.head = co->pool_next;
        pool.count--;
        cl_init(co, fn, arg);
        *out = co;
        return 0;
    }
    return create_slow(out, fn, arg, size);
}

static void stack_release(struct corolink *co) {
    if (__builtin_expect(pool.count < pool_limit_now(), 1)) {
        if (__builtin_expect(!pool.exit_hook, 0)) {
            pthread_once(&exit_once, make_exit_key);
            pthread_setspecific(exit_key, &pool);
            pool.exit_hook = true;
        }
        co->pool_next = pool.head;
        pool.head = co;
        pool.count++;
        return;
    }
    unmap_control(co);
}

void corolink_destroy(corolink *co) {
    if (co == NULL)
        return;
    if (__builtin_expect(cl_running(co), 0))
        cl_fatal_running(co, "corolink_destroy() called on");
    if (co->hot.flags == CL_STACK_POOLED)
        stack_release(co);
}

void corolink_pool_trim(void) { pool_drain(&pool, 0); }

size_t corolink_pool_limit(size_t max_stacks) {
    size_t old = pool_limit_now();
    pool.limit = max_stacks;
    pool.limit_set = true;
    pool_drain(&pool, max_stacks);
    return old;
}

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
void corolink_destroy(corolink *co) {
    if (co == NULL)
        return;
    if (cl_running(co))
        cl_fatal_running(co, "corolink_destroy() called on");
    /* caller-provided stacks only: nothing to release */
}
void corolink_pool_trim(void) {}
size_t corolink_pool_limit(size_t max_stacks) {
    (void)max_stacks;
    return 0;
}

#endif
