/* Regression: corolink_on_parent_stack() runs fn just below the resumer's
 * frame; it must leave the resumer's red zone alone, and the resumer must
 * not keep values there in the first place (the inline resume's error path
 * is a real call, so no function containing a resume is a leaf). Built with
 * -O2 -fno-omit-frame-pointer, where gcc used to keep `output` in the red
 * zone of such a resumer and fn's frames overwrote it. Checked through the
 * inline and the out-of-line resume. */
#include <corolink.h>

#include <string.h>

static void *scribble(void *arg) {
    volatile unsigned char big[8192];
    memset((void *)big, 0xa5, sizeof big); /* covers the resumer's red zone */
    return (void *)((char *)arg + big[17]);
}

static void *parent_stack_user(corolink_yielder *y, void *input, void *arg) {
    (void)arg;
    return corolink_on_parent_stack(y, scribble, input);
}

__attribute__((noinline)) int redzone_resume(corolink *co, void *in, void **out) {
    return corolink_resume(co, in, out);
}

__attribute__((noinline)) int redzone_resume_outofline(corolink *co, void *in,
                                                       void **out) {
    /* volatile: the compiler must not see through it and inline the
     * header's definition. */
    int (*volatile resume)(corolink *, void *, void **) = corolink_resume;
    return resume(co, in, out);
}

/* 0 when both resumes deliver the right value through `out`. */
int redzone_check(void) {
    for (int pass = 0; pass < 2; pass++) {
        corolink *co;
        if (corolink_create(&co, parent_stack_user, NULL, 0) != 0)
            return -1;
        void *out = NULL;
        int rc = pass ? redzone_resume_outofline(co, (void *)1000, &out)
                      : redzone_resume(co, (void *)1000, &out);
        corolink_destroy(co);
        if (rc != COROLINK_RETURN || out != (void *)(1000 + 0xa5))
            return 1 + pass;
    }
    return 0;
}
