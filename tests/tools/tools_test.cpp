// What sanitizers and valgrind need from the library (src/tools.c), as
// behaviour every build must have: stacks reused after bodies that never
// returned (reset, unwound, trapped, threw), nested throws, work on other
// stacks, coroutines that cross threads, many suspended coroutines. Built
// plain, this suite checks the values; the same tests built with
// -fsanitize=address,undefined or =thread (the program alone, or the
// library too: see CMakeLists.txt) and run under valgrind fail with the
// tools' false reports unless every switch is announced to them.
//
// Misuse (MisuseDeathTest): every mistake the library can see gets one
// line naming the coroutine, never a corrupted pool.
#include <corolink.h>

#include <gtest/gtest.h>

#include "../common/death_style.h"

// clang has no __SANITIZE_THREAD__ (gcc's); it has __has_feature.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COROLINK_TEST_TSAN 1
#endif
#endif
#ifndef COROLINK_TEST_TSAN
#define COROLINK_TEST_TSAN 0
#endif

#include <pthread.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

// A body's deep frames with big locals, left on the stack by a suspend.
__attribute__((noinline)) void *dig(corolink_yielder *y, int depth) {
    volatile char pad[512];
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = (char)(depth + i);
    if (depth > 0)
        dig(y, depth - 1);
    else
        corolink_suspend(y, (void *)pad);
    return (void *)(uintptr_t)pad[7];
}

void *dig_body(corolink_yielder *y, void *, void *) {
    dig(y, 8);
    return nullptr;
}

// A body that writes a 2 KiB local: reported as a stack-buffer-underflow
// by ASan when a previous body's redzones are still poisoned there.
__attribute__((noinline)) uintptr_t use_2k(uintptr_t seed) {
    volatile char big[2048];
    std::memset((char *)big, (int)seed, sizeof big);
    uintptr_t sum = 0;
    for (size_t i = 0; i < sizeof big; i += 64)
        sum += (unsigned char)big[i];
    return sum;
}

void *two_k_body(corolink_yielder *, void *, void *arg) {
    return (void *)use_2k((uintptr_t)arg);
}

// Runs a 2 KiB body on a fresh coroutine of `size` and expects the pool to
// have handed it the stack `expect` (the one a previous body abandoned).
void expect_clean_reuse(corolink *expect, size_t size) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, two_k_body, (void *)3, size), 0);
    EXPECT_EQ(co, expect) << "the pool did not reuse the stack";
    void *out = nullptr;
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ((uintptr_t)out, 3u * 32);
    corolink_destroy(co);
}

TEST(Tools, StackReusedAfterReset) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, dig_body, nullptr, 64 * 1024), 0);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    ASSERT_EQ(corolink_force_reset(co), 0);
    corolink_destroy(co);
    expect_clean_reuse(co, 64 * 1024);
}

#if COROLINK_TEST_UNWIND
TEST(Tools, StackReusedAfterForcedUnwind) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, dig_body, nullptr, 64 * 1024), 0);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    corolink_destroy(co); // unwinds the nine frames
    expect_clean_reuse(co, 64 * 1024);
}

volatile int sink;

__attribute__((noinline)) void throw_deep(int depth) {
    volatile char pad[256];
    pad[0] = (char)depth;
    if (depth == 0)
        throw std::runtime_error("deep");
    throw_deep(depth - 1);
    sink = pad[0];
}

void *throw_body(corolink_yielder *y, void *, void *) {
    corolink_suspend(y, nullptr);
    throw_deep(6);
    return nullptr;
}

TEST(Tools, StackReusedAfterThrow) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, throw_body, nullptr, 64 * 1024), 0);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    EXPECT_THROW(corolink_resume(co, nullptr, nullptr), std::runtime_error);
    EXPECT_TRUE(corolink_done(co));
    // The resumer's own stack after the throw: a big local here too.
    EXPECT_EQ(use_2k(1), 32u);
    corolink_destroy(co);
    expect_clean_reuse(co, 64 * 1024);
}

