// Traps: a SIGSEGV/SIGBUS raised by a coroutine's body (stack overflow
// included) finishes the coroutine and makes its resume return
// COROLINK_TRAP; faults anywhere else behave as without corolink. Built
// twice: with the inline switch and with COROLINK_NO_INLINE.
#include <corolink.h>

#include <gtest/gtest.h>

#include "../common/death_style.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

#include "trap_bodies.h"

// ---- bodies ------------------------------------------------------------

// Is addr inside the guard region below the coroutine's stack?
bool in_guard(corolink *co, void *addr) {
    corolink_stack st;
    if (corolink_get_stack(co, &st) != 0)
        return false;
    auto a = reinterpret_cast<uintptr_t>(addr);
    auto lim = reinterpret_cast<uintptr_t>(st.limit);
    return st.guard > 0 && a >= lim - st.guard && a < lim;
}

// Checks everything a trapped overflow leaves behind.
void expect_overflow_trapped(corolink *co, int rc, void *out) {
    EXPECT_EQ(rc, COROLINK_TRAP);
    EXPECT_EQ(out, nullptr);
    EXPECT_TRUE(corolink_done(co));
    corolink_trap t{};
    ASSERT_EQ(corolink_trap_info(co, &t), 0);
    EXPECT_EQ(t.signo, SIGSEGV);
    EXPECT_TRUE(t.stack_overflow);
    EXPECT_TRUE(in_guard(co, t.addr)) << t.addr;
    void *again = as_ptr(5);
    EXPECT_EQ(corolink_resume(co, nullptr, &again), COROLINK_EDONE);
    EXPECT_EQ(again, nullptr);
}

class Trap : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { ASSERT_EQ(corolink_trap_install(), 0); }
};

// ---- 1. overflow, three times on a reused stack ------------------------

TEST_F(Trap, OverflowRecoveredThreeTimesOnPooledStack) {
    corolink_stack first{};
    for (int i = 0; i < 3; i++) {
        corolink *co = nullptr;
        ASSERT_EQ(corolink_create(&co, overflow_body, nullptr, 0), 0);
        corolink_stack st{};
        ASSERT_EQ(corolink_get_stack(co, &st), 0);
        if (i == 0)
            first = st;
        // The pool hands the same stack back each time.
        EXPECT_EQ(st.base, first.base);
        EXPECT_EQ(st.limit, first.limit);
        EXPECT_EQ(st.guard, first.guard);
        EXPECT_GT(st.guard, 0u);
        void *out = as_ptr(5);
        int rc = corolink_resume(co, nullptr, &out);
        expect_overflow_trapped(co, rc, out);
        corolink_destroy(co);
    }
    // And the stack still runs an ordinary body afterwards.
    expect_pooled_stack_runs_again(first.base);
}

TEST_F(Trap, OverflowRecoveredThreeTimesOnCallerStack) {
    corolink_stack st{};
    ASSERT_EQ(corolink_stack_alloc(&st, 64 * 1024), 0);
    for (int i = 0; i < 3; i++) {
        corolink *co = nullptr;
        ASSERT_EQ(corolink_create_on(&co, &st, overflow_body, nullptr), 0);
        void *out = as_ptr(5);
        int rc = corolink_resume(co, nullptr, &out);
        expect_overflow_trapped(co, rc, out);
        corolink_trap t{};
        ASSERT_EQ(corolink_trap_info(co, &t), 0);
        // The guard of the stack we allocated.
        auto a = reinterpret_cast<uintptr_t>(t.addr);
        auto lim = reinterpret_cast<uintptr_t>(st.limit);
        EXPECT_TRUE(a >= lim - st.guard && a < lim);
        corolink_destroy(co);
    }
    corolink_stack_free(&st);
}

// ---- 2. a NULL write ---------------------------------------------------

TEST_F(Trap, NullWriteRecovered) {
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, null_write_body, nullptr, 0), 0);
    void *out = as_ptr(5);
    EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_TRAP);
    EXPECT_EQ(out, nullptr);
    EXPECT_TRUE(corolink_done(co));
    corolink_trap t{};
    ASSERT_EQ(corolink_trap_info(co, &t), 0);
    EXPECT_EQ(t.signo, SIGSEGV);
    EXPECT_LT(reinterpret_cast<uintptr_t>(t.addr), 4096u);
    EXPECT_FALSE(t.stack_overflow);
    EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_EDONE);
    corolink_destroy(co);
}

