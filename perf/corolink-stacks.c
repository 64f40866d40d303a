/* corolink-stacks: list and unwind the coroutines of a live process or of a
 * core file, like eu-stack does for threads (see perf/README.md).
 *
 * Everything about coroutines comes from the debug-offsets table
 * (unwind-info/debug-table.md): the exported symbol corolink_debug_offsets
 * (or the section .corolink_debug). The registry it points to lists every
 * live control block; a suspended coroutine is unwound with libdw's CFI from
 * its saved pc/sp/fp, exposed to libdw as a pseudo-thread through our own
 * Dwfl_Thread_Callbacks; a running coroutine is found on the thread whose
 * stack pointer lies in its stack, and that thread is unwound.
 *
 * Live processes: the table is looked up before the process is stopped;
 * then every thread is stopped (PTRACE_SEIZE + PTRACE_INTERRUPT), the
 * registry, the control blocks, the used part of every stack and the thread
 * registers are copied (batched process_vm_readv), the threads are released,
 * and the unwinding works on the copies. A core file is read with pread,
 * never mapped (what a mapping reads stays resident).
 *
 * At scale (a million coroutines): per coroutine, the tool keeps a small
 * struct coro, its frames and (live) the copy of its used stack; each is
 * unwound from a window on that stack (set_window()), and the output
 * modes that merge stacks describe each distinct one once (make_sigs()).
 *
 * Every walk is bounded (chunks, slots, frames, bytes) and every pointer
 * read from the target is checked: a corrupt registry or core file gives a
 * one-line error, never a crash or a hang. A damaged coroutine (saved pc
 * not code, saved sp or frames outside its stack, a frame chain that loops)
 * gets one line instead of its frames, and a control block in several
 * registry slots is listed once (check_coroutine(), diag_line()). */
#define _GNU_SOURCE
#include <dirent.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <getopt.h>
#include <inttypes.h>
#include <libelf.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/debug_table.h"

/* ---- bounds ---------------------------------------------------------------- */
#define MAX_CHUNKS 100000u          /* registry chunks walked */
#define MAX_SLOTS_PER_CHUNK (1u << 24)
#define MAX_TOTAL_SLOTS (1u << 26)
#define MAX_FRAMES 256              /* frames per stack */
#define MAX_THREADS 65536
#define MAX_STACK_COPY (8u << 20)   /* bytes copied per stack */
#define THREAD_STACK_DEFAULT (256u << 10)
#define MAX_CONTROL_SIZE 65536u
#define IOV_BATCH 1024

static const char *prog_name = "corolink-stacks";

/* ---- errors ---------------------------------------------------------------- */
static pid_t *attached;   /* threads stopped by us (detached on any exit) */
static size_t nattached;
static pid_t attached_pid;
static const char *svg_partial; /* --svg FILE being written: removed by die() */

static void detach_all(void) {
    for (size_t i = 0; i < nattached; i++)
        ptrace(PTRACE_DETACH, attached[i], NULL, NULL);
    nattached = 0;
}

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
    detach_all();
    if (svg_partial)
        unlink(svg_partial);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xcalloc(size_t n, size_t sz) {
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        die("out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n, size_t sz) {
    if (sz && n > SIZE_MAX / sz)
        die("out of memory");
    p = realloc(p, (n * sz) != 0 ? n * sz : 1);
    if (!p)
        die("out of memory");
    return p;
}

static char *xstrdup(const char *s) {
    char *r = strdup(s ? s : "");
    if (!r)
        die("out of memory");
    return r;
}

static uint64_t mono_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- memory of the target ---------------------------------------------------
 * LIVE: process_vm_readv (only while stopped, or for constant data);
 * SNAP: copies taken while the process was stopped; CORE: PT_LOAD segments
 * of the core file (p_filesz bytes, clamped to the file's real size). */
struct range {
    uint64_t addr, len;
    unsigned char *data;
    bool owned; /* else: inside an arena */
};
struct seg {
    uint64_t vaddr, len, off;
};
enum { MEM_LIVE, MEM_CORE };

struct mem {
    int kind;
    pid_t pid;
    bool use_snap;          /* LIVE after the copies: read only from them */
    struct range *r;        /* sorted by addr after snap_sort() */
    size_t nr, cr;
    void *arena;            /* one mapping for the stacks of copy_stacks() */
    size_t arena_size;
    uint64_t snap_bytes;
    /* the stack of the coroutine being unwound (a copy): read first */
    struct range win;
    struct seg *segs;
    size_t nsegs;
    int fd;                 /* CORE: the file, read with pread (mapping it
                             * would count every page read as resident) */
    size_t mapsz;           /* CORE: its size */
};

static bool live_read(pid_t pid, uint64_t addr, void *buf, size_t len) {
    if (len == 0)
        return true;
    struct iovec l = {buf, len}, r = {(void *)(uintptr_t)addr, len};
    ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);
    return n == (ssize_t)len;
}

/* Reads as much of [addr, addr+len) as is mapped, from addr on. */
static size_t live_read_partial(pid_t pid, uint64_t addr, void *buf, size_t len) {
    struct iovec l = {buf, len}, r = {(void *)(uintptr_t)addr, len};
    ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);
    if (n < 0) {
        /* the kernel fails the whole call when the first page is bad;
         * retry page by page up to the first failure */
        size_t got = 0;
        while (got < len) {
            size_t chunk = 4096 - ((addr + got) & 4095);
            if (chunk > len - got)
                chunk = len - got;
            if (!live_read(pid, addr + got, (char *)buf + got, chunk))
                break;
            got += chunk;
        }
        return got;
    }
    return (size_t)n;
}

