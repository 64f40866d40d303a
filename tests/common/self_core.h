/* A test program's own core file, written in the Linux kernel's format,
 * for the targets whose emulator writes none: qemu-user 7.2 (Debian 12)
 * has no ELF core dump for RISC-V guests (its linux-user dumps only the
 * targets that define USE_ELF_CORE_DUMP, and RISC-V does not), so the
 * core-file tests of the gdb plugin (tests/gdb, gdb.riscv64_core_*) and of
 * corolink-stacks (tests/stacks, stacks.qemu_*) have the program write it
 * itself. Included by exactly one file per program (tests/gdb/gdb_target.c,
 * tests/stacks/stacks_target.c), as tests/common/parked.h is.
 *
 * Enabled by the environment: with COROLINK_TEST_SELF_CORE set (the test
 * drivers set it, for RISC-V only, when CMake passes them --self-core),
 * self_core_init() (main thread, at the start) installs a handler of
 * SIGQUIT and self_core_thread() registers every other thread (at its
 * start; the test programs have one). When SIGQUIT arrives:
 *   1. the thread it is delivered to stores its registers (its signal
 *      context: where it was when the signal came, as the kernel's dump
 *      has them) and sends SIGUSR2 (tgkill) to every other registered
 *      thread, whose handler stores its own and then waits on a futex;
 *   2. once all are stored (a futex count, no sleeping) it writes
 *      self_<program>_<pid>.core in the working directory:
 *        ELF64 ET_CORE, e_machine EM_RISCV;
 *        PT_NOTE first: for the signalled thread NT_PRSTATUS, NT_PRPSINFO,
 *        NT_SIGINFO, NT_AUXV (/proc/self/auxv), NT_FILE (the file-backed
 *        mappings of /proc/self/maps), NT_FPREGSET; for each other thread
 *        NT_PRSTATUS and NT_FPREGSET: the kernel's order (fs/binfmt_elf.c)
 *        and its structures (<sys/procfs.h> of the target: struct
 *        elf_prstatus with elf_gregset_t = pc, x1-x31; the D extension's
 *        f0-f31 + fcsr, 264 bytes, as the kernel's NT_PRFPREG);
 *        then one PT_LOAD per line of /proc/self/maps (qemu-user emulates
 *        maps and auxv for its guest), with the contents of the readable
 *        ones: all of them, text too (the kernel's default filter leaves
 *        out unwritten file-backed pages; a reader takes those from the
 *        files), none for inaccessible ones (guard pages: p_filesz 0);
 *   3. it lets the other threads go and re-raises SIGQUIT with the default
 *      action: the process dies of SIGQUIT, as with a core dump of the
 *      kernel or of qemu, so the drivers see the same exit status.
 * It says on stderr that it wrote the core and why.
 *
 * Other targets: the functions do nothing unless the variable is set, and
 * then fail (the drivers never set it there: their emulators, or the
 * kernel, write the core). */
#ifndef COROLINK_TEST_SELF_CORE_H
#define COROLINK_TEST_SELF_CORE_H

#include <stdio.h>
#include <stdlib.h>

#define SELF_CORE_ENV "COROLINK_TEST_SELF_CORE"

#if defined(__linux__) && defined(__riscv) && __riscv_xlen == 64

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define SC_MAX_THREADS 8
#define SC_MAX_MAPS 1024
#define SC_ALTSTACK (64 * 1024)
#define SC_TRIGGER SIGQUIT
#define SC_COLLECT SIGUSR2

/* A registered thread and, once stopped, its registers as the kernel's
 * notes hold them. */
struct sc_thread {
    pid_t tid;
    atomic_int live;   /* registered (tid is set) */
    elf_gregset_t regs; /* pc, x1-x31: the order of mcontext's __gregs */
    struct __riscv_mc_d_ext_state fp; /* f0-f31, fcsr: NT_PRFPREG's 264 bytes */
    unsigned long sighold; /* its blocked signals when stopped */
};

