/*
 * check_cfi_gdbstub.c - check-cfi's stepping backend for targets the host
 * cannot ptrace: the target runs under a gdb stub (qemu-user: `qemu-aarch64
 * -g SOCKET`, which does not emulate ptrace for its guest) and the checker
 * speaks the GDB remote serial protocol to it: '?', 'g' (registers), 'm'
 * (memory), 's' (single step), 'Z0'/'z0' (breakpoint), 'c' (continue),
 * qXfer:auxv:read (where the executable was loaded).
 *
 *  1. A private directory (mkdtemp) holds the stub's socket: qemu-user
 *     takes a Unix socket path for -g as well as a port, so no port is
 *     chosen at all and two checkers never collide. An inotify watch on the
 *     directory and a pidfd of the stub are set up before the stub is
 *     started; the checker connects, and while the socket does not exist
 *     yet it blocks in poll() on the two (the socket appears, or the stub
 *     died) - it never sleeps. Between qemu's bind() and listen() a connect
 *     is refused: retried at once (that window is a few instructions).
 *  2. Handshake: qSupported, QStartNoAckMode (no '+'/'-' after it), '?'.
 *  3. The executable's load bias: AT_ENTRY from qXfer:auxv:read minus the
 *     ELF's e_entry. A breakpoint (Z0) on `begin`; continue to it.
 *  4. Modules: the dynamic linker's list (r_debug via the executable's
 *     DT_DEBUG, then the link_map chain), read from the target's memory
 *     exactly as gdb does, so any dynamically or statically linked program
 *     works without its cooperation. Each library is opened on the host
 *     under the sysroot qemu was given (-L), else at its own path; entries
 *     with no file (the vDSO) are left out. They are reported to libdwfl
 *     with dwfl_report_elf at their bias, once.
 *  5. libdw sees the stopped thread through dwfl_attach_state with the
 *     callbacks below: set_initial_registers from the 'g' packet (decoded
 *     by the target's from_g), memory_read through 'm'. Memory is cached
 *     in 512-byte blocks until the next step or continue (the stack only
 *     changes when the target runs): a walk costs a few round trips.
 */
#define _GNU_SOURCE

#include <elf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <link.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_cfi.h"

static char **stub_argv;
static const char *sysroot;
static const struct target *tgt;
static int sock = -1;
static bool noack;
static pid_t thread_id;

void gdbstub_configure(char **argv, const char *root) {
    stub_argv = argv;
    sysroot = root;
}

/* ------------------------------------------------------------------------ */
/* packets                                                                  */
/* ------------------------------------------------------------------------ */

static char inbuf[65536];
static size_t inlen, inpos;

static int getbyte(void) {
    if (inpos == inlen) {
        ssize_t n;
        do
            n = read(sock, inbuf, sizeof inbuf);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
            die("gdb stub: connection closed%s%s", n < 0 ? ": " : "",
                n < 0 ? strerror(errno) : "");
        inlen = (size_t)n;
        inpos = 0;
    }
    return (unsigned char)inbuf[inpos++];
}

