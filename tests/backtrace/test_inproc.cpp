// Linked backtraces seen by glibc backtrace(), libgcc's _Unwind_Backtrace,
// a frame-pointer walk, libdw (from a tracer process) and gdb.
//
// This program is not linked with libunwind (see test_libunwind.cpp), and
// still takes glibc's and libgcc's entry points from their own libraries
// with dlopen/dlsym, so that no other definition of backtrace or
// _Unwind_Backtrace can stand in for them.
#include <dirent.h>
#include <dlfcn.h>
#ifndef BT_HAVE_LIBDW
#define BT_HAVE_LIBDW 1
#endif
#if BT_HAVE_LIBDW
#include <elfutils/libdwfl.h>
#include <libelf.h>
#endif
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <unwind.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "../common/frame_record.h"
#include "common.hpp"
#include "process.hpp"

#ifndef BT_HAVE_FP
#error "BT_HAVE_FP must be 0 or 1"
#endif
#ifndef COROLINK_TEST_EMULATED
#error "COROLINK_TEST_EMULATED must be 0 or 1 (tests/CMakeLists.txt)"
#endif

using namespace btest;

namespace {

constexpr int kMaxFrames = 256;

void *library_symbol(const char *library, const char *symbol,
                     std::string *where) {
    void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr)
        return nullptr;
    void *p = dlsym(handle, symbol);
    Dl_info info;
    if (p != nullptr && where != nullptr && dladdr(p, &info) != 0 &&
        info.dli_fname != nullptr)
        *where = info.dli_fname;
    return p; // the handle stays open for the life of the process
}

bool file_is(const std::string &path, const char *soname) {
    return path.size() >= std::strlen(soname) &&
           path.compare(path.size() - std::strlen(soname), std::string::npos,
                        soname) == 0;
}

// ---- glibc backtrace() ----------------------------------------------------

using BacktraceFn = int (*)(void **, int);
BacktraceFn g_glibc_backtrace;

extern "C" __attribute__((noinline)) void capture_glibc(
    std::vector<std::uintptr_t> &pcs) {
    void *buf[kMaxFrames];
    int n = g_glibc_backtrace(buf, kMaxFrames);
    for (int i = 0; i < n; i++)
        pcs.push_back(reinterpret_cast<std::uintptr_t>(buf[i]));
}

class Glibc : public ::testing::TestWithParam<std::string> {
  protected:
    static void SetUpTestSuite() {
        std::string where;
        g_glibc_backtrace = reinterpret_cast<BacktraceFn>(
            library_symbol("libc.so.6", "backtrace", &where));
        ASSERT_NE(g_glibc_backtrace, nullptr) << dlerror();
        ASSERT_TRUE(file_is(where, "/libc.so.6")) << where;
    }
};

TEST_P(Glibc, LeadsToResumerAndMain) {
    ASSERT_NE(g_glibc_backtrace, nullptr);
    check_in_process(GetParam(), capture_glibc);
}
INSTANTIATE_TEST_SUITE_P(All, Glibc, ::testing::ValuesIn(scenario_names()),
                         param_name);

// ---- libgcc _Unwind_Backtrace + _Unwind_GetIP -----------------------------

using UnwindBacktraceFn = _Unwind_Reason_Code (*)(_Unwind_Trace_Fn, void *);
using UnwindGetIPFn = _Unwind_Ptr (*)(struct _Unwind_Context *);
UnwindBacktraceFn g_libgcc_backtrace;
UnwindGetIPFn g_libgcc_get_ip;
#if defined(__ARM_EABI_UNWINDER__)
// ARM EHABI: _Unwind_GetIP is a macro over _Unwind_VRS_Get (r15, bit 0 the
// state), which libgcc_s exports.
#define BT_LIBGCC_GET_IP "_Unwind_VRS_Get"
using UnwindVrsGetFn = _Unwind_VRS_Result (*)(_Unwind_Context *,
                                              _Unwind_VRS_RegClass, _uw,
                                              _Unwind_VRS_DataRepresentation,
                                              void *);
_Unwind_Ptr libgcc_get_ip_arm(struct _Unwind_Context *ctx) {
    _uw pc = 0;
    reinterpret_cast<UnwindVrsGetFn>(reinterpret_cast<void *>(g_libgcc_get_ip))(
        ctx, _UVRSC_CORE, 15, _UVRSD_UINT32, &pc);
    return pc & ~static_cast<_uw>(1);
}
#define BT_LIBGCC_IP(ctx) libgcc_get_ip_arm(ctx)
#else
#define BT_LIBGCC_GET_IP "_Unwind_GetIP"
#define BT_LIBGCC_IP(ctx) g_libgcc_get_ip(ctx)
#endif

