// The TEB describes the running stack (include/corolink/x86_64_win64_pe.h):
// DeallocationStack, GuaranteedStackBytes (and ExceptionList, for wine)
// are the running stack's own, and [StackLimit, StackBase] spans it and
// every stack of the chain that resumed it (the union of the resumer's
// bounds and its own), so that exception dispatch and stack walkers,
// which stop at frames outside those bounds, reach into the resumers,
// while the stack-growth and overflow logic sees the running stack. These tests read the fields where code runs: in bodies (nested
// too), in fn of corolink_on_stack() and corolink_on_parent_stack(), and
// in the resumer after each switch back. And large frames: a body with a
// 100 KiB frame (gcc probes it page by page with ___chkstk_ms) on a
// default stack.
#include <corolink.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#include "walk.h"

namespace {

using winwalk::describe;
using winwalk::Teb;

// The TEB as seen from some code, and an address in that code's frame.
struct Sample {
    Teb teb;
    uintptr_t sp;
};

__attribute__((noinline)) Sample sample() {
    volatile char here = 0;
    Sample s{winwalk::teb_now(), reinterpret_cast<uintptr_t>(&here)};
    __asm__ volatile("" ::: "memory");
    return s;
}

void *as_ptr(const void *p) { return const_cast<void *>(p); }

corolink_stack stack_of(const corolink *co) {
    corolink_stack st{};
    EXPECT_EQ(corolink_get_stack(co, &st), 0);
    return st;
}

constexpr uintptr_t kNoHandlers = ~uintptr_t{0}; // an empty ExceptionList

// The TEB while code runs on the stack `st` of a coroutine resumed from
// code that saw `outer`: [StackLimit, StackBase] is the union of outer's
// bounds and the stack's own (StackBase the end of its region, just above
// the control block at `base`; StackLimit its lowest committed byte,
// between `limit` and the code that runs); DeallocationStack the start of
// its reservation (the guard); guaranteed bytes the stack's own (what the
// library gives its stacks: the overflow handlers' room, below its
// committed bytes); no wine handler frames.
void expect_coroutine_stack(const Sample &s, const corolink_stack &st,
                            const Teb &outer) {
    uintptr_t base = reinterpret_cast<uintptr_t>(st.base);
    uintptr_t limit = reinterpret_cast<uintptr_t>(st.limit);
    const Teb &t = s.teb;
    EXPECT_GE(t.stack_base, outer.stack_base) << describe(t);
    EXPECT_GE(t.stack_base, base) << describe(t);
    if (t.stack_base != outer.stack_base) { // then it is the stack's own end
        EXPECT_LE(t.stack_base - base, 8u * 1024) << describe(t);
    }
    EXPECT_LE(t.stack_limit, outer.stack_limit) << describe(t);
    EXPECT_LE(t.stack_limit, s.sp) << describe(t);
    if (t.stack_limit != outer.stack_limit) { // then it is the stack's own
        EXPECT_GE(t.stack_limit, limit) << describe(t);
    }
    EXPECT_LT(s.sp, base) << describe(t);
    EXPECT_GE(s.sp, limit) << describe(t);
    EXPECT_EQ(t.dealloc, limit - st.guard) << describe(t);
    EXPECT_LE(t.guarantee, base - limit) << describe(t);
    EXPECT_EQ(t.exception_list, kNoHandlers) << describe(t);
}

// ---- a body --------------------------------------------------------------

// Samples the TEB on each entry (before and after one suspend).
void *sampling_body(corolink_yielder *y, void *, void *arg) {
    auto *seen = static_cast<std::vector<Sample> *>(arg);
    seen->push_back(sample());
    corolink_suspend(y, nullptr);
    seen->push_back(sample());
    return nullptr;
}

}  // namespace

