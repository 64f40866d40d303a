// Exceptions crossing the coroutine boundary, and forced unwinding of
// suspended coroutines (COROLINK_UNWIND=ON); what a build without the
// unwinder does instead (COROLINK_UNWIND=OFF). Built twice: with the inline
// switch and with COROLINK_NO_INLINE (the out-of-line assembly).
#include <corolink.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <pthread.h>
#include <stdexcept>
#include <string>
#include <unwind.h>
#include <vector>

#include "cleanup_c.h"
#include "../common/death_style.h"

namespace {

// Destructor bookkeeping: how many ran, and in which order (by tag).
int g_dtors;
std::vector<int> g_order;

struct Counted {
    int tag;
    explicit Counted(int t = 0) : tag(t) {}
    Counted(const Counted &) = delete;
    ~Counted() {
        ++g_dtors;
        g_order.push_back(tag);
    }
};

void reset_counts() {
    g_dtors = 0;
    g_order.clear();
}

// RAII for coroutines in tests.
struct Co {
    corolink *co = nullptr;
    Co(corolink_fn fn, void *arg = nullptr) {
        EXPECT_EQ(corolink_create(&co, fn, arg, 0), 0);
    }
    ~Co() { corolink_destroy(co); }
    operator corolink *() const { return co; }
};

void *suspend(corolink_yielder *y, void *v = nullptr) {
    return corolink_suspend(y, v);
}

// A coroutine of fn(arg) run up to its first suspend; NULL (and a test
// failure) if it did not get there.
corolink *started(corolink_fn fn, void *arg = nullptr) {
    corolink *co = nullptr;
    EXPECT_EQ(corolink_create(&co, fn, arg, 0), 0);
    if (co == nullptr)
        return nullptr;
    int rc = corolink_resume(co, nullptr, nullptr);
    EXPECT_EQ(rc, COROLINK_YIELD);
    if (rc != COROLINK_YIELD) {
        corolink_destroy(co);
        return nullptr;
    }
    return co;
}

}  // namespace

#if COROLINK_TEST_UNWIND

namespace {

// An exception type that remembers where it was constructed, so that the
// catcher can check it got the very object that was thrown.
struct Boom {
    int value;
    const Boom *self;
    explicit Boom(int v) : value(v), self(this) {}
    Boom(const Boom &o) : value(o.value), self(o.self) { ++copies; }
    static int copies;
};
int Boom::copies;

__attribute__((noinline)) void throw_at_depth(int depth, int value) {
    Counted c(depth);
    if (depth <= 1)
        throw Boom(value);
    throw_at_depth(depth - 1, value);
    __asm__ volatile("" ::: "memory");  // not a tail call
}

struct DepthArg {
    int depth;
    int suspends;
};

void *throwing_body(corolink_yielder *y, void *, void *arg) {
    auto *a = static_cast<DepthArg *>(arg);
    Counted outer(1000);
    for (int i = 0; i < a->suspends; i++)
        suspend(y, reinterpret_cast<void *>(static_cast<intptr_t>(i)));
    throw_at_depth(a->depth, 42);
    return nullptr;
}

}  // namespace

class ThrowDepth : public ::testing::TestWithParam<std::tuple<int, int>> {};