// A SIGBUS: touching a file mapping beyond the end of the file.
void *sigbus_body(corolink_yielder *, void *, void *arg) {
    *static_cast<volatile char *>(arg) = 1;
    return as_ptr(1);
}

TEST_F(Trap, SigbusRecovered) {
    FILE *f = tmpfile();
    ASSERT_NE(f, nullptr);
    void *m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fileno(f), 0);
    ASSERT_NE(m, MAP_FAILED);
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, sigbus_body, m, 0), 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_TRAP);
    corolink_trap t{};
    ASSERT_EQ(corolink_trap_info(co, &t), 0);
    EXPECT_EQ(t.signo, SIGBUS);
#if COROLINK_TEST_EMULATED && (defined(__i386__) || defined(__arm__))
    // qemu-i386 (the i686 build where the kernel runs no 32-bit programs)
    // and qemu-arm 7.2 report a 32-bit guest's SIGBUS beyond the end of a
    // file one page above the faulting address (si_addr, measured: m +
    // 4096; a plain program that touches such a mapping sees the same):
    // the library hands on what the signal says.
    EXPECT_TRUE(t.addr == m || t.addr == static_cast<char *>(m) + 4096)
        << t.addr << " for " << m;
#else
    EXPECT_EQ(t.addr, m);
#endif
    EXPECT_FALSE(t.stack_overflow);
    corolink_destroy(co);
    munmap(m, 4096);
    fclose(f);
}

// ---- 3. faults outside coroutines --------------------------------------

TEST(TrapDeath, FaultOnMainStackStillKills) {
    COROLINK_TEST_THREADSAFE_DEATH();
    EXPECT_EXIT(
        {
            if (corolink_trap_install() != 0)
                _exit(3);
            *null_ptr = 1;
            _exit(0);
        },
        testing::KilledBySignal(SIGSEGV), "");
}

TEST(TrapDeath, OverflowOfMainThreadStackStillKills) {
    COROLINK_TEST_THREADSAFE_DEATH();
    EXPECT_EXIT(
        {
            if (corolink_trap_install() != 0)
                _exit(3);
            recurse(0);
            _exit(0);
        },
        testing::KilledBySignal(SIGSEGV), "");
}

// A SIGSEGV sent (not raised by a fault) to a thread running a coroutine is
// not a trap: it has its usual effect.
void *raise_segv_body(corolink_yielder *, void *, void *) {
    raise(SIGSEGV);
    return as_ptr(1);
}

TEST(TrapDeath, SentSigsegvInCoroutineStillKills) {
    COROLINK_TEST_THREADSAFE_DEATH();
    EXPECT_EXIT(
        {
            if (corolink_trap_install() != 0)
                _exit(3);
            corolink *co = nullptr;
            if (corolink_create(&co, raise_segv_body, nullptr, 0) != 0)
                _exit(4);
            corolink_resume(co, nullptr, nullptr);
            _exit(0);
        },
        testing::KilledBySignal(SIGSEGV), "");
}

// The handler installed before corolink's: gets faults outside coroutines,
// both one that escapes with siglongjmp and one that fixes the fault and
// returns; faults inside coroutines are still traps.
sigjmp_buf prior_jmp;
volatile sig_atomic_t prior_calls;
void *volatile prior_addr;
char *volatile fixable_page;

void prior_handler(int, siginfo_t *info, void *) {
    prior_calls = prior_calls + 1;
    prior_addr = info->si_addr;
    char *page = fixable_page;
    if (page && info->si_addr == page) {
        mprotect(page, 4096, PROT_READ | PROT_WRITE); // fixed: retry
        return;
    }
    siglongjmp(prior_jmp, 1);
}