// While a body runs the TEB describes its stack, the same on each entry;
// after each resume returns (suspend, then return) the thread's own values
// are back, all five fields.
TEST(TebStack, BodyRunsOnItsOwnStack) {
    Teb before = winwalk::teb_now();
    std::vector<Sample> seen;
    corolink *co;
    ASSERT_EQ(corolink_create(&co, sampling_body, &seen, 0), 0);
    corolink_stack st = stack_of(co);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    Teb suspended = winwalk::teb_now();
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    Teb returned = winwalk::teb_now();
    corolink_destroy(co);

    ASSERT_EQ(seen.size(), 2u);
    expect_coroutine_stack(seen[0], st, before);
    EXPECT_EQ(seen[0].teb, seen[1].teb) << describe(seen[0].teb) << "\n" << describe(seen[1].teb);
    EXPECT_NE(seen[0].teb.dealloc, before.dealloc);
    EXPECT_EQ(suspended, before) << describe(suspended) << "\n" << describe(before);
    EXPECT_EQ(returned, before) << describe(returned) << "\n" << describe(before);
}

// GuaranteedStackBytes belongs to a stack too: a thread that asked for a
// guarantee (SetThreadStackGuarantee) has it back after each switch, and
// its bodies run with their stack's own, not the thread's.
TEST(TebStack, GuaranteedStackBytesIsPerStack) {
    std::thread([] {
        ULONG size = 64 * 1024;
        ASSERT_TRUE(SetThreadStackGuarantee(&size));
        Teb before = winwalk::teb_now();
        ASSERT_GE(before.guarantee, 64u * 1024);
        std::vector<Sample> seen;
        corolink *co;
        ASSERT_EQ(corolink_create(&co, sampling_body, &seen, 0), 0);
        ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
        EXPECT_EQ(winwalk::teb_now(), before);
        ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
        EXPECT_EQ(winwalk::teb_now(), before);
        ASSERT_EQ(seen.size(), 2u);
        expect_coroutine_stack(seen[0], stack_of(co), before);
        expect_coroutine_stack(seen[1], stack_of(co), before);
        EXPECT_NE(seen[0].teb.guarantee, before.guarantee);
        EXPECT_EQ(seen[1].teb.guarantee, seen[0].teb.guarantee);
        corolink_destroy(co);
    }).join();
}

namespace {

// Nested: A samples, resumes B (which samples, suspends, samples again
// after the next resume), samples after each of B's switches back.
struct Nest {
    corolink *b = nullptr;
    std::vector<Sample> in_a, in_b;
};

void *nest_inner(corolink_yielder *y, void *, void *arg) {
    auto *n = static_cast<Nest *>(arg);
    n->in_b.push_back(sample());
    corolink_suspend(y, nullptr);
    n->in_b.push_back(sample());
    return nullptr;
}

void *nest_outer(corolink_yielder *y, void *, void *arg) {
    auto *n = static_cast<Nest *>(arg);
    n->in_a.push_back(sample());
    EXPECT_EQ(corolink_resume(n->b, nullptr, nullptr), COROLINK_YIELD);
    n->in_a.push_back(sample());
    corolink_suspend(y, nullptr); // B stays suspended meanwhile
    n->in_a.push_back(sample());
    EXPECT_EQ(corolink_resume(n->b, nullptr, nullptr), COROLINK_RETURN);
    n->in_a.push_back(sample());
    return nullptr;
}

}  // namespace

// Each level of nesting sees its own stack; each switch back restores the
// level below exactly, also when the outer coroutine suspends (to the
// thread) while the inner one is suspended.
TEST(TebStack, NestedCoroutines) {
    Teb before = winwalk::teb_now();
    Nest n;
    corolink *a;
    ASSERT_EQ(corolink_create(&a, nest_outer, &n, 0), 0);
    ASSERT_EQ(corolink_create(&n.b, nest_inner, &n, 0), 0);
    ASSERT_EQ(corolink_resume(a, nullptr, nullptr), COROLINK_YIELD);
    EXPECT_EQ(winwalk::teb_now(), before);
    ASSERT_EQ(corolink_resume(a, nullptr, nullptr), COROLINK_RETURN);
    EXPECT_EQ(winwalk::teb_now(), before);

    ASSERT_EQ(n.in_a.size(), 4u);
    ASSERT_EQ(n.in_b.size(), 2u);
    for (const Sample &s : n.in_a) {
        expect_coroutine_stack(s, stack_of(a), before);
        EXPECT_EQ(s.teb, n.in_a[0].teb) << describe(s.teb);
    }
    for (const Sample &s : n.in_b) // B's bounds also span A's and the thread's
        expect_coroutine_stack(s, stack_of(n.b), n.in_a[0].teb);
    EXPECT_NE(n.in_a[0].teb.dealloc, n.in_b[0].teb.dealloc);
    corolink_destroy(n.b);
    corolink_destroy(a);
}