// An exception thrown at any depth of a body, before or after suspends,
// comes out of the resume that resumed it as the same object, catchable by
// type; every destructor on the coroutine's stack ran; the coroutine is
// finished.
TEST_P(ThrowDepth, PropagatesToResumer) {
    auto [depth, suspends] = GetParam();
    reset_counts();
    Boom::copies = 0;
    DepthArg arg{depth, suspends};
    Co co(throwing_body, &arg);
    void *out;
    for (int i = 0; i < suspends; i++) {
        ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_YIELD);
        EXPECT_EQ(out, reinterpret_cast<void *>(static_cast<intptr_t>(i)));
    }
    bool caught = false;
    try {
        corolink_resume(co, nullptr, &out);
    } catch (const Boom &b) {
        caught = true;
        EXPECT_EQ(b.value, 42);
        EXPECT_EQ(b.self, &b) << "not the object that was thrown";
        EXPECT_EQ(std::uncaught_exceptions(), 0);
    }
    EXPECT_TRUE(caught);
    EXPECT_EQ(Boom::copies, 0);
    EXPECT_EQ(g_dtors, depth + 1);  // one per level, plus `outer`
    EXPECT_EQ(g_order.back(), 1000);
    EXPECT_TRUE(corolink_done(co));
    EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_EDONE);
    EXPECT_EQ(out, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Depths, ThrowDepth,
                         ::testing::Combine(::testing::Values(1, 5, 20),
                                            ::testing::Values(0, 1, 3)));

namespace {

void *std_throw_body(corolink_yielder *y, void *, void *) {
    suspend(y);
    throw std::out_of_range("out of range in a coroutine");
}

}  // namespace

// Catchable by a base class, and what() survives.
TEST(Exceptions, CatchByBaseClass) {
    Co co(std_throw_body);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    try {
        corolink_resume(co, nullptr, nullptr);
        FAIL() << "no exception";
    } catch (const std::logic_error &e) {
        EXPECT_STREQ(e.what(), "out of range in a coroutine");
    }
    EXPECT_TRUE(corolink_done(co));
}

namespace {

// While the exception passes through the body's frames and then the
// resumer's, it is uncaught to the C++ runtime.
int g_uncaught_in_body = -1, g_uncaught_in_resumer = -1;
struct NoteUncaught {
    int *where;
    ~NoteUncaught() { *where = std::uncaught_exceptions(); }
};

void *uncaught_body(corolink_yielder *, void *, void *) {
    NoteUncaught n{&g_uncaught_in_body};
    throw 7;
}

}  // namespace

TEST(Exceptions, UncaughtExceptionsCountedOnBothSides) {
    Co co(uncaught_body);
    try {
        NoteUncaught n{&g_uncaught_in_resumer};
        corolink_resume(co, nullptr, nullptr);
    } catch (int v) {
        EXPECT_EQ(v, 7);
    }
    EXPECT_EQ(g_uncaught_in_body, 1);
    EXPECT_EQ(g_uncaught_in_resumer, 1);
}

namespace {

// A foreign exception (not C++): raised with the Itanium ABI directly, as
// another language's runtime would.
int g_foreign_cleanups;
_Unwind_Exception *g_foreign_seen;
void foreign_cleanup(_Unwind_Reason_Code, _Unwind_Exception *e) {
    ++g_foreign_cleanups;
    g_foreign_seen = e;
}
_Unwind_Exception g_foreign;

void *foreign_body(corolink_yielder *y, void *, void *) {
    Counted c(1);
    suspend(y);
    std::memset(&g_foreign, 0, sizeof g_foreign);
#if defined(__ARM_EABI_UNWINDER__)
    // ARM EHABI: the class is eight characters.
    std::memcpy(g_foreign.exception_class, "TESTFORK", 8);
#else
    g_foreign.exception_class = 0x54455354464f524bULL;  // "TESTFORK"
#endif
    g_foreign.exception_cleanup = foreign_cleanup;
    _Unwind_RaiseException(&g_foreign);
    ADD_FAILURE() << "_Unwind_RaiseException returned";
    return nullptr;
}

}  // namespace

// A foreign exception crosses the boundary too; C++ catches it with
// catch (...), and ending that handler deletes the very object raised.
TEST(Exceptions, ForeignException) {
    reset_counts();
    g_foreign_cleanups = 0;
    g_foreign_seen = nullptr;
    Co co(foreign_body);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    bool caught = false;
    try {
        corolink_resume(co, nullptr, nullptr);
    } catch (...) {
        caught = true;
    }
    EXPECT_TRUE(caught);
    EXPECT_EQ(g_dtors, 1);
    EXPECT_EQ(g_foreign_cleanups, 1);
    EXPECT_EQ(g_foreign_seen, &g_foreign);
    EXPECT_TRUE(corolink_done(co));
}

