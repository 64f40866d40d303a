/* The program corolink-stacks is tested on (tests/stacks/run_stacks_tests.py).
 *
 * Once it has printed "ready" (and its pid) on stdout it blocks for good:
 *   main thread:  "main-runner"  running   main_runner_body -> main_runner_wait
 *                 "sock-reader"  suspended reader_body -> handle_conn
 *                                          -> wait_on_socket
 *                 "timer"        suspended timer_body -> wait_on_timer
 *                 "worker-0..2"  suspended worker_body -> idle_loop (3 identical
 *                                          stacks: --group counts 3)
 *                 "fresh"        created, never resumed
 *                 "done"         finished (returned)
 *   second thread: "t2-outer"    running, resuming "t2-inner"
 *                 "t2-inner"     running   t2_inner_body -> t2_block
 *                 "t2-parked"    suspended t2_parked_body -> park_deep x3
 *                                          -> park_leaf
 * With an argument N > 0 it creates N more suspended coroutines
 * ("bulk", bulk_body -> bulk_wait) for the scale measurement. With a
 * second argument "crafted" (stacks.flamegraph) one more, suspended:
 *                 "<a&\"b'> x;y"  crafted_body -> dig x DIG_DEPTH (deeper than
 *                                          the tool's 256 frames)
 * Functions are global, linked with -rdynamic (a stripped copy still names
 * them from .dynsym), each with a distinct body (gcc -O2 merges identical
 * functions). */
#include <corolink.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "../common/parked.h"
#include "../common/self_core.h"

static volatile int t2_ready;

NOINLINE void bulk_wait(corolink_yielder *y, int i) {
    volatile int k = i * 5;
    corolink_suspend(y, NULL);
    sink = k;
}

NOINLINE void *bulk_body(corolink_yielder *y, void *in, void *arg) {
    (void)in;
    bulk_wait(y, (int)(intptr_t)arg);
    return NULL;
}

/* A name with characters that XML, the folded format and the text mode
 * must each treat right, and a stack deeper than the tool walks. */
#define CRAFTED_NAME "<a&\"b'> x;y"
#define DIG_DEPTH 300

NOINLINE int dig(corolink_yielder *y, int depth) {
    volatile int here = depth;
    if (depth > 0)
        return dig(y, depth - 1) + here;
    corolink_suspend(y, NULL);
    return here;
}

NOINLINE void *crafted_body(corolink_yielder *y, void *in, void *arg) {
    (void)in, (void)arg;
    sink = dig(y, DIG_DEPTH);
    return NULL;
}

/* Blocks for good (pause() returns only for a handled signal). */
NOINLINE void block_forever(int who) {
    volatile int w = who;
    for (;;)
        pause();
    sink = w;
}

NOINLINE void main_runner_wait(int round) {
    volatile int runner_round = round;
    while (!t2_ready)
        usleep(1000);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    block_forever(1);
    sink = runner_round;
}

NOINLINE void *main_runner_body(corolink_yielder *y, void *in, void *arg) {
    (void)y, (void)in, (void)arg;
    main_runner_wait(5);
    return NULL;
}

NOINLINE void t2_block(void) {
    volatile int blocked = 2;
    t2_ready = 1;
    block_forever(blocked);
}

NOINLINE void *t2_inner_body(corolink_yielder *y, void *in, void *arg) {
    (void)y, (void)in, (void)arg;
    t2_block();
    return NULL;
}

NOINLINE void *t2_outer_body(corolink_yielder *y, void *in, void *arg) {
    (void)y, (void)in, (void)arg;
    corolink *inner = make(t2_inner_body, "t2-inner", NULL);
    corolink_resume(inner, NULL, NULL);
    return NULL;
}

void *thread2(void *arg) {
    (void)arg;
    self_core_thread(); /* RISC-V: see self_core.h */
    corolink *parked = make(t2_parked_body, "t2-parked", NULL);
    corolink_resume(parked, NULL, NULL);
    corolink *outer = make(t2_outer_body, "t2-outer", NULL);
    corolink_resume(outer, NULL, NULL);
    return NULL;
}

int main(int argc, char **argv) {
    /* RISC-V under qemu 7.2: the program writes its own core on SIGQUIT
     * (tests/common/self_core.h), when the driver asks for it */
    self_core_init();
    /* Yama ptrace_scope 1: let the tool (not our parent) attach */
#ifdef PR_SET_PTRACER
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
#endif
    /* Suspend timestamps (they route every resume through the library's
     * traced resume, whose frames the tool hides), unless the test asks
     * for inline resumes. */
    const char *untimed = getenv("COROLINK_TEST_UNTIMED");
    corolink_debug_timestamps(untimed == NULL || untimed[0] != '1');
    int bulk = argc > 1 ? atoi(argv[1]) : 0;
    corolink *reader = make(reader_body, "sock-reader", NULL);
    corolink *timer = make(timer_body, "timer", NULL);
    corolink *workers[3];
    char name[32];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "worker-%d", i);
        workers[i] = make(worker_body, name, (void *)(intptr_t)(10 + i));
    }
    (void)make(fresh_body, "fresh", NULL);
    corolink *done = make(done_body, "done", NULL);
    corolink_resume(done, NULL, NULL);
    corolink_resume(reader, NULL, NULL);
    corolink_resume(timer, NULL, NULL);
    for (int i = 0; i < 3; i++)
        corolink_resume(workers[i], NULL, NULL);
    for (int i = 0; i < bulk; i++) {
        corolink *co;
        if (corolink_create(&co, bulk_body, (void *)(intptr_t)i, 16 * 1024) != 0) {
            fprintf(stderr, "corolink_create failed at %d\n", i);
            return 1;
        }
        corolink_set_name(co, "bulk");
        corolink_resume(co, NULL, NULL);
    }
    if (argc > 2 && strcmp(argv[2], "crafted") == 0)
        corolink_resume(make(crafted_body, CRAFTED_NAME, NULL), NULL, NULL);
    pthread_t t;
    pthread_create(&t, NULL, thread2, NULL);
    corolink *runner = make(main_runner_body, "main-runner", NULL);
    corolink_resume(runner, NULL, NULL);
    return 0;
}
