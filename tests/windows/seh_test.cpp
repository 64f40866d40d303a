// An SEH exception (RaiseException) leaving a body. Exception dispatch
// cannot go from the coroutine's stack into the resumer's (it rejects
// frames outside the TEB's limits, which name the coroutine's stack), so
// the trampoline's handler catches whatever reaches the coroutine's root,
// finishes the coroutine, and the resumer's corolink_resume() raises it
// again, with its code, flags and parameters, on the resumer's stack
// (src/unwind.c). A vectored handler, which sees every raise first, shows
// both raises; unhandled, the second one ends the process with the
// exception's code, as it would without coroutines.
#include <corolink.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "walk.h"

namespace {

constexpr DWORD kCode = 0xE0C0FFEEu;

using winwalk::Frame;

bool walk_holds(const std::vector<Frame> &walk, const void *fn) {
    winwalk::Range r = winwalk::range_of(fn);
    for (const Frame &f : walk)
        if (r.holds(f.pc))
            return true;
    return false;
}

// ---- the death test ----------------------------------------------------------

__attribute__((noinline)) void *raise_body(corolink_yielder *, void *, void *) {
    RaiseException(kCode, EXCEPTION_NONCONTINUABLE, 0, nullptr);
    return nullptr;
}

corolink_stack g_stack; // the raising coroutine's

// Says on which stack each raise of kCode happens, and lets it go on.
LONG CALLBACK print_sighting(EXCEPTION_POINTERS *ep) {
    if (ep->ExceptionRecord->ExceptionCode == kCode) {
        uintptr_t rsp = ep->ContextRecord->Rsp;
        bool on_co = rsp >= reinterpret_cast<uintptr_t>(g_stack.limit) &&
                     rsp < reinterpret_cast<uintptr_t>(g_stack.base);
        fprintf(stderr, "raised on the %s stack\n", on_co ? "coroutine's" : "resumer's");
    }
    return EXCEPTION_CONTINUE_SEARCH;
}

LONG CALLBACK end_process(EXCEPTION_POINTERS *) { return EXCEPTION_EXECUTE_HANDLER; }

}  // namespace

// Nothing handles it: the process (the resumer's thread) ends with the
// exception's code. Raised first in the body on the coroutine's stack,
// then again on the resumer's: without the second raise the first would
// end the process just the same, unhandled at the coroutine's root.
TEST(SehDeathTest, UnhandledExceptionEndsTheResumer) {
    EXPECT_EXIT(
        {
            // No crash dialog, no debugger (wine starts winedbg --auto,
            // whatever the error mode): the top-level filter ends the
            // process with the exception's code at once.
            SetErrorMode(SEM_NOGPFAULTERRORBOX);
            SetUnhandledExceptionFilter(end_process);
            corolink *co;
            if (corolink_create(&co, raise_body, nullptr, 0) != 0)
                _exit(1);
            corolink_get_stack(co, &g_stack);
            AddVectoredExceptionHandler(1, print_sighting);
            corolink_resume(co, nullptr, nullptr);
            fprintf(stderr, "corolink_resume() returned\n");
            _exit(2);
        },
        testing::ExitedWithCode(static_cast<int>(kCode)),
        "raised on the coroutine's stack\\sraised on the resumer's stack\\s$");
}