namespace {

void *throw_on_parent(void *arg) {
    Counted c(static_cast<int>(reinterpret_cast<intptr_t>(arg)));
    throw std::runtime_error("from the parent stack");
}

// Catches what fn of corolink_on_parent_stack() throws at the call site,
// then lets a second one through.
void *on_parent_body(corolink_yielder *y, void *, void *) {
    Counted c(100);
    try {
        corolink_on_parent_stack(y, throw_on_parent, reinterpret_cast<void *>(1));
        ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error &e) {
        EXPECT_STREQ(e.what(), "from the parent stack");
        EXPECT_EQ(g_dtors, 1);
    }
    suspend(y, reinterpret_cast<void *>(5));
    corolink_on_parent_stack(y, throw_on_parent, reinterpret_cast<void *>(2));
    return nullptr;
}

}  // namespace

// An exception thrown by fn of corolink_on_parent_stack() propagates into
// the coroutine at the call site; uncaught there, on to the resumer. The
// library's own bookkeeping survives (corolink_current() afterwards).
TEST(Exceptions, OnParentStack) {
    reset_counts();
    Co co(on_parent_body);
    void *out;
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_YIELD);
    EXPECT_EQ(out, reinterpret_cast<void *>(5));
    EXPECT_THROW(corolink_resume(co, nullptr, &out), std::runtime_error);
    EXPECT_EQ(g_order, (std::vector<int>{1, 2, 100}));
    EXPECT_TRUE(corolink_done(co));
    EXPECT_EQ(corolink_current(), nullptr);
}

namespace {

void *throw_on_side(void *) {
    Counted c(7);
    throw Boom(9);
}

void *on_stack_body(corolink_yielder *, void *, void *arg) {
    auto *st = static_cast<corolink_stack *>(arg);
    try {
        corolink_on_stack(st, throw_on_side, nullptr, nullptr);
    } catch (const Boom &b) {
        return reinterpret_cast<void *>(static_cast<intptr_t>(b.value));
    }
    return nullptr;
}

}  // namespace

// An exception thrown by fn of corolink_on_stack() propagates to its
// caller: on a thread's own stack and inside a coroutine.
TEST(Exceptions, OnStack) {
    reset_counts();
    corolink_stack st;
    ASSERT_EQ(corolink_stack_alloc(&st, 0), 0);
    try {
        corolink_on_stack(&st, throw_on_side, nullptr, nullptr);
        ADD_FAILURE() << "no exception";
    } catch (const Boom &b) {
        EXPECT_EQ(b.value, 9);
    }
    EXPECT_EQ(g_dtors, 1);
    Co co(on_stack_body, &st);
    void *out;
    EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ(out, reinterpret_cast<void *>(9));
    EXPECT_EQ(g_dtors, 2);
    corolink_stack_free(&st);
}

namespace {

// Three coroutines nested: A resumes B resumes C; C throws. The exception
// crosses C's, B's and A's boundaries in turn.
struct Nest {
    corolink *a, *b, *c;
};

void *nest_c(corolink_yielder *y, void *, void *) {
    Counted k(3);
    suspend(y);
    throw std::runtime_error("from C");
}

void *nest_b(corolink_yielder *y, void *, void *arg) {
    auto *n = static_cast<Nest *>(arg);
    Counted k(2);
    EXPECT_EQ(corolink_resume(n->c, nullptr, nullptr), COROLINK_YIELD);
    suspend(y);
    corolink_resume(n->c, nullptr, nullptr);  // throws
    ADD_FAILURE() << "B went on";
    return nullptr;
}

void *nest_a(corolink_yielder *y, void *, void *arg) {
    auto *n = static_cast<Nest *>(arg);
    Counted k(1);
    EXPECT_EQ(corolink_resume(n->b, nullptr, nullptr), COROLINK_YIELD);
    suspend(y);
    corolink_resume(n->b, nullptr, nullptr);  // throws
    ADD_FAILURE() << "A went on";
    return nullptr;
}

}  // namespace