struct sc_map {
    uint64_t start, end, off;
    unsigned flags;     /* PF_R, PF_W, PF_X */
    const char *path;   /* in sc_maps_text; "" if anonymous */
};

/* Static: the handler neither allocates nor uses much stack (it runs on a
 * thread's alternate signal stack, one of sc_altstack). */
static struct sc_thread sc_threads[SC_MAX_THREADS];
static atomic_int sc_nthreads;
static atomic_int sc_collected; /* futex: threads that stored their registers */
static atomic_int sc_released;  /* futex: 1 once the core is written */
static atomic_int sc_dumping;
static long sc_pagesz;
static char sc_fname[16];       /* pr_fname: the program's base name */
static char sc_psargs[ELF_PRARGSZ];
static char sc_path[96];
static char sc_altstack[SC_MAX_THREADS][SC_ALTSTACK] __attribute__((aligned(16)));
static char sc_maps_text[256 * 1024];
static struct sc_map sc_maps[SC_MAX_MAPS];
static unsigned char sc_notes[64 * 1024];
static unsigned char sc_auxv[4096];
static size_t sc_nnotes;

static void sc_futex(atomic_int *word, int op, int val) {
    syscall(SYS_futex, (int *)word, op, val, NULL, NULL, 0);
}

static void sc_say(const char *s) {
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

static void sc_fail(const char *s) {
    sc_say("self_core: ");
    sc_say(s);
    sc_say("\n");
    _exit(70);
}

/* A whole file into buf (NUL-terminated); its length. */
static size_t sc_read_file(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        sc_fail("cannot open a /proc/self file");
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            sc_fail("cannot read a /proc/self file");
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap - 1)
            sc_fail("a /proc/self file is larger than its buffer");
    }
    close(fd);
    buf[n] = 0;
    return n;
}

static void sc_write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t r = write(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            sc_fail("cannot write the core file");
        c += r, n -= (size_t)r;
    }
}

/* Memory into the file; a page that cannot be read (write() says EFAULT)
 * becomes zeros, as the kernel writes a page it cannot get. */
static void sc_write_mem(int fd, uint64_t addr, uint64_t len) {
    static const char zeros[4096];
    while (len > 0) {
        size_t chunk = (size_t)(len < (uint64_t)sc_pagesz ? len : (uint64_t)sc_pagesz);
        ssize_t r = write(fd, (const void *)(uintptr_t)addr, chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EFAULT) {
            sc_write_all(fd, zeros, chunk);
            r = (ssize_t)chunk;
        } else if (r <= 0) {
            sc_fail("cannot write the core file");
        }
        addr += (uint64_t)r, len -= (uint64_t)r;
    }
}

static uint64_t sc_hex(const char **s) {
    uint64_t v = 0;
    for (;; (*s)++) {
        char c = **s;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uint64_t)(c - 'a' + 10);
        else
            return v;
    }
}

/* /proc/self/maps: "start-end perms offset dev inode   path". The text is
 * cut into the paths (each line's newline becomes its NUL). */
static size_t sc_parse_maps(void) {
    sc_read_file("/proc/self/maps", sc_maps_text, sizeof sc_maps_text);
    size_t n = 0;
    char *s = sc_maps_text;
    while (*s) {
        char *nl = strchr(s, '\n');
        if (nl)
            *nl = 0;
        if (n == SC_MAX_MAPS)
            sc_fail("too many mappings");
        struct sc_map *m = &sc_maps[n++];
        const char *p = s;
        m->start = sc_hex(&p);
        p++; /* '-' */
        m->end = sc_hex(&p);
        p++; /* ' ' */
        m->flags = (p[0] == 'r' ? PF_R : 0) | (p[1] == 'w' ? PF_W : 0) | (p[2] == 'x' ? PF_X : 0);
        p += 5; /* "rwxp " */
        m->off = sc_hex(&p);
        /* dev, inode, then spaces up to the path (if any) */
        for (int field = 0; field < 2 && *p; field++) {
            while (*p == ' ')
                p++;
            while (*p && *p != ' ')
                p++;
        }
        while (*p == ' ')
            p++;
        m->path = p;
        if (!nl)
            break;
        s = nl + 1;
    }
    return n;
}