extern "C" _Unwind_Reason_Code libgcc_frame(struct _Unwind_Context *ctx,
                                            void *arg) {
    auto *pcs = static_cast<std::vector<std::uintptr_t> *>(arg);
    if (pcs->size() >= static_cast<size_t>(kMaxFrames))
        return _URC_END_OF_STACK;
    pcs->push_back(static_cast<std::uintptr_t>(BT_LIBGCC_IP(ctx)));
    return _URC_NO_REASON;
}

extern "C" __attribute__((noinline)) void capture_libgcc(
    std::vector<std::uintptr_t> &pcs) {
    g_libgcc_backtrace(libgcc_frame, &pcs);
}

class Libgcc : public ::testing::TestWithParam<std::string> {
  protected:
    static void SetUpTestSuite() {
        std::string where1, where2;
        g_libgcc_backtrace = reinterpret_cast<UnwindBacktraceFn>(
            library_symbol("libgcc_s.so.1", "_Unwind_Backtrace", &where1));
        g_libgcc_get_ip = reinterpret_cast<UnwindGetIPFn>(
            library_symbol("libgcc_s.so.1", BT_LIBGCC_GET_IP, &where2));
        ASSERT_NE(g_libgcc_backtrace, nullptr) << dlerror();
        ASSERT_NE(g_libgcc_get_ip, nullptr) << dlerror();
        ASSERT_TRUE(file_is(where1, "/libgcc_s.so.1")) << where1;
        ASSERT_TRUE(file_is(where2, "/libgcc_s.so.1")) << where2;
    }
};

TEST_P(Libgcc, LeadsToResumerAndMain) {
    ASSERT_NE(g_libgcc_backtrace, nullptr);
    check_in_process(GetParam(), capture_libgcc);
}
INSTANTIATE_TEST_SUITE_P(All, Libgcc, ::testing::ValuesIn(scenario_names()),
                         param_name);

// ---- frame-pointer walk (what perf --call-graph fp does) ------------------
//
// Runs in a child (`--bt-child fp SCENARIO`) whose main() calls the
// scenario directly: the system's gtest has no frame pointers, so in the
// test process itself the chain is broken between the test and main.

bool read_words(std::uintptr_t addr, std::uintptr_t out[2]) {
    // Reads through the kernel: an unmapped address fails (EFAULT) instead
    // of crashing the walker.
    struct iovec local = {out, 2 * sizeof(std::uintptr_t)};
    struct iovec remote = {reinterpret_cast<void *>(addr),
                           2 * sizeof(std::uintptr_t)};
    ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (n < 0 && errno == ENOSYS) {
        // qemu-user does not implement process_vm_readv: write the words
        // to a pipe instead, which checks the address just the same.
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0)
            return false;
        n = write(p[1], remote.iov_base, remote.iov_len);
        if (n == static_cast<ssize_t>(remote.iov_len))
            n = read(p[0], out, remote.iov_len);
        close(p[0]);
        close(p[1]);
    }
    return n == static_cast<ssize_t>(2 * sizeof(std::uintptr_t));
}

// A return address from a frame record, without the pointer-authentication
// code that a function built with -mbranch-protection (the library's)
// signed it with: what perf's AArch64 walker does too. XPACLRI is a hint,
// a no-op on processors without pointer authentication.
std::uintptr_t strip_pac(std::uintptr_t ra) {
#if defined(__aarch64__)
    register std::uintptr_t x30 __asm__("x30") = ra;
    __asm__("hint #7" : "+r"(x30)); // xpaclri
    return x30;
#else
    return ra;
#endif
}

extern "C" __attribute__((noinline)) void capture_fp(
    std::vector<std::uintptr_t> &pcs) {
    // Frame record: [fp] = caller's fp, [fp + 8] = return address. The walk
    // stops at a null, misaligned or unreadable fp, a null return address,
    // a record already visited (a loop), or after kMaxFrames records. It
    // does not require fp to increase: the chain crosses from one stack to
    // another, in either direction (the order_up scenario goes down), and
    // perf's kernel walker does not require it either.
    std::uintptr_t visited[kMaxFrames];
    std::uintptr_t fp =
        reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
    for (int i = 0; i < kMaxFrames; i++) {
        std::uintptr_t record[2];
        // (RISC-V: the record lies 16 bytes below the frame pointer; ARM
        // state: 4 below it.)
        if (fp == 0 || (fp & (sizeof(std::uintptr_t) - 1)) != 0 ||
            !read_words(fp + COROLINK_TEST_FP_RECORD_OFFSET, record) ||
            record[1] == 0)
            break;
        if (std::find(visited, visited + i, fp) != visited + i)
            break;
        visited[i] = fp;
        pcs.push_back(strip_pac(record[1]));
        fp = record[0];
    }
}

