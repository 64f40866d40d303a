// Where corolink_create()'s stacks come from on Linux (src/slab.c): the
// modes of corolink_stack_mode(), what guards each kind of stack, slabs
// that cost a mapping per few hundred stacks, a program that used up most
// of its map count itself, and an overflow of a watched slab stack,
// reported at destroy naming the coroutine.
#include <corolink.h>

#include <gtest/gtest.h>

#include "../common/death_style.h"
#include "proc_self.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

// Does the kernel install guard pages (MADV_GUARD_INSTALL, Linux 6.13)?
// The library says so through the kind of a slab stack.
void *return_body(corolink_yielder *, void *in, void *) { return in; }

int slab_guard_kind() {
    int old = corolink_stack_mode(COROLINK_STACKS_SLAB);
    corolink_pool_trim(); // no pooled guarded stack in the way
    corolink *co = nullptr;
    int kind = -1;
    if (corolink_create(&co, return_body, nullptr, 0) == 0) {
        kind = corolink_stack_guard(co);
        corolink_destroy(co);
    }
    corolink_pool_trim();
    corolink_stack_mode(old);
    return kind;
}

// Restores the mode and empties the pool around each test, so that each
// gets stacks of the mode it sets.
class Stacks : public ::testing::Test {
  protected:
    void SetUp() override {
        mode_ = corolink_stack_mode(-1);
        corolink_pool_trim();
    }
    void TearDown() override {
        corolink_pool_trim();
        corolink_stack_mode(mode_);
    }
    int mode_ = 0;
};

TEST_F(Stacks, ModeIsSetAndRead) {
    EXPECT_EQ(corolink_stack_mode(-1), COROLINK_STACKS_AUTO); // the default
    EXPECT_EQ(corolink_stack_mode(COROLINK_STACKS_WATCHED), COROLINK_STACKS_AUTO);
    EXPECT_EQ(corolink_stack_mode(-1), COROLINK_STACKS_WATCHED);
    EXPECT_EQ(corolink_stack_mode(COROLINK_STACKS_GUARDED), COROLINK_STACKS_WATCHED);
    EXPECT_EQ(corolink_stack_mode(4), COROLINK_EINVAL);
    EXPECT_EQ(corolink_stack_mode(-2), COROLINK_EINVAL);
    EXPECT_EQ(corolink_stack_mode(-1), COROLINK_STACKS_GUARDED); // unchanged
    EXPECT_EQ(corolink_stack_guard(nullptr), COROLINK_EINVAL);
}

// The environment sets the mode at the first create; a bad value is named
// on stderr and auto is used.
TEST(StacksEnv, EnvironmentSetsTheMode) {
    COROLINK_TEST_THREADSAFE_DEATH();
    EXPECT_EXIT(
        {
            setenv("COROLINK_STACKS", "watched", 1);
            corolink *co = nullptr;
            if (corolink_create(&co, return_body, nullptr, 0) != 0)
                _exit(2);
            _exit(corolink_stack_guard(co) == COROLINK_GUARD_WATCHED &&
                          corolink_stack_mode(-1) == COROLINK_STACKS_WATCHED
                      ? 0
                      : 3);
        },
        ::testing::ExitedWithCode(0), "");
    EXPECT_EXIT(
        {
            setenv("COROLINK_STACKS", "bogus", 1);
            corolink *co = nullptr;
            if (corolink_create(&co, return_body, nullptr, 0) != 0)
                _exit(2);
            _exit(corolink_stack_mode(-1) == COROLINK_STACKS_AUTO ? 0 : 3);
        },
        ::testing::ExitedWithCode(0),
        "COROLINK_STACKS=bogus is not auto, guarded, slab or watched; auto "
        "is used");
}

