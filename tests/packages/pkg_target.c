/* The program tests/packages/check_packages.py builds against the
 * installed Debian packages (pkg-config, no -I or -L of its own): three
 * named coroutines parked at known places, then it says "ready" and waits
 * for its standard input to close, so that corolink-stacks and gdb can look
 * at it. gdb stops it at pkg_ready(). */
#include <corolink.h>

#include <stdint.h>
#include <stdio.h>

__attribute__((noinline)) void pkg_ready(void) { __asm__ volatile(""); }

__attribute__((noinline)) static void *pkg_wait(corolink_yielder *y) {
    return corolink_suspend(y, NULL);
}

static void *pkg_body(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    while (input == NULL)
        input = pkg_wait(y);
    return input;
}

int main(void) {
    static const char *const names[] = {"pkg-alpha", "pkg-beta", "pkg-gamma"};
    corolink *co[3];
    for (int i = 0; i < 3; i++) {
        int rc = corolink_create(&co[i], pkg_body, NULL, 0);
        if (rc != 0) {
            fprintf(stderr, "corolink_create: %s\n", corolink_strerror(rc));
            return 1;
        }
        corolink_set_name(co[i], names[i]);
        if (corolink_resume(co[i], NULL, NULL) != COROLINK_YIELD)
            return 1;
    }
    pkg_ready();
    printf("ready\n");
    fflush(stdout);
    while (getchar() != EOF)
        continue;
    for (int i = 0; i < 3; i++) {
        void *out = NULL;
        if (corolink_resume(co[i], (void *)(uintptr_t)(i + 1), &out) !=
                COROLINK_RETURN ||
            out != (void *)(uintptr_t)(i + 1))
            return 1;
        corolink_destroy(co[i]);
    }
    printf("done\n");
    return 0;
}
