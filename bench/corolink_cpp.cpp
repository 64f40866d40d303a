// corolink's C++ API (include/corolink.hpp): the switch, call and
// create+run+destroy benchmarks of corolink_inline.cpp, written with
// corolink_cpp::coroutine and a captureless lambda (which travels in the C
// API's `arg`: no eager start). Word-sized values, so the C++ layer should
// add nothing: bench/instruction_limits.txt holds these rows to the C rows'
// counts.
#include "bench.h"

#include <corolink.hpp>

namespace {

using Echo = corolink_cpp::coroutine<std::uintptr_t, std::uintptr_t, std::uintptr_t>;

// The input that ends the echo body.
constexpr std::uintptr_t kStop = ~std::uintptr_t{0};

// Replies input + 1 to every resume until it gets kStop.
std::uintptr_t echo(corolink_cpp::yielder<std::uintptr_t, std::uintptr_t> &y,
                    std::uintptr_t in) {
    while (in != kStop)
        in = y.suspend(clbench::expected_reply(in));
    return 0;
}

// Returns at once, replying input + 1.
std::uintptr_t reply(corolink_cpp::yielder<std::uintptr_t, std::uintptr_t> &,
                     std::uintptr_t in) {
    return clbench::expected_reply(in);
}

// One coroutine made by `make`, run to completion, destroyed; true if the
// body replied as expected.
template <class Make> inline bool make_run_destroy(Make &&make, std::uintptr_t input) {
    Echo co = make();
    auto r = co.resume(input);
    std::uintptr_t out = r.is_return() ? r.return_value() : 0;
    benchmark::DoNotOptimize(out);
    return r.is_return() && out == clbench::expected_reply(input);
}

// run_checked() for the make_run_destroy benchmarks; a corolink_cpp::error
// from the constructor or resume() ends the benchmark with its message.
template <class Make> void run_made(benchmark::State &state, Make make) {
    try {
        if (!clbench::run_checked(state, [&](std::uintptr_t input) {
                return make_run_destroy(make, input);
            }))
            state.SkipWithError("corolink C++: wrong value or status");
    } catch (const corolink_cpp::error &e) {
        state.SkipWithError(e.what());
    }
}

} // namespace

namespace clbench {

// The round trip: resume(i) -> suspend(i + 1).
void switch_corolink_cpp(benchmark::State &state) {
    try {
        corolink_cpp::stack stack(kSmallStack);
        Echo co([](auto &y, std::uintptr_t in) { return echo(y, in); }, stack);
        auto first = co.resume(0);
        bool ok = first.is_yield() && first.yield_value() == expected_reply(0);
        std::uintptr_t i = 0;
        if (ok) {
            for (auto _ : state) {
                ++i;
                auto r = co.resume(i);
                if (__builtin_expect(!r.is_yield(), 0)) {
                    ok = false;
                    break;
                }
                std::uintptr_t out = r.yield_value();
                benchmark::DoNotOptimize(out);
                if (__builtin_expect(out != expected_reply(i), 0)) {
                    ok = false;
                    break;
                }
            }
        }
        // Let the body return, so that destroying it unwinds nothing.
        if (!co.resume(kStop).is_return())
            ok = false;
        if (!ok)
            state.SkipWithError("corolink C++ switch passed a wrong value or status");
    } catch (const corolink_cpp::error &e) {
        state.SkipWithError(e.what());
    }
}

// Construction on a stack allocated once (corolink_create_on()), resume to
// completion, destruction.
void call_corolink_cpp(benchmark::State &state) {
    try {
        corolink_cpp::stack stack(kSmallStack);
        run_made(state, [&stack] {
            return Echo([](auto &y, std::uintptr_t in) { return reply(y, in); }, stack);
        });
    } catch (const corolink_cpp::error &e) {
        state.SkipWithError(e.what());
    }
}

// Construction with a default-size stack from the per-thread pool
// (corolink_create(..., 0)), resume to completion, destruction.
void crd_corolink_cpp(benchmark::State &state) {
    run_made(state, [] {
        return Echo([](auto &y, std::uintptr_t in) { return reply(y, in); });
    });
}

} // namespace clbench