namespace {

// ---- a vectored handler that sees both raises --------------------------------

constexpr ULONG_PTR kParams[2] = {0x1234, 0x5678};

__attribute__((noinline)) void *raise_params_body(corolink_yielder *, void *, void *) {
    RaiseException(kCode, EXCEPTION_NONCONTINUABLE, 2, kParams);
    return nullptr;
}

// What the handler saw of each raise of kCode.
struct Sighting {
    DWORD flags = 0, params = 0;
    ULONG_PTR info[2] = {};
    uintptr_t rsp = 0;
    std::vector<Frame> walk; // from the raise's context
};
std::vector<Sighting> g_sightings;
CONTEXT g_recovery;              // where the handler sends the second raise
volatile bool g_recovered;

LONG CALLBACK watch(EXCEPTION_POINTERS *ep) {
    const EXCEPTION_RECORD *rec = ep->ExceptionRecord;
    if (rec->ExceptionCode != kCode)
        return EXCEPTION_CONTINUE_SEARCH;
    Sighting s;
    s.flags = rec->ExceptionFlags;
    s.params = rec->NumberParameters;
    for (DWORD i = 0; i < rec->NumberParameters && i < 2; i++)
        s.info[i] = rec->ExceptionInformation[i];
    s.rsp = ep->ContextRecord->Rsp;
    s.walk = winwalk::walk_virtual_unwind_from(*ep->ContextRecord);
    g_sightings.push_back(s);
    if (g_sightings.size() < 2)
        return EXCEPTION_CONTINUE_SEARCH; // the first raise: the library's
    // The raise on the resumer's stack: nobody would handle it; continue
    // at the recovery point instead (vectored handlers may continue a
    // noncontinuable exception).
    g_recovered = true;
    *ep->ContextRecord = g_recovery;
    return EXCEPTION_CONTINUE_EXECUTION;
}

// The resumer: a local marks its frame on the thread's stack.
uintptr_t g_resumer_local;
__attribute__((noinline)) int resume_raising(corolink *co) {
    volatile char local = 0;
    g_resumer_local = reinterpret_cast<uintptr_t>(&local);
    int rc = corolink_resume(co, nullptr, nullptr);
    __asm__ volatile("" ::: "memory");
    return rc + local; // no tail call: the frame stays while the raise runs
}

// The recovery point: the handler restores the context captured here,
// where nothing but g_recovered (a global) is read afterwards.
__attribute__((noinline)) bool resume_until_recovered(corolink *co) {
    g_recovered = false;
    RtlCaptureContext(&g_recovery);
    if (g_recovered)
        return true;
    resume_raising(co);
    return false; // the resume returned: no second raise
}

}  // namespace

// The handler sees the exception raised twice with the same code, flags
// and parameters: first in the body, on the coroutine's stack; then, after
// the coroutine finished, from the resumer's corolink_resume(), on the
// resumer's stack, with the TEB naming that stack again.
TEST(Seh, VectoredHandlerSeesBothRaises) {
    winwalk::Teb before = winwalk::teb_now();
    corolink *co;
    ASSERT_EQ(corolink_create(&co, raise_params_body, nullptr, 0), 0);
    corolink_stack st{};
    ASSERT_EQ(corolink_get_stack(co, &st), 0);
    g_sightings.clear();
    void *handler = AddVectoredExceptionHandler(1, watch);
    ASSERT_NE(handler, nullptr);
    bool recovered = resume_until_recovered(co);
    RemoveVectoredExceptionHandler(handler);
    ASSERT_TRUE(recovered) << "no second raise reached the handler";
    EXPECT_EQ(winwalk::teb_now(), before);
    EXPECT_TRUE(corolink_done(co));
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_EDONE);
    corolink_destroy(co);

    ASSERT_EQ(g_sightings.size(), 2u);
    for (const Sighting &s : g_sightings) {
        EXPECT_EQ(s.flags & EXCEPTION_NONCONTINUABLE, DWORD{EXCEPTION_NONCONTINUABLE});
        EXPECT_EQ(s.params, 2u);
        EXPECT_EQ(s.info[0], kParams[0]);
        EXPECT_EQ(s.info[1], kParams[1]);
    }
    // First: raised in the body (the walk from the raise finds it), on the
    // coroutine's stack.
    const Sighting &first = g_sightings[0], &second = g_sightings[1];
    EXPECT_GE(first.rsp, reinterpret_cast<uintptr_t>(st.limit));
    EXPECT_LT(first.rsp, reinterpret_cast<uintptr_t>(st.base));
    EXPECT_TRUE(walk_holds(first.walk, reinterpret_cast<void *>(raise_params_body)));
    // Second: raised on the thread's stack below the resumer's frame, from
    // a call the resumer made (the body's frames are gone).
    EXPECT_GE(second.rsp, before.stack_limit);
    EXPECT_LT(second.rsp, g_resumer_local);
    EXPECT_TRUE(walk_holds(second.walk, reinterpret_cast<void *>(resume_raising)));
    EXPECT_FALSE(walk_holds(second.walk, reinterpret_cast<void *>(raise_params_body)));
}
