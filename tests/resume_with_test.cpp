// corolink_resume_with(): fn(input, arg) runs on the coroutine's stack on
// top of its pending suspend (or before its body, if it has not started),
// and its result is what that suspend returns (or the body's input).
// Target-independent: every test runs on every target. Each test that suspends
// runs twice: with the inline corolink_suspend()/corolink_resume() and with
// the library's out-of-line ones (resume_with_noinline.c, built with
// COROLINK_NO_INLINE), since the pending suspend that corolink__ontop
// enters is either.
#include <corolink.h>

#include <gtest/gtest.h>

#include "common/core_helpers.h"
#include "common/frame_record.h"
#include "common/noinline.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#if !defined(_WIN32)
#include <csignal>
#include <execinfo.h>
#include <unwind.h>

#include "common/symbolize.h"
#endif

extern "C" void *rw_suspend_outofline(corolink_yielder *yielder, void *value);
extern "C" int rw_resume_outofline(corolink *co, void *input, void **output);

namespace {

// The yielder of a coroutine that has not started yet, for an fn that
// suspends it: the yielder is the control block (corolink_from_yielder()
// is a cast), and a body would receive the same pointer.
corolink_yielder *yielder_of(corolink *co) {
    return reinterpret_cast<corolink_yielder *>(co);
}

using Log = std::vector<std::string>;
std::string n(void *p) { return std::to_string(as_int(p)); }

// Records its destruction (or the forced unwind's) in a log.
struct Counted {
    Log *log;
    const char *name;
    ~Counted() { log->push_back(std::string("~") + name); }
};

// Whether `p` lies on co's stack.
bool on_stack_of(corolink *co, const void *p) {
    corolink_stack st{};
    if (corolink_get_stack(co, &st) != 0)
        return false;
    auto a = reinterpret_cast<uintptr_t>(p);
    return a >= reinterpret_cast<uintptr_t>(st.limit) &&
           a < reinterpret_cast<uintptr_t>(st.base);
}

// ---- the two switches ---------------------------------------------------

// The inline suspend, in a frame of its own (named in the backtraces).
extern "C" NOINLINE void *rw_suspend_inline(corolink_yielder *yielder,
                                            void *value) {
    void *input = corolink_suspend(yielder, value);
    __asm__ volatile("" : "+r"(input)); // no tail call
    return input;
}

extern "C" NOINLINE int rw_resume_inline(corolink *co, void *input,
                                         void **output) {
    int rc = corolink_resume(co, input, output);
    __asm__ volatile("" : "+r"(rc));
    return rc;
}

// What the bodies and fns of a test suspend and resume with.
void *(*g_suspend)(corolink_yielder *, void *) = rw_suspend_inline;
int (*g_resume)(corolink *, void *, void **) = rw_resume_inline;

enum Switch { kInline, kOutOfLine };

std::string switch_name(const ::testing::TestParamInfo<Switch> &info) {
    return info.param == kInline ? "Inline" : "OutOfLine";
}

class ResumeWith : public ::testing::TestWithParam<Switch> {
  protected:
    void SetUp() override {
        g_suspend = GetParam() == kInline ? rw_suspend_inline
                                          : rw_suspend_outofline;
        g_resume = GetParam() == kInline ? rw_resume_inline
                                         : rw_resume_outofline;
    }

};

INSTANTIATE_TEST_SUITE_P(Switches, ResumeWith,
                         ::testing::Values(kInline, kOutOfLine), switch_name);

// ---- values through fn ---------------------------------------------------

struct ValueState {
    corolink *co = nullptr;
    Log log;
    bool fn_on_stack = false;
    corolink *fn_current = nullptr;
    int fn_state = -1;
};

void *add_arg_fn(void *input, void *arg) {
    auto *st = static_cast<ValueState *>(arg);
    int local = 0;
    st->fn_on_stack = on_stack_of(st->co, &local);
    st->fn_current = corolink_current();
    st->fn_state = corolink_state(st->co);
    st->log.push_back("fn " + n(input));
    return as_ptr(as_int(input) * 10 + 5);
}

void *two_suspends_body(corolink_yielder *y, void *input, void *arg) {
    auto *st = static_cast<ValueState *>(arg);
    st->log.push_back("start " + n(input));
    void *a = g_suspend(y, as_ptr(1));
    st->log.push_back("got " + n(a));
    void *b = g_suspend(y, as_ptr(as_int(a) + 1));
    st->log.push_back("got " + n(b));
    return as_ptr(as_int(b) + 1000);
}

TEST_P(ResumeWith, SuspendedBodyGetsFnResult) {
    ValueState st;
    ASSERT_EQ(corolink_create(&st.co, two_suspends_body, &st, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(g_resume(st.co, as_ptr(7), &out), COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 1);
    // fn(3, &st) = 35 is what the pending suspend returns.
    ASSERT_EQ(corolink_resume_with(st.co, add_arg_fn, &st, as_ptr(3), &out),
              COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 36);
    EXPECT_TRUE(st.fn_on_stack) << "fn must run on the coroutine's stack";
    EXPECT_EQ(st.fn_current, expected_current(st.co));
    EXPECT_EQ(st.fn_state, COROLINK_STATE_RUNNING);
    // And again on the second suspend, then an ordinary resume.
    ASSERT_EQ(corolink_resume_with(st.co, add_arg_fn, &st, as_ptr(4), &out),
              COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 1045);
    EXPECT_EQ(st.log, (Log{"start 7", "fn 3", "got 35", "fn 4", "got 45"}));
    EXPECT_TRUE(corolink_done(st.co));
    corolink_destroy(st.co);
}

// Logs its input and returns it + 1 (arg: a Log).
void *input_plus_one_body(corolink_yielder *, void *input, void *arg) {
    static_cast<Log *>(arg)->push_back("start " + n(input));
    return as_ptr(as_int(input) + 1);
}

TEST_P(ResumeWith, NotStartedBodyStartsWithFnResult) {
    ValueState st;
    ASSERT_EQ(corolink_create(&st.co, input_plus_one_body, &st.log, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(corolink_resume_with(st.co, add_arg_fn, &st, as_ptr(2), &out),
              COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 26); // fn(2) = 25, the body returns 25 + 1
    EXPECT_EQ(st.log, (Log{"fn 2", "start 25"}));
    EXPECT_TRUE(st.fn_on_stack) << "fn must run on the coroutine's stack";
    EXPECT_EQ(st.fn_current, expected_current(st.co));
    EXPECT_EQ(st.fn_state, COROLINK_STATE_RUNNING);
    corolink_destroy(st.co);
}

// fn runs in the same place every time, and the body's frames stay where
// they were: corolink__ontop puts the body's sp and frame pointer back
// exactly (a drift would move fn's frame or break the body's locals).
struct RepeatState {
    corolink *co = nullptr;
    std::vector<uintptr_t> fn_frames;
    intptr_t checksum = 0;
};

NOINLINE void *record_frame_fn(void *input, void *arg) {
    auto *st = static_cast<RepeatState *>(arg);
    volatile int local = 0;
    st->fn_frames.push_back(reinterpret_cast<uintptr_t>(&local));
    return as_ptr(as_int(input) + 1);
}

void *summing_body(corolink_yielder *y, void *input, void *arg) {
    auto *st = static_cast<RepeatState *>(arg);
    // Values live across every suspend, in callee-saved registers or in
    // the frame: fn and the switch must leave all of them alone.
    volatile intptr_t guard_a = 0x5a5a;
    intptr_t a = 3, b = 5, c = 7, d = 11, e = 13, f = 17, g = 19, h = 23;
    double x = 1.5, z = 2.25;
    intptr_t sum = 0;
    for (intptr_t i = 0; i < as_int(input); i++) {
        void *v = g_suspend(y, as_ptr(i));
        sum += as_int(v) + a * b - c + d * e - f + g * h;
        a++, b++, c++, d++, e++, f++, g++, h++;
        x *= 1.5;
        z += x;
    }
    st->checksum = sum + static_cast<intptr_t>(z) + guard_a;
    return as_ptr(sum);
}

TEST_P(ResumeWith, RepeatedRoundsKeepFramesAndRegisters) {
    RepeatState st;
    constexpr intptr_t kRounds = 200;
    ASSERT_EQ(corolink_create(&st.co, summing_body, &st, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(g_resume(st.co, as_ptr(kRounds), &out), COROLINK_YIELD);
    // The resumer's own values across the calls too.
    intptr_t p = 101, q = 103, r = 107;
    double w = 0.5;
    intptr_t expect_sum = 0;
    intptr_t a = 3, b = 5, c = 7, d = 11, e = 13, f = 17, g = 19, h = 23;
    double x = 1.5, z = 2.25;
    int rc = COROLINK_YIELD;
    for (intptr_t i = 0; i < kRounds; i++) {
        ASSERT_EQ(rc, COROLINK_YIELD);
        EXPECT_EQ(as_int(out), i);
        // Every other round through fn (whose result is i * 2 + 1).
        if (i % 2 == 0)
            rc = corolink_resume_with(st.co, record_frame_fn, &st,
                                      as_ptr(i * 2), &out);
        else
            rc = g_resume(st.co, as_ptr(i * 2 + 1), &out);
        expect_sum += i * 2 + 1 + a * b - c + d * e - f + g * h;
        a++, b++, c++, d++, e++, f++, g++, h++;
        x *= 1.5;
        z += x;
        p += 2, q += 3, r += 5, w *= 2;
    }
    ASSERT_EQ(rc, COROLINK_RETURN);
    EXPECT_EQ(as_int(out), expect_sum);
    EXPECT_EQ(st.checksum, expect_sum + static_cast<intptr_t>(z) + 0x5a5a);
    EXPECT_EQ(p, 101 + 2 * kRounds);
    EXPECT_EQ(q, 103 + 3 * kRounds);
    EXPECT_EQ(r, 107 + 5 * kRounds);
    EXPECT_EQ(w, std::ldexp(0.5, kRounds));
    ASSERT_EQ(st.fn_frames.size(), static_cast<size_t>(kRounds / 2));
    for (uintptr_t frame : st.fn_frames)
        EXPECT_EQ(frame, st.fn_frames[0]) << "fn's frame moved";
    corolink_destroy(st.co);
}

// ---- fn calls deeper -----------------------------------------------------

NOINLINE intptr_t deep(intptr_t depth, intptr_t acc) {
    volatile char pad[96];
    std::memset(const_cast<char *>(pad), static_cast<int>(depth), sizeof pad);
    if (depth == 0)
        return acc + pad[5];
    intptr_t r = deep(depth - 1, acc + depth);
    return r + pad[depth % sizeof pad] - static_cast<char>(depth);
}

void *deep_fn(void *input, void *arg) {
    auto *st = static_cast<ValueState *>(arg);
    intptr_t r = deep(as_int(input), 0);
    st->log.push_back("deep " + std::to_string(r));
    // And a nested coroutine, resumed from fn (on the coroutine's stack).
    corolink *inner = nullptr;
    if (corolink_create(&inner, input_plus_one_body, &st->log, 0) != 0)
        return nullptr;
    void *out = nullptr;
    int rc = corolink_resume_with(inner, add_arg_fn, st, as_ptr(1), &out);
    st->log.push_back("inner " + std::to_string(rc) + " " + n(out));
    corolink_destroy(inner);
    return as_ptr(r);
}

TEST_P(ResumeWith, FnCallsDeeperAndResumesOthers) {
    ValueState st;
    ASSERT_EQ(corolink_create(&st.co, two_suspends_body, &st, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(g_resume(st.co, nullptr, &out), COROLINK_YIELD);
    ASSERT_EQ(corolink_resume_with(st.co, deep_fn, &st, as_ptr(200), &out),
              COROLINK_YIELD);
    // deep(200) sums 1..200 = 20100 (each level's pad cancels out).
    EXPECT_EQ(as_int(out), 20101);
    EXPECT_EQ(st.log, (Log{"start 0", "deep 20100", "fn 1", "start 15",
                           "inner 2 16", "got 20100"}));
    ASSERT_EQ(g_resume(st.co, as_ptr(1), &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 1001);
    corolink_destroy(st.co);
}

// ---- fn suspends the coroutine --------------------------------------------

struct SuspendState {
    corolink *co = nullptr;
    corolink_yielder *y = nullptr;
    Log log;
};

// Suspends the coroutine twice from inside fn; returns the sum of input
// and what both suspends returned.
void *suspending_fn(void *input, void *arg) {
    auto *st = static_cast<SuspendState *>(arg);
    st->log.push_back("fn " + n(input));
    void *a = g_suspend(st->y, as_ptr(100));
    st->log.push_back("fn got " + n(a));
    void *b = g_suspend(st->y, as_ptr(101));
    st->log.push_back("fn got " + n(b));
    return as_ptr(as_int(input) + as_int(a) + as_int(b));
}

void *suspend_then_double_body(corolink_yielder *y, void *input, void *arg) {
    auto *st = static_cast<SuspendState *>(arg);
    st->y = y;
    st->log.push_back("start " + n(input));
    void *a = g_suspend(y, as_ptr(1));
    st->log.push_back("got " + n(a));
    void *b = g_suspend(y, as_ptr(as_int(a) * 2));
    return b;
}

// A coroutine that resumes another one: the resumer of the fn-suspended
// coroutine changes between its suspends.
struct Driver {
    corolink *target;
    void *input;
    int rc = 0;
};

void *driver_body(corolink_yielder *y, void *, void *arg) {
    auto *d = static_cast<Driver *>(arg);
    void *out = nullptr;
    d->rc = g_resume(d->target, d->input, &out);
    g_suspend(y, out);
    return nullptr;
}

TEST_P(ResumeWith, FnSuspendsAndIsResumedLater) {
    SuspendState st;
    ASSERT_EQ(corolink_create(&st.co, suspend_then_double_body, &st, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(g_resume(st.co, as_ptr(0), &out), COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 1);
    ASSERT_EQ(corolink_resume_with(st.co, suspending_fn, &st, as_ptr(5), &out),
              COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 100); // suspended inside fn
    EXPECT_EQ(corolink_state(st.co), COROLINK_STATE_SUSPENDED);
    ASSERT_EQ(g_resume(st.co, as_ptr(20), &out), COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 101);
    // The last resume comes from another coroutine: fn returns 5+20+300,
    // the body's pending suspend returns that and the body suspends again,
    // into that coroutine.
    Driver d{st.co, as_ptr(300)};
    corolink *driver = nullptr;
    ASSERT_EQ(corolink_create(&driver, driver_body, &d, 0), 0);
    ASSERT_EQ(g_resume(driver, nullptr, &out), COROLINK_YIELD);
    EXPECT_EQ(d.rc, COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 650);
    ASSERT_EQ(g_resume(driver, nullptr, &out), COROLINK_RETURN);
    corolink_destroy(driver);
    ASSERT_EQ(g_resume(st.co, as_ptr(9), &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 9);
    EXPECT_EQ(st.log, (Log{"start 0", "fn 5", "fn got 20", "fn got 300",
                           "got 325"}));
    corolink_destroy(st.co);
}

TEST_P(ResumeWith, FnSuspendsNotStartedCoroutine) {
    SuspendState st;
    ASSERT_EQ(corolink_create(&st.co, input_plus_one_body, &st.log, 0), 0);
    st.y = yielder_of(st.co);
    void *out = nullptr;
    ASSERT_EQ(corolink_resume_with(st.co, suspending_fn, &st, as_ptr(1), &out),
              COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 100);
    EXPECT_TRUE(corolink_started(st.co));
    ASSERT_EQ(g_resume(st.co, as_ptr(10), &out), COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 101);
    ASSERT_EQ(g_resume(st.co, as_ptr(100), &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 112); // the body starts with 1 + 10 + 100
    EXPECT_EQ(st.log,
              (Log{"fn 1", "fn got 10", "fn got 100", "start 111"}));
    corolink_destroy(st.co);
}

// ---- errors ---------------------------------------------------------------

void *identity_fn(void *input, void *) { return input; }

void *echo_body(corolink_yielder *y, void *input, void *) {
    for (;;)
        input = g_suspend(y, input);
}

struct SelfState {
    corolink *co = nullptr;
    int rc = 0;
    void *out = as_ptr(1);
};

void *resume_self_body(corolink_yielder *, void *, void *arg) {
    auto *st = static_cast<SelfState *>(arg);
    st->rc = corolink_resume_with(st->co, identity_fn, nullptr, nullptr,
                                  &st->out);
    return nullptr;
}

TEST_P(ResumeWith, Errors) {
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, echo_body, nullptr, 0), 0);
    void *out = as_ptr(1);
    // fn NULL: nothing runs (the body has not started).
    EXPECT_EQ(corolink_resume_with(co, nullptr, nullptr, as_ptr(3), &out),
              COROLINK_EINVAL);
    EXPECT_EQ(out, nullptr);
    EXPECT_FALSE(corolink_started(co));
    // co NULL.
    out = as_ptr(1);
    EXPECT_EQ(corolink_resume_with(nullptr, identity_fn, nullptr, nullptr,
                                   &out),
              COROLINK_EINVAL);
    EXPECT_EQ(out, nullptr);
    // A NULL output is allowed.
    EXPECT_EQ(corolink_resume_with(co, identity_fn, nullptr, as_ptr(4),
                                   nullptr),
              COROLINK_YIELD);
    // fn NULL on a suspended one: it stays suspended where it was.
    out = as_ptr(1);
    EXPECT_EQ(corolink_resume_with(co, nullptr, nullptr, as_ptr(3), &out),
              COROLINK_EINVAL);
    EXPECT_EQ(out, nullptr);
    EXPECT_EQ(g_resume(co, as_ptr(8), &out), COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 8);
    destroy_suspended(co);

    // Finished.
    ValueState st;
    ASSERT_EQ(corolink_create(&st.co, input_plus_one_body, &st.log, 0), 0);
    ASSERT_EQ(g_resume(st.co, as_ptr(1), &out), COROLINK_RETURN);
    out = as_ptr(1);
    EXPECT_EQ(corolink_resume_with(st.co, add_arg_fn, &st, nullptr, &out),
              COROLINK_EDONE);
    EXPECT_EQ(out, nullptr);
    EXPECT_EQ(st.log, (Log{"start 1"})); // fn never ran
    corolink_destroy(st.co);

    // Running (resumed from its own body).
    SelfState self;
    ASSERT_EQ(corolink_create(&self.co, resume_self_body, &self, 0), 0);
    ASSERT_EQ(g_resume(self.co, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ(self.rc, COROLINK_ERUNNING);
    EXPECT_EQ(self.out, nullptr);
    corolink_destroy(self.co);
}

// ---- exceptions -----------------------------------------------------------

#if COROLINK_TEST_UNWIND

struct ThrowState {
    corolink *co = nullptr;
    Log log;
    bool body_ran = false;
};

void *throwing_fn(void *input, void *arg) {
    auto *st = static_cast<ThrowState *>(arg);
    Counted c{&st->log, "fn"};
    if (as_int(input) >= 0)
        throw std::runtime_error("from fn " + n(input));
    return input;
}

// fn throws from a few frames down.
NOINLINE void throw_deeper(ThrowState *st, intptr_t depth, void *input) {
    Counted c{&st->log, "deeper"};
    if (depth == 0)
        throwing_fn(input, st);
    else
        throw_deeper(st, depth - 1, input);
    __asm__ volatile("");
}

void *deep_throwing_fn(void *input, void *arg) {
    throw_deeper(static_cast<ThrowState *>(arg), 2, input);
    return nullptr;
}

void *catching_body(corolink_yielder *y, void *, void *arg) {
    auto *st = static_cast<ThrowState *>(arg);
    st->body_ran = true;
    Counted outer{&st->log, "body-outer"};
    intptr_t caught = 0;
    for (;;) {
        try {
            Counted inner{&st->log, "body-inner"};
            void *v = g_suspend(y, as_ptr(caught));
            if (as_int(v) == -1)
                break;
            st->log.push_back("got " + n(v));
        } catch (const std::runtime_error &e) {
            st->log.push_back(std::string("caught ") + e.what());
            caught++;
        }
    }
    return as_ptr(caught + 1000);
}

TEST_P(ResumeWith, ExceptionFromFnCaughtAroundSuspend) {
    ThrowState st;
    ASSERT_EQ(corolink_create(&st.co, catching_body, &st, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(g_resume(st.co, nullptr, &out), COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 0);
    ASSERT_EQ(corolink_resume_with(st.co, throwing_fn, &st, as_ptr(7), &out),
              COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 1);
    EXPECT_EQ(st.log, (Log{"~fn", "~body-inner", "caught from fn 7"}));
    // The body goes on; then again, thrown from deeper inside fn; then an
    // fn that returns normally; several rounds, so that nothing of one
    // exception stays behind for the next.
    st.log.clear();
    ASSERT_EQ(g_resume(st.co, as_ptr(5), &out), COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 1);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(corolink_resume_with(st.co, deep_throwing_fn, &st,
                                       as_ptr(8 + i), &out),
                  COROLINK_YIELD);
        EXPECT_EQ(as_int(out), 2 + i);
    }
    ASSERT_EQ(corolink_resume_with(st.co, throwing_fn, &st, as_ptr(-5), &out),
              COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 4);
    EXPECT_EQ(st.log,
              (Log{"got 5", "~body-inner", "~fn", "~deeper", "~deeper",
                   "~deeper", "~body-inner", "caught from fn 8", "~fn",
                   "~deeper", "~deeper", "~deeper", "~body-inner",
                   "caught from fn 9", "~fn", "~deeper", "~deeper",
                   "~deeper", "~body-inner", "caught from fn 10", "~fn",
                   "got -5", "~body-inner"}));
    st.log.clear();
    ASSERT_EQ(g_resume(st.co, as_ptr(-1), &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 1004);
    EXPECT_EQ(st.log, (Log{"~body-inner", "~body-outer"}));
    corolink_destroy(st.co);
}

void *not_catching_body(corolink_yielder *y, void *, void *arg) {
    auto *st = static_cast<ThrowState *>(arg);
    st->body_ran = true;
    Counted c{&st->log, "body"};
    g_suspend(y, as_ptr(1));
    st->log.push_back("not reached");
    return nullptr;
}

// Calls corolink_resume_with() and returns the message of the
// std::runtime_error that comes out of it ("" if none does).
std::string resume_with_throws(corolink *co, corolink_with_fn fn, void *arg,
                               void *input) {
    void *out = as_ptr(1);
    try {
        int rc = corolink_resume_with(co, fn, arg, input, &out);
        ADD_FAILURE() << "no exception; returned " << rc;
        return "";
    } catch (const std::runtime_error &e) {
        return e.what();
    }
}

TEST_P(ResumeWith, UncaughtExceptionFinishesCoroutine) {
    ThrowState st;
    ASSERT_EQ(corolink_create(&st.co, not_catching_body, &st, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(g_resume(st.co, nullptr, &out), COROLINK_YIELD);
    EXPECT_EQ(resume_with_throws(st.co, deep_throwing_fn, &st, as_ptr(3)),
              "from fn 3");
    EXPECT_EQ(st.log, (Log{"~fn", "~deeper", "~deeper", "~deeper", "~body"}));
    EXPECT_TRUE(corolink_done(st.co));
    EXPECT_EQ(corolink_state(st.co), COROLINK_STATE_FINISHED);
    out = as_ptr(1);
    EXPECT_EQ(g_resume(st.co, nullptr, &out), COROLINK_EDONE);
    EXPECT_EQ(out, nullptr);
    corolink_destroy(st.co);
}

TEST_P(ResumeWith, ExceptionOnNotStartedCoroutine) {
    ThrowState st;
    ASSERT_EQ(corolink_create(&st.co, not_catching_body, &st, 0), 0);
    EXPECT_EQ(resume_with_throws(st.co, throwing_fn, &st, as_ptr(4)),
              "from fn 4");
    EXPECT_FALSE(st.body_ran);
    EXPECT_EQ(st.log, (Log{"~fn"}));
    EXPECT_TRUE(corolink_done(st.co));
    void *out = as_ptr(1);
    EXPECT_EQ(g_resume(st.co, nullptr, &out), COROLINK_EDONE);
    EXPECT_EQ(corolink_resume_with(st.co, identity_fn, nullptr, nullptr, &out),
              COROLINK_EDONE);
    corolink_destroy(st.co);
    // The same stack (from the pool) runs a coroutine normally afterwards.
    ValueState vs;
    ASSERT_EQ(corolink_create(&vs.co, input_plus_one_body, &vs.log, 0), 0);
    ASSERT_EQ(corolink_resume_with(vs.co, add_arg_fn, &vs, as_ptr(1), &out),
              COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 16);
    corolink_destroy(vs.co);
}

// ---- destroy while suspended inside fn -------------------------------------

void *counted_suspending_fn(void *input, void *arg) {
    auto *st = static_cast<SuspendState *>(arg);
    Counted c{&st->log, "fn"};
    void *v = g_suspend(st->y, as_ptr(100));
    st->log.push_back("not reached");
    return as_ptr(as_int(input) + as_int(v));
}

NOINLINE void *counted_deeper_fn(void *input, void *arg) {
    auto *st = static_cast<SuspendState *>(arg);
    Counted c{&st->log, "fn-outer"};
    void *r = counted_suspending_fn(input, arg);
    __asm__ volatile("" : "+r"(r));
    return r;
}

NOINLINE void *counted_body_inner(corolink_yielder *y, SuspendState *st) {
    Counted c{&st->log, "body-inner"};
    void *v = g_suspend(y, as_ptr(1));
    st->log.push_back("not reached");
    return v;
}

void *counted_body(corolink_yielder *y, void *, void *arg) {
    auto *st = static_cast<SuspendState *>(arg);
    st->y = y;
    Counted c{&st->log, "body-outer"};
    void *r = counted_body_inner(y, st);
    __asm__ volatile("" : "+r"(r));
    return r;
}

TEST_P(ResumeWith, DestroySuspendedInsideFnUnwindsFnThenBody) {
    SuspendState st;
    ASSERT_EQ(corolink_create(&st.co, counted_body, &st, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(g_resume(st.co, nullptr, &out), COROLINK_YIELD);
    ASSERT_EQ(corolink_resume_with(st.co, counted_deeper_fn, &st, nullptr,
                                   &out),
              COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 100);
    EXPECT_TRUE(st.log.empty());
    corolink_destroy(st.co);
    EXPECT_EQ(st.log, (Log{"~fn", "~fn-outer", "~body-inner", "~body-outer"}));
}

TEST_P(ResumeWith, ForceUnwindSuspendedInsideFnThenReuse) {
    SuspendState st;
    ASSERT_EQ(corolink_create(&st.co, counted_body, &st, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(g_resume(st.co, nullptr, &out), COROLINK_YIELD);
    ASSERT_EQ(corolink_resume_with(st.co, counted_deeper_fn, &st, nullptr,
                                   &out),
              COROLINK_YIELD);
    ASSERT_EQ(corolink_force_unwind(st.co), 0);
    EXPECT_EQ(st.log, (Log{"~fn", "~fn-outer", "~body-inner", "~body-outer"}));
    EXPECT_EQ(corolink_state(st.co), COROLINK_STATE_FINISHED);
    EXPECT_EQ(g_resume(st.co, nullptr, &out), COROLINK_EDONE);
    corolink_destroy(st.co);
    // An exception in a later resume_with is not mistaken for the unwind.
    ThrowState ts;
    ASSERT_EQ(corolink_create(&ts.co, catching_body, &ts, 0), 0);
    ASSERT_EQ(g_resume(ts.co, nullptr, &out), COROLINK_YIELD);
    ASSERT_EQ(corolink_resume_with(ts.co, throwing_fn, &ts, as_ptr(1), &out),
              COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 1);
    ASSERT_EQ(g_resume(ts.co, as_ptr(-1), &out), COROLINK_RETURN);
    corolink_destroy(ts.co);
}

TEST_P(ResumeWith, DestroyNotStartedSuspendedInsideFn) {
    SuspendState st;
    ASSERT_EQ(corolink_create(&st.co, counted_body, &st, 0), 0);
    st.y = yielder_of(st.co);
    void *out = nullptr;
    ASSERT_EQ(corolink_resume_with(st.co, counted_deeper_fn, &st, nullptr,
                                   &out),
              COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 100);
    corolink_destroy(st.co);
    // fn's frames only: the body never ran.
    EXPECT_EQ(st.log, (Log{"~fn", "~fn-outer"}));
}

#endif // COROLINK_TEST_UNWIND

// ---- traps ----------------------------------------------------------------

#if !defined(_WIN32) && !COROLINK_TEST_SANITIZED

int *volatile g_null = nullptr;

void *faulting_fn(void *, void *) {
    *g_null = 42;
    return nullptr;
}

TEST_P(ResumeWith, FaultInFnTrapsTheCoroutine) {
    ASSERT_EQ(corolink_trap_install(), 0);
    for (bool started : {true, false}) {
        SCOPED_TRACE(started ? "suspended" : "not started");
        // A fresh stack: nothing an earlier coroutine left on it (the
        // trampoline's return address below the control block, which the
        // trap handler looks for) may stand in for what corolink__ontop
        // writes there for a coroutine that has not started.
        corolink_stack stack{};
        ASSERT_EQ(corolink_stack_alloc(&stack, 64 * 1024), 0);
        ValueState st;
        ASSERT_EQ(corolink_create_on(&st.co, &stack, two_suspends_body, &st),
                  0);
        void *out = nullptr;
        if (started) {
            ASSERT_EQ(g_resume(st.co, nullptr, &out), COROLINK_YIELD);
        }
        out = as_ptr(1);
        EXPECT_EQ(corolink_resume_with(st.co, faulting_fn, nullptr, nullptr,
                                       &out),
                  COROLINK_TRAP);
        EXPECT_EQ(out, nullptr);
        EXPECT_TRUE(corolink_done(st.co));
        corolink_trap t{};
        ASSERT_EQ(corolink_trap_info(st.co, &t), 0);
        EXPECT_EQ(t.signo, SIGSEGV);
        corolink_destroy(st.co);
        corolink_stack_free(&stack);
    }
}

#endif

// ---- backtraces from inside fn ---------------------------------------------

#if !defined(_WIN32)

enum class Walker { Libgcc, Glibc, FramePointer };

const char *walker_name(Walker w) {
    switch (w) {
    case Walker::Libgcc:
        return "libgcc _Unwind_Backtrace";
    case Walker::Glibc:
        return "glibc backtrace()";
    case Walker::FramePointer:
        return "frame-pointer walk";
    }
    return "?";
}

struct BtState {
    Walker walker = Walker::Libgcc;
    corolink *co = nullptr;
    uintptr_t thread_lo = 0, thread_hi = 0; // the resumer's stack, roughly
    std::vector<uintptr_t> pcs;             // return addresses
};

uintptr_t strip_ra(uintptr_t ra) {
#if defined(__aarch64__)
    // A signed return address (pac-ret): XPACLRI strips it (a no-op hint
    // without pointer authentication).
    register uintptr_t x30 __asm__("x30") = ra;
    __asm__("hint #7" : "+r"(x30));
    return x30;
#else
    return ra;
#endif
}

_Unwind_Reason_Code libgcc_frame(struct _Unwind_Context *ctx, void *arg) {
    auto *pcs = static_cast<std::vector<uintptr_t> *>(arg);
    if (pcs->size() >= 128)
        return _URC_END_OF_STACK;
    pcs->push_back(static_cast<uintptr_t>(_Unwind_GetIP(ctx)));
    return _URC_NO_REASON;
}

NOINLINE void capture(BtState *st) {
    switch (st->walker) {
    case Walker::Libgcc:
        _Unwind_Backtrace(libgcc_frame, &st->pcs);
        break;
    case Walker::Glibc: {
        void *buf[128];
        int n = backtrace(buf, 128);
        for (int i = 0; i < n; i++)
            st->pcs.push_back(reinterpret_cast<uintptr_t>(buf[i]));
        break;
    }
    case Walker::FramePointer: {
        // Frame records {caller's frame pointer, return address}, on the
        // coroutine's stack, in its control block (the root's link) and on
        // the resumer's stack; up to the resumer (gtest's frames further
        // out need not keep frame pointers).
        corolink_stack stack{};
        if (corolink_get_stack(st->co, &stack) != 0)
            return;
        auto lo = reinterpret_cast<uintptr_t>(stack.limit);
        auto hi = reinterpret_cast<uintptr_t>(stack.base) + 4096;
        auto fp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
        for (int i = 0; i < 64 && fp != 0 && fp % sizeof(void *) == 0; i++) {
            bool ok = (fp >= lo && fp < hi) ||
                      (fp >= st->thread_lo && fp < st->thread_hi);
            if (!ok)
                break;
            const uintptr_t *record = corolink_test_fp_record(fp);
            uintptr_t ra = strip_ra(record[1]);
            st->pcs.push_back(ra);
            if (symbolize(ra - 1) == "rw_bt_resumer")
                break;
            fp = record[0];
        }
        break;
    }
    }
    __asm__ volatile("" ::: "memory");
}

extern "C" NOINLINE void *rw_bt_fn(void *input, void *arg) {
    capture(static_cast<BtState *>(arg));
    __asm__ volatile("" ::: "memory"); // no tail call
    return input;
}

extern "C" NOINLINE void *rw_bt_body(corolink_yielder *y, void *input,
                                     void *) {
    void *r = g_suspend(y, input);
    __asm__ volatile("" : "+r"(r));
    return r;
}

extern "C" NOINLINE int rw_bt_resumer(BtState *st) {
    auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    st->thread_lo = here - 4096;
    st->thread_hi = here + 64 * 1024;
    void *out = nullptr;
    int rc = corolink_resume_with(st->co, rw_bt_fn, st, as_ptr(5), &out);
    __asm__ volatile("" : "+r"(rc));
    return rc;
}

// The frames that matter, outwards: the test's own (rw_*), the library's
// named ones in between (fn's caller, the out-of-line suspend, the root
// frame), main.
std::vector<std::string> named_frames(const std::vector<uintptr_t> &pcs) {
    std::vector<std::string> names;
    for (uintptr_t pc : pcs) {
        std::string s = symbolize(pc - 1); // return addresses
        if (s.compare(0, 3, "rw_") == 0 || s == "corolink_suspend" ||
            s == "corolink__ontop" || s == "corolink__trampoline" ||
            s == "main")
            names.push_back(s);
    }
    return names;
}

std::string all_frames(const std::vector<uintptr_t> &pcs) {
    std::string s;
    for (uintptr_t pc : pcs) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%#llx ",
                      static_cast<unsigned long long>(pc));
        s += "\n    " + std::string(buf) + symbolize(pc - 1);
    }
    return s;
}

void check_backtraces(bool started, Switch sw) {
    for (Walker w : {Walker::Libgcc, Walker::Glibc, Walker::FramePointer}) {
        SCOPED_TRACE(walker_name(w));
#if defined(__thumb__)
        // gcc's Thumb-2 code keeps no frame records (r7 points below a
        // frame's locals, at nothing): no frame-pointer walk exists for it.
        // The ARM-state build of this suite (-marm) walks them.
        if (w == Walker::FramePointer)
            continue;
#endif
        BtState st;
        st.walker = w;
        ASSERT_EQ(corolink_create(&st.co, rw_bt_body, nullptr, 0), 0);
        void *out = nullptr;
        if (started) {
            ASSERT_EQ(g_resume(st.co, as_ptr(1), &out), COROLINK_YIELD);
        }
        // After fn the body returns (its suspend gets fn's result), or
        // starts and suspends.
        EXPECT_EQ(rw_bt_resumer(&st),
                  started ? COROLINK_RETURN : COROLINK_YIELD);
        // fn's caller: corolink__ontop (exported for symbolizers), then
        // what it stands in for.
        std::vector<std::string> expected{"rw_bt_fn", "corolink__ontop"};
        if (started) {
            if (sw == kOutOfLine)
                expected.push_back("corolink_suspend");
            expected.push_back(sw == kInline ? "rw_suspend_inline"
                                             : "rw_suspend_outofline");
            expected.push_back("rw_bt_body");
        }
        expected.push_back("corolink__trampoline");
        expected.push_back("rw_bt_resumer");
        if (w != Walker::FramePointer)
            expected.push_back("main");
        EXPECT_EQ(named_frames(st.pcs), expected)
            << "the backtrace from fn:" << all_frames(st.pcs);
        // The coroutine runs on as usual.
        destroy_suspended(st.co);
    }
}

TEST_P(ResumeWith, BacktraceFromFnLeadsThroughBodyToResumer) {
#if COROLINK_TEST_SANITIZED
    GTEST_SKIP() << "exact frame sequences; the sanitizers intercept "
                    "backtrace() and add frames (as tests/backtrace/)";
#endif
    check_backtraces(true, GetParam());
}

TEST_P(ResumeWith, BacktraceFromFnOnNotStartedLeadsToResumer) {
#if COROLINK_TEST_SANITIZED
    GTEST_SKIP() << "exact frame sequences; the sanitizers intercept "
                    "backtrace() and add frames (as tests/backtrace/)";
#endif
    check_backtraces(false, GetParam());
}

#endif // !_WIN32

} // namespace
