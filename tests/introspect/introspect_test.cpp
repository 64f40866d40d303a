// In-process introspection: corolink_backtrace(), the registry (read
// through the exported debug-offsets table, as a debugger reads it) and
// corolink_dump().
//
// Build definitions (CMakeLists.txt): COROLINK_TEST_REGISTRY (the library
// has a registry), COROLINK_TEST_FREESTANDING (no corolink_dump(), frame-
// pointer backtraces only), COROLINK_TEST_DEFAULT_STACK (corolink_create()
// works), COROLINK_TEST_UNWIND.
#include <gtest/gtest.h>

#include <corolink.h>

#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "../common/symbolize.h"
#include "chains.h"
#include "debug_offsets.hpp"

#define COROLINK_TEST_HAS_DUMP (!COROLINK_TEST_FREESTANDING)

extern "C" {
volatile int introspect_sink = 0;
}

// ---- the chain with frame pointers (this file is built with them) ----

CHAIN_END(deep, 300)
CHAIN_FN(deep, 20, deep_end)
CHAIN_FN(deep, 19, deep20)
CHAIN_FN(deep, 18, deep19)
CHAIN_FN(deep, 17, deep18)
CHAIN_FN(deep, 16, deep17)
CHAIN_FN(deep, 15, deep16)
CHAIN_FN(deep, 14, deep15)
CHAIN_FN(deep, 13, deep14)
CHAIN_FN(deep, 12, deep13)
CHAIN_FN(deep, 11, deep12)
CHAIN_FN(deep, 10, deep11)
CHAIN_FN(deep, 9, deep10)
CHAIN_FN(deep, 8, deep9)
CHAIN_FN(deep, 7, deep8)
CHAIN_FN(deep, 6, deep7)
CHAIN_FN(deep, 5, deep6)
CHAIN_FN(deep, 4, deep5)
CHAIN_FN(deep, 3, deep4)
CHAIN_FN(deep, 2, deep3)
CHAIN_FN(deep, 1, deep2)

CHAIN_BODY(chain_body, deep, 3000)

// ---- coroutines parked for the dump ----

extern "C" CHAIN_NOIPA void *park_here(corolink_yielder *y) {
    void *r = corolink_suspend(y, nullptr);
    introspect_sink = introspect_sink + 11;
    return r;
}
extern "C" CHAIN_NOIPA void *parked_body(corolink_yielder *y, void *, void *) {
    void *r = park_here(y);
    introspect_sink = introspect_sink + 12;
    return r;
}
extern "C" CHAIN_NOIPA void *park_elsewhere(corolink_yielder *y) {
    void *r = corolink_suspend(y, nullptr);
    introspect_sink = introspect_sink + 13;
    return r;
}
extern "C" CHAIN_NOIPA void *parked_elsewhere_body(corolink_yielder *y, void *,
                                                   void *) {
    void *r = park_elsewhere(y);
    introspect_sink = introspect_sink + 14;
    return r;
}
extern "C" CHAIN_NOIPA void *returning_body(corolink_yielder *, void *,
                                            void *arg) {
    return arg;
}

// Every coroutine of these tests is created here (its creation site): on
// a default stack, or on `stack` when given (or when the build has no
// default stacks).
extern "C" CHAIN_NOIPA int introspect_spawn(corolink **out, corolink_fn fn,
                                            void *arg,
                                            const corolink_stack *stack) {
    int rc = stack ? corolink_create_on(out, stack, fn, arg)
                   : corolink_create(out, fn, arg, 64 * 1024);
    introspect_sink = introspect_sink + 1;
    return rc;
}

namespace {

constexpr size_t kHeapStack = 64 * 1024;

// A coroutine owned by a test: destroyed at the end, after its body has
// been run to its end (so that no build needs to unwind it).
class Co {
  public:
    Co(corolink_fn fn, void *arg, bool own_stack = !COROLINK_TEST_DEFAULT_STACK,
       size_t stack_size = kHeapStack) {
        corolink_stack st{}, *stp = nullptr;
        if (own_stack) {
            mem_.reset(new char[stack_size]);
            st.limit = mem_.get();
            st.base = mem_.get() + stack_size;
            stp = &st;
        }
        rc_ = introspect_spawn(&co_, fn, arg, stp);
    }
    Co(const Co &) = delete;
    Co &operator=(const Co &) = delete;
    ~Co() { destroy(); }

    corolink *get() const { return co_; }
    int rc() const { return rc_; }
    int resume(void *input = nullptr) {
        return corolink_resume(co_, input, nullptr);
    }
    void finish() {
        for (int i = 0; co_ && i < 100 &&
                        corolink_state(co_) == COROLINK_STATE_SUSPENDED;
             i++)
            corolink_resume(co_, nullptr, nullptr);
    }
    void destroy() {
        if (co_ == nullptr)
            return;
        finish();
        corolink_destroy(co_);
        co_ = nullptr;
        mem_.reset();
    }

  private:
    corolink *co_ = nullptr;
    int rc_ = -100;
    std::unique_ptr<char[]> mem_;
};

// COROLINK_BACKTRACE for the scope of a test.
class BacktraceMode {
  public:
    explicit BacktraceMode(const char *value) {
        if (value)
            setenv("COROLINK_BACKTRACE", value, 1);
        else
            unsetenv("COROLINK_BACKTRACE");
    }
    ~BacktraceMode() { unsetenv("COROLINK_BACKTRACE"); }
};

bool libunwind_available() {
#if COROLINK_TEST_FREESTANDING
    return false; // the freestanding core only walks frame pointers
#else
    void *h = dlopen("libunwind.so.8", RTLD_LOCAL | RTLD_LAZY);
    if (h)
        dlclose(h);
    return h != nullptr;
#endif
}

// Names of a corolink_backtrace() result: pcs[0] exact, then return
// addresses (looked up at pc - 1).
std::vector<std::string> frame_names(void *const *pcs, int n) {
    std::vector<std::string> names;
    for (int i = 0; i < n; i++) {
        auto pc = reinterpret_cast<uintptr_t>(pcs[i]);
        names.push_back(symbolize(i == 0 ? pc : pc - 1));
    }
    return names;
}

std::string join(const std::vector<std::string> &v) {
    std::string s;
    for (auto &x : v)
        s += (s.empty() ? "" : " ") + x;
    return s;
}

std::vector<std::string> chain_names(const char *prefix, int depth,
                                     const char *body) {
    std::vector<std::string> names;
    for (int k = depth; k >= 1; k--)
        names.push_back(prefix + std::to_string(k));
    names.push_back(body);
    return names;
}

// ---- the debug-offsets table, as a debugger declares it (debug_offsets.hpp) ----

// Slot tags (src/internal.h): a free slot, a pooled stack's slot.
constexpr uintptr_t kSlotFree = 1, kSlotPooled = 2;

} // namespace