// Three coroutines nested; the innermost throws, each level catches,
// adds to the message and throws again.
void *nest_body(corolink_yielder *y, void *, void *arg) {
    int level = (int)(intptr_t)arg;
    if (level == 0) {
        corolink_suspend(y, nullptr);
        throw_deep(3);
    }
    corolink *inner;
    if (corolink_create(&inner, nest_body, (void *)(intptr_t)(level - 1), 0))
        return nullptr;
    corolink_resume(inner, nullptr, nullptr);
    corolink_suspend(y, nullptr);
    try {
        corolink_resume(inner, nullptr, nullptr);
    } catch (const std::runtime_error &e) {
        corolink_destroy(inner);
        use_2k(2);
        throw std::runtime_error(std::string(e.what()) + "+" +
                                 std::to_string(level));
    }
    return nullptr;
}

TEST(Tools, NestedCoroutinesThrow) {
    for (int round = 0; round < 3; round++) {
        corolink *co;
        ASSERT_EQ(corolink_create(&co, nest_body, (void *)2, 0), 0);
        ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
        try {
            corolink_resume(co, nullptr, nullptr);
            ADD_FAILURE() << "no exception";
        } catch (const std::runtime_error &e) {
            EXPECT_STREQ(e.what(), "deep+1+2");
        }
        corolink_destroy(co);
    }
}

void *throw_fn(void *) { throw std::logic_error("on parent"); }

void *on_parent_throw_body(corolink_yielder *y, void *, void *) {
    try {
        corolink_on_parent_stack(y, throw_fn, nullptr);
    } catch (const std::logic_error &) {
        return (void *)use_2k(4);
    }
    return nullptr;
}

TEST(Tools, ThrowFromOnParentStack) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, on_parent_throw_body, nullptr, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ((uintptr_t)out, 4u * 32);
    corolink_destroy(co);
}
#endif

// Recurses until the stack overflows (the depth is a variable, so that
// the compiler cannot see the recursion is endless).
volatile int overflow_depth = 1 << 30;

__attribute__((noinline)) int recurse(int n) {
    volatile char pad[1024];
    pad[0] = (char)n;
    if (n >= overflow_depth)
        return 0;
    return recurse(n + 1) + pad[0];
}

void *overflow_body(corolink_yielder *, void *, void *) {
    return (void *)(intptr_t)recurse(0);
}

TEST(Tools, StackReusedAfterOverflowTrap) {
    ASSERT_EQ(corolink_trap_install(), 0);
    corolink_trap_diagnostics(false);
    corolink *co;
    ASSERT_EQ(corolink_create(&co, overflow_body, nullptr, 64 * 1024), 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_TRAP);
    corolink_trap info;
    ASSERT_EQ(corolink_trap_info(co, &info), 0);
    EXPECT_TRUE(info.stack_overflow);
    corolink_destroy(co);
    corolink_trap_diagnostics(true);
    expect_clean_reuse(co, 64 * 1024);
}

void *big_fn(void *arg) { return (void *)use_2k((uintptr_t)arg); }

void *on_parent_body(corolink_yielder *y, void *, void *) {
    uintptr_t sum = 0;
    for (int i = 0; i < 3; i++) {
        sum += (uintptr_t)corolink_on_parent_stack(y, big_fn, (void *)1);
        corolink_suspend(y, (void *)sum);
    }
    return (void *)sum;
}

TEST(Tools, OnParentStackAndOnStack) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, on_parent_body, nullptr, 0), 0);
    void *out = nullptr;
    int yields = 0;
    while (corolink_resume(co, nullptr, &out) == COROLINK_YIELD)
        yields++;
    EXPECT_EQ(yields, 3);
    EXPECT_EQ((uintptr_t)out, 3u * 32);
    corolink_destroy(co);

    corolink_stack st;
    ASSERT_EQ(corolink_stack_alloc(&st, 64 * 1024), 0);
    for (uintptr_t i = 1; i <= 3; i++) {
        void *r = nullptr;
        ASSERT_EQ(corolink_on_stack(&st, big_fn, (void *)i, &r), 0);
        EXPECT_EQ((uintptr_t)r, i * 32);
    }
    corolink_stack_free(&st);
}