std::vector<std::vector<std::uintptr_t>> *g_fp_captures;

extern "C" void fp_hook(int index) {
    if (index >= static_cast<int>(g_fp_captures->size()))
        g_fp_captures->resize(index + 1);
    (*g_fp_captures)[index].reserve(kMaxFrames);
    capture_fp((*g_fp_captures)[index]);
}

int fp_child(const char *scenario) {
    const bt_scenario *s = find_scenario(scenario);
    if (s == nullptr)
        return 2;
    std::vector<std::vector<std::uintptr_t>> captures;
    g_fp_captures = &captures;
    bt_hook = fp_hook;
    int points = bt_run_scenario(s);
    bt_hook = nullptr;
    std::printf("@@POINTS %d %d %d\n", points, bt_order_observed,
                bt_stack_check);
    for (size_t i = 0; i < captures.size(); i++) {
        std::printf("@@CAPTURE %zu\n", i);
        for (const std::string &n : symbolize_return_addresses(captures[i]))
            std::printf("%s\n", n.c_str());
    }
    std::printf("@@END\n");
    return 0;
}

#if BT_HAVE_LIBDW
int libdw_core_child(const char *dir, const char *scenario, int point);
#endif

int child_main(int argc, char **argv) {
    alarm(60); // never outlive a parent that stopped reading
    if (argc == 4 && std::strcmp(argv[2], "fp") == 0) {
        int rc = fp_child(argv[3]);
        std::fflush(stdout);
        return rc;
    }
#if BT_HAVE_LIBDW
    if (argc == 6 && std::strcmp(argv[2], "libdw") == 0)
        return libdw_core_child(argv[3], argv[4], std::atoi(argv[5]));
#endif
    std::fprintf(stderr, "unknown child mode\n");
    return 2;
}

[[maybe_unused]] const bool g_child_registered = [] {
    child_main_hook = child_main;
    return true;
}();

class FramePointer : public ::testing::TestWithParam<std::string> {};

TEST_P(FramePointer, LeadsToResumerAndMain) {
    if (!BT_HAVE_FP)
        GTEST_SKIP() << "built without frame pointers";
    const std::string scenario = GetParam();
    const Expected &e = expectation(scenario);
    ProgramResult r =
        run_program(self_command({"--bt-child", "fp", scenario}), false, 60);
    ASSERT_TRUE(r.started);
    ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)
        << describe_status(r.status) << "\n" << r.output;
    std::istringstream in(r.output);
    std::string line;
    int points = -1, order = 0, stack_check = 0;
    std::vector<Names> captures;
    bool end = false;
    while (std::getline(in, line)) {
        if (line.rfind("@@POINTS ", 0) == 0) {
            std::sscanf(line.c_str(), "@@POINTS %d %d %d", &points, &order,
                        &stack_check);
        } else if (line.rfind("@@CAPTURE ", 0) == 0) {
            captures.emplace_back();
        } else if (line == "@@END") {
            end = true;
        } else if (!captures.empty()) {
            captures.back().push_back(line);
        }
    }
    ASSERT_TRUE(end) << r.output;
    EXPECT_EQ(points, find_scenario(scenario)->points);
    check_observations(e, order, stack_check);
    ASSERT_EQ(captures.size(), e.points.size()) << r.output;
    for (size_t i = 0; i < captures.size(); i++)
        EXPECT_TRUE(frames_match(captures[i], e.points[i], e.absent[i]))
            << "scenario " << scenario << ", point " << i;
}
INSTANTIATE_TEST_SUITE_P(All, FramePointer,
                         ::testing::ValuesIn(scenario_names()), param_name);

