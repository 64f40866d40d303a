// corolink with the default inline switch of corolink.h: the switch, call
// and create+run+destroy benchmarks.
#include "corolink_switch_impl.h"

#if !defined(COROLINK__INLINE)
#error "corolink_inline.cpp must be built with corolink.h's inline switch"
#endif

namespace {

// Returns at once, replying input + 1.
void *return_body(corolink_yielder *, void *input, void *) {
    return reinterpret_cast<void *>(
        clbench::expected_reply(reinterpret_cast<std::uintptr_t>(input)));
}

// One create (by `create`), run to completion, destroy; true if the body
// ran and replied as expected.
template <typename Create>
inline bool create_run_destroy(Create &&create, std::uintptr_t input) {
    corolink *co = nullptr;
    if (__builtin_expect(create(&co) != 0, 0))
        return false;
    void *out = nullptr;
    int rc = corolink_resume(co, reinterpret_cast<void *>(input), &out);
    corolink_destroy(co);
    benchmark::DoNotOptimize(out);
    return rc == COROLINK_RETURN &&
           reinterpret_cast<std::uintptr_t>(out) == clbench::expected_reply(input);
}

} // namespace

namespace clbench {

void switch_corolink(benchmark::State &state) { run_switch_benchmark(state); }

// The same with suspend timestamps on (corolink_debug_timestamps()): every
// suspend reads CLOCK_MONOTONIC for debuggers.
void switch_corolink_timestamps(benchmark::State &state) {
    corolink_debug_timestamps(true);
    run_switch_benchmark(state);
    corolink_debug_timestamps(false);
}

// corolink_create_on() on a stack allocated once, resume to completion,
// corolink_destroy() (which leaves the caller's stack alone).
void call_corolink(benchmark::State &state) {
    corolink_stack stack;
    int rc = corolink_stack_alloc(&stack, kSmallStack);
    if (rc != 0) {
        state.SkipWithError(corolink_strerror(rc));
        return;
    }
    auto create = [&stack](corolink **co) {
        return corolink_create_on(co, &stack, return_body, nullptr);
    };
    bool ok = run_checked(state, [&](std::uintptr_t input) {
        return create_run_destroy(create, input);
    });
    corolink_stack_free(&stack);
    if (!ok)
        state.SkipWithError("corolink call: create_on/resume/destroy failed "
                            "or passed a wrong value");
}

// corolink_create(&co, fn, arg, 0): a default-size stack from the
// per-thread pool; corolink_destroy() gives it back.
void crd_corolink(benchmark::State &state) {
    auto create = [](corolink **co) {
        return corolink_create(co, return_body, nullptr, 0);
    };
    // Warm-up: the first create maps a stack; later ones take it from the
    // pool.
    bool ok = run_checked(state, [&](std::uintptr_t input) {
        return create_run_destroy(create, input);
    });
    if (!ok)
        state.SkipWithError("corolink create/resume/destroy failed or passed "
                            "a wrong value");
}

} // namespace clbench
