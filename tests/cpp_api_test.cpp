// The C++ API (include/corolink.hpp): values both ways, void parameters,
// move-only types without copies, where the callable lives and when its
// captures are destroyed, exceptions, resume_with, the generator,
// on_parent_stack/on_stack, errors, stacks, nesting with C coroutines.
#include <corolink.hpp>

#include <gtest/gtest.h>

#include "common/death_style.h"

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef COROLINK_TEST_UNWIND
#define COROLINK_TEST_UNWIND 1
#endif

namespace {

namespace cl = corolink_cpp;

// Whether `p` lies in the usable part of co's stack.
bool on_stack_of(corolink *co, const void *p) {
    corolink_stack st{};
    if (corolink_get_stack(co, &st) != 0)
        return false;
    return p >= st.limit && p < st.base;
}

// Counts live instances, copies and moves.
struct Tracked {
    static int live, copies, moves;
    static void reset() { live = copies = moves = 0; }
    int value;
    explicit Tracked(int v) : value(v) { live++; }
    Tracked(const Tracked &o) : value(o.value) { live++, copies++; }
    Tracked(Tracked &&o) noexcept : value(o.value) {
        o.value = -1;
        live++, moves++;
    }
    Tracked &operator=(const Tracked &o) {
        value = o.value;
        copies++;
        return *this;
    }
    Tracked &operator=(Tracked &&o) noexcept {
        value = o.value;
        o.value = -1;
        moves++;
        return *this;
    }
    ~Tracked() { live--; }
};
int Tracked::live, Tracked::copies, Tracked::moves;

// ---- values ----------------------------------------------------------

TEST(CppValues, ResumeAndSuspendCarryValuesBothWays) {
    std::vector<int> seen;
    cl::coroutine<int, int, int> co([&seen](cl::yielder<int, int> &y, int in) {
        seen.push_back(in);
        for (int i = 0; i < 3; i++)
            seen.push_back(in = y.suspend(in * 2));
        return in + 1000;
    });
    EXPECT_FALSE(co.started());
    EXPECT_FALSE(co.done());
    std::vector<int> got;
    for (int input = 10;; input++) {
        auto r = co.resume(input);
        EXPECT_TRUE(co.started());
        if (r.is_return()) {
            EXPECT_FALSE(r.is_yield());
            EXPECT_EQ(r.return_value(), 13 + 1000);
            break;
        }
        ASSERT_TRUE(r.is_yield());
        got.push_back(r.yield_value());
    }
    EXPECT_TRUE(co.done());
    EXPECT_EQ(seen, (std::vector<int>{10, 11, 12, 13}));
    EXPECT_EQ(got, (std::vector<int>{20, 22, 24}));
}

// Non-word types: a std::string yielded (the message path), returned after
// word yields (the eager slot path), and a big struct input.
TEST(CppValues, NonWordTypesEachWay) {
    cl::coroutine<int, std::string, int> strings(
        [](auto &y, int n) {
            for (int i = 0; i < n; i++)
                n = y.suspend(std::string(static_cast<std::size_t>(i + 1), 'x'));
            return n;
        });
    EXPECT_EQ(strings.resume(2).yield_value(), "x");
    EXPECT_EQ(strings.resume(3).yield_value(), "xx");
    EXPECT_EQ(strings.resume(3).yield_value(), "xxx");
    EXPECT_EQ(strings.resume(0).return_value(), 0);

    cl::coroutine<int, int, std::string> word_then_string(
        [](cl::yielder<int, int> &y, int in) {
            std::string s;
            while (in != 0) {
                s += std::to_string(in);
                in = y.suspend(in + 1);
            }
            return s;
        });
    EXPECT_EQ(word_then_string.resume(1).yield_value(), 2);
    EXPECT_EQ(word_then_string.resume(5).yield_value(), 6);
    auto r = word_then_string.resume(0);
    ASSERT_TRUE(r.is_return());
    EXPECT_EQ(r.return_value(), "15");

    struct Big {
        long a[8];
    };
    cl::coroutine<Big, long, long> sum([](auto &y, Big b) {
        long total = 0;
        for (;;) {
            for (long v : b.a)
                total += v;
            if (total > 100)
                return total;
            b = y.suspend(total);
        }
    });
    Big b{{1, 2, 3, 4, 5, 6, 7, 8}};
    EXPECT_EQ(sum.resume(b).yield_value(), 36);
    EXPECT_EQ(sum.resume(b).yield_value(), 72);
    EXPECT_EQ(sum.resume(b).return_value(), 108);
}

TEST(CppValues, VoidForEachParameter) {
    int runs = 0;
    cl::coroutine<> all_void([&runs](cl::yielder<void, void> &y) {
        runs++;
        y.suspend();
        runs++;
    });
    EXPECT_TRUE(all_void.resume().is_yield());
    EXPECT_EQ(runs, 1);
    EXPECT_TRUE(all_void.resume().is_return());
    EXPECT_EQ(runs, 2);

    cl::coroutine<void, int, void> void_in([](auto &y) {
        y.suspend(7);
        y.suspend(8);
    });
    EXPECT_EQ(void_in.resume().yield_value(), 7);
    EXPECT_EQ(void_in.resume().yield_value(), 8);
    EXPECT_TRUE(void_in.resume().is_return());

    int total = 0;
    cl::coroutine<int, void, void> void_yield([&total](auto &y, int in) {
        while (in != 0) {
            total += in;
            in = y.suspend();
        }
    });
    EXPECT_TRUE(void_yield.resume(4).is_yield());
    EXPECT_TRUE(void_yield.resume(5).is_yield());
    EXPECT_TRUE(void_yield.resume(0).is_return());
    EXPECT_EQ(total, 9);

    cl::coroutine<void, void, std::string> void_but_return(
        [](auto &y) {
            y.suspend();
            return std::string("end");
        });
    EXPECT_TRUE(void_but_return.resume().is_yield());
    EXPECT_EQ(void_but_return.resume().return_value(), "end");
}

// Move-only values pass without a single copy, and with a bounded number
// of moves: one into resume()'s parameter, one into the body, one into the
// result (and one out of the body's return value).
TEST(CppValues, MoveOnlyTypesNoCopies) {
    using P = std::unique_ptr<int>;
    cl::coroutine<P, P, P> co([](auto &y, P p) {
        *p += 1;
        P q = y.suspend(std::move(p));
        *q += 10;
        return q;
    });
    auto r = co.resume(std::make_unique<int>(1));
    ASSERT_TRUE(r.is_yield());
    EXPECT_EQ(*r.yield_value(), 2);
    P back = std::move(r).yield_value();
    EXPECT_EQ(*back, 2);
    auto r2 = co.resume(std::move(back));
    ASSERT_TRUE(r2.is_return());
    EXPECT_EQ(*r2.return_value(), 12);

    Tracked::reset();
    {
        cl::coroutine<Tracked, Tracked, Tracked> t([](auto &y, Tracked in) {
            Tracked next = y.suspend(Tracked(in.value + 1));
            return Tracked(next.value * 2);
        });
        Tracked first(5);
        int moves0 = Tracked::moves;
        auto a = t.resume(std::move(first));
        // Into resume()'s parameter, into the body; into the result.
        EXPECT_EQ(Tracked::moves - moves0, 3);
        ASSERT_TRUE(a.is_yield());
        EXPECT_EQ(a.yield_value().value, 6);
        moves0 = Tracked::moves;
        auto b = t.resume(Tracked(20));
        // Into the parameter: none (built there); into the body; the
        // return value into the result.
        EXPECT_EQ(Tracked::moves - moves0, 2);
        ASSERT_TRUE(b.is_return());
        EXPECT_EQ(b.return_value().value, 40);
        EXPECT_EQ(Tracked::copies, 0);
    }
    EXPECT_EQ(Tracked::live, 0);
}

// A lvalue of a copyable Yield is copied (the caller asked for it), an
// rvalue moved.
TEST(CppValues, SuspendCopiesOnlyLvalues) {
    Tracked::reset();
    {
        cl::coroutine<void, Tracked, void> co([](auto &y) {
            Tracked keep(3);
            y.suspend(keep);
            EXPECT_EQ(keep.value, 3);
            y.suspend(std::move(keep));
        });
        EXPECT_EQ(co.resume().yield_value().value, 3);
        EXPECT_EQ(Tracked::copies, 1);
        EXPECT_EQ(co.resume().yield_value().value, 3);
        EXPECT_EQ(Tracked::copies, 1);
        EXPECT_TRUE(co.resume().is_return());
    }
    EXPECT_EQ(Tracked::live, 0);
}

// ---- where the callable lives -----------------------------------------

// Captures live on the coroutine's own stack, both for a callable passed
// by value in `arg` (one pointer captured) and for one moved there by the
// eager start (a std::string and a Tracked captured).
TEST(CppCallable, CapturesLiveOnTheCoroutineStack) {
    int x = 0;
    int *px = &x;
    cl::coroutine<void, const void *, void> small([px](auto &y) {
        y.suspend(static_cast<const void *>(&px));
    });
    auto where = small.resume();
    EXPECT_TRUE(on_stack_of(small.native(), where.yield_value()));
    EXPECT_TRUE(small.resume().is_return());

    Tracked::reset();
    {
        std::string text(100, 'c');
        cl::coroutine<void, const void *, void> big(
            [text, t = Tracked(1)](auto &y) {
                y.suspend(static_cast<const void *>(&t));
                y.suspend(static_cast<const void *>(&text));
            });
        auto a = big.resume();
        EXPECT_TRUE(on_stack_of(big.native(), a.yield_value()));
        auto b = big.resume();
        EXPECT_TRUE(on_stack_of(big.native(), b.yield_value()));
        EXPECT_EQ(Tracked::live, 1); // only the coroutine's copy
        EXPECT_TRUE(big.resume().is_return());
        EXPECT_EQ(Tracked::live, 0);
    }
    EXPECT_EQ(Tracked::live, 0);
}

// A captureless lambda and a lambda capturing one pointer travel in `arg`:
// the coroutine does not start before the first resume.
TEST(CppCallable, WordCallablesStartLazily) {
    int n = 0;
    int *p = &n;
    cl::coroutine<void, void, void> co([p](auto &) { (*p)++; });
    EXPECT_EQ(corolink_state(co.native()), COROLINK_STATE_CREATED);
    EXPECT_FALSE(co.started());
    co.resume();
    EXPECT_EQ(n, 1);
    EXPECT_TRUE(co.done());
    EXPECT_TRUE(co.started());
}

// A bigger callable starts at construction (C state: suspended) but is not
// started() until the first resume, and its body has not run.
TEST(CppCallable, OtherCallablesStartEagerlyButNotTheBody) {
    int n = 0;
    std::string s = "capture";
    cl::coroutine<void, void, void> co([&n, s](auto &) { n += int(s.size()); });
    EXPECT_EQ(corolink_state(co.native()), COROLINK_STATE_SUSPENDED);
    EXPECT_FALSE(co.started());
    EXPECT_EQ(n, 0);
    co.resume();
    EXPECT_EQ(n, 7);
    EXPECT_TRUE(co.started());
    EXPECT_TRUE(co.done());
}

// The captures' destructors run exactly once whether the coroutine is
// destroyed before it started (the eager start's cancel: no unwinder
// involved, so in every build) or after it finished.
TEST(CppCallable, CapturesDestroyedNeverStartedAndFinished) {
    Tracked::reset();
    bool body_ran = false;
    {
        cl::coroutine<> co([t = Tracked(1), &body_ran](auto &) { body_ran = true; });
        EXPECT_EQ(Tracked::live, 1); // only the copy on the coroutine stack
    }
    EXPECT_EQ(Tracked::live, 0);
    EXPECT_FALSE(body_ran);

    {
        auto fn = [t = Tracked(2)](auto &) { EXPECT_EQ(t.value, 2); };
        cl::coroutine<> co(fn); // an lvalue: copied
        EXPECT_EQ(Tracked::live, 2);
        co.resume();
        EXPECT_TRUE(co.done());
        EXPECT_EQ(Tracked::live, 1); // the body's copy died with its frame
    }
    EXPECT_EQ(Tracked::live, 0);
    EXPECT_GE(Tracked::copies, 1);
}

#if COROLINK_TEST_UNWIND
// Destroying a suspended coroutine unwinds it: the frames' destructors and
// the captures' run.
TEST(CppCallable, CapturesDestroyedOnUnwindOfSuspended) {
    Tracked::reset();
    {
        cl::coroutine<> co([t = Tracked(1)](auto &y) {
            Tracked local(2);
            y.suspend();
            ADD_FAILURE() << "resumed after the unwind";
        });
        co.resume();
        EXPECT_EQ(Tracked::live, 2);
        EXPECT_FALSE(co.done());
    }
    EXPECT_EQ(Tracked::live, 0);
}
#else
// Without the unwinder, destroying a suspended coroutine aborts as the C
// API does ...
TEST(CppCallableDeathTest, DestroySuspendedAbortsWithoutUnwinder) {
    COROLINK_TEST_THREADSAFE_DEATH();
    EXPECT_DEATH(
        {
            cl::coroutine<> co([](auto &y) { y.suspend(); });
            co.resume();
        },
        "COROLINK_UNWIND=OFF");
}
#endif

// ... unless force_reset() leaks it instead (every build).
TEST(CppCallable, ForceResetThenDestroyLeaks) {
    Tracked::reset();
    {
        cl::coroutine<> co([t = Tracked(1)](auto &y) { y.suspend(); });
        co.resume();
        co.force_reset();
        EXPECT_TRUE(co.done());
    }
    EXPECT_EQ(Tracked::live, 1); // leaked on the freed stack, as documented
    Tracked::reset();
}

TEST(CppCallable, MoveTransfersOwnership) {
    int n = 0;
    cl::coroutine<int, int, int> a([&n](auto &y, int in) -> int {
        for (;;)
            in = y.suspend(in + (++n));
    });
    EXPECT_EQ(a.resume(10).yield_value(), 11);
    cl::coroutine<int, int, int> b(std::move(a));
    EXPECT_FALSE(a);
    EXPECT_EQ(a.native(), nullptr);
    EXPECT_EQ(b.resume(10).yield_value(), 12);
    cl::coroutine<int, int, int> c;
    EXPECT_FALSE(c);
    c = std::move(b);
    EXPECT_EQ(c.resume(10).yield_value(), 13);
    c.force_reset(); // the body never returns: leak it rather than unwind
}

// ---- exceptions ---------------------------------------------------------

#if COROLINK_TEST_UNWIND
struct Boom : std::runtime_error {
    int code;
    explicit Boom(int c) : std::runtime_error("boom"), code(c) {}
};

TEST(CppExceptions, BodyExceptionComesOutOfResume) {
    Tracked::reset();
    cl::coroutine<int, int, int> co([t = Tracked(1)](auto &y, int in) -> int {
        in = y.suspend(in);
        throw Boom(in);
    });
    EXPECT_EQ(co.resume(1).yield_value(), 1);
    try {
        co.resume(42);
        ADD_FAILURE() << "no exception";
    } catch (const Boom &b) {
        EXPECT_EQ(b.code, 42);
    }
    EXPECT_TRUE(co.done());
    EXPECT_EQ(Tracked::live, 0); // the capture was destroyed by the throw
    std::error_code ec;
    auto r = co.resume(1, ec);
    EXPECT_EQ(ec.value(), COROLINK_EDONE);
    EXPECT_EQ(r.status(), COROLINK_EDONE);
}

TEST(CppExceptions, OnParentStackExceptionIntoBody) {
    cl::coroutine<void, int, int> co([](auto &y) {
        try {
            y.on_parent_stack([]() -> int { throw Boom(7); });
        } catch (const Boom &b) {
            y.suspend(b.code);
        }
        return 1;
    });
    EXPECT_EQ(co.resume().yield_value(), 7);
    EXPECT_EQ(co.resume().return_value(), 1);
}

TEST(CppExceptions, OnStackExceptionToCaller) {
    cl::stack st(64 * 1024);
    EXPECT_THROW(cl::on_stack(st, []() -> int { throw Boom(3); }), Boom);
}


// resume_with: f's value is what the pending suspend returns; on a
// coroutine that has not started, f's value is the body's input.
TEST(CppResumeWith, ValueIntoPendingSuspendAndFirstInput) {
    std::vector<int> seen;
    cl::coroutine<int, int, int> co([&seen](auto &y, int in) {
        seen.push_back(in);
        in = y.suspend(in);
        seen.push_back(in);
        return in;
    });
    auto a = co.resume_with([] { return 5; });
    EXPECT_EQ(a.yield_value(), 5);
    EXPECT_TRUE(co.started());
    auto b = co.resume_with([] { return 9; });
    EXPECT_EQ(b.return_value(), 9);
    EXPECT_EQ(seen, (std::vector<int>{5, 9}));

    // Non-word input (moved from f's result) and an eagerly started
    // coroutine (a std::string captured).
    std::string tag = "tag:";
    cl::coroutine<std::string, std::string, std::string> s(
        [tag](auto &y, std::string in) {
            in = y.suspend(tag + in);
            return tag + in;
        });
    EXPECT_FALSE(s.started());
    EXPECT_EQ(s.resume_with([] { return std::string("one"); }).yield_value(),
              "tag:one");
    EXPECT_EQ(s.resume_with([] { return std::string("two"); }).return_value(),
              "tag:two");
}

// f runs on the coroutine's stack, and an exception it throws comes out
// of the pending suspend inside the body, which catches it.
TEST(CppResumeWith, ExceptionCaughtInsideBody) {
    const void *f_local = nullptr;
    cl::coroutine<int, int, int> co([](auto &y, int in) {
        try {
            for (;;)
                in = y.suspend(in);
        } catch (const Boom &b) {
            return b.code;
        }
    });
    EXPECT_EQ(co.resume(1).yield_value(), 1);
    auto r = co.resume_with([&]() -> int {
        int here = 0;
        f_local = &here;
        EXPECT_TRUE(on_stack_of(co.native(), &here));
        throw Boom(77);
    });
    ASSERT_TRUE(r.is_return());
    EXPECT_EQ(r.return_value(), 77);
    EXPECT_NE(f_local, nullptr);
}

// Uncaught, f's exception finishes the coroutine and comes out of
// resume_with(); on a coroutine that had not started, the body never runs.
TEST(CppResumeWith, UncaughtExceptionFinishes) {
    Tracked::reset();
    bool ran = false;
    cl::coroutine<int, int, int> co([&ran, t = Tracked(1)](auto &, int in) {
        ran = true;
        return in;
    });
    EXPECT_THROW(co.resume_with([]() -> int { throw Boom(1); }), Boom);
    EXPECT_FALSE(ran);
    EXPECT_TRUE(co.done());
    EXPECT_EQ(Tracked::live, 0);
    EXPECT_THROW(co.resume_with([] { return 1; }), cl::error);
}
#endif

// ---- generator ----------------------------------------------------------

TEST(CppGenerator, RangeFor) {
    cl::generator<int> squares([](cl::yielder<void, int> &y) {
        for (int i = 1; i <= 4; i++)
            y.suspend(i * i);
    });
    std::vector<int> got;
    for (int v : squares)
        got.push_back(v);
    EXPECT_EQ(got, (std::vector<int>{1, 4, 9, 16}));
    EXPECT_TRUE(squares.get_coroutine().done());
    EXPECT_EQ(squares.begin(), squares.end());

    cl::generator<std::string> none([](auto &) {});
    EXPECT_EQ(none.begin(), none.end());

    // Move-only values, taken out by the loop.
    cl::generator<std::unique_ptr<int>> ptrs([](auto &y) {
        for (int i = 0; i < 3; i++)
            y.suspend(std::make_unique<int>(i));
    });
    int sum = 0;
    for (auto &p : ptrs) {
        std::unique_ptr<int> mine = std::move(p);
        sum += *mine + 1;
    }
    EXPECT_EQ(sum, 6);
}

TEST(CppGenerator, IteratorSteps) {
    cl::generator<int> g([](auto &y) {
        y.suspend(1);
        y.suspend(2);
    });
    auto it = g.begin();
    ASSERT_NE(it, g.end());
    EXPECT_EQ(*it, 1);
    ++it;
    EXPECT_EQ(*it, 2);
    EXPECT_EQ(*g.begin(), 2); // begin() again: where the iteration stands
    it++;
    EXPECT_EQ(it, g.end());
}

#if COROLINK_TEST_UNWIND
TEST(CppGenerator, ExceptionOutOfIncrement) {
    cl::generator<int> g([](auto &y) {
        y.suspend(1);
        throw Boom(2);
    });
    auto it = g.begin();
    EXPECT_EQ(*it, 1);
    EXPECT_THROW(++it, Boom);
}
#endif

// ---- on_parent_stack, on_stack -----------------------------------------

TEST(CppStacks, OnParentStackRunsOnTheResumersStack) {
    int resumer_local = 0;
    cl::coroutine<void, bool, std::string> co([&](auto &y) {
        int mine = 0;
        bool body_on_own = on_stack_of(y.native_coroutine(), &mine);
        std::string s = y.on_parent_stack([&] {
            int there = 0;
            EXPECT_FALSE(on_stack_of(y.native_coroutine(), &there));
            // Below the resumer's frame on its stack.
            EXPECT_LT(static_cast<const void *>(&there),
                      static_cast<const void *>(&resumer_local));
            return std::string("from the parent stack");
        });
        int &ref = y.on_parent_stack([&]() -> int & { return resumer_local; });
        ref = 5;
        y.on_parent_stack([] {}); // void
        y.suspend(body_on_own);
        return s;
    });
    EXPECT_TRUE(co.resume().yield_value());
    EXPECT_EQ(resumer_local, 5);
    EXPECT_EQ(co.resume().return_value(), "from the parent stack");
}

TEST(CppStacks, OnStackRunsThere) {
    cl::stack st(64 * 1024);
    EXPECT_GE(st.size(), 64u * 1024);
    const corolink_stack &raw = st;
    auto v = cl::on_stack(st, [&] {
        int here = 0;
        EXPECT_TRUE(static_cast<void *>(&here) >= raw.limit &&
                    static_cast<void *>(&here) < raw.base);
        return std::make_unique<int>(11);
    });
    EXPECT_EQ(*v, 11);
    // Too small a stack: corolink_cpp::error with COROLINK_ESTACK, before f
    // runs.
    corolink_stack tiny{static_cast<char *>(raw.base), static_cast<char *>(raw.base) - 256, 0};
    bool ran = false;
    try {
        cl::on_stack(tiny, [&] { ran = true; });
        ADD_FAILURE() << "no error";
    } catch (const cl::error &e) {
        EXPECT_EQ(e.code().value(), COROLINK_ESTACK);
    }
    EXPECT_FALSE(ran);
}

// A coroutine on a stack the caller owns, and one of a given size.
TEST(CppStacks, UserStackAndSizes) {
    cl::stack st(32 * 1024);
    const corolink_stack &raw = st;
    {
        cl::coroutine<void, const void *, void> co(
            [](auto &y) {
                int here = 0;
                y.suspend(static_cast<const void *>(&here));
            },
            st);
        const void *p = co.resume().yield_value();
        EXPECT_TRUE(p >= raw.limit && p < raw.base);
        co.resume();
    }
    {
        cl::coroutine<> co([](auto &) {}, 64 * 1024);
        corolink_stack got{};
        ASSERT_EQ(corolink_get_stack(co.native(), &got), 0);
        std::size_t size = static_cast<std::size_t>(static_cast<char *>(got.base) -
                                                     static_cast<char *>(got.limit));
        EXPECT_GE(size + COROLINK_CONTROL_SIZE, 64u * 1024);
        EXPECT_LT(size, COROLINK_STACK_DEFAULT_SIZE);
    }
}

// ---- errors --------------------------------------------------------------

TEST(CppErrors, ResumingAFinishedCoroutineThrows) {
    cl::coroutine<int, int, int> co([](auto &, int in) { return in; });
    EXPECT_EQ(co.resume(3).return_value(), 3);
    try {
        co.resume(4);
        ADD_FAILURE() << "no error";
    } catch (const cl::error &e) {
        EXPECT_EQ(e.code().value(), COROLINK_EDONE);
        EXPECT_EQ(&e.code().category(), &cl::category());
        EXPECT_STREQ(e.code().category().name(), "corolink");
        EXPECT_EQ(e.code().message(), corolink_strerror(COROLINK_EDONE));
        EXPECT_NE(std::string(e.what()).find("resume"), std::string::npos);
    }
    // The non-throwing overload.
    std::error_code ec = cl::make_error_code(COROLINK_EINVAL);
    auto r = co.resume(5, ec);
    EXPECT_EQ(ec, cl::make_error_code(COROLINK_EDONE));
    EXPECT_FALSE(r.is_yield() || r.is_return() || r.is_trap());
    EXPECT_EQ(r.status(), COROLINK_EDONE);
    // ... and on success it clears ec.
    cl::coroutine<> ok([](auto &) {});
    ok.resume(ec);
    EXPECT_FALSE(ec);
}

TEST(CppErrors, EmptyCoroutineAndWrongAccessor) {
    cl::coroutine<int, int, int> empty;
    std::error_code ec;
    empty.resume(1, ec);
    EXPECT_EQ(ec.value(), COROLINK_EINVAL);
    EXPECT_FALSE(empty.started());
    EXPECT_FALSE(empty.done());

    cl::coroutine<int, int, int> co([](auto &y, int in) { return y.suspend(in); });
    auto r = co.resume(1);
    try {
        (void)r.return_value();
        ADD_FAILURE() << "no error";
    } catch (const cl::error &e) {
        EXPECT_EQ(e.code().value(), COROLINK_EINVAL);
    }
    EXPECT_EQ(co.resume(2).return_value(), 2);
}

TEST(CppErrors, ResumingItselfIsRunning) {
    cl::coroutine<int, int, std::string> *self = nullptr;
    cl::coroutine<int, int, std::string> co([&self](auto &y, int in) {
        std::error_code ec;
        self->resume(in, ec);
        EXPECT_EQ(ec.value(), COROLINK_ERUNNING);
        try {
            self->resume(in);
        } catch (const cl::error &e) {
            in = y.suspend(e.code().value());
        }
        return std::to_string(in);
    });
    self = &co;
    EXPECT_EQ(co.resume(1).yield_value(), COROLINK_ERUNNING);
    // The failed resumes from inside did not steal the return value's
    // destination.
    EXPECT_EQ(co.resume(8).return_value(), "8");
}

TEST(CppErrors, ConstructionErrors) {
    auto body = [](auto &) {};
    try {
        cl::coroutine<> co(body, std::size_t{1024}); // below the minimum
        ADD_FAILURE() << "no error";
    } catch (const cl::error &e) {
        EXPECT_EQ(e.code().value(), COROLINK_ESTACK);
    }
    std::error_code ec;
    cl::coroutine<> co(body, std::size_t{1024}, ec);
    EXPECT_EQ(ec.value(), COROLINK_ESTACK);
    EXPECT_FALSE(co);
    cl::coroutine<> fine(body, ec);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(fine);
    corolink_stack bad{nullptr, nullptr, 0};
    cl::coroutine<> on_bad(body, bad, ec);
    EXPECT_EQ(ec.value(), COROLINK_EINVAL);
    // An eagerly started callable fails the same way, and is destroyed.
    Tracked::reset();
    {
        cl::coroutine<> eager([t = Tracked(1)](auto &) {}, std::size_t{1024}, ec);
        EXPECT_EQ(ec.value(), COROLINK_ESTACK);
    }
    EXPECT_EQ(Tracked::live, 0);
    EXPECT_THROW(cl::stack(1024), cl::error);
}

#if !COROLINK_TEST_SANITIZED
// A fault in the body: the result says is_trap(), trap_info() says where.
TEST(CppErrors, TrapIsAResultState) {
    if (corolink_trap_install() != 0)
        GTEST_SKIP() << "no trap support here";
    corolink_trap_diagnostics(false);
    cl::coroutine<int, int, int> co([](auto &y, int in) {
        in = y.suspend(in);
        *static_cast<volatile int *>(reinterpret_cast<int *>(std::uintptr_t(in))) = 1;
        return in;
    });
    EXPECT_EQ(co.resume(0).yield_value(), 0);
    auto r = co.resume(64);
    EXPECT_TRUE(r.is_trap());
    EXPECT_FALSE(r.is_yield() || r.is_return());
    EXPECT_TRUE(co.done());
    EXPECT_EQ(co.trap_info().addr, reinterpret_cast<void *>(64));
    corolink_trap_diagnostics(true);

    cl::coroutine<> fine([](auto &) {});
    try {
        (void)fine.trap_info();
        ADD_FAILURE() << "no error";
    } catch (const cl::error &e) {
        EXPECT_EQ(e.code().value(), COROLINK_ENOTRAP);
    }
}
#endif

// ---- nesting with C coroutines -------------------------------------------

void *c_body_running_cpp(corolink_yielder *y, void *input, void *) {
    cl::coroutine<int, int, int> inner([](auto &iy, int in) {
        in = iy.suspend(in * 2);
        return in * 3;
    });
    int a = inner.resume(static_cast<int>(reinterpret_cast<std::intptr_t>(input))).yield_value();
    corolink_suspend(y, reinterpret_cast<void *>(static_cast<std::intptr_t>(a)));
    int b = inner.resume(a).return_value();
    return reinterpret_cast<void *>(static_cast<std::intptr_t>(b));
}

void *c_body_echo(corolink_yielder *y, void *input, void *) {
    for (;;)
        input = corolink_suspend(
            y, reinterpret_cast<void *>(reinterpret_cast<std::intptr_t>(input) + 1));
}

TEST(CppNesting, CppInsideC) {
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, c_body_running_cpp, nullptr, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(corolink_resume(co, reinterpret_cast<void *>(5), &out), COROLINK_YIELD);
    EXPECT_EQ(reinterpret_cast<std::intptr_t>(out), 10);
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ(reinterpret_cast<std::intptr_t>(out), 30);
    corolink_destroy(co);
}

TEST(CppNesting, CInsideCpp) {
    cl::coroutine<int, int, int> outer([](auto &y, int in) {
        corolink *c = nullptr;
        if (corolink_create(&c, c_body_echo, nullptr, 0) != 0)
            return -1;
        void *out = nullptr;
        for (int i = 0; i < 3; i++) {
            corolink_resume(c, reinterpret_cast<void *>(static_cast<std::intptr_t>(in)), &out);
            in = y.suspend(static_cast<int>(reinterpret_cast<std::intptr_t>(out)));
        }
        corolink_force_reset(c); // echo never returns
        corolink_destroy(c);
        return in;
    });
    EXPECT_EQ(outer.resume(1).yield_value(), 2);
    EXPECT_EQ(outer.resume(10).yield_value(), 11);
    EXPECT_EQ(outer.resume(20).yield_value(), 21);
    EXPECT_EQ(outer.resume(7).return_value(), 7);
}

// A C++ coroutine resumed from inside another C++ coroutine, suspending
// back to it.
TEST(CppNesting, CppInsideCpp) {
    cl::coroutine<void, std::string, void> outer([](auto &y) {
        cl::generator<int> g([](auto &gy) {
            for (int i = 0; i < 3; i++)
                gy.suspend(i);
        });
        for (int v : g)
            y.suspend(std::to_string(v));
    });
    std::string all;
    for (auto r = outer.resume(); r.is_yield(); r = outer.resume())
        all += r.yield_value();
    EXPECT_EQ(all, "012");
}

} // namespace
