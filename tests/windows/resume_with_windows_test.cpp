// corolink_resume_with() on Windows x64: fn runs on the coroutine's stack
// in corolink__ontop's frame (unwind-info/x86_64_win64_pe.S), whose SEH
// unwind codes lead into the body at its suspension point (or into the
// root frame of a coroutine that has not started). Checked here: values
// through fn, the TEB while fn runs and after, exceptions (C++ and SEH)
// leaving fn, fn suspending the coroutine, a destroy while fn is
// suspended, corolink_current() inside fn, and the three walkers of
// walk.h from inside fn. Built with the inline switch and with
// COROLINK_NO_INLINE (tests/windows/CMakeLists.txt).
#include <corolink.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../common/noinline.h"
#include "walk.h"

namespace {

using winwalk::Frame;

struct corolink__hot *hot(corolink *co) {
    return reinterpret_cast<struct corolink__hot *>(co);
}

void *ptr(uintptr_t v) { return reinterpret_cast<void *>(v); }
uintptr_t num(void *p) { return reinterpret_cast<uintptr_t>(p); }

uintptr_t here_sp() {
    return reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
}

struct Bounds {
    uintptr_t lo = 0, hi = 0;
    bool holds(uintptr_t a) const { return a >= lo && a < hi; }
};
Bounds stack_of(corolink *co) {
    corolink_stack st{};
    EXPECT_EQ(corolink_get_stack(co, &st), 0);
    return {num(st.limit), num(st.base)};
}

// ---- values ------------------------------------------------------------------

// What fn saw.
struct Seen {
    uintptr_t input = 0, arg = 0, sp = 0;
    winwalk::Teb teb{};
    corolink *current = nullptr;
    int calls = 0;
};
Seen g_seen;

NOINLINE void *add_fn(void *input, void *arg) {
    g_seen.input = num(input);
    g_seen.arg = num(arg);
    g_seen.sp = here_sp();
    g_seen.teb = winwalk::teb_now();
    g_seen.current = corolink_current();
    g_seen.calls++;
    return ptr(num(input) + num(arg));
}

// Suspends with 1, then with what each suspend returned plus 1000, until
// it gets 0.
NOINLINE void *echo_body(corolink_yielder *y, void *input, void *) {
    void *v = corolink_suspend(y, ptr(num(input) + 1000));
    while (v != nullptr)
        v = corolink_suspend(y, ptr(num(v) + 1000));
    return ptr(7);
}

// The TEB fields that describe co's own stack (the block's copy while it
// does not run; what fn must find installed).
void expect_teb_of(const winwalk::Teb &t, corolink *co) {
    Bounds b = stack_of(co);
    EXPECT_LE(t.stack_limit, b.lo) << winwalk::describe(t);
    EXPECT_GE(t.stack_base, b.hi) << winwalk::describe(t);
    EXPECT_EQ(t.dealloc, num(hot(co)->teb_dealloc)) << winwalk::describe(t);
    EXPECT_EQ(t.exception_list, ~uintptr_t{0}) << winwalk::describe(t);
}

}  // namespace

