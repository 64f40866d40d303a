/* A program outside the corolink tree, built against an installed corolink
 * (through CMake's find_package and through pkg-config). */
#include <corolink.h>

#include <stdint.h>
#include <stdio.h>

static void *twice(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    input = corolink_suspend(y, (void *)((intptr_t)input * 2));
    return (void *)((intptr_t)input * 2);
}

int main(void) {
    corolink *co;
    void *out;
    if (corolink_create(&co, twice, NULL, 0) != 0 ||
        corolink_resume(co, (void *)21, &out) != COROLINK_YIELD ||
        (intptr_t)out != 42 ||
        corolink_resume(co, (void *)50, &out) != COROLINK_RETURN ||
        (intptr_t)out != 100)
        return 1;
    corolink_destroy(co);
    printf("consumer ok: abi %d\n", COROLINK_ABI_VERSION);
    return 0;
}
