// Linked backtraces seen by glibc backtrace(), libgcc's _Unwind_Backtrace,
// a frame-pointer walk, libdw (from a tracer process) and gdb.
//
// This program is not linked with libunwind (see test_libunwind.cpp), and
// still takes glibc's and libgcc's entry points from their own libraries
// with dlopen/dlsym, so that no other definition of backtrace or
// _Unwind_Backtrace can stand in for them.
#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <signal.h>
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

#include "common.hpp"
#include "process.hpp"

#ifndef BT_HAVE_FP
#error "BT_HAVE_FP must be 0 or 1"
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

extern "C" _Unwind_Reason_Code libgcc_frame(struct _Unwind_Context *ctx,
                                            void *arg) {
    auto *pcs = static_cast<std::vector<std::uintptr_t> *>(arg);
    if (pcs->size() >= static_cast<size_t>(kMaxFrames))
        return _URC_END_OF_STACK;
    pcs->push_back(static_cast<std::uintptr_t>(g_libgcc_get_ip(ctx)));
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
            library_symbol("libgcc_s.so.1", "_Unwind_GetIP", &where2));
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
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) ==
           static_cast<ssize_t>(2 * sizeof(std::uintptr_t));
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
        if (fp == 0 || (fp & 7) != 0 || !read_words(fp, record) ||
            record[1] == 0)
            break;
        if (std::find(visited, visited + i, fp) != visited + i)
            break;
        visited[i] = fp;
        pcs.push_back(record[1]);
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

int child_main(int argc, char **argv) {
    alarm(60); // never outlive a parent that stopped reading
    if (argc == 4 && std::strcmp(argv[2], "fp") == 0) {
        int rc = fp_child(argv[3]);
        std::fflush(stdout);
        return rc;
    }
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
    ProgramResult r = run_program(
        {"/proc/self/exe", "--bt-child", "fp", scenario}, false, 60);
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
//
// The test forks; the child runs the scenario and stops itself with
// raise(SIGSTOP) at one bt_point(); the parent waits for the stop, lets
// libdw attach to the stopped child (dwfl_linux_proc_attach, which
// PTRACE_ATTACHes and, seeing the process already stopped, makes sure a
// SIGSTOP is pending so that its own waitpid returns), unwinds it with
// dwfl_getthread_frames, then kills and reaps the child. Every wait is
// bounded by a watchdog that SIGKILLs the child.

struct ChildReport {
    int order;
    int stack_check;
};

int g_libdw_target;
int g_libdw_report_fd;

extern "C" void libdw_child_hook(int index) {
    if (index != g_libdw_target)
        return;
    ChildReport report = {bt_order_observed, bt_stack_check};
    if (write(g_libdw_report_fd, &report, sizeof report) != sizeof report)
        _exit(4);
    raise(SIGSTOP);
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

void libdw_point(const std::string &scenario, int point) {
    SCOPED_TRACE("scenario " + scenario + ", point " + std::to_string(point));
    const Expected &e = expectation(scenario);
    const bt_scenario *s = find_scenario(scenario);
    ASSERT_NE(s, nullptr);
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

    static const Dwfl_Callbacks callbacks = {
        dwfl_linux_proc_find_elf, dwfl_standard_find_debuginfo, nullptr,
        nullptr};
    FrameWalk walk{dwfl_begin(&callbacks), {}};
    ASSERT_NE(walk.dwfl, nullptr) << dwfl_errmsg(-1);
    struct DwflEnd {
        Dwfl *d;
        ~DwflEnd() { dwfl_end(d); } // detaches; the child stays stopped
    } end{walk.dwfl};
    ASSERT_EQ(dwfl_linux_proc_report(walk.dwfl, pid), 0) << dwfl_errmsg(-1);
    ASSERT_EQ(dwfl_report_end(walk.dwfl, nullptr, nullptr), 0)
        << dwfl_errmsg(-1);
    ASSERT_EQ(dwfl_linux_proc_attach(walk.dwfl, pid, false), 0)
        << dwfl_errmsg(-1);
    int rc = dwfl_getthread_frames(walk.dwfl, pid, libdw_frame, &walk);
    std::string unwind_end = rc == 0 ? "end of stack" : dwfl_errmsg(-1);
    EXPECT_FALSE(watchdog.fired()) << "libdw did not finish in time";
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

// ---- gdb ------------------------------------------------------------------
//
// One gdb session for all scenarios: the helper program runs every
// scenario in table order, gdb stops at each bt_point, prints the scenario
// and the stack order it observed, and shows `bt`.

struct GdbBlock {
    std::string tag;
    int order = 0;
    std::string text;
    Names frames;
};

struct GdbSession {
    ProgramResult result;
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
    return rest.substr(0, rest.find(' '));
}

const GdbSession &gdb_session() {
    static GdbSession session = [] {
        GdbSession s;
        int total = 0;
        for (int i = 0; i < bt_scenario_count; i++)
            total += bt_scenarios[i].points;
        std::vector<std::string> argv = {
            BT_GDB_EXECUTABLE, "-nx", "-batch",
            "-iex", "set debuginfod enabled off",
            // On an internal error: stop, and leave no core file behind.
            "-iex", "maint set internal-error quit yes",
            "-iex", "maint set internal-error corefile no",
            "-ex", "set pagination off",
            "-ex", "set width 0",
            "-ex", "set print frame-arguments none",
            "-ex", "set print entry-values no",
            "-ex", "break bt_point",
            "-ex", "run"};
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
