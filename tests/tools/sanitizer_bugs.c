/* Negative controls: real bugs inside coroutines that the sanitizers must
 * still report once the library announces every switch to them.
 *
 *   sanitizer_bugs overflow   a body writes past a stack array (ASan:
 *                             stack-buffer-overflow)
 *   sanitizer_bugs uaf        a body reads a freed heap block (ASan:
 *                             heap-use-after-free)
 *   sanitizer_bugs race       two coroutines, resumed on two threads at
 *                             once, write one variable unsynchronised
 *                             (TSan: data race)
 *   sanitizer_bugs norace     the same writes under a mutex: no report
 *
 * Each mode prints "no report" at the end if nothing stopped it. */
#include <corolink.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int sink;

static __attribute__((noinline)) void overflow(int n) {
    char buf[16];
    memset(buf, 1, sizeof buf);
    char *volatile p = buf; /* (through a pointer: UBSan's bounds check
                               would stop it first) */
    p[n] = 2;               /* 16: one past the end */
    sink = buf[3];
}

static void *overflow_body(corolink_yielder *y, void *in, void *arg) {
    (void)in, (void)arg;
    corolink_suspend(y, NULL);
    overflow(16);
    return NULL;
}

static void *uaf_body(corolink_yielder *y, void *in, void *arg) {
    (void)in, (void)arg;
    int *p = malloc(4 * sizeof *p);
    p[1] = 7;
    corolink_suspend(y, NULL);
    free(p);
    corolink_suspend(y, NULL);
    sink = p[1]; /* freed */
    return NULL;
}

/* The race: `shared` written by two coroutines running on two threads. */
static long shared;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int use_lock;
static pthread_barrier_t both;

static void *writer_body(corolink_yielder *y, void *in, void *arg) {
    (void)in, (void)arg;
    for (int i = 0; i < 1000; i++) {
        if (use_lock)
            pthread_mutex_lock(&lock);
        shared++;
        if (use_lock)
            pthread_mutex_unlock(&lock);
        corolink_suspend(y, NULL);
    }
    return NULL;
}

static void *drive(void *arg) {
    corolink *co;
    if (corolink_create(&co, writer_body, arg, 0) != 0)
        abort();
    pthread_barrier_wait(&both); /* both threads run their coroutine at once */
    while (corolink_resume(co, NULL, NULL) == COROLINK_YIELD)
        ;
    /* Both coroutines (TSan fibers) live until both have written: TSan
     * may not report a race against a fiber destroyed before the other
     * side's access. */
    pthread_barrier_wait(&both);
    corolink_destroy(co);
    return NULL;
}

static void run(corolink_fn fn, int resumes) {
    corolink *co;
    if (corolink_create(&co, fn, NULL, 0) != 0)
        abort();
    for (int i = 0; i < resumes; i++)
        corolink_resume(co, NULL, NULL);
    corolink_destroy(co);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "overflow") == 0) {
        run(overflow_body, 2);
    } else if (strcmp(mode, "uaf") == 0) {
        run(uaf_body, 3);
    } else if (strcmp(mode, "race") == 0 || strcmp(mode, "norace") == 0) {
        use_lock = strcmp(mode, "norace") == 0;
        pthread_barrier_init(&both, NULL, 2);
        pthread_t a, b;
        pthread_create(&a, NULL, drive, NULL);
        pthread_create(&b, NULL, drive, NULL);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        if (shared != 2000)
            return 1;
    } else {
        fprintf(stderr, "usage: %s overflow|uaf|race|norace\n", argv[0]);
        return 2;
    }
    puts("no report");
    return 0;
}