// On a suspended coroutine: fn gets the input and arg, on co's stack with
// the TEB naming it; its result is what the pending suspend returns.
TEST(ResumeWithWindows, ValuesThroughFnOnASuspendedCoroutine) {
    winwalk::Teb before = winwalk::teb_now();
    corolink *co;
    ASSERT_EQ(corolink_create(&co, echo_body, nullptr, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(corolink_resume(co, ptr(5), &out), COROLINK_YIELD);
    EXPECT_EQ(num(out), 1005u);
    winwalk::Teb own = {};
    own.dealloc = num(hot(co)->teb_dealloc); // co's, while it does not run
    g_seen = Seen{};
    out = nullptr;
    ASSERT_EQ(corolink_resume_with(co, add_fn, ptr(30), ptr(12), &out), COROLINK_YIELD);
    EXPECT_EQ(g_seen.calls, 1);
    EXPECT_EQ(g_seen.input, 12u);
    EXPECT_EQ(g_seen.arg, 30u);
    EXPECT_EQ(num(out), 1042u); // the suspend returned 42
    EXPECT_TRUE(stack_of(co).holds(g_seen.sp)) << "fn did not run on co's stack";
    EXPECT_EQ(g_seen.teb.dealloc, own.dealloc);
    expect_teb_of(g_seen.teb, co);
    EXPECT_EQ(g_seen.current, co);
    EXPECT_EQ(winwalk::teb_now(), before);
    // Again, then a plain resume: the body goes on as usual.
    ASSERT_EQ(corolink_resume_with(co, add_fn, ptr(1), ptr(2), &out), COROLINK_YIELD);
    EXPECT_EQ(num(out), 1003u);
    ASSERT_EQ(corolink_resume(co, ptr(9), &out), COROLINK_YIELD);
    EXPECT_EQ(num(out), 1009u);
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ(num(out), 7u);
    EXPECT_EQ(winwalk::teb_now(), before);
    corolink_destroy(co);
}

// Not started: fn runs first, on co's stack; its result is the body's
// input.
TEST(ResumeWithWindows, ValuesThroughFnOnANotStartedCoroutine) {
    winwalk::Teb before = winwalk::teb_now();
    corolink *co;
    ASSERT_EQ(corolink_create(&co, echo_body, nullptr, 0), 0);
    g_seen = Seen{};
    void *out = nullptr;
    ASSERT_EQ(corolink_resume_with(co, add_fn, ptr(20), ptr(3), &out), COROLINK_YIELD);
    EXPECT_EQ(g_seen.calls, 1);
    EXPECT_EQ(g_seen.input, 3u);
    EXPECT_EQ(g_seen.arg, 20u);
    EXPECT_EQ(num(out), 1023u);
    EXPECT_TRUE(stack_of(co).holds(g_seen.sp)) << "fn did not run on co's stack";
    expect_teb_of(g_seen.teb, co);
    EXPECT_EQ(g_seen.current, co);
    EXPECT_EQ(winwalk::teb_now(), before);
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_RETURN);
    corolink_destroy(co);
    // Errors: nothing runs.
    ASSERT_EQ(corolink_create(&co, echo_body, nullptr, 0), 0);
    g_seen = Seen{};
    out = ptr(1);
    EXPECT_EQ(corolink_resume_with(co, nullptr, nullptr, nullptr, &out), COROLINK_EINVAL);
    EXPECT_EQ(out, nullptr);
    EXPECT_EQ(corolink_resume_with(nullptr, add_fn, nullptr, nullptr, &out), COROLINK_EINVAL);
    EXPECT_EQ(g_seen.calls, 0);
    EXPECT_FALSE(corolink_started(co));
    corolink_destroy(co);
}

// ---- C++ exceptions ----------------------------------------------------------

namespace {

struct Boom {
    int code;
};

NOINLINE void *throw_fn(void *input, void *) { throw Boom{static_cast<int>(num(input))}; }

std::vector<std::string> g_log;
struct Logged {
    const char *name;
    ~Logged() { g_log.push_back(name); }
};

// Catches what comes out of its pending suspend and suspends with the
// code; then suspends again (uncaught this time).
NOINLINE void *catching_body(corolink_yielder *y, void *, void *) {
    Logged guard{"catching_body"};
    try {
        corolink_suspend(y, nullptr);
        g_log.push_back("suspend returned");
    } catch (const Boom &b) {
        corolink_suspend(y, ptr(static_cast<uintptr_t>(b.code)));
    }
    corolink_suspend(y, ptr(1));
    return nullptr;
}

}  // namespace

// fn throws: the body catches it around its pending suspend, goes on, and
// the next throw (uncaught in the body) comes out of corolink_resume_with,
// after the body's destructors ran; the coroutine is finished.
TEST(ResumeWithWindows, ExceptionFromFnCaughtInTheBodyThenUncaught) {
    winwalk::Teb before = winwalk::teb_now();
    g_log.clear();
    corolink *co;
    ASSERT_EQ(corolink_create(&co, catching_body, nullptr, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_YIELD);
    ASSERT_EQ(corolink_resume_with(co, throw_fn, nullptr, ptr(77), &out), COROLINK_YIELD);
    EXPECT_EQ(num(out), 77u);
    EXPECT_EQ(winwalk::teb_now(), before);
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_YIELD);
    EXPECT_EQ(num(out), 1u);
    EXPECT_TRUE(g_log.empty());
    int caught = 0;
    try {
        corolink_resume_with(co, throw_fn, nullptr, ptr(88), &out);
    } catch (const Boom &b) {
        caught = b.code;
    }
    EXPECT_EQ(caught, 88);
    EXPECT_EQ(g_log, std::vector<std::string>{"catching_body"});
    EXPECT_TRUE(corolink_done(co));
    EXPECT_EQ(winwalk::teb_now(), before);
    EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_EDONE);
    corolink_destroy(co);
}