extern "C" const DebugOffsets corolink_debug_offsets;

namespace {
// e_machine of the running executable, from its ELF header.
unsigned elf_machine_of_self() {
    FILE *f = fopen("/proc/self/exe", "rb");
    if (f == nullptr)
        return 0;
    unsigned char h[20] = {0};
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    return n == sizeof h ? (unsigned)(h[18] | h[19] << 8) : 0;
}
} // namespace

namespace {

const DebugOffsets &table() { return corolink_debug_offsets; }

template <typename T> T field(const void *co, uint32_t off) {
    T v;
    std::memcpy(&v, static_cast<const char *>(co) + off, sizeof v);
    return v;
}

struct Slot {
    uintptr_t *addr;
    uintptr_t value;
};

// Every slot of every chunk, newest chunk first.
std::vector<Slot> all_slots() {
    std::vector<Slot> slots;
    const DebugOffsets &t = table();
    if (t.registry == 0)
        return slots;
    auto *chunk = __atomic_load_n(reinterpret_cast<char **>(t.registry),
                                  __ATOMIC_ACQUIRE);
    while (chunk) {
        uint64_t n = field<uint64_t>(chunk, t.chunk_off_nslots);
        auto *s = reinterpret_cast<uintptr_t *>(chunk + t.chunk_off_slots);
        for (uint64_t i = 0; i < n; i++)
            slots.push_back({&s[i], s[i]});
        chunk = field<char *>(chunk, t.chunk_off_next);
    }
    return slots;
}

bool is_live(uintptr_t v) {
    if (v == 0 || (v & table().slot_tag_mask) != 0)
        return false;
    // (A word of the target: the table's 64-bit check_xor, truncated on
    // 32-bit targets.)
    return field<uintptr_t>(reinterpret_cast<void *>(v), table().off_check) ==
           static_cast<uintptr_t>(v ^ table().check_xor);
}

// Live coroutines, with how many slots hold each.
std::map<const corolink *, int> live() {
    std::map<const corolink *, int> m;
    for (const Slot &s : all_slots())
        if (is_live(s.value))
            m[reinterpret_cast<const corolink *>(s.value)]++;
    return m;
}

// The slot that holds co (live or pooled), or nullptr.
uintptr_t *slot_of(const corolink *co) {
    for (const Slot &s : all_slots())
        if ((s.value & ~table().slot_tag_mask) ==
                reinterpret_cast<uintptr_t>(co) &&
            (s.value & kSlotFree) == 0)
            return s.addr;
    return nullptr;
}

// The state as a debugger decodes it from the table's fields.
int table_state(const corolink *co) {
    const DebugOffsets &t = table();
    if (field<uint32_t>(co, t.off_finished) != 0)
        return COROLINK_STATE_FINISHED;
    uint64_t pc = field<uintptr_t>(co, t.off_pc);
    if (pc == 0)
        return COROLINK_STATE_RUNNING;
    if (pc == t.trampoline)
        return COROLINK_STATE_CREATED;
    return COROLINK_STATE_SUSPENDED;
}

#define SKIP_WITHOUT_REGISTRY()                                                \
    do {                                                                       \
        if (!COROLINK_TEST_REGISTRY)                                           \
            GTEST_SKIP() << "built without the registry";                      \
    } while (0)

// ======================================================================
// corolink_backtrace()
// ======================================================================

enum class Mode { Libunwind, FramePointers };
const char *mode_env(Mode m) { return m == Mode::FramePointers ? "fp" : nullptr; }
std::string mode_name(Mode m) {
    return m == Mode::FramePointers ? "fp" : "libunwind";
}
#define SKIP_UNLESS_AVAILABLE(m)                                               \
    do {                                                                       \
        if ((m) == Mode::Libunwind && !libunwind_available())                  \
            GTEST_SKIP() << "libunwind.so.8 not available (or freestanding "   \
                            "build)";                                          \
    } while (0)


} // namespace

// Tests at file scope: their TestBody functions are exported, so that
// dladdr can name a creation site in one.

class ChainTest : public ::testing::TestWithParam<std::tuple<int, Mode>> {};

TEST_P(ChainTest, SymbolizesEveryFrameInOrder) {
#if COROLINK_TEST_SANITIZED
    GTEST_SKIP() << "expects pcs[0] at the inline suspend; sanitizer builds suspend out of line (a return address, see corolink_backtrace())";
#endif
    auto [depth, mode] = GetParam();
    SKIP_UNLESS_AVAILABLE(mode);
    BacktraceMode env(mode_env(mode));
    Co co(chain_body, (void *)(intptr_t)depth);
    ASSERT_EQ(co.rc(), 0);
    ASSERT_EQ(co.resume(), COROLINK_YIELD);

    void *pcs[64];
    int n = corolink_backtrace(co.get(), pcs, 64);
    auto expected = chain_names("deep", depth, "chain_body");
    ASSERT_EQ(n, depth + 1) << join(frame_names(pcs, n > 0 ? n : 0));
    EXPECT_EQ(join(frame_names(pcs, n)), join(expected));
    // pcs[0]: the exact suspend pc, co->pc - 16 (as the table says).
    EXPECT_EQ(reinterpret_cast<uint64_t>(pcs[0]),
              static_cast<uint64_t>(field<uintptr_t>(co.get(), table().off_pc)) +
                  table().suspended_pc_adjust);

    // Stable: the same answer again, and after one more round trip
    // (a fresh suspend at the same place) the same pcs.
    void *again[64];
    ASSERT_EQ(corolink_backtrace(co.get(), again, 64), n);
    EXPECT_TRUE(std::equal(pcs, pcs + n, again));
}