// ---- libdw, from a tracer process -----------------------------------------
#if BT_HAVE_LIBDW // (not on RISC-V 64: Debian 12 has no libdw for it)
//
// The test forks; the child runs the scenario and stops at one bt_point().
// Natively it stops itself with raise(SIGSTOP); the parent waits for the
// stop, lets libdw attach to the stopped child (dwfl_linux_proc_attach,
// which PTRACE_ATTACHes and, seeing the process already stopped, makes sure
// a SIGSTOP is pending so that its own waitpid returns), unwinds it with
// dwfl_getthread_frames, then kills and reaps the child.
//
// Under the emulator (qemu-user) no process can ptrace the guest, so the
// child (this program again, through qemu) kills itself with SIGQUIT at
// the point instead, in a private directory, and qemu writes an ELF core
// of the guest there (qemu_<program>_<time>_<pid>.core); the parent
// unwinds that core with libdw (dwfl_core_file_report,
// dwfl_core_file_attach, dwfl_thread_getframes): the same unwinder, on the
// registers and memory of the child at the point. Every wait is bounded by
// a watchdog that SIGKILLs the child.

struct ChildReport {
    int order;
    int stack_check;
};

int g_libdw_target;
int g_libdw_report_fd;
int g_libdw_stop_signal;

#if defined(__arm__)
// ARM32: Debian's armhf libc.so.6 carries no DWARF CFI (only EHABI
// tables, which libdw does not read), so in a core taken inside raise()
// libdw's walk ends at once. The child signals itself from a function of
// its own instead, with CFI (ARM state, sp-based rows: r7 holds the system
// call's number there): tgkill(pid, tid, sig).
extern "C" void bt_libdw_tgkill(int pid, int tid, int sig);
#if defined(__thumb__)
#define BT_BACK_TO_THUMB ".thumb\n"
#else
#define BT_BACK_TO_THUMB
#endif
__asm__(".pushsection .text.bt_libdw_tgkill,\"ax\",%progbits\n"
        ".arm\n"
        ".p2align 2\n"
        ".globl bt_libdw_tgkill\n"
        ".type bt_libdw_tgkill, %function\n"
        "bt_libdw_tgkill:\n"
        "    .cfi_startproc\n"
        "    push {r7, lr}\n"
        "    .cfi_def_cfa_offset 8\n"
        "    .cfi_offset r7, -8\n"
        "    .cfi_offset lr, -4\n"
        "    mov r7, #268\n" // __NR_tgkill (EABI)
        "    svc #0\n"
        "    pop {r7, pc}\n"
        "    .cfi_endproc\n"
        ".size bt_libdw_tgkill, .-bt_libdw_tgkill\n"
        ".popsection\n" BT_BACK_TO_THUMB);
#endif

extern "C" void libdw_child_hook(int index) {
    if (index != g_libdw_target)
        return;
    ChildReport report = {bt_order_observed, bt_stack_check};
    if (write(g_libdw_report_fd, &report, sizeof report) != sizeof report)
        _exit(4);
#if defined(__arm__)
    bt_libdw_tgkill(getpid(), gettid(), g_libdw_stop_signal);
#else
    raise(g_libdw_stop_signal);
#endif
}

struct FrameWalk {
    Dwfl *dwfl;
    Names names;
};

extern "C" int libdw_frame(Dwfl_Frame *frame, void *arg) {
    auto *walk = static_cast<FrameWalk *>(arg);
    Dwarf_Addr pc;
    bool activation;
    if (!dwfl_frame_pc(frame, &pc, &activation)) {
        walk->names.push_back(std::string("<no pc: ") + dwfl_errmsg(-1) +
                              ">");
        return DWARF_CB_ABORT;
    }
    // A return address is looked up inside the call (pc - 1), except in
    // the innermost frame and after a signal frame ("activation").
    Dwarf_Addr lookup = activation ? pc : pc - 1;
    Dwfl_Module *mod = dwfl_addrmodule(walk->dwfl, lookup);
    const char *name = mod ? dwfl_module_addrname(mod, lookup) : nullptr;
    std::string n = name ? name : "??";
    size_t at = n.find('@'); // versioned: raise@@GLIBC_2.2.5
    if (at != std::string::npos && at > 0)
        n.resize(at);
    walk->names.push_back(n);
    return walk->names.size() >= static_cast<size_t>(kMaxFrames)
               ? DWARF_CB_ABORT
               : DWARF_CB_OK;
}

class Libdw : public ::testing::TestWithParam<std::string> {
  protected:
    static void SetUpTestSuite() {
        // No network lookups from dwfl_standard_find_debuginfo.
        unsetenv("DEBUGINFOD_URLS");
    }
};

struct DwflEnd {
    Dwfl *d;
    ~DwflEnd() { dwfl_end(d); } // detaches from a live child; it stays stopped
};

