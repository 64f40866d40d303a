/*
 * check_cfi.c - check-cfi: proves that the DWARF CFI of a program is right at
 * every instruction of a window, by single-stepping it under ptrace and
 * unwinding it with libdw (libdwfl) at every stop.
 *
 * Usage: check-cfi [options] TARGET [ARGS...]
 *   -v                        print the backtrace at every stop
 *   --max-report=N            print details of the first N failures (8)
 *   --max-steps=N             give up after N instructions (200000)
 *   --expect-fail-under=SYM   negative control: succeed only if some stops
 *                             fail, and every failing stop has SYM on its
 *                             (ground-truth) call chain
 *   --cover=FN[,FN...]        also require every instruction of these
 *                             functions (objdump's list, int3 excluded) to
 *                             have been stepped
 *
 * The target must export two noinline functions, cfi_window_begin() and
 * cfi_window_end(), and call them (once each) around the code to check. The
 * checker:
 *
 *  1. forks and execs TARGET under PTRACE_TRACEME with LD_BIND_NOW=1 (lazy
 *     PLT binding would otherwise step through ld.so), puts a breakpoint on
 *     cfi_window_begin and lets it run;
 *  2. at the breakpoint reports the modules once (dwfl_linux_proc_report)
 *     and attaches libdw to the already ptrace-stopped process
 *     (dwfl_linux_proc_attach(..., assume_ptrace_stopped = true): libdw then
 *     reads registers and memory of the stopped thread without trying to
 *     PTRACE_ATTACH it itself);
 *  3. single-steps (PTRACE_SINGLESTEP) every instruction until the thread
 *     enters cfi_window_end, and at every stop walks the stack with
 *     dwfl_getthread_frames (a fresh walk each time), symbolizes every frame
 *     (pc for activations, pc - 1 for return addresses, as dwfl_frame_pc's
 *     isactivation says) and checks it.
 *
 * The ground truth. Besides libdw's answer the checker keeps its own model
 * of the call chain, built from what the single-stepped instructions did,
 * never from unwind information:
 *   - a `call` pushes a record {slot = new rsp, return address = [new rsp]};
 *   - a `ret` pops the top record (its slot must be the old rsp, and the new
 *     pc its return address, or the model stops with an error);
 *   - any other instruction after which the pc is the top record's return
 *     address and rsp is just above its slot is a return made with a jump
 *     (the out-of-line switch): it pops the record too;
 *   - an instruction that moves rsp by more than 64 KiB is a stack switch:
 *       * if the new rsp is the slot of a pending record, or just above it
 *         (a suspend, or the trampoline's return into the resumer), the
 *         records above it belong to the stack being left: they are parked
 *         under the old rsp;
 *       * if the new rsp is where records were parked (the resume point
 *         going back to the body's stack), they are pushed back on top;
 *       * otherwise (the trampoline's first switch, corolink__call_on) the
 *         chain is unchanged: the frame that switched is still a callee of
 *         its caller.
 * The expected backtrace at a stop is then: the pc, and the return address
 * of every pending record from the top down to main's (each frame's rsp:
 * slot + 8; its rbp: the caller's rbp when it made the call). This is the
 * backtrace corolink's design promises (inside the switch, "the resumer's
 * callee"; inside a body, body -> corolink__trampoline -> resumer).
 *
 * A stop passes when all of these hold:
 *   main        the walk reaches `main`;
 *   symbol      every frame up to main has a symbol (a PLT stub counts,
 *               named after its section);
 *   cfi         every frame below main was unwound through an FDE (libdw
 *               falls back to a frame-pointer heuristic where there is none,
 *               which would hide missing CFI);
 *   resumers    the live functions named resumer_* appear, in order, before
 *               main (the requirement stated in terms of names);
 *   exact-pc    the frames' pcs are exactly the expected ones, up to main;
 *   exact-sp/rbp
 *               each frame's rsp (its callee's CFA) and rbp are exactly the
 *               expected ones: the rsp the caller will have after the
 *               return (slot + 8) and the rbp it had at the call (rbp is
 *               callee-saved, and the switch protocol preserves it). A CFA
 *               or rbp rule that is wrong but happens not to change the pcs
 *               (an rbp-based caller does not need the right rsp) fails here.
 *
 * Exit status: 0 all stops pass (or, with --expect-fail-under, the expected
 * failures and only those happened) and the target exited 0; 1 otherwise;
 * 2 for usage or set-up errors; 77 if ptrace is not allowed (ctest skips).
 */
#define _GNU_SOURCE

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <gelf.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAMES 64
#define MAX_RECS 256
#define MAX_STASH 32
#define SWITCH_DISTANCE ((uint64_t)64 * 1024)
#define EXIT_SKIP 77 /* ctest SKIP_RETURN_CODE: no ptrace here */
#define DWARF_RBP 6
#define DWARF_RSP 7

/* ------------------------------------------------------------------------ */
/* small helpers                                                            */
/* ------------------------------------------------------------------------ */