TEST(Tools, UserStackReusedAfterReset) {
    corolink_stack st;
    ASSERT_EQ(corolink_stack_alloc(&st, 64 * 1024), 0);
    corolink *co;
    ASSERT_EQ(corolink_create_on(&co, &st, dig_body, nullptr), 0);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    ASSERT_EQ(corolink_force_reset(co), 0);
    corolink_destroy(co);
    ASSERT_EQ(corolink_create_on(&co, &st, two_k_body, (void *)5), 0);
    void *out = nullptr;
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ((uintptr_t)out, 5u * 32);
    corolink_destroy(co);
    corolink_stack_free(&st);
}

// A counter body: yields 1, 2, 3, ... (its input added to its state).
void *count_body(corolink_yielder *y, void *input, void *) {
    uintptr_t n = 0;
    for (;;) {
        n += (uintptr_t)input;
        input = corolink_suspend(y, (void *)n);
    }
}

// Coroutines created, run and left in the pool by threads that then exit
// (the pool and the registry are freed at thread exit), and coroutines
// handed from one thread to the next (each thread joined before the next
// starts: ordered, no race).
TEST(Tools, ThreadsExitAndCoroutinesMigrate) {
    for (int round = 0; round < 4; round++) {
        std::thread t([] {
            std::vector<corolink *> cos(16);
            for (auto &c : cos) {
                ASSERT_EQ(corolink_create(&c, two_k_body, (void *)1, 0), 0);
                ASSERT_EQ(corolink_resume(c, nullptr, nullptr), COROLINK_RETURN);
            }
            for (auto c : cos)
                corolink_destroy(c); // pooled: freed when the thread exits
        });
        t.join();
    }
    corolink *co;
    ASSERT_EQ(corolink_create(&co, count_body, nullptr, 0), 0);
    uintptr_t last = 0;
    for (int i = 0; i < 8; i++) {
        std::thread t([&] {
            void *out;
            ASSERT_EQ(corolink_resume(co, (void *)1, &out), COROLINK_YIELD);
            last = (uintptr_t)out;
        });
        t.join();
    }
    EXPECT_EQ(last, 8u);
#if !COROLINK_TEST_UNWIND
    corolink_force_reset(co); // suspended: no unwinder to unwind it
#endif
    corolink_destroy(co);
}

// Many suspended coroutines at once, each a few frames deep, on stacks cut
// from one mapping (guarded stacks would take two mappings each, more than
// the kernel's default map count allows at this scale). COROLINK_TEST_SCALE
// sets how many (CMakeLists.txt: 100,000 natively and under the sanitizers,
// fewer under valgrind).
__attribute__((noinline)) void *park(corolink_yielder *y, uintptr_t id,
                                     int depth) {
    volatile uintptr_t mark = id;
    if (depth > 0)
        return park(y, id, depth - 1);
    void *in = corolink_suspend(y, (void *)mark);
    return (void *)(mark + (uintptr_t)in);
}

void *park_body(corolink_yielder *y, void *, void *arg) {
    return park(y, (uintptr_t)arg, 3);
}

TEST(ToolsScale, ManySuspendedCoroutines) {
    const char *env = std::getenv("COROLINK_TEST_SCALE");
    const size_t n = env ? std::strtoul(env, nullptr, 10) : 100000;
#if defined(__SANITIZE_THREAD__) || COROLINK_TEST_TSAN
    // TSan maps a shadow call stack per fiber: one mapping per coroutine.
    // Say so rather than let the runtime die in mmap.
    if (FILE *f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
        unsigned long maps = 0;
        int got = std::fscanf(f, "%lu", &maps);
        std::fclose(f);
        if (got == 1) {
            ASSERT_GT(maps, n + 10000)
                << "TSan needs a mapping per suspended coroutine: raise "
                   "vm.max_map_count (scripts/quickstart.sh does for its "
                   "TSan run)";
        }
    }
#endif
    const size_t each = 8192; // control block + a body a few frames deep
    size_t bytes = n * each;
    void *m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ASSERT_NE(m, MAP_FAILED);
    std::vector<corolink *> cos(n);
    for (size_t i = 0; i < n; i++) {
        char *lo = (char *)m + i * each;
        corolink_stack st = {lo + each, lo, 0};
        ASSERT_EQ(corolink_create_on(&cos[i], &st, park_body, (void *)i), 0);
        void *out = nullptr;
        ASSERT_EQ(corolink_resume(cos[i], nullptr, &out), COROLINK_YIELD);
        ASSERT_EQ((uintptr_t)out, i);
    }
    uintptr_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        void *out = nullptr;
        ASSERT_EQ(corolink_resume(cos[i], (void *)1, &out), COROLINK_RETURN);
        sum += (uintptr_t)out;
        corolink_destroy(cos[i]);
    }
    EXPECT_EQ(sum, n * (n - 1) / 2 + n);
    munmap(m, bytes);
}

