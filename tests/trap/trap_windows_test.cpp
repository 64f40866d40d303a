// Traps on Windows: a hardware fault (access violation, stack overflow,
// PAGE_GUARD page) raised by a coroutine's body finishes the coroutine and
// makes its resume return COROLINK_TRAP; faults anywhere else behave as
// without corolink. Built twice: with the inline switch and with
// COROLINK_NO_INLINE. Runs under wine in the cross build.
#include <corolink.h>

#include <gtest/gtest.h>

#include "../common/death_style.h"

#include <windows.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

#include "trap_bodies.h"
uintptr_t as_addr(const void *p) { return reinterpret_cast<uintptr_t>(p); }

const int kAccessViolation = static_cast<int>(EXCEPTION_ACCESS_VIOLATION);
const int kStackOverflow = static_cast<int>(EXCEPTION_STACK_OVERFLOW);
const int kGuardPage = static_cast<int>(EXCEPTION_GUARD_PAGE);

size_t page_size() {
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwPageSize;
}

// ---- the TEB's view of the running stack ---------------------------------

struct TebStack {
    void *base, *limit, *dealloc;
    uint32_t guarantee;
    void *exception_list;
    bool operator==(const TebStack &o) const {
        return base == o.base && limit == o.limit && dealloc == o.dealloc &&
               guarantee == o.guarantee && exception_list == o.exception_list;
    }
};

TebStack teb_stack() {
    char *t;
    __asm__ volatile("movq %%gs:0x30, %0" : "=r"(t));
    TebStack s;
    std::memcpy(&s.exception_list, t + 0x00, 8);
    std::memcpy(&s.base, t + 0x08, 8);
    std::memcpy(&s.limit, t + 0x10, 8);
    std::memcpy(&s.dealloc, t + 0x1478, 8);
    std::memcpy(&s.guarantee, t + 0x1748, 4);
    return s;
}

// The TEB names the stack of the coroutine whose block is co: its
// StackBase is the end of the region whose top holds the block.
bool teb_names(corolink *co) {
    auto base = as_addr(teb_stack().base), c = as_addr(co);
    return base > c && base - c <= COROLINK_CONTROL_SIZE + 64;
}

// ---- bodies --------------------------------------------------------------

// One frame larger than the stack: __chkstk (___chkstk_ms) probes it page
// by page from the top, and its probe reaches the PAGE_GUARD page.
__attribute__((noinline)) int big_frame(int n) {
    volatile char frame[512 * 1024];
    frame[0] = static_cast<char>(n);
    frame[sizeof frame - 1] = static_cast<char>(n);
    return frame[0] + frame[sizeof frame - 1];
}

void *big_frame_body(corolink_yielder *, void *, void *) {
    big_frame(1);
    return as_ptr(1); // never reached
}

// Reads the byte at arg (a reserved or guarded page).
void *read_body(corolink_yielder *, void *, void *arg) {
    return as_ptr(*static_cast<volatile char *>(arg));
}

// Suspends once, then returns.
void *yield_once_body(corolink_yielder *y, void *input, void *) {
    void *in = corolink_suspend(y, input);
    return in;
}

// [limit - guard, limit + room + guard page): where an overflow of a stack
// of the library's layout lands (the hard guard page, the room the handlers
// run on, the PAGE_GUARD page).
bool in_low_end(const corolink_stack &st, const void *addr) {
    auto a = as_addr(addr), lim = as_addr(st.limit);
    return a >= lim - st.guard && a < lim + 3 * page_size();
}

// Checks what a trapped overflow leaves behind.
void expect_overflow_trapped(corolink *co, int rc, void *out) {
    EXPECT_EQ(rc, COROLINK_TRAP);
    EXPECT_EQ(out, nullptr);
    EXPECT_TRUE(corolink_done(co));
    corolink_trap t{};
    ASSERT_EQ(corolink_trap_info(co, &t), 0);
    EXPECT_EQ(t.signo, kStackOverflow);
    EXPECT_TRUE(t.stack_overflow);
    corolink_stack st{};
    ASSERT_EQ(corolink_get_stack(co, &st), 0);
    EXPECT_TRUE(in_low_end(st, t.addr))
        << t.addr << " not in the low end of [" << st.limit << ", "
        << st.base << ")";
    void *again = as_ptr(5);
    EXPECT_EQ(corolink_resume(co, nullptr, &again), COROLINK_EDONE);
    EXPECT_EQ(again, nullptr);
}

// The page the library's layout arms with PAGE_GUARD (above the room).
bool guard_page_armed(const corolink_stack &st) {
    MEMORY_BASIC_INFORMATION mbi;
    const char *g = static_cast<const char *>(st.limit) + 2 * page_size();
    if (VirtualQuery(g, &mbi, sizeof mbi) != sizeof mbi)
        return false;
    return mbi.State == MEM_COMMIT && (mbi.Protect & PAGE_GUARD);
}

class Trap : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        ASSERT_EQ(corolink_trap_install(), 0);
        // The message is checked by its own test; the others stay quiet.
        corolink_trap_diagnostics(false);
    }
    static void TearDownTestSuite() { corolink_trap_diagnostics(true); }
};

// ---- 1. access violations ------------------------------------------------

TEST_F(Trap, NullWriteTraps) {
    TebStack before = teb_stack();
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, null_write_body, nullptr, 0), 0);
    void *out = as_ptr(5);
    EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_TRAP);
    EXPECT_EQ(out, nullptr);
    EXPECT_TRUE(corolink_done(co));
    EXPECT_EQ(corolink_state(co), COROLINK_STATE_FINISHED);
    // The TEB names this thread's stack again.
    EXPECT_TRUE(teb_stack() == before);
    corolink_trap t{};
    ASSERT_EQ(corolink_trap_info(co, &t), 0);
    EXPECT_EQ(t.signo, kAccessViolation);
    EXPECT_EQ(t.addr, nullptr);
    EXPECT_FALSE(t.stack_overflow);
    EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_EDONE);
    corolink_destroy(co);
}