TEST(Exceptions, NestedThreeDeep) {
    reset_counts();
    Nest n{};
    ASSERT_EQ(corolink_create(&n.a, nest_a, &n, 0), 0);
    ASSERT_EQ(corolink_create(&n.b, nest_b, &n, 0), 0);
    ASSERT_EQ(corolink_create(&n.c, nest_c, &n, 0), 0);
    ASSERT_EQ(corolink_resume(n.a, nullptr, nullptr), COROLINK_YIELD);
    try {
        corolink_resume(n.a, nullptr, nullptr);
        ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error &e) {
        EXPECT_STREQ(e.what(), "from C");
    }
    EXPECT_EQ(g_order, (std::vector<int>{3, 2, 1}));
    EXPECT_TRUE(corolink_done(n.a));
    EXPECT_TRUE(corolink_done(n.b));
    EXPECT_TRUE(corolink_done(n.c));
    corolink_destroy(n.c);
    corolink_destroy(n.b);
    corolink_destroy(n.a);
}

namespace {

std::exception_ptr g_stored;

void *store_body(corolink_yielder *y, void *, void *) {
    try {
        throw std::runtime_error("stored");
    } catch (...) {
        g_stored = std::current_exception();
    }
    suspend(y);
    return nullptr;
}

void *rethrow_body(corolink_yielder *y, void *in, void *) {
    auto *ep = static_cast<std::exception_ptr *>(in);
    suspend(y);
    std::rethrow_exception(*ep);
}

}  // namespace

// std::exception_ptr: captured in a body and rethrown by the resumer; and
// captured by the resumer and rethrown inside a body, out of the resume.
TEST(Exceptions, ExceptionPtrStoredAndRethrown) {
    Co a(store_body);
    ASSERT_EQ(corolink_resume(a, nullptr, nullptr), COROLINK_YIELD);
    ASSERT_TRUE(g_stored);
    EXPECT_EQ(corolink_resume(a, nullptr, nullptr), COROLINK_RETURN);
    try {
        std::rethrow_exception(g_stored);
    } catch (const std::runtime_error &e) {
        EXPECT_STREQ(e.what(), "stored");
    }

    std::exception_ptr mine;
    try {
        throw Boom(77);
    } catch (...) {
        mine = std::current_exception();
    }
    Co b(rethrow_body);
    ASSERT_EQ(corolink_resume(b, &mine, nullptr), COROLINK_YIELD);
    try {
        corolink_resume(b, nullptr, nullptr);
        ADD_FAILURE() << "no exception";
    } catch (const Boom &e) {
        EXPECT_EQ(e.value, 77);
    }
    EXPECT_TRUE(corolink_done(b));
    g_stored = nullptr;
}

namespace {

void *terminate_body(corolink_yielder *, void *, void *) {
    throw std::runtime_error("nobody catches this");
}

void *resume_on_bare_thread(void *) {
    corolink *co;
    corolink_create(&co, terminate_body, nullptr, 0);
    corolink_resume(co, nullptr, nullptr);
    return nullptr;
}

}  // namespace

// An exception nobody catches ends the program as C++ does: on a thread
// with no handler at all above the resume (Google Test catches exceptions
// in the test's own thread), the search finds nothing.
TEST(ExceptionsDeathTest, UncaughtTerminates) {
    COROLINK_TEST_THREADSAFE_DEATH();
    EXPECT_DEATH(
        {
            pthread_t t;
            pthread_create(&t, nullptr, resume_on_bare_thread, nullptr);
            pthread_join(t, nullptr);
        },
#if defined(_WIN32)
        // libcorolink.dll cannot reach the program's C++ runtime (PE has
        // no weak references across modules): the library ends the
        // program itself, naming the exception's class.
        "corolink: fatal: uncaught exception \\(class \"GNUCC\\+\\+"
#else
        "terminate called after throwing an instance of "
        "'std::runtime_error'"
#endif
    );
}

