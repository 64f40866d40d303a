/*
 * check_cfi_ptrace.c - check-cfi's native stepping backend: the target runs
 * under ptrace (PTRACE_TRACEME, PTRACE_SINGLESTEP) and libdw reads the
 * stopped thread itself (dwfl_linux_proc_attach). x86-64 hosts only; other
 * targets are stepped through a gdb stub (check_cfi_gdbstub.c).
 */
#define _GNU_SOURCE

#include <elfutils/libdwfl.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_cfi.h"

#if defined(__x86_64__)

static const char *target_path;

static bool read_mem(uint64_t addr, void *buf, size_t len) {
    struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
    return process_vm_readv(child, &local, 1, &remote, 1, 0) == (ssize_t)len;
}

static void get_raw(struct user_regs_struct *r) {
    if (ptrace(PTRACE_GETREGS, child, NULL, r) != 0)
        die("PTRACE_GETREGS: %s", strerror(errno));
}

static void get_regs(struct regs *out) {
    struct user_regs_struct r;
    get_raw(&r);
    *out = (struct regs){.pc = r.rip, .sp = r.rsp, .fp = r.rbp, .lr = 0};
}

/* Waits for the next stop of the tracee; returns the stop signal, or -1 if
 * it exited (status in *exit_status). */
static int wait_stop(int *exit_status) {
    int st;
    for (;;) {
        if (waitpid(child, &st, __WALL) < 0) {
            if (errno == EINTR)
                continue;
            die("waitpid: %s", strerror(errno));
        }
        if (WIFEXITED(st)) {
            *exit_status = WEXITSTATUS(st);
            child = 0;
            return -1;
        }
        if (WIFSIGNALED(st)) {
            *exit_status = 128 + WTERMSIG(st);
            child = 0;
            return -1;
        }
        if (WIFSTOPPED(st))
            return WSTOPSIG(st);
    }
}

static char *debuginfo_path;
static const Dwfl_Callbacks proc_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

static Dwfl *report_modules(void) {
    Dwfl *dwfl = dwfl_begin(&proc_callbacks);
    if (dwfl == NULL)
        die("dwfl_begin: %s", dwfl_errmsg(-1));
    dwfl_report_begin(dwfl);
    int r = dwfl_linux_proc_report(dwfl, child);
    if (r != 0)
        die("dwfl_linux_proc_report: %s",
            r < 0 ? dwfl_errmsg(-1) : strerror(r));
    if (dwfl_report_end(dwfl, NULL, NULL) != 0)
        die("dwfl_report_end: %s", dwfl_errmsg(-1));
    return dwfl;
}

/*
 *  1. fork, PTRACE_TRACEME, exec the target with LD_BIND_NOW=1 (lazy PLT
 *     binding would otherwise step through ld.so), PTRACE_O_EXITKILL;
 *  2. at the exec stop, an int3 on `begin`; continue to it;
 *  3. restore the byte and rip, report the modules once and attach libdw
 *     to the already ptrace-stopped thread (assume_ptrace_stopped: libdw
 *     reads its registers and memory without trying to PTRACE_ATTACH).
 */