static const char *target_path;
static pid_t child;

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("check-cfi: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (child > 0)
        kill(child, SIGKILL);
    exit(2);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool read_mem(uint64_t addr, void *buf, size_t len) {
    struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
    return process_vm_readv(child, &local, 1, &remote, 1, 0) == (ssize_t)len;
}

static bool read_word(uint64_t addr, uint64_t *out) {
    return read_mem(addr, out, sizeof *out);
}

static void get_regs(struct user_regs_struct *r) {
    if (ptrace(PTRACE_GETREGS, child, NULL, r) != 0)
        die("PTRACE_GETREGS: %s", strerror(errno));
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

/* ------------------------------------------------------------------------ */
/* libdwfl: modules, symbols                                                */
/* ------------------------------------------------------------------------ */

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

/* A defined symbol with a given name, looked up in every module. */
struct sym_search {
    const char *name;
    uint64_t addr, size;
    unsigned char type; /* of the symbol found */
    Dwfl_Module *mod;   /* NULL: not found */
};

static int find_sym_cb(Dwfl_Module *mod, void **ud, const char *mname,
                       Dwarf_Addr base, void *arg) {
    (void)ud;
    (void)mname;
    (void)base;
    struct sym_search *s = arg;
    int n = dwfl_module_getsymtab(mod);
    for (int i = 0; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        const char *name =
            dwfl_module_getsym_info(mod, i, &sym, &addr, NULL, NULL, NULL);
        if (name != NULL && sym.st_shndx != SHN_UNDEF &&
            strcmp(name, s->name) == 0) {
            s->addr = addr;
            s->size = sym.st_size;
            s->type = GELF_ST_TYPE(sym.st_info);
            s->mod = mod;
            return DWARF_CB_ABORT;
        }
    }
    return DWARF_CB_OK;
}

static struct sym_search find_symbol(Dwfl *dwfl, const char *name) {
    struct sym_search s = {.name = name};
    dwfl_getmodules(dwfl, find_sym_cb, &s, 0);
    return s;
}

static uint64_t find_function(Dwfl *dwfl, const char *name) {
    struct sym_search s = find_symbol(dwfl, name);
    return s.mod != NULL && s.type == STT_FUNC ? s.addr : 0;
}

/* A symbol for addr: function name (+offset), or the section's name in
 * angle brackets for code without symbols (PLT stubs), or NULL. */
struct symbol {
    const char *name; /* NULL: unknown */
    uint64_t offset;
    bool plt;
    Dwfl_Module *mod;
};

/* Names made up here (for PLT stubs) live as long as the symbol tables. */
static const char *intern(const char *name) {
    static char *names[16];
    static int nnames;
    for (int i = 0; i < nnames; i++)
        if (strcmp(names[i], name) == 0)
            return names[i];
    if (nnames == 16)
        return "<plt>";
    names[nnames] = strdup(name);
    if (names[nnames] == NULL)
        die("out of memory");
    return names[nnames++];
}

static struct symbol symbolize(Dwfl *dwfl, uint64_t addr) {
    struct symbol s = {NULL, 0, false, NULL};
    Dwfl_Module *mod = dwfl_addrmodule(dwfl, addr);
    if (mod == NULL)
        return s;
    s.mod = mod;
    GElf_Off off = 0;
    GElf_Sym sym;
    const char *name =
        dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
    if (name != NULL) {
        s.name = name;
        s.offset = off;
        return s;
    }
    Dwarf_Addr a = addr, bias = 0;
    Elf_Scn *scn = dwfl_module_address_section(mod, &a, &bias);
    if (scn != NULL) {
        Elf *elf = dwfl_module_getelf(mod, &bias);
        size_t shstrndx;
        GElf_Shdr shdr;
        if (elf != NULL && elf_getshdrstrndx(elf, &shstrndx) == 0 &&
            gelf_getshdr(scn, &shdr) != NULL) {
            const char *sname = elf_strptr(elf, shstrndx, shdr.sh_name);
            if (sname != NULL && strncmp(sname, ".plt", 4) == 0) {
                char b[64];
                snprintf(b, sizeof b, "<%s>", sname);
                s.name = intern(b);
                s.offset = a;
                s.plt = true;
            }
        }
    }
    return s;
}

static const char *module_name(Dwfl_Module *mod) {
    if (mod == NULL)
        return "?";
    const char *n = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL,
                                     NULL);
    if (n == NULL)
        return "?";
    const char *slash = strrchr(n, '/');
    return slash ? slash + 1 : n;
}

static void format_symbol(char *buf, size_t len, Dwfl *dwfl, uint64_t addr) {
    struct symbol s = symbolize(dwfl, addr);
    if (s.name == NULL)
        snprintf(buf, len, "?? (%s)", module_name(s.mod));
    else
        snprintf(buf, len, "%s+0x%" PRIx64 " (%s)", s.name, s.offset,
                 module_name(s.mod));
}

/* Looks up the FDE that covers addr; *signal set from its CIE. */
static bool has_fde(Dwfl_Module *mod, uint64_t addr, bool *signal) {
    Dwarf_Addr bias;
    Dwarf_CFI *cfis[2] = {dwfl_module_eh_cfi(mod, &bias), NULL};
    Dwarf_Addr biases[2] = {bias, 0};
    cfis[1] = dwfl_module_dwarf_cfi(mod, &biases[1]);
    for (int i = 0; i < 2; i++) {
        Dwarf_Frame *frame;
        if (cfis[i] == NULL ||
            dwarf_cfi_addrframe(cfis[i], addr - biases[i], &frame) != 0)
            continue;
        bool sig = false;
        dwarf_frame_info(frame, NULL, NULL, &sig);
        free(frame);
        *signal = sig;
        return true;
    }
    *signal = false;
    return false;
}

/* One instruction's disassembly through objdump (failures only). */
static void disassemble(Dwfl *dwfl, uint64_t addr, char *out, size_t len) {
    out[0] = '\0';
    Dwfl_Module *mod = dwfl_addrmodule(dwfl, addr);
    if (mod == NULL)
        return;
    Dwarf_Addr bias;
    if (dwfl_module_getelf(mod, &bias) == NULL)
        return;
    const char *file = NULL;
    dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, &file, NULL);
    if (file == NULL)
        return;
    char cmd[1024];
    uint64_t a = addr - bias;
    snprintf(cmd, sizeof cmd,
             "objdump -d --no-show-raw-insn --start-address=0x%" PRIx64
             " --stop-address=0x%" PRIx64 " '%s' 2>/dev/null",
             a, a + 16, file);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, p) != NULL) {
        char *tab = strchr(line, '\t');
        if (tab != NULL && strchr(line, ':') != NULL && strchr(line, ':') < tab) {
            tab++;
            tab[strcspn(tab, "\n")] = '\0';
            for (char *c = tab; *c; c++)
                if (*c == '\t')
                    *c = ' ';
            snprintf(out, len, "%s", tab);
            break; /* the first instruction is the one at addr */
        }
    }
    while (fgets(line, sizeof line, p) != NULL)
        ;
    pclose(p);
}

