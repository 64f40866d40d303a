/* Prints a symbolized backtrace from inside a coroutine: it runs through the
 * coroutine's own frames, crosses the coroutine's root frame
 * (corolink__trampoline) and continues into the function that resumed it,
 * and on to main. Uses glibc's backtrace(); build with -rdynamic so that
 * the program's own functions have names. */
#define _GNU_SOURCE
#include <corolink.h>

#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>

void print_backtrace(void) {
    void *pcs[64];
    int n = backtrace(pcs, 64);
    printf("backtrace from inside the coroutine:\n");
    for (int i = 0; i < n; i++) {
        Dl_info info;
        /* A return address points after its call: look up the call. */
        void *at = i == 0 ? pcs[i] : (char *)pcs[i] - 1;
        const char *name = "??";
        if (dladdr(at, &info) && info.dli_sname)
            name = info.dli_sname;
        printf("  #%-2d %p in %s\n", i, pcs[i], name);
    }
}

/* One real frame per level: noinline, and no clones (gcc would otherwise
 * specialise it for worker's constant depth into local copies, which
 * dladdr cannot name). */
#if defined(__GNUC__) && !defined(__clang__)
#define KEEP_FRAMES __attribute__((noinline, noclone))
#else
#define KEEP_FRAMES __attribute__((noinline))
#endif

KEEP_FRAMES void parse_record(int depth) {
    if (depth > 0) {
        parse_record(depth - 1);
        __asm__ volatile(""); /* keep this frame: no tail call */
        return;
    }
    print_backtrace();
}

void *worker(corolink_yielder *yielder, void *input, void *arg) {
    (void)input, (void)arg;
    parse_record(2);
    corolink_suspend(yielder, NULL);
    return NULL;
}

__attribute__((noinline)) int run_worker(corolink *co) {
    int rc = corolink_resume(co, NULL, NULL);
    __asm__ volatile("");
    return rc;
}

int main(void) {
    corolink *co;
    int rc = corolink_create(&co, worker, NULL, 0);
    if (rc != 0) {
        fprintf(stderr, "corolink_create: %s\n", corolink_strerror(rc));
        return 1;
    }
    rc = run_worker(co);
    printf("worker suspended (%s)\n", corolink_strerror(rc));
    rc = corolink_resume(co, NULL, NULL);
    printf("worker finished (%s)\n", corolink_strerror(rc));
    corolink_destroy(co);
    return 0;
}
