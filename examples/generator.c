/* A coroutine that yields values to main and takes a new value on each
 * resume: the first example of the model crate, in C. */
#include <corolink.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void *body(corolink_yielder *yielder, void *input, void *arg) {
    (void)arg;
    printf("[coroutine] coroutine started with input %ld\n",
           (long)(intptr_t)input);
    for (intptr_t i = 0; i < 5; i++) {
        printf("[coroutine] yielding %ld\n", (long)i);
        input = corolink_suspend(yielder, (void *)i);
        printf("[coroutine] got %ld from parent\n", (long)(intptr_t)input);
    }
    printf("[coroutine] exiting coroutine\n");
    return NULL;
}

int main(void) {
    printf("[main] creating coroutine\n");
    corolink *co;
    int rc = corolink_create(&co, body, NULL, 0);
    if (rc != 0) {
        fprintf(stderr, "corolink_create: %s\n", corolink_strerror(rc));
        return 1;
    }
    for (intptr_t input = 100;; input++) {
        printf("[main] resuming coroutine with argument %ld\n", (long)input);
        void *out;
        rc = corolink_resume(co, (void *)input, &out);
        if (rc == COROLINK_RETURN)
            break;
        if (rc != COROLINK_YIELD) {
            fprintf(stderr, "corolink_resume: %s\n", corolink_strerror(rc));
            return 1;
        }
        printf("[main] got %ld from coroutine\n", (long)(intptr_t)out);
    }
    corolink_destroy(co);
    printf("[main] exiting\n");
    return 0;
}