/* ------------------------------------------------------------------------ */
/* the unwind                                                               */
/* ------------------------------------------------------------------------ */

struct frame {
    uint64_t pc;
    bool activation;
    uint64_t sp, fp;
    bool sp_known, fp_known;
    struct symbol sym; /* looked up at pc (activation) or pc - 1 */
};

struct walk {
    Dwfl *dwfl;
    struct frame f[MAX_FRAMES];
    int n;
    int main_idx; /* index of the frame in main, -1 if not reached */
    char error[160];
};

static int frame_cb(Dwfl_Frame *state, void *arg) {
    struct walk *w = arg;
    if (w->n >= MAX_FRAMES)
        return DWARF_CB_ABORT;
    struct frame *f = &w->f[w->n];
    memset(f, 0, sizeof *f);
    Dwarf_Addr pc;
    bool act = false;
    if (!dwfl_frame_pc(state, &pc, &act)) {
        snprintf(w->error, sizeof w->error, "dwfl_frame_pc: %s",
                 dwfl_errmsg(-1));
        return DWARF_CB_ABORT;
    }
    f->pc = pc;
    f->activation = act;
    Dwarf_Word sp;
    f->sp_known = dwfl_frame_reg(state, DWARF_RSP, &sp) == 0;
    f->sp = f->sp_known ? sp : 0;
    Dwarf_Word fp;
    f->fp_known = dwfl_frame_reg(state, DWARF_RBP, &fp) == 0;
    f->fp = f->fp_known ? fp : 0;
    f->sym = symbolize(w->dwfl, act ? pc : pc - 1);
    w->n++;
    if (f->sym.name != NULL && strcmp(f->sym.name, "main") == 0) {
        w->main_idx = w->n - 1;
        return DWARF_CB_ABORT; /* nothing below main is checked */
    }
    return DWARF_CB_OK;
}

static void unwind(Dwfl *dwfl, struct walk *w) {
    w->dwfl = dwfl;
    w->n = 0;
    w->main_idx = -1;
    w->error[0] = '\0';
    int r = dwfl_getthread_frames(dwfl, child, frame_cb, w);
    if (r == -1 && w->main_idx < 0 && w->error[0] == '\0')
        snprintf(w->error, sizeof w->error, "%s", dwfl_errmsg(-1));
}

/* ------------------------------------------------------------------------ */
/* the ground-truth model                                                   */
/* ------------------------------------------------------------------------ */

struct rec {
    uint64_t slot; /* where the return address lives */
    uint64_t ra;
    uint64_t rbp;  /* the caller's rbp at the call (callee-saved) */
};

struct stash {
    uint64_t rsp; /* rsp of the stack when it was left */
    int n;
    struct rec recs[MAX_RECS];
};

static struct rec chain[MAX_RECS]; /* [0] = main's record */
static int nchain;
static struct stash stashes[MAX_STASH];
static int nstashes;
static unsigned long switches;

enum insn_kind { INSN_OTHER, INSN_CALL, INSN_RET };

static enum insn_kind decode(const uint8_t *b) {
    int i = 0;
    while (i < 14 && (b[i] == 0x26 || b[i] == 0x2e || b[i] == 0x36 ||
                      b[i] == 0x3e || b[i] == 0x64 || b[i] == 0x65 ||
                      b[i] == 0x66 || b[i] == 0x67 || b[i] == 0xf2 ||
                      b[i] == 0xf3))
        i++;
    if ((b[i] & 0xf0) == 0x40) /* REX */
        i++;
    switch (b[i]) {
    case 0xe8:
        return INSN_CALL;
    case 0xff:
        return ((b[i + 1] >> 3) & 7) == 2 ? INSN_CALL : INSN_OTHER;
    case 0xc3:
    case 0xc2:
        return INSN_RET;
    default:
        return INSN_OTHER;
    }
}

static __attribute__((noreturn)) void model_error(const char *what,
                                                  uint64_t pc) {
    die("ground-truth model lost track at 0x%" PRIx64 ": %s (the checker "
        "does not understand this control flow)", pc, what);
}