static int range_cmp(const void *a, const void *b) {
    const struct range *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void snap_add(struct mem *m, uint64_t addr, unsigned char *data, uint64_t len) {
    if (len == 0) {
        free(data);
        return;
    }
    if (m->nr == m->cr) {
        m->cr = m->cr ? m->cr * 2 : 1024;
        m->r = xrealloc(m->r, m->cr, sizeof *m->r);
    }
    m->r[m->nr++] = (struct range){addr, len, data, true};
    m->snap_bytes += len;
}

static void snap_clear(struct mem *m) {
    for (size_t i = 0; i < m->nr; i++)
        if (m->r[i].owned)
            free(m->r[i].data);
    m->nr = 0;
    if (m->arena)
        munmap(m->arena, m->arena_size);
    m->arena = NULL;
    m->snap_bytes = 0;
    m->use_snap = false;
}

static bool range_read(const struct range *r, uint64_t addr, void *buf, size_t len) {
    if (addr < r->addr || addr - r->addr > r->len || len > r->len - (addr - r->addr))
        return false;
    memcpy(buf, r->data + (addr - r->addr), len);
    return true;
}

static bool snap_read(const struct mem *m, uint64_t addr, void *buf, size_t len) {
    /* last range starting at or below addr, then a few before it (ranges
     * rarely overlap: a thread's copy and a coroutine stack's) */
    size_t lo = 0, hi = m->nr;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->r[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = 0; k < 16 && lo > 0; k++, lo--)
        if (range_read(&m->r[lo - 1], addr, buf, len))
            return true;
    return false;
}

/* Where [addr, addr+len) is in the core file. */
static bool core_offset(const struct mem *m, uint64_t addr, size_t len, off_t *off) {
    size_t lo = 0, hi = m->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->segs[mid].vaddr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return false;
    const struct seg *s = &m->segs[lo - 1];
    if (addr - s->vaddr > s->len || len > s->len - (addr - s->vaddr))
        return false;
    *off = (off_t)(s->off + (addr - s->vaddr));
    return true;
}

/* Starts reading [addr, addr+len) of the core into the page cache: many
 * small reads at once rather than one disk access after the other. */
static void core_prefetch(const struct mem *m, uint64_t addr, size_t len) {
    off_t off;
    if (addr + len >= addr && core_offset(m, addr, len, &off))
        posix_fadvise(m->fd, off, (off_t)len, POSIX_FADV_WILLNEED);
}

static bool core_read(const struct mem *m, uint64_t addr, void *buf, size_t len) {
    off_t off;
    if (!core_offset(m, addr, len, &off))
        return false;
    for (size_t got = 0; got < len;) {
        ssize_t r = pread(m->fd, (char *)buf + got, len - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

static bool mem_read(const struct mem *m, uint64_t addr, void *buf, size_t len) {
    if (addr + len < addr)
        return false;
    if (m->win.len && range_read(&m->win, addr, buf, len))
        return true;
    if (m->kind == MEM_CORE)
        return core_read(m, addr, buf, len);
    if (m->use_snap)
        return snap_read(m, addr, buf, len);
    return live_read(m->pid, addr, buf, len);
}

/* Reads n blocks at once: ok[i] tells which arrived whole. Live: batched
 * process_vm_readv (a failing element ends a call: go on after it). */
static void mem_read_many(const struct mem *m, size_t n, const uint64_t *addr,
                          const size_t *len, unsigned char **buf, bool *ok) {
    if (m->kind != MEM_LIVE || m->use_snap) {
        for (size_t i = 0; i < n; i++)
            ok[i] = mem_read(m, addr[i], buf[i], len[i]);
        return;
    }
    struct iovec lv[IOV_BATCH], rv[IOV_BATCH];
    size_t i = 0;
    while (i < n) {
        size_t k = n - i < IOV_BATCH ? n - i : IOV_BATCH;
        for (size_t j = 0; j < k; j++) {
            lv[j] = (struct iovec){buf[i + j], len[i + j]};
            rv[j] = (struct iovec){(void *)(uintptr_t)addr[i + j], len[i + j]};
        }
        ssize_t got = process_vm_readv(m->pid, lv, k, rv, k, 0);
        size_t done = 0;
        uint64_t total = got > 0 ? (uint64_t)got : 0;
        while (done < k && total >= len[i + done]) {
            ok[i + done] = true;
            total -= len[i + done];
            done++;
        }
        if (done < k) {
            ok[i + done] = false; /* the element that failed */
            done++;
        }
        i += done;
    }
}

/* ---- the state of the target ------------------------------------------------ */
enum { ST_SUSPENDED, ST_RUNNING, ST_CREATED, ST_FINISHED };
static const char *finished_names[] = {"finished", "returned", "trapped", "threw", "unwound", "reset"};

struct frame {
    uint64_t pc;
    uint64_t sp;      /* the stack pointer in that frame (0: libdw did not know it) */
    bool activation;
};

#define MAX_DUP_SLOTS 8 /* registry slots of a duplicate, kept for the report */

/* A million of these at once: kept small (what is rare is allocated). */
struct coro {
    uint64_t addr, id, pc, sp, create_site, suspend_ns;
    uint64_t saved[4];  /* suspended: the registers of the table's saved[] */
    uint64_t stack_limit, link_sp;
    uint64_t limit_read; /* stack_limit as read */
    uint64_t guard;     /* bytes of guard region below stack_limit */
    uint64_t resuming;  /* running, depth > 0: the id it resumed */
    struct frame *frames;
    /* registry slots holding this control block (> 1: a damaged registry;
     * listed once) and, then, the addresses of the first MAX_DUP_SLOTS */
    uint64_t nslots;
    uint64_t *slot_addr;
    /* what is wrong with its saved registers or frames (check_coroutine);
     * set: its frames are dropped and every output mode says this instead */
    char *damage;
    uint32_t finished;
    int state;
    pid_t thread;       /* running: the OS thread (0: unknown) */
    int depth;          /* running: 0 innermost, k: resumed k nested ones */
    int nframes;
    bool incomplete;    /* unwinding stopped before the root */
    bool bad_limit;     /* stack_limit made no sense (replaced for reading) */
    bool name_ok;       /* the name is NUL-terminated and printable */
    char name[64];
};

/* ---- register sets -----------------------------------------------------------
 * Which DWARF register each word of a thread's general registers holds, as
 * the kernel lays them out in NT_PRSTATUS (pr_reg: a core file's notes,
 * PTRACE_GETREGSET of a live thread), per ELF machine: the only register
 * knowledge here. Which registers a suspended coroutine keeps, and the
 * DWARF numbers of the pc and the stack pointer, come from the debug table
 * (unwind-info/debug-table.md). */
#define MAX_DWARF_REGS 65 /* RISC-V's pc is 64 (src/arch/riscv64_linux.h) */
/* Register masks (bit r: DWARF register r) hold 0-63: a pc numbered past
 * them (RISC-V) is always set apart (dwfl_thread_state_register_pc). */
#define REG_BIT(r) ((r) < 64 ? 1ull << (r) : 0)
#define PRSTATUS_PID_OFF 32  /* pr_pid in a 64-bit struct elf_prstatus */
#define PRSTATUS_REG_OFF 112 /* pr_reg */
#ifndef EM_AARCH64
#define EM_AARCH64 183
#endif
#ifndef EM_386
#define EM_386 3
#endif
#ifndef EM_ARM
#define EM_ARM 40
#endif
#ifndef EM_RISCV
#define EM_RISCV 243
#endif

struct regset {
    unsigned machine;  /* e_machine */
    const char *name;
    unsigned nwords;   /* words of pr_reg */
    unsigned ndwarf;   /* DWARF registers 0..ndwarf-1 are in it */
    signed char word[MAX_DWARF_REGS]; /* pr_reg word of each (-1: none) */
    /* return addresses may carry a pointer-authentication code in the
     * bits above the address space (AArch64 -mbranch-protection) */
    bool signed_ra;
    /* bytes of a pr_reg word (and of a pointer: 4 means ELFCLASS32 cores),
     * where pr_pid and pr_reg lie in the target's struct elf_prstatus */
    unsigned wsize, pid_off, reg_off;
    /* code addresses carry the instruction set in bit 0 (ARM32: set for
     * Thumb): stripped from pcs and from the table's code addresses */
    bool thumb_bit;
};

static const struct regset regsets[] = {
    /* user_regs_struct: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx
     * rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs;
     * DWARF: rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip */
    {EM_X86_64, "x86-64", 27, 17, {10, 12, 11, 5, 13, 14, 4, 19, 9, 8, 7, 6, 3, 2, 1, 0, 16}, false, 8, PRSTATUS_PID_OFF, PRSTATUS_REG_OFF, false},
    /* user_pt_regs: x0-x30 sp pc pstate; DWARF: x0-x30 0-30, sp 31, pc 32 */
    {EM_AARCH64, "AArch64", 34, 33,
     {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
      17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}, true, 8, PRSTATUS_PID_OFF, PRSTATUS_REG_OFF, false},
    /* i386 user_regs_struct: ebx ecx edx esi edi ebp eax xds xes xfs xgs
     * orig_eax eip xcs eflags esp xss (4-byte words; a 32-bit elf_prstatus:
     * pr_pid at 24, pr_reg at 72); DWARF: eax ecx edx ebx esp ebp esi edi
     * eip */
    {EM_386, "i386", 17, 9, {6, 1, 2, 0, 15, 5, 3, 4, 12}, false, 4, 24, 72, false},
    /* ARM32 user_regs: r0-r15 cpsr orig_r0 (4-byte words; the 32-bit
     * elf_prstatus of i386); DWARF: r0-r15 0-15 (sp 13, lr 14, pc 15) */
    {EM_ARM, "ARM32", 18, 16, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, false, 4, 24, 72, true},
    /* RISC-V 64 user_regs_struct: pc, x1-x31 (ra sp gp tp t0-t2 s0 s1
     * a0-a7 s2-s11 t3-t6); DWARF: x0-x31 0-31 (x0, zero, in no word),
     * f0-f31 32-63 (not in pr_reg), pc 64 (the debug table's number) */
    {EM_RISCV, "RISC-V 64", 32, 65,
     {-1, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
      22, 23, 24, 25, 26, 27, 28, 29, 30, 31, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
      -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0},
     false, 8, PRSTATUS_PID_OFF, PRSTATUS_REG_OFF, false},
};

static const struct regset *regset_of(unsigned machine) {
    for (size_t i = 0; i < sizeof regsets / sizeof regsets[0]; i++)
        if (regsets[i].machine == machine)
            return &regsets[i];
    return NULL;
}

struct thread {
    pid_t tid;
    uint64_t regs[MAX_DWARF_REGS]; /* by DWARF number (the regset's) */
    struct frame *frames;
    int nframes;
    bool unwound;
};

/* A pseudo-thread for libdw: a suspended coroutine or a real thread. */
struct pthr {
    int kind; /* 0 coroutine, 1 thread */
    size_t idx;
};

/* Registers to restart an unwind from (a frame whose return address had to
 * be stripped of its pointer-authentication code, see frame_cb()). */
struct restart {
    uint64_t regs[MAX_DWARF_REGS];
    uint64_t valid; /* bit r: regs[r] is known */
    uint64_t pc;
};

struct ctx {
    struct mem mem;
    Dwfl *dwfl;
    bool attached_state;
    struct corolink_debug_offsets t;
    const struct regset *rs;  /* the table's machine (elf_machine) */
    unsigned core_machine;    /* e_machine of the core file */
    uint64_t addr_mask;       /* bits an address can have (strip_pc) */
    struct restart restart;   /* the pseudo-thread of kind 2 */
    uint64_t table_addr;
    bool live;
    pid_t pid;
    /* maps (live): for the extent of thread stacks */
    uint64_t (*maps)[2];
    size_t nmaps;
    /* where code may be: executable mappings (live), executable PT_LOAD
     * segments of the core and of every module's ELF file; sorted, merged */
    uint64_t (*code)[2];
    size_t ncode, ccode;
    /* one snapshot */
    struct coro *co;
    size_t nco;
    struct thread *th;
    size_t nth;
    struct pthr *pt;
    size_t npt;
    uint32_t debug_flags;
    bool have_flags;
    uint64_t now_ns;          /* live: CLOCK_MONOTONIC at the snapshot */
    double stop_ms;           /* live: how long the process was stopped */
    uint64_t chunks, slots;
};

static uint64_t rd64(const unsigned char *b, uint32_t off) {
    uint64_t v;
    memcpy(&v, b + off, 8);
    return v;
}

/* A little-endian word of w bytes (4 or 8: a target's pointer). */
static uint64_t rdw(const unsigned char *b, uint32_t off, unsigned w) {
    if (w == 4) {
        uint32_t v;
        memcpy(&v, b + off, 4);
        return v;
    }
    return rd64(b, off);
}

/* ---- the table ---------------------------------------------------------------- */
struct find_table {
    uint64_t addr;
    bool found;
    Dwfl_Module *mod;
};

static int find_table_cb(Dwfl_Module *mod, void **ud, const char *name, Dwarf_Addr start, void *arg) {
    (void)ud, (void)name, (void)start;
    struct find_table *f = arg;
    int n = dwfl_module_getsymtab(mod);
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        const char *s = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL, NULL, NULL);
        if (s && strncmp(s, "corolink_debug_offsets", 22) == 0 && (s[22] == 0 || s[22] == '@') &&
            sym.st_shndx != SHN_UNDEF && GELF_ST_TYPE(sym.st_info) == STT_OBJECT) {
            f->addr = addr;
            f->found = true;
            f->mod = mod;
            return DWARF_CB_ABORT;
        }
    }
    /* a stripped static program: the section, plus the load bias */
    Dwarf_Addr bias;
    Elf *elf = dwfl_module_getelf(mod, &bias);
    size_t shstrndx;
    if (elf && elf_getshdrstrndx(elf, &shstrndx) == 0) {
        Elf_Scn *scn = NULL;
        while ((scn = elf_nextscn(elf, scn)) != NULL) {
            GElf_Shdr sh;
            if (!gelf_getshdr(scn, &sh))
                break;
            const char *sn = elf_strptr(elf, shstrndx, sh.sh_name);
            if (sn && strcmp(sn, ".corolink_debug") == 0 && (sh.sh_flags & SHF_ALLOC)) {
                f->addr = sh.sh_addr + bias;
                f->found = true;
                f->mod = mod;
                return DWARF_CB_ABORT;
            }
        }
    }
    return DWARF_CB_OK;
}

static void load_table(struct ctx *c, const char *what) {
    struct find_table f = {0};
    dwfl_getmodules(c->dwfl, find_table_cb, &f, 0);
    if (!f.found)
        die("%s does not use corolink (no corolink_debug_offsets symbol or .corolink_debug section)", what);
    c->table_addr = f.addr;
    struct corolink_debug_offsets *t = &c->t;
    /* Version 1 (x86-64 only) lacks the target description, version 2
     * the resume-path range. */
    memset(t, 0, sizeof *t);
    if (!mem_read(&c->mem, f.addr, t, CL_DEBUG_TABLE_V1_SIZE))
        die("%s: cannot read the corolink debug table at 0x%" PRIx64, what, f.addr);
    size_t want = CL_DEBUG_TABLE_V1_SIZE;
    if (t->version >= 3 && t->size >= sizeof *t)
        want = sizeof *t;
    else if (t->version >= 2 && t->size >= CL_DEBUG_TABLE_V2_SIZE)
        want = CL_DEBUG_TABLE_V2_SIZE;
    if (want > CL_DEBUG_TABLE_V1_SIZE && !mem_read(&c->mem, f.addr, t, want))
        die("%s: cannot read the corolink debug table at 0x%" PRIx64, what, f.addr);
    if (want < sizeof *t || t->hidden_hi < t->hidden_lo)
        t->hidden_lo = t->hidden_hi = 0; /* none (or damaged: hide nothing) */
    if (memcmp(t->magic, "CLNKDBG", 8) != 0)
        die("%s: the corolink debug table at 0x%" PRIx64 " has a bad magic", what, f.addr);
    if (t->version < 1 || t->size < CL_DEBUG_TABLE_V1_SIZE ||
        (t->pointer_size != 8 && t->pointer_size != 4))
        die("%s: unsupported corolink debug table (version %u, size %u, pointer size %u)", what,
            t->version, t->size, t->pointer_size);
    uint32_t cs = t->control_size;
    if (cs == 0 || cs > MAX_CONTROL_SIZE || t->name_size == 0 || t->name_size > 4096 ||
        t->finished_size != 4 || t->slot_size != t->pointer_size)
        die("%s: corrupt corolink debug table (sizes)", what);
    uint32_t offs8[] = {t->off_pc, t->off_sp, t->off_fp, t->off_fn, t->off_arg, t->off_id,
                        t->off_stack_limit, t->off_stack_top, t->off_guard, t->off_link_sp,
                        t->off_check, t->off_create_site, t->off_suspend_ns};
    for (size_t i = 0; i < sizeof offs8 / sizeof offs8[0]; i++)
        if (offs8[i] > cs - 8)
            die("%s: corrupt corolink debug table (offsets)", what);
    if (t->off_finished > cs - 4 || t->off_name > cs - t->name_size)
        die("%s: corrupt corolink debug table (offsets)", what);
    if (t->trampoline == 0 || t->trampoline_end <= t->trampoline)
        die("%s: corrupt corolink debug table (trampoline)", what);
    if (t->registry == 0)
        die("%s: libcorolink was built without the registry (COROLINK_REGISTRY=OFF): coroutines cannot be listed", what);
    /* The target description: a version 1 table (or one too short for
     * it) is x86-64's, whose description is the defaults. */
    if (want < CL_DEBUG_TABLE_V2_SIZE) {
        memset(t->target, 0, sizeof t->target);
        strcpy(t->target, "x86_64-sysv-elf");
        t->elf_machine = EM_X86_64;
        t->dwarf_pc = 16, t->dwarf_sp = 7, t->dwarf_fp = 6, t->dwarf_ra = 16;
        t->nsaved = 2;
        t->saved[0].dwarf = 7, t->saved[0].off = t->off_sp;
        t->saved[1].dwarf = 6, t->saved[1].off = t->off_fp;
    }
    t->target[sizeof t->target - 1] = 0;
    if (c->mem.kind == MEM_CORE && c->core_machine != t->elf_machine) {
        const struct regset *cm = regset_of(c->core_machine), *tm = regset_of(t->elf_machine);
        die("%s: the core is of ELF machine %u (%s), its corolink debug table of %u (%s): not this program's core",
            what, c->core_machine, cm ? cm->name : "unknown", t->elf_machine, tm ? tm->name : "unknown");
    }
    c->rs = regset_of(t->elf_machine);
    if (!c->rs)
        die("%s: the corolink debug table describes target \"%s\" (ELF machine %u), whose registers this "
            "tool cannot read", what, t->target, t->elf_machine);
    if (t->pointer_size != c->rs->wsize)
        die("%s: corrupt corolink debug table (pointer size %u for %s)", what, t->pointer_size, c->rs->name);
    if (c->rs->thumb_bit) {
        /* ARM32: Thumb code addresses (functions, labels) have bit 0 set;
         * the pcs they are compared with do not (strip_pc()) */
        t->trampoline &= ~(uint64_t)1, t->trampoline_end &= ~(uint64_t)1;
        t->trampoline_ret &= ~(uint64_t)1;
        t->hidden_lo &= ~(uint64_t)1, t->hidden_hi &= ~(uint64_t)1;
    }
    unsigned nr = c->rs->ndwarf;
    bool has_sp = false;
    if (t->dwarf_pc >= nr || t->dwarf_sp >= nr || t->dwarf_fp >= nr || t->dwarf_ra >= nr || t->nsaved == 0 ||
        t->nsaved > sizeof t->saved / sizeof t->saved[0])
        die("%s: corrupt corolink debug table (target description)", what);
    for (uint32_t i = 0; i < t->nsaved; i++) {
        if (t->saved[i].dwarf >= nr || t->saved[i].dwarf == t->dwarf_pc || t->saved[i].off > cs - 8)
            die("%s: corrupt corolink debug table (saved registers)", what);
        has_sp |= t->saved[i].dwarf == t->dwarf_sp;
    }
    if (!has_sp)
        die("%s: corrupt corolink debug table (no saved stack pointer)", what);
}

/* ---- live process: modules, maps, stopping -------------------------------- */
static char *debuginfo_path;
static const Dwfl_Callbacks proc_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};
static const Dwfl_Callbacks core_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

static void add_code(struct ctx *c, uint64_t lo, uint64_t hi) {
    if (hi <= lo)
        return;
    if (c->ncode == c->ccode) {
        c->ccode = c->ccode ? c->ccode * 2 : 64;
        c->code = xrealloc(c->code, c->ccode, sizeof *c->code);
    }
    c->code[c->ncode][0] = lo;
    c->code[c->ncode][1] = hi;
    c->ncode++;
}

static void read_maps(struct ctx *c) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)c->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[4096];
    size_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long a, b;
        char perms[8] = "";
        if (sscanf(line, "%llx-%llx %7s", &a, &b, perms) < 2)
            continue;
        if (perms[2] == 'x')
            add_code(c, a, b);
        if (c->nmaps == cap) {
            cap = cap ? cap * 2 : 256;
            c->maps = xrealloc(c->maps, cap, sizeof *c->maps);
        }
        c->maps[c->nmaps][0] = a;
        c->maps[c->nmaps][1] = b;
        c->nmaps++;
    }
    fclose(f);
}

static uint64_t map_end(const struct ctx *c, uint64_t addr) {
    for (size_t i = 0; i < c->nmaps; i++)
        if (addr >= c->maps[i][0] && addr < c->maps[i][1])
            return c->maps[i][1];
    return 0;
}

static bool is_attached(pid_t tid) {
    for (size_t i = 0; i < nattached; i++)
        if (attached[i] == tid)
            return true;
    return false;
}

/* Stops every thread: PTRACE_SEIZE + PTRACE_INTERRUPT, until the thread list
 * is stable (a stopped thread creates no new ones). */
static void stop_all(struct ctx *c) {
    static size_t cap;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)c->pid);
    for (int round = 0; round < 50; round++) {
        DIR *d = opendir(path);
        if (!d)
            die("process %d: %s", (int)c->pid, strerror(errno));
        bool added = false;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char *end;
            long tid = strtol(e->d_name, &end, 10);
            if (*end || tid <= 0 || is_attached((pid_t)tid))
                continue;
            if (nattached >= MAX_THREADS)
                break;
            if (ptrace(PTRACE_SEIZE, (pid_t)tid, NULL, NULL) != 0) {
                if (errno == ESRCH)
                    continue; /* exited meanwhile */
                int err = errno;
                closedir(d);
                die("cannot attach to thread %ld of process %d: %s%s", tid, (int)c->pid, strerror(err),
                    err == EPERM ? " (ptrace not permitted: see /proc/sys/kernel/yama/ptrace_scope)" : "");
            }
            if (nattached == cap) {
                cap = cap ? cap * 2 : 64;
                attached = xrealloc(attached, cap, sizeof *attached);
            }
            attached[nattached++] = (pid_t)tid;
            ptrace(PTRACE_INTERRUPT, (pid_t)tid, NULL, NULL);
            added = true;
        }
        closedir(d);
        if (!added)
            break;
    }
    if (nattached == 0)
        die("process %d has no threads", (int)c->pid);
    attached_pid = c->pid;
    /* wait for each stop, bounded (a thread in uninterruptible sleep) */
    uint64_t deadline = mono_ns(CLOCK_MONOTONIC) + 3000000000ull;
    for (size_t i = 0; i < nattached; i++) {
        for (;;) {
            int st;
            pid_t r = waitpid(attached[i], &st, __WALL | WNOHANG);
            if (r == attached[i]) {
                if (WIFEXITED(st) || WIFSIGNALED(st)) {
                    attached[i] = attached[--nattached];
                    i--;
                }
                break;
            }
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                attached[i] = attached[--nattached]; /* gone */
                i--;
                break;
            }
            if (mono_ns(CLOCK_MONOTONIC) > deadline)
                die("thread %d of process %d did not stop within 3 s", (int)attached[i], (int)c->pid);
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
    }
}