INSTANTIATE_TEST_SUITE_P(
    Backtrace, ChainTest,
    ::testing::Combine(::testing::Values(1, 5, 20),
                       ::testing::Values(Mode::Libunwind, Mode::FramePointers)),
    [](const ::testing::TestParamInfo<std::tuple<int, Mode>> &info) {
        return "depth" + std::to_string(std::get<0>(info.param)) + "_" +
               mode_name(std::get<1>(info.param));
    });

// With suspend timestamps on, every resume goes through the library's
// traced resume (corolink__resume_traced(), corolink__enter()): a
// suspended coroutine's backtrace is the same, body frames only.
TEST_P(ChainTest, SameWithSuspendTimestamps) {
#if COROLINK_TEST_SANITIZED
    GTEST_SKIP() << "expects pcs[0] at the inline suspend (see above)";
#endif
    auto [depth, mode] = GetParam();
    SKIP_UNLESS_AVAILABLE(mode);
    BacktraceMode env(mode_env(mode));
    corolink_debug_timestamps(true);
    Co co(chain_body, (void *)(intptr_t)depth);
    ASSERT_EQ(co.rc(), 0);
    ASSERT_EQ(co.resume(), COROLINK_YIELD);
    void *pcs[64];
    int n = corolink_backtrace(co.get(), pcs, 64);
    corolink_debug_timestamps(false);
    EXPECT_EQ(join(frame_names(pcs, n > 0 ? n : 0)),
              join(chain_names("deep", depth, "chain_body")));
}

// Code without frame pointers (-O2 -fomit-frame-pointer): libunwind's
// DWARF stepper still gives every frame.
TEST(Backtrace, WithoutFramePointersLibunwindGivesEveryFrame) {
    SKIP_UNLESS_AVAILABLE(Mode::Libunwind);
    BacktraceMode env(nullptr);
    for (int depth : {1, 5}) {
        Co co(nofp_body, (void *)(intptr_t)depth);
        ASSERT_EQ(co.resume(), COROLINK_YIELD);
        void *pcs[64];
        int n = corolink_backtrace(co.get(), pcs, 64);
        ASSERT_GT(n, 0);
        EXPECT_EQ(join(frame_names(pcs, n)),
                  join(chain_names("nofp_deep", depth, "nofp_body")));
    }
}

// The frame-pointer walk cannot follow those frames; it stays in bounds and
// starts at the suspend pc.
TEST(Backtrace, WithoutFramePointersTheFpWalkIsShortButSafe) {
    BacktraceMode env("fp");
    Co co(nofp_body, (void *)(intptr_t)5);
    ASSERT_EQ(co.resume(), COROLINK_YIELD);
    void *pcs[64];
    int n = corolink_backtrace(co.get(), pcs, 64);
    ASSERT_GE(n, 1);
    EXPECT_LE(n, 6);
    EXPECT_EQ(frame_names(pcs, 1)[0], "nofp_deep5");
}

// The out-of-line suspend's own frame is left out: the list starts in the
// function that called corolink_suspend(), as with the inline switch.
class OutOfLineTest : public ::testing::TestWithParam<Mode> {};
TEST_P(OutOfLineTest, StartsInTheCallerOfSuspend) {
    SKIP_UNLESS_AVAILABLE(GetParam());
    BacktraceMode env(mode_env(GetParam()));
    for (int depth : {1, 3}) {
        Co co(ool_body, (void *)(intptr_t)depth);
        ASSERT_EQ(co.resume(), COROLINK_YIELD);
        void *pcs[64];
        int n = corolink_backtrace(co.get(), pcs, 64);
        ASSERT_EQ(n, depth + 1) << join(frame_names(pcs, n > 0 ? n : 0));
        EXPECT_EQ(join(frame_names(pcs, n)),
                  join(chain_names("ool_deep", depth, "ool_body")));
    }
}
INSTANTIATE_TEST_SUITE_P(Backtrace, OutOfLineTest,
                         ::testing::Values(Mode::Libunwind,
                                           Mode::FramePointers),
                         [](const ::testing::TestParamInfo<Mode> &info) {
                             return mode_name(info.param);
                         });

// Deep recursion: every frame is listed (up to the walk's bound), and a
// smaller max truncates.
extern "C" CHAIN_NOIPA void *recurse(corolink_yielder *y, int n) {
    void *r = n > 0 ? recurse(y, n - 1) : corolink_suspend(y, nullptr);
    introspect_sink = introspect_sink + n;
    return r;
}
extern "C" CHAIN_NOIPA void *recursing_body(corolink_yielder *y, void *,
                                            void *arg) {
    void *r = recurse(y, (int)(intptr_t)arg);
    introspect_sink = introspect_sink + 1;
    return r;
}

class RecursionTest : public ::testing::TestWithParam<Mode> {};
TEST_P(RecursionTest, EveryFrame) {
    SKIP_UNLESS_AVAILABLE(GetParam());
    BacktraceMode env(mode_env(GetParam()));
    Co co(recursing_body, (void *)(intptr_t)150);
    ASSERT_EQ(co.resume(), COROLINK_YIELD);
    std::vector<void *> pcs(1000);
    int n = corolink_backtrace(co.get(), pcs.data(), (int)pcs.size());
    ASSERT_EQ(n, 152);
    auto names = frame_names(pcs.data(), n);
    EXPECT_EQ(std::count(names.begin(), names.end(), "recurse"), 151);
    EXPECT_EQ(names.back(), "recursing_body");
    EXPECT_EQ(corolink_backtrace(co.get(), pcs.data(), 40), 40);
}
INSTANTIATE_TEST_SUITE_P(Backtrace, RecursionTest,
                         ::testing::Values(Mode::Libunwind,
                                           Mode::FramePointers),
                         [](const ::testing::TestParamInfo<Mode> &info) {
                             return mode_name(info.param);
                         });

