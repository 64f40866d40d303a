/* Traps: recovering from SIGSEGV/SIGBUS (stack overflow included) inside
 * a coroutine.
 *
 * The handler runs on a per-thread alternate signal stack. It finds the
 * innermost running coroutine from the interrupted context alone (the
 * switch keeps no per-thread record): while the body of a coroutine runs,
 * the word at co - 8 is corolink__trampoline_ret (the trampoline leaves it
 * there), and co is 64-byte aligned and carries a check word. Scanning the
 * interrupted stack upward from its stack pointer for that word, with
 * reads that cannot fault (process_vm_readv on ourselves, or a pipe where
 * that system call is missing), finds co. The
 * redirect then rewrites the ucontext so that sigreturn lands in the
 * resumer, just after its switch's call, as if the body had returned with
 * status COROLINK_TRAP. The signal context itself is the target's
 * (src/arch/). */
#include "internal.h"
#include "probes.h"
#include "trap_message.h"

#if !CL_WINDOWS /* Windows: src/trap_windows.c */

bool cl_trap_installed;

#if !CL_FREESTANDING

#include "arch/linux_syscall.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#define ALT_SIZE ((size_t)64 * 1024) /* the handler's part of alt_size */
#define CHUNK ((uintptr_t)4096)     /* read granularity: one (small) page */
/* Bytes scanned above sp, at most: a stack of 64 MiB, or a watched slab
 * (src/slab.c: about 128 MiB of slots) from its PROT_NONE page, where an
 * overflow of its top slot faults, up to that slot's control block. */
#define SCAN_MAX ((size_t)192 << 20)
#define SKIP_MAX ((size_t)1 << 20)  /* unreadable bytes skipped at the start */

/* ---- reading memory without faulting ---- */

/* process_vm_readv() on ourselves copies memory, failing (EFAULT) where it
 * is not readable. Where that system call is missing (ENOSYS: qemu-user
 * does not implement it for its guest, nor does a kernel built without
 * CONFIG_CROSS_MEMORY_ATTACH), the reads go through a pipe instead: write()
 * from the memory, read() back. The kernel (or qemu) checks write()'s
 * buffer as for any system call and fails with EFAULT, or writes less,
 * rather than fault. Both are async-signal-safe. */
static bool no_vm_readv; /* set once process_vm_readv() said ENOSYS */

/* One search's reads: the pipe, made at its first read through one. */
struct reader {
    pid_t pid;
    int fd[2]; /* -1: none yet */
};

static void reader_open(struct reader *r) {
    r->pid = getpid();
    r->fd[0] = r->fd[1] = -1;
}

static void reader_close(struct reader *r) {
    if (r->fd[0] >= 0) {
        close(r->fd[0]);
        close(r->fd[1]);
    }
}

/* Through the pipe, at most PIPE_BUF bytes: an empty non-blocking pipe
 * takes them whole (or fails), and whatever was written is drained. The
 * write is a raw system call: a sanitizer's write() checks the buffer
 * first (ASan reports the stack's redzones as a stack-buffer-underflow). */
static bool pipe_peek(struct reader *r, unsigned char *dst, uintptr_t src,
                      size_t n) {
    long w;
    do
        w = cl_raw_syscall3(CL_SYS_WRITE, r->fd[1], (long)src, (long)n);
    while (w == -EINTR);
    size_t got = 0;
    while (w > 0 && got < (size_t)w) {
        ssize_t k = read(r->fd[0], dst + got, (size_t)w - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) { /* not expected: a fresh pipe for the next read */
            reader_close(r);
            reader_open(r);
            return false;
        }
        got += (size_t)k;
    }
    return w == (long)n;
}