// A body that reads `at` traps with `code` and that address.
static void expect_read_traps(char *at, int code) {
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, read_body, at, 0), 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_TRAP);
    corolink_trap t{};
    ASSERT_EQ(corolink_trap_info(co, &t), 0);
    EXPECT_EQ(t.signo, code);
    EXPECT_EQ(t.addr, at);
    EXPECT_FALSE(t.stack_overflow);
    corolink_destroy(co);
}

TEST_F(Trap, ReadOfReservedPageTrapsWithItsAddress) {
    char *m = static_cast<char *>(
        VirtualAlloc(nullptr, 65536, MEM_RESERVE, PAGE_NOACCESS));
    ASSERT_NE(m, nullptr);
    expect_read_traps(m + 123, kAccessViolation);
    VirtualFree(m, 0, MEM_RELEASE);
}

// A PAGE_GUARD page of the program's own (not a stack's): the first touch
// raises STATUS_GUARD_PAGE_VIOLATION, which traps too.
TEST_F(Trap, GuardPageOfOwnTraps) {
    char *m = static_cast<char *>(VirtualAlloc(
        nullptr, 65536, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE | PAGE_GUARD));
    ASSERT_NE(m, nullptr);
    expect_read_traps(m + 8, kGuardPage);
    VirtualFree(m, 0, MEM_RELEASE);
}

TEST_F(Trap, NotTrappedCoroutineHasNoTrapInfo) {
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, return_body, nullptr, 0), 0);
    corolink_trap t{};
    EXPECT_EQ(corolink_trap_info(co, &t), COROLINK_ENOTRAP);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    EXPECT_EQ(corolink_trap_info(co, &t), COROLINK_ENOTRAP);
    EXPECT_EQ(corolink_trap_info(nullptr, &t), COROLINK_EINVAL);
    EXPECT_EQ(corolink_trap_info(co, nullptr), COROLINK_EINVAL);
    corolink_destroy(co);
}

TEST_F(Trap, InstallIsIdempotentAndThreadInitIsANoOp) {
    EXPECT_EQ(corolink_trap_install(), 0);
    EXPECT_EQ(corolink_trap_thread_init(), 0);
    int rc[4] = {-100, -100, -100, -100};
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; i++)
        ts.emplace_back([&rc, i] { rc[i] = corolink_trap_install(); });
    for (auto &t : ts)
        t.join();
    for (int r : rc)
        EXPECT_EQ(r, 0);
}

// ---- 2. stack overflow, and the stack reused -----------------------------

// Three overflows on the pooled stack: each consumes the PAGE_GUARD page,
// which the trap arms again on its way into the resumer (otherwise the
// second overflow would run through the room into the hard guard, where no
// exception can be dispatched: the process would die). Then an ordinary
// body runs on the same stack.
TEST_F(Trap, OverflowTrapsThreeTimesOnPooledStack) {
    corolink_stack first{};
    for (int i = 0; i < 3; i++) {
        corolink *co = nullptr;
        ASSERT_EQ(corolink_create(&co, overflow_body, nullptr, 0), 0);
        corolink_stack st{};
        ASSERT_EQ(corolink_get_stack(co, &st), 0);
        if (i == 0)
            first = st;
        EXPECT_EQ(st.base, first.base); // the pool hands it back
        EXPECT_EQ(st.guard, page_size());
        EXPECT_TRUE(guard_page_armed(st)) << "before overflow " << i;
        void *out = as_ptr(5);
        int rc = corolink_resume(co, nullptr, &out);
        expect_overflow_trapped(co, rc, out);
        EXPECT_TRUE(guard_page_armed(st)) << "re-armed by the trap " << i;
        corolink_destroy(co);
    }
    expect_pooled_stack_runs_again(first.base);
}

// The same on a stack of corolink_stack_alloc() given to
// corolink_create_on() each time.
TEST_F(Trap, OverflowTrapsThreeTimesOnCallerStack) {
    corolink_stack st{};
    ASSERT_EQ(corolink_stack_alloc(&st, 64 * 1024), 0);
    for (int i = 0; i < 3; i++) {
        corolink *co = nullptr;
        ASSERT_EQ(corolink_create_on(&co, &st, overflow_body, nullptr), 0);
        EXPECT_TRUE(guard_page_armed(st)) << "before overflow " << i;
        void *out = as_ptr(5);
        int rc = corolink_resume(co, nullptr, &out);
        expect_overflow_trapped(co, rc, out);
        EXPECT_TRUE(guard_page_armed(st)) << "re-armed by the trap " << i;
        corolink_destroy(co);
    }
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create_on(&co, &st, return_body, nullptr), 0);
    void *out = nullptr;
    EXPECT_EQ(corolink_resume(co, as_ptr(78), &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 78);
    corolink_destroy(co);
    corolink_stack_free(&st);
}

// A caller's stack of another layout (here: plain committed memory, no
// guard page) is left as it was: no PAGE_GUARD page appears in it.
TEST_F(Trap, ReleaseLeavesForeignStackAlone) {
    const size_t size = 64 * 1024;
    char *m = static_cast<char *>(
        VirtualAlloc(nullptr, size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE));
    ASSERT_NE(m, nullptr);
    corolink_stack st{m + size, m, 0};
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create_on(&co, &st, null_write_body, nullptr), 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_TRAP);
    corolink_destroy(co);
    MEMORY_BASIC_INFORMATION mbi;
    ASSERT_EQ(VirtualQuery(m, &mbi, sizeof mbi), sizeof mbi);
    EXPECT_EQ(mbi.Protect, static_cast<DWORD>(PAGE_READWRITE));
    EXPECT_EQ(mbi.RegionSize, size);
    VirtualFree(m, 0, MEM_RELEASE);
}