int prior_handler_scenario() {
    struct sigaction sa {};
    sa.sa_sigaction = prior_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, nullptr) != 0)
        return 10;
    if (corolink_trap_install() != 0)
        return 11;
    // 1: escapes with siglongjmp.
    if (sigsetjmp(prior_jmp, 1) == 0) {
        *null_ptr = 1;
        return 12; // not reached
    }
    if (prior_calls != 1 || prior_addr != nullptr)
        return 13;
    // 2: fixes the fault and returns; the write is then done.
    auto *page = static_cast<char *>(
        mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (page == MAP_FAILED)
        return 14;
    fixable_page = page;
    static_cast<volatile char *>(page)[0] = 9;
    if (prior_calls != 2 || prior_addr != page || page[0] != 9)
        return 15;
    // 3: in a coroutine, corolink's: the prior handler is not called.
    corolink *co = nullptr;
    if (corolink_create(&co, null_write_body, nullptr, 0) != 0)
        return 16;
    if (corolink_resume(co, nullptr, nullptr) != COROLINK_TRAP)
        return 17;
    if (prior_calls != 2)
        return 18;
    corolink_destroy(co);
    // 4: and outside again, the prior handler.
    if (sigsetjmp(prior_jmp, 1) == 0) {
        *null_ptr = 1;
        return 19;
    }
    if (prior_calls != 3)
        return 20;
    return 0;
}

TEST(TrapDeath, PriorHandlerStillGetsFaultsOutsideCoroutines) {
    // In a fresh process: corolink_trap_install() must come after the
    // prior handler, and installs once per process.
    COROLINK_TEST_THREADSAFE_DEATH();
#if COROLINK_TEST_EMULATED
    // Under qemu-user the death test's child is only forked (a guest
    // cannot re-execute itself): it is fresh only if nothing in this
    // process installed a SIGSEGV handler yet (ctest runs each test in a
    // process of its own; a run of the whole program does not).
    struct sigaction cur {};
    sigaction(SIGSEGV, nullptr, &cur);
    if ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL)
        GTEST_SKIP() << "needs a fresh process, and under qemu-user a death "
                        "test's child is forked from this one, where "
                        "corolink_trap_install() already ran: run it alone";
#endif
    EXPECT_EXIT(_exit(prior_handler_scenario()), testing::ExitedWithCode(0), "");
}

// Where process_vm_readv() is missing (ENOSYS), the handler reads the
// stacks through a pipe instead: traps still work, and no descriptor is
// left open. Natively a seccomp filter makes the system call fail with
// ENOSYS; qemu-user implements neither it nor seccomp for its guest.
bool deny_process_vm_readv() {
#if defined(__x86_64__)
    const __u32 arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    const __u32 arch = AUDIT_ARCH_AARCH64;
#elif defined(__riscv) && __riscv_xlen == 64
    const __u32 arch = AUDIT_ARCH_RISCV64;
#elif defined(__i386__)
    const __u32 arch = AUDIT_ARCH_I386;
#elif defined(__arm__)
    const __u32 arch = AUDIT_ARCH_ARM;
#endif
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_readv, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {static_cast<unsigned short>(sizeof code / sizeof code[0]),
                              code};
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0;
}

int without_process_vm_readv_scenario() {
    if (!deny_process_vm_readv() && !COROLINK_TEST_EMULATED)
        return 10;
    long probe = 1, got = 0;
    struct iovec local = {&got, sizeof got}, remote = {&probe, sizeof probe};
    if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != -1 || errno != ENOSYS)
        return 11;
    if (corolink_trap_install() != 0)
        return 12;
    corolink_trap_diagnostics(false);
    int lowest_fd = dup(0); // the lowest free descriptor
    if (lowest_fd < 0)
        return 13;
    close(lowest_fd);
    for (auto body : {overflow_body, null_write_body}) {
        corolink *co = nullptr;
        if (corolink_create(&co, body, nullptr, 0) != 0)
            return 14;
        if (corolink_resume(co, nullptr, nullptr) != COROLINK_TRAP)
            return 15;
        corolink_trap t{};
        if (corolink_trap_info(co, &t) != 0 || t.signo != SIGSEGV ||
            t.stack_overflow != (body == overflow_body))
            return 16;
        corolink_destroy(co);
    }
    int fd = dup(0);
    if (fd != lowest_fd)
        return 17;
    close(fd);
    *null_ptr = 1; // and outside a coroutine, still the default action
    return 18;
}

