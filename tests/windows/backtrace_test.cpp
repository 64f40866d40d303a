// Linked backtraces on Windows x64: the SEH unwind codes of
// corolink__trampoline (unwind-info/x86_64_win64_pe.S) make
// RtlVirtualUnwind step from a coroutine's root frame into the frame that
// last resumed it, on the resumer's own stack. Unwinders that rest on
// RtlLookupFunctionEntry + RtlVirtualUnwind (an explicit loop, libgcc's
// _Unwind_Backtrace) must therefore walk from the innermost of three
// nested coroutines through every body and every resumer down to main(),
// with the stack pointer (and rbp) of each frame restored as it really
// was; and from a coroutine resumed a second time, by another resumer,
// into that latest resumer (the records are rewritten by the suspend's
// resume point, not only by the trampoline). RtlCaptureStackBackTrace
// (ntdll's walker, which stops at the first frame outside the TEB's
// [StackLimit, StackBase]) gets there too: while a coroutine runs, those
// bounds span every stack of the chain that resumed it.
//
// Built several times (tests/windows/CMakeLists.txt): with the inline
// switch and with COROLINK_NO_INLINE (the out-of-line corolink_resume(),
// whose own frame then sits between the trampoline and the resumer); and,
// as the negative control, with COROLINK_TEST_NO_LINK_RECORDS=1 against a
// copy of the library whose trampoline has no unwind codes: there the same
// walks must NOT get from a coroutine into its resumer. The negative build
// is also run against the real library, where it must fail: the checks
// below are what tells the two libraries apart.
#include <corolink.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "walk.h"

#ifndef COROLINK_TEST_NO_LINK_RECORDS
#define COROLINK_TEST_NO_LINK_RECORDS 0
#endif

namespace {

using winwalk::Frame;

// What a resumer saw just before its resume: a local of its frame, its
// rbp (the function keeps a frame pointer: it takes
// __builtin_frame_address), and the stack it runs on.
struct Resumer {
    uintptr_t local = 0, rbp = 0, frame = 0, lo = 0, hi = 0;
};

// One step a walk must take out of a coroutine's root frame.
struct Boundary {
    int co = 0;              // index of the coroutine in Scenario::co
    const char *resumer;     // the function that resumed it last
    int seen = 0;            // what that function recorded: Scenario::resumer[seen]
    uintptr_t link_sp = 0;   // co->link_sp, co->link_ra, read while the
    uintptr_t link_ra = 0;   // innermost body runs
};

// Up to three coroutines; the innermost one runs body_c, which takes the
// walks. `boundaries`: the roots the walks must cross, innermost first.
struct Scenario {
    corolink *co[3] = {};
    Resumer resumer[3];
    std::vector<Boundary> boundaries;
    bool suspend_first = false; // body_c suspends once before it walks
    winwalk::Walks walks;
    bool walked = false;
};

#define RECORD_RESUMER(r, local_, lo_, hi_)                                   \
    do {                                                                       \
        uintptr_t rbp_;                                                        \
        __asm__ volatile("movq %%rbp, %0" : "=r"(rbp_));                       \
        (r).local = reinterpret_cast<uintptr_t>(local_);                       \
        (r).rbp = rbp_;                                                        \
        (r).frame = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));   \
        (r).lo = (lo_);                                                        \
        (r).hi = (hi_);                                                        \
    } while (0)

struct Bounds {
    uintptr_t lo, hi;
};
// The body's part of a coroutine's stack.
Bounds stack_of(corolink *co) {
    corolink_stack st{};
    EXPECT_EQ(corolink_get_stack(co, &st), 0);
    return {reinterpret_cast<uintptr_t>(st.limit),
            reinterpret_cast<uintptr_t>(st.base)};
}

struct corolink__hot *hot(corolink *co) {
    return reinterpret_cast<struct corolink__hot *>(co);
}

// The innermost body: remembers where each resumer left its return
// address (link_sp, link_ra, set by every resume) and takes the walks.
__attribute__((noinline)) void *body_c(corolink_yielder *y, void *, void *arg) {
    auto *s = static_cast<Scenario *>(arg);
    if (s->suspend_first)
        corolink_suspend(y, nullptr);
    for (Boundary &b : s->boundaries) {
        b.link_sp = reinterpret_cast<uintptr_t>(hot(s->co[b.co])->link_sp);
        b.link_ra = reinterpret_cast<uintptr_t>(hot(s->co[b.co])->link_ra);
    }
    winwalk::take_walks(&s->walks);
    s->walked = true; // after the call: take_walks is no tail call
    __asm__ volatile("" ::: "memory");
    return nullptr;
}