static void model_update(enum insn_kind kind, const struct user_regs_struct *old,
                         const struct user_regs_struct *now) {
    if (kind == INSN_CALL) {
        uint64_t ra;
        if (now->rsp != old->rsp - 8 || !read_word(now->rsp, &ra))
            model_error("call without a pushed return address", old->rip);
        if (nchain == MAX_RECS)
            model_error("call chain too deep", old->rip);
        chain[nchain++] = (struct rec){now->rsp, ra, old->rbp};
        return;
    }
    if (kind == INSN_RET) {
        if (nchain == 0 || chain[nchain - 1].slot != old->rsp ||
            chain[nchain - 1].ra != now->rip)
            model_error("ret that does not pop the innermost record", old->rip);
        nchain--;
        return;
    }
    /* A return made with a jump (the out-of-line switch returns with
     * `jmp`, keeping the return-stack predictor balanced): the pc lands on
     * the innermost record's return address with rsp just above its slot. */
    if (nchain > 0 && now->rip == chain[nchain - 1].ra &&
        now->rsp == chain[nchain - 1].slot + 8) {
        nchain--;
        return;
    }
    uint64_t d = now->rsp > old->rsp ? now->rsp - old->rsp : old->rsp - now->rsp;
    if (d < SWITCH_DISTANCE)
        return;
    switches++;
    for (int s = 0; s < nstashes; s++) {
        if (stashes[s].rsp == now->rsp) { /* back onto a parked stack */
            if (nchain + stashes[s].n > MAX_RECS)
                model_error("call chain too deep", old->rip);
            memcpy(&chain[nchain], stashes[s].recs,
                   (size_t)stashes[s].n * sizeof(struct rec));
            nchain += stashes[s].n;
            stashes[s] = stashes[--nstashes];
            return;
        }
    }
    for (int i = nchain - 1; i >= 0; i--) {
        /* Onto a pending return address (inline suspend: rsp = the slot, to
         * `ret`), or just above one (out-of-line suspend: rsp = the slot + 8,
         * to jump to the return address). */
        if (chain[i].slot == now->rsp || chain[i].slot + 8 == now->rsp) {
            int above = nchain - 1 - i;
            if (above > 0) {
                if (nstashes == MAX_STASH)
                    model_error("too many parked stacks", old->rip);
                struct stash *st = &stashes[nstashes++];
                st->rsp = old->rsp;
                st->n = above;
                memcpy(st->recs, &chain[i + 1],
                       (size_t)above * sizeof(struct rec));
                nchain = i + 1;
            }
            return;
        }
    }
    /* A fresh stack: the switching frame stays its caller's callee. */
}

/* ------------------------------------------------------------------------ */
/* checking one stop                                                        */
/* ------------------------------------------------------------------------ */

enum {
    F_MAIN = 1 << 0,
    F_SYMBOL = 1 << 1,
    F_CFI = 1 << 2,
    F_RESUMERS = 1 << 3,
    F_EXACT = 1 << 4,
    F_REGS = 1 << 5,
};
#define NKINDS 6

static const char *const failure_names[NKINDS] = {
    "main", "symbol", "cfi", "resumers", "exact-pc", "exact-sp/rbp"};

static bool is_resumer(const char *name) {
    return name != NULL && strncmp(name, "resumer_", 8) == 0;
}

struct expected {
    uint64_t pc[MAX_RECS + 1];
    uint64_t sp[MAX_RECS + 1];
    uint64_t fp[MAX_RECS + 1];
    const char *name[MAX_RECS + 1];
    int n;
};

/* The expected frames: the pc, then per pending record its return
 * address, the caller's rsp after the return (slot + 8) and the caller's rbp
 * at the call. */
static void expected_chain(Dwfl *dwfl, const struct user_regs_struct *r,
                           struct expected *e) {
    e->n = 0;
    e->pc[e->n] = r->rip;
    e->sp[e->n] = r->rsp;
    e->fp[e->n] = r->rbp;
    e->name[e->n++] = symbolize(dwfl, r->rip).name;
    for (int i = nchain - 1; i >= 0; i--) {
        e->pc[e->n] = chain[i].ra;
        e->sp[e->n] = chain[i].slot + 8;
        e->fp[e->n] = chain[i].rbp;
        e->name[e->n++] = symbolize(dwfl, chain[i].ra - 1).name;
    }
}