namespace {

void *sample_fn(void *arg) {
    *static_cast<Sample *>(arg) = sample();
    return arg;
}

// fn of corolink_on_stack() on `st`: the TEB's bounds are the union of
// the caller's and the stack's (a stack given by the caller is taken as
// committed down to its limit), the rest the stack's own (the guarantee,
// if any, fits in its guard).
void expect_on_stack(const corolink_stack &st) {
    Teb outside = winwalk::teb_now();
    Sample in{};
    void *result = nullptr;
    ASSERT_EQ(corolink_on_stack(&st, sample_fn, &in, &result), 0);
    EXPECT_EQ(result, &in);
    EXPECT_EQ(winwalk::teb_now(), outside);
    EXPECT_EQ(in.teb.stack_base,
              std::max(outside.stack_base, reinterpret_cast<uintptr_t>(st.base)))
        << describe(in.teb);
    EXPECT_EQ(in.teb.stack_limit,
              std::min(outside.stack_limit, reinterpret_cast<uintptr_t>(st.limit)))
        << describe(in.teb);
    EXPECT_EQ(in.teb.dealloc, reinterpret_cast<uintptr_t>(st.limit) - st.guard)
        << describe(in.teb);
    EXPECT_LE(in.teb.guarantee, st.guard) << describe(in.teb); // below StackLimit
    EXPECT_EQ(in.teb.exception_list, kNoHandlers);
    EXPECT_GE(in.sp, reinterpret_cast<uintptr_t>(st.limit));
    EXPECT_LT(in.sp, reinterpret_cast<uintptr_t>(st.base));
}

void *on_stack_in_body(corolink_yielder *, void *, void *arg) {
    auto *st = static_cast<corolink_stack *>(arg);
    Sample before = sample();
    expect_on_stack(*st);
    Sample after = sample();
    EXPECT_EQ(before.teb, after.teb); // the coroutine's stack again
    return nullptr;
}

}  // namespace