namespace {

// A `catch (...) { throw; }` that rethrows the forced unwind leaves the
// thread's count of uncaught exceptions as it was.
void *rethrow_in_unwind_body(corolink_yielder *y, void *, void *) {
    try {
        suspend(y);
    } catch (...) {
        throw;
    }
    return nullptr;
}

}  // namespace

TEST(ForcedUnwind, RethrowKeepsUncaughtCount) {
#if defined(_WIN32)
    GTEST_SKIP() << "libcorolink.dll cannot reach the program's C++ runtime "
                    "(no weak references across PE modules): the count "
                    "stays one higher (README, Windows x64)";
#endif
    corolink *co = started(rethrow_in_unwind_body);
    ASSERT_NE(co, nullptr);
    corolink_destroy(co);
    EXPECT_EQ(std::uncaught_exceptions(), 0);
}

// ---- forced unwinding --------------------------------------------------

namespace {

__attribute__((noinline)) void park_at_depth(corolink_yielder *y, int depth) {
    Counted c(depth);
    if (depth <= 1)
        suspend(y);
    else
        park_at_depth(y, depth - 1);
    __asm__ volatile("" ::: "memory");
}

void *parking_body(corolink_yielder *y, void *, void *arg) {
    Counted c(1000);
    park_at_depth(y, static_cast<int>(reinterpret_cast<intptr_t>(arg)));
    ADD_FAILURE() << "resumed normally";
    return nullptr;
}

}  // namespace

// Destroying a suspended coroutine runs the destructors on its stack,
// innermost first, then frees it.
TEST(ForcedUnwind, DestroyRunsDestructorsInnermostFirst) {
    reset_counts();
    corolink *co = started(parking_body, reinterpret_cast<void *>(4));
    ASSERT_NE(co, nullptr);
    EXPECT_EQ(g_dtors, 0);
    corolink_destroy(co);
    EXPECT_EQ(g_order, (std::vector<int>{1, 2, 3, 4, 1000}));
}

// corolink_force_unwind() does the same without freeing: the coroutine is
// finished, and destroying it later runs nothing again.
TEST(ForcedUnwind, ForceUnwindKeepsTheCoroutine) {
    reset_counts();
    corolink *co = started(parking_body, reinterpret_cast<void *>(2));
    ASSERT_NE(co, nullptr);
    EXPECT_EQ(corolink_force_unwind(co), 0);
    EXPECT_EQ(g_order, (std::vector<int>{1, 2, 1000}));
    EXPECT_TRUE(corolink_done(co));
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_EDONE);
    EXPECT_EQ(corolink_force_unwind(co), 0);  // finished: nothing to do
    corolink_destroy(co);
    EXPECT_EQ(g_dtors, 3);
}

namespace {

bool g_body_ran;
void *never_run_body(corolink_yielder *, void *, void *) {
    g_body_ran = true;
    return nullptr;
}

}  // namespace

// A created coroutine that never ran: destroying (or force-unwinding) it
// runs nothing of the body. A finished one is just freed.
TEST(ForcedUnwind, NeverStartedAndFinished) {
    g_body_ran = false;
    corolink *co;
    ASSERT_EQ(corolink_create(&co, never_run_body, nullptr, 0), 0);
    corolink_destroy(co);
    ASSERT_EQ(corolink_create(&co, never_run_body, nullptr, 0), 0);
    EXPECT_EQ(corolink_force_unwind(co), 0);
    EXPECT_TRUE(corolink_done(co));
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_EDONE);
    corolink_destroy(co);
    EXPECT_FALSE(g_body_ran);
    ASSERT_EQ(corolink_create(&co, never_run_body, nullptr, 0), 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    EXPECT_TRUE(g_body_ran);
    corolink_destroy(co);
    EXPECT_EQ(corolink_force_unwind(nullptr), COROLINK_EINVAL);
}

