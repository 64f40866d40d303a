/* C bodies whose frames hold __attribute__((cleanup)) variables: built
 * with -fexceptions, their handlers run when an exception or a forced
 * unwind passes. */
#include "cleanup_c.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int count;
static char order[8192];

void cleanup_c_reset(void) {
    count = 0;
    order[0] = '\0';
}
int cleanup_c_count(void) { return count; }
const char *cleanup_c_order(void) { return order; }

static void done(int *tag) {
    count++;
    size_t n = strlen(order);
    if (n + 16 < sizeof order)
        snprintf(order + n, sizeof order - n, "%d,", *tag);
}

static __attribute__((noinline)) void nest(corolink_yielder *y, int depth,
                                           void (*thrower)(void)) {
    __attribute__((cleanup(done), unused)) int tag = depth;
    if (depth == 0) {
        if (thrower)
            thrower();
        else
            corolink_suspend(y, NULL);
    } else {
        nest(y, depth - 1, thrower);
    }
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

struct plan {
    int depth;
    void (*thrower)(void);
};

static void *body(corolink_yielder *y, void *input, void *arg) {
    (void)input;
    /* The plan lives in the caller's memory only until the first resume
     * returns: copy it. */
    struct plan p = *(struct plan *)arg;
    __attribute__((cleanup(done), unused)) int tag = p.depth; /* outermost */
    if (p.depth > 0)
        nest(y, p.depth - 1, p.thrower);
    else if (p.thrower)
        p.thrower();
    else
        corolink_suspend(y, NULL);
    return NULL;
}

static struct plan plan_slot;

corolink *cleanup_c_park(int depth) {
    corolink *co;
    plan_slot.depth = depth;
    plan_slot.thrower = NULL;
    if (corolink_create(&co, body, &plan_slot, 0) != 0)
        return NULL;
    if (corolink_resume(co, NULL, NULL) != COROLINK_YIELD)
        return NULL;
    return co;
}

corolink *cleanup_c_create_thrower(void (*thrower)(void)) {
    static struct plan p;
    corolink *co;
    p.depth = 2;
    p.thrower = thrower;
    if (corolink_create(&co, body, &p, 0) != 0)
        return NULL;
    return co;
}

int cleanup_c_resume(corolink *co) {
    __attribute__((cleanup(done), unused)) int tag = 100;
    int rc = corolink_resume(co, NULL, NULL);
    __asm__ volatile("" ::: "memory");
    return rc;
}
