// Linked backtraces seen by libunwind: unw_backtrace() (its fast tracer)
// and an unw_getcontext/unw_init_local/unw_step loop (its DWARF stepper).
//
// unw_backtrace() quietly falls back to the DWARF stepper when its fast
// tracer cannot follow a frame. unw_backtrace() calls unw_init_local()
// (_ULx86_64_init_local, _ULaarch64_init_local: through libunwind's PLT on
// both targets) once to start the fast tracer and a second time only to
// start that fallback, so this program interposes that symbol with a
// transparent counter to assert when the fast tracer did the whole walk
// itself: on x86-64 always; on AArch64 never past a coroutine's root (see
// kFastTracerStopsAtRoot).
//
// Two limits of libunwind on AArch64, both libunwind's (our rows are
// right: libgcc, gdb and libdw follow them), asserted as such below:
//  - its fast tracer (src/aarch64/Gtrace.c, tdep_stash_frame) only caches
//    frames whose CFA is sp or x29 plus a constant (and the kernel's
//    sigreturn trampoline, recognised by its instructions); it gives up
//    (-UNW_ESTOPUNWIND) on corolink__trampoline, whose CFA is a DWARF
//    expression (co->link_sp), and unw_backtrace() redoes the walk with
//    unw_step(), which follows the rows. x86-64's tracer recognises the
//    trampoline's rows as its "realigned stack" pattern; AArch64's has no
//    such pattern.
//  - before 1.7 (Debian 12 has 1.6.2) it does not know
//    DW_CFA_AARCH64_negate_ra_state (0x2d, the rows' "x30 is signed" flip
//    of -mbranch-protection=pac-ret/standard; libunwind pull request 360
//    added it after 1.6.2): unw_step() fails to parse the FDE of every
//    frame that signs its return address, falls back to "the return
//    address is in x30" and reads it where the frame's own pc was found,
//    so that frame comes out twice, and the walk ends. The library is
//    built with -mbranch-protection=standard: every frame of it that
//    calls out signs (corolink__call_on, corolink_on_stack,
//    corolink_on_parent_stack, the out-of-line corolink_resume and
//    corolink_suspend), except corolink__trampoline, which never stores
//    x30 on a stack. Walks that cross such a frame are checked up to it,
//    and the test is skipped with the reason (kStopsAtSignedFrames).
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "common.hpp"

using namespace btest;

// libunwind.h maps unw_init_local to the target's name (_ULx86_64_init_local,
// ...): defining it here defines that symbol, which the executable exports
// because libunwind.so refers to it, so libunwind's own calls come here.
#define CL_STR2(x) #x
#define CL_STR(x) CL_STR2(x)

namespace {
using init_local_fn = int (*)(unw_cursor_t *, unw_context_t *);
init_local_fn g_real_init_local;
unsigned long g_init_local_calls;
} // namespace

extern "C" int unw_init_local(unw_cursor_t *cursor, unw_context_t *uc) {
    __atomic_fetch_add(&g_init_local_calls, 1, __ATOMIC_RELAXED);
    return g_real_init_local(cursor, uc);
}