namespace {

// Catches the forced unwind with catch (...) and swallows it, then
// suspends again (twice), then finally lets it through.
int g_swallowed;
void *swallow_then_suspend_body(corolink_yielder *y, void *, void *) {
    Counted outer(1);
    for (int i = 0; i < 2; i++) {
        try {
            Counted inner(10 + i);
            suspend(y);
        } catch (...) {
            ++g_swallowed;
        }
    }
    Counted last(2);
    suspend(y);  // unwound from here
    ADD_FAILURE() << "resumed normally";
    return nullptr;
}

void *swallow_then_return_body(corolink_yielder *y, void *, void *) {
    Counted outer(1);
    try {
        Counted inner(10);
        suspend(y);
    } catch (...) {
        ++g_swallowed;
    }
    return reinterpret_cast<void *>(1);  // returns normally
}

void *rethrow_unwind_body(corolink_yielder *y, void *, void *) {
    Counted outer(1);
    try {
        Counted inner(10);
        suspend(y);
    } catch (...) {
        ++g_swallowed;
        throw;  // the unwind goes on
    }
    ADD_FAILURE() << "went on after rethrow";
    return nullptr;
}

}  // namespace

// A body that catches everything during the forced unwind and suspends
// again is unwound again until its stack is empty.
TEST(ForcedUnwind, CatchAllThenSuspendAgain) {
    reset_counts();
    g_swallowed = 0;
    corolink *co = started(swallow_then_suspend_body);
    ASSERT_NE(co, nullptr);
    corolink_destroy(co);
    EXPECT_EQ(g_swallowed, 2);
    EXPECT_EQ(g_order, (std::vector<int>{10, 11, 2, 1}));
}

// ... or returns normally: then it is simply finished.
TEST(ForcedUnwind, CatchAllThenReturn) {
    reset_counts();
    g_swallowed = 0;
    corolink *co = started(swallow_then_return_body);
    ASSERT_NE(co, nullptr);
    EXPECT_EQ(corolink_force_unwind(co), 0);
    EXPECT_TRUE(corolink_done(co));
    EXPECT_EQ(g_swallowed, 1);
    EXPECT_EQ(g_order, (std::vector<int>{10, 1}));
    corolink_destroy(co);
}

// ... or rethrows: the unwind goes on.
TEST(ForcedUnwind, CatchAllRethrow) {
    reset_counts();
    g_swallowed = 0;
    corolink *co = started(rethrow_unwind_body);
    ASSERT_NE(co, nullptr);
    corolink_destroy(co);
    EXPECT_EQ(g_swallowed, 1);
    EXPECT_EQ(g_order, (std::vector<int>{10, 1}));
}

namespace {

void *throw_while_unwound_body(corolink_yielder *y, void *, void *) {
    Counted outer(1);
    try {
        suspend(y);
    } catch (...) {
        throw std::runtime_error("thrown while unwound");
    }
    return nullptr;
}

}  // namespace

// A body that throws a new exception while it is unwound: the coroutine
// finishes and the exception comes out of corolink_force_unwind() (or out
// of corolink_destroy(), after the stack is freed).
TEST(ForcedUnwind, NewExceptionWhileUnwound) {
    reset_counts();
    corolink *co = started(throw_while_unwound_body);
    ASSERT_NE(co, nullptr);
    EXPECT_THROW(corolink_force_unwind(co), std::runtime_error);
    EXPECT_TRUE(corolink_done(co));
    EXPECT_EQ(g_dtors, 1);
    corolink_destroy(co);

    co = started(throw_while_unwound_body);
    ASSERT_NE(co, nullptr);
    EXPECT_THROW(corolink_destroy(co), std::runtime_error);
    EXPECT_EQ(g_dtors, 2);
}

namespace {

void *thousand_body(corolink_yielder *y, void *, void *arg) {
    Counted a(1);
    park_at_depth(y, 1 + static_cast<int>(reinterpret_cast<intptr_t>(arg) % 3));
    return nullptr;
}

}  // namespace

