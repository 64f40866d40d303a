// glibc ucontext peers: makecontext + swapcontext.
#include "bench.h"

#include <ucontext.h>

namespace {

// makecontext passes only int arguments: the state is reached through a
// global (the benchmarks run on one thread).
struct UcPair {
    ucontext_t caller;
    ucontext_t co;
    std::uintptr_t value;
};
UcPair *g_pair;

// Swaps back forever, replying value + 1.
void ucontext_echo() {
    for (;;) {
        g_pair->value = clbench::expected_reply(g_pair->value);
        swapcontext(&g_pair->co, &g_pair->caller);
    }
}

// Replies value + 1 and returns: glibc then continues at uc_link.
void ucontext_return() { g_pair->value = clbench::expected_reply(g_pair->value); }

// Readies pair.co to run on `stack`, continuing at `link` when its function
// returns; false (and the benchmark skipped) if the stack or getcontext
// failed.
bool prepare(benchmark::State &state, const clbench::MappedStack &stack,
             UcPair &pair, ucontext_t *link) {
    if (!stack.ok() || getcontext(&pair.co) != 0) {
        state.SkipWithError("mmap or getcontext failed");
        return false;
    }
    pair.co.uc_stack.ss_sp = stack.limit();
    pair.co.uc_stack.ss_size = stack.usable();
    pair.co.uc_link = link;
    return true;
}

} // namespace

namespace clbench {

// swapcontext into the context and one back.
void switch_ucontext(benchmark::State &state) {
    MappedStack stack(kSmallStack);
    UcPair pair{};
    if (!prepare(state, stack, pair, nullptr))
        return;
    makecontext(&pair.co, ucontext_echo, 0);
    g_pair = &pair;
    pair.value = 0;
    bool ok = swapcontext(&pair.caller, &pair.co) == 0 && pair.value == expected_reply(0);
    std::uintptr_t i = 0;
    if (ok) {
        for (auto _ : state) {
            pair.value = ++i;
            swapcontext(&pair.caller, &pair.co);
            benchmark::DoNotOptimize(pair.value);
            if (__builtin_expect(pair.value != expected_reply(i), 0)) {
                ok = false;
                break;
            }
        }
    }
    g_pair = nullptr;
    if (!ok)
        state.SkipWithError("swapcontext passed a wrong value");
}

// makecontext on a stack mapped once, swapcontext in, the function returns
// through uc_link.
void call_ucontext(benchmark::State &state) {
    MappedStack stack(kSmallStack);
    UcPair pair{};
    if (!prepare(state, stack, pair, &pair.caller))
        return;
    g_pair = &pair;
    auto call = [&pair](std::uintptr_t input) {
        pair.value = input;
        makecontext(&pair.co, ucontext_return, 0);
        swapcontext(&pair.caller, &pair.co);
        benchmark::DoNotOptimize(pair.value);
        return pair.value == expected_reply(input);
    };
    bool ok = run_checked(state, call);
    g_pair = nullptr;
    if (!ok)
        state.SkipWithError("makecontext/swapcontext passed a wrong value");
}

} // namespace clbench
