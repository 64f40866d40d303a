// Helpers of the core test suites (core_test.cpp, resume_with_test.cpp):
// values through void *, and what the build's unwinder setting
// (COROLINK_TEST_UNWIND) changes.
#ifndef COROLINK_TEST_CORE_HELPERS_H
#define COROLINK_TEST_CORE_HELPERS_H

#include <corolink.h>

#include <cstdint>

#ifndef COROLINK_TEST_UNWIND
#error "COROLINK_TEST_UNWIND must be 0 or 1 (tests/CMakeLists.txt)"
#endif

inline void *as_ptr(intptr_t v) { return reinterpret_cast<void *>(v); }
inline intptr_t as_int(void *p) { return reinterpret_cast<intptr_t>(p); }

// What corolink_current() returns for a running coroutine `co`: the library
// finds it by unwinding, so a build without the unwinder
// (COROLINK_UNWIND=OFF) always answers NULL.
#if COROLINK_TEST_UNWIND
inline corolink *expected_current(corolink *co) { return co; }
#else
inline corolink *expected_current(corolink *) { return nullptr; }
#endif

// Destroys a coroutine that may be suspended. Without the unwinder,
// destroying a suspended coroutine aborts unless it was force-reset first
// (its stack then is freed without unwinding); with it, destroy unwinds.
inline void destroy_suspended(corolink *co) {
#if !COROLINK_TEST_UNWIND
    corolink_force_reset(co);
#endif
    corolink_destroy(co);
}

#endif
