#include <gtest/gtest.h>

extern "C" int redzone_check(void);

TEST(RedZone, ResumersAreNeverLeaves) { EXPECT_EQ(redzone_check(), 0); }