struct SelfCheck {
    int self = 100;  // corolink_backtrace(self) from inside the body
    int outer = 100; // ... of the coroutine resuming this one
    corolink *outer_co = nullptr;
};

static void *self_backtrace_body(corolink_yielder *y, void *, void *arg) {
    auto *c = static_cast<SelfCheck *>(arg);
    void *pcs[8];
    c->self = corolink_backtrace(corolink_from_yielder(y), pcs, 8);
    if (c->outer_co)
        c->outer = corolink_backtrace(c->outer_co, pcs, 8);
    return nullptr;
}

static void *nesting_body(corolink_yielder *y, void *, void *arg) {
    auto *c = static_cast<SelfCheck *>(arg);
    c->outer_co = corolink_from_yielder(y);
    Co inner(self_backtrace_body, c);
    inner.resume();
    return nullptr;
}

TEST(Backtrace, Errors) {
    void *pcs[8];
    EXPECT_EQ(corolink_backtrace(nullptr, pcs, 8), COROLINK_EINVAL);

    Co created(chain_body, (void *)(intptr_t)5);
    ASSERT_EQ(created.rc(), 0);
    EXPECT_EQ(corolink_backtrace(created.get(), pcs, 8), 0); // created
    EXPECT_EQ(corolink_backtrace(created.get(), nullptr, 8), COROLINK_EINVAL);
    EXPECT_EQ(corolink_backtrace(created.get(), pcs, -1), COROLINK_EINVAL);

    Co suspended(chain_body, (void *)(intptr_t)5);
    ASSERT_EQ(suspended.resume(), COROLINK_YIELD);
    EXPECT_EQ(corolink_backtrace(suspended.get(), pcs, 0), 0);      // max 0
    EXPECT_EQ(corolink_backtrace(suspended.get(), nullptr, 0), 0);  // too
    EXPECT_EQ(corolink_backtrace(suspended.get(), nullptr, 3), COROLINK_EINVAL);
    // max below the depth: truncated to max, innermost frames kept.
    for (Mode m : {Mode::Libunwind, Mode::FramePointers}) {
        if (m == Mode::Libunwind && !libunwind_available())
            continue;
        BacktraceMode env(mode_env(m));
        for (int max = 1; max <= 3; max++) {
            void *few[3] = {nullptr, nullptr, nullptr};
            ASSERT_EQ(corolink_backtrace(suspended.get(), few, max), max)
                << mode_name(m);
            auto names = frame_names(few, max);
            auto full = chain_names("deep", 5, "chain_body");
            EXPECT_EQ(join(names),
                      join({full.begin(), full.begin() + max}))
                << mode_name(m);
            for (int i = max; i < 3; i++)
                EXPECT_EQ(few[i], nullptr) << "wrote past max";
        }
    }

    Co finished(returning_body, nullptr);
    ASSERT_EQ(finished.resume(), COROLINK_RETURN);
    EXPECT_EQ(corolink_backtrace(finished.get(), pcs, 8), 0); // finished

    // Running: from inside itself, and a resumer of the running one.
    SelfCheck c;
    Co nest(nesting_body, &c);
    ASSERT_EQ(nest.resume(), COROLINK_RETURN);
    EXPECT_EQ(c.self, COROLINK_ERUNNING);
    EXPECT_EQ(c.outer, COROLINK_ERUNNING);
}

// ======================================================================
// corolink_state() and corolink_create_site()
// ======================================================================

struct StateSeen {
    int running = -100;
    int table_running = -100;
    int listed = 0;
};
static void *state_body(corolink_yielder *y, void *, void *arg) {
    auto *s = static_cast<StateSeen *>(arg);
    corolink *self = corolink_from_yielder(y);
    s->running = corolink_state(self);
    if (COROLINK_TEST_REGISTRY) {
        s->listed = live()[self];
        s->table_running = table_state(self);
    }
    corolink_suspend(y, nullptr);
    return nullptr;
}

TEST(State, EachState) {
    EXPECT_EQ(corolink_state(nullptr), COROLINK_EINVAL);
    StateSeen seen;
    Co co(state_body, &seen);
    ASSERT_EQ(co.rc(), 0);
    EXPECT_EQ(corolink_state(co.get()), COROLINK_STATE_CREATED);
    ASSERT_EQ(co.resume(), COROLINK_YIELD);
    EXPECT_EQ(seen.running, COROLINK_STATE_RUNNING);
    EXPECT_EQ(corolink_state(co.get()), COROLINK_STATE_SUSPENDED);
    ASSERT_EQ(co.resume(), COROLINK_RETURN);
    EXPECT_EQ(corolink_state(co.get()), COROLINK_STATE_FINISHED);
}

extern "C" CHAIN_NOIPA corolink *create_in_helper(corolink_stack *st) {
    corolink *co = nullptr;
    int rc = COROLINK_TEST_DEFAULT_STACK
                 ? corolink_create(&co, returning_body, nullptr, 0)
                 : corolink_create_on(&co, st, returning_body, nullptr);
    introspect_sink = introspect_sink + 2;
    return rc == 0 ? co : nullptr;
}

TEST(State, CreationSiteIsInTheCreatingFunction) {
    std::vector<char> mem(kHeapStack);
    corolink_stack st{mem.data() + mem.size(), mem.data(), 0};
    corolink *a = create_in_helper(&st);
    ASSERT_NE(a, nullptr);
    auto site = reinterpret_cast<uintptr_t>(corolink_create_site(a));
    EXPECT_EQ(symbolize(site - 1), "create_in_helper");
    if (COROLINK_TEST_REGISTRY) {
        EXPECT_EQ(field<uintptr_t>(a, table().off_create_site), site);
    }
    corolink_destroy(a);

    // Straight from this test's body.
    std::vector<char> mem2(kHeapStack);
    corolink_stack st2{mem2.data() + mem2.size(), mem2.data(), 0};
    corolink *b = nullptr;
    ASSERT_EQ(corolink_create_on(&b, &st2, returning_body, nullptr), 0);
    std::string name =
        symbolize(reinterpret_cast<uintptr_t>(corolink_create_site(b)) - 1);
    EXPECT_NE(name.find("CreationSiteIsInTheCreatingFunction"), std::string::npos)
        << name;
    EXPECT_NE(name.find("TestBody"), std::string::npos) << name;
    corolink_destroy(b);
    EXPECT_EQ(corolink_create_site(nullptr), nullptr);
}