// body_a (I = 0) and body_b (I = 1): resume co[I + 1] from their own frame
// on co[I]'s stack (inline: the switch's `call` is in this function; out
// of line: a call to corolink_resume) and use the result afterwards.
template <int I>
__attribute__((noinline)) void *body_ab(corolink_yielder *, void *, void *arg) {
    auto *s = static_cast<Scenario *>(arg);
    volatile char local = 0;
    Bounds b = stack_of(s->co[I]);
    RECORD_RESUMER(s->resumer[I + 1], &local, b.lo, b.hi);
    int rc = corolink_resume(s->co[I + 1], nullptr, nullptr);
    return reinterpret_cast<void *>(static_cast<intptr_t>(rc + local));
}
constexpr corolink_fn body_a = body_ab<0>, body_b = body_ab<1>;

// Resumes co[0] from the thread's stack, recording resumer[0].
__attribute__((noinline)) int resume_top(Scenario *s) {
    volatile char local = 0;
    winwalk::Teb t = winwalk::teb_now();
    RECORD_RESUMER(s->resumer[0], &local, t.dealloc, t.stack_base);
    int rc = corolink_resume(s->co[0], nullptr, nullptr);
    return rc + local; // not a tail call
}

// A resumer that the walks must not name: it resumed a coroutine before
// its latest resumer did.
__attribute__((noinline)) int resume_first(corolink *co) {
    volatile char local = 0;
    int rc = corolink_resume(co, nullptr, nullptr);
    return rc + local;
}

// Creates co[i] running fns[i] for the scenario.
void create(Scenario *s, std::initializer_list<corolink_fn> fns) {
    int i = 0;
    for (corolink_fn fn : fns)
        ASSERT_EQ(corolink_create(&s->co[i++], fn, s, 0), 0);
}

void finish(Scenario *s, int n) {
    for (int i = 0; i < n; i++) {
        EXPECT_TRUE(corolink_done(s->co[i]));
        corolink_destroy(s->co[i]);
    }
    ASSERT_TRUE(s->walked);
    // The resumers keep their frame pointer in rbp (what the rbp checks
    // compare with).
    for (const Boundary &b : s->boundaries)
        ASSERT_EQ(s->resumer[b.seen].rbp, s->resumer[b.seen].frame);
}

// Nested: resume_top resumes A (body_a), which resumes B (body_b), which
// resumes C (body_c).
void run_nested(Scenario *s) {
    s->boundaries = {{2, "body_b", 2}, {1, "body_a", 1}, {0, "resume_top", 0}};
    create(s, {body_a, body_b, body_c});
    ASSERT_EQ(resume_top(s), COROLINK_RETURN);
    finish(s, 3);
}

// Latest resumer: D (co[1], body_c) is started by resume_first on the
// thread's stack and suspends; then resume_top resumes E (co[0], body_a),
// which resumes D again from E's stack. D's walk must lead into E, and
// through E's root into resume_top: resume_first is long gone.
void run_latest(Scenario *s) {
    s->boundaries = {{1, "body_a", 1}, {0, "resume_top", 0}};
    s->suspend_first = true;
    create(s, {body_a, body_c});
    ASSERT_EQ(resume_first(s->co[1]), COROLINK_YIELD);
    ASSERT_EQ(resume_top(s), COROLINK_RETURN);
    finish(s, 2);
}

uintptr_t trampoline_address() {
    corolink *co;
    EXPECT_EQ(corolink_create(&co, body_c, nullptr, 0), 0);
    uintptr_t pc = reinterpret_cast<uintptr_t>(hot(co)->pc); // not started
    corolink_destroy(co);
    return pc;
}

// Names the frames of a walk: the functions of this file, the trampoline
// and main().
struct Labeler {
    std::vector<std::pair<const char *, winwalk::Range>> known;
    Labeler() {
        auto add = [this](const char *name, const void *fn) {
            known.emplace_back(name, winwalk::range_of(fn));
        };
        add("take_walks", reinterpret_cast<void *>(winwalk::take_walks));
        add("body_c", reinterpret_cast<void *>(body_c));
        add("body_b", reinterpret_cast<void *>(body_b));
        add("body_a", reinterpret_cast<void *>(body_a));
        add("resume_top", reinterpret_cast<void *>(resume_top));
        add("resume_first", reinterpret_cast<void *>(resume_first));
        add("trampoline", reinterpret_cast<void *>(trampoline_address()));
        add("main", winwalk::main_address());
    }
    // The name of the function holding pc, or NULL.
    const char *operator()(uintptr_t pc) const {
        for (const auto &k : known)
            if (k.second.holds(pc))
                return k.first;
        return nullptr;
    }
};