// Natively: libdw attaches to the stopped child `pid` and walks its stack.
void libdw_walk_live(pid_t pid, FrameWalk &walk, DwflEnd &end,
                     std::string &unwind_end) {
    static const Dwfl_Callbacks callbacks = {
        dwfl_linux_proc_find_elf, dwfl_standard_find_debuginfo, nullptr,
        nullptr};
    walk.dwfl = end.d = dwfl_begin(&callbacks);
    ASSERT_NE(walk.dwfl, nullptr) << dwfl_errmsg(-1);
    ASSERT_EQ(dwfl_linux_proc_report(walk.dwfl, pid), 0) << dwfl_errmsg(-1);
    ASSERT_EQ(dwfl_report_end(walk.dwfl, nullptr, nullptr), 0)
        << dwfl_errmsg(-1);
    ASSERT_EQ(dwfl_linux_proc_attach(walk.dwfl, pid, false), 0)
        << dwfl_errmsg(-1);
    int rc = dwfl_getthread_frames(walk.dwfl, pid, libdw_frame, &walk);
    unwind_end = rc == 0 ? "end of stack" : dwfl_errmsg(-1);
}

// A private directory for qemu's core of a child, and everything in it
// removed on the way out. Holds an empty directory "core": with
// kernel.core_pattern "core" the kernel cannot dump qemu itself there.
struct CoreDir {
    std::string path;
    CoreDir() {
        char tmpl[] = "/tmp/corolink-bt-core-XXXXXX";
        if (mkdtemp(tmpl) == nullptr)
            return;
        path = tmpl;
        mkdir((path + "/core").c_str(), 0700);
    }
    ~CoreDir() {
        if (path.empty())
            return;
        if (DIR *d = opendir(path.c_str())) {
            while (struct dirent *e = readdir(d))
                if (std::strcmp(e->d_name, ".") != 0 &&
                    std::strcmp(e->d_name, "..") != 0 &&
                    std::strcmp(e->d_name, "core") != 0)
                    unlink((path + "/" + e->d_name).c_str());
            closedir(d);
        }
        rmdir((path + "/core").c_str());
        rmdir(path.c_str());
    }
    // The core qemu wrote here ("qemu_<program>_<time>_<pid>.core"), or
    // "" if there is none.
    std::string core_of() const {
        std::string found;
        if (DIR *d = opendir(path.c_str())) {
            while (struct dirent *e = readdir(d)) {
                std::string n = e->d_name;
                if (n.rfind("qemu_", 0) == 0 && n.size() > 5 &&
                    n.compare(n.size() - 5, 5, ".core") == 0)
                    found = path + "/" + n;
            }
            closedir(d);
        }
        return found;
    }
};

