/* The API used from C: compiled twice, once with the inline switch and
 * once with -DCOROLINK_NO_INLINE (every call goes to the library), and once
 * with -masm=intel (the inline switch must assemble in either dialect), all
 * with -std=c11 -pedantic -Wall -Wextra -Werror so that the header stays
 * clean for C users. */
#include <corolink.h>

#include <stdint.h>

#if defined(COROLINK_NO_INLINE)
#define C_API(name) name##_outofline
#elif defined(C_API_INTEL)
#define C_API(name) name##_intel
#else
#define C_API(name) name##_inline
#endif

static void *doubling_body(corolink_yielder *y, void *input, void *arg) {
    intptr_t *calls = arg;
    intptr_t v = (intptr_t)input;
    for (int i = 0; i < 4; i++) {
        (*calls)++;
        v = (intptr_t)corolink_suspend(y, (void *)(v * 2));
    }
    return (void *)(v + 1000);
}

/* Runs the body to completion; returns a digest of everything that came out
 * (or a negative error). */
int64_t C_API(c_api_digest)(void) {
    intptr_t calls = 0;
    corolink *co;
    int rc = corolink_create(&co, doubling_body, &calls, 0);
    if (rc != 0)
        return rc;
    int64_t digest = 0;
    void *out = NULL;
    intptr_t in = 3;
    while ((rc = corolink_resume(co, (void *)in, &out)) == COROLINK_YIELD) {
        digest = digest * 31 + (intptr_t)out;
        in++;
    }
    if (rc != COROLINK_RETURN)
        return rc;
    digest = digest * 31 + (intptr_t)out;
    digest = digest * 31 + calls;
    if (!corolink_done(co) || corolink_resume(co, NULL, NULL) != COROLINK_EDONE)
        return -100;
    if (corolink_current() != NULL)
        return -101;
    corolink_destroy(co);
    return digest;
}