static Dwfl *start(const struct target *t, char **argv, const char *begin,
                   const char *end, uint64_t *begin_addr, uint64_t *end_addr,
                   pid_t *tid) {
    if (t != &target_x86_64_sysv_elf)
        die("the ptrace backend steps x86-64 targets only: use --stub");
    target_path = argv[0];
    child = fork();
    if (child < 0)
        die("fork: %s", strerror(errno));
    if (child == 0) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) {
            perror("check-cfi: PTRACE_TRACEME");
            _exit(EXIT_SKIP);
        }
        setenv("LD_BIND_NOW", "1", 1);
        execv(target_path, argv);
        perror(target_path);
        _exit(127);
    }
    int exit_status = 0;
    int sig = wait_stop(&exit_status);
    if (sig < 0 && exit_status == EXIT_SKIP) {
        printf("check-cfi: SKIPPED: this environment does not allow ptrace\n");
        exit(EXIT_SKIP);
    }
    if (sig != SIGTRAP)
        die("%s did not stop at exec (status %d)", target_path, exit_status);
    ptrace(PTRACE_SETOPTIONS, child, NULL, (void *)(uintptr_t)PTRACE_O_EXITKILL);

    {
        Dwfl *d = report_modules();
        *begin_addr = find_function(d, begin);
        *end_addr = find_function(d, end);
        dwfl_end(d);
    }
    if (*begin_addr == 0 || *end_addr == 0)
        die("%s exports no %s/%s", target_path, begin, end);
    errno = 0;
    long orig =
        ptrace(PTRACE_PEEKTEXT, child, (void *)(uintptr_t)*begin_addr, NULL);
    if (errno != 0)
        die("PTRACE_PEEKTEXT: %s", strerror(errno));
    long patched = (long)(((unsigned long)orig & ~0xffUL) | 0xccUL);
    if (ptrace(PTRACE_POKETEXT, child, (void *)(uintptr_t)*begin_addr,
               (void *)patched) != 0)
        die("PTRACE_POKETEXT: %s", strerror(errno));
    struct user_regs_struct regs;
    int pass_sig = 0;
    for (;;) {
        ptrace(PTRACE_CONT, child, NULL, (void *)(uintptr_t)pass_sig);
        sig = wait_stop(&exit_status);
        if (sig < 0)
            die("%s exited (status %d) before %s", target_path, exit_status,
                begin);
        if (sig == SIGTRAP) {
            get_raw(&regs);
            if (regs.rip == *begin_addr + 1)
                break;
            pass_sig = 0;
        } else
            pass_sig = sig;
    }
    ptrace(PTRACE_POKETEXT, child, (void *)(uintptr_t)*begin_addr,
           (void *)orig);
    regs.rip = *begin_addr;
    if (ptrace(PTRACE_SETREGS, child, NULL, &regs) != 0)
        die("PTRACE_SETREGS: %s", strerror(errno));

    Dwfl *dwfl = report_modules();
    int ar = dwfl_linux_proc_attach(dwfl, child, true);
    if (ar != 0)
        die("dwfl_linux_proc_attach: %s",
            ar < 0 ? dwfl_errmsg(-1) : strerror(ar));
    *tid = child;
    return dwfl;
}

static struct stop step(void) {
    struct stop s = {0, 0};
    if (ptrace(PTRACE_SINGLESTEP, child, NULL, NULL) != 0)
        die("PTRACE_SINGLESTEP: %s", strerror(errno));
    s.sig = wait_stop(&s.exit_status);
    return s;
}

static int finish(void) {
    int pass_sig = 0, exit_status = 0;
    for (;;) {
        ptrace(PTRACE_CONT, child, NULL, (void *)(uintptr_t)pass_sig);
        int sig = wait_stop(&exit_status);
        if (sig < 0)
            return exit_status;
        pass_sig = sig == SIGTRAP ? 0 : sig;
    }
}

#else /* not an x86-64 host */

static Dwfl *start(const struct target *t, char **argv, const char *begin,
                   const char *end, uint64_t *begin_addr, uint64_t *end_addr,
                   pid_t *tid) {
    (void)t, (void)argv, (void)begin, (void)end, (void)begin_addr,
        (void)end_addr, (void)tid;
    die("the ptrace backend is implemented for x86-64 hosts only: use --stub");
}
static void get_regs(struct regs *r) { (void)r; }
static bool read_mem(uint64_t addr, void *buf, size_t len) {
    (void)addr, (void)buf, (void)len;
    return false;
}
static struct stop step(void) { return (struct stop){-1, 2}; }
static int finish(void) { return 2; }

#endif

const struct backend backend_ptrace = {
    .start = start,
    .get_regs = get_regs,
    .read_mem = read_mem,
    .step = step,
    .finish = finish,
};