/* ---- the registry walk ------------------------------------------------------- */
static int co_cmp(const void *a, const void *b) {
    const struct coro *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void free_snapshot(struct ctx *c) {
    for (size_t i = 0; i < c->nco; i++) {
        free(c->co[i].frames);
        free(c->co[i].slot_addr);
        free(c->co[i].damage);
    }
    free(c->co);
    c->co = NULL;
    c->nco = 0;
    for (size_t i = 0; i < c->nth; i++)
        free(c->th[i].frames);
    free(c->th);
    c->th = NULL;
    c->nth = 0;
    free(c->pt);
    c->pt = NULL;
    c->npt = 0;
}

/* A live slot's value (a control block's address) and the slot's address. */
struct cand {
    uint64_t addr, slot;
};

static int cand_cmp(const void *a, const void *b) {
    const struct cand *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* One entry per control block, however many slots hold it (a damaged
 * registry: the block is listed once, the slots are reported): sorts v,
 * sets first[k] (index into v) and count[k] of the k-th distinct block. */
static size_t merge_duplicates(struct cand *v, size_t n, size_t *first, size_t *count) {
    qsort(v, n, sizeof *v, cand_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && v[first[m - 1]].addr == v[i].addr) {
            count[m - 1]++;
            continue;
        }
        first[m] = i;
        count[m++] = 1;
    }
    return m;
}

static void walk_registry(struct ctx *c) {
    const struct corolink_debug_offsets *t = &c->t;
    const struct mem *m = &c->mem;
    unsigned w = t->pointer_size;
    unsigned char cw[8];
    if (!mem_read(m, t->registry, cw, w))
        die("cannot read the coroutine registry at 0x%" PRIx64, t->registry);
    uint64_t chunk = rdw(cw, 0, w);
    struct cand *cands = NULL;
    size_t ncand = 0, ccand = 0;
    uint64_t nchunks = 0, total = 0;
    uint64_t hdr_end = t->chunk_off_slots;
    if (t->chunk_off_next + w > hdr_end)
        hdr_end = t->chunk_off_next + w;
    if (t->chunk_off_nslots + 8 > hdr_end)
        hdr_end = t->chunk_off_nslots + 8;
    if (hdr_end > 4096)
        die("corrupt corolink debug table (chunk layout)");
    unsigned char hdr[4096];
    uint64_t mark = 0, power = 1, lam = 0; /* Brent: a cycle ends the walk */
    while (chunk != 0) {
        if (++nchunks > MAX_CHUNKS)
            die("the coroutine registry has more than %u chunks (a cycle?)", MAX_CHUNKS);
        if (chunk == mark)
            die("the coroutine registry is corrupt: its chunk list has a cycle (at 0x%" PRIx64 ")", chunk);
        if (++lam == power) {
            mark = chunk;
            power *= 2;
            lam = 0;
        }
        if (!mem_read(m, chunk, hdr, hdr_end))
            die("the coroutine registry is corrupt: cannot read chunk at 0x%" PRIx64, chunk);
        uint64_t next = rdw(hdr, t->chunk_off_next, w), ns = rd64(hdr, t->chunk_off_nslots);
        if (ns > MAX_SLOTS_PER_CHUNK || total + ns > MAX_TOTAL_SLOTS)
            die("the coroutine registry is corrupt: chunk at 0x%" PRIx64 " claims %" PRIu64 " slots", chunk, ns);
        total += ns;
        unsigned char *slots = xcalloc(ns, w);
        if (ns && !mem_read(m, chunk + t->chunk_off_slots, slots, ns * w))
            die("the coroutine registry is corrupt: cannot read the slots of chunk 0x%" PRIx64, chunk);
        for (uint64_t i = 0; i < ns; i++) {
            uint64_t v = rdw(slots, (uint32_t)(i * w), w);
            if (v == 0 || (v & t->slot_tag_mask))
                continue;
            if (ncand == ccand) {
                ccand = ccand ? ccand * 2 : 1024;
                cands = xrealloc(cands, ccand, sizeof *cands);
            }
            cands[ncand++] = (struct cand){v, chunk + t->chunk_off_slots + w * i};
        }
        free(slots);
        chunk = next;
    }
    c->chunks = nchunks;
    c->slots = total;
    size_t *first = xcalloc(ncand, sizeof *first), *count = xcalloc(ncand, sizeof *count);
    ncand = merge_duplicates(cands, ncand, first, count);
    /* the control blocks, in batches into one buffer (the rest of the
     * walk keeps only what struct coro holds: no page of memory touched
     * per block, which costs while the process is stopped) */
    uint32_t cs = t->control_size;
    size_t per = ((size_t)cs + 15) & ~(size_t)15;
    size_t batch = ncand < IOV_BATCH * 4 ? ncand : IOV_BATCH * 4;
    unsigned char *buf = xcalloc(batch ? batch : 1, per);
    unsigned char **bufs = xcalloc(batch, sizeof *bufs);
    uint64_t *addrs = xcalloc(batch, 8);
    size_t *lens = xcalloc(batch, sizeof *lens);
    bool *ok = xcalloc(batch, 1);
    for (size_t j = 0; j < batch; j++)
        bufs[j] = buf + j * per, lens[j] = cs;
    c->co = xcalloc(ncand, sizeof *c->co);
    size_t bad = 0;
    for (size_t i0 = 0; i0 < ncand; i0 += batch) {
        size_t nb = ncand - i0 < batch ? ncand - i0 : batch;
        /* a core: its disk reads ahead of their use, a batch or two */
        for (size_t i = i0 ? i0 + batch : 0; m->kind == MEM_CORE && i < i0 + 2 * batch && i < ncand; i++)
            core_prefetch(m, cands[first[i]].addr, cs);
        for (size_t j = 0; j < nb; j++)
            addrs[j] = cands[first[i0 + j]].addr;
        mem_read_many(m, nb, addrs, lens, bufs, ok);
        for (size_t j = 0; j < nb; j++) {
            size_t i = i0 + j;
            const unsigned char *b = bufs[j];
            uint64_t a = addrs[j];
            if (!ok[j] || rdw(b, t->off_check, w) != ((a ^ t->check_xor) & (w == 4 ? 0xffffffffu : ~(uint64_t)0))) {
                bad++;
                continue;
            }
            struct coro *co = &c->co[c->nco];
            co->addr = a;
            co->id = rd64(b, t->off_id);
            co->pc = rdw(b, t->off_pc, w);
            co->sp = rdw(b, t->off_sp, w);
            for (uint32_t k = 0; k < t->nsaved; k++)
                co->saved[k] = rdw(b, t->saved[k].off, w);
            co->create_site = rdw(b, t->off_create_site, w);
            co->suspend_ns = rd64(b, t->off_suspend_ns);
            co->stack_limit = rdw(b, t->off_stack_limit, w);
            co->guard = rdw(b, t->off_guard, w);
            co->link_sp = rdw(b, t->off_link_sp, w);
            memcpy(&co->finished, b + t->off_finished, 4);
            size_t nl = t->name_size < sizeof co->name - 1 ? t->name_size : sizeof co->name - 1;
            memcpy(co->name, b + t->off_name, nl);
            co->name[nl] = 0;
            co->name_ok = memchr(b + t->off_name, 0, t->name_size) != NULL;
            for (size_t k = 0; co->name[k] && co->name_ok; k++)
                co->name_ok = (unsigned char)co->name[k] >= 0x20 && co->name[k] != 0x7f;
            co->nslots = count[i];
            if (count[i] > 1) {
                size_t ns = count[i] < MAX_DUP_SLOTS ? count[i] : MAX_DUP_SLOTS;
                co->slot_addr = xcalloc(ns, 8);
                for (size_t k = 0; k < ns; k++)
                    co->slot_addr[k] = cands[first[i] + k].slot;
            }
            if (co->finished)
                co->state = ST_FINISHED;
            else if (co->pc == 0)
                co->state = ST_RUNNING;
            else if ((c->rs->thumb_bit ? co->pc & ~(uint64_t)1 : co->pc) == t->trampoline)
                co->state = ST_CREATED;
            else
                co->state = ST_SUSPENDED;
            /* a stack that makes no sense: listed, not unwound */
            co->limit_read = co->stack_limit;
            if (co->stack_limit >= a || a - co->stack_limit > (1ull << 34)) {
                co->stack_limit = a > MAX_STACK_COPY ? a - MAX_STACK_COPY : 0;
                co->bad_limit = true;
            }
            c->nco++;
        }
    }
    free(buf), free(bufs), free(addrs), free(lens), free(ok), free(cands), free(first), free(count);
    if (bad && c->nco == 0)
        die("the coroutine registry is corrupt: none of its %zu entries is a valid control block", bad);
    qsort(c->co, c->nco, sizeof *c->co, co_cmp);
    if (c->have_flags || mem_read(m, t->debug_flags, &c->debug_flags, 4))
        c->have_flags = true;
}

/* The coroutine whose stack [stack_limit, control block end) holds addr. */
static struct coro *co_holding(struct ctx *c, uint64_t addr) {
    for (size_t i = 0; i < c->nco; i++) {
        struct coro *co = &c->co[i];
        if (addr >= co->stack_limit && addr < co->addr + c->t.control_size)
            return co;
    }
    return NULL;
}

static void assign_threads(struct ctx *c) {
    for (size_t i = 0; i < c->nth; i++) {
        struct coro *co = co_holding(c, c->th[i].regs[c->t.dwarf_sp]);
        int depth = 0;
        uint64_t inner = 0;
        while (co && co->state == ST_RUNNING && co->thread == 0 && depth < 1000) {
            co->thread = c->th[i].tid;
            co->depth = depth++;
            co->resuming = inner;
            inner = co->id;
            co = co_holding(c, co->link_sp);
        }
    }
}

/* ---- snapshots ---------------------------------------------------------------- */
static void copy_range(struct ctx *c, uint64_t lo, uint64_t hi) {
    if (hi <= lo)
        return;
    if (hi - lo > MAX_STACK_COPY)
        hi = lo + MAX_STACK_COPY;
    unsigned char *buf = malloc(hi - lo);
    if (!buf)
        die("out of memory");
    size_t got = live_read_partial(c->pid, lo, buf, hi - lo);
    snap_add(&c->mem, lo, buf, got);
}

/* The end of the stack that holds addr (a coroutine's or a thread's). */
static uint64_t stack_end(struct ctx *c, uint64_t addr) {
    struct coro *co = co_holding(c, addr);
    if (co)
        return co->addr + c->t.control_size;
    uint64_t e = map_end(c, addr);
    return e ? e : addr + THREAD_STACK_DEFAULT;
}

/* The stack a suspended coroutine's unwinding reads: from its saved sp to
 * its control block (the root frame's sp), at most MAX_STACK_COPY; false
 * when the saved sp is not in its stack. */
static bool stack_extent(const struct coro *co, uint64_t *lo, uint64_t *len) {
    if (co->state != ST_SUSPENDED || co->bad_limit || co->sp < co->stack_limit || co->sp >= co->addr)
        return false; /* not unwound (check_coroutine()) */
    *lo = co->sp;
    *len = co->addr - co->sp < MAX_STACK_COPY ? co->addr - co->sp : MAX_STACK_COPY;
    return true;
}

/* Live, stopped: the used part of every suspended stack, in one batch,
 * into one populated mapping (no page fault per stack while stopped). */
static void copy_stacks(struct ctx *c) {
    size_t n = 0;
    uint64_t total = 0, lo, len;
    for (size_t i = 0; i < c->nco; i++)
        if (stack_extent(&c->co[i], &lo, &len))
            n++, total += len;
    if (n == 0)
        return;
    if (total >= SIZE_MAX / 2)
        die("out of memory");
    unsigned char *arena = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (arena == MAP_FAILED)
        die("out of memory");
    uint64_t *addrs = xcalloc(n, 8);
    size_t *lens = xcalloc(n, sizeof *lens);
    unsigned char **bufs = xcalloc(n, sizeof *bufs);
    bool *ok = xcalloc(n, 1);
    size_t k = 0;
    uint64_t at = 0;
    for (size_t i = 0; i < c->nco; i++) {
        if (!stack_extent(&c->co[i], &lo, &len))
            continue;
        addrs[k] = lo, lens[k] = (size_t)len, bufs[k] = arena + at;
        at += len;
        k++;
    }
    mem_read_many(&c->mem, n, addrs, lens, bufs, ok);
    for (size_t i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        snap_add(&c->mem, addrs[i], bufs[i], lens[i]);
        c->mem.r[c->mem.nr - 1].owned = false; /* in the arena */
    }
    c->mem.arena = arena;
    c->mem.arena_size = (size_t)total;
    free(addrs), free(lens), free(bufs), free(ok);
}

static void snapshot_live(struct ctx *c) {
    uint64_t t0 = mono_ns(CLOCK_MONOTONIC);
    stop_all(c);
    c->now_ns = mono_ns(CLOCK_MONOTONIC);
    /* thread registers: NT_PRSTATUS, laid out as the regset says */
    c->th = xcalloc(nattached, sizeof *c->th);
    for (size_t i = 0; i < nattached; i++) {
        uint64_t words[64];
        struct iovec iov = {words, sizeof words};
        if (ptrace(PTRACE_GETREGSET, attached[i], (void *)(uintptr_t)NT_PRSTATUS, &iov) != 0)
            continue;
        unsigned ws = c->rs->wsize;
        if (iov.iov_len != c->rs->nwords * ws)
            die("thread %d of process %d: %zu bytes of registers, not the %u of %s", (int)attached[i],
                (int)c->pid, iov.iov_len, c->rs->nwords * ws, c->rs->name);
        struct thread *th = &c->th[c->nth++];
        th->tid = attached[i];
        for (unsigned r = 0; r < c->rs->ndwarf; r++)
            if (c->rs->word[r] >= 0)
                th->regs[r] = rdw((const unsigned char *)words, ws * (unsigned)c->rs->word[r], ws);
    }
    uint64_t t1 = mono_ns(CLOCK_MONOTONIC);
    walk_registry(c);
    uint64_t t2 = mono_ns(CLOCK_MONOTONIC);
    assign_threads(c);
    copy_stacks(c);
    /* threads: from their sp to the end of the stack they are on; a
     * running coroutine's resumer: from its link_sp on */
    for (size_t i = 0; i < c->nth; i++) {
        uint64_t sp = c->th[i].regs[c->t.dwarf_sp];
        copy_range(c, sp > 128 ? sp - 128 : sp, stack_end(c, sp));
    }
    for (size_t i = 0; i < c->nco; i++)
        if (c->co[i].state == ST_RUNNING && c->co[i].link_sp)
            copy_range(c, c->co[i].link_sp, stack_end(c, c->co[i].link_sp));
    uint64_t t3 = mono_ns(CLOCK_MONOTONIC);
    detach_all();
    c->stop_ms = (double)(mono_ns(CLOCK_MONOTONIC) - t0) / 1e6;
    if (getenv("COROLINK_STACKS_PHASES"))
        fprintf(stderr, "phases: stop %.3f walk %.3f copy %.3f detach %.3f ms\n", (t1 - t0) / 1e6, (t2 - t1) / 1e6,
                (t3 - t2) / 1e6, c->stop_ms - (t3 - t0) / 1e6);
    qsort(c->mem.r, c->mem.nr, sizeof *c->mem.r, range_cmp);
    c->mem.use_snap = true;
}

/* ---- core files ---------------------------------------------------------------- */
static int seg_cmp(const void *a, const void *b) {
    const struct seg *x = a, *y = b;
    return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

/* The threads of a core: an NT_PRSTATUS note each, its registers laid out
 * as the core's machine does (regset_of()). */
static void core_threads(struct ctx *c, Elf *core) {
    const struct regset *rs = regset_of(c->core_machine);
    size_t phnum;
    if (elf_getphdrnum(core, &phnum) != 0)
        die("core file: no program headers");
    size_t cap = 0;
    for (size_t i = 0; i < phnum && i < 100000; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(core, (int)i, &ph) || ph.p_type != PT_NOTE)
            continue;
        if (ph.p_offset > c->mem.mapsz || ph.p_filesz > c->mem.mapsz - ph.p_offset)
            continue; /* truncated */
        Elf_Data *d = elf_getdata_rawchunk(core, ph.p_offset, ph.p_filesz, ELF_T_NHDR);
        if (!d)
            continue;
        size_t off = 0, noff, doff;
        GElf_Nhdr nh;
        while (off < d->d_size && (off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
            if (nh.n_type != NT_PRSTATUS || nh.n_namesz != 5 ||
                memcmp((char *)d->d_buf + noff, "CORE", 5) != 0 ||
                nh.n_descsz < rs->reg_off + rs->nwords * rs->wsize)
                continue;
            const unsigned char *ps = (const unsigned char *)d->d_buf + doff;
            if (c->nth >= MAX_THREADS)
                break;
            if (c->nth == cap) {
                cap = cap ? cap * 2 : 16;
                c->th = xrealloc(c->th, cap, sizeof *c->th);
            }
            struct thread *th = &c->th[c->nth++];
            memset(th, 0, sizeof *th);
            int32_t tid;
            memcpy(&tid, ps + rs->pid_off, 4);
            th->tid = tid;
            for (unsigned r = 0; r < rs->ndwarf; r++)
                if (rs->word[r] >= 0)
                    th->regs[r] = rdw(ps, rs->reg_off + rs->wsize * (unsigned)rs->word[r], rs->wsize);
            if (c->pid == 0)
                c->pid = tid;
        }
    }
}

/* The memory of a core. One cut short (a size limit, a copy that did not
 * finish) is refused: control blocks and stacks would be missing without
 * a word. */
static void core_segments(struct ctx *c, Elf *core, const char *core_path) {
    size_t phnum;
    if (elf_getphdrnum(core, &phnum) != 0)
        die("%s: no program headers (truncated?)", core_path);
    c->mem.segs = xcalloc(phnum, sizeof *c->mem.segs);
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(core, (int)i, &ph) || ph.p_type != PT_LOAD)
            continue;
        if (ph.p_offset > c->mem.mapsz || ph.p_filesz > c->mem.mapsz - ph.p_offset)
            die("%s: truncated core file (%zu bytes; segment %zu ends at %" PRIu64 ")", core_path, c->mem.mapsz, i,
                (uint64_t)ph.p_offset + ph.p_filesz);
        if ((ph.p_flags & PF_X) && ph.p_vaddr + ph.p_memsz > ph.p_vaddr)
            add_code(c, ph.p_vaddr, ph.p_vaddr + ph.p_memsz);
        if (ph.p_filesz == 0)
            continue;
        if (ph.p_offset >= c->mem.mapsz)
            continue; /* truncated away */
        uint64_t len = ph.p_filesz;
        if (len > c->mem.mapsz - ph.p_offset)
            len = c->mem.mapsz - ph.p_offset;
        if (ph.p_vaddr + len < ph.p_vaddr)
            continue;
        c->mem.segs[c->mem.nsegs++] = (struct seg){ph.p_vaddr, len, ph.p_offset};
    }
    qsort(c->mem.segs, c->mem.nsegs, sizeof *c->mem.segs, seg_cmp);
}