// Each mode's stacks: their guard, and what a thousand of them cost in
// kernel mappings (between min_new_maps and max_new_maps; the fixture
// emptied the pool, so none is reused).
void expect_thousand(int mode, int expect_kind, long min_new_maps,
                     long max_new_maps) {
    corolink_stack_mode(mode);
    long before = proc_count_maps();
    std::vector<corolink *> cos(1000);
    for (auto &co : cos) {
        ASSERT_EQ(corolink_create(&co, return_body, nullptr, 0), 0);
        EXPECT_EQ(corolink_stack_guard(co), expect_kind);
    }
    long during = proc_count_maps();
    // A sanitizer maps fake stacks and shadow per coroutine: the counts
    // would be its own.
    if (!COROLINK_TEST_SANITIZED) {
        // qemu-user shows a 32-bit guest maps it makes up from its own page
        // table, where the lowest new guard region can join a neighbouring
        // inaccessible one: one entry fewer (seen with qemu-arm and
        // qemu-i386 7.2).
        const long slack = COROLINK_TEST_EMULATED && sizeof(void *) == 4;
        EXPECT_GE(during - before, min_new_maps - slack);
        EXPECT_LE(during - before, max_new_maps);
    }
    // Distinct stacks that do not overlap, each with its guard region below.
    corolink_stack a{}, b{};
    ASSERT_EQ(corolink_get_stack(cos[0], &a), 0);
    ASSERT_EQ(corolink_get_stack(cos[1], &b), 0);
    auto lo_a = static_cast<char *>(a.limit) - a.guard;
    auto lo_b = static_cast<char *>(b.limit) - b.guard;
    EXPECT_TRUE(lo_a >= static_cast<char *>(b.base) + COROLINK_CONTROL_SIZE ||
                lo_b >= static_cast<char *>(a.base) + COROLINK_CONTROL_SIZE);
    for (size_t i = 0; i < cos.size(); i++) {
        void *out = nullptr;
        EXPECT_EQ(corolink_resume(cos[i], reinterpret_cast<void *>(i + 1), &out),
                  COROLINK_RETURN);
        EXPECT_EQ(out, reinterpret_cast<void *>(i + 1));
        corolink_destroy(cos[i]);
    }
    corolink_pool_trim();
    if (!COROLINK_TEST_SANITIZED) {
        EXPECT_LE(proc_count_maps(), before) << "the stacks' mappings are gone";
    }
}

TEST_F(Stacks, GuardedStacksCostTwoMappingsEach) {
    // Stack and guard page: two each, and a few the process made meanwhile
    // (one fewer under qemu-user for a 32-bit guest: expect_thousand()).
    expect_thousand(COROLINK_STACKS_GUARDED, COROLINK_GUARD_PAGE, 2000,
                    2000 + 16);
}

TEST_F(Stacks, SlabStacksCostAFewMappings) {
    int kind = slab_guard_kind();
    ASSERT_TRUE(kind == COROLINK_GUARD_PAGE || kind == COROLINK_GUARD_WATCHED);
    // A thousand default stacks span three slabs; a watched slab is two
    // mappings (its PROT_NONE page below).
    expect_thousand(COROLINK_STACKS_SLAB, kind, 1, 8);
}

TEST_F(Stacks, WatchedStacksCostAFewMappings) {
    expect_thousand(COROLINK_STACKS_WATCHED, COROLINK_GUARD_WATCHED, 1, 8);
}

// Caller-provided stacks say what they have.
TEST_F(Stacks, CallerStackGuardKind) {
    corolink_stack st{};
    ASSERT_EQ(corolink_stack_alloc(&st, 64 * 1024), 0);
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create_on(&co, &st, return_body, nullptr), 0);
    EXPECT_EQ(corolink_stack_guard(co), COROLINK_GUARD_PAGE);
    corolink_destroy(co);
    corolink_stack bare = st;
    bare.guard = 0;
    ASSERT_EQ(corolink_create_on(&co, &bare, return_body, nullptr), 0);
    EXPECT_EQ(corolink_stack_guard(co), COROLINK_GUARD_NONE);
    corolink_destroy(co);
    corolink_stack_free(&st);
}

// Slots are reused, and trimming gives their memory back: the resident
// set after a trim is near what it was before the stacks were touched.
void *touch_body(corolink_yielder *y, void *, void *) {
    volatile char buf[32 * 1024]; // eight pages of this stack
    for (size_t i = 0; i < sizeof buf; i += 512)
        buf[i] = 1;
    corolink_suspend(y, nullptr);
    return nullptr;
}

TEST_F(Stacks, SlabSlotsAreReusedAndTrimmed) {
    if (COROLINK_TEST_SANITIZED)
        GTEST_SKIP() << "the sanitizer's shadow and fake stacks are most of "
                        "the resident set";
    corolink_stack_mode(COROLINK_STACKS_WATCHED);
    size_t old_limit = corolink_pool_limit(0); // destroys go to the slabs
    std::vector<corolink *> cos(600);
    std::vector<corolink *> keep;
    long rss0 = proc_rss_kib();
    for (auto &co : cos) {
        ASSERT_EQ(corolink_create(&co, touch_body, nullptr, 0), 0);
        ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    }
    long rss1 = proc_rss_kib();
    EXPECT_GE(rss1 - rss0, 600 * 32); // 32 KiB each, at least
    // Keep one in each slab, so that no slab is unmapped when emptied.
    for (size_t i = 0; i < cos.size(); i++) {
        if (i % 200 == 0) {
            keep.push_back(cos[i]);
            continue;
        }
        EXPECT_EQ(corolink_resume(cos[i], nullptr, nullptr), COROLINK_RETURN);
        corolink_destroy(cos[i]);
    }
    // A new coroutine gets a freed slot, not a new one: the one destroyed
    // last (slots are reused last in, first out).
    corolink_stack last{};
    {
        corolink *co = nullptr;
        ASSERT_EQ(corolink_create(&co, return_body, nullptr, 0), 0);
        ASSERT_EQ(corolink_get_stack(co, &last), 0);
        corolink_destroy(co);
        corolink *again = nullptr;
        ASSERT_EQ(corolink_create(&again, return_body, nullptr, 0), 0);
        corolink_stack st{};
        ASSERT_EQ(corolink_get_stack(again, &st), 0);
        EXPECT_EQ(st.base, last.base);
        corolink_destroy(again);
    }
    corolink_pool_trim();
    long rss2 = proc_rss_kib();
    EXPECT_LT(rss2 - rss0, (rss1 - rss0) / 4) << "trim gave the slots' memory back";
    for (auto co : keep) {
        EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
        corolink_destroy(co);
    }
    corolink_pool_limit(old_limit);
}

