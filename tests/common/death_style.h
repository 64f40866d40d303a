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

#if COROLINK_TEST_EMULATED
#define COROLINK_TEST_THREADSAFE_DEATH() ((void)0)
#else
#define COROLINK_TEST_THREADSAFE_DEATH()                                       \
    GTEST_FLAG_SET(death_test_style, "threadsafe")
#endif

#endif
