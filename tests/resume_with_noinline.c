/* The library's out-of-line corolink_suspend() and corolink_resume(), for
 * resume_with_test.cpp: a file of its own, built with COROLINK_NO_INLINE,
 * so that the suite keeps the inline switch for everything else (as
 * tests/tools/suspend_checked.c does). Neither wrapper may become a tail
 * call: the backtrace tests expect its frame, under its name, between the
 * library's function and its caller. */
#define COROLINK_NO_INLINE 1
#include <corolink.h>

#if defined(__clang__)
#define RW_NOINLINE __attribute__((noinline))
#else
#define RW_NOINLINE __attribute__((noinline, noclone))
#endif

RW_NOINLINE void *rw_suspend_outofline(corolink_yielder *yielder,
                                       void *value) {
    void *input = corolink_suspend(yielder, value);
    __asm__ volatile("" : "+r"(input)); /* no tail call */
    return input;
}

RW_NOINLINE int rw_resume_outofline(corolink *co, void *input,
                                    void **output) {
    int rc = corolink_resume(co, input, output);
    __asm__ volatile("" : "+r"(rc)); /* no tail call */
    return rc;
}
