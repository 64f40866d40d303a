// The model crate's first example with the C++ API (include/corolink.hpp):
// a coroutine that yields values to main and takes a new value on each
// resume. Its output is exactly the model's (generator.expected, shared
// with generator.c).
#include <corolink.hpp>

#include <cstdio>

int main() {
    std::printf("[main] creating coroutine\n");

    corolink_cpp::coroutine<int, int, void> coroutine(
        [](corolink_cpp::yielder<int, int> &yielder, int input) {
            std::printf("[coroutine] coroutine started with input %d\n", input);
            for (int i = 0; i < 5; i++) {
                std::printf("[coroutine] yielding %d\n", i);
                int next = yielder.suspend(i);
                std::printf("[coroutine] got %d from parent\n", next);
            }
            std::printf("[coroutine] exiting coroutine\n");
        });

    int counter = 100;
    for (;;) {
        std::printf("[main] resuming coroutine with argument %d\n", counter);
        auto result = coroutine.resume(counter);
        if (result.is_return())
            break;
        std::printf("[main] got %d from coroutine\n", result.yield_value());
        counter += 1;
    }

    std::printf("[main] exiting\n");
    return 0;
}