namespace {
bool g_body_ran;
NOINLINE void *flag_body(corolink_yielder *, void *, void *) {
    g_body_ran = true;
    return nullptr;
}
}  // namespace

// Not started: the exception finishes the coroutine without running the
// body and comes out of corolink_resume_with.
TEST(ResumeWithWindows, ExceptionFromFnOnANotStartedCoroutine) {
    winwalk::Teb before = winwalk::teb_now();
    corolink *co;
    ASSERT_EQ(corolink_create(&co, flag_body, nullptr, 0), 0);
    g_body_ran = false;
    int caught = 0;
    try {
        corolink_resume_with(co, throw_fn, nullptr, ptr(5), nullptr);
    } catch (const Boom &b) {
        caught = b.code;
    }
    EXPECT_EQ(caught, 5);
    EXPECT_FALSE(g_body_ran);
    EXPECT_TRUE(corolink_done(co));
    EXPECT_EQ(winwalk::teb_now(), before);
    corolink_destroy(co);
}

// ---- fn suspends ---------------------------------------------------------------

namespace {

struct SuspendingArg {
    corolink_yielder *y = nullptr;
};

// Suspends the coroutine twice from fn, then returns the sum of what the
// resumes gave it.
NOINLINE void *suspending_fn(void *input, void *arg) {
    Logged guard{"suspending_fn"};
    auto *a = static_cast<SuspendingArg *>(arg);
    uintptr_t sum = num(input);
    sum += num(corolink_suspend(a->y, ptr(100)));
    sum += num(corolink_suspend(a->y, ptr(200)));
    return ptr(sum);
}

NOINLINE void *yielder_body(corolink_yielder *y, void *, void *arg) {
    Logged guard{"yielder_body"};
    static_cast<SuspendingArg *>(arg)->y = y;
    void *v = corolink_suspend(y, nullptr);
    corolink_suspend(y, ptr(num(v) + 1000));
    return nullptr;
}

}  // namespace

