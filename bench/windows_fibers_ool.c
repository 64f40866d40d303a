/* The out-of-line row of windows_fibers.c: this translation unit calls the
 * library's real corolink_resume()/corolink_suspend(). */
#define COROLINK_NO_INLINE
#include <corolink.h>

#include <stdint.h>
#include <stdlib.h>
#include <windows.h>

double corolink_outofline_roundtrips(long n);

static void *echo_body(corolink_yielder *y, void *in, void *arg) {
    (void)arg;
    for (;;)
        in = corolink_suspend(y, in);
    return NULL; /* not reached (the destroy unwinds the body) */
}

double corolink_outofline_roundtrips(long n) {
    LARGE_INTEGER f, t0, t1;
    QueryPerformanceFrequency(&f);
    corolink *co;
    if (corolink_create(&co, echo_body, NULL, 0) != 0)
        abort();
    uintptr_t sum = 0;
    QueryPerformanceCounter(&t0);
    for (long i = 0; i < n; i++) {
        void *out;
        corolink_resume(co, (void *)(uintptr_t)i, &out);
        sum += (uintptr_t)out;
    }
    QueryPerformanceCounter(&t1);
    if (sum != (uintptr_t)n * (uintptr_t)(n - 1) / 2)
        abort();
    corolink_force_unwind(co);
    corolink_destroy(co);
    return (double)(t1.QuadPart - t0.QuadPart) * 1e9 / (double)f.QuadPart /
           (double)n;
}
