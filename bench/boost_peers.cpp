// Boost.Context peers: the raw fcontext API (make_fcontext/jump_fcontext)
// and boost::context::fiber.
#include "bench.h"

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>

#include <memory>
#include <utility>

namespace bctx = boost::context;
namespace fc = boost::context::detail;

namespace {

void *as_ptr(std::uintptr_t v) { return reinterpret_cast<void *>(v); }
std::uintptr_t as_int(void *p) { return reinterpret_cast<std::uintptr_t>(p); }

// Jumps back forever, replying data + 1 to every jump into it.
void fcontext_echo(fc::transfer_t t) {
    for (;;)
        t = fc::jump_fcontext(t.fctx, as_ptr(clbench::expected_reply(as_int(t.data))));
}

// Replies data + 1 once and is never resumed again: its stack is simply
// reused by the next make_fcontext (a context function must not return).
void fcontext_return(fc::transfer_t t) {
    fc::jump_fcontext(t.fctx, as_ptr(clbench::expected_reply(as_int(t.data))));
    __builtin_trap();
}

} // namespace

namespace clbench {

// A jump_fcontext into the context and one back: two jump_fcontext calls.
void switch_boost_fcontext(benchmark::State &state) {
    MappedStack stack(kSmallStack);
    if (!stack.ok()) {
        state.SkipWithError("mmap failed");
        return;
    }
    fc::fcontext_t ctx = fc::make_fcontext(stack.top(), stack.usable(), fcontext_echo);
    fc::transfer_t t = fc::jump_fcontext(ctx, as_ptr(0));
    ctx = t.fctx;
    bool ok = as_int(t.data) == expected_reply(0);
    std::uintptr_t i = 0;
    if (ok) {
        for (auto _ : state) {
            ++i;
            t = fc::jump_fcontext(ctx, as_ptr(i));
            ctx = t.fctx;
            benchmark::DoNotOptimize(t.data);
            if (__builtin_expect(as_int(t.data) != expected_reply(i), 0)) {
                ok = false;
                break;
            }
        }
    }
    // The context stays suspended in its loop; nothing on its stack needs
    // cleaning up, so the stack is just unmapped.
    if (!ok)
        state.SkipWithError("jump_fcontext passed a wrong value");
}

// make_fcontext on a stack mapped once, one jump in and one back.
void call_boost_fcontext(benchmark::State &state) {
    MappedStack stack(kSmallStack);
    if (!stack.ok()) {
        state.SkipWithError("mmap failed");
        return;
    }
    auto call = [&stack](std::uintptr_t input) {
        fc::fcontext_t ctx =
            fc::make_fcontext(stack.top(), stack.usable(), fcontext_return);
        fc::transfer_t t = fc::jump_fcontext(ctx, as_ptr(input));
        benchmark::DoNotOptimize(t.data);
        return as_int(t.data) == expected_reply(input);
    };
    bool ok = run_checked(state, call);
    if (!ok)
        state.SkipWithError("fcontext call passed a wrong value");
}

// boost::context::fiber: `f = std::move(f).resume()` into a fiber that
// resumes its caller in a loop. Fibers carry no value, so the value goes
// both ways through a shared variable.
void switch_boost_fiber(benchmark::State &state) {
    std::uintptr_t value = 0;
    bool stop = false;
    bctx::fiber f{std::allocator_arg, bctx::fixedsize_stack(kSmallStack),
                  [&value, &stop](bctx::fiber &&caller) {
                      while (!stop) {
                          value = expected_reply(value);
                          caller = std::move(caller).resume();
                      }
                      return std::move(caller);
                  }};
    value = 0;
    f = std::move(f).resume();
    bool ok = bool(f) && value == expected_reply(0);
    std::uintptr_t i = 0;
    if (ok) {
        for (auto _ : state) {
            value = ++i;
            f = std::move(f).resume();
            benchmark::DoNotOptimize(value);
            if (__builtin_expect(value != expected_reply(i), 0)) {
                ok = false;
                break;
            }
        }
    }
    // Let the fiber return (its stack is freed by Boost).
    stop = true;
    if (f)
        f = std::move(f).resume();
    if (!ok || f)
        state.SkipWithError("boost fiber passed a wrong value or did not finish");
}

// A fiber on a stack from one pooled_fixedsize_stack (shared by all
// iterations), resumed once, runs to completion.
void crd_boost_fiber(benchmark::State &state) {
    bctx::pooled_fixedsize_stack pool(kDefaultStack);
    std::uintptr_t value = 0;
    auto run = [&pool, &value](std::uintptr_t input) {
        value = input;
        bctx::fiber f{std::allocator_arg, pool, [&value](bctx::fiber &&caller) {
                          value = expected_reply(value);
                          return std::move(caller);
                      }};
        f = std::move(f).resume();
        benchmark::DoNotOptimize(value);
        // A fiber whose function returned comes back empty.
        return !f && value == expected_reply(input);
    };
    // The first run, untimed, is the warm-up: the pool allocates its first
    // block.
    bool ok = run_checked(state, run);
    if (!ok)
        state.SkipWithError("boost fiber passed a wrong value or did not finish");
}

} // namespace clbench