/* Copies n bytes at src into dst; false if any of it is not readable. */
static bool peek(struct reader *r, void *dst, uintptr_t src, size_t n) {
    if (!__atomic_load_n(&no_vm_readv, __ATOMIC_RELAXED)) {
        struct iovec local = {dst, n}, remote = {(void *)src, n};
        ssize_t got = process_vm_readv(r->pid, &local, 1, &remote, 1, 0);
        if (got == (ssize_t)n)
            return true;
        if (got >= 0 || errno != ENOSYS)
            return false;
        __atomic_store_n(&no_vm_readv, true, __ATOMIC_RELAXED);
    }
    if (r->fd[0] < 0 && pipe2(r->fd, O_CLOEXEC | O_NONBLOCK) != 0) {
        r->fd[0] = r->fd[1] = -1;
        return false;
    }
    for (size_t done = 0; done < n;) {
        size_t k = n - done < PIPE_BUF ? n - done : PIPE_BUF;
        if (!pipe_peek(r, (unsigned char *)dst + done, src + done, k))
            return false;
        done += k;
    }
    return true;
}

/* The control block at co, if it is a running coroutine whose stack (guard
 * included) holds sp; else NULL. Reads it without faulting first. */
static struct corolink *validate(struct reader *r, uintptr_t co,
                                 uintptr_t sp) {
    struct corolink copy;
    if (!peek(r, &copy, co, sizeof copy))
        return NULL;
    if (copy.check != (co ^ CL_CHECK))
        return NULL;
    if (copy.hot.pc != NULL || copy.hot.finished)
        return NULL; /* not running */
    uintptr_t limit = (uintptr_t)copy.stack_limit;
    uintptr_t lo = limit >= copy.guard ? limit - copy.guard : 0;
    /* A watched slab stack (src/slab.c): an overflow faults only below
     * its zone, in the PROT_NONE page under the slab, after running
     * through the slots below its own: sp may be anywhere down to the
     * slab's lowest byte. */
    if ((copy.hot.flags & CL_FLAG_WATCHED) && lo >= CHUNK)
        lo -= CHUNK;
#if COROLINK_DEFAULT_STACK
    uintptr_t floor;
    if ((copy.hot.flags & CL_FLAG_WATCHED) && copy.slab &&
        peek(r, &floor, (uintptr_t)cl_slab_floor_at(copy.slab),
             sizeof floor) &&
        floor < lo)
        lo = floor;
#endif
    if (limit >= co || sp < lo || sp >= co)
        return NULL;
    return (struct corolink *)co;
}

/* Scans upward from sp for the innermost running coroutine, reading
 * through buf (CHUNK bytes: one buffer for the whole search, to keep the
 * handler's use of a possibly small alternate stack low). `hop`: may follow
 * one corolink__call_on frame back to the stack of its caller. */
static struct corolink *scan(struct reader *r, uintptr_t sp,
                             unsigned char *buf, bool hop) {
    const uintptr_t ret = (uintptr_t)corolink__trampoline_ret;
    uintptr_t p = sp & ~(uintptr_t)7;
    size_t scanned = 0, skipped = 0;
    bool seen = false;
    while (scanned < SCAN_MAX) {
        uintptr_t end = (p | (CHUNK - 1)) + 1;
        if (end <= p)
            return NULL; /* top of the address space */
        size_t n = (size_t)(end - p);
        if (!peek(r, buf, p, n)) {
            /* Unreadable: the guard page (sp in it after an overflow) or
             * an unmapped gap before the stack; past readable memory, the
             * end of the stack. */
            if (seen || (skipped += n) > SKIP_MAX)
                return NULL;
        } else {
            seen = true;
            for (size_t off = 0; off < n; off += 8) {
                uintptr_t w;
                memcpy(&w, buf + off, sizeof w);
                uintptr_t at = p + off;
                if (w == ret && ((at + 8) & 63) == 0) {
                    struct corolink *co = validate(r, at + 8, sp);
                    if (co)
                        return co;
                } else if (hop && w == (uintptr_t)corolink__call_on_ret &&
                           ((at + 8) & 15) == 0) {
                    /* fn of corolink_on_parent_stack() runs on a resumer's
                     * stack on behalf of the coroutine that called it: the
                     * record above this return address holds the caller's
                     * sp. Look from there; if nothing is found, this was
                     * no live frame: go on here. */
                    uintptr_t caller_sp;
                    if (peek(r, &caller_sp, at + 8 + CL_CALL_ON_CALLER_SP,
                             sizeof caller_sp)) {
                        struct corolink *co = scan(r, caller_sp, buf, false);
                        if (co)
                            return co;
                        if (!peek(r, buf, p, n)) /* buf was reused */
                            return NULL;
                    }
                }
            }
        }
        scanned += n;
        p = end;
    }
    return NULL;
}