TEST(TrapDeath, TrapsWorkWithoutProcessVmReadv) {
    // In a fresh process: installs once per process, and the filter stays.
    COROLINK_TEST_THREADSAFE_DEATH();
    EXPECT_EXIT(_exit(without_process_vm_readv_scenario()),
                testing::KilledBySignal(SIGSEGV), "");
}

// ---- 4. other coroutines are left intact -------------------------------

constexpr int kLocals = 64;
uint64_t local_value(int i) { return 0x5eed0000c0de0000ull + static_cast<uint64_t>(i) * 7919u; }

void *keeper_body(corolink_yielder *y, void *, void *) {
    volatile uint64_t locals[kLocals];
    for (int i = 0; i < kLocals; i++)
        locals[i] = local_value(i);
    corolink_suspend(y, as_ptr(1));
    for (int i = 0; i < kLocals; i++)
        if (locals[i] != local_value(i))
            return as_ptr(-1 - i);
    return as_ptr(100);
}

TEST_F(Trap, SuspendedCoroutineSurvivesAnothersTrap) {
    corolink *keeper = nullptr, *bad = nullptr, *bad2 = nullptr;
    ASSERT_EQ(corolink_create(&keeper, keeper_body, nullptr, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(corolink_resume(keeper, nullptr, &out), COROLINK_YIELD);
    ASSERT_EQ(corolink_create(&bad, overflow_body, nullptr, 0), 0);
    EXPECT_EQ(corolink_resume(bad, nullptr, &out), COROLINK_TRAP);
    ASSERT_EQ(corolink_create(&bad2, null_write_body, nullptr, 0), 0);
    EXPECT_EQ(corolink_resume(bad2, nullptr, &out), COROLINK_TRAP);
    EXPECT_FALSE(corolink_done(keeper));
    EXPECT_EQ(corolink_resume(keeper, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 100);
    corolink_destroy(bad2);
    corolink_destroy(bad);
    corolink_destroy(keeper);
}

// ---- 5. nested ---------------------------------------------------------

struct NestedLog {
    int inner_rc = 0;
    bool inner_overflow = false;
    bool inner_done = false;
};

void *outer_body(corolink_yielder *y, void *, void *arg) {
    auto *log = static_cast<NestedLog *>(arg);
    corolink *inner = nullptr;
    if (corolink_create(&inner, overflow_body, nullptr, 0) != 0)
        return as_ptr(-1);
    void *out = as_ptr(5);
    log->inner_rc = corolink_resume(inner, nullptr, &out);
    corolink_trap t{};
    log->inner_overflow = corolink_trap_info(inner, &t) == 0 && t.stack_overflow;
    log->inner_done = corolink_done(inner);
    corolink_destroy(inner);
    // The outer coroutine goes on normally: suspends, then returns.
    void *in = corolink_suspend(y, as_ptr(7));
    return as_ptr(as_int(in) + 1);
}

TEST_F(Trap, NestedInnerOverflowReturnsTrapToOuter) {
    NestedLog log;
    corolink *outer = nullptr;
    ASSERT_EQ(corolink_create(&outer, outer_body, &log, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(corolink_resume(outer, nullptr, &out), COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 7);
    EXPECT_EQ(log.inner_rc, COROLINK_TRAP);
    EXPECT_TRUE(log.inner_overflow);
    EXPECT_TRUE(log.inner_done);
    EXPECT_EQ(corolink_resume(outer, as_ptr(41), &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 42);
    EXPECT_EQ(corolink_trap_info(outer, nullptr), COROLINK_EINVAL);
    corolink_trap t{};
    EXPECT_EQ(corolink_trap_info(outer, &t), COROLINK_ENOTRAP);
    corolink_destroy(outer);
}

// A fault in fn of corolink_on_parent_stack() (which runs on the resumer's
// stack) traps the coroutine that called it, whether its resumer is the
// thread or another coroutine.
void *null_write_fn(void *) {
    *null_ptr = 3;
    return nullptr;
}

void *on_parent_fault_body(corolink_yielder *y, void *, void *) {
    corolink_on_parent_stack(y, null_write_fn, nullptr);
    return as_ptr(1);
}

void *outer_of_on_parent_body(corolink_yielder *, void *, void *) {
    corolink *inner = nullptr;
    if (corolink_create(&inner, on_parent_fault_body, nullptr, 0) != 0)
        return as_ptr(-1);
    int rc = corolink_resume(inner, nullptr, nullptr);
    corolink_destroy(inner);
    return as_ptr(rc);
}

TEST_F(Trap, FaultInOnParentStackTrapsItsCoroutine) {
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, on_parent_fault_body, nullptr, 0), 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_TRAP);
    corolink_trap t{};
    ASSERT_EQ(corolink_trap_info(co, &t), 0);
    EXPECT_EQ(t.addr, nullptr);
    corolink_destroy(co);

    ASSERT_EQ(corolink_create(&co, outer_of_on_parent_body, nullptr, 0), 0);
    void *out = nullptr;
    EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), COROLINK_TRAP);
    corolink_destroy(co);
}

// ---- 6. backtraces after a trap ----------------------------------------

struct Trace {
    void *frames[128];
    int n = 0;
};

bool trace_has(const Trace &t, const char *name) {
    for (int i = 0; i < t.n; i++) {
        Dl_info info{};
        if (dladdr(t.frames[i], &info) && info.dli_sname &&
            std::strcmp(info.dli_sname, name) == 0)
            return true;
    }
    return false;
}

void *backtrace_body(corolink_yielder *, void *, void *arg) {
    auto *t = static_cast<Trace *>(arg);
    t->n = backtrace(t->frames, 128);
    return nullptr;
}

} // namespace

// Resumers with names that dladdr() finds (the executable exports them).
extern "C" __attribute__((noinline)) int trap_test_resumer(corolink *co, Trace *after) {
    int rc = corolink_resume(co, nullptr, nullptr);
    if (after)
        after->n = backtrace(after->frames, 128);
    return rc;
}

extern "C" __attribute__((noinline)) int trap_test_backtrace_scenario(Trace *in_body,
                                                                      Trace *in_resumer) {
    corolink *bad = nullptr, *good = nullptr;
    if (corolink_create(&bad, overflow_body, nullptr, 0) != 0)
        return -100;
    int rc = trap_test_resumer(bad, in_resumer);
    corolink_destroy(bad);
    if (rc != COROLINK_TRAP)
        return rc;
    if (corolink_create(&good, backtrace_body, in_body, 0) != 0)
        return -101;
    rc = trap_test_resumer(good, nullptr);
    corolink_destroy(good);
    return rc;
}

namespace {

TEST_F(Trap, BacktracesStillLinkAfterTrap) {
    Trace in_body, in_resumer;
    ASSERT_EQ(trap_test_backtrace_scenario(&in_body, &in_resumer), COROLINK_RETURN);
    // From a coroutine started after the trap: through the resumer and on.
    EXPECT_GT(in_body.n, 4);
    EXPECT_TRUE(trace_has(in_body, "trap_test_resumer"));
    EXPECT_TRUE(trace_has(in_body, "trap_test_backtrace_scenario"));
    EXPECT_TRUE(trace_has(in_body, "main"));
    // From the resumer itself, right after its resume returned the trap.
    EXPECT_TRUE(trace_has(in_resumer, "trap_test_resumer"));
    EXPECT_TRUE(trace_has(in_resumer, "trap_test_backtrace_scenario"));
    EXPECT_TRUE(trace_has(in_resumer, "main"));
}

// ---- 7. the diagnostic line --------------------------------------------

int count_lines(const std::string &s) {
    int n = 0;
    for (char c : s)
        n += c == '\n';
    return n;
}

TEST_F(Trap, OverflowPrintsOneLineNamingTheCoroutine) {
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, overflow_body, nullptr, 0), 0);
    ASSERT_EQ(corolink_set_name(co, "parser"), 0);
    std::string want = "corolink: coroutine " + std::to_string(corolink_id(co)) +
                       " \"parser\" overflowed its " +
                       std::to_string(COROLINK_STACK_DEFAULT_SIZE) + "-byte stack (fault at 0x";
    testing::internal::CaptureStderr();
    int rc = corolink_resume(co, nullptr, nullptr);
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(rc, COROLINK_TRAP);
    EXPECT_EQ(count_lines(err), 1) << err;
    EXPECT_EQ(err.rfind(want, 0), 0u) << err;
    EXPECT_NE(err.find("); its resume returns COROLINK_TRAP\n"), std::string::npos) << err;
    corolink_destroy(co);
}