namespace {

constexpr int kMaxFrames = 256;

#if defined(__aarch64__)
constexpr bool kFastTracerStopsAtRoot = true;
#else
constexpr bool kFastTracerStopsAtRoot = false;
#endif

// libunwind has no fast tracer for 32-bit x86 or ARM32 (its tdep_trace
// exists for x86-64 and AArch64 only): there unw_backtrace() always steps with
// unw_step(), on every stack (the control below sees it fall back on an
// ordinary one), and the fast-tracer suites check that path's walks.
#if defined(__i386__) || defined(__arm__)
constexpr bool kNoFastTracer = true;
#else
constexpr bool kNoFastTracer = false;
#endif

// COROLINK_BT_LIB_PAC: the library was built with -mbranch-protection
// (CMake passes COROLINK_HAVE_BRANCH_PROTECTION).
#if defined(__aarch64__) && COROLINK_BT_LIB_PAC &&                            \
    (UNW_VERSION_MAJOR < 1 || (UNW_VERSION_MAJOR == 1 && UNW_VERSION_MINOR < 7))
constexpr bool kStopsAtSignedFrames = true;
#else
constexpr bool kStopsAtSignedFrames = false;
#endif

// A frame of the library that signs its return address: every named one
// but the trampoline (see the top of this file).
bool signs_return_address(const std::string &name) {
    // (corolink__ontop, as the trampoline, never stores x30 on a stack:
    // its saved return address is the plain one it made up.)
    return name.rfind("corolink", 0) == 0 && name != kTrampoline &&
           name != kOntop;
}

bool counted(const std::string &name) {
    return name.rfind("bt_", 0) == 0 || name == kTrampoline ||
           name == kCallOn || name == kOntop;
}

std::string hex_pcs(const std::vector<std::uintptr_t> &pcs) {
    std::string out;
    char buf[32];
    for (std::uintptr_t pc : pcs) {
        std::snprintf(buf, sizeof buf, " %#lx", static_cast<unsigned long>(pc));
        out += buf;
    }
    return out;
}

// libunwind < 1.7 on AArch64 with the library signing: from bt_point up to
// the first signing frame of the library the frames are the expected ones
// (a prefix of them), that frame comes out twice (same pc) and the walk
// ends there.
::testing::AssertionResult matches_up_to_signed_frame(
    const std::vector<std::uintptr_t> &pcs, const Names &names,
    size_t signed_at, const Names &expected) {
    auto fail = [&](const std::string &why) {
        return ::testing::AssertionFailure()
               << why << "\n  expected a prefix of:" << join(expected)
               << "\n  backtrace:" << join(names);
    };
    auto first = std::find(names.begin(), names.end(), "bt_point");
    if (first == names.end() ||
        static_cast<size_t>(first - names.begin()) > signed_at)
        return fail("bt_point is not before " + names[signed_at]);
    Names seen;
    for (auto it = first; it != names.begin() + signed_at + 1; ++it) {
        if (*it == "??")
            return fail("an unnamed frame lies before " + names[signed_at]);
        if (counted(*it))
            seen.push_back(*it);
    }
    if (seen.size() > expected.size() ||
        !std::equal(seen.begin(), seen.end(), expected.begin()))
        return fail("the frames from bt_point to " + names[signed_at] +
                    " are not the expected ones");
    // unw_step() gives the same pc again; unw_backtrace()'s fast tracer
    // (which records return address - 1) gave one a byte lower with
    // 1.6.2: the same function either way.
    if (pcs.size() != signed_at + 2 || names[signed_at + 1] != names[signed_at])
        return fail(names[signed_at] +
                    " does not come out twice at the end (libunwind 1.6's "
                    "x30 fallback): pcs" + hex_pcs(pcs));
    return ::testing::AssertionSuccess();
}

// check_in_process(), except that where libunwind stops at a signing
// frame of the library the walk is checked up to it. Returns the first
// such frame's name ("" if every walk was checked whole).
std::string check_walks(const std::string &scenario, CaptureFn capture) {
    if (!kStopsAtSignedFrames) {
        check_in_process(scenario, capture);
        return "";
    }
    const Expected &e = expectation(scenario);
    auto captures = run_with_capture(scenario, capture);
    std::string stopped_at;
    for (size_t i = 0; i < captures.size() && i < e.points.size(); i++) {
        Names names = symbolize_return_addresses(captures[i]);
        auto s = std::find_if(names.begin(), names.end(),
                              signs_return_address);
        if (s == names.end()) {
            EXPECT_TRUE(frames_match(names, e.points[i], e.absent[i]))
                << "scenario " << scenario << ", point " << i;
            continue;
        }
        EXPECT_TRUE(matches_up_to_signed_frame(
            captures[i], names, static_cast<size_t>(s - names.begin()),
            e.points[i]))
            << "scenario " << scenario << ", point " << i;
        if (stopped_at.empty())
            stopped_at = *s;
    }
    return stopped_at;
}

bool has_coroutine_root(const std::string &scenario) {
    for (const Names &point : expectation(scenario).points)
        if (std::find(point.begin(), point.end(), kTrampoline) != point.end())
            return true;
    return false;
}

std::string signed_frame_reason(const std::string &frame) {
    return "libunwind " CL_STR(UNW_VERSION_MAJOR) "." CL_STR(
               UNW_VERSION_MINOR) " does not know "
           "DW_CFA_AARCH64_negate_ra_state (1.7 does): it cannot step "
           "out of " +
           frame +
           ", which signs its return address (the library is built with "
           "-mbranch-protection=standard); the walk was checked up to it";
}

__attribute__((constructor)) void find_real_init_local() {
    g_real_init_local = reinterpret_cast<init_local_fn>(
        dlsym(RTLD_NEXT, CL_STR(unw_init_local)));
    if (g_real_init_local == nullptr) {
        std::fprintf(stderr, "libunwind's %s not found\n",
                     CL_STR(unw_init_local));
        std::abort();
    }
}

bool g_fast_fell_back;

extern "C" __attribute__((noinline)) void capture_unw_backtrace(
    std::vector<std::uintptr_t> &pcs) {
    void *buf[kMaxFrames];
    unsigned long before =
        __atomic_load_n(&g_init_local_calls, __ATOMIC_RELAXED);
    int n = unw_backtrace(buf, kMaxFrames);
    if (__atomic_load_n(&g_init_local_calls, __ATOMIC_RELAXED) != before + 1)
        g_fast_fell_back = true;
    for (int i = 0; i < n; i++)
        pcs.push_back(reinterpret_cast<std::uintptr_t>(buf[i]));
}

int g_step_error;

extern "C" __attribute__((noinline)) void capture_unw_step(
    std::vector<std::uintptr_t> &pcs) {
    unw_context_t uc;
    unw_cursor_t cursor;
    if (unw_getcontext(&uc) != 0 || unw_init_local(&cursor, &uc) != 0) {
        g_step_error = -1000;
        return;
    }
    for (;;) {
        unw_word_t ip = 0;
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0 || ip == 0)
            break;
        pcs.push_back(static_cast<std::uintptr_t>(ip));
        if (pcs.size() >= static_cast<size_t>(kMaxFrames))
            break;
        int rc = unw_step(&cursor);
        if (rc < 0)
            g_step_error = rc;
        if (rc <= 0)
            break;
    }
}