// A frame larger than the whole stack, probed by __chkstk.
TEST_F(Trap, LargeFrameOverflowTraps) {
    for (int i = 0; i < 2; i++) {
        corolink *co = nullptr;
        ASSERT_EQ(corolink_create(&co, big_frame_body, nullptr, 64 * 1024), 0);
        void *out = as_ptr(5);
        int rc = corolink_resume(co, nullptr, &out);
        expect_overflow_trapped(co, rc, out);
        corolink_destroy(co);
    }
}

// The handler runs on what is left of the overflowed stack. The worst
// case: frames just under a page (not probed by __chkstk) that touch their
// lowest byte first, so that the stack pointer is as low as it can be when
// the system raises the overflow. The room [limit, limit + 2 pages) is
// painted before each run; afterwards the lowest byte that changed is the
// deepest the exception dispatch and the handler (with its message) went.
// 64 phases of the frames against the pages; each run also reuses the
// stack (re-armed each time).
__attribute__((noinline)) int page_frames(int n) {
    volatile char frame[3900]; // unprobed: under a page, less 64 bytes
    frame[0] = static_cast<char>(n); // the lowest byte, first
    if (!keep_going)
        return 0;
    int r = page_frames(n + 1);
    return r + frame[0] + frame[sizeof frame - 1];
}

void *phased_overflow_body(corolink_yielder *, void *, void *arg) {
    // Shift every frame below by arg bytes.
    volatile char *shift =
        static_cast<volatile char *>(__builtin_alloca(as_int(arg) + 16));
    shift[0] = 1;
    page_frames(0);
    return as_ptr(1); // never reached
}

// Runs the 64 phases on the stack that make(co, body, arg) creates
// coroutines on; returns the least untouched room.
template <class Make> size_t least_room_at_worst_case(Make make) {
    corolink_trap_diagnostics(true); // the message is part of the handler
    const size_t page = page_size();
    size_t least = SIZE_MAX;
    for (int phase = 0; phase < 64; phase++) {
        corolink *co = nullptr;
        make(&co, phased_overflow_body, as_ptr(phase * 64));
        if (co == nullptr) {
            ADD_FAILURE() << "no coroutine";
            break;
        }
        corolink_stack st{};
        EXPECT_EQ(corolink_get_stack(co, &st), 0);
        unsigned char *room = static_cast<unsigned char *>(st.limit);
        MEMORY_BASIC_INFORMATION mbi;
        EXPECT_EQ(VirtualQuery(room, &mbi, sizeof mbi), sizeof mbi);
        if (mbi.Protect != PAGE_READWRITE || mbi.RegionSize < 2 * page) {
            ADD_FAILURE() << "the room is not plain read-write memory";
            break;
        }
        std::memset(room, 0xa5, 2 * page);
        int rc = corolink_resume(co, nullptr, nullptr);
        EXPECT_EQ(rc, COROLINK_TRAP) << "phase " << phase;
        corolink_trap t{};
        EXPECT_EQ(corolink_trap_info(co, &t), 0);
        EXPECT_TRUE(t.stack_overflow);
        size_t used_from = 0;
        while (used_from < 2 * page && room[used_from] == 0xa5)
            used_from++;
        if (used_from < least)
            least = used_from;
        corolink_destroy(co);
    }
    corolink_trap_diagnostics(false);
    printf("least untouched room: %zu bytes\n", least);
    return least;
}

// The library's stacks carry a GuaranteedStackBytes of the room and the
// guard page: the overflow is raised at the first touch of the guard page,
// and the handlers have the whole room (4712 bytes were left untouched
// here under wine 8).
TEST_F(Trap, HandlerFitsInTheRoomAtWorstCase) {
    size_t least = least_room_at_worst_case(
        [](corolink **co, corolink_fn fn, void *arg) {
            ASSERT_EQ(corolink_create(co, fn, arg, 0), 0);
        });
    EXPECT_GE(least, 2048u);
}

// A stack of corolink_stack_alloc() given to corolink_create_on() has the
// library's layout (a one-page guard) and gets the same guarantee: the
// same room is left (4696 bytes here under wine 8; 616 before the
// guarantee was given to such stacks too).
TEST_F(Trap, HandlerFitsInTheRoomAtWorstCaseOnCallerStack) {
    corolink_stack st{};
    ASSERT_EQ(corolink_stack_alloc(&st, 64 * 1024), 0);
    size_t least = least_room_at_worst_case(
        [&st](corolink **co, corolink_fn fn, void *arg) {
            ASSERT_EQ(corolink_create_on(co, &st, fn, arg), 0);
        });
    EXPECT_GE(least, 2048u);
    corolink_stack_free(&st);
}

// ---- 3. the overflow message ---------------------------------------------

TEST(TrapDeathTest, OverflowMessage) {
    EXPECT_EXIT(
        {
            if (corolink_trap_install() != 0)
                _exit(3);
            corolink *co = nullptr;
            if (corolink_create(&co, overflow_body, nullptr, 0) != 0)
                _exit(4);
            corolink_set_name(co, "deep\"one");
            int rc = corolink_resume(co, nullptr, nullptr);
            _exit(rc == COROLINK_TRAP ? 0 : 5);
        },
        ::testing::ExitedWithCode(0),
        "^corolink: coroutine " COROLINK_RE_NUMBER
        " \"deep\\\\x22one\" overflowed its 262144-byte stack \\(fault at "
        "0x\\w+\\); its resume returns COROLINK_TRAP" COROLINK_DEATH_END);
}

