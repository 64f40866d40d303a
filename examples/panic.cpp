// The model crate's panic example with the C++ API: an exception thrown in
// the coroutine unwinds its stack and comes out of the resume() that
// resumed it, where main catches it; the coroutine is then finished.
//
// Output (panic.expected): the model's lines, except the two that Rust's
// runtime prints when the panic starts ("thread 'main' panicked at
// 'foobar', examples/panic.rs:13:9" and "note: run with `RUST_BACKTRACE=1`
// ..."). C++ prints nothing when an exception is thrown; in their place
// main prints the caught exception's type and message.
#include <corolink.hpp>

#include <cstdio>
#include <stdexcept>

int main() {
    std::printf("[main] creating coroutine\n");

    corolink_cpp::coroutine<void, int, void> coroutine(
        [](corolink_cpp::yielder<void, int> &yielder) {
            std::printf("[coroutine] yielding 42\n");
            yielder.suspend(42);

            std::printf("[coroutine] panicking\n");
            throw std::runtime_error("foobar");
        });

    std::printf("[main] resuming coroutine\n");
    auto result = coroutine.resume();
    std::printf("[main] got value %d from coroutine\n", result.yield_value());

    std::printf("[main] resuming coroutine\n");
    try {
        coroutine.resume();
        std::printf("[main] no exception?\n");
        return 1;
    } catch (const std::runtime_error &e) {
        std::printf("std::runtime_error thrown in the coroutine: %s\n", e.what());
        std::printf("[main] caught panic \"%s\" from coroutine\n", e.what());
    }
    if (!coroutine.done())
        return 1;

    std::printf("[main] exiting\n");
    return 0;
}
