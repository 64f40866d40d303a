/* The coroutines that the debugger and profiler tool tests find parked
 * (tests/gdb/gdb_target.c, tests/stacks/stacks_target.c): one definition,
 * so that both suites look for the same functions, names and locals.
 *
 *   "sock-reader"  reader_body -> handle_conn -> wait_on_socket (fd = 42,
 *                  request_no = 7)
 *   "timer"        timer_body -> wait_on_timer (deadline_ms = 1500)
 *   "worker-N"     worker_body -> idle_loop (identical stacks)
 *   "fresh"        fresh_body, never resumed;  "done": done_body, returned
 *   "t2-parked"    t2_parked_body -> park_deep x3 -> park_leaf
 *                  (leaf_mark = 0x1eaf)
 *
 * Included by exactly one file per program. Functions are global (programs
 * linked with -rdynamic still name them from .dynsym when stripped) and
 * each has a distinct body (gcc -O2 merges identical functions). */
#ifndef COROLINK_TEST_PARKED_H
#define COROLINK_TEST_PARKED_H

#include <corolink.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

volatile int sink;
/* For the pretty-printer tests (globals: never optimised out). */
corolink *g_timer;
corolink_yielder *g_timer_yielder;

NOINLINE static corolink *make(corolink_fn fn, const char *name, void *arg) {
    corolink *co;
    if (corolink_create(&co, fn, arg, 64 * 1024) != 0) {
        fprintf(stderr, "corolink_create failed\n");
        exit(1);
    }
    corolink_set_name(co, name);
    return co;
}

NOINLINE int wait_on_socket(corolink_yielder *y, int conn) {
    volatile int fd = 42 + conn;
    corolink_suspend(y, (void *)(intptr_t)fd);
    return fd + 1;
}

NOINLINE int handle_conn(corolink_yielder *y, int conn) {
    volatile int request_no = 7;
    int r = wait_on_socket(y, conn);
    return r + request_no;
}

NOINLINE void *reader_body(corolink_yielder *y, void *in, void *arg) {
    (void)in;
    (void)arg;
    sink = handle_conn(y, 0);
    return NULL;
}

NOINLINE long wait_on_timer(corolink_yielder *y, long ms) {
    volatile long deadline_ms = ms;
    corolink_suspend(y, NULL);
    return deadline_ms * 3;
}

NOINLINE void *timer_body(corolink_yielder *y, void *in, void *arg) {
    (void)in;
    (void)arg;
    g_timer_yielder = y;
    sink = (int)wait_on_timer(y, 1500);
    return NULL;
}

NOINLINE void idle_loop(corolink_yielder *y, int n) {
    volatile int spins = n;
    while (spins-- > 0)
        corolink_suspend(y, (void *)(intptr_t)spins);
}

NOINLINE void *worker_body(corolink_yielder *y, void *in, void *arg) {
    (void)in;
    idle_loop(y, (int)(intptr_t)arg);
    return (void *)1;
}

NOINLINE void *done_body(corolink_yielder *y, void *in, void *arg) {
    (void)y;
    (void)arg;
    return in;
}

NOINLINE void *fresh_body(corolink_yielder *y, void *in, void *arg) {
    (void)y;
    (void)arg;
    sink = 99;
    return in;
}

/* ---- parked on the second thread ---- */

NOINLINE void park_leaf(corolink_yielder *y) {
    volatile int leaf_mark = 0x1eaf;
    corolink_suspend(y, NULL);
    sink = leaf_mark;
}

NOINLINE int park_deep(corolink_yielder *y, int depth) {
    volatile int level = depth;
    if (depth > 0)
        return park_deep(y, depth - 1) + level;
    park_leaf(y);
    return level * 2;
}

NOINLINE void *t2_parked_body(corolink_yielder *y, void *in, void *arg) {
    (void)in;
    (void)arg;
    sink = park_deep(y, 2);
    return NULL;
}

#endif