TEST(TrapDeathTest, NoMessageWithDiagnosticsOff) {
    EXPECT_EXIT(
        {
            if (corolink_trap_install() != 0)
                _exit(3);
            corolink_trap_diagnostics(false);
            corolink *co = nullptr;
            if (corolink_create(&co, overflow_body, nullptr, 0) != 0)
                _exit(4);
            int rc = corolink_resume(co, nullptr, nullptr);
            _exit(rc == COROLINK_TRAP ? 0 : 5);
        },
        ::testing::ExitedWithCode(0), "^$");
}

// ---- 4. faults outside coroutines ----------------------------------------

// The end an unhandled exception gets, the process's exit code being the
// exception's, without wine's debugger (winedbg --auto prints a backtrace
// of every crash). The test below without it checks the real default.
LONG WINAPI exit_with_code(EXCEPTION_POINTERS *ep) {
    TerminateProcess(GetCurrentProcess(), ep->ExceptionRecord->ExceptionCode);
    return EXCEPTION_CONTINUE_SEARCH;
}

// No coroutine: the access violation goes on as without corolink (no
// handler of the program's: the process ends with the exception's code).
TEST(TrapDeathTest, FaultOnThreadStackIsNotHandled) {
    EXPECT_EXIT(
        {
            SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX);
            SetUnhandledExceptionFilter(exit_with_code); // no debugger
            if (corolink_trap_install() != 0)
                _exit(3);
            *null_ptr = 1;
            _exit(4);
        },
        ::testing::ExitedWithCode(kAccessViolation), "");
}

void *null_write_fn(void *) {
    *null_ptr = 7;
    return nullptr;
}

// fn of corolink_on_stack() called from the thread's stack is no coroutine
// either.
TEST(TrapDeathTest, FaultInOnStackOutsideCoroutinesIsNotHandled) {
    EXPECT_EXIT(
        {
            SetUnhandledExceptionFilter(exit_with_code);
            if (corolink_trap_install() != 0)
                _exit(3);
            corolink_stack st{};
            if (corolink_stack_alloc(&st, 64 * 1024) != 0)
                _exit(4);
            corolink_on_stack(&st, null_write_fn, nullptr, nullptr);
            _exit(5);
        },
        ::testing::ExitedWithCode(kAccessViolation), "");
}

// A software exception with a fault's code (RaiseException) is no fault:
// it leaves the body as any SEH exception does (caught at the root,
// raised again in the resumer), and here nothing handles it.
void *raise_av_body(corolink_yielder *, void *, void *) {
    ULONG_PTR info[2] = {1, 0x1234};
    RaiseException(EXCEPTION_ACCESS_VIOLATION, 0, 2, info);
    return nullptr;
}

TEST(TrapDeathTest, RaisedAccessViolationIsNotTrapped) {
    EXPECT_EXIT(
        {
            SetUnhandledExceptionFilter(exit_with_code);
            if (corolink_trap_install() != 0)
                _exit(3);
            corolink *co = nullptr;
            if (corolink_create(&co, raise_av_body, nullptr, 0) != 0)
                _exit(4);
            int rc = corolink_resume(co, nullptr, nullptr);
            _exit(rc == COROLINK_TRAP ? 5 : 6);
        },
        ::testing::ExitedWithCode(kAccessViolation), "");
}

// Without corolink_trap_install(), a fault in a body is an SEH exception
// like any other: caught at the root, raised again in the resumer.
TEST(TrapDeathTest, WithoutInstallFaultReachesResumer) {
    EXPECT_EXIT(
        {
            SetUnhandledExceptionFilter(exit_with_code);
            corolink *co = nullptr;
            if (corolink_create(&co, null_write_body, nullptr, 0) != 0)
                _exit(4);
            int rc = corolink_resume(co, nullptr, nullptr);
            _exit(rc == COROLINK_TRAP ? 5 : 6);
        },
        ::testing::ExitedWithCode(kAccessViolation), "");
}

// Outside coroutines the library's handler walks the thread's stack on the
// exception's own CONTEXT and must leave it exactly as it was for the
// handlers after it: one added before the library's (so, with first = 1
// after the install, called before it) keeps a copy, one added last
// compares, then skips the faulting instruction (a 2-byte load).
CONTEXT g_snapshot;
std::atomic<int> g_compared{-1};
char *g_reserved;

LONG CALLBACK snapshot_handler(EXCEPTION_POINTERS *ep) {
    if (ep->ExceptionRecord->ExceptionCode == EXCEPTION_ACCESS_VIOLATION &&
        ep->ExceptionRecord->ExceptionInformation[1] == as_addr(g_reserved))
        std::memcpy(&g_snapshot, ep->ContextRecord, sizeof g_snapshot);
    return EXCEPTION_CONTINUE_SEARCH;
}

LONG CALLBACK compare_handler(EXCEPTION_POINTERS *ep) {
    if (ep->ExceptionRecord->ExceptionCode != EXCEPTION_ACCESS_VIOLATION ||
        ep->ExceptionRecord->ExceptionInformation[1] != as_addr(g_reserved))
        return EXCEPTION_CONTINUE_SEARCH;
    g_compared = std::memcmp(&g_snapshot, ep->ContextRecord,
                             sizeof g_snapshot) == 0;
    ep->ContextRecord->Rip += 2;
    return EXCEPTION_CONTINUE_EXECUTION;
}

