// main() of the backtrace test programs. Besides running the tests, it can
// run one scenario in a child mode (`PROGRAM --bt-child ...`), started by a
// test that needs main() directly below the scenario: the system's gtest is
// built without frame pointers, so a frame-pointer walk cannot cross its
// frames.
#include <cstdio>
#include <cstring>

#include "common.hpp"

int main(int argc, char **argv) {
    if (argc >= 2 && std::strcmp(argv[1], "--bt-child") == 0 &&
        btest::child_main_hook != nullptr) {
        int rc = btest::child_main_hook(argc, argv);
        std::fflush(nullptr); // after the call: main stays on the stack
        return rc;
    }
    ::testing::InitGoogleTest(&argc, argv);
    int rc = RUN_ALL_TESTS();
    std::fflush(nullptr); // after the call: main stays on the stack
    return rc;
}