static unsigned check_stop(const struct walk *w, const struct expected *e,
                           char *why, size_t whylen) {
    unsigned fail = 0;
    why[0] = '\0';
    size_t used = 0;
#define WHY(...)                                                               \
    do {                                                                       \
        if (used < whylen)                                                     \
            used += (size_t)snprintf(why + used, whylen - used, __VA_ARGS__);  \
    } while (0)

    int last = w->main_idx >= 0 ? w->main_idx : w->n - 1;
    if (w->main_idx < 0) {
        fail |= F_MAIN;
        WHY("; main not reached (%d frames%s%s)", w->n,
            w->error[0] ? ": " : "", w->error);
    }
    for (int i = 0; i <= last; i++) {
        if (w->f[i].sym.name == NULL) {
            fail |= F_SYMBOL;
            WHY("; frame #%d unsymbolizable", i);
            break;
        }
    }
    /* Frames 0 .. main-1 were unwound to find their callers: each needs an
     * FDE at the address libdw looks up (pc for the innermost frame and the
     * caller of a signal frame, else pc - 1). */
    bool callee_signal = false;
    for (int i = 0; i < last; i++) {
        uint64_t upc = (i == 0 || callee_signal) ? w->f[i].pc : w->f[i].pc - 1;
        Dwfl_Module *mod = dwfl_addrmodule(w->dwfl, upc);
        bool sig = false;
        if (mod == NULL || !has_fde(mod, upc, &sig)) {
            fail |= F_CFI;
            WHY("; frame #%d (pc 0x%" PRIx64 ") has no FDE", i, w->f[i].pc);
            break;
        }
        callee_signal = sig;
    }
    /* resumer_* functions live at this instruction, then main, in order. */
    {
        int at = 0;
        for (int k = 0; k < e->n; k++) {
            const char *want = e->name[k];
            if (!is_resumer(want) && !(k == e->n - 1))
                continue;
            int j = at;
            while (j <= last &&
                   !(w->f[j].sym.name && want && strcmp(w->f[j].sym.name, want) == 0))
                j++;
            if (j > last) {
                fail |= F_RESUMERS;
                WHY("; expected %s not found in order", want ? want : "??");
                break;
            }
            at = j + 1;
        }
    }
    /* Exact: the frames up to main are the ground truth's. */
    {
        int n = w->main_idx >= 0 ? w->main_idx + 1 : w->n;
        int mismatch = -1;
        for (int i = 0; i < n && i < e->n; i++)
            if (w->f[i].pc != e->pc[i]) {
                mismatch = i;
                break;
            }
        if (mismatch < 0 && n != e->n)
            mismatch = n < e->n ? n : e->n;
        if (mismatch >= 0) {
            fail |= F_EXACT;
            WHY("; frame #%d differs from the ground truth", mismatch);
        }
        /* The registers the design promises for every frame: rsp (the
         * CFA of its callee) and rbp. */
        for (int i = 0; i < n && i < e->n; i++) {
            if (!w->f[i].sp_known || w->f[i].sp != e->sp[i]) {
                fail |= F_REGS;
                WHY("; frame #%d rsp %s", i,
                    w->f[i].sp_known ? "differs from the ground truth"
                                     : "unknown");
                break;
            }
            if (!w->f[i].fp_known || w->f[i].fp != e->fp[i]) {
                fail |= F_REGS;
                WHY("; frame #%d rbp %s", i,
                    w->f[i].fp_known ? "differs from the ground truth"
                                     : "unknown");
                break;
            }
        }
    }
#undef WHY
    return fail;
}

static void print_frames(FILE *out, const char *title, Dwfl *dwfl,
                         const struct walk *w) {
    fprintf(out, "    %s (%d frames%s%s):\n", title, w->n,
            w->error[0] ? ", walk ended: " : "", w->error);
    for (int i = 0; i < w->n; i++) {
        char sym[256];
        format_symbol(sym, sizeof sym, dwfl,
                      w->f[i].activation ? w->f[i].pc : w->f[i].pc - 1);
        char sp[24] = "?", fp[24] = "?";
        if (w->f[i].sp_known)
            snprintf(sp, sizeof sp, "0x%" PRIx64, w->f[i].sp);
        if (w->f[i].fp_known)
            snprintf(fp, sizeof fp, "0x%" PRIx64, w->f[i].fp);
        fprintf(out, "      #%-2d pc=0x%012" PRIx64 "%s sp=%-14s rbp=%-14s %s\n",
                i, w->f[i].pc, w->f[i].activation ? " " : "r", sp, fp, sym);
    }
}

static void print_expected(FILE *out, Dwfl *dwfl, const struct expected *e) {
    fprintf(out, "    expected (ground truth, %d frames):\n", e->n);
    for (int i = 0; i < e->n; i++) {
        char sym[256];
        format_symbol(sym, sizeof sym, dwfl, i == 0 ? e->pc[i] : e->pc[i] - 1);
        fprintf(out, "      #%-2d pc=0x%012" PRIx64 "  sp=0x%-12" PRIx64
                " rbp=0x%-12" PRIx64 " %s\n", i, e->pc[i], e->sp[i], e->fp[i], sym);
    }
}

/* ------------------------------------------------------------------------ */
/* per-function statistics                                                  */
/* ------------------------------------------------------------------------ */

struct fnstat {
    char *name;
    char *module;
    unsigned long steps, failed;
    uint64_t *addrs; /* distinct instruction addresses stepped */
    size_t naddrs, cap;
};

static struct fnstat fnstats[256];
static int nfnstats;

static struct fnstat *fnstat_for(const char *name, const char *module) {
    if (name == NULL)
        name = "??";
    for (int i = 0; i < nfnstats; i++)
        if (strcmp(fnstats[i].name, name) == 0)
            return &fnstats[i];
    if (nfnstats == (int)(sizeof fnstats / sizeof fnstats[0]))
        return &fnstats[nfnstats - 1];
    struct fnstat *f = &fnstats[nfnstats++];
    memset(f, 0, sizeof *f);
    f->name = strdup(name);
    f->module = strdup(module);
    if (f->name == NULL || f->module == NULL)
        die("out of memory");
    return f;
}

static void fnstat_add(struct fnstat *f, uint64_t addr) {
    f->steps++;
    for (size_t i = 0; i < f->naddrs; i++)
        if (f->addrs[i] == addr)
            return;
    if (f->naddrs == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->addrs = realloc(f->addrs, f->cap * sizeof *f->addrs);
        if (f->addrs == NULL)
            die("out of memory");
    }
    f->addrs[f->naddrs++] = addr;
}

