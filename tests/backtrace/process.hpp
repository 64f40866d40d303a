// Child processes for the out-of-process suites: run a program and collect
// its output, kill and reap a child whatever happens, bound every wait.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace btest {

struct ProgramResult {
    bool started = false;
    int status = 0;     // waitpid() status
    std::string output; // stdout (and stderr if merged)
};

// Runs argv[0] with the given arguments, environment `env_overrides`
// ("NAME=value" or "NAME" to unset) applied on top of ours, and returns
// what it wrote. The program is killed if it has not finished after
// `timeout_seconds`.
ProgramResult run_program(const std::vector<std::string> &argv,
                          bool merge_stderr, unsigned timeout_seconds,
                          const std::vector<std::string> &env_overrides = {});

// While alive, SIGKILLs `pid` if it has not been disarmed within
// `seconds` (SIGALRM; installed without SA_RESTART, so that a blocked
// waitpid() in this process returns as well). One at a time.
class Watchdog {
  public:
    Watchdog(pid_t pid, unsigned seconds);
    ~Watchdog();
    bool fired() const;
    Watchdog(const Watchdog &) = delete;
    Watchdog &operator=(const Watchdog &) = delete;
};

// Kills (SIGKILL) and reaps a child when it goes out of scope, unless it
// has been reaped already.
class ChildGuard {
  public:
    explicit ChildGuard(pid_t pid) : pid_(pid) {}
    ~ChildGuard();
    // Marks the child reaped by the caller.
    void reaped() { pid_ = -1; }
    ChildGuard(const ChildGuard &) = delete;
    ChildGuard &operator=(const ChildGuard &) = delete;

  private:
    pid_t pid_;
};

// waitpid() retried on EINTR unless the watchdog fired; returns its result.
pid_t wait_child(pid_t pid, int *status, int options);

std::string describe_status(int status);

// The emulator that runs this program (cross builds: qemu-user, the words
// of CMAKE_CROSSCOMPILING_EMULATOR), or nothing when it runs natively.
// pauth false: its CPU without pointer authentication (",pauth=off" on
// -cpu), for debuggers that cannot learn the PAC mask from qemu.
std::vector<std::string> emulator_command(bool pauth = true);

// The command that runs this program again with `args`: /proc/self/exe
// natively; under the emulator, the emulator on the program's own file
// (the host's kernel cannot execve a program of the target).
std::vector<std::string> self_command(const std::vector<std::string> &args,
                                      bool pauth = true);

// Starts argv[0] in a process group of its own, stdin from /dev/null, its
// output to ours; -1 if it could not fork. Pair with ChildGuard.
pid_t start_program(const std::vector<std::string> &argv);

// A TCP port on 127.0.0.1 that was free a moment ago (0 on failure), for
// an emulator's gdb stub.
int free_tcp_port();

} // namespace btest