// Under the emulator: libdw walks the stack of the one thread in a core.
void libdw_walk_core(const std::string &core_path, FrameWalk &walk,
                     std::string &unwind_end) {
    static const Dwfl_Callbacks callbacks = {
        dwfl_build_id_find_elf, dwfl_standard_find_debuginfo, nullptr,
        nullptr};
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ASSERT_GT(n, 0) << std::strerror(errno);
    exe[n] = '\0'; // the child's program: ours
    elf_version(EV_CURRENT);
    int fd = open(core_path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << core_path << ": " << std::strerror(errno);
    struct CoreElf {
        int fd;
        Elf *elf;
        ~CoreElf() {
            if (elf != nullptr)
                elf_end(elf);
            close(fd);
        }
    } core{fd, elf_begin(fd, ELF_C_READ_MMAP, nullptr)};
    ASSERT_NE(core.elf, nullptr) << elf_errmsg(-1);
    walk.dwfl = dwfl_begin(&callbacks);
    DwflEnd end{walk.dwfl}; // ends before the core's Elf
    ASSERT_NE(walk.dwfl, nullptr) << dwfl_errmsg(-1);
    dwfl_report_begin(walk.dwfl);
    ASSERT_GT(dwfl_core_file_report(walk.dwfl, core.elf, exe), 0)
        << core_path << ": " << dwfl_errmsg(-1);
    ASSERT_EQ(dwfl_report_end(walk.dwfl, nullptr, nullptr), 0)
        << dwfl_errmsg(-1);
    ASSERT_GT(dwfl_core_file_attach(walk.dwfl, core.elf), 0)
        << core_path << ": " << dwfl_errmsg(-1);
    // The child had one thread: walk it, whatever number the core gives it.
    struct Threads {
        FrameWalk *walk;
        int count = 0;
        int rc = -1;
    } threads{&walk};
    dwfl_getthreads(
        walk.dwfl,
        [](Dwfl_Thread *thread, void *arg) -> int {
            auto *t = static_cast<Threads *>(arg);
            if (t->count++ == 0)
                t->rc = dwfl_thread_getframes(thread, libdw_frame, t->walk);
            return DWARF_CB_OK;
        },
        &threads);
    ASSERT_EQ(threads.count, 1) << core_path << ": threads in the core";
    unwind_end = threads.rc == 0 ? "end of stack" : dwfl_errmsg(-1);
}

// Natively: a forked child stops at the point, libdw attaches to it.
void libdw_point_live(const bt_scenario *s, int point, const Expected &e,
                      FrameWalk &walk, DwflEnd &end, std::string &unwind_end) {
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    std::fflush(nullptr);
    pid_t pid = fork();
    ASSERT_GE(pid, 0) << std::strerror(errno);
    if (pid == 0) {
        close(fds[0]);
        alarm(60); // pending while stopped; ends a child that runs away
        g_libdw_target = point;
        g_libdw_report_fd = fds[1];
        g_libdw_stop_signal = SIGSTOP;
        bt_hook = libdw_child_hook;
        bt_run_scenario(s);
        _exit(3); // never stopped at the point
    }
    close(fds[1]);
    ChildGuard guard(pid);
    Watchdog watchdog(pid, 30);

    int status = 0;
    ASSERT_EQ(wait_child(pid, &status, WUNTRACED), pid)
        << std::strerror(errno);
    if (!WIFSTOPPED(status))
        guard.reaped();
    ASSERT_TRUE(WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP)
        << "child " << describe_status(status);
    ChildReport report;
    ASSERT_EQ(read(fds[0], &report, sizeof report),
              static_cast<ssize_t>(sizeof report));
    close(fds[0]);
    check_observations(e, report.order, report.stack_check);
    libdw_walk_live(pid, walk, end, unwind_end);
    EXPECT_FALSE(watchdog.fired()) << "libdw did not finish in time";
}

// Under the emulator: the child is this program again, through qemu
// (`--bt-child libdw DIR SCENARIO POINT`): it writes its report to stdout
// and dies of SIGQUIT at the point in DIR, where qemu writes its core.
// Its CPU has no pointer authentication: qemu's cores carry no PAC mask
// note, and libdw (0.188) strips no signed return address, so it would
// lose the chain at the library's signing frames (corolink__call_on, the
// out-of-line switch), as gdb does (gdb/README.md, "Limits").
void libdw_point_core(const bt_scenario *s, int point, const Expected &e,
                      FrameWalk &walk, std::string &unwind_end) {
    CoreDir dir;
    ASSERT_FALSE(dir.path.empty()) << std::strerror(errno);
    struct rlimit core_limit;
    ASSERT_EQ(getrlimit(RLIMIT_CORE, &core_limit), 0);
    ASSERT_NE(core_limit.rlim_max, 0u)
        << "RLIMIT_CORE's hard limit is 0: qemu cannot write the core";
    ProgramResult r = run_program(
        self_command({"--bt-child", "libdw", dir.path, s->name,
                      std::to_string(point)},
                     false),
        false, 60);
    ASSERT_TRUE(r.started);
    ASSERT_TRUE(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGQUIT)
        << "child " << describe_status(r.status) << "\n" << r.output;
    ChildReport report;
    ASSERT_EQ(r.output.size(), sizeof report) << r.output;
    std::memcpy(&report, r.output.data(), sizeof report);
    check_observations(e, report.order, report.stack_check);
    std::string core = dir.core_of();
    ASSERT_FALSE(core.empty()) << "qemu wrote no core in " << dir.path;
    libdw_walk_core(core, walk, unwind_end);
}

int libdw_core_child(const char *dir, const char *scenario, int point) {
    const bt_scenario *s = find_scenario(scenario);
    struct rlimit core_limit;
    if (s == nullptr || chdir(dir) != 0 ||
        getrlimit(RLIMIT_CORE, &core_limit) != 0)
        return 2;
    core_limit.rlim_cur = core_limit.rlim_max;
    if (setrlimit(RLIMIT_CORE, &core_limit) != 0)
        return 2;
    g_libdw_target = point;
    g_libdw_report_fd = STDOUT_FILENO;
    g_libdw_stop_signal = SIGQUIT;
    bt_hook = libdw_child_hook;
    bt_run_scenario(s);
    return 3; // never stopped at the point
}

void libdw_point(const std::string &scenario, int point) {
    SCOPED_TRACE("scenario " + scenario + ", point " + std::to_string(point));
    const Expected &e = expectation(scenario);
    const bt_scenario *s = find_scenario(scenario);
    ASSERT_NE(s, nullptr);
    FrameWalk walk{nullptr, {}};
    DwflEnd end{nullptr};
    std::string unwind_end;
    if (COROLINK_TEST_EMULATED)
        libdw_point_core(s, point, e, walk, unwind_end);
    else
        libdw_point_live(s, point, e, walk, end, unwind_end);
    if (::testing::Test::HasFatalFailure())
        return;
    EXPECT_TRUE(frames_match(walk.names, e.points[point], e.absent[point]))
        << "(libdw stopped with: " << unwind_end << ")";
}

TEST_P(Libdw, LeadsToResumerAndMain) {
    const bt_scenario *s = find_scenario(GetParam());
    ASSERT_NE(s, nullptr);
    for (int point = 0; point < s->points; point++)
        libdw_point(GetParam(), point);
}
INSTANTIATE_TEST_SUITE_P(All, Libdw, ::testing::ValuesIn(scenario_names()),
                         param_name);
#endif // BT_HAVE_LIBDW

// ---- gdb ------------------------------------------------------------------
//
// One gdb session for all scenarios: the helper program runs every
// scenario in table order, gdb stops at each bt_point, prints the scenario
// and the stack order it observed, and shows `bt`. Natively gdb runs the
// helper (`run`); under the emulator (qemu-user, which gdb cannot ptrace
// as the guest) gdb-multiarch connects to qemu's gdb stub, as tests/gdb's
// qemu_live does: qemu -g PORT runs the helper, stopped before its first
// instruction, gdb retries the connection until the stub listens (tcp
// connect-timeout), finds the target's libraries on the host (multiarch:
// sysroot /) and `continue`s instead of `run`. qemu's CPU there has no
// pointer authentication: qemu 7.2's stub does not describe it to gdb, so
// gdb could not strip the return addresses that the library's frames sign
// (corolink__call_on, the out-of-line switch) and would stop there
// (gdb/README.md, "Limits").

struct GdbBlock {
    std::string tag;
    int order = 0;
    std::string text;
    Names frames;
};

struct GdbSession {
    ProgramResult result;
    std::string stub_status; // under the emulator: how qemu ended
    std::vector<GdbBlock> blocks;
};

std::string gdb_frame_name(const std::string &line) {
    // "#3  0x00005555 in name (...) at file:line", "#0  name (...) at ...",
    // "#4  <signal handler called>"
    size_t p = line.find_first_of(' ');
    if (p == std::string::npos)
        return "??";
    p = line.find_first_not_of(' ', p);
    if (p == std::string::npos)
        return "??";
    std::string rest = line.substr(p);
    if (rest.rfind("0x", 0) == 0) {
        size_t in = rest.find(" in ");
        if (in == std::string::npos)
            return "??";
        rest = rest.substr(in + 4);
    }
    if (!rest.empty() && rest[0] == '<')
        return rest.substr(0, rest.find('>') + 1);
    std::string name = rest.substr(0, rest.find(' '));
    // gdb decodes a symbol without debug information (the AArch64 build's
    // Release library) as an Ada name, "__" as ".": corolink.ontop is
    // corolink__ontop.
    if (name.rfind("corolink.", 0) == 0)
        name = "corolink__" + name.substr(9);
    return name;
}

const GdbSession &gdb_session() {
    static GdbSession session = [] {
        GdbSession s;
        int total = 0;
        for (int i = 0; i < bt_scenario_count; i++)
            total += bt_scenarios[i].points;
        const bool emulated = COROLINK_TEST_EMULATED;
        std::vector<std::string> argv = {
            BT_GDB_EXECUTABLE, "-nx", "-batch",
            "-iex", "set debuginfod enabled off",
            // On an internal error: stop, and leave no core file behind.
            "-iex", "maint set internal-error quit yes",
            "-iex", "maint set internal-error corefile no",
            "-ex", "set pagination off",
            "-ex", "set width 0",
            "-ex", "set print frame-arguments none",
            "-ex", "set print entry-values no"};
        pid_t stub = -1;
        if (emulated) {
            int port = free_tcp_port();
            std::vector<std::string> qemu = emulator_command(false);
            qemu.insert(qemu.end(),
                        {"-g", std::to_string(port), BT_GDB_HELPER});
            if (port != 0)
                stub = start_program(qemu);
#ifdef BT_GDB_TDESC
            // qemu-i386: its register description with gdb's GNU/Linux
            // feature, without which gdb loads no shared library
            // (gdb/i386-linux-qemu.xml)
            argv.insert(argv.end(),
                        {"-iex", "set tdesc filename " BT_GDB_TDESC});
#endif
            argv.insert(argv.end(),
                        {"-iex", "set sysroot /",
                         "-iex", "set solib-search-path " BT_LIBRARY_DIR,
                         "-iex", "set tcp connect-timeout 60",
                         "-ex", "target remote 127.0.0.1:" +
                                    std::to_string(port),
                         "-ex", "break bt_point", "-ex", "continue"});
        } else {
            argv.insert(argv.end(), {"-ex", "break bt_point", "-ex", "run"});
        }
        ChildGuard stub_guard(stub);
        for (int i = 0; i < total; i++) {
            argv.insert(argv.end(),
                        {"-ex",
                         "printf \"@@BT %s %d\\n\", *(char **)&bt_gdb_tag, "
                         "*(int *)&bt_order_observed",
                         "-ex", "bt", "-ex", "continue"});
        }
        argv.push_back(BT_GDB_HELPER);
        s.result = run_program(argv, true, 90,
                               {"DEBUGINFOD_URLS", "LC_ALL=C"});
        if (emulated && stub < 0) {
            s.stub_status = "qemu's gdb stub did not start (no free port, "
                            "or fork failed)";
        } else if (emulated) {
            // The helper exited under gdb, or gdb killed it on the way out.
            Watchdog watchdog(stub, 30);
            int status = 0;
            if (wait_child(stub, &status, 0) == stub) {
                stub_guard.reaped();
                s.stub_status = describe_status(status);
            }
            if (watchdog.fired())
                s.stub_status += " (killed by the test's watchdog)";
        }
        std::istringstream in(s.result.output);
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("@@BT ", 0) == 0) {
                GdbBlock b;
                char tag[64] = "";
                std::sscanf(line.c_str(), "@@BT %63s %d", tag, &b.order);
                b.tag = tag;
                s.blocks.push_back(b);
            } else if (!s.blocks.empty()) {
                s.blocks.back().text += line + "\n";
                if (line.size() > 1 && line[0] == '#' &&
                    std::isdigit(static_cast<unsigned char>(line[1])))
                    s.blocks.back().frames.push_back(gdb_frame_name(line));
            }
        }
        return s;
    }();
    return session;
}