static void send_raw(const char *s, size_t len) {
    while (len > 0) {
        ssize_t n = write(sock, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("gdb stub: write: %s", strerror(errno));
        s += n;
        len -= (size_t)n;
    }
}

/* Sends one packet (the body is a printf format); waits for its ack until
 * no-ack mode is on. */
static void send_packet(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void send_packet(const char *fmt, ...) {
    char body[1024], pkt[1100];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof body)
        die("gdb stub: packet too long");
    unsigned sum = 0;
    for (int i = 0; i < n; i++)
        sum += (unsigned char)body[i];
    int len = snprintf(pkt, sizeof pkt, "$%s#%02x", body, sum & 0xffu);
    for (;;) {
        send_raw(pkt, (size_t)len);
        if (noack)
            return;
        int c = getbyte();
        if (c == '+')
            return;
        if (c != '-')
            die("gdb stub: expected an ack, got 0x%02x", c);
    }
}

/* The next packet's data, decoded (escapes, run-length encoding) into
 * reply, NUL-terminated; its length. */
static char reply[65536];

static size_t recv_packet(void) {
    for (;;) {
        int c;
        do
            c = getbyte();
        while (c != '$');
        size_t n = 0;
        unsigned sum = 0;
        for (;;) {
            c = getbyte();
            if (c == '#')
                break;
            sum += (unsigned)c;
            if (c == '*' && n > 0) { /* run-length: previous char again */
                int r = getbyte();
                sum += (unsigned)r;
                for (int k = 0; k < r - 29 && n < sizeof reply - 1; k++) {
                    reply[n] = reply[n - 1];
                    n++;
                }
                continue;
            }
            if (c == '}') {
                int e = getbyte();
                sum += (unsigned)e;
                c = e ^ 0x20;
            }
            if (n < sizeof reply - 1)
                reply[n++] = (char)c;
        }
        char hex[3] = {(char)getbyte(), (char)getbyte(), 0};
        reply[n] = '\0';
        if (!noack) {
            if (strtoul(hex, NULL, 16) != (sum & 0xffu)) {
                send_raw("-", 1);
                continue;
            }
            send_raw("+", 1);
        }
        return n;
    }
}

/* A request and its reply: send_packet(...), then recv_packet(). */
#define command(...) (send_packet(__VA_ARGS__), recv_packet())

static int hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Hex pairs to bytes; the number of bytes, or -1 on a malformed reply. */
static long unhex(const char *s, size_t slen, uint8_t *out, size_t max) {
    if (slen % 2 != 0 || slen / 2 > max)
        return -1;
    for (size_t i = 0; i < slen / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(slen / 2);
}

/* ------------------------------------------------------------------------ */
/* registers and memory, cached until the target runs                       */
/* ------------------------------------------------------------------------ */

static bool regs_valid;
static struct regs cur_regs;
static uint64_t cur_dwarf[64];
static int cur_ndwarf;

#define BLOCK 512
#define NBLOCKS 64
static struct {
    uint64_t addr;
    uint8_t data[BLOCK];
} blocks[NBLOCKS];
static int nblocks, next_victim;

static void invalidate(void) {
    regs_valid = false;
    nblocks = 0;
    next_victim = 0;
}

static void fetch_regs(void) {
    if (regs_valid)
        return;
    size_t n = command("g");
    static uint8_t raw[4096];
    long nbytes = unhex(reply, n, raw, sizeof raw);
    if (nbytes < 0)
        die("gdb stub: bad 'g' reply: %.40s", reply);
    uint64_t words[512];
    size_t nwords = (size_t)nbytes / 8;
    for (size_t i = 0; i < nwords; i++) {
        uint64_t v = 0;
        for (int b = 7; b >= 0; b--)
            v = v << 8 | raw[8 * i + (size_t)b];
        words[i] = v;
    }
    if (!tgt->from_g(words, nwords, (size_t)nbytes, cur_dwarf, &cur_ndwarf,
                     &cur_regs))
        die("gdb stub: 'g' reply of %ld bytes: not %s registers", nbytes,
            tgt->name);
    regs_valid = true;
}

static void get_regs(struct regs *r) {
    fetch_regs();
    *r = cur_regs;
}

static bool read_uncached(uint64_t addr, void *buf, size_t len) {
    uint8_t *out = buf;
    while (len > 0) {
        size_t chunk = len > 1024 ? 1024 : len;
        size_t n = command("m%" PRIx64 ",%zx", addr, chunk);
        if (n == 0 || reply[0] == 'E')
            return false;
        if (unhex(reply, n, out, chunk) != (long)chunk)
            return false;
        addr += chunk;
        out += chunk;
        len -= chunk;
    }
    return true;
}

static const uint8_t *block_for(uint64_t base) {
    for (int i = 0; i < nblocks; i++)
        if (blocks[i].addr == base)
            return blocks[i].data;
    int slot;
    if (nblocks < NBLOCKS)
        slot = nblocks;
    else {
        slot = next_victim;
        next_victim = (next_victim + 1) % NBLOCKS;
    }
    if (!read_uncached(base, blocks[slot].data, BLOCK))
        return NULL;
    blocks[slot].addr = base;
    if (slot == nblocks)
        nblocks++;
    return blocks[slot].data;
}

static bool read_mem(uint64_t addr, void *buf, size_t len) {
    uint8_t *out = buf;
    uint64_t a = addr;
    size_t left = len;
    while (left > 0) {
        uint64_t base = a & ~(uint64_t)(BLOCK - 1);
        const uint8_t *b = block_for(base);
        if (b == NULL) /* the block runs past a mapping: exactly what asked */
            return read_uncached(addr, buf, len);
        size_t off = (size_t)(a - base);
        size_t n = BLOCK - off < left ? BLOCK - off : left;
        memcpy(out, b + off, n);
        out += n;
        a += n;
        left -= n;
    }
    return true;
}

/* Bytes of a word of the target: 4 on i386 and ARM32, else 8 (target.word). */
static size_t word_size(void) { return tgt->word ? tgt->word : 8; }

static bool read_word(uint64_t addr, uint64_t *w) {
    uint8_t b[8];
    size_t n = word_size();
    if (!read_mem(addr, b, n))
        return false;
    uint64_t v = 0;
    for (int i = (int)n - 1; i >= 0; i--)
        v = v << 8 | b[i];
    *w = v;
    return true;
}

/* ------------------------------------------------------------------------ */
/* running                                                                  */
/* ------------------------------------------------------------------------ */

/* Waits for the stop reply of a 's' or 'c'. */
static struct stop wait_reply(void) {
    for (;;) {
        size_t n = recv_packet();
        invalidate();
        if (n == 0)
            die("gdb stub: empty stop reply");
        char *end;
        switch (reply[0]) {
        case 'T':
        case 'S': {
            char h[3] = {reply[1], reply[2], 0};
            int sig = (int)strtol(h, &end, 16);
            return (struct stop){sig, 0};
        }
        case 'W': {
            int code = (int)strtol(reply + 1, &end, 16);
            return (struct stop){-1, code};
        }
        case 'X': {
            int sig = (int)strtol(reply + 1, &end, 16);
            return (struct stop){-1, 128 + sig};
        }
        case 'O': /* console output */
            continue;
        default:
            die("gdb stub: unexpected stop reply '%.40s'", reply);
        }
    }
}

static struct stop step(void) {
    send_packet("s");
    return wait_reply();
}

/* Continues, passing on a signal the target got (gdb's numbers, which are
 * Linux's for the ones that matter here). */
static struct stop cont(int sig) {
    if (sig > 0 && sig != SIGTRAP)
        send_packet("C%02x", sig);
    else
        send_packet("c");
    return wait_reply();
}

static void reap(void) {
    if (sock >= 0)
        close(sock);
    sock = -1;
    if (child > 0) {
        int st;
        while (waitpid(child, &st, 0) < 0 && errno == EINTR)
            ;
        child = 0;
    }
}

static int finish(void) {
    struct stop s = {0, 0};
    for (;;) {
        s = cont(s.sig);
        if (s.sig < 0)
            break;
    }
    reap();
    return s.exit_status;
}

/* ------------------------------------------------------------------------ */
/* libdw's view of the stopped thread                                       */
/* ------------------------------------------------------------------------ */

static pid_t cb_next_thread(Dwfl *dwfl, void *arg, void **thread_argp) {
    (void)dwfl;
    (void)arg;
    if (*thread_argp != NULL)
        return 0;
    *thread_argp = &thread_id;
    return thread_id;
}

static bool cb_get_thread(Dwfl *dwfl, pid_t tid, void *arg,
                          void **thread_argp) {
    (void)dwfl;
    (void)arg;
    *thread_argp = &thread_id;
    return tid == thread_id;
}

/* libdw (0.188) reads a signed return address as it is and cannot map it
 * to a module: a word whose authentication bits, stripped, leave a code
 * address of a reported module is handed over stripped, which is what a
 * PAC-aware unwinder does with the return-address column. (Whether the
 * rows say "signed" at the right instructions is thus not checked here;
 * see README.md.) The same for the return-address register in the
 * innermost frame, signed between paciasp and autiasp. */
static uint64_t stripped[64]; /* in this walk, for ra_was_signed */
static int nstripped;

static uint64_t unsigned_code_address(Dwfl *dwfl, uint64_t w) {
    if (tgt->strip_pac != NULL && (w >> 48) != 0) {
        uint64_t s = tgt->strip_pac(w);
        if (s != w && dwfl_addrmodule(dwfl, s) != NULL) {
            if (nstripped < 64)
                stripped[nstripped++] = s;
            return s;
        }
    }
    return w;
}

static void walk_begin(void) { nstripped = 0; }

static int strip_mark(void) { return nstripped; }

static bool ra_was_signed(uint64_t value, int from, int to) {
    for (int i = from; i < to && i < nstripped; i++)
        if (stripped[i] == value)
            return true;
    return false;
}

static bool cb_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result,
                           void *arg) {
    (void)arg;
    uint64_t w;
    if (!read_word(addr, &w))
        return false;
    *result = unsigned_code_address(dwfl, w);
    return true;
}

static bool cb_set_initial_registers(Dwfl_Thread *thread, void *arg) {
    (void)arg;
    fetch_regs();
    Dwarf_Word regs[64];
    for (int i = 0; i < cur_ndwarf; i++)
        regs[i] = i == tgt->dwarf_ra
                      ? unsigned_code_address(dwfl_thread_dwfl(thread),
                                              cur_dwarf[i])
                      : cur_dwarf[i];
    if (!dwfl_thread_state_registers(thread, 0, (unsigned)cur_ndwarf, regs))
        return false;
    dwfl_thread_state_register_pc(thread, cur_regs.pc);
    return true;
}

static void cb_detach(Dwfl *dwfl, void *arg) {
    (void)dwfl;
    (void)arg;
}

static void cb_thread_detach(Dwfl_Thread *thread, void *arg) {
    (void)thread;
    (void)arg;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = cb_next_thread,
    .get_thread = cb_get_thread,
    .memory_read = cb_memory_read,
    .set_initial_registers = cb_set_initial_registers,
    .detach = cb_detach,
    .thread_detach = cb_thread_detach,
};

/* ------------------------------------------------------------------------ */
/* modules                                                                  */
/* ------------------------------------------------------------------------ */

static char *debuginfo_path;
static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
    .section_address = dwfl_offline_section_address,
};