/* A note: name "CORE" (namesz 5, padded to 8), its descriptor padded to
 * 4 bytes, as the kernel writes them (4-byte alignment in ELF64 too). */
static void sc_note(uint32_t type, const void *desc, size_t size) {
    size_t need = sizeof(Elf64_Nhdr) + 8 + ((size + 3) & ~(size_t)3);
    if (sc_nnotes + need > sizeof sc_notes)
        sc_fail("notes larger than their buffer");
    Elf64_Nhdr h = {.n_namesz = 5, .n_descsz = (Elf64_Word)size, .n_type = type};
    unsigned char *p = sc_notes + sc_nnotes;
    memset(p, 0, need);
    memcpy(p, &h, sizeof h);
    memcpy(p + sizeof h, "CORE", 5);
    memcpy(p + sizeof h + 8, desc, size);
    sc_nnotes += need;
}

static void sc_note_prstatus(const struct sc_thread *t, int sig) {
    struct elf_prstatus ps;
    memset(&ps, 0, sizeof ps);
    /* the kernel puts the dump's signal in every thread's note */
    ps.pr_info.si_signo = sig;
    ps.pr_cursig = (short)sig;
    ps.pr_sighold = t->sighold;
    ps.pr_pid = t->tid;
    ps.pr_ppid = getppid();
    ps.pr_pgrp = getpgrp();
    ps.pr_sid = getsid(0);
    memcpy(ps.pr_reg, t->regs, sizeof ps.pr_reg);
    ps.pr_fpvalid = 1;
    sc_note(NT_PRSTATUS, &ps, sizeof ps);
}

/* NT_FILE: count, page size, {start, end, offset in pages} per mapping of
 * a file, then their paths, NUL-terminated (fs/binfmt_elf.c,
 * fill_files_note). Built in a buffer of its own, then noted. */
static void sc_note_files(size_t nmaps) {
    static unsigned char buf[32 * 1024];
    uint64_t count = 0;
    for (size_t i = 0; i < nmaps; i++)
        count += sc_maps[i].path[0] == '/';
    size_t at = 16 + 24 * count;
    if (at > sizeof buf)
        sc_fail("NT_FILE larger than its buffer");
    uint64_t head[2] = {count, (uint64_t)sc_pagesz};
    memcpy(buf, head, sizeof head);
    size_t k = 0;
    for (size_t i = 0; i < nmaps; i++) {
        if (sc_maps[i].path[0] != '/')
            continue;
        uint64_t e[3] = {sc_maps[i].start, sc_maps[i].end, sc_maps[i].off / (uint64_t)sc_pagesz};
        memcpy(buf + 16 + 24 * k++, e, sizeof e);
        size_t len = strlen(sc_maps[i].path) + 1;
        if (at + len > sizeof buf)
            sc_fail("NT_FILE larger than its buffer");
        memcpy(buf + at, sc_maps[i].path, len);
        at += len;
    }
    sc_note(NT_FILE, buf, at);
}

static struct sc_thread *sc_self(void) {
    pid_t tid = (pid_t)syscall(SYS_gettid);
    int n = atomic_load(&sc_nthreads);
    for (int i = 0; i < n && i < SC_MAX_THREADS; i++)
        if (atomic_load(&sc_threads[i].live) && sc_threads[i].tid == tid)
            return &sc_threads[i];
    return NULL;
}

static void sc_store(struct sc_thread *t, const ucontext_t *uc) {
    memcpy(t->regs, uc->uc_mcontext.__gregs, sizeof t->regs);
    memcpy(&t->fp, &uc->uc_mcontext.__fpregs.__d, sizeof t->fp);
    memcpy(&t->sighold, &uc->uc_sigmask, sizeof t->sighold);
}