// From the thread and from inside a body: fn runs with the TEB naming the
// given stack; the caller's values are back afterwards.
TEST(TebStack, OnStackNamesTheGivenStack) {
    corolink_stack st;
    ASSERT_EQ(corolink_stack_alloc(&st, 64 * 1024), 0);
    expect_on_stack(st);
    corolink *co;
    ASSERT_EQ(corolink_create(&co, on_stack_in_body, &st, 0), 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    corolink_destroy(co);
    corolink_stack_free(&st);
}

namespace {

// fn of corolink_on_parent_stack() runs on the resumer's stack: the TEB
// names the resumer's stack there (`resumer`: what the resumer saw).
struct Parent {
    Sample resumer, body_before, in_fn, body_after;
    corolink *inner = nullptr; // when set, the body resumes it instead
};

void *on_parent_body(corolink_yielder *y, void *, void *arg) {
    auto *p = static_cast<Parent *>(arg);
    p->body_before = sample();
    EXPECT_EQ(corolink_on_parent_stack(y, sample_fn, &p->in_fn), &p->in_fn);
    p->body_after = sample();
    return nullptr;
}

// A coroutine resuming the one in `p->inner` (whose resumer it is).
void *parent_of_inner(corolink_yielder *, void *, void *arg) {
    auto *p = static_cast<Parent *>(arg);
    p->resumer = sample();
    EXPECT_EQ(corolink_resume(p->inner, nullptr, nullptr), COROLINK_RETURN);
    return nullptr;
}

// fn runs with the resumer's DeallocationStack, guarantee and handler
// list, and bounds that span the resumer's stack and the body's.
void expect_on_parent(const Parent &p) {
    const Teb &in = p.in_fn.teb, &res = p.resumer.teb, &body = p.body_before.teb;
    EXPECT_EQ(in.dealloc, res.dealloc) << describe(in) << "\n" << describe(res);
    EXPECT_EQ(in.guarantee, res.guarantee);
    EXPECT_EQ(in.exception_list, res.exception_list);
    EXPECT_GE(in.stack_base, std::max(res.stack_base, body.stack_base));
    EXPECT_LE(in.stack_limit, std::min(res.stack_limit, body.stack_limit));
    // fn's frame is on the resumer's stack, below the resumer's frames.
    EXPECT_GE(p.in_fn.sp, res.stack_limit);
    EXPECT_LT(p.in_fn.sp, p.resumer.sp);
    EXPECT_EQ(p.body_after.teb, p.body_before.teb);
    EXPECT_NE(body.dealloc, res.dealloc);
}

}  // namespace

// Resumed from the thread: fn sees the thread's own TEB values; resumed
// from another coroutine: that coroutine's. The body has its own back
// when fn returns.
TEST(TebStack, OnParentStackNamesTheResumersStack) {
    Parent p;
    corolink *co;
    ASSERT_EQ(corolink_create(&co, on_parent_body, &p, 0), 0);
    p.resumer = sample();
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    corolink_destroy(co);
    expect_on_parent(p);
    EXPECT_EQ(p.in_fn.teb.dealloc, winwalk::teb_now().dealloc);

    Parent q;
    corolink *outer;
    ASSERT_EQ(corolink_create(&q.inner, on_parent_body, &q, 0), 0);
    ASSERT_EQ(corolink_create(&outer, parent_of_inner, &q, 0), 0);
    ASSERT_EQ(corolink_resume(outer, nullptr, nullptr), COROLINK_RETURN);
    expect_on_parent(q);
    expect_coroutine_stack(q.in_fn, stack_of(outer), q.body_before.teb);
    corolink_destroy(q.inner);
    corolink_destroy(outer);
}

// ---- large frames ----------------------------------------------------------

namespace {

constexpr size_t kBig = 100 * 1024;

// A 100 KiB frame: gcc calls ___chkstk_ms in the prologue to touch each
// page in order. Fills the array, suspends with its address, and after
// the resume checks that the whole array survived; returns 1 if it did.
__attribute__((noinline)) void *big_frame_body(corolink_yielder *y, void *, void *) {
    volatile unsigned char big[kBig];
    for (size_t i = 0; i < kBig; i++)
        big[i] = static_cast<unsigned char>(i * 7 + 1);
    Sample s = sample();
    // The frame lies within what the TEB names.
    EXPECT_GE(reinterpret_cast<uintptr_t>(&big[0]), s.teb.stack_limit);
    corolink_suspend(y, as_ptr(const_cast<unsigned char *>(&big[0])));
    for (size_t i = 0; i < kBig; i++)
        if (big[i] != static_cast<unsigned char>(i * 7 + 1))
            return nullptr;
    return reinterpret_cast<void *>(1);
}

}  // namespace

// On a default (256 KiB) stack, fresh from the system: the body runs,
// suspends and resumes with its 100 KiB array intact, which lies on the
// coroutine's stack; the high-water mark counts it.
TEST(LargeFrame, HundredKiBFrameOnDefaultStack) {
    corolink_pool_trim(); // a fresh stack: its high-water mark is the body's
    corolink *co;
    ASSERT_EQ(corolink_create(&co, big_frame_body, nullptr, 0), 0);
    corolink_stack st = stack_of(co);
    ASSERT_GE(reinterpret_cast<uintptr_t>(st.base) - reinterpret_cast<uintptr_t>(st.limit),
              COROLINK_STACK_DEFAULT_SIZE - COROLINK_CONTROL_SIZE);
    EXPECT_LT(corolink_stack_used(co), kBig);
    void *out = nullptr;
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_YIELD);
    uintptr_t array = reinterpret_cast<uintptr_t>(out);
    EXPECT_GE(array, reinterpret_cast<uintptr_t>(st.limit));
    EXPECT_GE(reinterpret_cast<uintptr_t>(st.base) - array, kBig);
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ(out, reinterpret_cast<void *>(1)) << "the array changed across the suspend";
    EXPECT_GE(corolink_stack_used(co), kBig);
    corolink_destroy(co);
}