// 1,000 coroutines destroyed while suspended: every destructor runs.
TEST(ForcedUnwind, ThousandSuspendedCoroutines) {
    reset_counts();
    std::vector<corolink *> cos(1000);
    int expected = 0;
    for (size_t i = 0; i < cos.size(); i++) {
        ASSERT_EQ(corolink_create(&cos[i], thousand_body,
                                  reinterpret_cast<void *>(i), 0),
                  0);
        ASSERT_EQ(corolink_resume(cos[i], nullptr, nullptr), COROLINK_YIELD);
        expected += 2 + static_cast<int>(i % 3);
    }
    EXPECT_EQ(g_dtors, 0);
    for (corolink *co : cos)
        corolink_destroy(co);
    EXPECT_EQ(g_dtors, expected);
}

namespace {

void *nested_outer_body(corolink_yielder *y, void *, void *arg) {
    auto *inner = static_cast<corolink **>(arg);
    Counted c(1);
    EXPECT_EQ(corolink_resume(*inner, nullptr, nullptr), COROLINK_YIELD);
    suspend(y);
    corolink_destroy(*inner);  // unwound from inside this coroutine
    *inner = nullptr;
    suspend(y);
    return nullptr;
}

}  // namespace

// A forced unwind started from inside another coroutine; then that
// coroutine is itself unwound.
TEST(ForcedUnwind, FromInsideACoroutine) {
    reset_counts();
    corolink *inner, *outer;
    ASSERT_EQ(corolink_create(&inner, parking_body, reinterpret_cast<void *>(2), 0), 0);
    ASSERT_EQ(corolink_create(&outer, nested_outer_body, &inner, 0), 0);
    ASSERT_EQ(corolink_resume(outer, nullptr, nullptr), COROLINK_YIELD);
    ASSERT_EQ(corolink_resume(outer, nullptr, nullptr), COROLINK_YIELD);
    EXPECT_EQ(inner, nullptr);
    EXPECT_EQ(g_order, (std::vector<int>{1, 2, 1000}));
    corolink_destroy(outer);
    EXPECT_EQ(g_order, (std::vector<int>{1, 2, 1000, 1}));
}

// corolink_force_reset() first: destroy frees the stack without running
// anything on it (the documented leak).
TEST(ForcedUnwind, ForceResetSkipsUnwinding) {
    reset_counts();
    corolink *co = started(parking_body, reinterpret_cast<void *>(2));
    ASSERT_NE(co, nullptr);
    ASSERT_EQ(corolink_force_reset(co), 0);
    corolink_destroy(co);
    EXPECT_EQ(g_dtors, 0);
}

// ---- C: cleanup handlers (cleanup_c.c, built with -fexceptions) ---------

// Destroying a suspended C coroutine runs its cleanup handlers innermost
// first; corolink_force_unwind() too.
TEST(CleanupC, DestroyRunsCleanupHandlers) {
    cleanup_c_reset();
    corolink *co = cleanup_c_park(3);
    ASSERT_NE(co, nullptr);
    EXPECT_EQ(cleanup_c_count(), 0);
    corolink_destroy(co);
    EXPECT_EQ(cleanup_c_order(), std::string("0,1,2,3,"));

    cleanup_c_reset();
    co = cleanup_c_park(2);
    EXPECT_EQ(corolink_force_unwind(co), 0);
    EXPECT_EQ(cleanup_c_order(), std::string("0,1,2,"));
    EXPECT_TRUE(corolink_done(co));
    corolink_destroy(co);
    EXPECT_EQ(cleanup_c_count(), 3);
}

TEST(CleanupC, ThousandSuspendedCoroutines) {
    cleanup_c_reset();
    std::vector<corolink *> cos;
    int expected = 0;
    for (int i = 0; i < 1000; i++) {
        cos.push_back(cleanup_c_park(i % 4));
        ASSERT_NE(cos.back(), nullptr);
        expected += 1 + i % 4;
    }
    for (corolink *co : cos)
        corolink_destroy(co);
    EXPECT_EQ(cleanup_c_count(), expected);
}

