#include "process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

ProgramResult run_program(const std::vector<std::string> &argv,
                          bool merge_stderr, unsigned timeout_seconds,
                          const std::vector<std::string> &env_overrides) {
    ProgramResult result;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return result;
    std::vector<char *> args;
    for (const std::string &a : argv)
        args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return result;
    }
    if (pid == 0) {
        setpgid(0, 0); // a group of its own, killed as a whole on timeout
        dup2(fds[1], STDOUT_FILENO);
        if (merge_stderr)
            dup2(fds[1], STDERR_FILENO);
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