/* ------------------------------------------------------------------------ */
/* coverage of whole functions (--cover)                                    */
/* ------------------------------------------------------------------------ */

/* Every instruction of function `name` (by objdump, `int3` excluded: it only
 * guards against returns past the end) must have been stepped. Returns
 * false and says which were not. The tail of the function from a label
 * `<name>_eh` on is excluded: only exception handling runs it (a landing
 * pad the unwinder enters, a call that starts a forced unwind), which no
 * window can step through, and its rows are the function's own (restored
 * with .cfi_restore_state or restated). */
static bool check_cover(Dwfl *dwfl, const char *name) {
    struct sym_search c = find_symbol(dwfl, name);
    if (c.mod == NULL || c.size == 0) {
        printf("coverage %s: no such function\n", name);
        return false;
    }
    Dwarf_Addr bias;
    const char *file = NULL;
    if (dwfl_module_getelf(c.mod, &bias) == NULL ||
        dwfl_module_info(c.mod, NULL, NULL, NULL, NULL, NULL, &file, NULL) ==
            NULL ||
        file == NULL) {
        printf("coverage %s: no ELF file\n", name);
        return false;
    }
    struct fnstat *fs = NULL;
    for (int i = 0; i < nfnstats; i++)
        if (strcmp(fnstats[i].name, name) == 0)
            fs = &fnstats[i];
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "objdump -d --no-show-raw-insn --start-address=0x%" PRIx64
             " --stop-address=0x%" PRIx64 " '%s' 2>/dev/null",
             c.addr - bias, c.addr - bias + c.size, file);
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        printf("coverage %s: cannot run objdump\n", name);
        return false;
    }
    unsigned total = 0, covered = 0, landing = 0;
    char line[512], missing[512] = "", pad_label[300];
    snprintf(pad_label, sizeof pad_label, "<%s_eh>:", name);
    size_t mlen = 0;
    bool in_pad = false;
    while (fgets(line, sizeof line, p) != NULL) {
        if (strstr(line, pad_label) != NULL)
            in_pad = true;
        char *tab = strchr(line, '\t');
        char *end;
        unsigned long long a = strtoull(line, &end, 16);
        if (tab == NULL || end == line || *end != ':' || end > tab)
            continue;
        if (strncmp(tab + 1, "int3", 4) == 0)
            continue;
        if (in_pad) {
            landing++;
            continue;
        }
        total++;
        uint64_t addr = (uint64_t)a + bias;
        bool hit = false;
        for (size_t i = 0; fs != NULL && i < fs->naddrs && !hit; i++)
            hit = fs->addrs[i] == addr;
        if (hit)
            covered++;
        else if (mlen < sizeof missing - 24)
            mlen += (size_t)snprintf(missing + mlen, sizeof missing - mlen,
                                     " +0x%" PRIx64, addr - c.addr);
    }
    pclose(p);
    bool ok = total > 0 && covered == total;
    printf("coverage %s: %u of %u instructions stepped%s%s", name, covered,
           total, ok ? "" : "; not stepped:", missing);
    if (landing)
        printf(" (exception-handling tail %s_eh, %u instructions, not "
               "counted)",
               name, landing);
    printf("\n");
    return ok;
}

/* ------------------------------------------------------------------------ */
/* main                                                                     */
/* ------------------------------------------------------------------------ */

static void usage(void) {
    fprintf(stderr,
            "usage: check-cfi [-v] [--max-report=N] [--max-steps=N]\n"
            "                 [--expect-fail-under=SYMBOL] [--cover=FN,FN...]\n"
            "                 TARGET [ARGS...]\n");
    exit(2);
}