namespace {
extern "C" void cpp_thrower(void) { throw Boom(5); }
}  // namespace

// A C++ exception passing through C frames of a body (C built with
// -fexceptions) runs their cleanup handlers on its way to the resumer.
TEST(CleanupC, ExceptionThroughCFrames) {
    cleanup_c_reset();
    corolink *co = cleanup_c_create_thrower(cpp_thrower);
    ASSERT_NE(co, nullptr);
    try {
        corolink_resume(co, nullptr, nullptr);
        ADD_FAILURE() << "no exception";
    } catch (const Boom &b) {
        EXPECT_EQ(b.value, 5);
    }
    EXPECT_EQ(cleanup_c_order(), std::string("0,1,2,"));
    EXPECT_TRUE(corolink_done(co));
    corolink_destroy(co);
}

// ... and through a C resumer (its inline resume raises the exception
// again, and its cleanup handler runs).
TEST(CleanupC, ExceptionThroughCResumer) {
    cleanup_c_reset();
    corolink *co = cleanup_c_create_thrower(cpp_thrower);
    ASSERT_NE(co, nullptr);
    EXPECT_THROW(cleanup_c_resume(co), Boom);
    EXPECT_EQ(cleanup_c_order(), std::string("0,1,2,100,"));
    EXPECT_TRUE(corolink_done(co));
    corolink_destroy(co);
}

#else  // !COROLINK_TEST_UNWIND: the library has no unwinder

namespace {

void *parking_body(corolink_yielder *y, void *, void *) {
    Counted c(1);
    suspend(y);
    return nullptr;
}

bool g_body_ran;
void *never_run_body(corolink_yielder *, void *, void *) {
    g_body_ran = true;
    return nullptr;
}

}  // namespace

// Without the unwinder, destroying a suspended coroutine is fatal, with a
// message naming the coroutine.
TEST(NoUnwindDeathTest, DestroySuspendedAborts) {
    COROLINK_TEST_THREADSAFE_DEATH();
    EXPECT_DEATH(
        {
            corolink *co;
            corolink_create(&co, parking_body, nullptr, 0);
            corolink_set_name(co, "parked-one");
            corolink_resume(co, nullptr, nullptr);
            corolink_destroy(co);
        },
        "corolink: fatal: .*COROLINK_UNWIND=OFF.* coroutine " COROLINK_RE_NUMBER " "
        "\"parked-one\"");
}

// ... unless corolink_force_reset() was called first: then it is freed
// without running anything (what lived on its stack is leaked).
TEST(NoUnwind, ForceResetThenDestroy) {
    reset_counts();
    corolink *co = started(parking_body);
    ASSERT_NE(co, nullptr);
    EXPECT_EQ(corolink_force_unwind(co), COROLINK_ENOTSUP);
    EXPECT_FALSE(corolink_done(co));
    ASSERT_EQ(corolink_force_reset(co), 0);
    corolink_destroy(co);
    EXPECT_EQ(g_dtors, 0);
}

// Never started and finished coroutines are destroyed as usual.
TEST(NoUnwind, NeverStartedAndFinished) {
    g_body_ran = false;
    corolink *co;
    ASSERT_EQ(corolink_create(&co, never_run_body, nullptr, 0), 0);
    corolink_destroy(co);
    ASSERT_EQ(corolink_create(&co, never_run_body, nullptr, 0), 0);
    EXPECT_EQ(corolink_force_unwind(co), 0);
    EXPECT_TRUE(corolink_done(co));
    corolink_destroy(co);
    EXPECT_FALSE(g_body_ran);
    ASSERT_EQ(corolink_create(&co, never_run_body, nullptr, 0), 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    corolink_destroy(co);
    EXPECT_TRUE(g_body_ran);
}

#endif
