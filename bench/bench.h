// Shared declarations of corolink_bench: the benchmark functions (one per
// measurement group and implementation, defined in the other bench/*.cpp
// files and registered by main.cpp) and a helper that maps stacks for the
// peers.
#ifndef COROLINK_BENCH_H
#define COROLINK_BENCH_H

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>

namespace clbench {

// Every benchmark passes a counter into the coroutine and expects the
// coroutine to hand back counter + 1, so that a switch that loses or
// mixes up values is noticed. Each benchmark checks this on every
// iteration (a predictable branch) and reports a mismatch with
// State::SkipWithError, which main() turns into a failing exit code.
inline std::uintptr_t expected_reply(std::uintptr_t input) { return input + 1; }

// The loop of the benchmarks that start something and run it to completion:
// once outside the timed loop (warm-up and first check), then once per
// iteration, each time with the next counter. `run(input)` says whether the
// reply was right; false at the first wrong one (the caller then reports it
// with SkipWithError).
template <class Run> bool run_checked(benchmark::State &state, Run run) {
    if (!run(0))
        return false;
    std::uintptr_t i = 0;
    for (auto _ : state)
        if (__builtin_expect(!run(++i), 0))
            return false;
    return true;
}

// Stack size of the coroutines whose stack is created once per benchmark
// run (switch and call groups), for every implementation alike.
constexpr std::size_t kSmallStack = 64 * 1024;

// Stack size of the create+run+destroy group: corolink's default
// (COROLINK_STACK_DEFAULT_SIZE), used for the Boost pool as well.
constexpr std::size_t kDefaultStack = 256 * 1024;

// An mmap'd stack with one PROT_NONE guard page below it, for the peers
// (corolink's own benchmarks use corolink_stack_alloc()).
class MappedStack {
  public:
    explicit MappedStack(std::size_t usable);
    ~MappedStack();
    MappedStack(const MappedStack &) = delete;
    MappedStack &operator=(const MappedStack &) = delete;

    bool ok() const { return base_ != nullptr; }
    void *limit() const { return static_cast<char *>(base_) + guard_; }
    void *top() const { return static_cast<char *>(base_) + guard_ + usable_; }
    std::size_t usable() const { return usable_; }

  private:
    void *base_ = nullptr; // start of the mapping (the guard page)
    std::size_t guard_ = 0;
    std::size_t usable_ = 0;
};

// ---- group "switch": one resume + suspend round trip, a value each way ----
void switch_corolink(benchmark::State &state);            // corolink_inline.cpp
void switch_corolink_outofline(benchmark::State &state);  // corolink_outofline.cpp
void switch_corolink_timestamps(benchmark::State &state); // corolink_inline.cpp
void switch_corolink_cpp(benchmark::State &state);        // corolink_cpp.cpp
void switch_boost_fcontext(benchmark::State &state);      // boost_peers.cpp
void switch_boost_fiber(benchmark::State &state);         // boost_peers.cpp
void switch_ucontext(benchmark::State &state);            // ucontext_peers.cpp

// ---- group "call": start a coroutine on a reused stack, run it to its end ----
void call_corolink(benchmark::State &state);              // corolink_inline.cpp
void call_corolink_cpp(benchmark::State &state);          // corolink_cpp.cpp
void call_boost_fcontext(benchmark::State &state);        // boost_peers.cpp
void call_ucontext(benchmark::State &state);              // ucontext_peers.cpp

// ---- group "create+run+destroy": default stacks from a pool ----
void crd_corolink(benchmark::State &state);               // corolink_inline.cpp
void crd_corolink_cpp(benchmark::State &state);           // corolink_cpp.cpp
void crd_boost_fiber(benchmark::State &state);            // boost_peers.cpp

} // namespace clbench

#endif