/* The build id of an ELF file (NULL: none). */
static int file_build_id(Elf *elf, unsigned char *out, size_t outsz) {
    size_t phnum;
    if (elf_getphdrnum(elf, &phnum) != 0)
        return 0;
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_NOTE)
            continue;
        Elf_Data *d = elf_getdata_rawchunk(elf, ph.p_offset, ph.p_filesz, ELF_T_NHDR);
        if (!d)
            continue;
        size_t off = 0, noff, doff;
        GElf_Nhdr nh;
        while (off < d->d_size && (off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0)
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
                memcmp((char *)d->d_buf + noff, "GNU", 4) == 0 && nh.n_descsz <= outsz) {
                memcpy(out, (char *)d->d_buf + doff, nh.n_descsz);
                return (int)nh.n_descsz;
            }
    }
    return 0;
}

struct bid_match {
    const unsigned char *id;
    int len;
    bool match, any;
};

static int bid_cb(Dwfl_Module *mod, void **ud, const char *name, Dwarf_Addr start, void *arg) {
    (void)ud, (void)name, (void)start;
    struct bid_match *b = arg;
    const unsigned char *bits;
    GElf_Addr vaddr;
    int n = dwfl_module_build_id(mod, &bits, &vaddr);
    if (n > 0) {
        b->any = true;
        if (n == b->len && memcmp(bits, b->id, (size_t)n) == 0) {
            b->match = true;
            return DWARF_CB_ABORT;
        }
    }
    return DWARF_CB_OK;
}

static void open_core(struct ctx *c, const char *core_path, const char *exe) {
    int fd = open(core_path, O_RDONLY);
    if (fd < 0)
        die("%s: %s", core_path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        die("%s: not a regular file", core_path);
    if (st.st_size < (off_t)sizeof(Elf64_Ehdr))
        die("%s: not an ELF core file (too short)", core_path);
    c->mem.kind = MEM_CORE;
    c->mem.mapsz = (size_t)st.st_size;
    c->mem.fd = fd;
    /* a few pages here and there of a file that can be mostly holes (a
     * million stacks' unused parts): no readahead around each */
    posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
    /* not mapped: libdw reads the start of every segment of the core (one
     * per mapping of the process, tens of thousands for a million stacks);
     * through a mapping, each read would fault in and keep resident the
     * pages around it, gigabytes of them */
    Elf *core = elf_begin(fd, ELF_C_READ, NULL);
    if (!core || elf_kind(core) != ELF_K_ELF)
        die("%s: not an ELF file", core_path);
    GElf_Ehdr eh;
    if (!gelf_getehdr(core, &eh) || eh.e_type != ET_CORE)
        die("%s: not a core file", core_path);
    /* Any machine whose registers we can read (a foreign one too: libdw
     * unwinds it with its backend); load_table() checks it against the
     * table's elf_machine. */
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
        die("%s: not a little-endian core file", core_path);
    if (!regset_of(eh.e_machine))
        die("%s: a core file of ELF machine %u, whose registers this tool cannot read", core_path,
            (unsigned)eh.e_machine);
    /* ELFCLASS32 for a machine of 4-byte registers (i386), else 64 */
    if (gelf_getclass(core) != (regset_of(eh.e_machine)->wsize == 4 ? ELFCLASS32 : ELFCLASS64))
        die("%s: a core file of ELF machine %u in the wrong ELF class", core_path, (unsigned)eh.e_machine);
    c->core_machine = eh.e_machine;
    /* the program */
    int efd = open(exe, O_RDONLY);
    if (efd < 0)
        die("%s: %s", exe, strerror(errno));
    Elf *eelf = elf_begin(efd, ELF_C_READ_MMAP, NULL);
    GElf_Ehdr eeh;
    if (!eelf || elf_kind(eelf) != ELF_K_ELF || !gelf_getehdr(eelf, &eeh) ||
        (eeh.e_type != ET_EXEC && eeh.e_type != ET_DYN))
        die("%s: not an ELF program", exe);
    if (eeh.e_machine != c->core_machine)
        die("%s is not the program of %s (a program for ELF machine %u, the core is of %u)", exe, core_path,
            (unsigned)eeh.e_machine, c->core_machine);
    unsigned char ebid[64];
    int ebidlen = file_build_id(eelf, ebid, sizeof ebid);
    elf_end(eelf);
    close(efd);

    core_segments(c, core, core_path);
    core_threads(c, core);
    c->dwfl = dwfl_begin(&core_callbacks);
    if (!c->dwfl)
        die("libdw: %s", dwfl_errmsg(-1));
    dwfl_report_begin(c->dwfl);
    int n = dwfl_core_file_report(c->dwfl, core, exe);
    if (n < 0)
        die("%s: %s", core_path, dwfl_errmsg(-1));
    dwfl_report_end(c->dwfl, NULL, NULL);
    if (ebidlen > 0) {
        struct bid_match b = {ebid, ebidlen, false, false};
        dwfl_getmodules(c->dwfl, bid_cb, &b, 0);
        if (b.any && !b.match)
            die("%s is not the program of %s (no module of the core has its build id)", exe, core_path);
    }
    if (c->nth == 0)
        die("%s: no thread in the core file (truncated?)", core_path);
    /* the core Elf stays open: libdw's modules refer to it */
}

static void open_live(struct ctx *c, pid_t pid) {
    c->pid = pid;
    c->live = true;
    c->mem.kind = MEM_LIVE;
    c->mem.pid = pid;
    if (pid == getpid())
        die("cannot inspect myself");
    if (kill(pid, 0) != 0 && errno == ESRCH)
        die("no process %d", (int)pid);
    c->dwfl = dwfl_begin(&proc_callbacks);
    if (!c->dwfl)
        die("libdw: %s", dwfl_errmsg(-1));
    dwfl_report_begin(c->dwfl);
    int r = dwfl_linux_proc_report(c->dwfl, pid);
    if (r != 0)
        die("process %d: %s", (int)pid, r > 0 ? strerror(r) : dwfl_errmsg(-1));
    dwfl_report_end(c->dwfl, NULL, NULL);
    read_maps(c);
}

/* ---- where code is ------------------------------------------------------------
 * A pc is plausible only inside code: an executable mapping of the process
 * (live), an executable PT_LOAD of the core (gcore and the kernel leave the
 * text of mapped files out of a core, so:) or an executable PT_LOAD segment
 * of a module's ELF file, at its load bias. A module whose file libdw could
 * not find counts as code over its whole address range. */
static int code_module_cb(Dwfl_Module *mod, void **ud, const char *name, Dwarf_Addr start, void *arg) {
    (void)ud, (void)name, (void)start;
    struct ctx *c = arg;
    Dwarf_Addr bias, lo, hi;
    Elf *elf = dwfl_module_getelf(mod, &bias);
    size_t phnum;
    if (!elf || elf_getphdrnum(elf, &phnum) != 0) {
        if (dwfl_module_info(mod, NULL, &lo, &hi, NULL, NULL, NULL, NULL))
            add_code(c, lo, hi);
        return DWARF_CB_OK;
    }
    for (size_t i = 0; i < phnum && i < 4096; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X) &&
            ph.p_vaddr + bias + ph.p_memsz > ph.p_vaddr + bias)
            add_code(c, ph.p_vaddr + bias, ph.p_vaddr + bias + ph.p_memsz);
    }
    return DWARF_CB_OK;
}

static int code_cmp(const void *a, const void *b) {
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static void collect_code(struct ctx *c) {
    dwfl_getmodules(c->dwfl, code_module_cb, c, 0);
    qsort(c->code, c->ncode, sizeof *c->code, code_cmp);
    size_t m = 0;
    for (size_t i = 0; i < c->ncode; i++) {
        if (m && c->code[i][0] <= c->code[m - 1][1]) {
            if (c->code[i][1] > c->code[m - 1][1])
                c->code[m - 1][1] = c->code[i][1];
            continue;
        }
        c->code[m][0] = c->code[i][0];
        c->code[m][1] = c->code[i][1];
        m++;
    }
    c->ncode = m;
    /* The address space's size, for strip_pc(): every address the target
     * maps is below 2^bits. */
    uint64_t top = 0;
    for (size_t i = 0; i < c->ncode; i++)
        top = c->code[i][1] > top ? c->code[i][1] : top;
    for (size_t i = 0; i < c->mem.nsegs; i++)
        if (c->mem.segs[i].vaddr + c->mem.segs[i].len > top)
            top = c->mem.segs[i].vaddr + c->mem.segs[i].len;
    for (size_t i = 0; i < c->nmaps; i++)
        top = c->maps[i][1] > top ? c->maps[i][1] : top;
    c->addr_mask = ~(uint64_t)0;
    if (top > 1 && top - 1 < (1ull << 62))
        c->addr_mask = (2ull << (63 - __builtin_clzll(top - 1))) - 1;
}

static bool in_code(const struct ctx *c, uint64_t pc) {
    if (c->ncode == 0)
        return true; /* nothing known: no check */
    size_t lo = 0, hi = c->ncode;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->code[mid][0] <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && pc < c->code[lo - 1][1];
}

/* ---- unwinding with libdw ---------------------------------------------------- */
static pid_t cb_next_thread(Dwfl *dwfl, void *arg, void **targ) {
    (void)dwfl;
    struct ctx *c = arg;
    size_t i = *targ ? (size_t)((struct pthr *)*targ - c->pt) + 1 : 0;
    if (i >= c->npt)
        return 0;
    *targ = &c->pt[i];
    return (pid_t)(i + 1);
}

static bool cb_get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **targ) {
    (void)dwfl;
    struct ctx *c = arg;
    if (tid < 1 || (size_t)tid > c->npt)
        return false;
    *targ = &c->pt[tid - 1];
    return true;
}

static struct ctx *the_ctx;

static bool cb_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg) {
    (void)dwfl;
    struct ctx *c = arg;
    unsigned char v[8];
    unsigned w = c->t.pointer_size == 4 ? 4 : 8;
    if (!mem_read(&c->mem, addr, v, w))
        return false;
    *result = rdw(v, 0, w);
    return true;
}

/* Sets the registers of `valid` (bit r: regs[r], DWARF numbers), in runs;
 * the pc is set apart (unless it is the return-address column, as on
 * x86-64, where libdw expects it in both). */
static bool set_registers(Dwfl_Thread *thread, const struct ctx *c, const uint64_t *regs, uint64_t valid) {
    unsigned n = c->rs->ndwarf;
    uint32_t pc = c->t.dwarf_pc == c->t.dwarf_ra ? ~0u : c->t.dwarf_pc;
    for (unsigned r = 0; r < n;) {
        if (r == pc || !(valid & REG_BIT(r))) {
            r++;
            continue;
        }
        Dwarf_Word w[MAX_DWARF_REGS];
        unsigned e = r;
        for (; e < n && e != pc && (valid & REG_BIT(e)); e++)
            w[e - r] = regs[e];
        if (!dwfl_thread_state_registers(thread, (int)r, e - r, w))
            return false;
        r = e;
    }
    return true;
}

/* A suspended coroutine starts at pc + suspended_pc_adjust with the
 * registers the table's saved[] lists; a thread with its registers; a
 * restart (kind 2) with what frame_cb() kept. */
static bool cb_set_initial_registers(Dwfl_Thread *thread, void *targ) {
    struct ctx *c = the_ctx;
    struct pthr *p = targ;
    uint64_t regs[MAX_DWARF_REGS] = {0}, valid = 0, pc;
    if (p->kind == 0) {
        const struct coro *co = &c->co[p->idx];
        for (uint32_t k = 0; k < c->t.nsaved; k++) {
            regs[c->t.saved[k].dwarf] = co->saved[k];
            valid |= REG_BIT(c->t.saved[k].dwarf);
        }
        pc = co->pc + (uint64_t)c->t.suspended_pc_adjust;
        if (c->rs->thumb_bit)
            pc &= ~(uint64_t)1; /* ARM32: a Thumb resume point has bit 0 set */
    } else if (p->kind == 1) {
        const struct thread *th = &c->th[p->idx];
        memcpy(regs, th->regs, sizeof regs);
        for (unsigned r = 0; r < c->rs->ndwarf; r++)
            if (c->rs->word[r] >= 0)
                valid |= REG_BIT(r);
        pc = th->regs[c->t.dwarf_pc];
    } else {
        memcpy(regs, c->restart.regs, sizeof regs);
        valid = c->restart.valid;
        pc = c->restart.pc;
    }
    if (!set_registers(thread, c, regs, valid))
        return false;
    dwfl_thread_state_register_pc(thread, pc);
    return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = cb_next_thread,
    .get_thread = cb_get_thread,
    .memory_read = cb_memory_read,
    .set_initial_registers = cb_set_initial_registers,
};

struct unwind_state {
    struct ctx *c;
    struct frame *f;
    int n;
    bool stop_at_root;
    bool hit_root;
    uint64_t root_sp; /* hit_root: the sp in the root frame (0: unknown) */
    uint64_t last_cfa; /* CFA of the last frame listed: its caller's sp (0: unknown) */
    bool restart;     /* go on from c->restart (frame_cb()) */
    bool skip_first;  /* the first frame is the one it restarts from */
};

/* A return address without its pointer-authentication code: where the
 * machine signs them (AArch64 -mbranch-protection), the bits above the
 * address space (c->addr_mask), if what is left is code; otherwise pc. */
static uint64_t strip_pc(const struct ctx *c, uint64_t pc, bool act) {
    if (c->rs->thumb_bit)
        return pc & ~(uint64_t)1; /* ARM32: Thumb's bit 0 (no signing) */
    if (!c->rs->signed_ra || act || !(pc & ~c->addr_mask) || !in_code(c, pc & c->addr_mask))
        return pc;
    return pc & c->addr_mask;
}

/* A frame's CFA (its caller's sp) from the module's CFI, when the rule is
 * register + offset (as compilers emit); 0 if unknown. Tells where the
 * chain went when libdw could not read the caller's frame. */
static uint64_t frame_cfa(struct ctx *c, Dwfl_Frame *state, uint64_t pc, bool act) {
    uint64_t at = act ? pc : pc - 1;
    Dwfl_Module *mod = dwfl_addrmodule(c->dwfl, at);
    if (!mod)
        return 0;
    Dwarf_Addr bias;
    Dwarf_Frame *fr = NULL;
    Dwarf_CFI *cfi = dwfl_module_eh_cfi(mod, &bias);
    if (!cfi || dwarf_cfi_addrframe(cfi, at - bias, &fr) != 0) {
        cfi = dwfl_module_dwarf_cfi(mod, &bias);
        if (!cfi || dwarf_cfi_addrframe(cfi, at - bias, &fr) != 0)
            return 0;
    }
    Dwarf_Op *ops;
    size_t nops;
    uint64_t cfa = 0;
    if (dwarf_frame_cfa(fr, &ops, &nops) == 0 && nops == 1) {
        unsigned reg = 0;
        int64_t off = 0;
        bool ok = true;
        if (ops[0].atom == DW_OP_bregx)
            reg = (unsigned)ops[0].number, off = (int64_t)ops[0].number2;
        else if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31)
            reg = ops[0].atom - DW_OP_breg0, off = (int64_t)ops[0].number;
        else
            ok = false;
        Dwarf_Word r;
        if (ok && dwfl_frame_reg(state, reg, &r) == 0)
            cfa = r + (uint64_t)off;
    }
    free(fr);
    return cfa;
}

