// Shared by the backtrace suites: the frames each scenario must show,
// symbolization, and the comparison of a backtrace with its expectation.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "scenario.h"

namespace btest {

using Names = std::vector<std::string>;

// Names standing for the two assembly frames of the library. gdb prints
// both as "<signal handler called>" (they are marked as signal frames).
extern const char kTrampoline[]; // "corolink__trampoline"
extern const char kCallOn[];     // "corolink__call_on"
extern const char kOntop[];      // "corolink__ontop"
extern const char kGdbSignal[];  // "<signal handler called>"

struct Expected {
    std::string scenario;
    // Per bt_point() call: the frames from bt_point outwards to the
    // scenario's outermost function, counting only frames named bt_* and
    // the library's assembly frames. main must follow.
    std::vector<Names> points;
    // Per bt_point() call: functions that must not appear at all.
    std::vector<Names> absent;
    int order = 0;            // expected bt_order_observed (0: not checked)
    bool stack_check = false; // bt_stack_check must be 1
};

const std::vector<Expected> &expectations();
const Expected &expectation(const std::string &scenario);
const bt_scenario *find_scenario(const std::string &name);
std::vector<std::string> scenario_names();
// gtest parameter-name generator for scenario names.
std::string param_name(const ::testing::TestParamInfo<std::string> &info);

// The name of the function containing pc ("??" if none): dladdr's nearest
// exported symbol, accepted only if pc lies within its st_size.
std::string symbolize(std::uintptr_t pc);
// Symbolizes return addresses: each is looked up at pc - 1 (inside the call
// instruction), which is always within the calling function.
Names symbolize_return_addresses(const std::vector<std::uintptr_t> &pcs);

std::string join(const Names &names);

// Checks a backtrace (innermost first) against the expected frames of one
// bt_point(): from the first "bt_point", the frames named bt_* or
// corolink__trampoline/corolink__call_on (or gdb's "<signal handler
// called>" when `gdb` is set, which then stands for both) must be exactly
// `expected`, with no unnamed ("??") frame among them, then "main" must
// follow; no name in `absent` may appear.
// With BT_SHOW_FRAMES set in the environment, matching backtraces are
// printed too.
::testing::AssertionResult frames_match(const Names &frames,
                                        const Names &expected,
                                        const Names &absent, bool gdb = false);

// Runs a scenario in this process with a capture function installed at
// bt_point(); returns one list of captured pcs per bt_point() call. Checks
// the number of points and the scenario's observations (order, stack).
using CaptureFn = void (*)(std::vector<std::uintptr_t> &pcs);
std::vector<std::vector<std::uintptr_t>> run_with_capture(
    const std::string &scenario, CaptureFn capture);

// Checks the observations a scenario recorded (bt_order_observed,
// bt_stack_check) against its expectation.
void check_observations(const Expected &e, int order, int stack_check);

// Full in-process check: run_with_capture, symbolize, frames_match per
// point.
void check_in_process(const std::string &scenario, CaptureFn capture);

// Optional child modes of the test programs (see main.cpp): set by a suite
// that needs to run a scenario with nothing but main() below it.
using ChildMain = int (*)(int argc, char **argv);
extern ChildMain child_main_hook;

} // namespace btest
