/* For gdb.static_stripped: linked with libcorolink.a and stripped with
 * --strip-all, so the plugin has no symbol to find the debug table by and
 * must use the .corolink_debug section. Two named coroutines park in
 * wait_here(); then the program stops itself with int3 (a SIGTRAP gdb
 * catches: there is no symbol to put a breakpoint on). */
#include <corolink.h>

#include <stddef.h>

__attribute__((noinline)) void wait_here(corolink_yielder *y) {
    corolink_suspend(y, NULL);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void *parked_body(corolink_yielder *y, void *in,
                                            void *arg) {
    (void)in, (void)arg;
    wait_here(y);
    return NULL;
}

int main(void) {
    corolink *a, *b;
    if (corolink_create(&a, parked_body, NULL, 0) != 0 ||
        corolink_create(&b, parked_body, NULL, 0) != 0)
        return 1;
    corolink_set_name(a, "alpha");
    corolink_set_name(b, "beta");
    if (corolink_resume(a, NULL, NULL) != COROLINK_YIELD ||
        corolink_resume(b, NULL, NULL) != COROLINK_YIELD)
        return 2;
    __asm__ volatile("int3");
    return 0;
}