static int frame_cb(Dwfl_Frame *state, void *arg) {
    struct unwind_state *u = arg;
    struct ctx *c = u->c;
    Dwarf_Addr pc;
    Dwarf_Word sp;
    bool act;
    if (!dwfl_frame_pc(state, &pc, &act) || pc == 0)
        return DWARF_CB_ABORT;
    if (u->skip_first) {
        u->skip_first = false;
        return DWARF_CB_OK;
    }
    uint64_t spc = strip_pc(c, pc, act);
    if (dwfl_frame_reg(state, c->t.dwarf_sp, &sp) != 0)
        sp = 0;
    if (u->stop_at_root && spc >= c->t.trampoline && spc < c->t.trampoline_end) {
        u->hit_root = true;
        u->root_sp = sp;
        return DWARF_CB_ABORT;
    }
    /* The library's resume path (timestamps, probes, tools: the debug
     * table's hidden range) between a running coroutine and its resumer:
     * left out, as if the resume had been inline. (Not an innermost frame:
     * a thread stopped in there shows where it is. Its signed return
     * addresses still need the restart below.) */
    bool hidden = u->n > 0 && spc >= c->t.hidden_lo && spc < c->t.hidden_hi;
    if (!hidden) {
        if (u->n >= MAX_FRAMES)
            return DWARF_CB_ABORT;
        u->f[u->n++] = (struct frame){spc, sp, act};
        if (u->stop_at_root)
            u->last_cfa = frame_cfa(c, state, spc, act);
    }
    if (spc != pc && c->rs->signed_ra) {
        /* A signed return address: libdw would look for the caller's
         * CFI at it. Go on from this frame's registers with the stripped
         * pc (less one: the call's rows, as for any return address; this
         * frame is listed already, or hidden, so the restart skips it). */
        memset(&c->restart, 0, sizeof c->restart);
        for (unsigned r = 0; r < c->rs->ndwarf; r++) {
            Dwarf_Word v;
            if (r != c->t.dwarf_pc && dwfl_frame_reg(state, r, &v) == 0) {
                c->restart.regs[r] = v;
                c->restart.valid |= REG_BIT(r);
            }
        }
        c->restart.pc = spc - 1;
        u->restart = true;
        return DWARF_CB_ABORT;
    }
    return DWARF_CB_OK;
}

/* root_sp: with stop_at_root, the root frame's sp when it was reached,
 * else the last frame's CFA (where its caller's frame would be) */
static void unwind_one(struct ctx *c, pid_t tid, bool stop_at_root, struct frame **out, int *n, bool *hit,
                       uint64_t *root_sp) {
    struct frame buf[MAX_FRAMES];
    struct unwind_state u = {c, buf, 0, stop_at_root, false, 0, 0, false, false};
    dwfl_getthread_frames(c->dwfl, tid, frame_cb, &u);
    /* the restart pseudo-thread is the last one (unwind_all()) */
    while (u.restart && u.n < MAX_FRAMES) {
        u.restart = false;
        u.skip_first = true;
        dwfl_getthread_frames(c->dwfl, (pid_t)c->npt, frame_cb, &u);
    }
    *out = xcalloc((size_t)(u.n > 0 ? u.n : 1), sizeof **out);
    memcpy(*out, buf, (size_t)u.n * sizeof **out);
    *n = u.n;
    if (hit)
        *hit = u.hit_root;
    if (root_sp)
        *root_sp = u.hit_root ? u.root_sp : u.last_cfa;
}

/* ---- checking what was read ---------------------------------------------------
 * The one place that decides whether a coroutine's saved registers and
 * frames can be trusted; every output mode prints diag_line() for a
 * coroutine with co->damage set (and no frames): damaged registers or
 * frames, or a control block held by several registry slots (a damaged
 * registry: listed once).
 *
 * A suspended coroutine: its saved pc must be code, its saved sp inside
 * its stack [stack_limit, control block); then it is unwound, and each
 * frame's sp must stay inside that stack and move strictly up (a repeated
 * sp is a loop: a frame pointer pointing at itself), each frame's pc must
 * be code, up to the root. */
static void damage(struct coro *co, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void damage(struct coro *co, const char *fmt, ...) {
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(co->damage);
    co->damage = xstrdup(buf);
}

/* next_sp: the root frame's sp, or when the unwinding stopped before the
 * root, where the last frame's caller would have its frame (0: unknown) */
static void check_frames(struct ctx *c, struct coro *co, uint64_t next_sp) {
    uint64_t lo = co->stack_limit, hi = co->addr, prev = 0;
    for (int k = 0; k <= co->nframes; k++) {
        uint64_t sp = k < co->nframes ? co->frames[k].sp : next_sp;
        if (sp != 0) {
            /* the root frame's sp is the stack's top: the control block */
            if (sp < lo || sp > hi || (sp == hi && k < co->nframes)) {
                damage(co, "the frame chain leaves its stack [0x%" PRIx64 ", 0x%" PRIx64 ") at sp 0x%" PRIx64,
                       lo, hi, sp);
                return;
            }
            if (prev && sp == prev) {
                damage(co, "the frame chain loops at sp 0x%" PRIx64, sp);
                return;
            }
            if (prev && sp < prev) {
                damage(co, "the frame chain goes down from sp 0x%" PRIx64 " to 0x%" PRIx64, prev, sp);
                return;
            }
            prev = sp;
        }
        if (k < co->nframes && !in_code(c, co->frames[k].pc)) {
            damage(co, "frame #%d has pc 0x%" PRIx64 ", outside every executable mapping", k,
                   co->frames[k].pc);
            return;
        }
    }
}

/* tid: the coroutine's libdw pseudo-thread (suspended ones) */
static void check_coroutine(struct ctx *c, struct coro *co, pid_t tid) {
    free(co->damage);
    co->damage = NULL;
    if (co->nslots > 1) {
        /* A damaged registry: listed once, its frames not trusted. */
        char slots[128];
        size_t k = 0;
        for (uint64_t i = 0; i < co->nslots && i < 3 && k < sizeof slots; i++)
            k += (size_t)snprintf(slots + k, sizeof slots - k, "%s0x%" PRIx64, i ? ", " : "",
                                  co->slot_addr[i]);
        damage(co, "in %" PRIu64 " registry slots (%s%s), listed once", co->nslots, slots,
               co->nslots > 3 ? ", ..." : "");
    } else if (co->state != ST_SUSPENDED) {
        return;
    } else if (co->bad_limit)
        damage(co, "stack limit 0x%" PRIx64 " is not below its control block", co->limit_read);
    else if (!in_code(c, co->pc))
        damage(co, "saved pc 0x%" PRIx64 " is outside every executable mapping", co->pc);
    else if (co->sp < co->stack_limit && co->stack_limit - co->sp <= co->guard)
        /* Suspended in its guard region: possible in a watched zone, which
         * nothing protects (src/slab.c); the library stops the process
         * when such a coroutine is destroyed. */
        damage(co,
               "saved sp 0x%" PRIx64 " is outside its stack [0x%" PRIx64 ", 0x%" PRIx64
               "): a stack overflow, %" PRIu64 " bytes into the %" PRIu64
               "-byte guard region below it",
               co->sp, co->stack_limit, co->addr, co->stack_limit - co->sp, co->guard);
    else if (co->sp < co->stack_limit || co->sp >= co->addr)
        damage(co, "saved sp 0x%" PRIx64 " is outside its stack [0x%" PRIx64 ", 0x%" PRIx64 ")", co->sp,
               co->stack_limit, co->addr);
    if (!co->damage) {
        bool hit;
        uint64_t root_sp;
        unwind_one(c, tid, true, &co->frames, &co->nframes, &hit, &root_sp);
        co->incomplete = !hit;
        check_frames(c, co, root_sp);
    }
    if (co->damage) {
        free(co->frames);
        co->frames = NULL;
        co->nframes = 0;
        co->incomplete = false;
    }
}

/* The one line about a coroutine with a problem (no newline):
 *   coroutine ID "NAME" (control block 0xADDR): WHAT[; WHAT]
 * (the name left out when it is not a readable string). */
static void diag_line(const struct coro *co, char *buf, size_t n) {
    char name[128] = "";
    if (co->name_ok && co->name[0]) {
        name[0] = ' ';
        name[1] = '"';
        size_t j = 2;
        for (size_t i = 0; co->name[i] && j + 2 < sizeof name; i++)
            name[j++] = (unsigned char)co->name[i] < 0x7f ? co->name[i] : '?';
        name[j++] = '"';
        name[j] = 0;
    }
    size_t k = (size_t)snprintf(buf, n, "coroutine %" PRIu64 "%s (control block 0x%" PRIx64 "): ", co->id, name,
                                co->addr);
    if (k < n)
        snprintf(buf + k, n - k, "%s", co->damage);
}

static bool has_problem(const struct coro *co) { return co->damage != NULL; }

/* The stack of the coroutine about to be unwound, for mem_read() to try
 * first (a cache: the same bytes as the snapshot's or the core's): live,
 * its copy, found once instead of at every read; core, read in one go. */
static void set_window(struct ctx *c, const struct coro *co) {
    static unsigned char *buf;
    static size_t cap;
    struct mem *m = &c->mem;
    uint64_t lo, len;
    m->win.len = 0;
    if (!stack_extent(co, &lo, &len))
        return;
    if (m->kind == MEM_CORE) {
        /* with its control block: where libdw looks for the caller of
         * the root frame (not listed) */
        uint64_t full = len + c->t.control_size;
        if (full > cap) {
            cap = (size_t)full;
            buf = xrealloc(buf, cap, 1);
        }
        if (core_read(m, lo, buf, (size_t)full))
            m->win = (struct range){lo, full, buf, false};
        else if (core_read(m, lo, buf, (size_t)len))
            m->win = (struct range){lo, len, buf, false};
        return;
    }
    size_t a = 0, b = m->nr; /* the range that starts at lo */
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (m->r[mid].addr < lo)
            a = mid + 1;
        else
            b = mid;
    }
    for (; a < m->nr && m->r[a].addr == lo; a++)
        if (m->r[a].len >= len)
            m->win = m->r[a];
}

static void unwind_all(struct ctx *c) {
    if (!c->attached_state) {
        if (!dwfl_attach_state(c->dwfl, NULL, c->pid > 0 ? c->pid : 1, &thread_callbacks, c))
            die("libdw cannot unwind this target: %s", dwfl_errmsg(-1));
        c->attached_state = true;
    }
    c->pt = xcalloc(c->nco + c->nth + 1, sizeof *c->pt);
    c->npt = 0;
    for (size_t i = 0; i < c->nco; i++)
        if (c->co[i].state == ST_SUSPENDED)
            c->pt[c->npt++] = (struct pthr){0, i};
    size_t first_thread = c->npt;
    for (size_t i = 0; i < c->nth; i++)
        c->pt[c->npt++] = (struct pthr){1, i};
    c->pt[c->npt++] = (struct pthr){2, 0}; /* restarts (unwind_one()) */
    for (size_t k = 0; k < first_thread; k++) {
        for (size_t j = k; c->mem.kind == MEM_CORE && k % 1024 == 0 && j < k + 1024 && j < first_thread; j++) {
            uint64_t lo, len;
            if (stack_extent(&c->co[c->pt[j].idx], &lo, &len))
                core_prefetch(&c->mem, lo, (size_t)len + c->t.control_size);
        }
        set_window(c, &c->co[c->pt[k].idx]);
        check_coroutine(c, &c->co[c->pt[k].idx], (pid_t)(k + 1));
    }
    c->mem.win.len = 0;
    for (size_t k = first_thread; k < c->npt - 1; k++) {
        struct thread *th = &c->th[c->pt[k].idx];
        bool needed = false;
        for (size_t i = 0; i < c->nco && !needed; i++)
            needed = c->co[i].state == ST_RUNNING && c->co[i].thread == th->tid;
        if (!needed)
            continue;
        unwind_one(c, (pid_t)(k + 1), false, &th->frames, &th->nframes, NULL, NULL);
        th->unwound = true;
    }
    /* running coroutines: the frames of their thread from their own (after
     * `depth` nested roots) through to the resumers */
    for (size_t i = 0; i < c->nco; i++) {
        struct coro *co = &c->co[i];
        if (co->state != ST_RUNNING || co->thread == 0)
            continue;
        struct thread *th = NULL;
        for (size_t j = 0; j < c->nth; j++)
            if (c->th[j].tid == co->thread)
                th = &c->th[j];
        if (!th || !th->unwound)
            continue;
        int start = 0, roots = 0;
        while (roots < co->depth && start < th->nframes) {
            uint64_t pc = th->frames[start].pc;
            if (pc >= c->t.trampoline && pc < c->t.trampoline_end)
                roots++;
            start++;
        }
        co->nframes = th->nframes - start;
        co->frames = xcalloc((size_t)(co->nframes > 0 ? co->nframes : 1), sizeof *co->frames);
        if (co->nframes > 0)
            memcpy(co->frames, th->frames + start, (size_t)co->nframes * sizeof *co->frames);
    }
}

/* ---- symbols ------------------------------------------------------------------ */
struct sym {
    uint64_t key; /* lookup address + 1 (0: empty) */
    char *func;   /* symbol name, or module+0xoffset, or 0x... */
    char *file;   /* NULL: no line info */
    int line;
    uint64_t off;
    bool named;
};
static struct sym *symtab;
static size_t symcap, symcount;

static uint64_t hash64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static void sym_grow(void) {
    size_t ncap = symcap ? symcap * 2 : 4096;
    struct sym *n = xcalloc(ncap, sizeof *n);
    for (size_t i = 0; i < symcap; i++) {
        if (!symtab[i].key)
            continue;
        size_t h = hash64(symtab[i].key) & (ncap - 1);
        while (n[h].key)
            h = (h + 1) & (ncap - 1);
        n[h] = symtab[i];
    }
    free(symtab);
    symtab = n;
    symcap = ncap;
}

static const struct sym *symbolize(struct ctx *c, uint64_t addr) {
    if (symcount * 2 >= symcap)
        sym_grow();
    size_t h = hash64(addr + 1) & (symcap - 1);
    while (symtab[h].key) {
        if (symtab[h].key == addr + 1)
            return &symtab[h];
        h = (h + 1) & (symcap - 1);
    }
    struct sym *s = &symtab[h];
    s->key = addr + 1;
    symcount++;
    char buf[512];
    Dwfl_Module *mod = dwfl_addrmodule(c->dwfl, addr);
    const char *name = NULL;
    GElf_Off off = 0;
    if (mod) {
        GElf_Sym sym;
        name = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
        Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
        if (line) {
            int lineno = 0;
            const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
            if (file) {
                s->file = xstrdup(file);
                s->line = lineno;
            }
        }
    }
    if (name) {
        snprintf(buf, sizeof buf, "%s", name);
        char *at = strchr(buf, '@'); /* clock_nanosleep@GLIBC_2.2.5 */
        if (at && at != buf)
            *at = 0;
        s->named = true;
        s->off = off;
    } else if (mod) {
        Dwarf_Addr start;
        const char *mname = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
        const char *base = mname ? strrchr(mname, '/') : NULL;
        base = base ? base + 1 : (mname ? mname : "?");
        snprintf(buf, sizeof buf, "%s+0x%" PRIx64, base, addr - start);
    } else {
        snprintf(buf, sizeof buf, "0x%" PRIx64, addr);
    }
    s->func = xstrdup(buf);
    return s;
}

static const struct sym *frame_sym(struct ctx *c, const struct frame *f) {
    return symbolize(c, f->activation ? f->pc : f->pc - 1);
}