struct exe_info {
    uint64_t entry;   /* e_entry */
    uint64_t dyn;     /* PT_DYNAMIC's p_vaddr, 0: none */
    uint64_t dynsize; /* its p_memsz */
    bool pie;         /* ET_DYN */
};

static struct exe_info read_exe(const char *path) {
    struct exe_info x = {0, 0, 0, false};
    int fd;
    GElf_Ehdr eh;
    Elf *elf = open_elf(path, &fd, &eh);
    x.entry = eh.e_entry;
    x.pie = eh.e_type == ET_DYN;
    size_t nph = 0;
    elf_getphdrnum(elf, &nph);
    for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, (int)i, &ph) != NULL && ph.p_type == PT_DYNAMIC) {
            x.dyn = ph.p_vaddr;
            x.dynsize = ph.p_memsz;
        }
    }
    elf_end(elf);
    close(fd);
    return x;
}

static void report(Dwfl *dwfl, const char *file, uint64_t bias) {
    const char *slash = strrchr(file, '/');
    if (dwfl_report_elf(dwfl, slash ? slash + 1 : file, file, -1, bias,
                        false) == NULL)
        die("dwfl_report_elf %s: %s", file, dwfl_errmsg(-1));
}

static bool read_string(uint64_t addr, char *buf, size_t len) {
    size_t n = 0;
    while (n < len - 1) {
        if (!read_mem(addr + n, &buf[n], 1))
            return false;
        if (buf[n] == '\0')
            return true;
        n++;
    }
    buf[n] = '\0';
    return true;
}

