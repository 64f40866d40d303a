// Linked backtraces on Windows x64: the SEH unwind codes of
// corolink__trampoline (unwind-info/x86_64_win64_pe.S) make
// RtlVirtualUnwind step from a coroutine's root frame into the frame that
// last resumed it, on the resumer's own stack. Three unwinders that all
// rest on RtlLookupFunctionEntry + RtlVirtualUnwind must therefore walk
// from the innermost of three nested coroutines through every body and
// every resumer down to main(), with the stack pointer (and rbp) of each
// frame restored as it really was.
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

// Three nested coroutines: the test's resumer resumes A, A's body resumes
// B, B's body resumes C, and C's body takes the walks.
struct Scenario {
    corolink *co[3] = {};      // A, B, C
    uintptr_t trampoline = 0;  // co->pc of a created coroutine
    Resumer resumer[3];        // of A (the thread), of B (body A), of C (body B)
    uintptr_t link_sp[3] = {}; // co->link_sp of A, B, C while C runs
    uintptr_t link_ra[3] = {}; // co->link_ra: the resumer's return address
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

// The innermost body: remembers where each coroutine's resumer left its
// return address (link_sp, set by every resume) and takes the walks.
__attribute__((noinline)) void *body_c(corolink_yielder *, void *, void *arg) {
    auto *s = static_cast<Scenario *>(arg);
    for (int i = 0; i < 3; i++) {
        s->link_sp[i] = reinterpret_cast<uintptr_t>(hot(s->co[i])->link_sp);
        s->link_ra[i] = reinterpret_cast<uintptr_t>(hot(s->co[i])->link_ra);
    }
    winwalk::take_walks(&s->walks);
    s->walked = true; // after the call: take_walks is no tail call
    __asm__ volatile("" ::: "memory");
    return nullptr;
}

// The bodies of A (I = 0) and B (I = 1): each resumes the next coroutine
// from its own frame (inline: the switch's `call` is in this function;
// out of line: a call to corolink_resume) and uses the result afterwards.
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

// The resumer of A, on the thread's stack.
__attribute__((noinline)) int resume_a(Scenario *s) {
    volatile char local = 0;
    winwalk::Teb t = winwalk::teb_now();
    RECORD_RESUMER(s->resumer[0], &local, t.dealloc, t.stack_base);
    int rc = corolink_resume(s->co[0], nullptr, nullptr);
    return rc + local; // not a tail call
}

void run(Scenario *s) {
    corolink_fn fns[3] = {body_a, body_b, body_c};
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(corolink_create(&s->co[i], fns[i], s, 0), 0);
    s->trampoline = reinterpret_cast<uintptr_t>(hot(s->co[0])->pc);
    ASSERT_EQ(resume_a(s), COROLINK_RETURN);
    for (int i = 0; i < 3; i++) {
        EXPECT_TRUE(corolink_done(s->co[i]));
        corolink_destroy(s->co[i]);
    }
    ASSERT_TRUE(s->walked);
    // The resumers keep their frame pointer in rbp (what the rbp checks
    // below compare with).
    for (const Resumer &r : s->resumer)
        ASSERT_EQ(r.rbp, r.frame);
}

// The functions the walks must pass through, in order.
enum Label { kOther, kWalker, kBodyC, kTrampoline, kBodyB, kBodyA, kResumer, kMain };
const char *const kLabelNames[] = {"?",      "take_walks", "body_c",   "trampoline",
                                   "body_b", "body_a",     "resume_a", "main"};

struct Labeler {
    winwalk::Range ranges[8];
    explicit Labeler(const Scenario &s) {
        ranges[kWalker] = winwalk::range_of(reinterpret_cast<void *>(winwalk::take_walks));
        ranges[kBodyC] = winwalk::range_of(reinterpret_cast<void *>(body_c));
        ranges[kTrampoline] = winwalk::range_of(reinterpret_cast<void *>(s.trampoline));
        ranges[kBodyB] = winwalk::range_of(reinterpret_cast<void *>(body_b));
        ranges[kBodyA] = winwalk::range_of(reinterpret_cast<void *>(body_a));
        ranges[kResumer] = winwalk::range_of(reinterpret_cast<void *>(resume_a));
        ranges[kMain] = winwalk::range_of(winwalk::main_address());
    }
    Label operator()(uintptr_t pc) const {
        for (int l = kWalker; l <= kMain; l++)
            if (ranges[l].holds(pc))
                return static_cast<Label>(l);
        return kOther;
    }
};

std::string hex(uintptr_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string dump(const std::vector<Frame> &walk, const Labeler &label) {
    std::string out = "the walk:\n";
    for (size_t i = 0; i < walk.size(); i++)
        out += "  #" + std::to_string(i) + " pc " + hex(walk[i].pc) + " " +
               kLabelNames[label(walk[i].pc)] + " sp " + hex(walk[i].sp) +
               " rbp " + hex(walk[i].fp) + "\n";
    return out;
}

// How far a walk must get.
enum class Reach {
    // From body_c through each coroutine's root frame into that
    // coroutine's resumer, in order, down to main().
    kMain,
    // RtlCaptureStackBackTrace: wine's (like Windows' RtlWalkFrameChain)
    // stops at the first frame whose establisher frame lies outside the
    // TEB's [StackLimit, StackBase], which name the running coroutine's
    // stack only. It must still step out of C's root frame to C's
    // resumer's return address (the frame it reports last); if it goes
    // on, it must get everything right, as kMain.
    kFirstResumer,
};

// Everything wrong with a walk taken in body_c (empty: nothing). For
// walks that report them (has_sp, has_fp), the step out of every root
// frame must also restore the resumer's rsp and rbp.
std::vector<std::string> check(const Scenario &s, const std::vector<Frame> &walk,
                               bool has_sp, bool has_fp, Reach reach = Reach::kMain) {
    std::vector<std::string> problems;
    Labeler label(s);
    static const Label expected[] = {kWalker, kBodyC, kTrampoline, kBodyB, kTrampoline,
                                     kBodyA,  kTrampoline, kResumer, kMain};
    constexpr size_t kExpected = sizeof expected / sizeof expected[0];
    std::vector<size_t> at; // index in the walk of each labelled frame
    std::string seen, want;
    for (size_t i = 0; i < walk.size(); i++) {
        Label l = label(walk[i].pc);
        if (l == kOther)
            continue;
        at.push_back(i);
        seen += std::string(seen.empty() ? "" : " ") + kLabelNames[l];
    }
    bool prefix = true; // the labelled frames start as expected
    for (size_t k = 0; k < kExpected; k++) {
        want += std::string(k ? " " : "") + kLabelNames[expected[k]];
        if (k < at.size() && label(walk[at[k]].pc) != expected[k])
            prefix = false;
    }
    if (reach == Reach::kFirstResumer && prefix && at.size() >= 3 &&
        walk.size() == at[2] + 2 && walk.back().pc == s.link_ra[2])
        return problems; // stopped right after C's resumer's frame
    if (!prefix || at.size() != kExpected) {
        problems.push_back("frames: want [" + want + "], got [" + seen + "]");
        return problems;
    }
    // Trampolines: C's, B's, A's; each leads into resumer[2], [1], [0].
    for (int k = 0; k < 3; k++) {
        int coi = 2 - k;
        const Frame &root = walk[at[2 + 2 * k]];
        const Frame &next = walk[at[2 + 2 * k] + 1];
        const Frame &res = walk[at[3 + 2 * k]];
        const Resumer &r = s.resumer[coi];
        std::string who = "coroutine " + std::string(1, static_cast<char>('A' + coi));
        // The step out of the root frame returns to where the last resume
        // was called from: corolink_resume() out of line, the resumer's
        // own code inline.
        if (next.pc != s.link_ra[coi])
            problems.push_back(who + ": frame after the root has pc " + hex(next.pc) +
                               ", want link_ra = " + hex(s.link_ra[coi]));
        if (!has_sp)
            continue;
        // The body was called with rsp = co - 32 (its shadow space).
        uintptr_t co = reinterpret_cast<uintptr_t>(s.co[coi]);
        if (root.sp != co - 32)
            problems.push_back(who + ": root frame rsp " + hex(root.sp) + ", want co - 32 = " +
                               hex(co - 32));
        // ... and pops the resumer's return address from the resumer's
        // stack: rsp = link_sp + 8.
        if (next.sp != s.link_sp[coi] + 8)
            problems.push_back(who + ": frame after the root has rsp " + hex(next.sp) +
                               ", want link_sp + 8 = " + hex(s.link_sp[coi] + 8));
        // The resumer's frame: on its own stack, just below its local.
        if (res.sp < r.lo || res.sp >= r.hi || res.sp > r.local ||
            r.local - res.sp > 64 * 1024)
            problems.push_back(who + "'s resumer: rsp " + hex(res.sp) +
                               " is not just below its local " + hex(r.local) +
                               " on its stack [" + hex(r.lo) + ", " + hex(r.hi) + ")");
        if (has_fp && res.fp != r.rbp)
            problems.push_back(who + "'s resumer: rbp " + hex(res.fp) + ", want " +
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
[[maybe_unused]] bool reaches_body_c(const Scenario &s, const std::vector<Frame> &walk) {
    Labeler label(s);
    std::vector<Label> got;
    for (const Frame &f : walk)
        if (label(f.pc) != kOther)
            got.push_back(label(f.pc));
    return got.size() >= 2 && got[0] == kWalker && got[1] == kBodyC;
}

// The trampoline's UNWIND_INFO header (Version:3 Flags:5, SizeOfProlog,
// CountOfCodes, FrameRegister:4 FrameOffset:4).
struct UnwindHeader {
    int codes, frame_register;
};
UnwindHeader trampoline_unwind_info(uintptr_t trampoline) {
    DWORD64 image = 0;
    PRUNTIME_FUNCTION fe = RtlLookupFunctionEntry(trampoline, &image, nullptr);
    EXPECT_NE(fe, nullptr);
    if (fe == nullptr)
        return {-1, -1};
    const auto *info = reinterpret_cast<const uint8_t *>(image + fe->UnwindData);
    return {info[2], info[3] & 0x0f};
}

uintptr_t trampoline_address() {
    corolink *co;
    EXPECT_EQ(corolink_create(&co, body_c, nullptr, 0), 0);
    uintptr_t pc = reinterpret_cast<uintptr_t>(hot(co)->pc);
    corolink_destroy(co);
    return pc;
}

// Runs the scenario and checks one of its walks: it must cross every
// boundary right; in the negative control it must start right (into
// body_c) and then fail to.
void expect_linked(std::vector<Frame> winwalk::Walks::*walk, bool has_sp, bool has_fp,
                   Reach reach = Reach::kMain) {
    Scenario s;
    run(&s);
    const std::vector<Frame> &w = s.walks.*walk;
    std::vector<std::string> problems = check(s, w, has_sp, has_fp, reach);
#if !COROLINK_TEST_NO_LINK_RECORDS
    EXPECT_TRUE(problems.empty()) << join(problems) << dump(w, Labeler(s));
#else
    EXPECT_TRUE(reaches_body_c(s, w)) << join(problems) << dump(w, Labeler(s));
    EXPECT_FALSE(problems.empty())
        << "without the trampoline's unwind codes the walk still crossed into the "
           "resumers: the check proves nothing\n"
        << dump(w, Labeler(s));
#endif
}

}  // namespace

#if !COROLINK_TEST_NO_LINK_RECORDS
// The library's trampoline has the unwind codes (frame register rbp;
// SET_FPREG and two SAVE_NONVOL, five slots), the ones the negative
// control removes.
TEST(LinkedBacktrace, TrampolineHasLinkRecords) {
    UnwindHeader h = trampoline_unwind_info(trampoline_address());
    EXPECT_EQ(h.frame_register, 5); // rbp
    EXPECT_EQ(h.codes, 5);
}
#else
// The negative control runs against a trampoline without unwind codes
// (COROLINK_NO_LINK_RECORDS=1): no frame register, no codes.
TEST(LinkedBacktrace, TrampolineHasNoLinkRecords) {
    UnwindHeader h = trampoline_unwind_info(trampoline_address());
    EXPECT_EQ(h.frame_register, 0);
    EXPECT_EQ(h.codes, 0);
}
#endif

// ntdll's own walker (pcs only), which stops at the first frame outside
// the running coroutine's stack (see Reach::kFirstResumer).
TEST(LinkedBacktrace, RtlCaptureStackBackTrace) {
    expect_linked(&winwalk::Walks::rtl_capture, false, false, Reach::kFirstResumer);
}

// The loop every SEH unwinder runs: RtlLookupFunctionEntry, then
// RtlVirtualUnwind; also checks the restored rsp and rbp.
TEST(LinkedBacktrace, RtlVirtualUnwindLoop) {
    expect_linked(&winwalk::Walks::virtual_unwind, true, true);
}

// libgcc's _Unwind_Backtrace (the same loop inside libgcc: what C++
// exception handling and backtrace libraries use on mingw); its CFA is
// the restored rsp.
TEST(LinkedBacktrace, UnwindBacktrace) {
    expect_linked(&winwalk::Walks::unwind_backtrace, true, false);
}
