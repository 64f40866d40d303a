/* Death tests that must run in Google Test's "threadsafe" style (the child
 * re-executes the test program, so that it starts from a clean process:
 * no other threads, no pool or registry state inherited from earlier
 * tests) call COROLINK_TEST_THREADSAFE_DEATH() first.
 *
 * Under an emulator (qemu-user in a cross build, COROLINK_TEST_EMULATED)
 * a program cannot re-execute itself, so these tests keep the "fast"
 * style there (fork only, which the toolchain file selects for every
 * test): each of them forks before it creates any thread of its own. */
#ifndef COROLINK_TESTS_DEATH_STYLE_H
#define COROLINK_TESTS_DEATH_STYLE_H

#include <gtest/gtest.h>

#if defined(_WIN32)
/* Windows: death tests always re-execute the program (CreateProcess), which
 * wine does too. */
#define COROLINK_TEST_THREADSAFE_DEATH() ((void)0)
#elif COROLINK_TEST_EMULATED
#define COROLINK_TEST_THREADSAFE_DEATH() ((void)0)
#else
#define COROLINK_TEST_THREADSAFE_DEATH()                                       \
    GTEST_FLAG_SET(death_test_style, "threadsafe")
#endif

/* The end of a death test's expected message: the library's last line is
 * the last thing on standard error. qemu-user adds one line of its own
 * after the guest dies of a signal ("qemu: uncaught target signal 6
 * (Aborted) - core dumped"), which the emulated builds allow. */
#if defined(_WIN32)
#define COROLINK_DEATH_END "\n$"
#elif COROLINK_TEST_EMULATED
#define COROLINK_DEATH_END "\n(qemu: uncaught target signal [0-9]+ [^\n]*\n)?$"
#else
#define COROLINK_DEATH_END "\n$"
#endif

/* A decimal number in a death test's expected message: Google Test on
 * Windows has only its "simple" regular expressions (no brackets). */
#if defined(_WIN32)
#define COROLINK_RE_NUMBER "\\d+"
#else
#define COROLINK_RE_NUMBER "[0-9]+"
#endif

#endif