TEST_F(Trap, NoLineWhenDiagnosticsOffOrNotAnOverflow) {
    corolink *co = nullptr;
    corolink_trap_diagnostics(false);
    ASSERT_EQ(corolink_create(&co, overflow_body, nullptr, 0), 0);
    testing::internal::CaptureStderr();
    int rc = corolink_resume(co, nullptr, nullptr);
    std::string err = testing::internal::GetCapturedStderr();
    corolink_trap_diagnostics(true);
    EXPECT_EQ(rc, COROLINK_TRAP);
    EXPECT_EQ(err, "");
    corolink_trap t{};
    ASSERT_EQ(corolink_trap_info(co, &t), 0);
    EXPECT_TRUE(t.stack_overflow);
    corolink_destroy(co);

    ASSERT_EQ(corolink_create(&co, null_write_body, nullptr, 0), 0);
    testing::internal::CaptureStderr();
    rc = corolink_resume(co, nullptr, nullptr);
    err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(rc, COROLINK_TRAP);
    EXPECT_EQ(err, "");
    corolink_destroy(co);
}

// ---- 8. the lower-level API --------------------------------------------

struct LowLevel {
    corolink *found = nullptr;
    int redirect_rc = 99;
    int calls = 0;
};
LowLevel low;

void low_handler(int signo, siginfo_t *info, void *uc) {
    low.calls++;
    low.found = corolink_trap_find(uc);
    if (low.found)
        low.redirect_rc = corolink_trap_redirect(low.found, uc, signo, info->si_addr,
                                                 as_ptr(0x1234));
}

