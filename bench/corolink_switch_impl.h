// The corolink switch benchmark, included by two translation units:
// corolink_inline.cpp (the default inline switch from corolink.h) and
// corolink_outofline.cpp (compiled with -DCOROLINK_NO_INLINE, so that
// corolink_resume()/corolink_suspend() are calls into the library). Each
// includes corolink.h first, the way its build selects; the code below is
// the same, only the switch underneath differs. Everything here has
// internal linkage, so each translation unit gets its own copy.
#ifndef COROLINK_BENCH_SWITCH_IMPL_H
#define COROLINK_BENCH_SWITCH_IMPL_H

#include "bench.h"

#include <corolink.h>

namespace {

// The input that ends switch_echo_body.
constexpr std::uintptr_t kStopEcho = ~std::uintptr_t{0};

// Replies input + 1 to every resume until it gets kStopEcho.
void *switch_echo_body(corolink_yielder *y, void *input, void *) {
    for (;;) {
        auto in = reinterpret_cast<std::uintptr_t>(input);
        if (in == kStopEcho)
            return nullptr;
        input = corolink_suspend(
            y, reinterpret_cast<void *>(clbench::expected_reply(in)));
    }
}

void run_switch_benchmark(benchmark::State &state) {
    corolink_stack stack;
    int rc = corolink_stack_alloc(&stack, clbench::kSmallStack);
    if (rc != 0) {
        state.SkipWithError(corolink_strerror(rc));
        return;
    }
    corolink *co = nullptr;
    rc = corolink_create_on(&co, &stack, switch_echo_body, nullptr);
    if (rc != 0) {
        corolink_stack_free(&stack);
        state.SkipWithError(corolink_strerror(rc));
        return;
    }
    // Start the body: it runs up to its first suspend.
    void *out = nullptr;
    rc = corolink_resume(co, nullptr, &out);
    bool ok = rc == COROLINK_YIELD &&
              reinterpret_cast<std::uintptr_t>(out) == clbench::expected_reply(0);

    std::uintptr_t i = 0;
    if (ok) {
        for (auto _ : state) {
            ++i;
            rc = corolink_resume(co, reinterpret_cast<void *>(i), &out);
            benchmark::DoNotOptimize(out);
            if (__builtin_expect(rc != COROLINK_YIELD ||
                                     reinterpret_cast<std::uintptr_t>(out) !=
                                         clbench::expected_reply(i),
                                 0)) {
                ok = false;
                break;
            }
        }
    }
    // Let the body return, so that destroying it unwinds nothing (builds
    // without the unwinder cannot destroy a suspended coroutine).
    if (corolink_resume(co, reinterpret_cast<void *>(kStopEcho), &out) !=
        COROLINK_RETURN)
        ok = false;
    corolink_destroy(co);
    corolink_stack_free(&stack);
    if (!ok)
        state.SkipWithError("corolink switch passed a wrong value or status");
}

} // namespace

#endif