corolink *corolink_trap_find(const void *ucontext) {
    if (ucontext == NULL)
        return NULL;
    int saved_errno = errno;
    const ucontext_t *uc = ucontext;
    _Alignas(8) unsigned char buf[CHUNK];
    struct reader r;
    reader_open(&r);
    struct corolink *co = scan(&r, cl_uc_sp(uc), buf, true);
    reader_close(&r);
    errno = saved_errno;
    return co;
}

/* ---- the redirect and its message ---- */

static bool diagnostics = true;
static size_t page; /* the page size, set at install (4096 until then) */

static size_t page_size(void) {
    size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);
    return p ? p : 4096;
}

void corolink_trap_diagnostics(bool enable) {
    __atomic_store_n(&diagnostics, enable, __ATOMIC_RELAXED);
}

/* a in the guard region below co's stack (one page for a stack without
 * guard)? */
static bool in_guard(const struct corolink *co, uintptr_t a) {
    uintptr_t limit = (uintptr_t)co->stack_limit;
    size_t g = co->guard ? co->guard : page_size();
    uintptr_t lo = limit >= g ? limit - g : 0;
    return a >= lo && a < limit;
}

/* The overflow line (src/trap_message.h), written async-signal-safely. */
static void print_overflow(const struct corolink *co, void *addr) {
    struct cl_line l;
    cl_overflow_line(&l, co,
                     (uint64_t)((uintptr_t)co->stack_top -
                                (uintptr_t)co->stack_limit),
                     addr);
    size_t done = 0;
    while (done < l.len) {
        ssize_t w = write(STDERR_FILENO, l.buf + done, l.len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
}

int corolink_trap_redirect(corolink *co, void *ucontext, int signo, void *addr,
                           void *value) {
    if (co == NULL || ucontext == NULL || !cl_running(co))
        return COROLINK_EINVAL;
    int saved_errno = errno;
    ucontext_t *uc = ucontext;
    uintptr_t sp = cl_uc_sp(uc);
    bool overflow = in_guard(co, (uintptr_t)addr) || in_guard(co, sp);
#if COROLINK_DEFAULT_STACK
    /* A watched slab stack (src/slab.c) has no guard page: a fault after
     * an overflow comes from further down (the PROT_NONE page under its
     * slab, or what the overflow damaged), and the stacks below it may be
     * damaged. Fatal, after the overflow line that names the coroutine. */
    if ((co->hot.flags & CL_FLAG_WATCHED) && cl_watch_overflowed(co)) {
        struct cl_line l;
        l.len = 0;
        cl_line_put(&l, "corolink: fatal: stack overflow in coroutine ");
        cl_line_num(&l, co->hot.id, 10);
        cl_line_put(&l, " \"");
        cl_line_name(&l, co->name);
        cl_line_put(&l, "\" (fault at 0x");
        cl_line_num(&l, (uintptr_t)addr, 16);
        cl_line_put(&l, "): it ran through the watched zone below its "
                        "stack; the memory below may be damaged\n");
        ssize_t w = write(STDERR_FILENO, l.buf, l.len);
        (void)w;
        abort();
    }
#endif
    /* Interrupted off the coroutine's own stack (guard included): in fn of
     * a corolink_on_parent_stack() call, which will never return. */
    uintptr_t lo = (uintptr_t)co->stack_limit - co->guard;
    if (sp < lo || sp >= (uintptr_t)co)
        cl_on_parent_trapped();
    co->trap_signo = signo;
    co->trap_addr = addr;
    co->trap_overflow = overflow;
    co->hot.finished = CL_FINISHED_TRAPPED; /* pc stays NULL */
    CL_PROBE_TRAP(co, signo, addr); /* async-signal-safe */
    /* Continue in the resumer just after its switch's call, as a body
     * that returns does. */
    cl_uc_return_to_resumer(uc, co, value, COROLINK_TRAP);
    if (overflow && __atomic_load_n(&diagnostics, __ATOMIC_RELAXED))
        print_overflow(co, addr);
    errno = saved_errno;
    return 0;
}

int corolink_trap_info(const corolink *co, corolink_trap *out) {
    if (co == NULL || out == NULL)
        return COROLINK_EINVAL;
    if (co->hot.finished != CL_FINISHED_TRAPPED)
        return COROLINK_ENOTRAP;
    out->signo = co->trap_signo;
    out->addr = co->trap_addr;
    out->stack_overflow = co->trap_overflow;
    return 0;
}

/* ---- the handler ---- */

/* The actions installed before ours, [0] SIGSEGV, [1] SIGBUS. Written at
 * install before our handler is; SA_RESETHAND in them is emulated by
 * turning them into SIG_DFL when first used. */
static struct sigaction prev[2];

static void forward(int signo, siginfo_t *info, void *uc) {
    struct sigaction *slot = &prev[signo == SIGBUS];
    struct sigaction old = *slot;
    bool user = info->si_code <= 0; /* kill(), tgkill(), sigqueue() */
    if (!(old.sa_flags & SA_SIGINFO) &&
        (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN)) {
        if (old.sa_handler == SIG_IGN && user)
            return; /* ignored, as it would have been */
        /* Give the signal its old disposition back and let it happen
         * again: a fault re-executes the faulting instruction when we
         * return (the kernel kills the process, as without us: it also
         * does so for an ignored fault); a sent SIGSEGV/SIGBUS with the
         * default action is sent again and kills on delivery, once this
         * handler has returned and unblocked it. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = old.sa_handler;
        sigemptyset(&dfl.sa_mask);
        sigaction(signo, &dfl, NULL);
        if (user)
            syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), signo);
        return;
    }
    if (old.sa_flags & SA_RESETHAND) {
        /* The handler runs once; after that the default action. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        *slot = dfl;
    }
    /* Its mask, as the kernel would have set it: sa_mask added, and the
     * signal itself blocked unless SA_NODEFER. */
    sigset_t saved, set;
    pthread_sigmask(SIG_BLOCK, &old.sa_mask, &saved);
    if (old.sa_flags & SA_NODEFER) {
        sigemptyset(&set);
        sigaddset(&set, signo);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    }
    if (old.sa_flags & SA_SIGINFO)
        old.sa_sigaction(signo, info, uc);
    else
        old.sa_handler(signo);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

static void on_fault(int signo, siginfo_t *info, void *uc) {
    int saved_errno = errno;
    /* Only faults (si_code > 0: raised by the kernel for an instruction)
     * trap; SIGSEGV/SIGBUS sent by kill() and friends go where they would
     * have gone without corolink. */
    struct corolink *co = info->si_code > 0 ? corolink_trap_find(uc) : NULL;
    if (co)
        corolink_trap_redirect(co, uc, signo, info->si_addr, NULL);
    else
        forward(signo, info, uc);
    errno = saved_errno;
}

/* ---- alternate signal stacks ---- */

/* The usable size of our alternate stacks: ALT_SIZE for the handler plus
 * what the kernel's signal frame takes (MINSIGSTKSZ, from AT_MINSIGSTKSZ
 * where the C library reads it: over 13 KiB on x86-64 with AMX, over 64
 * KiB on AArch64 with SME's ZA storage at the largest vector length), in
 * whole pages. The same for every thread: set at the first setup, before
 * alt_free() can run. */
static size_t alt_size;

static size_t alt_usable(size_t g) {
    /* glibc 2.34+ with _GNU_SOURCE: sysconf(_SC_MINSIGSTKSZ); before, the
     * constant. */
    long frame = (long)MINSIGSTKSZ;
    if (frame < 0)
        frame = 0;
    return ALT_SIZE + (((size_t)frame + g - 1) & ~(g - 1));
}

static pthread_key_t alt_key;
static bool alt_key_ok;
static pthread_once_t alt_once = PTHREAD_ONCE_INIT;

/* Thread exit: stop using our alternate stack, then unmap it. */
static void alt_free(void *mapping) {
    char *m = mapping;
    size_t g = page_size();
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) &&
        cur.ss_sp == m + g) {
        stack_t off;
        memset(&off, 0, sizeof off);
        off.ss_flags = SS_DISABLE;
        if (sigaltstack(&off, NULL) != 0)
            return; /* still in use: leave it mapped */
    }
    munmap(m, g + __atomic_load_n(&alt_size, __ATOMIC_RELAXED));
}

static void make_alt_key(void) {
    alt_key_ok = pthread_key_create(&alt_key, alt_free) == 0;
}

static int thread_setup(void) {
    struct cl_thread *t = &cl_thread;
    if (t->trap_ready)
        return 0;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) {
        t->trap_ready = true; /* the thread has one: keep it */
        return 0;
    }
    pthread_once(&alt_once, make_alt_key);
    if (!alt_key_ok)
        return COROLINK_ENOMEM;
    long ps = sysconf(_SC_PAGESIZE);
    size_t g = ps > 0 ? (size_t)ps : 4096;
    __atomic_store_n(&page, g, __ATOMIC_RELAXED);
    size_t size = alt_usable(g);
    __atomic_store_n(&alt_size, size, __ATOMIC_RELAXED);
    char *m = mmap(NULL, g + size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (m == MAP_FAILED)
        return COROLINK_ENOMEM;
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = m + g;
    ss.ss_size = size;
    if (mprotect(m, g, PROT_NONE) != 0 || sigaltstack(&ss, NULL) != 0) {
        munmap(m, g + size);
        return COROLINK_ENOMEM;
    }
    if (pthread_setspecific(alt_key, m) != 0) {
        ss.ss_flags = SS_DISABLE;
        sigaltstack(&ss, NULL);
        munmap(m, g + size);
        return COROLINK_ENOMEM;
    }
    t->trap_ready = true;
    return 0;
}

void cl_trap_thread_setup(void) { (void)thread_setup(); }

int corolink_trap_thread_init(void) { return thread_setup(); }

/* ---- installing ---- */

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_rc;

static void install(void) {
    /* Reading ourselves must work (a seccomp filter may forbid it). */
    uintptr_t probe = 1, got = 0;
    struct reader r;
    reader_open(&r);
    bool readable = peek(&r, &got, (uintptr_t)&probe, sizeof got);
    reader_close(&r);
    if (!readable || got != 1) {
        install_rc = COROLINK_ENOTSUP;
        return;
    }
    const int sigs[2] = {SIGSEGV, SIGBUS};
    for (int i = 0; i < 2; i++)
        sigaction(sigs[i], NULL, &prev[i]);
    for (int i = 0; i < 2; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fault;
        sigemptyset(&sa.sa_mask);
        /* SA_RESTART as before, for the signals that are forwarded. */
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | (prev[i].sa_flags & SA_RESTART);
        sigaction(sigs[i], &sa, NULL);
    }
    __atomic_store_n(&cl_trap_installed, true, __ATOMIC_RELEASE);
}

int corolink_trap_install(void) {
    int rc = thread_setup();
    if (rc != 0)
        return rc;
    pthread_once(&install_once, install);
    return install_rc;
}

#else /* CL_FREESTANDING: no C library, no traps */

void cl_trap_thread_setup(void) {}
int corolink_trap_install(void) { return COROLINK_ENOTSUP; }
int corolink_trap_thread_init(void) { return COROLINK_ENOTSUP; }
void corolink_trap_diagnostics(bool enable) { (void)enable; }
int corolink_trap_info(const corolink *co, corolink_trap *out) {
    (void)co, (void)out;
    return COROLINK_ENOTRAP;
}
corolink *corolink_trap_find(const void *ucontext) {
    (void)ucontext;
    return NULL;
}
int corolink_trap_redirect(corolink *co, void *ucontext, int signo, void *addr,
                           void *value) {
    (void)co, (void)ucontext, (void)signo, (void)addr, (void)value;
    return COROLINK_ENOTSUP;
}

#endif

#endif /* !CL_WINDOWS */
