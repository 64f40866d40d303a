/*
 * Coroutine scenarios whose backtraces the suites check.
 *
 * Every scenario runs some coroutines and calls bt_point() at each point of
 * interest, deep inside a coroutine body (or inside a function run by
 * corolink_on_parent_stack()/corolink_on_stack()). bt_point() calls bt_hook
 * (when set), which takes the backtrace under test; a debugger sets a
 * breakpoint on bt_point instead.
 *
 * All functions named bt_* are global, never inlined, cloned or merged
 * (see BT_KEEP), and do work after each call so that no call is a tail
 * call: their frames are the ones the suites assert, by name, in order.
 * Nothing else in the test programs has a name starting with "bt_".
 */
#ifndef COROLINK_TESTS_BACKTRACE_SCENARIO_H
#define COROLINK_TESTS_BACKTRACE_SCENARIO_H

#include <corolink.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Keep the frame: no inlining, no cloning (which would rename the function
 * to a local "foo.constprop.0" that dladdr cannot see), no identical-code
 * folding (gcc -O2 -fipa-icf merges identical functions). */
#if defined(__clang__)
#define BT_KEEP __attribute__((noinline, used))
#else
#define BT_KEEP __attribute__((noipa, used))
#endif

/* Called by bt_point() with the index of the point within the current run
 * (0, 1, ... in the order the points are reached). */
typedef void (*bt_hook_fn)(int index);
extern bt_hook_fn bt_hook;
/* Number of bt_point() calls so far; reset to 0 before each run. */
extern int bt_point_count;

/* What the scenarios observed, for the suites to assert (reset to 0 before
 * a run):
 *  bt_order_observed: order scenarios: +1 when the inner coroutine's stack
 *    lay above (at higher addresses than) its resumer's stack, -1 below.
 *  bt_stack_check: on_stack/on_parent_stack scenarios: 1 when fn ran on the
 *    stack it should have (the resumer's / the given stack), -1 otherwise.
 */
extern int bt_order_observed;
extern int bt_stack_check;
/* Name of the scenario being run (read by gdb at each breakpoint). */
extern const char *bt_gdb_tag;
extern volatile long bt_sink;

/* The point of interest. */
void bt_point(void);

struct bt_scenario {
    const char *name; /* identifier: letters, digits, '_' */
    void (*run)(void);
    int points;       /* bt_point() calls per run */
};
extern const struct bt_scenario bt_scenarios[];
extern const int bt_scenario_count;

/* Runs one scenario: resets the counters above, sets bt_gdb_tag, runs it,
 * and returns the number of bt_point() calls it made. */
int bt_run_scenario(const struct bt_scenario *s);

/* Reached on an unexpected corolink result: prints and aborts. */
void bt_die(const char *what, int code);

#ifdef __cplusplus
}
#endif

#endif
