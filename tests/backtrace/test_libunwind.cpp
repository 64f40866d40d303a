// Linked backtraces seen by libunwind: unw_backtrace() (its fast tracer)
// and an unw_getcontext/unw_init_local/unw_step loop (its DWARF stepper).
//
// unw_backtrace() quietly falls back to the DWARF stepper when its fast
// tracer cannot follow a frame. The fallback is the only caller of
// unw_getcontext() (_Ux86_64_getcontext, called through libunwind's PLT)
// inside unw_backtrace(), so this program interposes that symbol with a
// transparent counter (a jump to the real function) to assert that the
// fast tracer did the whole walk itself.
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "common.hpp"

using namespace btest;

extern "C" {
void *corolink_bt_real_getcontext;
unsigned long corolink_bt_getcontext_calls;
}

// Same registers, same stack, same return address: the real function
// records the caller's context exactly as if called directly.
__asm__(".text\n"
        ".globl _Ux86_64_getcontext\n"
        ".type _Ux86_64_getcontext, @function\n"
        ".p2align 4\n"
        "_Ux86_64_getcontext:\n"
        "    .cfi_startproc\n"
        "    lock incq corolink_bt_getcontext_calls(%rip)\n"
        "    jmp *corolink_bt_real_getcontext(%rip)\n"
        "    .cfi_endproc\n"
        ".size _Ux86_64_getcontext, .-_Ux86_64_getcontext\n");

namespace {

constexpr int kMaxFrames = 256;

__attribute__((constructor)) void find_real_getcontext() {
    corolink_bt_real_getcontext = dlsym(RTLD_NEXT, "_Ux86_64_getcontext");
    if (corolink_bt_real_getcontext == nullptr) {
        std::fprintf(stderr, "libunwind's _Ux86_64_getcontext not found\n");
        std::abort();
    }
}

bool g_fast_fell_back;

extern "C" __attribute__((noinline)) void capture_unw_backtrace(
    std::vector<std::uintptr_t> &pcs) {
    void *buf[kMaxFrames];
    unsigned long before = __atomic_load_n(&corolink_bt_getcontext_calls,
                                           __ATOMIC_RELAXED);
    int n = unw_backtrace(buf, kMaxFrames);
    if (__atomic_load_n(&corolink_bt_getcontext_calls, __ATOMIC_RELAXED) !=
        before)
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
    unsigned long before = corolink_bt_getcontext_calls;
    unw_context_t uc;
    ASSERT_EQ(unw_getcontext(&uc), 0);
    EXPECT_EQ(corolink_bt_getcontext_calls, before + 1);
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