// ======================================================================
// The registry, through the debug-offsets table
// ======================================================================

TEST(Registry, Table) {
    const DebugOffsets &t = table();
    EXPECT_STREQ(t.magic, "CLNKDBG");
    EXPECT_EQ(t.version, 3u);
    EXPECT_EQ(t.size, sizeof(DebugOffsets));
    // The resume path that tools leave out of backtraces: the traced
    // resume is in it, the switch's public entry points are not.
    auto in_hidden = [&t](const void *p) {
        auto a = reinterpret_cast<uint64_t>(p);
        return t.hidden_lo <= a && a < t.hidden_hi;
    };
    EXPECT_LT(t.hidden_lo, t.hidden_hi);
    EXPECT_TRUE(in_hidden(reinterpret_cast<const void *>(&corolink__resume_traced)));
    EXPECT_FALSE(in_hidden(reinterpret_cast<const void *>(&corolink_create)));
    EXPECT_FALSE(in_hidden(reinterpret_cast<const void *>(t.trampoline)));
    EXPECT_EQ(t.pointer_size, sizeof(void *));
    EXPECT_EQ(t.slot_size, sizeof(void *));
    EXPECT_EQ(t.slot_tag_mask, kSlotFree | kSlotPooled);
    // The target description: what this process is, checked against the
    // ELF header of the running executable.
    EXPECT_EQ(t.elf_machine, elf_machine_of_self());
#if defined(__arm__)
    // r11 beside r7 (ARM code's frame pointer beside Thumb's).
    EXPECT_EQ(t.nsaved, 3u);
    EXPECT_EQ(t.saved[2].dwarf, 11u);
    EXPECT_EQ(t.saved[2].off, 0x14u);
#else
    EXPECT_EQ(t.nsaved, 2u);
#endif
    EXPECT_EQ(t.saved[0].dwarf, t.dwarf_sp);
    EXPECT_EQ(t.saved[0].off, t.off_sp);
    EXPECT_EQ(t.saved[1].dwarf, t.dwarf_fp);
    EXPECT_EQ(t.saved[1].off, t.off_fp);
#if defined(__x86_64__)
    EXPECT_STREQ(t.target, "x86_64-sysv-elf");
    EXPECT_EQ(t.suspended_pc_adjust, -16);
    EXPECT_EQ(t.dwarf_pc, 16u);
    EXPECT_EQ(t.dwarf_sp, 7u);
    EXPECT_EQ(t.dwarf_fp, 6u);
    EXPECT_EQ(t.dwarf_ra, 16u);
#elif defined(__aarch64__)
    EXPECT_STREQ(t.target, "aarch64-aapcs-elf");
    EXPECT_EQ(t.dwarf_pc, 32u);
    EXPECT_EQ(t.dwarf_sp, 31u);
    EXPECT_EQ(t.dwarf_fp, 29u);
    EXPECT_EQ(t.dwarf_ra, 30u);
#elif defined(__riscv)
    EXPECT_STREQ(t.target, "riscv64-lp64d-elf");
    EXPECT_EQ(t.elf_machine, 243u);
    EXPECT_EQ(t.suspended_pc_adjust, -36);
    EXPECT_EQ(t.dwarf_pc, 64u); // no DWARF number: past x0-x31, f0-f31
    EXPECT_EQ(t.dwarf_sp, 2u);
    EXPECT_EQ(t.dwarf_fp, 8u);
    EXPECT_EQ(t.dwarf_ra, 1u);
#elif defined(__i386__)
    EXPECT_STREQ(t.target, "i386-sysv-elf");
    EXPECT_EQ(t.suspended_pc_adjust, -11);
    EXPECT_EQ(t.dwarf_pc, 8u);
    EXPECT_EQ(t.dwarf_sp, 4u);
    EXPECT_EQ(t.dwarf_fp, 5u);
    EXPECT_EQ(t.dwarf_ra, 8u);
#elif defined(__arm__)
    EXPECT_STREQ(t.target, "arm-aapcs-elf");
    EXPECT_EQ(t.suspended_pc_adjust, -40);
    EXPECT_EQ(t.dwarf_pc, 15u);
    EXPECT_EQ(t.dwarf_sp, 13u);
    EXPECT_EQ(t.dwarf_fp, 7u);
    EXPECT_EQ(t.dwarf_ra, 14u);
#endif
    if (COROLINK_TEST_REGISTRY)
        EXPECT_NE(t.registry, 0u);
    else
        EXPECT_EQ(t.registry, 0u);
}

TEST(Registry, ListsEachStateAndForgetsTheDestroyed) {
    SKIP_WITHOUT_REGISTRY();
    auto before = live();
    StateSeen seen;
    auto created = std::make_unique<Co>(chain_body, (void *)(intptr_t)3);
    auto suspended = std::make_unique<Co>(state_body, &seen);
    auto finished = std::make_unique<Co>(returning_body, nullptr);
    ASSERT_EQ(suspended->resume(), COROLINK_YIELD);
    ASSERT_EQ(finished->resume(), COROLINK_RETURN);
    EXPECT_EQ(seen.listed, 1);
    EXPECT_EQ(seen.table_running, COROLINK_STATE_RUNNING);

    auto now = live();
    EXPECT_EQ(now.size(), before.size() + 3);
    for (auto *c : {created.get(), suspended.get(), finished.get()}) {
        EXPECT_EQ(now[c->get()], 1);
        EXPECT_EQ(table_state(c->get()), corolink_state(c->get()));
        EXPECT_EQ(field<uint64_t>(c->get(), table().off_id),
                  corolink_id(c->get()));
    }
    EXPECT_EQ(table_state(created->get()), COROLINK_STATE_CREATED);
    EXPECT_EQ(table_state(suspended->get()), COROLINK_STATE_SUSPENDED);
    EXPECT_EQ(table_state(finished->get()), COROLINK_STATE_FINISHED);
    corolink_set_name(suspended->get(), "named");
    EXPECT_STREQ(reinterpret_cast<const char *>(suspended->get()) +
                     table().off_name,
                 "named");

    const corolink *gone = finished->get();
    finished.reset();
    now = live();
    EXPECT_EQ(now.count(gone), 0u);
    EXPECT_EQ(now.size(), before.size() + 2);
    created.reset();
    suspended.reset();
    EXPECT_EQ(live(), before);
}