TEST_F(Trap, FaultOutsideCoroutinesLeavesContextAsItWas) {
    g_reserved = static_cast<char *>(
        VirtualAlloc(nullptr, 65536, MEM_RESERVE, PAGE_NOACCESS));
    ASSERT_NE(g_reserved, nullptr);
    PVOID first = AddVectoredExceptionHandler(1, snapshot_handler);
    PVOID last = AddVectoredExceptionHandler(0, compare_handler);
    ASSERT_NE(first, nullptr);
    ASSERT_NE(last, nullptr);
    char *p = g_reserved;
    __asm__ volatile(".byte 0x8b, 0x00" // movl (%rax), %eax
                     : "+a"(p)
                     :
                     : "memory");
    RemoveVectoredExceptionHandler(first);
    RemoveVectoredExceptionHandler(last);
    EXPECT_EQ(g_compared.load(), 1);
    VirtualFree(g_reserved, 0, MEM_RELEASE);
}

// ---- 5. nesting ----------------------------------------------------------

struct NestedResult {
    int inner_rc = 0;
    bool inner_done = false;
    bool teb_is_outer = false;
    corolink_trap inner_trap{};
};

// The outer body resumes an inner one (body in arg) that faults; only the
// inner finishes. The outer then suspends, and returns when resumed.
void *outer_body(corolink_yielder *y, void *, void *arg) {
    auto *res = static_cast<NestedResult *>(corolink_suspend(y, nullptr));
    corolink *inner = nullptr;
    if (corolink_create(&inner, reinterpret_cast<corolink_fn>(arg), nullptr,
                        64 * 1024) != 0)
        return nullptr;
    void *out = as_ptr(5);
    res->inner_rc = corolink_resume(inner, nullptr, &out);
    res->inner_done = corolink_done(inner);
    corolink_trap_info(inner, &res->inner_trap);
    res->teb_is_outer = teb_names(corolink_from_yielder(y));
    corolink_destroy(inner);
    corolink_suspend(y, as_ptr(11));
    return as_ptr(12);
}

void run_nested(corolink_fn inner_body, int code, bool overflow) {
    TebStack before = teb_stack();
    corolink *outer = nullptr;
    ASSERT_EQ(corolink_create(&outer, outer_body,
                              reinterpret_cast<void *>(inner_body), 0),
              0);
    ASSERT_EQ(corolink_resume(outer, nullptr, nullptr), COROLINK_YIELD);
    NestedResult res;
    void *out = nullptr;
    EXPECT_EQ(corolink_resume(outer, &res, &out), COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 11);
    EXPECT_EQ(res.inner_rc, COROLINK_TRAP);
    EXPECT_TRUE(res.inner_done);
    EXPECT_EQ(res.inner_trap.signo, code);
    EXPECT_EQ(res.inner_trap.stack_overflow, overflow);
    EXPECT_TRUE(res.teb_is_outer);
    EXPECT_FALSE(corolink_done(outer));
    EXPECT_TRUE(teb_stack() == before);
    EXPECT_EQ(corolink_resume(outer, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 12);
    corolink_destroy(outer);
}

TEST_F(Trap, NestedInnerFaultFinishesOnlyInner) {
    run_nested(null_write_body, kAccessViolation, false);
}

TEST_F(Trap, NestedInnerOverflowFinishesOnlyInner) {
    run_nested(overflow_body, kStackOverflow, true);
}

// ---- 6. fn of corolink_on_parent_stack() and corolink_on_stack() ---------

void *on_parent_fault_body(corolink_yielder *y, void *, void *) {
    corolink_on_parent_stack(y, null_write_fn, nullptr);
    return as_ptr(1); // never reached
}

// The fault happens on the resumer's stack (here the thread's), in fn of
// the coroutine's corolink_on_parent_stack(): the coroutine traps.
TEST_F(Trap, FaultInOnParentStackTrapsCaller) {
    TebStack before = teb_stack();
    for (int i = 0; i < 2; i++) {
        corolink *co = nullptr;
        ASSERT_EQ(corolink_create(&co, on_parent_fault_body, nullptr, 0), 0);
        void *out = as_ptr(5);
        EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_TRAP);
        EXPECT_EQ(out, nullptr);
        corolink_trap t{};
        ASSERT_EQ(corolink_trap_info(co, &t), 0);
        EXPECT_EQ(t.signo, kAccessViolation);
        EXPECT_EQ(t.addr, nullptr);
        EXPECT_FALSE(t.stack_overflow);
        EXPECT_TRUE(teb_stack() == before);
        corolink_destroy(co);
    }
    // The pooled stack's block holds its own TEB values again: a coroutine
    // on it runs and suspends with the TEB naming its stack.
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, yield_once_body, nullptr, 0), 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    EXPECT_TRUE(teb_stack() == before);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    corolink_destroy(co);
}

// The same with the coroutine nested in another: fn runs on the outer
// coroutine's stack, and the inner traps.
TEST_F(Trap, FaultInOnParentStackOfNestedTrapsInner) {
    run_nested(on_parent_fault_body, kAccessViolation, false);
}

// Deep recursion in fn of corolink_on_parent_stack() overflows the
// resumer's stack; here the resumer is an outer coroutine, whose stack is
// of the library's layout: the inner coroutine traps, and the outer's
// stack is usable again afterwards.
void *recurse_fn(void *) {
    recurse(0);
    return nullptr;
}

void *on_parent_overflow_body(corolink_yielder *y, void *, void *) {
    corolink_on_parent_stack(y, recurse_fn, nullptr);
    return as_ptr(1); // never reached
}