std::string hex(uintptr_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string dump(const std::vector<Frame> &walk, const Labeler &label) {
    std::string out = "the walk:\n";
    for (size_t i = 0; i < walk.size(); i++) {
        const char *name = label(walk[i].pc);
        out += "  #" + std::to_string(i) + " pc " + hex(walk[i].pc) + " " +
               (name ? name : "?") + " sp " + hex(walk[i].sp) + " rbp " + hex(walk[i].fp) +
               "\n";
    }
    return out;
}

// Everything wrong with a walk taken in body_c (empty: nothing). For
// walks that report them (has_sp, has_fp), the step out of every root
// frame must also restore the resumer's rsp and rbp.
std::vector<std::string> check(const Scenario &s, const std::vector<Frame> &walk,
                               bool has_sp, bool has_fp) {
    std::vector<std::string> problems;
    Labeler label;
    std::vector<std::string> expected = {"take_walks", "body_c"};
    for (const Boundary &b : s.boundaries) {
        expected.push_back("trampoline");
        expected.push_back(b.resumer);
    }
    expected.push_back("main");
    std::vector<size_t> at; // index in the walk of each named frame
    std::string seen, want;
    bool prefix = true; // the named frames start as expected
    for (size_t i = 0; i < walk.size(); i++) {
        const char *name = label(walk[i].pc);
        if (name == nullptr)
            continue;
        if (at.size() < expected.size() && expected[at.size()] != name)
            prefix = false;
        at.push_back(i);
        seen += std::string(seen.empty() ? "" : " ") + name;
    }
    for (const std::string &e : expected)
        want += (want.empty() ? "" : " ") + e;
    if (!prefix || at.size() != expected.size()) {
        problems.push_back("frames: want [" + want + "], got [" + seen + "]");
        return problems;
    }
    for (size_t k = 0; k < s.boundaries.size(); k++) {
        const Boundary &b = s.boundaries[k];
        const Frame &root = walk[at[2 + 2 * k]];
        const Frame &next = walk[at[2 + 2 * k] + 1];
        const Frame &res = walk[at[3 + 2 * k]];
        const Resumer &r = s.resumer[b.seen];
        std::string who = "the root of co[" + std::to_string(b.co) + "]";
        // The step out of the root frame returns to where the latest
        // resume was called from: corolink_resume() out of line, the
        // resumer's own code inline.
        if (next.pc != b.link_ra)
            problems.push_back(who + ": the next frame has pc " + hex(next.pc) +
                               ", want link_ra = " + hex(b.link_ra));
        if (!has_sp)
            continue;
        // The body was called with rsp = co - 32 (its shadow space) ...
        uintptr_t co = reinterpret_cast<uintptr_t>(s.co[b.co]);
        if (root.sp != co - 32)
            problems.push_back(who + ": rsp " + hex(root.sp) + ", want co - 32 = " +
                               hex(co - 32));
        // ... and the step pops the resumer's return address from the
        // resumer's stack: rsp = link_sp + 8.
        if (next.sp != b.link_sp + 8)
            problems.push_back(who + ": the next frame has rsp " + hex(next.sp) +
                               ", want link_sp + 8 = " + hex(b.link_sp + 8));
        // The resumer's frame: on its own stack, just below its local.
        if (res.sp < r.lo || res.sp >= r.hi || res.sp > r.local ||
            r.local - res.sp > 64 * 1024)
            problems.push_back(std::string(b.resumer) + ": rsp " + hex(res.sp) +
                               " is not just below its local " + hex(r.local) +
                               " on its stack [" + hex(r.lo) + ", " + hex(r.hi) + ")");
        if (has_fp && res.fp != r.rbp)
            problems.push_back(std::string(b.resumer) + ": rbp " + hex(res.fp) + ", want " +
                               hex(r.rbp));
    }
    return problems;
}

std::string join(const std::vector<std::string> &v) {
    std::string out;
    for (const std::string &p : v)
        out += p + "\n";
    return out;
}

// The prefix a walk gets right whatever the trampoline says: from the
// walker into body_c (the negative control checks that its walks did
// start, so that a failure there means the boundary).
[[maybe_unused]] bool reaches_body_c(const std::vector<Frame> &walk) {
    Labeler label;
    std::vector<std::string> got;
    for (const Frame &f : walk)
        if (const char *name = label(f.pc))
            got.push_back(name);
    return got.size() >= 2 && got[0] == "take_walks" && got[1] == "body_c";
}

// The trampoline's UNWIND_INFO header (Version:3 Flags:5, SizeOfProlog,
// CountOfCodes, FrameRegister:4 FrameOffset:4).
struct UnwindHeader {
    int codes, frame_register;
};
UnwindHeader trampoline_unwind_info() {
    DWORD64 image = 0;
    PRUNTIME_FUNCTION fe = RtlLookupFunctionEntry(trampoline_address(), &image, nullptr);
    EXPECT_NE(fe, nullptr);
    if (fe == nullptr)
        return {-1, -1};
    const auto *info = reinterpret_cast<const uint8_t *>(image + fe->UnwindData);
    return {info[2], info[3] & 0x0f};
}

// Runs a scenario and checks one of its walks: it must cross every
// boundary right; in the negative control it must start right (into
// body_c) and then fail to.
void expect_linked(void (*run)(Scenario *), std::vector<Frame> winwalk::Walks::*walk,
                   bool has_sp, bool has_fp) {
    Scenario s;
    run(&s);
    if (::testing::Test::HasFatalFailure())
        return;
    const std::vector<Frame> &w = s.walks.*walk;
    std::vector<std::string> problems = check(s, w, has_sp, has_fp);
#if !COROLINK_TEST_NO_LINK_RECORDS
    EXPECT_TRUE(problems.empty()) << join(problems) << dump(w, Labeler());
#else
    EXPECT_TRUE(reaches_body_c(w)) << join(problems) << dump(w, Labeler());
    EXPECT_FALSE(problems.empty())
        << "without the trampoline's unwind codes the walk still crossed into the "
           "resumers: the check proves nothing\n"
        << dump(w, Labeler());
#endif
}

}  // namespace