TEST(GdbSession, RanEveryScenario) {
    const GdbSession &s = gdb_session();
    ASSERT_TRUE(s.result.started);
    EXPECT_NE(s.result.output.find("exited normally"), std::string::npos)
        << s.result.output;
    if (COROLINK_TEST_EMULATED) {
        EXPECT_EQ(s.stub_status, "exited with 0") << s.result.output;
    }
    int total = 0;
    for (int i = 0; i < bt_scenario_count; i++)
        total += bt_scenarios[i].points;
    EXPECT_EQ(static_cast<int>(s.blocks.size()), total) << s.result.output;
    for (const char *bad : {"previous frame inner to this frame",
                            "corrupt stack", "Backtrace stopped",
                            "internal-error"})
        EXPECT_EQ(s.result.output.find(bad), std::string::npos)
            << bad << " in:\n" << s.result.output;
}

class Gdb : public ::testing::TestWithParam<std::string> {};

TEST_P(Gdb, LeadsToResumerAndMain) {
    const std::string scenario = GetParam();
    const Expected &e = expectation(scenario);
    const GdbSession &s = gdb_session();
    std::vector<const GdbBlock *> mine;
    for (const GdbBlock &b : s.blocks)
        if (b.tag == scenario)
            mine.push_back(&b);
    ASSERT_EQ(mine.size(), e.points.size()) << s.result.output;
    for (size_t i = 0; i < mine.size(); i++) {
        SCOPED_TRACE("scenario " + scenario + ", point " + std::to_string(i));
        const GdbBlock &b = *mine[i];
        if (e.order != 0) {
            EXPECT_EQ(b.order, e.order)
                << "the inner coroutine's stack was not on the intended side";
        }
        EXPECT_TRUE(frames_match(b.frames, e.points[i], e.absent[i], true))
            << b.text;
        for (const char *bad : {"previous frame inner to this frame",
                                "corrupt stack", "Backtrace stopped"})
            EXPECT_EQ(b.text.find(bad), std::string::npos) << b.text;
    }
}
INSTANTIATE_TEST_SUITE_P(All, Gdb, ::testing::ValuesIn(scenario_names()),
                         param_name);

} // namespace