int main(int argc, char **argv) {
    bool verbose = false;
    unsigned long max_report = 8, max_steps = 200000;
    const char *expect_fail_under = NULL;
    const char *cover = NULL;
    int argi = 1;
    for (; argi < argc && argv[argi][0] == '-'; argi++) {
        const char *a = argv[argi];
        if (strcmp(a, "-v") == 0)
            verbose = true;
        else if (strncmp(a, "--max-report=", 13) == 0)
            max_report = strtoul(a + 13, NULL, 0);
        else if (strncmp(a, "--max-steps=", 12) == 0)
            max_steps = strtoul(a + 12, NULL, 0);
        else if (strncmp(a, "--expect-fail-under=", 20) == 0)
            expect_fail_under = a + 20;
        else if (strncmp(a, "--cover=", 8) == 0)
            cover = a + 8;
        else if (strcmp(a, "--") == 0) {
            argi++;
            break;
        } else
            usage();
    }
    if (argi >= argc)
        usage();
    target_path = argv[argi];
    setvbuf(stdout, NULL, _IOLBF, 0);
    unsetenv("DEBUGINFOD_URLS"); /* never go to the network for symbols */
    double t_start = now_seconds();

    /* 1. start the target under ptrace */
    child = fork();
    if (child < 0)
        die("fork: %s", strerror(errno));
    if (child == 0) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) {
            perror("check-cfi: PTRACE_TRACEME");
            _exit(EXIT_SKIP);
        }
        setenv("LD_BIND_NOW", "1", 1);
        execv(target_path, &argv[argi]);
        perror(target_path);
        _exit(127);
    }
    int exit_status = 0;
    int sig = wait_stop(&exit_status);
    if (sig < 0 && exit_status == EXIT_SKIP) {
        printf("check-cfi: SKIPPED: this environment does not allow ptrace\n");
        return EXIT_SKIP;
    }
    if (sig != SIGTRAP)
        die("%s did not stop at exec (status %d)", target_path, exit_status);
    ptrace(PTRACE_SETOPTIONS, child, NULL, (void *)(uintptr_t)PTRACE_O_EXITKILL);

    /* 2. breakpoint on cfi_window_begin (in the executable, mapped now) */
    uint64_t begin_addr, end_addr;
    {
        Dwfl *d = report_modules();
        begin_addr = find_function(d, "cfi_window_begin");
        end_addr = find_function(d, "cfi_window_end");
        dwfl_end(d);
    }
    if (begin_addr == 0 || end_addr == 0)
        die("%s exports no cfi_window_begin/cfi_window_end", target_path);
    errno = 0;
    long orig = ptrace(PTRACE_PEEKTEXT, child, (void *)(uintptr_t)begin_addr, NULL);
    if (errno != 0)
        die("PTRACE_PEEKTEXT: %s", strerror(errno));
    long patched = (long)(((unsigned long)orig & ~0xffUL) | 0xccUL);
    if (ptrace(PTRACE_POKETEXT, child, (void *)(uintptr_t)begin_addr,
               (void *)patched) != 0)
        die("PTRACE_POKETEXT: %s", strerror(errno));
    struct user_regs_struct regs;
    int pass_sig = 0;
    for (;;) {
        ptrace(PTRACE_CONT, child, NULL, (void *)(uintptr_t)pass_sig);
        sig = wait_stop(&exit_status);
        if (sig < 0)
            die("%s exited (status %d) before cfi_window_begin", target_path,
                exit_status);
        if (sig == SIGTRAP) {
            get_regs(&regs);
            if (regs.rip == begin_addr + 1)
                break;
            pass_sig = 0;
        } else
            pass_sig = sig;
    }
    ptrace(PTRACE_POKETEXT, child, (void *)(uintptr_t)begin_addr, (void *)orig);
    regs.rip = begin_addr;
    if (ptrace(PTRACE_SETREGS, child, NULL, &regs) != 0)
        die("PTRACE_SETREGS: %s", strerror(errno));

    /* 3. modules once; libdw on the already-stopped thread */
    Dwfl *dwfl = report_modules();
    int ar = dwfl_linux_proc_attach(dwfl, child, true);
    if (ar != 0)
        die("dwfl_linux_proc_attach: %s",
            ar < 0 ? dwfl_errmsg(-1) : strerror(ar));

    printf("check-cfi: %s\n", target_path);
    {
        char b[256], e[256];
        format_symbol(b, sizeof b, dwfl, begin_addr);
        format_symbol(e, sizeof e, dwfl, end_addr);
        printf("window: %s at 0x%" PRIx64 " .. %s at 0x%" PRIx64 "\n", b,
               begin_addr, e, end_addr);
    }

    /* The model starts from the trusted backtrace at cfi_window_begin's
     * first instruction: main's call into it. */
    static struct walk w;
    unwind(dwfl, &w);
    if (w.main_idx != 1)
        die("at cfi_window_begin the backtrace is not cfi_window_begin <- "
            "main (%d frames, main at %d%s%s)", w.n, w.main_idx,
            w.error[0] ? ": " : "", w.error);
    if (!w.f[1].sp_known)
        die("no stack pointer for main's frame");
    chain[0] = (struct rec){w.f[1].sp - 8, w.f[1].pc, regs.rbp};
    nchain = 1;
    {
        uint64_t ra;
        if (!read_word(chain[0].slot, &ra) || ra != chain[0].ra)
            die("main's return address is not where the unwind says");
    }

    /* 4. step */
    double t_window = now_seconds();
    unsigned long steps = 0, failed = 0, reported = 0, max_depth = 0;
    unsigned long fail_kinds[NKINDS] = {0};
    unsigned long failed_outside = 0; /* --expect-fail-under: unexpected */
    static struct expected exp;
    for (;;) {
        get_regs(&regs);
        steps++;
        if (steps > max_steps)
            die("more than %lu instructions in the window", max_steps);
        unwind(dwfl, &w);
        expected_chain(dwfl, &regs, &exp);
        if ((unsigned long)w.n > max_depth)
            max_depth = (unsigned long)w.n;
        char why[512];
        unsigned fail = check_stop(&w, &exp, why, sizeof why);
        struct symbol here = symbolize(dwfl, regs.rip);
        struct fnstat *fs = fnstat_for(here.name, module_name(here.mod));
        fnstat_add(fs, regs.rip);
        if (verbose) {
            char sym[256];
            format_symbol(sym, sizeof sym, dwfl, regs.rip);
            printf("step %lu: 0x%" PRIx64 " %s rsp=0x%llx %s\n", steps,
                   (uint64_t)regs.rip, sym, regs.rsp, fail ? "FAIL" : "ok");
            for (int i = 0; i < w.n; i++) {
                char fsym[256];
                format_symbol(fsym, sizeof fsym, dwfl,
                              w.f[i].activation ? w.f[i].pc : w.f[i].pc - 1);
                printf("    #%-2d 0x%012" PRIx64 " %s\n", i, w.f[i].pc, fsym);
            }
        }
        if (fail) {
            failed++;
            fs->failed++;
            for (int k = 0; k < NKINDS; k++)
                if (fail & (1u << k))
                    fail_kinds[k]++;
            if (expect_fail_under != NULL) {
                bool under = false;
                for (int i = 0; i < exp.n; i++)
                    if (exp.name[i] && strcmp(exp.name[i], expect_fail_under) == 0)
                        under = true;
                if (!under)
                    failed_outside++;
            }
            if (reported < max_report) {
                reported++;
                char sym[256], dis[256];
                uint8_t bytes[16] = {0};
                read_mem(regs.rip, bytes, 8);
                format_symbol(sym, sizeof sym, dwfl, regs.rip);
                disassemble(dwfl, regs.rip, dis, sizeof dis);
                printf("FAIL at instruction %lu: 0x%" PRIx64 " %s  [%s]\n",
                       steps, (uint64_t)regs.rip, sym, dis[0] ? dis : "?");
                printf("    bytes %02x %02x %02x %02x %02x %02x %02x %02x"
                       "  rsp=0x%llx rbp=0x%llx\n",
                       bytes[0], bytes[1], bytes[2], bytes[3], bytes[4],
                       bytes[5], bytes[6], bytes[7], regs.rsp, regs.rbp);
                printf("    why: %s\n", why + 2);
                print_frames(stdout, "libdw unwound", dwfl, &w);
                print_expected(stdout, dwfl, &exp);
            }
        }
        if (regs.rip == end_addr)
            break;

        uint8_t code[16] = {0};
        if (!read_mem(regs.rip, code, sizeof code) && !read_mem(regs.rip, code, 4))
            die("cannot read the instruction at 0x%llx", regs.rip);
        enum insn_kind kind = decode(code);
        struct user_regs_struct old = regs;
        if (ptrace(PTRACE_SINGLESTEP, child, NULL, NULL) != 0)
            die("PTRACE_SINGLESTEP: %s", strerror(errno));
        sig = wait_stop(&exit_status);
        if (sig < 0)
            die("target exited (status %d) inside the window", exit_status);
        if (sig != SIGTRAP) {
            /* The target itself broke (not an unwind failure): say where. */
            char sym[256];
            format_symbol(sym, sizeof sym, dwfl, old.rip);
            printf("target got signal %d (%s) at instruction %lu, 0x%llx %s "
                   "(rsp=0x%llx rbp=0x%llx); that is a bug in the program, "
                   "not in its CFI\n",
                   sig, strsignal(sig), steps, old.rip, sym, old.rsp,
                   old.rbp);
            unwind(dwfl, &w);
            print_frames(stdout, "backtrace", dwfl, &w);
            die("target crashed inside the window");
        }
        get_regs(&regs);
        model_update(kind, &old, &regs);
    }
    t_window = now_seconds() - t_window;

    /* 5. let the target finish */
    pass_sig = 0;
    for (;;) {
        ptrace(PTRACE_CONT, child, NULL, (void *)(uintptr_t)pass_sig);
        sig = wait_stop(&exit_status);
        if (sig < 0)
            break;
        pass_sig = sig == SIGTRAP ? 0 : sig;
    }

    /* 6. summary */
    printf("per function, in order of first entry:\n"
           "   steps distinct failing  function (module)\n");
    for (int i = 0; i < nfnstats; i++)
        printf("  %6lu %8zu %7lu  %s (%s)\n", fnstats[i].steps,
               fnstats[i].naddrs, fnstats[i].failed, fnstats[i].name,
               fnstats[i].module);
    printf("stepped %lu instructions, checked %lu stops (%lu stack switches, "
           "up to %lu frames deep) in %.2f s (whole run %.2f s)\n",
           steps, steps, switches, max_depth, t_window,
           now_seconds() - t_start);
    if (failed) {
        printf("failing stops by check:");
        for (int k = 0; k < NKINDS; k++)
            if (fail_kinds[k])
                printf(" %s=%lu", failure_names[k], fail_kinds[k]);
        printf("\n");
    }
    printf("target exit status: %d\n", exit_status);

    bool covered = true;
    if (cover != NULL) {
        char *list = strdup(cover);
        if (list == NULL)
            die("out of memory");
        for (char *save = NULL, *fn = strtok_r(list, ",", &save); fn != NULL;
             fn = strtok_r(NULL, ",", &save))
            covered &= check_cover(dwfl, fn);
        free(list);
    }
    dwfl_end(dwfl); /* the names printed above live in its ELF data */

    int rc;
    if (expect_fail_under != NULL) {
        bool ok = failed > 0 && failed_outside == 0 && exit_status == 0;
        printf("negative control: %lu of %lu stops failed, %lu of them "
               "outside %s: %s\n",
               failed, steps, failed_outside, expect_fail_under,
               ok ? "PASS (the checker catches the bad switch, and only it)"
                  : "FAIL");
        rc = ok ? 0 : 1;
    } else if (failed == 0 && exit_status == 0 && covered) {
        printf("PASS: all %lu instructions unwind to main through the "
               "expected frames\n", steps);
        rc = 0;
    } else {
        printf("FAIL: %lu of %lu instructions unwind wrongly%s%s\n", failed,
               steps, exit_status ? " (and the target failed)" : "",
               covered ? "" : " (and the window misses instructions of --cover)");
        rc = 1;
    }
    return rc;
}
