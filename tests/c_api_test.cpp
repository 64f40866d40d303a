// The C API digest must be the same through the inline switch and through
// the library's out-of-line functions.
#include <gtest/gtest.h>

#include <cstdint>

extern "C" int64_t c_api_digest_inline(void);
extern "C" int64_t c_api_digest_outofline(void);
#if defined(__x86_64__)
extern "C" int64_t c_api_digest_intel(void); // built with -masm=intel
#endif

namespace {

int64_t expected_digest() {
    // Yields 3*2, 4*2, 5*2, 6*2; returns 7 + 1000; the body ran 4 times.
    int64_t d = 0;
    for (int64_t v : {6, 8, 10, 12, 1007, 4})
        d = d * 31 + v;
    return d;
}

TEST(CApi, InlineSwitch) { EXPECT_EQ(c_api_digest_inline(), expected_digest()); }

#if defined(__x86_64__)
TEST(CApi, InlineSwitchBuiltWithIntelSyntax) {
    EXPECT_EQ(c_api_digest_intel(), expected_digest());
}
#endif

TEST(CApi, OutOfLineFunctions) {
    EXPECT_EQ(c_api_digest_outofline(), expected_digest());
}

} // namespace