TEST_F(Trap, OverflowInOnParentStackOfNestedTrapsInner) {
    // The overflow is of the outer's stack, not the inner's own.
    run_nested(on_parent_overflow_body, kStackOverflow, false);
}

// The overflow of the outer coroutine's stack (by fn of the inner's
// corolink_on_parent_stack()) consumed the outer's guard page while the
// outer goes on running: the trap arms it again, and an overflow of the
// outer's own then traps the outer.
struct OuterResult {
    int inner_rc = 0;
    bool inner_overflow = true;
    bool armed_after = false;
};

void *outer_then_overflow_body(corolink_yielder *y, void *, void *arg) {
    auto *res = static_cast<OuterResult *>(arg);
    corolink *inner = nullptr;
    if (corolink_create(&inner, on_parent_overflow_body, nullptr, 64 * 1024) !=
        0)
        return nullptr;
    res->inner_rc = corolink_resume(inner, nullptr, nullptr);
    corolink_trap t{};
    corolink_trap_info(inner, &t);
    res->inner_overflow = t.stack_overflow;
    corolink_destroy(inner);
    corolink_stack st{};
    corolink_get_stack(corolink_from_yielder(y), &st);
    res->armed_after = guard_page_armed(st);
    recurse(0);
    return as_ptr(1); // never reached
}

TEST_F(Trap, ResumerStackOverflowedByOnParentFnIsRearmed) {
    OuterResult res;
    corolink *outer = nullptr;
    ASSERT_EQ(corolink_create(&outer, outer_then_overflow_body, &res, 0), 0);
    void *out = as_ptr(5);
    int rc = corolink_resume(outer, nullptr, &out);
    EXPECT_EQ(res.inner_rc, COROLINK_TRAP);
    EXPECT_FALSE(res.inner_overflow);
    EXPECT_TRUE(res.armed_after);
    expect_overflow_trapped(outer, rc, out);
    corolink_destroy(outer);
}

corolink_stack g_fn_stack;

void *on_stack_fault_body(corolink_yielder *, void *, void *) {
    corolink_on_stack(&g_fn_stack, null_write_fn, nullptr, nullptr);
    return as_ptr(1); // never reached
}

// fn of corolink_on_stack() runs on a third stack, with the TEB naming it;
// the coroutine that called corolink_on_stack() traps, and the TEB and the
// coroutine's block are put back as the returns would have.
TEST_F(Trap, FaultInOnStackTrapsCaller) {
    ASSERT_EQ(corolink_stack_alloc(&g_fn_stack, 64 * 1024), 0);
    TebStack before = teb_stack();
    for (int i = 0; i < 2; i++) {
        corolink *co = nullptr;
        ASSERT_EQ(corolink_create(&co, on_stack_fault_body, nullptr, 0), 0);
        EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_TRAP);
        corolink_trap t{};
        ASSERT_EQ(corolink_trap_info(co, &t), 0);
        EXPECT_EQ(t.signo, kAccessViolation);
        EXPECT_EQ(t.addr, nullptr);
        EXPECT_TRUE(teb_stack() == before);
        corolink_destroy(co);
    }
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, yield_once_body, nullptr, 0), 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    EXPECT_TRUE(teb_stack() == before);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    corolink_destroy(co);
    corolink_stack_free(&g_fn_stack);
}

// ---- 7. the resumer after a trap -----------------------------------------

// Values live across the (inline or out-of-line) resume: the switch keeps
// only rsp and rbp, so the compiler holds them in the resumer's frame, and
// the redirect must give that frame back exactly.
__attribute__((noinline)) uint64_t mix(uint64_t x) {
    return x * 0x9e3779b97f4a7c15ULL + 1;
}

volatile uint64_t seed = 12345;

TEST_F(Trap, ResumerLocalsSurvive) {
    uint64_t v[12];
    v[0] = mix(seed);
    for (int i = 1; i < 12; i++)
        v[i] = mix(v[i - 1]);
    double d1 = static_cast<double>(v[3] >> 11), d2 = d1 * 1.5 + 0.25;
    uint64_t a = v[0], b = v[1], c = v[2], d = v[3], e = v[4], f = v[5],
             g = v[6], h = v[7], i = v[8], j = v[9], k = v[10], l = v[11];
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, null_write_body, nullptr, 0), 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_TRAP);
    corolink_destroy(co);
    uint64_t w = mix(seed);
    EXPECT_EQ(a, w);
    EXPECT_EQ(b, w = mix(w));
    EXPECT_EQ(c, w = mix(w));
    EXPECT_EQ(d, w = mix(w));
    EXPECT_EQ(e, w = mix(w));
    EXPECT_EQ(f, w = mix(w));
    EXPECT_EQ(g, w = mix(w));
    EXPECT_EQ(h, w = mix(w));
    EXPECT_EQ(i, w = mix(w));
    EXPECT_EQ(j, w = mix(w));
    EXPECT_EQ(k, w = mix(w));
    EXPECT_EQ(l, w = mix(w));
    EXPECT_EQ(d1, static_cast<double>(d >> 11));
    EXPECT_EQ(d2, d1 * 1.5 + 0.25);
}

} // namespace