#if !COROLINK_TEST_NO_LINK_RECORDS
// The library's trampoline has the unwind codes (frame register rbp;
// SET_FPREG and two SAVE_NONVOL, five slots), the ones the negative
// control removes.
TEST(LinkedBacktrace, TrampolineHasLinkRecords) {
    UnwindHeader h = trampoline_unwind_info();
    EXPECT_EQ(h.frame_register, 5); // rbp
    EXPECT_EQ(h.codes, 5);
}
#else
// The negative control runs against a trampoline without unwind codes
// (COROLINK_NO_LINK_RECORDS=1): no frame register, no codes.
TEST(LinkedBacktrace, TrampolineHasNoLinkRecords) {
    UnwindHeader h = trampoline_unwind_info();
    EXPECT_EQ(h.frame_register, 0);
    EXPECT_EQ(h.codes, 0);
}
#endif

// The three walks of a scenario, as the tests of one suite:
//  - RtlCaptureStackBackTrace: ntdll's own walker (pcs only), which stops
//    at the first frame outside the TEB's bounds;
//  - RtlVirtualUnwindLoop: the loop every SEH unwinder runs
//    (RtlLookupFunctionEntry, then RtlVirtualUnwind), with the restored
//    rsp and rbp checked;
//  - UnwindBacktrace: libgcc's _Unwind_Backtrace (the same loop inside
//    libgcc: what C++ exception handling and backtrace libraries use on
//    mingw), whose CFA is the restored rsp.
#define WALK_TESTS(suite, run)                                                 \
    TEST(suite, RtlCaptureStackBackTrace) {                                    \
        expect_linked(run, &winwalk::Walks::rtl_capture, false, false);        \
    }                                                                          \
    TEST(suite, RtlVirtualUnwindLoop) {                                        \
        expect_linked(run, &winwalk::Walks::virtual_unwind, true, true);       \
    }                                                                          \
    TEST(suite, UnwindBacktrace) {                                             \
        expect_linked(run, &winwalk::Walks::unwind_backtrace, true, false);    \
    }

// From the innermost of three nested coroutines (see run_nested).
WALK_TESTS(NestedBacktrace, run_nested)

// From a coroutine resumed a second time, by another resumer on another
// stack than the one that started it (see run_latest).
WALK_TESTS(LatestResumerBacktrace, run_latest)