TEST(Registry, PooledStackSlotIsTaggedPooled) {
    SKIP_WITHOUT_REGISTRY();
    if (!COROLINK_TEST_DEFAULT_STACK)
        GTEST_SKIP() << "no default stacks (no pool)";
    size_t old_limit = corolink_pool_limit(64);
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, returning_body, nullptr, 96 * 1024), 0);
    uintptr_t *slot = slot_of(co);
    ASSERT_NE(slot, nullptr);
    EXPECT_EQ(*slot, reinterpret_cast<uintptr_t>(co));
    corolink_destroy(co); // into this thread's pool, keeping its slot
    EXPECT_EQ(live().count(co), 0u);
    EXPECT_EQ(*slot, reinterpret_cast<uintptr_t>(co) | kSlotPooled);
    // The next create of that size takes the pooled stack and its slot.
    corolink *again = nullptr;
    ASSERT_EQ(corolink_create(&again, returning_body, nullptr, 96 * 1024), 0);
    EXPECT_EQ(again, co);
    EXPECT_EQ(*slot, reinterpret_cast<uintptr_t>(again));
    corolink_destroy(again);
    corolink_pool_trim(); // unmapped: the slot is free now
    EXPECT_NE(*slot & kSlotFree, 0u);
    corolink_pool_limit(old_limit);
}

TEST(Registry, TenThousandListedExactlyOnce) {
    SKIP_WITHOUT_REGISTRY();
    auto before = live();
    std::vector<std::unique_ptr<Co>> cos;
    for (int i = 0; i < 10000; i++) {
        cos.push_back(std::make_unique<Co>(parked_body, nullptr,
                                           !COROLINK_TEST_DEFAULT_STACK,
                                           16 * 1024));
        ASSERT_EQ(cos.back()->rc(), 0);
        if (i % 2) {
            ASSERT_EQ(cos.back()->resume(), COROLINK_YIELD);
        }
    }
    auto now = live();
    EXPECT_EQ(now.size(), before.size() + 10000);
    size_t ok = 0;
    for (auto &c : cos)
        ok += now.count(c->get()) == 1 && now[c->get()] == 1;
    EXPECT_EQ(ok, 10000u);
    for (auto &[co, n] : now)
        EXPECT_EQ(n, 1) << "listed twice";
    // Half of them gone.
    for (size_t i = 0; i < cos.size(); i += 2)
        cos[i].reset();
    now = live();
    EXPECT_EQ(now.size(), before.size() + 5000);
    cos.clear();
    EXPECT_EQ(live(), before);
}

// Created on this thread, destroyed on another: the slot leaves the
// registry and the destroying thread's next create reuses it.
static void cross_thread(bool pool) {
    auto before = live();
    std::vector<char> mem(kHeapStack), mem2(kHeapStack);
    corolink_stack st{mem.data() + mem.size(), mem.data(), 0};
    corolink_stack st2{mem2.data() + mem2.size(), mem2.data(), 0};
    bool own = !COROLINK_TEST_DEFAULT_STACK;
    corolink *co = nullptr;
    ASSERT_EQ(introspect_spawn(&co, parked_body, nullptr, own ? &st : nullptr),
              0);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    uintptr_t *slot = slot_of(co);
    ASSERT_NE(slot, nullptr);
    uintptr_t *slot2 = nullptr;
    bool gone = false;
    std::thread b([&] {
        if (!pool)
            corolink_pool_limit(0);
        corolink_destroy(co);
        gone = live().count(co) == 0 && (*slot & kSlotPooled || *slot & kSlotFree);
        corolink *c2 = nullptr;
        if (introspect_spawn(&c2, returning_body, nullptr,
                             own ? &st2 : nullptr) != 0)
            return;
        slot2 = slot_of(c2);
        corolink_destroy(c2);
    });
    b.join();
    EXPECT_TRUE(gone);
    EXPECT_EQ(slot2, slot) << "the destroying thread reuses the slot";
    EXPECT_EQ(live(), before);
}

TEST(Registry, DestroyedOnAnotherThreadSlotReused) {
    SKIP_WITHOUT_REGISTRY();
    cross_thread(false);
}

TEST(Registry, DestroyedOnAnotherThreadIntoItsPool) {
    SKIP_WITHOUT_REGISTRY();
    if (!COROLINK_TEST_DEFAULT_STACK)
        GTEST_SKIP() << "no default stacks (no pool)";
    cross_thread(true);
}

