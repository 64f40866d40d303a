/* Built against a library configured with COROLINK_DEFAULT_STACK=OFF and
 * COROLINK_UNWIND=OFF: coroutines run on caller-provided stacks, the
 * mmap-backed functions say they are not available, and corolink_current()
 * has no unwinder to search with. */
#include <corolink.h>

#include <stdint.h>
#include <stdio.h>

static unsigned char stack_mem[64 * 1024];

static void *twice(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    input = corolink_suspend(y, (void *)((intptr_t)input * 2));
    return (void *)((intptr_t)input * 2);
}

int main(void) {
    corolink *co;
    corolink_stack st = {stack_mem + sizeof stack_mem, stack_mem, 0};
    if (corolink_create(&co, twice, NULL, 0) != COROLINK_ENOTSUP)
        return 1;
    corolink_stack mapped;
    if (corolink_stack_alloc(&mapped, 0) != COROLINK_ENOTSUP)
        return 2;
    if (corolink_create_on(&co, &st, twice, NULL) != 0)
        return 3;
    void *out;
    if (corolink_resume(co, (void *)21, &out) != COROLINK_YIELD ||
        (intptr_t)out != 42 ||
        corolink_resume(co, (void *)50, &out) != COROLINK_RETURN ||
        (intptr_t)out != 100 || corolink_current() != NULL)
        return 4;
    corolink_destroy(co);
    /* No registry in this build (it is the freestanding core). */
    if (corolink_dump(stdout) != COROLINK_ENOTSUP)
        return 5;
    printf("minimal build ok\n");
    return 0;
}