static const char *basename_of(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* ---- output ------------------------------------------------------------------- */
static const char *state_name(const struct coro *co) {
    switch (co->state) {
    case ST_SUSPENDED: return "suspended";
    case ST_RUNNING: return "running";
    case ST_CREATED: return "created";
    default: return "finished";
    }
}

static const char *finished_how(const struct coro *co) {
    return co->finished < 6 ? finished_names[co->finished] : "unknown";
}

/* The full state: "finished (returned)" for the finished ones. */
static void state_long(const struct coro *co, char *buf, size_t n) {
    if (co->state == ST_FINISHED)
        snprintf(buf, n, "finished (%s)", finished_how(co));
    else
        snprintf(buf, n, "%s", state_name(co));
}

static void sanitize(const char *in, char *out, size_t n, bool folded) {
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 1 < n; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch < 0x20 || ch >= 0x7f)
            ch = '?';
        else if (folded && (ch == ';' || ch == ' '))
            ch = '_';
        out[j++] = (char)ch;
    }
    out[j] = 0;
}

static uint64_t newest_stamp(const struct ctx *c) {
    uint64_t m = 0;
    for (size_t i = 0; i < c->nco; i++)
        if (c->co[i].state == ST_SUSPENDED && c->co[i].suspend_ns > m)
            m = c->co[i].suspend_ns;
    return m;
}

/* ns suspended (live: until now; core: before the newest stamp); false if
 * not recorded. */
static bool suspended_for(const struct ctx *c, const struct coro *co, uint64_t newest, uint64_t *ns) {
    if (co->state != ST_SUSPENDED || co->suspend_ns == 0)
        return false;
    uint64_t ref = c->live ? c->now_ns : newest;
    *ns = ref > co->suspend_ns ? ref - co->suspend_ns : 0;
    return true;
}

static void print_frame(struct ctx *c, FILE *out, int i, const struct frame *f) {
    const struct sym *s = frame_sym(c, f);
    fprintf(out, "    #%-2d 0x%016" PRIx64 " %s", i, f->pc, s->func);
    if (s->named && s->off)
        fprintf(out, "+0x%" PRIx64, s->off);
    if (s->file)
        fprintf(out, " (%s:%d)", basename_of(s->file), s->line);
    fputc('\n', out);
}

static void describe_site(struct ctx *c, uint64_t site, char *buf, size_t n) {
    if (!site) {
        snprintf(buf, n, "?");
        return;
    }
    const struct sym *s = symbolize(c, site - 1);
    int k = snprintf(buf, n, "%s", s->func);
    if (s->named && k >= 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, "+0x%" PRIx64, s->off + 1);
    if (s->file && k >= 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, " (%s:%d)", basename_of(s->file), s->line);
}

static void output_text(struct ctx *c, FILE *out) {
    uint64_t newest = newest_stamp(c);
    if (c->live)
        fprintf(out, "process %d: %zu coroutines (%zu threads; stopped for %.3f ms)\n", (int)c->pid, c->nco,
                c->nth, c->stop_ms);
    else
        fprintf(out, "core of process %d: %zu coroutines (%zu threads); times suspended are relative to "
                     "the newest suspend in the core\n", (int)c->pid, c->nco, c->nth);
    for (size_t i = 0; i < c->nco; i++) {
        struct coro *co = &c->co[i];
        char name[128], st[64], site[700], diag[512];
        if (has_problem(co)) {
            diag_line(co, diag, sizeof diag);
            fprintf(out, "\n%s\n", diag);
            if (co->damage)
                continue;
        } else {
            fputc('\n', out);
        }
        sanitize(co->name, name, sizeof name, false);
        state_long(co, st, sizeof st);
        fprintf(out, "coroutine %" PRIu64 " \"%s\" %s", co->id, name, st);
        uint64_t ns;
        if (suspended_for(c, co, newest, &ns))
            fprintf(out, c->live ? " for %.3f s" : " (%.3f s before the newest suspend)", (double)ns / 1e9);
        if (co->state == ST_RUNNING) {
            if (co->thread)
                fprintf(out, " on thread %d", (int)co->thread);
            else
                fprintf(out, " (thread not found)");
            if (co->depth > 0)
                fprintf(out, ", resuming coroutine %" PRIu64, co->resuming);
        }
        fputc('\n', out);
        describe_site(c, co->create_site, site, sizeof site);
        fprintf(out, "  control block 0x%" PRIx64 ", created at %s\n", co->addr, site);
        for (int k = 0; k < co->nframes; k++) {
            print_frame(c, out, k, &co->frames[k]);
            if (co->state == ST_RUNNING && co->frames[k].pc >= c->t.trampoline &&
                co->frames[k].pc < c->t.trampoline_end && k + 1 < co->nframes)
                fprintf(out, "    -- resumed by --\n");
        }
        if (co->state == ST_SUSPENDED && co->incomplete)
            fprintf(out, "    (unwinding stopped before the coroutine's root)\n");
    }
}

static void json_str(FILE *out, const char *s) {
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static void output_json(struct ctx *c, FILE *out) {
    uint64_t newest = newest_stamp(c);
    fputs("[", out);
    for (size_t i = 0; i < c->nco; i++) {
        struct coro *co = &c->co[i];
        char site[700];
        fprintf(out, "%s\n  {\"id\": %" PRIu64 ", \"name\": ", i ? "," : "", co->id);
        json_str(out, co->name);
        fprintf(out, ", \"state\": \"%s\", \"thread\": ", state_name(co));
        if (co->state == ST_RUNNING && co->thread)
            fprintf(out, "%d", (int)co->thread);
        else
            fputs("null", out);
        if (co->state == ST_RUNNING && co->depth > 0)
            fprintf(out, ", \"resuming\": %" PRIu64, co->resuming);
        if (co->state == ST_FINISHED)
            fprintf(out, ", \"finished\": \"%s\"", finished_how(co));
        fprintf(out, ", \"address\": \"0x%" PRIx64 "\", \"create_site\": ", co->addr);
        describe_site(c, co->create_site, site, sizeof site);
        json_str(out, site);
        uint64_t ns;
        fputs(", \"suspended_ns\": ", out);
        if (suspended_for(c, co, newest, &ns))
            fprintf(out, "%" PRIu64 ", \"suspended_since\": \"%s\"", ns, c->live ? "now" : "newest-suspend");
        else
            fputs("null", out);
        fputs(", \"frames\": [", out);
        for (int k = 0; k < co->nframes; k++) {
            const struct sym *s = frame_sym(c, &co->frames[k]);
            fprintf(out, "%s{\"pc\": \"0x%" PRIx64 "\", \"function\": ", k ? ", " : "", co->frames[k].pc);
            json_str(out, s->func);
            fputs(", \"file\": ", out);
            if (s->file)
                json_str(out, s->file);
            else
                fputs("null", out);
            fputs(", \"line\": ", out);
            if (s->file)
                fprintf(out, "%d", s->line);
            else
                fputs("null", out);
            fputc('}', out);
        }
        fputs("]", out);
        if (co->state == ST_SUSPENDED && co->incomplete)
            fputs(", \"incomplete\": true", out);
        if (co->damage) {
            fputs(", \"error\": ", out);
            json_str(out, co->damage);
        }
        if (co->nslots > 1) {
            fprintf(out, ", \"registry_slots\": %" PRIu64 ", \"slot_addresses\": [", co->nslots);
            for (uint64_t k = 0; k < co->nslots && k < MAX_DUP_SLOTS; k++)
                fprintf(out, "%s\"0x%" PRIx64 "\"", k ? ", " : "", co->slot_addr[k]);
            fputc(']', out);
        }
        if (has_problem(co)) {
            char diag[512];
            diag_line(co, diag, sizeof diag);
            fputs(", \"diagnostic\": ", out);
            json_str(out, diag);
        }
        fputc('}', out);
    }
    fputs("\n]\n", out);
}

/* ---- stacks that print alike ------------------------------------------------
 * Coroutines with the same state, the same damage flag and the same frames
 * (lookup address by lookup address: what symbolize() is given) print the
 * same folded line and group key; a million coroutines have few distinct
 * ones. Each distinct one (a signature) is described once. */
struct sigs {
    size_t *of;      /* of[i]: coroutine i's signature (SIZE_MAX: left out) */
    size_t *rep;     /* rep[k]: the first coroutine with signature k */
    uint64_t *count; /* count[k]: how many have it */
    size_t n;
};

static uint64_t frame_addr(const struct frame *f) { return f->activation ? f->pc : f->pc - 1; }

static uint64_t sig_hash(const struct coro *co) {
    uint64_t h = hash64((uint64_t)co->state * 2 + (co->damage != NULL) + ((uint64_t)co->nframes << 8));
    for (int k = 0; k < co->nframes; k++)
        h = hash64(h ^ frame_addr(&co->frames[k]));
    return h;
}

static bool sig_equal(const struct coro *x, const struct coro *y) {
    if (x->state != y->state || (x->damage != NULL) != (y->damage != NULL) || x->nframes != y->nframes)
        return false;
    for (int k = 0; k < x->nframes; k++)
        if (frame_addr(&x->frames[k]) != frame_addr(&y->frames[k]))
            return false;
    return true;
}

/* The signatures of the coroutines; with skip_damaged, the damaged ones
 * get none. */
static void make_sigs(struct ctx *c, bool skip_damaged, struct sigs *sg) {
    sg->of = xcalloc(c->nco, sizeof *sg->of);
    sg->n = 0;
    size_t cap = 0, tcap = 1024;
    size_t *table = xcalloc(tcap, sizeof *table); /* signature + 1 (0: empty) */
    uint64_t *hashes = NULL;
    sg->rep = NULL, sg->count = NULL;
    for (size_t i = 0; i < c->nco; i++) {
        const struct coro *co = &c->co[i];
        if (skip_damaged && co->damage) {
            sg->of[i] = SIZE_MAX;
            continue;
        }
        uint64_t h = sig_hash(co);
        size_t slot = h & (tcap - 1);
        while (table[slot] && (hashes[table[slot] - 1] != h || !sig_equal(&c->co[sg->rep[table[slot] - 1]], co)))
            slot = (slot + 1) & (tcap - 1);
        if (table[slot]) {
            sg->of[i] = table[slot] - 1;
            sg->count[table[slot] - 1]++;
            continue;
        }
        if (sg->n == cap) {
            cap = cap ? cap * 2 : 64;
            sg->rep = xrealloc(sg->rep, cap, sizeof *sg->rep);
            sg->count = xrealloc(sg->count, cap, sizeof *sg->count);
            hashes = xrealloc(hashes, cap, sizeof *hashes);
        }
        sg->rep[sg->n] = i, sg->count[sg->n] = 1, hashes[sg->n] = h;
        sg->of[i] = sg->n++;
        table[slot] = sg->n;
        if (sg->n * 2 > tcap) { /* rehash */
            free(table);
            tcap *= 2;
            table = xcalloc(tcap, sizeof *table);
            for (size_t k = 0; k < sg->n; k++) {
                size_t t = hashes[k] & (tcap - 1);
                while (table[t])
                    t = (t + 1) & (tcap - 1);
                table[t] = k + 1;
            }
        }
    }
    free(table), free(hashes);
}

static void free_sigs(struct sigs *sg) {
    free(sg->of), free(sg->rep), free(sg->count);
}

/* The folded line of a coroutine: state;outer;...;inner */
static char *folded_line(struct ctx *c, const struct coro *co) {
    size_t cap = 256, len = 0;
    char *buf = xcalloc(cap, 1);
    len = (size_t)snprintf(buf, cap, "%s%s", state_name(co), co->damage ? ";[damaged]" : "");
    for (int k = co->nframes - 1; k >= 0; k--) {
        const struct sym *s = frame_sym(c, &co->frames[k]);
        char name[512];
        sanitize(s->func, name, sizeof name, true);
        size_t nl = strlen(name);
        if (len + nl + 2 > cap) {
            cap = (len + nl + 2) * 2;
            buf = xrealloc(buf, cap, 1);
        }
        buf[len++] = ';';
        memcpy(buf + len, name, nl + 1);
        len += nl;
    }
    return buf;
}

struct line_count {
    char *line;
    uint64_t count;
    size_t first; /* group: index of the first coroutine */
};

static int lc_by_line(const void *a, const void *b) {
    return strcmp(((const struct line_count *)a)->line, ((const struct line_count *)b)->line);
}

static int lc_by_count(const void *a, const void *b) {
    const struct line_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->line, y->line);
}

/* Merges identical lines, summing counts. */
static size_t merge_lines(struct line_count *v, size_t n) {
    qsort(v, n, sizeof *v, lc_by_line);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && strcmp(v[m - 1].line, v[i].line) == 0) {
            v[m - 1].count += v[i].count;
            free(v[i].line);
            continue;
        }
        v[m++] = v[i];
    }
    return m;
}

static void output_folded_lines(FILE *out, struct line_count *v, size_t n) {
    n = merge_lines(v, n);
    qsort(v, n, sizeof *v, lc_by_count);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%s %" PRIu64 "\n", v[i].line, v[i].count);
        free(v[i].line);
    }
}

/* Appends the folded lines of this snapshot, one per signature, counted. */
static void add_folded(struct ctx *c, struct line_count **v, size_t *nv, size_t *cv) {
    struct sigs sg;
    make_sigs(c, false, &sg);
    for (size_t k = 0; k < sg.n; k++) {
        if (*nv == *cv) {
            *cv = *cv ? *cv * 2 : 1024;
            *v = xrealloc(*v, *cv, sizeof **v);
        }
        (*v)[(*nv)++] = (struct line_count){folded_line(c, &c->co[sg.rep[k]]), sg.count[k], 0};
    }
    free_sigs(&sg);
}

/* The damaged coroutines' lines, on stderr (--folded, --svg: stdout
 * stays folded lines). */
static void damaged_to_stderr(struct ctx *c) {
    for (size_t i = 0; i < c->nco; i++) {
        if (has_problem(&c->co[i])) {
            char diag[512];
            diag_line(&c->co[i], diag, sizeof diag);
            fprintf(stderr, "%s: %s\n", prog_name, diag);
        }
    }
}

static void output_folded(struct ctx *c, FILE *out) {
    damaged_to_stderr(c);
    struct line_count *v = NULL;
    size_t nv = 0, cv = 0;
    add_folded(c, &v, &nv, &cv);
    output_folded_lines(out, v, nv);
    free(v);
}

/* Groups: identical state and frames (by symbolized frame). */
static char *group_key(struct ctx *c, const struct coro *co) {
    size_t cap = 256, len;
    char *buf = xcalloc(cap, 1);
    len = (size_t)snprintf(buf, cap, "%s", state_name(co));
    for (int k = 0; k < co->nframes; k++) {
        const struct sym *s = frame_sym(c, &co->frames[k]);
        char item[1200];
        int n = snprintf(item, sizeof item, "\n%s+%" PRIx64 "@%s:%d", s->func, s->off, s->file ? s->file : "", s->line);
        size_t nl = n > 0 ? (size_t)n : 0;
        if (nl >= sizeof item)
            nl = sizeof item - 1;
        if (len + nl + 1 > cap) {
            cap = (len + nl + 1) * 2;
            buf = xrealloc(buf, cap, 1);
        }
        memcpy(buf + len, item, nl);
        len += nl;
        buf[len] = 0;
    }
    return buf;
}

static int idx_by_key(const void *a, const void *b) {
    const struct line_count *x = a, *y = b;
    int r = strcmp(x->line, y->line);
    return r ? r : (x->first < y->first ? -1 : x->first > y->first);
}

#define GROUP_LISTED 8 /* members named in a group's line */