TEST(Registry, RemainingCoroutinesListedAfterTheirThreadExits) {
    SKIP_WITHOUT_REGISTRY();
    auto before = live();
    std::unique_ptr<Co> kept_suspended, kept_created;
    const corolink *destroyed = nullptr;
    std::thread t([&] {
        kept_suspended = std::make_unique<Co>(parked_body, nullptr);
        kept_created = std::make_unique<Co>(parked_body, nullptr);
        auto temp = std::make_unique<Co>(returning_body, nullptr);
        destroyed = temp->get();
        kept_suspended->resume();
        for (int i = 0; i < 50; i++) // some slots on this thread's free list
            Co(returning_body, nullptr);
    });
    t.join();
    auto now = live();
    EXPECT_EQ(now.size(), before.size() + 2);
    EXPECT_EQ(now[kept_suspended->get()], 1);
    EXPECT_EQ(now[kept_created->get()], 1);
    EXPECT_EQ(now.count(destroyed), 0u);
    EXPECT_EQ(table_state(kept_suspended->get()), COROLINK_STATE_SUSPENDED);
    EXPECT_EQ(table_state(kept_created->get()), COROLINK_STATE_CREATED);

    // The exited thread's free slots are reused without listing anything
    // twice.
    std::vector<std::unique_ptr<Co>> more;
    for (int i = 0; i < 300; i++)
        more.push_back(std::make_unique<Co>(returning_body, nullptr));
    now = live();
    EXPECT_EQ(now.size(), before.size() + 302);
    for (auto &[co, n] : now)
        EXPECT_EQ(n, 1);
    more.clear();
    kept_suspended.reset(); // runs it to its end first
    kept_created.reset();
    EXPECT_EQ(live(), before);
}

TEST(Registry, CreateOnCoroutinesAreListed) {
    SKIP_WITHOUT_REGISTRY();
    auto before = live();
    Co a(parked_body, nullptr, true);
    Co b(chain_body, (void *)(intptr_t)2, true);
    ASSERT_EQ(a.rc(), 0);
    ASSERT_EQ(b.resume(), COROLINK_YIELD);
    auto now = live();
    EXPECT_EQ(now[a.get()], 1);
    EXPECT_EQ(now[b.get()], 1);
    EXPECT_EQ(table_state(b.get()), COROLINK_STATE_SUSPENDED);
    // Its stack bounds as the table gives them.
    corolink_stack st;
    ASSERT_EQ(corolink_get_stack(b.get(), &st), 0);
    EXPECT_EQ(field<void *>(b.get(), table().off_stack_limit), st.limit);
    uintptr_t *slot = slot_of(a.get());
    ASSERT_NE(slot, nullptr);
    a.destroy();
    EXPECT_NE(*slot & kSlotFree, 0u);
    b.destroy();
    EXPECT_EQ(live(), before);
}

// ======================================================================
// corolink_dump()
// ======================================================================

#if COROLINK_TEST_HAS_DUMP

// Runs corolink_dump() into a string; rc receives its result.
static std::string dump(int *rc) {
    char *buf = nullptr;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    *rc = corolink_dump(f);
    fclose(f);
    std::string s(buf, len);
    free(buf);
    return s;
}

TEST(Dump, NullIsEinval) { EXPECT_EQ(corolink_dump(nullptr), COROLINK_EINVAL); }

TEST(Dump, NotSupportedWithoutRegistry) {
    if (COROLINK_TEST_REGISTRY)
        GTEST_SKIP() << "built with the registry";
    int rc;
    EXPECT_EQ(dump(&rc), "");
    EXPECT_EQ(rc, COROLINK_ENOTSUP);
}

class DumpTest : public ::testing::TestWithParam<Mode> {};

