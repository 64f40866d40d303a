/* The program the gdb plugin tests debug (tests/gdb/run_gdb_tests.py).
 *
 * At the stop in test_ready() (a breakpoint, on the main thread) it has:
 *   main thread:  "main-runner"  running   main_runner_body -> main_runner_work
 *                                          -> test_ready()
 *                 "sock-reader"  suspended reader_body -> handle_conn
 *                                          -> wait_on_socket   (local fd = 42)
 *                 "timer"        suspended timer_body -> wait_on_timer
 *                                          (local deadline_ms = 1500)
 *                 "worker-0..2"  suspended worker_body -> idle_loop (3 identical
 *                                          stacks: `info coroutines -group`)
 *                 "fresh"        created, never resumed
 *                 "done"         finished (returned)
 *   second thread: "t2-outer"    running, resuming "t2-inner"
 *                 "t2-inner"     running   t2_inner_body -> t2_spin
 *                                          (signals readiness, then waits)
 *                 "t2-parked"    suspended t2_parked_body -> park_deep x3
 *                                          -> park_leaf
 * Functions are global (the stripped variant is linked with -rdynamic, so
 * that gdb can still name them from .dynsym) and each has a distinct body
 * (gcc -O2 merges identical functions).
 *
 * Arguments (any argument: exit after the second thread, no cleanup):
 *   untimed  no suspend timestamps (they route every resume through the
 *            library's out-of-line resume: see run_gdb_tests.py, qemu)
 *   core     in test_ready(), kill the process with SIGQUIT: a core file of
 *            that state (qemu-user writes one for the guest) */
#include <corolink.h>

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/parked.h"
#include "../common/self_core.h"

static volatile int t2_ready;
static volatile int release_all;
static int dump_core;

/* Where gdb stops (break test_ready), or where the process dumps core. */
NOINLINE void test_ready(void) {
    __asm__ volatile("" ::: "memory");
    if (dump_core)
        kill(getpid(), SIGQUIT);
    /* not a tail call (ARM32's gcc makes one): test_ready() stays on the
     * stack under kill() */
    __asm__ volatile("" ::: "memory");
}

/* ---- the running coroutine of the main thread ---- */

NOINLINE void main_runner_work(int round) {
    volatile int runner_round = round;
    while (!t2_ready)
        usleep(1000);
    test_ready();
    sink = runner_round;
}

NOINLINE void *main_runner_body(corolink_yielder *y, void *in, void *arg) {
    (void)y;
    (void)in;
    (void)arg;
    main_runner_work(5);
    return NULL;
}

/* ---- the second thread ---- */


NOINLINE void t2_spin(void) {
    volatile int spin_count = 0;
    /* One sleep before saying ready: the program is bound lazily, and the
     * first call of usleep() through its PLT entry runs ld.so's resolver
     * (_dl_runtime_resolve, _dl_fixup) unless the main thread has already
     * bound it, which it has not if this thread was ready before the main
     * thread reached its wait loop. Stopped or dumped in there, this
     * thread's frame #0 would be in ld.so instead of t2_spin() or the
     * sleep (gdb.arm_core_O0 once failed so under qemu-arm, whose first
     * run of the resolver's code is slow). After it, every stop finds the
     * thread in t2_spin(), usleep's PLT entry or the sleep. */
    usleep(1000);
    t2_ready = 1;
    while (!release_all) {
        spin_count++;
        usleep(1000);
    }
}

NOINLINE void *t2_inner_body(corolink_yielder *y, void *in, void *arg) {
    (void)y;
    (void)in;
    (void)arg;
    t2_spin();
    return NULL;
}

NOINLINE void *t2_outer_body(corolink_yielder *y, void *in, void *arg) {
    (void)y;
    (void)in;
    corolink *inner = make(t2_inner_body, "t2-inner", NULL);
    corolink_resume(inner, NULL, NULL);
    *(corolink **)arg = inner;
    return NULL;
}

void *thread2(void *arg) {
    (void)arg;
    self_core_thread(); /* RISC-V: see self_core.h */
    corolink *parked = make(t2_parked_body, "t2-parked", NULL);
    corolink_resume(parked, NULL, NULL);
    corolink *inner = NULL;
    corolink *outer = make(t2_outer_body, "t2-outer", &inner);
    corolink_resume(outer, NULL, NULL);
    corolink_force_reset(parked);
    corolink_destroy(parked);
    corolink_destroy(outer);
    corolink_destroy(inner);
    return NULL;
}

int main(int argc, char **argv) {
    /* RISC-V under qemu 7.2: the program writes its own core on SIGQUIT
     * (tests/common/self_core.h), when the driver asks for it */
    self_core_init();
    bool timed = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "untimed") == 0) {
            timed = false;
        } else if (strcmp(argv[i], "core") == 0) {
            dump_core = 1;
        } else {
            fprintf(stderr, "gdb_target: unknown argument %s "
                            "(untimed, core)\n", argv[i]);
            return 2;
        }
    }
    corolink_debug_timestamps(timed);
    corolink *reader = make(reader_body, "sock-reader", NULL);
    corolink *timer = make(timer_body, "timer", NULL);
    g_timer = timer;
    corolink *workers[3];
    char name[16];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "worker-%d", i);
        workers[i] = make(worker_body, name, (void *)(intptr_t)(10 + i));
    }
    corolink *fresh = make(fresh_body, "fresh", NULL);
    corolink *done = make(done_body, "done", NULL);
    corolink_resume(done, NULL, NULL);
    corolink_resume(reader, NULL, NULL);
    corolink_resume(timer, NULL, NULL);
    for (int i = 0; i < 3; i++)
        corolink_resume(workers[i], NULL, NULL);

    pthread_t t;
    pthread_create(&t, NULL, thread2, NULL);
    corolink *runner = make(main_runner_body, "main-runner", NULL);
    corolink_resume(runner, NULL, NULL);
    release_all = 1;
    pthread_join(t, NULL);
    if (argc > 1)
        return 0;
    /* Clean up (the suspended ones are reset: builds without the
     * unwinder cannot destroy a suspended coroutine). */
    corolink *all[] = {reader, timer, workers[0], workers[1], workers[2],
                       fresh, done, runner};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        corolink_force_reset(all[i]);
        corolink_destroy(all[i]);
    }
    return 0;
}