struct ScopedHandler {
    int signo;
    struct sigaction old {};
    explicit ScopedHandler(int s) : signo(s) {
        struct sigaction sa {};
        sa.sa_sigaction = low_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(signo, &sa, &old);
    }
    ~ScopedHandler() { sigaction(signo, &old, nullptr); }
};

void *raise_usr1_body(corolink_yielder *, void *, void *) {
    raise(SIGUSR1);
    return as_ptr(1);
}

TEST_F(Trap, LowLevelFindAndRedirect) {
    EXPECT_EQ(corolink_trap_find(nullptr), nullptr);
    {
        ScopedHandler h(SIGSEGV);
        corolink *co = nullptr;
        ASSERT_EQ(corolink_create(&co, null_write_body, nullptr, 0), 0);
        low = LowLevel{};
        void *out = nullptr;
        EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_TRAP);
        EXPECT_EQ(as_int(out), 0x1234);
        EXPECT_EQ(low.calls, 1);
        EXPECT_EQ(low.found, co);
        EXPECT_EQ(low.redirect_rc, 0);
        corolink_trap t{};
        ASSERT_EQ(corolink_trap_info(co, &t), 0);
        EXPECT_EQ(t.signo, SIGSEGV);
        EXPECT_EQ(t.addr, nullptr);
        // Redirecting a coroutine that is not running is refused.
        ucontext_t uc{};
        EXPECT_EQ(corolink_trap_redirect(co, &uc, SIGSEGV, nullptr, nullptr),
                  COROLINK_EINVAL);
        corolink_destroy(co);
    }
    {
        ScopedHandler h(SIGUSR1);
        // Outside any coroutine: nothing found.
        low = LowLevel{};
        raise(SIGUSR1);
        EXPECT_EQ(low.calls, 1);
        EXPECT_EQ(low.found, nullptr);
        // Inside one, from a signal that is not a fault: found, redirected.
        corolink *co = nullptr;
        ASSERT_EQ(corolink_create(&co, raise_usr1_body, nullptr, 0), 0);
        low = LowLevel{};
        void *out = nullptr;
        EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_TRAP);
        EXPECT_EQ(as_int(out), 0x1234);
        EXPECT_EQ(low.found, co);
        corolink_trap t{};
        ASSERT_EQ(corolink_trap_info(co, &t), 0);
        EXPECT_EQ(t.signo, SIGUSR1);
        EXPECT_FALSE(t.stack_overflow);
        corolink_destroy(co);
    }
}