// ---- misuse ----------------------------------------------------------------

void *yield_once(corolink_yielder *y, void *, void *) {
    corolink_suspend(y, nullptr);
    return nullptr;
}

TEST(MisuseDeathTest, DestroyTwice) {
    EXPECT_DEATH(
        {
            corolink *co;
            corolink_create(&co, yield_once, nullptr, 0);
            corolink_set_name(co, "twice");
            corolink_destroy(co);
            corolink_destroy(co);
        },
        "corolink: fatal: corolink_destroy\\(\\) called on coroutine [0-9]+ "
        "\"twice\", which was destroyed already \\(destroyed twice\\?\\)"
        COROLINK_DEATH_END);
}

TEST(MisuseDeathTest, DestroyTwiceNeverStarted) {
    EXPECT_DEATH(
        {
            corolink_stack st;
            corolink_stack_alloc(&st, 0);
            corolink *co;
            corolink_create_on(&co, &st, yield_once, nullptr);
            corolink_destroy(co);
            corolink_destroy(co);
        },
        "corolink_destroy\\(\\) called on coroutine [0-9]+ \"\", which was "
        "destroyed already");
}

TEST(MisuseDeathTest, DestroyNotACoroutine) {
    alignas(64) static unsigned char fake[1024];
    EXPECT_DEATH(corolink_destroy((corolink *)fake),
                 "corolink: fatal: corolink_destroy\\(\\) called on 0x[0-9a-f]+, "
                 "which is not a coroutine \\(no live control block there\\)"
                 COROLINK_DEATH_END);
}

// After a double destroy was refused, the pool is intact: two creates
// give two different control blocks (checked in the child, then it dies
// on the second destroy).
TEST(Misuse, PoolIntactAfterDestroy) {
    corolink *a, *b;
    ASSERT_EQ(corolink_create(&a, yield_once, nullptr, 0), 0);
    corolink_destroy(a);
    ASSERT_EQ(corolink_create(&a, yield_once, nullptr, 0), 0);
    ASSERT_EQ(corolink_create(&b, yield_once, nullptr, 0), 0);
    EXPECT_NE(a, b);
    corolink_destroy(a);
    corolink_destroy(b);
}

TEST(Misuse, ResumeDestroyedIsAnError) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, yield_once, nullptr, 0), 0);
    corolink_destroy(co); // pooled: the block stays mapped
    void *out = (void *)1;
    EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_EINVAL);
    EXPECT_EQ(out, nullptr);
}

TEST(Misuse, GuardLargerThanTheStack) {
    corolink_stack st;
    ASSERT_EQ(corolink_stack_alloc(&st, 64 * 1024), 0);
    corolink_stack bad = st;
    corolink *co = nullptr;
    bad.guard = SIZE_MAX;
    EXPECT_EQ(corolink_create_on(&co, &bad, yield_once, nullptr), COROLINK_ESTACK);
    bad.guard = (size_t)((char *)st.base - (char *)st.limit) + 4096;
    EXPECT_EQ(corolink_create_on(&co, &bad, yield_once, nullptr), COROLINK_ESTACK);
    EXPECT_EQ(co, nullptr);
    ASSERT_EQ(corolink_create_on(&co, &st, yield_once, nullptr), 0);
    corolink_destroy(co);
    corolink_stack_free(&st);
}

void *ident(void *arg) { return arg; }

TEST(MisuseDeathTest, OnParentStackNullYielder) {
    EXPECT_DEATH(corolink_on_parent_stack(nullptr, ident, nullptr),
                 "corolink: fatal: corolink_on_parent_stack\\(\\): called "
                 "with a NULL yielder" COROLINK_DEATH_END);
}