// The exported (out-of-line) corolink_resume() is a function of the
// Microsoft ABI: rbx, rsi, rdi, r12-r15 and xmm6-xmm15 are the same after
// it returns, a trap included. This calls it with known values in all of
// them and stores what they hold afterwards in out[0..16].
extern "C" int call_resume_with_regs(corolink *co, uint64_t *out);
__asm__(".text\n"
        ".globl call_resume_with_regs\n"
        "call_resume_with_regs:\n"
        "  pushq %rbp\n"
        "  movq %rsp, %rbp\n"
        "  pushq %rbx\n"
        "  pushq %rsi\n"
        "  pushq %rdi\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  subq $200, %rsp\n" // xmm6-15 at 32(%rsp), shadow space below
        "  movdqu %xmm6, 32(%rsp)\n"
        "  movdqu %xmm7, 48(%rsp)\n"
        "  movdqu %xmm8, 64(%rsp)\n"
        "  movdqu %xmm9, 80(%rsp)\n"
        "  movdqu %xmm10, 96(%rsp)\n"
        "  movdqu %xmm11, 112(%rsp)\n"
        "  movdqu %xmm12, 128(%rsp)\n"
        "  movdqu %xmm13, 144(%rsp)\n"
        "  movdqu %xmm14, 160(%rsp)\n"
        "  movdqu %xmm15, 176(%rsp)\n"
        "  movq %rdx, 24(%rbp)\n" // out, in our caller's shadow space
        "  movabsq $0x1111111111111101, %rbx\n"
        "  movabsq $0x1111111111111102, %rsi\n"
        "  movabsq $0x1111111111111103, %rdi\n"
        "  movabsq $0x1111111111111104, %r12\n"
        "  movabsq $0x1111111111111105, %r13\n"
        "  movabsq $0x1111111111111106, %r14\n"
        "  movabsq $0x1111111111111107, %r15\n"
        "  movabsq $0x2222222222222206, %rax\n  movq %rax, %xmm6\n"
        "  movabsq $0x2222222222222207, %rax\n  movq %rax, %xmm7\n"
        "  movabsq $0x2222222222222208, %rax\n  movq %rax, %xmm8\n"
        "  movabsq $0x2222222222222209, %rax\n  movq %rax, %xmm9\n"
        "  movabsq $0x222222222222220a, %rax\n  movq %rax, %xmm10\n"
        "  movabsq $0x222222222222220b, %rax\n  movq %rax, %xmm11\n"
        "  movabsq $0x222222222222220c, %rax\n  movq %rax, %xmm12\n"
        "  movabsq $0x222222222222220d, %rax\n  movq %rax, %xmm13\n"
        "  movabsq $0x222222222222220e, %rax\n  movq %rax, %xmm14\n"
        "  movabsq $0x222222222222220f, %rax\n  movq %rax, %xmm15\n"
        "  xorl %edx, %edx\n" // input
        "  xorl %r8d, %r8d\n" // output
        "  call *__imp_corolink_resume(%rip)\n"
        "  movq 24(%rbp), %rcx\n"
        "  movq %rbx, 0(%rcx)\n"
        "  movq %rsi, 8(%rcx)\n"
        "  movq %rdi, 16(%rcx)\n"
        "  movq %r12, 24(%rcx)\n"
        "  movq %r13, 32(%rcx)\n"
        "  movq %r14, 40(%rcx)\n"
        "  movq %r15, 48(%rcx)\n"
        "  movq %xmm6, 56(%rcx)\n"
        "  movq %xmm7, 64(%rcx)\n"
        "  movq %xmm8, 72(%rcx)\n"
        "  movq %xmm9, 80(%rcx)\n"
        "  movq %xmm10, 88(%rcx)\n"
        "  movq %xmm11, 96(%rcx)\n"
        "  movq %xmm12, 104(%rcx)\n"
        "  movq %xmm13, 112(%rcx)\n"
        "  movq %xmm14, 120(%rcx)\n"
        "  movq %xmm15, 128(%rcx)\n"
        "  movdqu 32(%rsp), %xmm6\n"
        "  movdqu 48(%rsp), %xmm7\n"
        "  movdqu 64(%rsp), %xmm8\n"
        "  movdqu 80(%rsp), %xmm9\n"
        "  movdqu 96(%rsp), %xmm10\n"
        "  movdqu 112(%rsp), %xmm11\n"
        "  movdqu 128(%rsp), %xmm12\n"
        "  movdqu 144(%rsp), %xmm13\n"
        "  movdqu 160(%rsp), %xmm14\n"
        "  movdqu 176(%rsp), %xmm15\n"
        "  addq $200, %rsp\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rdi\n"
        "  popq %rsi\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        "  ret\n");

namespace {

// The body clobbers every callee-saved register before it faults.
void *clobber_then_fault_body(corolink_yielder *, void *, void *) {
    __asm__ volatile("movq $-1, %%rbx\n\t"
                     "movq $-1, %%rsi\n\t"
                     "movq $-1, %%rdi\n\t"
                     "movq $-1, %%r12\n\t"
                     "movq $-1, %%r13\n\t"
                     "movq $-1, %%r14\n\t"
                     "movq $-1, %%r15\n\t"
                     "pcmpeqd %%xmm6, %%xmm6\n\t"
                     "pcmpeqd %%xmm7, %%xmm7\n\t"
                     "pcmpeqd %%xmm8, %%xmm8\n\t"
                     "pcmpeqd %%xmm9, %%xmm9\n\t"
                     "pcmpeqd %%xmm10, %%xmm10\n\t"
                     "pcmpeqd %%xmm11, %%xmm11\n\t"
                     "pcmpeqd %%xmm12, %%xmm12\n\t"
                     "pcmpeqd %%xmm13, %%xmm13\n\t"
                     "pcmpeqd %%xmm14, %%xmm14\n\t"
                     "pcmpeqd %%xmm15, %%xmm15\n\t"
                     "movl $1, (%0)\n\t" // the fault
                     :
                     : "r"(null_ptr)
                     : "rbx", "rsi", "rdi", "r12", "r13", "r14", "r15",
                       "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
                       "xmm12", "xmm13", "xmm14", "xmm15", "memory");
    return nullptr;
}

TEST_F(Trap, OutOfLineResumeKeepsCalleeSavedRegisters) {
    for (corolink_fn body :
         {clobber_then_fault_body, null_write_body, overflow_body}) {
        corolink *co = nullptr;
        ASSERT_EQ(corolink_create(&co, body, nullptr, 0), 0);
        uint64_t out[17] = {};
        EXPECT_EQ(call_resume_with_regs(co, out), COROLINK_TRAP);
        for (int r = 0; r < 7; r++)
            EXPECT_EQ(out[r], 0x1111111111111101ULL + r) << "register " << r;
        for (int x = 0; x < 10; x++)
            EXPECT_EQ(out[7 + x], 0x2222222222222206ULL + x) << "xmm" << 6 + x;
        corolink_destroy(co);
    }
}

// ---- 8. threads ----------------------------------------------------------

// Two threads fault in coroutines at the same time, over and over: every
// trap lands in its own thread's resumer. They meet at a barrier before
// each round (no sleeps).
TEST_F(Trap, TrapsOnTwoThreads) {
    const int rounds = 20;
    std::atomic<int> arrived{0};
    std::atomic<int> failures{0};
    auto worker = [&](int id) {
        TebStack before = teb_stack();
        for (int r = 0; r < rounds; r++) {
            arrived.fetch_add(1);
            while (arrived.load() < 2 * (r + 1)) {
            }
            corolink *co = nullptr;
            corolink_fn body = (r + id) % 2 ? overflow_body : null_write_body;
            if (corolink_create(&co, body, nullptr, 64 * 1024) != 0) {
                failures++;
                continue;
            }
            int rc = corolink_resume(co, nullptr, nullptr);
            corolink_trap t{};
            if (rc != COROLINK_TRAP || corolink_trap_info(co, &t) != 0 ||
                t.signo != (body == overflow_body ? kStackOverflow
                                                  : kAccessViolation) ||
                !(teb_stack() == before))
                failures++;
            corolink_destroy(co);
        }
    };
    std::thread a(worker, 0), b(worker, 1);
    a.join();
    b.join();
    EXPECT_EQ(failures.load(), 0);
}

// ---- 9. the low-level interface ------------------------------------------

// corolink_trap_find() on a context captured inside a body: that body's
// coroutine; inside fn of its corolink_on_parent_stack(): the same; on the
// thread's own stack: NULL.
struct FindResult {
    corolink *in_body = nullptr;
    corolink *in_fn = nullptr;
};

void *capture_fn(void *arg) {
    CONTEXT ctx;
    RtlCaptureContext(&ctx);
    static_cast<FindResult *>(arg)->in_fn = corolink_trap_find(&ctx);
    return nullptr;
}

void *find_body(corolink_yielder *y, void *, void *arg) {
    auto *res = static_cast<FindResult *>(arg);
    CONTEXT ctx;
    RtlCaptureContext(&ctx);
    res->in_body = corolink_trap_find(&ctx);
    corolink_on_parent_stack(y, capture_fn, res);
    return nullptr;
}

TEST_F(Trap, FindFromCapturedContexts) {
    CONTEXT ctx;
    RtlCaptureContext(&ctx);
    EXPECT_EQ(corolink_trap_find(&ctx), nullptr);
    EXPECT_EQ(corolink_trap_find(nullptr), nullptr);
    FindResult res;
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, find_body, &res, 0), 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    EXPECT_EQ(res.in_body, co);
    EXPECT_EQ(res.in_fn, co);
    corolink_destroy(co);
}

// A runtime's own vectored handler (first in the list: added after the
// library's) finds and redirects itself, with a value for the resumer.
std::atomic<int> g_own_handler_calls{0};

LONG CALLBACK own_handler(EXCEPTION_POINTERS *ep) {
    if (ep->ExceptionRecord->ExceptionCode != EXCEPTION_ACCESS_VIOLATION)
        return EXCEPTION_CONTINUE_SEARCH;
    corolink *co = corolink_trap_find(ep->ContextRecord);
    if (co == nullptr)
        return EXCEPTION_CONTINUE_SEARCH;
    g_own_handler_calls++;
    // Not the coroutine the context leads to: refused.
    corolink *other = nullptr;
    if (corolink_create(&other, return_body, nullptr, 0) == 0) {
        if (corolink_trap_redirect(other, ep->ContextRecord, 1, nullptr,
                                   nullptr) != COROLINK_EINVAL)
            g_own_handler_calls += 100;
        corolink_destroy(other);
    }
    if (corolink_trap_redirect(co, ep->ContextRecord, 99, as_ptr(0x4321),
                               as_ptr(0x1234)) != 0)
        return EXCEPTION_CONTINUE_SEARCH;
    return EXCEPTION_CONTINUE_EXECUTION;
}

TEST_F(Trap, OwnHandlerRedirects) {
    PVOID h = AddVectoredExceptionHandler(1, own_handler);
    ASSERT_NE(h, nullptr);
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, null_write_body, nullptr, 0), 0);
    void *out = nullptr;
    EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_TRAP);
    RemoveVectoredExceptionHandler(h);
    EXPECT_EQ(g_own_handler_calls.load(), 1);
    EXPECT_EQ(as_int(out), 0x1234);
    corolink_trap t{};
    ASSERT_EQ(corolink_trap_info(co, &t), 0);
    EXPECT_EQ(t.signo, 99);
    EXPECT_EQ(t.addr, as_ptr(0x4321));
    EXPECT_FALSE(t.stack_overflow);
    corolink_destroy(co);
    EXPECT_EQ(corolink_trap_redirect(nullptr, nullptr, 0, nullptr, nullptr),
              COROLINK_EINVAL);
}

} // namespace