static void sc_write_core(int sig, const siginfo_t *si, const struct sc_thread *me) {
    size_t nmaps = sc_parse_maps();
    size_t nauxv = sc_read_file("/proc/self/auxv", (char *)sc_auxv, sizeof sc_auxv);
    struct elf_prpsinfo ps;
    memset(&ps, 0, sizeof ps);
    ps.pr_sname = 'R';
    ps.pr_uid = getuid();
    ps.pr_gid = getgid();
    ps.pr_pid = getpid();
    ps.pr_ppid = getppid();
    ps.pr_pgrp = getpgrp();
    ps.pr_sid = getsid(0);
    memcpy(ps.pr_fname, sc_fname, sizeof ps.pr_fname);
    memcpy(ps.pr_psargs, sc_psargs, sizeof ps.pr_psargs);

    /* the signalled thread first: gdb takes it for the current thread */
    sc_nnotes = 0;
    sc_note_prstatus(me, sig);
    sc_note(NT_PRPSINFO, &ps, sizeof ps);
    sc_note(NT_SIGINFO, si, sizeof *si);
    sc_note(NT_AUXV, sc_auxv, nauxv);
    sc_note_files(nmaps);
    sc_note(NT_FPREGSET, &me->fp, sizeof me->fp);
    int n = atomic_load(&sc_nthreads);
    for (int i = 0; i < n && i < SC_MAX_THREADS; i++) {
        const struct sc_thread *t = &sc_threads[i];
        if (t == me || !atomic_load(&t->live))
            continue;
        sc_note_prstatus(t, sig);
        sc_note(NT_FPREGSET, &t->fp, sizeof t->fp);
    }

    /* headers, the notes, then the memory from the next page on */
    Elf64_Ehdr eh;
    memset(&eh, 0, sizeof eh);
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
    eh.e_type = ET_CORE;
    eh.e_machine = EM_RISCV;
    eh.e_version = EV_CURRENT;
    eh.e_phoff = sizeof eh;
    eh.e_ehsize = sizeof eh;
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = (Elf64_Half)(1 + nmaps);
    uint64_t off = sizeof eh + (1 + nmaps) * sizeof(Elf64_Phdr);
    Elf64_Phdr note = {.p_type = PT_NOTE, .p_offset = off, .p_filesz = sc_nnotes, .p_align = 4};
    off += sc_nnotes;
    off = (off + (uint64_t)sc_pagesz - 1) & ~((uint64_t)sc_pagesz - 1);
    const uint64_t data = off; /* the first PT_LOAD's contents */

    int fd = open(sc_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        sc_fail("cannot create the core file");
    sc_write_all(fd, &eh, sizeof eh);
    sc_write_all(fd, &note, sizeof note);
    for (size_t i = 0; i < nmaps; i++) {
        const struct sc_map *m = &sc_maps[i];
        Elf64_Phdr ph = {.p_type = PT_LOAD, .p_flags = m->flags, .p_offset = off,
                         .p_vaddr = m->start, .p_memsz = m->end - m->start,
                         .p_filesz = (m->flags & PF_R) ? m->end - m->start : 0,
                         .p_align = (uint64_t)sc_pagesz};
        sc_write_all(fd, &ph, sizeof ph);
        off += ph.p_filesz;
    }
    sc_write_all(fd, sc_notes, sc_nnotes);
    if (lseek(fd, (off_t)data, SEEK_SET) < 0)
        sc_fail("cannot seek in the core file");
    for (size_t i = 0; i < nmaps; i++)
        if (sc_maps[i].flags & PF_R)
            sc_write_mem(fd, sc_maps[i].start, sc_maps[i].end - sc_maps[i].start);
    if (close(fd) != 0)
        sc_fail("cannot write the core file");
}

/* SIGUSR2: store this thread's registers, then wait until the core is
 * written. */
static void sc_on_collect(int sig, siginfo_t *si, void *ucv) {
    (void)sig, (void)si;
    struct sc_thread *t = sc_self();
    if (!t || !atomic_load(&sc_dumping))
        return;
    sc_store(t, ucv);
    atomic_fetch_add(&sc_collected, 1);
    sc_futex(&sc_collected, FUTEX_WAKE_PRIVATE, INT_MAX);
    while (!atomic_load(&sc_released))
        sc_futex(&sc_released, FUTEX_WAIT_PRIVATE, 0);
}

/* SIGQUIT: stop the others, write the core, die of the signal. */
static void sc_on_trigger(int sig, siginfo_t *si, void *ucv) {
    if (atomic_exchange(&sc_dumping, 1))
        return;
    struct sc_thread *me = sc_self();
    if (!me)
        sc_fail("SIGQUIT on a thread that did not register");
    sc_store(me, ucv);
    int want = 0, n = atomic_load(&sc_nthreads);
    for (int i = 0; i < n && i < SC_MAX_THREADS; i++) {
        if (&sc_threads[i] == me || !atomic_load(&sc_threads[i].live))
            continue;
        if (syscall(SYS_tgkill, getpid(), sc_threads[i].tid, SC_COLLECT) != 0)
            sc_fail("tgkill failed");
        want++;
    }
    for (int c; (c = atomic_load(&sc_collected)) < want;)
        sc_futex(&sc_collected, FUTEX_WAIT_PRIVATE, c);
    sc_write_core(sig, si, me);
    sc_say("self_core: wrote ");
    sc_say(sc_path);
    sc_say(" (the program's own core, in the kernel's format: qemu 7.2 writes none of a RISC-V guest)\n");
    atomic_store(&sc_released, 1);
    sc_futex(&sc_released, FUTEX_WAKE_PRIVATE, INT_MAX);
    /* default action: pending (blocked in here) until the handler
     * returns, then the process dies of it */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
}

/* Every registered thread gets an alternate signal stack: the handlers
 * may interrupt a coroutine with a small stack. */
static inline void self_core_thread(void) {
    if (!getenv(SELF_CORE_ENV))
        return;
    int i = atomic_fetch_add(&sc_nthreads, 1);
    if (i >= SC_MAX_THREADS)
        sc_fail("too many threads");
    stack_t ss = {.ss_sp = sc_altstack[i], .ss_size = SC_ALTSTACK, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        sc_fail("sigaltstack failed");
    sc_threads[i].tid = (pid_t)syscall(SYS_gettid);
    atomic_store(&sc_threads[i].live, 1);
}

static inline void self_core_init(void) {
    if (!getenv(SELF_CORE_ENV))
        return;
    sc_pagesz = sysconf(_SC_PAGESIZE);
    if (sc_pagesz <= 0 || sc_pagesz > 4096 * 16)
        sc_fail("page size");
    /* pr_fname and pr_psargs from the command line, as the kernel's
     * (comm: the base name, 15 characters; the arguments, spaces between) */
    static char cmd[4096];
    size_t n = sc_read_file("/proc/self/cmdline", cmd, sizeof cmd);
    const char *base = strrchr(cmd, '/') ? strrchr(cmd, '/') + 1 : cmd;
    size_t blen = strlen(base);
    memcpy(sc_fname, base, blen < sizeof sc_fname - 1 ? blen : sizeof sc_fname - 1);
    for (size_t i = 0; i < n && i < sizeof sc_psargs - 1; i++)
        sc_psargs[i] = cmd[i] ? cmd[i] : ' ';
    snprintf(sc_path, sizeof sc_path, "self_%.60s_%d.core", base, (int)getpid());
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = sc_on_trigger;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SC_COLLECT);
    sigaction(SC_TRIGGER, &sa, NULL);
    sa.sa_sigaction = sc_on_collect;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SC_TRIGGER);
    sigaction(SC_COLLECT, &sa, NULL);
    self_core_thread();
}

#else

static inline void self_core_thread(void) {}

static inline void self_core_init(void) {
    if (getenv(SELF_CORE_ENV)) {
        fprintf(stderr, "self_core: %s is for RISC-V 64 Linux only (elsewhere the kernel or qemu "
                        "writes the core)\n", SELF_CORE_ENV);
        exit(70);
    }
}

#endif
#endif