// The counter works, and the fast tracer does not fall back on an ordinary
// stack (so that a fallback inside a coroutine means the coroutine).
TEST(LibunwindFastControl, NoFallbackWithoutCoroutines) {
    unsigned long before = g_init_local_calls;
    unw_context_t uc;
    unw_cursor_t cursor;
    ASSERT_EQ(unw_getcontext(&uc), 0);
    ASSERT_EQ(unw_init_local(&cursor, &uc), 0);
    EXPECT_EQ(g_init_local_calls, before + 1);
    g_fast_fell_back = false;
    std::vector<std::uintptr_t> pcs;
    capture_unw_backtrace(pcs);
    EXPECT_EQ(g_fast_fell_back, kNoFastTracer);
    Names names = symbolize_return_addresses(pcs);
    EXPECT_NE(std::find(names.begin(), names.end(), "main"), names.end())
        << join(names);
}

class LibunwindFast : public ::testing::TestWithParam<std::string> {};

TEST_P(LibunwindFast, LeadsToResumerAndMain) {
    g_fast_fell_back = false;
    std::string stopped_at = check_walks(GetParam(), capture_unw_backtrace);
    if (!stopped_at.empty())
        GTEST_SKIP() << signed_frame_reason(stopped_at);
    if (kNoFastTracer)
        EXPECT_TRUE(g_fast_fell_back) << "kNoFastTracer is out of date";
    else if (kFastTracerStopsAtRoot && has_coroutine_root(GetParam()))
        EXPECT_TRUE(g_fast_fell_back)
            << "libunwind's AArch64 fast tracer followed "
               "corolink__trampoline's CFA expression (1.6.2 gives up on "
               "every CFA but sp or x29 plus a constant): "
               "kFastTracerStopsAtRoot is out of date";
    else
        EXPECT_FALSE(g_fast_fell_back)
            << "unw_backtrace's fast tracer gave up and fell back to "
               "unw_step";
}
INSTANTIATE_TEST_SUITE_P(All, LibunwindFast,
                         ::testing::ValuesIn(scenario_names()), param_name);

class LibunwindDwarf : public ::testing::TestWithParam<std::string> {};

TEST_P(LibunwindDwarf, LeadsToResumerAndMain) {
    g_step_error = 0;
    std::string stopped_at = check_walks(GetParam(), capture_unw_step);
    EXPECT_EQ(g_step_error, 0) << "unw_step failed";
    if (!stopped_at.empty())
        GTEST_SKIP() << signed_frame_reason(stopped_at);
}
INSTANTIATE_TEST_SUITE_P(All, LibunwindDwarf,
                         ::testing::ValuesIn(scenario_names()), param_name);

} // namespace
