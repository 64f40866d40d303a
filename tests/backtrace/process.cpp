#include "process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifndef BT_EMULATOR
#error "BT_EMULATOR must be a string: the emulator's words joined by |"
#endif

namespace btest {

namespace {
volatile sig_atomic_t g_watch_pid = 0;
volatile sig_atomic_t g_watch_fired = 0;
struct sigaction g_old_alarm;

extern "C" void watchdog_alarm(int) {
    if (g_watch_pid > 0) {
        g_watch_fired = 1;
        // The child's process group too, if it leads one (run_program):
        // nothing it started may keep running or hold our pipe open.
        kill(-static_cast<pid_t>(g_watch_pid), SIGKILL);
        kill(static_cast<pid_t>(g_watch_pid), SIGKILL);
    }
}
} // namespace

Watchdog::Watchdog(pid_t pid, unsigned seconds) {
    g_watch_pid = pid;
    g_watch_fired = 0;
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = watchdog_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: interrupt blocking waits
    sigaction(SIGALRM, &sa, &g_old_alarm);
    alarm(seconds);
}

Watchdog::~Watchdog() {
    alarm(0);
    sigaction(SIGALRM, &g_old_alarm, nullptr);
    g_watch_pid = 0;
}

bool Watchdog::fired() const { return g_watch_fired != 0; }

ChildGuard::~ChildGuard() {
    if (pid_ <= 0)
        return;
    kill(-pid_, SIGKILL); // its process group, if it leads one
    kill(pid_, SIGKILL);
    int status;
    // SIGKILL ends any process, traced or stopped: this wait is short.
    while (waitpid(pid_, &status, __WALL) < 0 && errno == EINTR) {
    }
}

pid_t wait_child(pid_t pid, int *status, int options) {
    for (;;) {
        pid_t r = waitpid(pid, status, options);
        if (r >= 0 || errno != EINTR)
            return r;
        if (g_watch_fired) {
            // The child was killed: collect it.
            r = waitpid(pid, status, options & ~WNOHANG);
            if (r >= 0 || errno != EINTR)
                return r;
        }
    }
}

std::string describe_status(int status) {
    char buf[96];
    if (WIFEXITED(status))
        std::snprintf(buf, sizeof buf, "exited with %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        std::snprintf(buf, sizeof buf, "killed by signal %d (%s)",
                      WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WIFSTOPPED(status))
        std::snprintf(buf, sizeof buf, "stopped by signal %d (%s)",
                      WSTOPSIG(status), strsignal(WSTOPSIG(status)));
    else
        std::snprintf(buf, sizeof buf, "status 0x%x", status);
    return buf;
}

std::vector<std::string> emulator_command(bool pauth) {
    std::vector<std::string> words;
    std::string all = BT_EMULATOR;
    size_t start = 0;
    while (!all.empty()) {
        size_t bar = all.find('|', start);
        words.push_back(all.substr(start, bar - start));
        if (bar == std::string::npos)
            break;
        start = bar + 1;
    }
#if defined(__aarch64__) // (the other targets have no pointer authentication)
    if (!pauth && !words.empty()) {
        auto cpu = std::find(words.begin(), words.end(), "-cpu");
        if (cpu != words.end() && cpu + 1 != words.end())
            cpu[1] += ",pauth=off";
        else
            words.insert(words.begin() + 1, {"-cpu", "max,pauth=off"});
    }
#else
    (void)pauth;
#endif
    return words;
}

std::vector<std::string> self_command(const std::vector<std::string> &args,
                                      bool pauth) {
    std::vector<std::string> argv = emulator_command(pauth);
    if (argv.empty()) {
        argv.push_back("/proc/self/exe");
    } else {
        // qemu-user shows the guest its program's path here.
        char path[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        argv.push_back(n > 0 ? std::string(path, static_cast<size_t>(n))
                             : std::string("/proc/self/exe"));
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

namespace {
std::vector<char *> c_argv(const std::vector<std::string> &argv) {
    std::vector<char *> args;
    for (const std::string &a : argv)
        args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    return args;
}

// In a forked child: a process group of its own (killed as a whole on
// timeout), stdin from /dev/null, stdout (and stderr if merged) to out_fd
// unless it is -1, the environment changed; then execv.
[[noreturn]] void exec_child(std::vector<char *> &args, int out_fd,
                             bool merge_stderr,
                             const std::vector<std::string> &env_overrides) {
    setpgid(0, 0);
    if (out_fd >= 0) {
        dup2(out_fd, STDOUT_FILENO);
        if (merge_stderr)
            dup2(out_fd, STDERR_FILENO);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, STDIN_FILENO);
    for (const std::string &e : env_overrides) {
        size_t eq = e.find('=');
        if (eq == std::string::npos)
            unsetenv(e.c_str());
        else
            setenv(e.substr(0, eq).c_str(), e.c_str() + eq + 1, 1);
    }
    execv(args[0], args.data());
    std::fprintf(stderr, "execv %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
}
} // namespace

pid_t start_program(const std::vector<std::string> &argv) {
    std::vector<char *> args = c_argv(argv);
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0)
        exec_child(args, -1, false, {});
    return pid;
}

int free_tcp_port() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a;
    std::memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (bind(fd, reinterpret_cast<struct sockaddr *>(&a), sizeof a) == 0 &&
        getsockname(fd, reinterpret_cast<struct sockaddr *>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

ProgramResult run_program(const std::vector<std::string> &argv,
                          bool merge_stderr, unsigned timeout_seconds,
                          const std::vector<std::string> &env_overrides) {
    ProgramResult result;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return result;
    std::vector<char *> args = c_argv(argv);
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return result;
    }
    if (pid == 0)
        exec_child(args, fds[1], merge_stderr, env_overrides);
    close(fds[1]);
    result.started = true;
    ChildGuard guard(pid);
    Watchdog watchdog(pid, timeout_seconds);
    char buf[4096];
    for (;;) {
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n > 0) {
            result.output.append(buf, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue; // the watchdog may have killed it: read on to EOF
        break;
    }
    close(fds[0]);
    if (wait_child(pid, &result.status, 0) == pid)
        guard.reaped();
    if (watchdog.fired())
        result.output += "\n[killed by the test's watchdog]\n";
    return result;
}

} // namespace btest