// fn suspends co: corolink_resume_with reports the suspend; later resumes
// (from other frames) go on inside fn, and when fn returns its result is
// what the body's pending suspend returns.
TEST(ResumeWithWindows, FnSuspendsAndIsResumedLater) {
    winwalk::Teb before = winwalk::teb_now();
    g_log.clear();
    SuspendingArg a;
    corolink *co;
    ASSERT_EQ(corolink_create(&co, yielder_body, &a, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_YIELD);
    ASSERT_EQ(corolink_resume_with(co, suspending_fn, &a, ptr(1), &out), COROLINK_YIELD);
    EXPECT_EQ(num(out), 100u);
    EXPECT_EQ(winwalk::teb_now(), before);
    ASSERT_EQ(corolink_resume(co, ptr(10), &out), COROLINK_YIELD);
    EXPECT_EQ(num(out), 200u);
    ASSERT_EQ(corolink_resume(co, ptr(20), &out), COROLINK_YIELD);
    EXPECT_EQ(num(out), 1031u); // fn returned 1 + 10 + 20
    EXPECT_EQ(g_log, std::vector<std::string>{"suspending_fn"});
    EXPECT_EQ(winwalk::teb_now(), before);
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ(winwalk::teb_now(), before);
    corolink_destroy(co);
}

// Destroyed while suspended inside fn: fn's destructors run, then the
// body's.
TEST(ResumeWithWindows, DestroyWhileSuspendedInFnUnwindsFnThenTheBody) {
    winwalk::Teb before = winwalk::teb_now();
    g_log.clear();
    SuspendingArg a;
    corolink *co;
    ASSERT_EQ(corolink_create(&co, yielder_body, &a, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_YIELD);
    ASSERT_EQ(corolink_resume_with(co, suspending_fn, &a, ptr(1), &out), COROLINK_YIELD);
    EXPECT_EQ(num(out), 100u);
    EXPECT_TRUE(g_log.empty());
    corolink_destroy(co);
    EXPECT_EQ(g_log, (std::vector<std::string>{"suspending_fn", "yielder_body"}));
    EXPECT_EQ(winwalk::teb_now(), before);
}

// ---- SEH ---------------------------------------------------------------------

namespace {

constexpr DWORD kCode = 0xE0C0FFEFu;
constexpr ULONG_PTR kParams[2] = {0xabc, 0xdef};

NOINLINE void *raise_fn(void *, void *) {
    RaiseException(kCode, EXCEPTION_NONCONTINUABLE, 2, kParams);
    return nullptr;
}

struct Sighting {
    uintptr_t rsp = 0;
    DWORD params = 0;
    ULONG_PTR info[2] = {};
    std::vector<Frame> walk;
};
std::vector<Sighting> g_sightings;
// Where the handler continues the raise number g_recover_at (1-based).
CONTEXT g_recovery;
volatile bool g_recovered;
size_t g_recover_at;

LONG CALLBACK watch(EXCEPTION_POINTERS *ep) {
    const EXCEPTION_RECORD *rec = ep->ExceptionRecord;
    if (rec->ExceptionCode != kCode)
        return EXCEPTION_CONTINUE_SEARCH;
    Sighting s;
    s.rsp = ep->ContextRecord->Rsp;
    s.params = rec->NumberParameters;
    for (DWORD i = 0; i < rec->NumberParameters && i < 2; i++)
        s.info[i] = rec->ExceptionInformation[i];
    s.walk = winwalk::walk_virtual_unwind_from(*ep->ContextRecord);
    g_sightings.push_back(s);
    if (g_sightings.size() < g_recover_at)
        return EXCEPTION_CONTINUE_SEARCH;
    g_recovered = true;
    *ep->ContextRecord = g_recovery;
    return EXCEPTION_CONTINUE_EXECUTION;
}

bool walk_holds(const std::vector<Frame> &walk, const void *fn) {
    winwalk::Range r = winwalk::range_of(fn);
    for (const Frame &f : walk)
        if (r.holds(f.pc))
            return true;
    return false;
}

// The body recovers from the second raise (the one from its pending
// suspend) at a point of its own, then suspends with 55.
NOINLINE void *seh_body(corolink_yielder *y, void *, void *) {
    g_recovered = false;
    RtlCaptureContext(&g_recovery);
    if (g_recovered) {
        corolink_suspend(y, ptr(55));
        return nullptr;
    }
    corolink_suspend(y, nullptr);
    return ptr(1); // the suspend returned: no raise reached the body
}

// The resumer recovers from the raise on its own stack.
uintptr_t g_resumer_local;
NOINLINE int resume_with_raising(corolink *co) {
    volatile char local = 0;
    g_resumer_local = num(const_cast<char *>(&local));
    int rc = corolink_resume_with(co, raise_fn, nullptr, nullptr, nullptr);
    __asm__ volatile("" ::: "memory");
    return rc + local;
}
NOINLINE bool resume_until_recovered(corolink *co) {
    g_recovered = false;
    RtlCaptureContext(&g_recovery);
    if (g_recovered)
        return true;
    resume_with_raising(co);
    return false;
}

}  // namespace

// An SEH exception raised in fn reaches the body: raised first in fn, then
// again from the body's pending suspend (on co's stack, fn's frames gone),
// where the body takes it (a vectored handler continues it at a point of
// the body's).
TEST(ResumeWithWindows, SehExceptionFromFnReachesTheBody) {
    winwalk::Teb before = winwalk::teb_now();
    corolink *co;
    ASSERT_EQ(corolink_create(&co, seh_body, nullptr, 0), 0);
    Bounds b = stack_of(co);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    g_sightings.clear();
    g_recover_at = 2;
    void *handler = AddVectoredExceptionHandler(1, watch);
    ASSERT_NE(handler, nullptr);
    void *out = nullptr;
    int rc = corolink_resume_with(co, raise_fn, nullptr, nullptr, &out);
    RemoveVectoredExceptionHandler(handler);
    EXPECT_EQ(rc, COROLINK_YIELD);
    EXPECT_EQ(num(out), 55u) << "the body did not get the exception";
    EXPECT_EQ(winwalk::teb_now(), before);
    ASSERT_EQ(g_sightings.size(), 2u);
    for (const Sighting &s : g_sightings) {
        EXPECT_TRUE(b.holds(s.rsp));
        EXPECT_EQ(s.params, 2u);
        EXPECT_EQ(s.info[0], kParams[0]);
        EXPECT_EQ(s.info[1], kParams[1]);
    }
    EXPECT_TRUE(walk_holds(g_sightings[0].walk, reinterpret_cast<void *>(raise_fn)));
    EXPECT_TRUE(walk_holds(g_sightings[0].walk, reinterpret_cast<void *>(seh_body)));
    EXPECT_FALSE(walk_holds(g_sightings[1].walk, reinterpret_cast<void *>(raise_fn)));
    EXPECT_TRUE(walk_holds(g_sightings[1].walk, reinterpret_cast<void *>(seh_body)));
    corolink_destroy(co);
}

// Nobody in the body takes it: it finishes the coroutine and is raised a
// third time, from corolink_resume_with on the resumer's stack.
TEST(ResumeWithWindows, SehExceptionFromFnUncaughtLeavesResumeWith) {
    winwalk::Teb before = winwalk::teb_now();
    corolink *co;
    ASSERT_EQ(corolink_create(&co, echo_body, nullptr, 0), 0);
    Bounds b = stack_of(co);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    g_sightings.clear();
    g_recover_at = 3;
    void *handler = AddVectoredExceptionHandler(1, watch);
    ASSERT_NE(handler, nullptr);
    bool recovered = resume_until_recovered(co);
    RemoveVectoredExceptionHandler(handler);
    ASSERT_TRUE(recovered) << "no raise reached the resumer";
    EXPECT_EQ(winwalk::teb_now(), before);
    EXPECT_TRUE(corolink_done(co));
    ASSERT_EQ(g_sightings.size(), 3u);
    EXPECT_TRUE(b.holds(g_sightings[0].rsp));
    EXPECT_TRUE(walk_holds(g_sightings[0].walk, reinterpret_cast<void *>(raise_fn)));
    EXPECT_TRUE(b.holds(g_sightings[1].rsp));
    EXPECT_TRUE(walk_holds(g_sightings[1].walk, reinterpret_cast<void *>(echo_body)));
    EXPECT_FALSE(walk_holds(g_sightings[1].walk, reinterpret_cast<void *>(raise_fn)));
    EXPECT_FALSE(b.holds(g_sightings[2].rsp));
    EXPECT_LT(g_sightings[2].rsp, g_resumer_local);
    EXPECT_TRUE(walk_holds(g_sightings[2].walk, reinterpret_cast<void *>(resume_with_raising)));
    EXPECT_FALSE(walk_holds(g_sightings[2].walk, reinterpret_cast<void *>(echo_body)));
    corolink_destroy(co);
}

// ---- backtraces from inside fn -------------------------------------------------

namespace {

winwalk::Walks g_walks;
corolink *g_current;

NOINLINE void *walk_fn(void *input, void *) {
    g_current = corolink_current();
    winwalk::take_walks(&g_walks);
    __asm__ volatile("" ::: "memory");
    return input; // no tail call
}

NOINLINE void *walk_body(corolink_yielder *y, void *input, void *) {
    void *v = corolink_suspend(y, input);
    __asm__ volatile("" ::: "memory");
    return v;
}

NOINLINE int walk_resumer(corolink *co) {
    volatile char local = 0;
    int rc = corolink_resume_with(co, walk_fn, nullptr, nullptr, nullptr);
    return rc + local; // not a tail call
}

const void *trampoline_address() {
    corolink *co;
    EXPECT_EQ(corolink_create(&co, walk_body, nullptr, 0), 0);
    const void *pc = hot(co)->pc; // not started
    corolink_destroy(co);
    return pc;
}

// The names of the functions the walks must show, in order; every frame
// of another function (the library's) is left out.
std::string named(const std::vector<Frame> &walk) {
    const std::pair<const char *, const void *> known[] = {
        {"take_walks", reinterpret_cast<const void *>(winwalk::take_walks)},
        {"walk_fn", reinterpret_cast<const void *>(walk_fn)},
        {"walk_body", reinterpret_cast<const void *>(walk_body)},
        {"trampoline", trampoline_address()},
        {"walk_resumer", reinterpret_cast<const void *>(walk_resumer)},
        {"main", winwalk::main_address()},
    };
    std::string out;
    for (const Frame &f : walk)
        for (const auto &k : known)
            if (winwalk::range_of(k.second).holds(f.pc))
                out += std::string(out.empty() ? "" : " ") + k.first;
    return out;
}

// The frame of the walk at the body's suspension point, as the switch
// saved it (S = co->pc - 131, rsp = co->sp, rbp = co->fp).
bool has_suspension_point(const std::vector<Frame> &walk, uintptr_t pc, uintptr_t sp,
                          uintptr_t fp) {
    for (const Frame &f : walk)
        if (f.pc == pc && f.sp == sp && f.fp == fp)
            return true;
    return false;
}

}  // namespace

// From inside fn on a suspended coroutine, every walker goes from fn into
// the body's function (at its suspension point, with the body's rsp and
// rbp), its root, the resumer of corolink_resume_with and main();
// corolink_current() finds the coroutine.
TEST(ResumeWithWindows, BacktraceFromFnContinuesIntoTheBodyAndTheResumer) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, walk_body, nullptr, 0), 0);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    uintptr_t s = num(hot(co)->pc) - 131, sp = num(hot(co)->sp), fp = num(hot(co)->fp);
    g_walks = {};
    g_current = nullptr;
    ASSERT_EQ(walk_resumer(co), COROLINK_RETURN);
    EXPECT_EQ(g_current, co);
    const char *want = "take_walks walk_fn walk_body trampoline walk_resumer main";
    EXPECT_EQ(named(g_walks.rtl_capture), want);
    EXPECT_EQ(named(g_walks.virtual_unwind), want);
    EXPECT_EQ(named(g_walks.unwind_backtrace), want);
    EXPECT_TRUE(has_suspension_point(g_walks.virtual_unwind, s, sp, fp))
        << "no frame at the suspension point with the body's rsp and rbp";
    corolink_destroy(co);
}

// Not started: from fn into the root frame, then the resumer.
TEST(ResumeWithWindows, BacktraceFromFnOnANotStartedCoroutine) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, walk_body, nullptr, 0), 0);
    g_walks = {};
    g_current = nullptr;
    ASSERT_EQ(walk_resumer(co), COROLINK_YIELD);
    EXPECT_EQ(g_current, co);
    const char *want = "take_walks walk_fn trampoline walk_resumer main";
    EXPECT_EQ(named(g_walks.rtl_capture), want);
    EXPECT_EQ(named(g_walks.virtual_unwind), want);
    EXPECT_EQ(named(g_walks.unwind_backtrace), want);
    corolink_destroy(co);
}