static void output_group(struct ctx *c, FILE *out) {
    /* the damaged ones are not grouped: one line each, first. A group:
     * the signatures with the same key (identical ones, unless two
     * addresses symbolize alike) */
    size_t n = 0, ndamaged = 0;
    struct sigs sg;
    make_sigs(c, true, &sg);
    struct line_count *v = xcalloc(sg.n, sizeof *v);
    for (size_t k = 0; k < sg.n; k++)
        v[k] = (struct line_count){group_key(c, &c->co[sg.rep[k]]), 0, k};
    qsort(v, sg.n, sizeof *v, idx_by_key);
    size_t *group_of = xcalloc(sg.n, sizeof *group_of); /* by signature */
    struct line_count *g = xcalloc(sg.n, sizeof *g);
    size_t ng = 0;
    for (size_t k = 0; k < sg.n; k++) {
        if (k == 0 || strcmp(v[k].line, v[k - 1].line) != 0) {
            g[ng] = (struct line_count){v[k].line, 0, ng};
            ng++;
        }
        group_of[v[k].first] = ng - 1;
    }
    /* the first members of each group, in coroutine order */
    size_t *members = xcalloc(ng ? ng : 1, GROUP_LISTED * sizeof *members);
    for (size_t i = 0; i < c->nco; i++) {
        if (sg.of[i] == SIZE_MAX) {
            ndamaged++;
            continue;
        }
        n++;
        struct line_count *gr = &g[group_of[sg.of[i]]];
        if (gr->count < GROUP_LISTED)
            members[gr->first * GROUP_LISTED + gr->count] = i;
        gr->count++;
    }
    qsort(g, ng, sizeof *g, lc_by_count);
    char damaged[64] = "";
    if (ndamaged)
        snprintf(damaged, sizeof damaged, " and %zu damaged", ndamaged);
    if (c->live)
        fprintf(out, "process %d: %zu coroutines in %zu groups%s (stopped for %.3f ms)\n", (int)c->pid, n, ng,
                damaged, c->stop_ms);
    else
        fprintf(out, "core of process %d: %zu coroutines in %zu groups%s\n", (int)c->pid, n, ng, damaged);
    for (size_t i = 0; i < c->nco; i++) {
        if (has_problem(&c->co[i])) {
            char diag[512];
            diag_line(&c->co[i], diag, sizeof diag);
            fprintf(out, "%s\n", diag);
        }
    }
    for (size_t k = 0; k < ng; k++) {
        const size_t *mem = &members[g[k].first * GROUP_LISTED];
        const struct coro *co0 = &c->co[mem[0]];
        char st[64];
        state_long(co0, st, sizeof st);
        fprintf(out, "\n%" PRIu64 " coroutine%s %s:", g[k].count, g[k].count == 1 ? "" : "s", st);
        for (uint64_t j = 0; j < g[k].count; j++) {
            if (j == GROUP_LISTED) {
                fprintf(out, " ...");
                break;
            }
            const struct coro *co = &c->co[mem[j]];
            char name[128];
            sanitize(co->name, name, sizeof name, false);
            fprintf(out, " %" PRIu64 " \"%s\"", co->id, name);
            if (co->state == ST_RUNNING && co->thread)
                fprintf(out, " (thread %d)", (int)co->thread);
        }
        fputc('\n', out);
        for (int f = 0; f < co0->nframes; f++)
            print_frame(c, out, f, &co0->frames[f]);
    }
    for (size_t k = 0; k < sg.n; k++)
        free(v[k].line);
    free(v), free(g), free(members), free(group_of);
    free_sigs(&sg);
}

/* ---- flame graph (--svg) --------------------------------------------------------
 * One SVG renderer; corolink-perf has the same in Python. The layout rules
 * (perf/README.md, "Flame graphs") are shared: a tree of frames merged by
 * name under a root "all", children in byte order left to right, widths
 * proportional to the samples, frames narrower than 0.1 px left out with
 * what is above them, colours from the coroutine a frame runs in. The
 * style and the script below are the same text in both tools (the tests
 * compare them). Here a sample is one coroutine in one snapshot: the wall
 * time where coroutines wait. */
static const char flame_css[] =
    "text { font-family: Verdana, sans-serif; font-size: 12px; fill: #000; }\n"
    "#title { font-size: 17px; }\n"
    "#subtitle { fill: #555; }\n"
    ".btn { cursor: pointer; fill: #225; text-decoration: underline; }\n"
    ".f { cursor: pointer; }\n"
    ".f:hover rect { stroke: #000; stroke-width: 0.5; }\n"
    ".b text { fill: #fff; }\n";

static const char flame_js[] =
    "var F = [], total = 0, zoomed = null, term = null;\n"
    "function $(id) { return document.getElementById(id); }\n"
    "function init() {\n"
    "  var gs = document.getElementsByClassName(\"f\");\n"
    "  for (var i = 0; i < gs.length; i++) {\n"
    "    var g = gs[i], r = g.getElementsByTagName(\"rect\")[0];\n"
    "    var tt = g.getElementsByTagName(\"title\")[0].textContent;\n"
    "    var m = /^([\\s\\S]*?) \\((\\d+) samples?, /.exec(tt);\n"
    "    var e = {g: g, r: r, t: g.getElementsByTagName(\"text\")[0], tt: tt,\n"
    "             x: +r.getAttribute(\"x\"), w: +r.getAttribute(\"width\"),\n"
    "             y: +r.getAttribute(\"y\"), fill: r.getAttribute(\"fill\"),\n"
    "             name: m ? m[1] : tt, n: m ? +m[2] : 0};\n"
    "    F.push(e);\n"
    "    g.onclick = (function (e) { return function () { zoom(e); }; })(e);\n"
    "    g.onmouseover = (function (e) { return function () { $(\"details\").textContent = e.tt.split(\"\\n\").join(\"; \"); }; })(e);\n"
    "    g.onmouseout = function () { $(\"details\").textContent = \" \"; };\n"
    "  }\n"
    "  total = F.length ? F[0].n : 0;\n"
    "  $(\"unzoom\").onclick = function () { zoom(null); };\n"
    "  $(\"search\").onclick = function () { if (term !== null) search(null); else ask(); };\n"
    "  window.addEventListener(\"keydown\", function (ev) {\n"
    "    if (ev.keyCode === 114 || ((ev.ctrlKey || ev.metaKey) && ev.keyCode === 70)) { ev.preventDefault(); ask(); }\n"
    "    else if (ev.key === \"Escape\") search(null);\n"
    "  });\n"
    "}\n"
    "function label(e, w) {\n"
    "  var c = Math.floor(w / 7.08);\n"
    "  e.t.textContent = c < 3 ? \"\" : e.name.length > c ? e.name.substring(0, c - 2) + \"..\" : e.name;\n"
    "}\n"
    "function place(e, x, w, show, dim) {\n"
    "  e.g.style.display = show ? \"\" : \"none\";\n"
    "  e.g.style.opacity = dim ? \"0.5\" : \"\";\n"
    "  if (!show) return;\n"
    "  e.r.setAttribute(\"x\", x.toFixed(2)); e.r.setAttribute(\"width\", w.toFixed(2));\n"
    "  e.t.setAttribute(\"x\", (x + 3).toFixed(2));\n"
    "  label(e, w);\n"
    "}\n"
    "function zoom(z) {\n"
    "  zoomed = z;\n"
    "  $(\"unzoom\").style.display = z ? \"\" : \"none\";\n"
    "  for (var i = 0; i < F.length; i++) {\n"
    "    var e = F[i];\n"
    "    if (!z) { place(e, e.x, e.w, true, false); continue; }\n"
    "    var inside = e.x >= z.x - 0.005 && e.x + e.w <= z.x + z.w + 0.005;\n"
    "    if (e.y > z.y) place(e, 10, 1180, e.x <= z.x + 0.005 && e.x + e.w >= z.x + z.w - 0.005, true);\n"
    "    else place(e, 10 + (e.x - z.x) * 1180 / z.w, e.w * 1180 / z.w, inside, false);\n"
    "  }\n"
    "  search(term);\n"
    "}\n"
    "function ask() {\n"
    "  var t = prompt(\"Search for (regular expression):\", term || \"\");\n"
    "  if (t) search(t);\n"
    "}\n"
    "function search(t) {\n"
    "  var re = null;\n"
    "  if (t) { try { re = new RegExp(t); } catch (err) { alert(err); return; } }\n"
    "  term = re ? t : null;\n"
    "  var hit = [], base = zoomed ? zoomed.n : total;\n"
    "  for (var i = 0; i < F.length; i++) {\n"
    "    var e = F[i], on = re && e.g.style.display !== \"none\" && e.y <= (zoomed ? zoomed.y : 1e9) && re.test(e.name);\n"
    "    e.r.setAttribute(\"fill\", on ? \"rgb(230,0,230)\" : e.fill);\n"
    "    if (on) hit.push(e);\n"
    "  }\n"
    "  hit.sort(function (a, b) { return a.x - b.x || b.w - a.w; });\n"
    "  var sum = 0, end = -1;\n"
    "  for (var j = 0; j < hit.length; j++)\n"
    "    if (hit[j].x >= end - 0.005) { sum += hit[j].n; end = hit[j].x + hit[j].w; }\n"
    "  $(\"search\").textContent = term === null ? \"Search\" : \"Reset search\";\n"
    "  $(\"matched\").textContent = term === null ? \" \" : \"Matched: \" + (base ? (100 * sum / base).toFixed(1) : \"0.0\") + \"%\";\n"
    "}\n";

enum { FK_FRAME, FK_ALL, FK_STATE, FK_DAMAGED, FK_BOUNDARY };

struct fnode {
    char *name;
    char *key;      /* the coroutine it runs in ("\"NAME\"" or the id); NULL: a thread's */
    uint64_t count;
    uint32_t parent;
    int depth, kind;
    bool key_set, mixed;
};

struct flame {
    struct fnode *n;
    size_t nn, cn;
    uint32_t *table; /* (parent, name) -> node + 1 */
    size_t tcap;
    uint64_t snapshots;
};

static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static uint64_t flame_hash(uint32_t parent, const char *name) {
    return hash64(((uint64_t)parent << 32) ^ fnv1a(name));
}

static uint32_t flame_child(struct flame *fg, uint32_t parent, const char *name, int kind) {
    if ((fg->nn + 1) * 2 > fg->tcap) { /* grow and rehash */
        free(fg->table);
        fg->tcap = fg->tcap ? fg->tcap * 2 : 1024;
        fg->table = xcalloc(fg->tcap, sizeof *fg->table);
        for (size_t i = 1; i < fg->nn; i++) {
            size_t t = flame_hash(fg->n[i].parent, fg->n[i].name) & (fg->tcap - 1);
            while (fg->table[t])
                t = (t + 1) & (fg->tcap - 1);
            fg->table[t] = (uint32_t)i + 1;
        }
    }
    size_t t = flame_hash(parent, name) & (fg->tcap - 1);
    for (; fg->table[t]; t = (t + 1) & (fg->tcap - 1)) {
        const struct fnode *x = &fg->n[fg->table[t] - 1];
        if (x->parent == parent && strcmp(x->name, name) == 0)
            return fg->table[t] - 1;
    }
    if (fg->nn == fg->cn) {
        fg->cn = fg->cn ? fg->cn * 2 : 256;
        fg->n = xrealloc(fg->n, fg->cn, sizeof *fg->n);
    }
    fg->n[fg->nn] = (struct fnode){xstrdup(name), NULL, 0, parent, fg->n[parent].depth + 1, kind, false, false};
    fg->table[t] = (uint32_t)fg->nn + 1;
    return (uint32_t)fg->nn++;
}

static void flame_init(struct flame *fg) {
    memset(fg, 0, sizeof *fg);
    fg->cn = 256;
    fg->n = xcalloc(fg->cn, sizeof *fg->n);
    fg->n[0] = (struct fnode){xstrdup("all"), NULL, 0, 0, 0, FK_ALL, true, false};
    fg->nn = 1;
}

/* Adds a stack (root first: the state, then frames) counted n times;
 * keys[i]: the coroutine path[i] runs in, NULL for a thread's frames. */
static void flame_add(struct flame *fg, char **path, char **keys, int np, uint64_t n) {
    uint32_t at = 0;
    fg->n[0].count += n;
    for (int i = 0; i < np; i++) {
        int kind = i == 0                                         ? FK_STATE
                   : i == 1 && strcmp(path[i], "[damaged]") == 0 ? FK_DAMAGED
                   : strncmp(path[i], "corolink__trampoline", 20) == 0 ? FK_BOUNDARY
                                                                 : FK_FRAME;
        at = flame_child(fg, at, path[i], kind);
        struct fnode *x = &fg->n[at];
        x->count += n;
        const char *k = keys[i];
        bool same = (k == NULL && x->key == NULL) || (k && x->key && strcmp(k, x->key) == 0);
        if (!x->key_set)
            x->key = k ? xstrdup(k) : NULL, x->key_set = true;
        else if (!same)
            x->mixed = true;
    }
}

/* A coroutine's key: "NAME" (quoted) when named, else its id. */
static void flame_key(const struct coro *co, char *key, size_t n) {
    char name[64];
    sanitize(co->name_ok ? co->name : "", name, sizeof name, false);
    if (name[0])
        snprintf(key, n, "\"%s\"", name);
    else
        snprintf(key, n, "%" PRIu64, co->id);
}

/* Adds every coroutine of this snapshot, counted once: its state, then
 * its frames root first, named as --folded names them. Which coroutine
 * each frame runs in: a parked coroutine's frames are all its own; a
 * running one's stack crosses corolink__trampoline frames (the roots of
 * the coroutine stacks): below the first one the frames are its thread's,
 * from the last one on its own, in between those of the coroutines that
 * resumed it (the one resuming it, then the one resuming that one, ...). */
static void flame_add_snapshot(struct ctx *c, struct flame *fg) {
    struct sigs sg;
    make_sigs(c, false, &sg);
    char ***paths = xcalloc(sg.n, sizeof *paths);
    int *np = xcalloc(sg.n, sizeof *np);
    for (size_t k = 0; k < sg.n; k++) {
        const struct coro *co = &c->co[sg.rep[k]];
        char **p = xcalloc((size_t)co->nframes + 2, sizeof *p);
        int n = 0;
        p[n++] = xstrdup(state_name(co));
        if (co->damage)
            p[n++] = xstrdup("[damaged]");
        for (int f = co->nframes - 1; f >= 0; f--) {
            char name[512];
            sanitize(frame_sym(c, &co->frames[f])->func, name, sizeof name, true);
            p[n++] = xstrdup(name);
        }
        paths[k] = p, np[k] = n;
    }
    char **keys = NULL, (*keybuf)[80] = NULL;
    size_t ckeys = 0;
    for (size_t i = 0; i < c->nco; i++) {
        const struct coro *co = &c->co[i];
        size_t k = sg.of[i];
        int n = np[k], roots = 0;
        if ((size_t)n > ckeys) {
            ckeys = (size_t)n * 2;
            keys = xrealloc(keys, ckeys, sizeof *keys);
            keybuf = xrealloc(keybuf, ckeys, sizeof *keybuf);
        }
        for (int j = 1; j < n; j++)
            roots += strncmp(paths[k][j], "corolink__trampoline", 20) == 0;
        /* keybuf[d]: the coroutine d resumes away from co (0: co itself) */
        const struct coro *r = co;
        for (int d = 0; d <= roots && r; d++) {
            flame_key(r, keybuf[d], sizeof keybuf[d]);
            const struct coro *next = NULL;
            for (size_t m = 0; m < c->nco && co->state == ST_RUNNING && d < roots; m++)
                if (c->co[m].state == ST_RUNNING && c->co[m].resuming == r->id && &c->co[m] != r)
                    next = &c->co[m];
            r = next;
            if (!r)
                for (int e = d + 1; e <= roots; e++)
                    keybuf[e][0] = 0; /* not known */
        }
        keys[0] = NULL;
        int left = co->state == ST_RUNNING ? roots : 0; /* roots still above */
        bool thread = co->state == ST_RUNNING && roots > 0;
        for (int j = 1; j < n; j++) {
            if (strncmp(paths[k][j], "corolink__trampoline", 20) == 0 && left > 0)
                left--, thread = false;
            keys[j] = thread || !keybuf[left][0] ? NULL : keybuf[left];
        }
        flame_add(fg, paths[k], keys, n, 1);
    }
    free(keys), free(keybuf);
    for (size_t k = 0; k < sg.n; k++) {
        for (int j = 0; j < np[k]; j++)
            free(paths[k][j]);
        free(paths[k]);
    }
    free(paths), free(np);
    free_sigs(&sg);
    fg->snapshots++;
}

/* Text for XML: & < > " escaped (the names are printable ASCII). */
static void xml_text(FILE *out, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*s, out);
        }
    }
}

#define FG_WIDTH 1200
#define FG_PAD 10
#define FG_FRAME 16
#define FG_TOP 56
#define FG_BOTTOM 32

