// What the trap suites of both systems share (trap_test.cpp on Linux,
// trap_windows_test.cpp on Windows): the bodies that fault, and the check
// that a stack an overflow consumed runs an ordinary body afterwards.
// Included inside each suite's anonymous namespace.
#ifndef COROLINK_TESTS_TRAP_BODIES_H
#define COROLINK_TESTS_TRAP_BODIES_H

#include <corolink.h>

#include <gtest/gtest.h>

#include <cstdint>

inline void *as_ptr(intptr_t v) { return reinterpret_cast<void *>(v); }
inline intptr_t as_int(void *p) { return reinterpret_cast<intptr_t>(p); }

// Never 0 at run time; the compiler cannot know, so the recursion below is
// neither "infinite" to it nor a loop or a tail call (the local is used
// after the call).
inline volatile int keep_going = 1;

__attribute__((noinline)) inline int recurse(int n) {
    volatile char frame[256];
    frame[0] = static_cast<char>(n);
    if (!keep_going)
        return 0;
    int r = recurse(n + 1);
    return r + frame[0];
}

inline void *overflow_body(corolink_yielder *, void *, void *) {
    recurse(0);
    return as_ptr(1); // never reached
}

inline int *volatile null_ptr = nullptr;

inline void *null_write_body(corolink_yielder *, void *, void *) {
    *null_ptr = 42;
    return as_ptr(1); // never reached
}

inline void *return_body(corolink_yielder *, void *input, void *) {
    return input;
}

// A new coroutine gets the pooled stack at `base` back (the one the
// overflows consumed) and runs an ordinary body on it to its end.
inline void expect_pooled_stack_runs_again(void *base) {
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, return_body, nullptr, 0), 0);
    corolink_stack st{};
    ASSERT_EQ(corolink_get_stack(co, &st), 0);
    EXPECT_EQ(st.base, base);
    void *out = nullptr;
    EXPECT_EQ(corolink_resume(co, as_ptr(77), &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 77);
    corolink_destroy(co);
}

#endif