/* The executable and, through r_debug, every library the dynamic linker
 * has loaded. */
static Dwfl *report_all(const char *exe, const struct exe_info *x,
                        uint64_t bias) {
    Dwfl *dwfl = dwfl_begin(&offline_callbacks);
    if (dwfl == NULL)
        die("dwfl_begin: %s", dwfl_errmsg(-1));
    dwfl_report_begin(dwfl);
    report(dwfl, exe, bias);
    uint64_t r_debug = 0;
    /* (ElfN_Dyn, r_debug and link_map in words of the target: the
     * offsets of the host's 64-bit structs divided by 8, times a word.) */
    const uint64_t w = word_size();
    for (uint64_t off = 0; x->dyn != 0 && off + 2 * w <= x->dynsize; off += 2 * w) {
        uint64_t tag, val;
        if (!read_word(bias + x->dyn + off, &tag) ||
            !read_word(bias + x->dyn + off + w, &val))
            die("cannot read the executable's dynamic section");
        if (tag == DT_NULL)
            break;
        if (tag == DT_DEBUG)
            r_debug = val;
    }
    uint64_t lm = 0;
    if (r_debug != 0 &&
        !read_word(r_debug + offsetof(struct r_debug, r_map) / 8 * w, &lm))
        die("cannot read r_debug at 0x%" PRIx64, r_debug);
    for (int count = 0; lm != 0 && count < 512; count++) {
        uint64_t l_addr, l_name, l_next;
        if (!read_word(lm + offsetof(struct link_map, l_addr) / 8 * w, &l_addr) ||
            !read_word(lm + offsetof(struct link_map, l_name) / 8 * w, &l_name) ||
            !read_word(lm + offsetof(struct link_map, l_next) / 8 * w, &l_next))
            die("cannot read the link map at 0x%" PRIx64, lm);
        char name[4096] = "", path[4200];
        if (l_name != 0 && !read_string(l_name, name, sizeof name))
            name[0] = '\0';
        lm = l_next;
        if (name[0] != '/') /* the executable (""), the vDSO */
            continue;
        struct stat st;
        if (sysroot != NULL &&
            snprintf(path, sizeof path, "%s%s", sysroot, name) <
                (int)sizeof path &&
            stat(path, &st) == 0)
            report(dwfl, path, l_addr);
        else if (stat(name, &st) == 0)
            report(dwfl, name, l_addr);
    }
    if (dwfl_report_end(dwfl, NULL, NULL) != 0)
        die("dwfl_report_end: %s", dwfl_errmsg(-1));
    return dwfl;
}