// ---- overflows --------------------------------------------------------------

volatile int keep_going = 1;

// Recurses until its frame is `depth` bytes below `limit`, then returns;
// with kForever, until it faults. The floor saturates at 0: `limit - depth`
// must not wrap, since stacks may lie below any "large" depth (qemu-user
// maps AArch64 guests' stacks near 0x55'0000'0000, under 1 << 40, and a
// wrapped floor made the body return at once).
constexpr size_t kForever = SIZE_MAX;

__attribute__((noinline)) int dig(const char *limit, size_t depth) {
    volatile char frame[512];
    frame[0] = 1;
    frame[511] = 1;
    uintptr_t top = reinterpret_cast<uintptr_t>(limit);
    uintptr_t floor = top > depth ? top - depth : 0;
    if (keep_going && reinterpret_cast<uintptr_t>(&frame[0]) > floor)
        return dig(limit, depth) + frame[0];
    return frame[511];
}

struct DigArg {
    size_t depth;
};

void *dig_body(corolink_yielder *y, void *, void *arg) {
    corolink_stack st{};
    corolink_get_stack(corolink_from_yielder(y), &st);
    dig(static_cast<const char *>(st.limit), static_cast<DigArg *>(arg)->depth);
    return nullptr;
}

// A body that overflows its watched slab stack by 8 KiB and returns: the
// destroy finds it, and the process dies with the coroutine named.
TEST(StacksDeath, WatchedOverflowIsFatalAtDestroyNamingTheCoroutine) {
    COROLINK_TEST_THREADSAFE_DEATH();
    EXPECT_DEATH(
        {
            corolink_stack_mode(COROLINK_STACKS_WATCHED);
            static DigArg arg{8 * 1024};
            corolink *co = nullptr;
            if (corolink_create(&co, dig_body, &arg, 64 * 1024) != 0)
                _exit(2);
            corolink_set_name(co, "digger");
            if (corolink_resume(co, nullptr, nullptr) != COROLINK_RETURN)
                _exit(3);
            corolink_destroy(co);
            _exit(4);
        },
        "corolink: fatal: stack overflow found by corolink_destroy\\(\\) in "
        "coroutine [0-9]+ \"digger\": the watched zone below its stack");
}

void *park_body(corolink_yielder *y, void *in, void *) { return corolink_suspend(y, in); }

// In a child: `parked_below` coroutines parked in the slots below, then a
// body that never stops recursing on a watched stack. It runs through its
// zone, and the slots below, into the PROT_NONE page under its slab: the
// trap handler finds the written zone and stops the process, naming the
// coroutine (the memory below may be damaged: no recovery).
[[noreturn]] void run_away_on_a_watched_stack(int parked_below) {
    if (corolink_trap_install() != 0)
        _exit(2);
    corolink_stack_mode(COROLINK_STACKS_WATCHED);
    for (int i = 0; i < parked_below; i++) {
        corolink *p = nullptr;
        if (corolink_create(&p, park_body, nullptr, 64 * 1024) != 0 ||
            corolink_resume(p, nullptr, nullptr) != COROLINK_YIELD)
            _exit(3);
    }
    static DigArg arg{kForever};
    corolink *co = nullptr;
    if (corolink_create(&co, dig_body, &arg, 64 * 1024) != 0)
        _exit(3);
    corolink_set_name(co, "runaway");
    int rc = corolink_resume(co, nullptr, nullptr);
    // Not reached: say what happened instead of dying silently.
    fprintf(stderr, "corolink_resume() returned %d\n", rc);
    _exit(4);
}

const char kRunawayLine[] =
    "corolink: fatal: stack overflow in coroutine [0-9]+ \"runaway\" "
    "\\(fault at 0x[0-9a-f]+\\): it ran through the watched zone below "
    "its stack";

TEST(StacksDeath, WatchedOverflowThatFaultsIsFatalInTheTrapHandler) {
    COROLINK_TEST_THREADSAFE_DEATH();
    EXPECT_DEATH(run_away_on_a_watched_stack(0), kRunawayLine);
}

