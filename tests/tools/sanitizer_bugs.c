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

/* The race: `shared` written by two coroutines running at the same time
 * on two threads, first by one, then by the other. The order is forced
 * with a relaxed atomic flag, which orders nothing for TSan (no
 * happens-before): the second write races with the first on every run.
 * Both coroutines stay running until both have written: TSan's fibers
 * miss some races against a fiber that has been switched out meanwhile
 * (measured: about one run in four, with clang 14's runtime and gcc 12's;
 * without fibers, never). With `use_lock` both writes hold a mutex:
 * ordered, no report. */
static long shared;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int use_lock;
static int first_done;
static pthread_barrier_t both;

static void write_shared(long v) {
    if (use_lock)
        pthread_mutex_lock(&lock);
    shared += v;
    if (use_lock)
        pthread_mutex_unlock(&lock);
}

static void *writer_body(corolink_yielder *y, void *in, void *arg) {
    (void)in;
    corolink_suspend(y, NULL);
    if (arg == NULL) { /* the first writer */
        write_shared(1);
        __atomic_store_n(&first_done, 1, __ATOMIC_RELAXED);
        while (__atomic_load_n(&first_done, __ATOMIC_RELAXED) != 2)
            ; /* both coroutines run while both write */
    } else {           /* the second, once the first has written */
        while (!__atomic_load_n(&first_done, __ATOMIC_RELAXED))
            ;
        write_shared(2);
        __atomic_store_n(&first_done, 2, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void *drive(void *arg) {
    corolink *co;
    if (corolink_create(&co, writer_body, arg, 0) != 0)
        abort();
    corolink_resume(co, NULL, NULL); /* started: its TSan fiber exists */
    pthread_barrier_wait(&both);
    corolink_resume(co, NULL, NULL); /* the write */
    /* Both coroutines (TSan fibers) live until both have written. */
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
        pthread_create(&b, NULL, drive, (void *)1);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        if (shared != 3)
            return 1;
    } else {
        fprintf(stderr, "usage: %s overflow|uaf|race|norace\n", argv[0]);
        return 2;
    }
    puts("no report");
    return 0;
}
