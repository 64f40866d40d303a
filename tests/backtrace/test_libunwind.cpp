// Linked backtraces seen by libunwind: unw_backtrace() (its fast tracer)
// and an unw_getcontext/unw_init_local/unw_step loop (its DWARF stepper).
//
// unw_backtrace() quietly falls back to the DWARF stepper when its fast
// tracer cannot follow a frame. unw_backtrace() calls unw_init_local()
// (_ULx86_64_init_local, _ULaarch64_init_local: through libunwind's PLT on
// both targets) once to start the fast tracer and a second time only to
// start that fallback, so this program interposes that symbol with a
// transparent counter to assert that the fast tracer did the whole walk
// itself.
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
    EXPECT_FALSE(g_fast_fell_back);
    Names names = symbolize_return_addresses(pcs);
    EXPECT_NE(std::find(names.begin(), names.end(), "main"), names.end())
        << join(names);
}

class LibunwindFast : public ::testing::TestWithParam<std::string> {};

TEST_P(LibunwindFast, LeadsToResumerAndMain) {
    g_fast_fell_back = false;
    check_in_process(GetParam(), capture_unw_backtrace);
    EXPECT_FALSE(g_fast_fell_back)
        << "unw_backtrace's fast tracer gave up and fell back to unw_step";
}
INSTANTIATE_TEST_SUITE_P(All, LibunwindFast,
                         ::testing::ValuesIn(scenario_names()), param_name);

class LibunwindDwarf : public ::testing::TestWithParam<std::string> {};

TEST_P(LibunwindDwarf, LeadsToResumerAndMain) {
    g_step_error = 0;
    check_in_process(GetParam(), capture_unw_step);
    EXPECT_EQ(g_step_error, 0) << "unw_step failed";
}
INSTANTIATE_TEST_SUITE_P(All, LibunwindDwarf,
                         ::testing::ValuesIn(scenario_names()), param_name);

} // namespace