TEST_P(DumpTest, GroupsIdenticalStacks) {
    SKIP_WITHOUT_REGISTRY();
    SKIP_UNLESS_AVAILABLE(GetParam());
    BacktraceMode env(mode_env(GetParam()));
    std::vector<std::unique_ptr<Co>> parked, elsewhere;
    for (int i = 0; i < 37; i++) {
        parked.push_back(std::make_unique<Co>(parked_body, nullptr));
        ASSERT_EQ(parked.back()->resume(), COROLINK_YIELD);
        corolink_set_name(parked.back()->get(), "worker");
    }
    for (int i = 0; i < 3; i++) {
        elsewhere.push_back(std::make_unique<Co>(parked_elsewhere_body, nullptr));
        ASSERT_EQ(elsewhere.back()->resume(), COROLINK_YIELD);
        corolink_set_name(elsewhere.back()->get(),
                          ("other-" + std::to_string(i)).c_str());
    }
    Co idle(parked_body, nullptr);
    corolink_set_name(idle.get(), "idle");
    Co done(returning_body, nullptr);
    ASSERT_EQ(done.resume(), COROLINK_RETURN);
    corolink_set_name(done.get(), "done");
    Co deep(chain_body, (void *)(intptr_t)4);
    ASSERT_EQ(deep.resume(), COROLINK_YIELD);

    size_t listed = live().size();
    int rc;
    std::string out = dump(&rc);
    SCOPED_TRACE(out);
    if (std::getenv("INTROSPECT_SHOW_DUMP"))
        std::fputs(out.c_str(), stdout);
    EXPECT_EQ(rc, (int)listed);
    EXPECT_EQ(out.rfind("corolink: " + std::to_string(listed) +
                            " live coroutines (0 running, 41 suspended, "
                            "1 created, 1 finished)\n",
                        0),
              0u);

    // The 37: one group, their ids, their name, their creation site, the
    // frames they are parked in.
    size_t g37 = out.find("37 coroutines with this stack: ids " +
                          std::to_string(corolink_id(parked[0]->get())));
    ASSERT_NE(g37, std::string::npos);
    std::string last = std::to_string(corolink_id(parked[36]->get()));
    size_t eol = out.find('\n', g37);
    std::string head = out.substr(g37, eol - g37);
    EXPECT_NE(head.find(last), std::string::npos) << head;
    size_t g3 = out.find("3 coroutines with this stack: ids ");
    ASSERT_NE(g3, std::string::npos);
    EXPECT_LT(g37, g3) << "most common stack first";
    std::string group = out.substr(g37, g3 - g37);
    EXPECT_NE(group.find("    state: suspended\n"), std::string::npos);
    EXPECT_NE(group.find("    names: \"worker\" x37\n"), std::string::npos);
    EXPECT_NE(group.find(" in introspect_spawn+0x"), std::string::npos);
    size_t f0 = group.find("    #0 0x");
    size_t f1 = group.find("    #1 0x");
    ASSERT_NE(f0, std::string::npos);
    ASSERT_NE(f1, std::string::npos);
    EXPECT_NE(group.find(" in park_here+0x", f0), std::string::npos);
    EXPECT_LT(group.find(" in park_here+0x", f0), f1);
    EXPECT_NE(group.find(" in parked_body+0x", f1), std::string::npos);
    EXPECT_EQ(group.find("    #2 "), std::string::npos);
    EXPECT_EQ(group.find("idle"), std::string::npos);

    // The 3 parked elsewhere, with their distinct names.
    std::string group3 = out.substr(g3, out.find("\n\n", g3) - g3);
    EXPECT_NE(group3.find("    names: \"other-0\", \"other-1\", \"other-2\"\n"),
              std::string::npos);
    EXPECT_NE(group3.find(" in park_elsewhere+0x"), std::string::npos);

    // The deep one, alone.
    size_t d = out.find("coroutine " + std::to_string(corolink_id(deep.get())) +
                        ": suspended\n");
    ASSERT_NE(d, std::string::npos);
    std::string one = out.substr(d, out.find("\n\n", d) - d);
    EXPECT_NE(one.find("#4 0x"), std::string::npos);
    EXPECT_NE(one.find(" in deep1+0x"), std::string::npos);
    EXPECT_NE(one.find(" in chain_body+0x"), std::string::npos);

    // Created and finished: one line each, and their creation site.
    EXPECT_NE(out.find("coroutine " + std::to_string(corolink_id(idle.get())) +
                       " \"idle\": created, not started\n    created at 0x"),
              std::string::npos);
    EXPECT_NE(out.find("coroutine " + std::to_string(corolink_id(done.get())) +
                       " \"done\": finished (returned)\n"),
              std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Dump, DumpTest,
                         ::testing::Values(Mode::Libunwind,
                                           Mode::FramePointers),
                         [](const ::testing::TestParamInfo<Mode> &info) {
                             return mode_name(info.param);
                         });

TEST(Dump, LongStacksAreCut) {
    SKIP_WITHOUT_REGISTRY();
    Co co(recursing_body, (void *)(intptr_t)150);
    ASSERT_EQ(co.resume(), COROLINK_YIELD);
    int rc;
    std::string out = dump(&rc);
    size_t at = out.find("coroutine " + std::to_string(corolink_id(co.get())) +
                         ": suspended\n");
    ASSERT_NE(at, std::string::npos) << out;
    std::string one = out.substr(at, out.find("\n\n", at) - at);
    EXPECT_NE(one.find("    #99 0x"), std::string::npos) << one;
    EXPECT_EQ(one.find("    #100 "), std::string::npos) << one;
    EXPECT_NE(one.find("    ... (more frames)"), std::string::npos) << one;
}

struct InsideDump {
    std::string text;
    int rc = 0;
};
extern "C" CHAIN_NOIPA void *dumping_body(corolink_yielder *y, void *, void *arg) {
    auto *d = static_cast<InsideDump *>(arg);
    d->text = dump(&d->rc);
    corolink_suspend(y, nullptr);
    return nullptr;
}

TEST(Dump, ListsTheRunningCoroutineFromInside) {
    SKIP_WITHOUT_REGISTRY();
    InsideDump d;
    Co co(dumping_body, &d);
    corolink_set_name(co.get(), "dumper");
    ASSERT_EQ(co.resume(), COROLINK_YIELD);
    SCOPED_TRACE(d.text);
    EXPECT_GE(d.rc, 1);
    EXPECT_NE(d.text.find("(1 running,"), std::string::npos);
    EXPECT_NE(d.text.find("coroutine " + std::to_string(corolink_id(co.get())) +
                          " \"dumper\": running\n    created at 0x"),
              std::string::npos);
    // Suspended now: listed with its stack.
    int rc;
    std::string after = dump(&rc);
    EXPECT_NE(after.find("coroutine " + std::to_string(corolink_id(co.get())) +
                         " \"dumper\": suspended\n"),
              std::string::npos)
        << after;
    EXPECT_NE(after.find(" in dumping_body"), std::string::npos) << after;
}

TEST(Dump, EmptyRegistry) {
    SKIP_WITHOUT_REGISTRY();
    if (!live().empty())
        GTEST_SKIP() << "coroutines left by other tests";
    int rc;
    std::string out = dump(&rc);
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(out, "corolink: 0 live coroutines (0 running, 0 suspended, "
                   "0 created, 0 finished)\n\n");
}

// Many coroutines: stacks are hashed, not compared pairwise. Stacks on one
// buffer (fewer mappings than default stacks).
TEST(Dump, TwentyThousandCoroutinesQuickly) {
    SKIP_WITHOUT_REGISTRY();
    constexpr size_t kCount = 20000;
    constexpr size_t kStride = 5120; // room for the control block's alignment
    std::unique_ptr<char[]> mem(new char[kCount * kStride]);
    std::vector<corolink *> cos(kCount);
    for (size_t i = 0; i < kCount; i++) {
        corolink_stack st{mem.get() + (i + 1) * kStride, mem.get() + i * kStride, 0};
        ASSERT_EQ(introspect_spawn(&cos[i],
                                   i % 4 ? parked_body : parked_elsewhere_body,
                                   nullptr, &st),
                  0);
        ASSERT_EQ(corolink_resume(cos[i], nullptr, nullptr), COROLINK_YIELD);
    }
    auto t0 = std::chrono::steady_clock::now();
    int rc;
    std::string out = dump(&rc);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(rc, (int)kCount);
    EXPECT_NE(out.find("15000 coroutines with this stack"), std::string::npos);
    EXPECT_NE(out.find("5000 coroutines with this stack"), std::string::npos);
    EXPECT_LT(out.size(), 4096u) << "two groups, ids abbreviated";
    EXPECT_LT(secs, 10.0);
    std::printf("dump of %zu coroutines: %.3f s, %zu bytes\n", kCount, secs,
                out.size());
    for (corolink *co : cos) {
        corolink_resume(co, nullptr, nullptr);
        corolink_destroy(co);
    }
}

#endif // COROLINK_TEST_HAS_DUMP