/* ------------------------------------------------------------------------ */
/* start                                                                    */
/* ------------------------------------------------------------------------ */

static void connect_stub(const char *dir, const char *path, int ino) {
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        die("socket path too long: %s", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            die("socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            sock = fd;
            break;
        }
        int err = errno;
        close(fd);
        int st;
        pid_t w = waitpid(child, &st, WNOHANG);
        if (w == child) {
            child = 0;
            rmdir(dir);
            die("the gdb stub (%s) exited before it listened (status %d)",
                stub_argv[0], WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        }
        if (err == ENOENT && pidfd >= 0) {
            /* Not created yet: block until something appears in the
             * directory, or the stub dies. */
            struct pollfd p[2] = {{ino, POLLIN, 0}, {pidfd, POLLIN, 0}};
            if (poll(p, 2, -1) < 0 && errno != EINTR)
                die("poll: %s", strerror(errno));
            if (p[0].revents & POLLIN) {
                char ev[4096];
                if (read(ino, ev, sizeof ev) < 0 && errno != EAGAIN)
                    die("inotify: %s", strerror(errno));
            }
        } else if (err == ENOENT || err == ECONNREFUSED || err == EAGAIN) {
            /* Bound but not listening yet, or no pidfd: try again. */
            sched_yield();
        } else {
            unlink(path);
            rmdir(dir);
            die("connect %s: %s", path, strerror(err));
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    close(ino);
    unlink(path);
    rmdir(dir);
}

static Dwfl *start(const struct target *t, char **argv, const char *begin,
                   const char *end, uint64_t *begin_addr, uint64_t *end_addr,
                   pid_t *tid) {
    tgt = t;
    if (stub_argv == NULL || stub_argv[0] == NULL)
        die("no stub command (--stub)");
    struct exe_info x = read_exe(argv[0]);

    /* TMPDIR only if short: "<TMPDIR>/check-cfi.XXXXXX/gdb" must fit in
     * sun_path (108 bytes) as the stub takes it, and qemu 7.2 cut a
     * 107-byte path to 105 (it listened on ".../gd" while the checker
     * waited for ".../gdb"). Below 80 bytes the path is at most 100. */
    const char *tmp = getenv("TMPDIR");
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/check-cfi.XXXXXX",
             tmp != NULL && tmp[0] && strlen(tmp) < 80 ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        die("mkdtemp %s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/gdb", dir);
    int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ino < 0 || inotify_add_watch(ino, dir, IN_CREATE | IN_MOVED_TO) < 0)
        die("inotify: %s", strerror(errno));

    int nstub = 0, nargs = 0;
    while (stub_argv[nstub] != NULL)
        nstub++;
    while (argv[nargs] != NULL)
        nargs++;
    char **av = calloc((size_t)(nstub + nargs + 3), sizeof *av);
    if (av == NULL)
        die("out of memory");
    int k = 0;
    for (int i = 0; i < nstub; i++)
        av[k++] = stub_argv[i];
    av[k++] = "-g";
    av[k++] = path;
    for (int i = 0; i < nargs; i++)
        av[k++] = argv[i];
    av[k] = NULL;

    fflush(stdout);
    child = fork();
    if (child < 0)
        die("fork: %s", strerror(errno));
    if (child == 0) {
        /* The stub dies with the checker (killed by a test timeout, say)
         * rather than wait for a debugger forever. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* qemu-user hands its environment to the guest. */
        setenv("LD_BIND_NOW", "1", 1);
        execvp(av[0], av);
        perror(av[0]);
        _exit(127);
    }
    free(av);
    connect_stub(dir, path, ino);
    thread_id = child;

    command("qSupported:swbreak+");
    if (command("QStartNoAckMode") > 0 && strcmp(reply, "OK") == 0)
        noack = true;
    command("?");
    invalidate();

    /* The executable's bias, from AT_ENTRY. */
    uint64_t bias = 0;
    if (x.pie) {
        static uint8_t auxv[8192];
        size_t alen = 0;
        for (;;) {
            size_t n = command("qXfer:auxv:read::%zx,%x", alen, 1024);
            if (n == 0 || (reply[0] != 'm' && reply[0] != 'l'))
                die("gdb stub: no auxv (%.40s)", reply);
            if (alen + n - 1 > sizeof auxv)
                die("auxv too long");
            memcpy(auxv + alen, reply + 1, n - 1);
            alen += n - 1;
            if (reply[0] == 'l' || n == 1)
                break;
        }
        uint64_t entry = 0;
        const size_t w = word_size(); /* ElfN_auxv_t: two words */
        for (size_t off = 0; off + 2 * w <= alen; off += 2 * w) {
            uint64_t type = 0, val = 0;
            memcpy(&type, auxv + off, w);
            memcpy(&val, auxv + off + w, w);
            if (type == AT_ENTRY)
                entry = val;
        }
        if (entry == 0)
            die("no AT_ENTRY in the target's auxv");
        bias = entry - x.entry;
    }

    {
        Dwfl *d = dwfl_begin(&offline_callbacks);
        if (d == NULL)
            die("dwfl_begin: %s", dwfl_errmsg(-1));
        dwfl_report_begin(d);
        report(d, argv[0], bias);
        dwfl_report_end(d, NULL, NULL);
        *begin_addr = find_function(d, begin);
        *end_addr = find_function(d, end);
        dwfl_end(d);
    }
    if (*begin_addr == 0 || *end_addr == 0)
        die("%s exports no %s/%s", argv[0], begin, end);

    command("Z0,%" PRIx64 ",%d", *begin_addr, t->bp_kind);
    if (strcmp(reply, "OK") != 0)
        die("gdb stub: cannot set a breakpoint (%.40s)", reply);
    struct stop s = {0, 0};
    for (;;) {
        s = cont(s.sig);
        if (s.sig < 0)
            die("%s exited (status %d) before %s", argv[0], s.exit_status,
                begin);
        struct regs r;
        get_regs(&r);
        if (s.sig == SIGTRAP && r.pc == *begin_addr)
            break;
    }
    command("z0,%" PRIx64 ",%d", *begin_addr, t->bp_kind);

    Dwfl *dwfl = report_all(argv[0], &x, bias);
    if (!dwfl_attach_state(dwfl, NULL, thread_id, &thread_callbacks, NULL))
        die("dwfl_attach_state: %s", dwfl_errmsg(-1));
    *tid = thread_id;
    return dwfl;
}

const struct backend backend_gdbstub = {
    .start = start,
    .get_regs = get_regs,
    .read_mem = read_mem,
    .step = step,
    .finish = finish,
    .walk_begin = walk_begin,
    .strip_mark = strip_mark,
    .ra_was_signed = ra_was_signed,
};