// The same from a slot above others: the body runs through its zone and
// the slots below it (their stacks damaged) before it faults in the
// PROT_NONE page under slot 0; the handler still finds it and names it.
TEST(StacksDeath, WatchedOverflowFromAHigherSlotIsFatalInTheTrapHandler) {
    COROLINK_TEST_THREADSAFE_DEATH();
    EXPECT_DEATH(run_away_on_a_watched_stack(3), kRunawayLine);
}

// Reading the zone (a debugger does) is no overflow; nor is a body that
// stays on its stack.
TEST_F(Stacks, WatchedZoneReadIsNoOverflow) {
    corolink_stack_mode(COROLINK_STACKS_WATCHED);
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, return_body, nullptr, 64 * 1024), 0);
    ASSERT_EQ(corolink_stack_guard(co), COROLINK_GUARD_WATCHED);
    corolink_stack st{};
    ASSERT_EQ(corolink_get_stack(co, &st), 0);
    ASSERT_EQ(st.guard, 64u * 1024);
    auto *zone = static_cast<volatile char *>(st.limit) - st.guard;
    int sum = 0;
    for (size_t i = 0; i < st.guard; i += 4096)
        sum += zone[i];
    EXPECT_EQ(sum, 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    corolink_destroy(co); // alive afterwards
}

// Where the kernel installs guard pages in slabs, an overflow of a slab
// stack faults as it happens, and the trap handler recovers it.
TEST_F(Stacks, SlabOverflowTrapsWithInstalledGuardPages) {
    if (slab_guard_kind() != COROLINK_GUARD_PAGE)
        GTEST_SKIP() << "this kernel has no MADV_GUARD_INSTALL (Linux 6.13)";
    ASSERT_EQ(corolink_trap_install(), 0);
    corolink_trap_diagnostics(false);
    corolink_stack_mode(COROLINK_STACKS_SLAB);
    DigArg arg{kForever};
    for (int i = 0; i < 3; i++) {
        corolink *co = nullptr;
        ASSERT_EQ(corolink_create(&co, dig_body, &arg, 64 * 1024), 0);
        EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_TRAP);
        corolink_trap t{};
        ASSERT_EQ(corolink_trap_info(co, &t), 0);
        EXPECT_EQ(t.signo, SIGSEGV);
        EXPECT_TRUE(t.stack_overflow);
        corolink_destroy(co);
    }
    corolink_trap_diagnostics(true);
}

// ---- a program that used up most of its map count ---------------------------

// The program splits one mapping into max_map_count - 2000 mappings (every
// other page PROT_NONE), then creates 5000 coroutines with the default
// call: they all work (slab stacks), and the program can still map 500
// regions of its own (the library left its mappings alone).
int crowded_scenario() {
    long max = proc_max_map_count(), have = proc_count_maps();
    long want = max - 2000 - have; // mappings to add
    if (want < 2)
        return 10;
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t pages = static_cast<size_t>(want) + 1;
    char *m = static_cast<char *>(mmap(nullptr, pages * page, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (m == MAP_FAILED)
        return 11;
    for (size_t p = 1; p < pages; p += 2)
        if (mprotect(m + p * page, page, PROT_NONE) != 0)
            return 12;
    if (proc_count_maps() < max - 2100)
        return 13;
    std::vector<corolink *> cos(5000);
    for (size_t i = 0; i < cos.size(); i++) {
        if (corolink_create(&cos[i], return_body, nullptr, 0) != 0)
            return 14;
        int kind = corolink_stack_guard(cos[i]);
        if (kind != COROLINK_GUARD_PAGE && kind != COROLINK_GUARD_WATCHED)
            return 15;
    }
    // The program's own mappings still fit.
    for (int i = 0; i < 500; i++) {
        void *p = mmap(nullptr, page, i % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return 16;
    }
    for (size_t i = 0; i < cos.size(); i++) {
        void *out = nullptr;
        if (corolink_resume(cos[i], reinterpret_cast<void *>(i), &out) != COROLINK_RETURN ||
            out != reinterpret_cast<void *>(i))
            return 17;
        corolink_destroy(cos[i]);
    }
    return 0;
}

TEST(StacksCrowded, ProgramThatUsedMostOfItsMapCountGetsCoroutines) {
    if (COROLINK_TEST_EMULATED)
        GTEST_SKIP() << "under qemu-user the map count is the emulator's";
    if (proc_max_map_count() > 262144)
        GTEST_SKIP() << "vm.max_map_count is " << proc_max_map_count()
                     << ": too many mappings to fill in a test";
    COROLINK_TEST_THREADSAFE_DEATH();
    EXPECT_EXIT(_exit(crowded_scenario()), ::testing::ExitedWithCode(0), "");
}

} // namespace