static const struct flame *sort_fg;
static int by_name(const void *a, const void *b) {
    return strcmp(sort_fg->n[*(const uint32_t *)a].name, sort_fg->n[*(const uint32_t *)b].name);
}

static void flame_colour(const struct fnode *x, char *buf, size_t n) {
    unsigned v = fnv1a(x->name) % 16;
    if (x->kind == FK_ALL)
        snprintf(buf, n, "hsl(0,0%%,88%%)");
    else if (x->kind == FK_STATE)
        snprintf(buf, n, "hsl(0,0%%,75%%)");
    else if (x->kind == FK_DAMAGED)
        snprintf(buf, n, "hsl(0,80%%,55%%)");
    else if (x->kind == FK_BOUNDARY && x->key && !x->mixed)
        snprintf(buf, n, "hsl(%u,65%%,38%%)", fnv1a(x->key) % 360);
    else if (x->kind == FK_BOUNDARY)
        snprintf(buf, n, "hsl(260,25%%,38%%)");
    else if (x->mixed)
        snprintf(buf, n, "hsl(260,25%%,%u%%)", 68 + v);
    else if (x->key)
        snprintf(buf, n, "hsl(%u,70%%,%u%%)", fnv1a(x->key) % 360, 62 + v);
    else
        snprintf(buf, n, "hsl(38,30%%,%u%%)", 68 + v);
}

/* Writes the flame graph: frames in depth-first order, children by name. */
static void flame_write(struct flame *fg, FILE *out, const char *title, const char *subtitle) {
    size_t nn = fg->nn;
    /* children lists: by parent, then by name */
    uint32_t *order = xcalloc(nn, sizeof *order);
    size_t *first = xcalloc(nn + 1, sizeof *first);
    for (size_t i = 1; i < nn; i++)
        first[fg->n[i].parent + 1]++;
    for (size_t i = 0; i < nn; i++)
        first[i + 1] += first[i];
    size_t *fill = xcalloc(nn, sizeof *fill);
    for (size_t i = 1; i < nn; i++) {
        uint32_t p = fg->n[i].parent;
        order[first[p] + fill[p]++] = (uint32_t)i;
    }
    sort_fg = fg;
    for (size_t i = 0; i < nn; i++)
        qsort(order + first[i], first[i + 1] - first[i], sizeof *order, by_name);
    /* x offsets (in samples) and the frames drawn: depth first */
    uint64_t total = fg->n[0].count;
    double scale = (double)(FG_WIDTH - 2 * FG_PAD) / (double)(total ? total : 1);
    uint64_t *off = xcalloc(nn, sizeof *off);
    uint32_t *stack = xcalloc(nn, sizeof *stack), *drawn = xcalloc(nn, sizeof *drawn);
    size_t sp = 0, nd = 0;
    int maxdepth = 0;
    stack[sp++] = 0;
    while (sp) {
        uint32_t i = stack[--sp];
        if (i != 0 && (double)fg->n[i].count * scale < 0.1)
            continue; /* too narrow: left out, with what is above it */
        drawn[nd++] = i;
        if (fg->n[i].depth > maxdepth)
            maxdepth = fg->n[i].depth;
        uint64_t o = off[i];
        for (size_t k = first[i]; k < first[i + 1]; k++)
            off[order[k]] = o, o += fg->n[order[k]].count;
        for (size_t k = first[i + 1]; k > first[i]; k--)
            stack[sp++] = order[k - 1];
    }
    int height = FG_TOP + (maxdepth + 1) * FG_FRAME + FG_BOTTOM;
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
            "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" onload=\"init()\">\n"
            "<style type=\"text/css\"><![CDATA[\n%s]]></style>\n"
            "<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n"
            "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#f8f8f8\"/>\n"
            "<text id=\"title\" x=\"%d\" y=\"24\" text-anchor=\"middle\">",
            FG_WIDTH, height, FG_WIDTH, height, flame_css, flame_js, FG_WIDTH, height, FG_WIDTH / 2);
    xml_text(out, title);
    fprintf(out, "</text>\n<text id=\"subtitle\" x=\"%d\" y=\"42\" text-anchor=\"middle\">", FG_WIDTH / 2);
    xml_text(out, subtitle);
    fprintf(out,
            "</text>\n"
            "<text id=\"unzoom\" class=\"btn\" x=\"%d\" y=\"24\" style=\"display:none\">Reset zoom</text>\n"
            "<text id=\"search\" class=\"btn\" x=\"%d\" y=\"24\" text-anchor=\"end\">Search</text>\n"
            "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n"
            "<text id=\"matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"> </text>\n"
            "<g id=\"frames\">\n",
            FG_PAD, FG_WIDTH - FG_PAD, FG_PAD, height - 12, FG_WIDTH - FG_PAD, height - 12);
    for (size_t d = 0; d < nd; d++) {
        const struct fnode *x = &fg->n[drawn[d]];
        double fx = FG_PAD + (double)off[drawn[d]] * scale;
        double fw = drawn[d] == 0 ? (double)(FG_WIDTH - 2 * FG_PAD) : (double)x->count * scale;
        int fy = FG_TOP + (maxdepth - x->depth) * FG_FRAME;
        char colour[40];
        flame_colour(x, colour, sizeof colour);
        fputs(x->kind == FK_BOUNDARY ? "<g class=\"f b\"><title>" : "<g class=\"f\"><title>", out);
        xml_text(out, x->name);
        fprintf(out, " (%" PRIu64 " samples, %.2f%%)", x->count, total ? 100.0 * (double)x->count / (double)total : 0.0);
        if ((x->kind == FK_FRAME || x->kind == FK_BOUNDARY) && x->mixed) {
            fputs("\nseveral coroutines", out);
        } else if ((x->kind == FK_FRAME || x->kind == FK_BOUNDARY) && x->key) {
            fputs("\ncoroutine ", out);
            xml_text(out, x->key);
        }
        fprintf(out, "</title><rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" rx=\"2\" fill=\"%s\"/>",
                fx, fy, fw, FG_FRAME - 1, colour);
        /* the label: as many characters as fit (7.08 px each), ".." if cut */
        size_t fit = (size_t)(fw / 7.08), len = strlen(x->name);
        fprintf(out, "<text x=\"%.2f\" y=\"%d\">", fx + 3, fy + 11);
        if (fit >= 3) {
            if (len > fit) {
                char *cut = xstrdup(x->name);
                strcpy(cut + fit - 2, "..");
                xml_text(out, cut);
                free(cut);
            } else {
                xml_text(out, x->name);
            }
        }
        fputs("</text></g>\n", out);
    }
    fputs("</g>\n</svg>\n", out);
    free(order), free(first), free(fill), free(off), free(stack), free(drawn);
}

static void flame_free(struct flame *fg) {
    for (size_t i = 0; i < fg->nn; i++)
        free(fg->n[i].name), free(fg->n[i].key);
    free(fg->n), free(fg->table);
}

/* Writes the graph to out (the file of --svg, or stdout) and closes it. */
static void flame_finish(struct flame *fg, FILE *out, const char *path, const char *title, const char *sub) {
    flame_write(fg, out, title, sub);
    flame_free(fg);
    if (out == stdout) {
        if (fflush(out) != 0 && errno != EPIPE)
            die("writing the flame graph: %s", strerror(errno));
        return;
    }
    if (ferror(out) | (fclose(out) != 0))
        die("--svg %s: %s", path, strerror(errno));
    svg_partial = NULL;
}

/* ---- main ----------------------------------------------------------------------- */
static void usage(FILE *out) {
    fprintf(out,
            "usage: corolink-stacks [MODE] PID\n"
            "       corolink-stacks [MODE] --core FILE --exe PROGRAM\n"
            "       corolink-stacks --interval MS --count N [--svg FILE] PID   (sampled folded stacks)\n"
            "modes: (default) text; --group: identical stacks merged, most common first;\n"
            "       --folded: 'state;outer;...;inner count' lines (flamegraph.pl, speedscope);\n"
            "       --json: an array of coroutine objects\n"
            "--svg FILE: write a flame graph (SVG) to FILE instead of the output on stdout\n"
            "       (with --folded, and for one snapshot --group or --json: that output too;\n"
            "       FILE '-': stdout)\n"
            "--stats: print the stop time of each snapshot on stderr\n");
}

static long parse_num(const char *s, const char *what, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi)
        die("bad %s: '%s'", what, s);
    return v;
}

int main(int argc, char **argv) {
    enum { O_TEXT, O_GROUP, O_FOLDED, O_JSON } mode = O_TEXT;
    const char *core = NULL, *exe = NULL;
    long interval = -1, count = -1;
    bool stats = false, mode_set = false;
    const char *svg = NULL;
    static const struct option opts[] = {
        {"core", required_argument, NULL, 'c'}, {"exe", required_argument, NULL, 'e'},
        {"group", no_argument, NULL, 'g'},      {"folded", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},       {"interval", required_argument, NULL, 'i'},
        {"count", required_argument, NULL, 'n'}, {"stats", no_argument, NULL, 's'},
        {"svg", required_argument, NULL, 'G'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "c:e:gfji:n:sh", opts, NULL)) != -1) {
        switch (o) {
        case 'c': core = optarg; break;
        case 'e': exe = optarg; break;
        case 'g': mode = O_GROUP, mode_set = true; break;
        case 'f': mode = O_FOLDED, mode_set = true; break;
        case 'j': mode = O_JSON, mode_set = true; break;
        case 'G': svg = optarg; break;
        case 'i': interval = parse_num(optarg, "--interval", 0, 3600000); break;
        case 'n': count = parse_num(optarg, "--count", 1, 100000000); break;
        case 's': stats = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    pid_t pid = 0;
    if (core) {
        if (!exe || optind != argc) {
            fprintf(stderr, "%s: --core needs --exe PROGRAM and no PID\n", prog_name);
            return 2;
        }
        if (interval >= 0 || count >= 0)
            die("--interval/--count need a live process");
    } else {
        if (optind + 1 != argc || exe) {
            usage(stderr);
            return 2;
        }
        pid = (pid_t)parse_num(argv[optind], "pid", 1, INT32_MAX);
    }
    if ((interval >= 0) != (count >= 0))
        die("--interval and --count go together");
    FILE *svg_out = NULL;
    if (svg) {
        if (!*svg)
            die("--svg needs a file name");
        if (strcmp(svg, "-") == 0) {
            if (mode_set) {
                fprintf(stderr, "%s: --svg - (stdout) and --group/--folded/--json cannot share stdout\n", prog_name);
                return 2;
            }
            svg_out = stdout;
        } else {
            struct stat st;
            if (stat(svg, &st) == 0 && !S_ISREG(st.st_mode))
                die("--svg %s: not a regular file", svg);
            svg_out = fopen(svg, "w"); /* before stopping anything */
            if (!svg_out)
                die("--svg %s: %s", svg, strerror(errno));
            svg_partial = svg;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    elf_version(EV_CURRENT);

    struct ctx *c = xcalloc(1, sizeof *c);
    the_ctx = c;
    if (core) {
        uint64_t t0 = mono_ns(CLOCK_MONOTONIC);
        open_core(c, core, exe);
        uint64_t t1 = mono_ns(CLOCK_MONOTONIC);
        load_table(c, core);
        collect_code(c);
        uint64_t t2 = mono_ns(CLOCK_MONOTONIC);
        walk_registry(c);
        assign_threads(c);
        if (getenv("COROLINK_STACKS_PHASES"))
            fprintf(stderr, "phases: open %.3f table %.3f walk %.3f ms\n", (t1 - t0) / 1e6, (t2 - t1) / 1e6,
                    (mono_ns(CLOCK_MONOTONIC) - t2) / 1e6);
    } else {
        open_live(c, pid);
        char what[64];
        snprintf(what, sizeof what, "process %d", (int)pid);
        load_table(c, what);
        collect_code(c);
        if (count < 0) {
            snapshot_live(c);
            if (stats)
                fprintf(stderr, "%s: stopped for %.3f ms (%zu coroutines, %zu threads, %" PRIu64 " registry slots, %.1f KiB copied)\n",
                        prog_name, c->stop_ms, c->nco, c->nth, c->slots, (double)c->mem.snap_bytes / 1024);
        }
    }

    if (count > 0) {
        /* sampling: folded stacks of all coroutines, weighted by samples */
        struct line_count *v = NULL;
        size_t nv = 0, cv = 0;
        double *stops = xcalloc((size_t)count, sizeof *stops);
        struct flame fg;
        flame_init(&fg);
        size_t total_co = 0;
        uint64_t next = mono_ns(CLOCK_MONOTONIC);
        for (long s = 0; s < count; s++) {
            if (s > 0) {
                next += (uint64_t)interval * 1000000u;
                uint64_t now = mono_ns(CLOCK_MONOTONIC);
                if (next > now) {
                    struct timespec ts = {(time_t)((next - now) / 1000000000u), (long)((next - now) % 1000000000u)};
                    nanosleep(&ts, NULL);
                }
            }
            if (kill(pid, 0) != 0)
                die("process %d is gone after %ld samples", (int)pid, s);
            free_snapshot(c);
            snap_clear(&c->mem);
            snapshot_live(c);
            stops[s] = c->stop_ms;
            unwind_all(c);
            total_co += c->nco;
            if (svg_out)
                flame_add_snapshot(c, &fg);
            add_folded(c, &v, &nv, &cv);
            if (nv > 4 * (size_t)c->nco + 4096) /* keep memory bounded */
                nv = merge_lines(v, nv);
        }
        if (svg_out) {
            char title[160], sub[200];
            snprintf(title, sizeof title, "corolink-stacks: process %d, %ld snapshots %ld ms apart", (int)pid, count,
                     interval);
            snprintf(sub, sizeof sub, "wall time: %zu coroutine stacks, each coroutine once per snapshot", total_co);
            flame_finish(&fg, svg_out, svg, title, sub);
        }
        if (!svg_out || mode == O_FOLDED)
            output_folded_lines(stdout, v, nv);
        else
            for (size_t i = 0; i < nv; i++)
                free(v[i].line);
        double sum = 0, mx = 0;
        for (long s = 0; s < count; s++) {
            sum += stops[s];
            if (stops[s] > mx)
                mx = stops[s];
        }
        fprintf(stderr, "%s: %ld samples, %zu coroutine stacks; stop time per sample: mean %.3f ms, max %.3f ms\n",
                prog_name, count, total_co, sum / (double)count, mx);
        free(stops);
        free(v);
        return 0;
    }

    uint64_t tu0 = mono_ns(CLOCK_MONOTONIC);
    unwind_all(c);
    uint64_t tu1 = mono_ns(CLOCK_MONOTONIC);
    if (svg_out) {
        struct flame fg;
        flame_init(&fg);
        flame_add_snapshot(c, &fg);
        if (!mode_set)
            damaged_to_stderr(c);
        char title[160], sub[200];
        if (c->live)
            snprintf(title, sizeof title, "corolink-stacks: process %d", (int)c->pid);
        else
            snprintf(title, sizeof title, "corolink-stacks: core of process %d", (int)c->pid);
        snprintf(sub, sizeof sub, "one snapshot: %zu coroutine stacks", c->nco);
        flame_finish(&fg, svg_out, svg, title, sub);
    }
    switch (svg_out && !mode_set ? -1 : (int)mode) {
    case O_TEXT: output_text(c, stdout); break;
    case O_GROUP: output_group(c, stdout); break;
    case O_FOLDED: output_folded(c, stdout); break;
    case O_JSON: output_json(c, stdout); break;
    default: break;
    }
    if (fflush(stdout) != 0 && errno != EPIPE)
        die("writing the output: %s", strerror(errno));
    if (getenv("COROLINK_STACKS_PHASES"))
    {
        fprintf(stderr, "phases: unwind %.3f output %.3f ms\n", (tu1 - tu0) / 1e6,
                (mono_ns(CLOCK_MONOTONIC) - tu1) / 1e6);
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "VmHWM", 5) == 0 || strncmp(line, "Rss", 3) == 0)
                fputs(line, stderr);
        if (f)
            fclose(f);
    }
    return 0;
}