// ---- 9. another thread -------------------------------------------------

TEST_F(Trap, OverflowRecoveredOnThreadThatOnlyResumes) {
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, overflow_body, nullptr, 0), 0);
    int init_rc = 99, init_again = 99, rc = 0;
    std::thread th([&] {
        init_rc = corolink_trap_thread_init();
        init_again = corolink_trap_thread_init();
        rc = corolink_resume(co, nullptr, nullptr);
    });
    th.join();
    EXPECT_EQ(init_rc, 0);
    EXPECT_EQ(init_again, 0);
    EXPECT_EQ(rc, COROLINK_TRAP);
    corolink_trap t{};
    ASSERT_EQ(corolink_trap_info(co, &t), 0);
    EXPECT_TRUE(t.stack_overflow);
    corolink_destroy(co);
}

// Without an alternate stack, a fault that is not an overflow is still
// recovered (the handler runs on the coroutine's stack).
TEST_F(Trap, NullWriteRecoveredOnThreadWithoutAltStack) {
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, null_write_body, nullptr, 0), 0);
    int rc = 0, had_altstack = -1;
    std::thread th([&] {
        stack_t ss{};
        sigaltstack(nullptr, &ss);
        had_altstack = !(ss.ss_flags & SS_DISABLE);
        rc = corolink_resume(co, nullptr, nullptr);
    });
    th.join();
    EXPECT_EQ(had_altstack, 0);
    EXPECT_EQ(rc, COROLINK_TRAP);
    corolink_destroy(co);
}

// A thread that creates a coroutine gets an alternate stack at its first
// create, and recovers an overflow.
TEST_F(Trap, ThreadGetsAltStackAtFirstCreate) {
    int rc = 0, had_before = -1, has_after = -1;
    std::thread th([&] {
        stack_t ss{};
        sigaltstack(nullptr, &ss);
        had_before = !(ss.ss_flags & SS_DISABLE);
        corolink *co = nullptr;
        if (corolink_create(&co, overflow_body, nullptr, 0) != 0)
            return;
        sigaltstack(nullptr, &ss);
        // 64 KiB for the handler, above what the kernel's signal frame
        // takes (MINSIGSTKSZ: sysconf(_SC_MINSIGSTKSZ) with glibc 2.34+).
        has_after = !(ss.ss_flags & SS_DISABLE) &&
                    ss.ss_size >= 64 * 1024 + static_cast<size_t>(MINSIGSTKSZ);
        rc = corolink_resume(co, nullptr, nullptr);
        corolink_destroy(co);
    });
    th.join();
    EXPECT_EQ(had_before, 0);
    EXPECT_EQ(has_after, 1);
    EXPECT_EQ(rc, COROLINK_TRAP);
}

// ---- 11. install and errors --------------------------------------------

TEST_F(Trap, InstallIsIdempotentAndErrors) {
    EXPECT_EQ(corolink_trap_install(), 0);
    EXPECT_EQ(corolink_trap_install(), 0);
    EXPECT_EQ(corolink_trap_thread_init(), 0);
    corolink_trap t{};
    EXPECT_EQ(corolink_trap_info(nullptr, &t), COROLINK_EINVAL);
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, return_body, nullptr, 0), 0);
    EXPECT_EQ(corolink_trap_info(co, &t), COROLINK_ENOTRAP); // not started
    EXPECT_EQ(corolink_resume(co, as_ptr(3), nullptr), COROLINK_RETURN);
    EXPECT_EQ(corolink_trap_info(co, &t), COROLINK_ENOTRAP); // returned
    ucontext_t uc{};
    EXPECT_EQ(corolink_trap_redirect(nullptr, &uc, SIGSEGV, nullptr, nullptr),
              COROLINK_EINVAL);
    EXPECT_EQ(corolink_trap_redirect(co, nullptr, SIGSEGV, nullptr, nullptr),
              COROLINK_EINVAL);
    EXPECT_EQ(corolink_trap_redirect(co, &uc, SIGSEGV, nullptr, nullptr),
              COROLINK_EINVAL); // finished, not running
    corolink_destroy(co);
}

} // namespace