// A body that misuses the yielder of another coroutine (arg), or its own
// from fn of corolink_on_parent_stack().
corolink *victim;

void *on_parent_other(corolink_yielder *, void *, void *) {
    corolink_on_parent_stack((corolink_yielder *)victim, ident, nullptr);
    return nullptr;
}

TEST(MisuseDeathTest, OnParentStackOtherCoroutine) {
    EXPECT_DEATH(
        {
            corolink_create(&victim, yield_once, nullptr, 0);
            corolink_set_name(victim, "victim");
            corolink_resume(victim, nullptr, nullptr); // suspended
            corolink *co;
            corolink_create(&co, on_parent_other, nullptr, 0);
            corolink_resume(co, nullptr, nullptr);
        },
        "corolink: fatal: corolink_on_parent_stack\\(\\): coroutine [0-9]+ "
        "\"victim\" \\(suspended\\) passed as the yielder" COROLINK_DEATH_END);
}

// The out-of-line suspend checks its yielder (the inline one trusts it:
// see the header): suspend_checked.c calls it, so that this file keeps the
// inline switch for everything else.
extern "C" void *tools_suspend_checked(corolink_yielder *, void *);
#define corolink_suspend_checked tools_suspend_checked

void *suspend_null(corolink_yielder *, void *, void *) {
    corolink_suspend_checked(nullptr, nullptr);
    return nullptr;
}

void *suspend_other(corolink_yielder *, void *, void *) {
    corolink_suspend_checked((corolink_yielder *)victim, nullptr);
    return nullptr;
}

// The inner body suspends with the outer (running) coroutine's yielder.
void *suspend_outer_inner(corolink_yielder *, void *, void *outer) {
    corolink_suspend_checked((corolink_yielder *)outer, nullptr);
    return nullptr;
}

void *suspend_outer(corolink_yielder *y, void *, void *) {
    corolink *inner;
    corolink_create(&inner, suspend_outer_inner, y, 0);
    corolink_resume(inner, nullptr, nullptr);
    return nullptr;
}

void *suspend_from_parent_fn(void *y) {
    corolink_suspend_checked((corolink_yielder *)y, nullptr);
    return nullptr;
}

void *suspend_on_parent(corolink_yielder *y, void *, void *) {
    corolink_on_parent_stack(y, suspend_from_parent_fn, y);
    return nullptr;
}

void run_named(corolink_fn fn, const char *name) {
    corolink *co;
    corolink_create(&co, fn, nullptr, 0);
    corolink_set_name(co, name);
    corolink_resume(co, nullptr, nullptr);
}

TEST(MisuseDeathTest, SuspendNullYielder) {
    EXPECT_DEATH(run_named(suspend_null, "n"),
                 "corolink: fatal: corolink_suspend\\(\\): called with a NULL "
                 "yielder" COROLINK_DEATH_END);
}

TEST(MisuseDeathTest, SuspendOtherCoroutinesYielder) {
    EXPECT_DEATH(
        {
            corolink_create(&victim, yield_once, nullptr, 0);
            corolink_set_name(victim, "victim");
            corolink_resume(victim, nullptr, nullptr);
            run_named(suspend_other, "culprit");
        },
        "corolink: fatal: corolink_suspend\\(\\): coroutine [0-9]+ \"victim\" "
        "\\(suspended\\) passed as the yielder" COROLINK_DEATH_END);
}

TEST(MisuseDeathTest, SuspendOuterCoroutinesYielder) {
    EXPECT_DEATH(run_named(suspend_outer, "outer"),
                 "corolink: fatal: corolink_suspend\\(\\): coroutine [0-9]+ "
                 "\"outer\" passed as the yielder off its stack \\(not the "
                 "innermost running coroutine\\)" COROLINK_DEATH_END);
}

TEST(MisuseDeathTest, SuspendFromOnParentStackFn) {
    EXPECT_DEATH(run_named(suspend_on_parent, "parented"),
                 "corolink: fatal: corolink_suspend\\(\\): coroutine [0-9]+ "
                 "\"parented\" passed as the yielder off its stack");
}

} // namespace
