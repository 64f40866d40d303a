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
 *                             functions (objdump's list, the trap after a
 *                             final return excluded) to have been stepped
 *   --stub=CMD[,ARG...]       step through a gdb stub instead of ptrace:
 *                             run `CMD ARG... -g SOCKET TARGET ARGS...`
 *                             (qemu-user: --stub=qemu-aarch64,-cpu,max,-L,
 *                             /usr/aarch64-linux-gnu); see
 *                             check_cfi_gdbstub.c
 *   --sysroot=DIR             where the target's libraries are on this host
 *                             (default: the stub's -L argument)
 *   --objdump=PATH            the objdump that reads TARGET (objdump)
 *
 * The target's architecture comes from its ELF header; what differs per
 * target (calls, returns, registers) is in check_cfi_<target>.c, how it is
 * stepped in check_cfi_ptrace.c (native x86-64) or check_cfi_gdbstub.c.
 *
 * The target must export two noinline functions, cfi_window_begin() and
 * cfi_window_end(), and call them (once each) around the code to check. The
 * checker:
 *
 *  1. starts TARGET with LD_BIND_NOW=1 (lazy PLT binding would otherwise
 *     step through ld.so) and runs it to cfi_window_begin (a breakpoint);
 *  2. there reports the modules once and attaches libdw to the stopped
 *     thread (the backend says how);
 *  3. single-steps every instruction until the thread enters
 *     cfi_window_end, and at every stop walks the stack with
 *     dwfl_getthread_frames (a fresh walk each time), symbolizes every frame
 *     (pc for activations, pc - 1 for return addresses, as dwfl_frame_pc's
 *     isactivation says) and checks it.
 *
 * The ground truth. Besides libdw's answer the checker keeps its own model
 * of the call chain, built from what the single-stepped instructions did,
 * never from unwind information:
 *   - a call pushes a record {the caller's sp after the return (its
 *     callee's CFA), the return address, the caller's frame pointer}: on
 *     x86-64 `call` stores the return address at the new rsp = CFA - 8; on
 *     AArch64 `bl`/`blr` leave it in x30 with sp unchanged (CFA = sp);
 *   - a return (`ret`) pops the top record (it must return to its return
 *     address with its sp, or the model stops with an error);
 *   - any other instruction after which the pc is the top record's return
 *     address and sp its CFA is a return made with a jump (x86-64's
 *     out-of-line switch): it pops the record too;
 *   - an instruction that moves sp by more than 64 KiB is a stack switch:
 *       * if the new sp is a pending record's CFA, or its return-address
 *         slot (x86-64: CFA - 8) (a suspend, or the trampoline's return into
 *         the resumer), the records above it belong to the stack being
 *         left: they are parked under the old sp;
 *       * if the new sp is where records were parked (the resume point
 *         going back to the body's stack), they are pushed back on top;
 *       * otherwise (the trampoline's first switch, corolink__call_on) the
 *         chain is unchanged: the frame that switched is still a callee of
 *         its caller;
 *       * corolink__ontop (corolink_resume_with()) switches onto a frame
 *         record {fp, return address} that it stored at the new sp, as a
 *         call from that return address followed by a push of the frame
 *         pointer would have left it: the records parked at its CFA (the
 *         new sp + 16: a suspended body's) are pushed back, then a record
 *         for that call {CFA = new sp + 16, the stored return address, the
 *         stored fp}. Its switch back onto the resumer's pending return
 *         address drops that record (the frame is left for good) and parks
 *         the ones under it at its CFA, where the resume point returns.
 * The expected backtrace at a stop is then: the pc, and the return address
 * of every pending record from the top down to main's (each frame's sp:
 * the record's CFA; its frame pointer: the caller's when it made the call).
 * This is the backtrace corolink's design promises (inside the switch, "the
 * resumer's callee"; inside a body, body -> corolink__trampoline ->
 * resumer).
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
 *   ra-sign     (AArch64) no frame below main has a signed return
 *               address where its rows say "not signed"
 *               (DW_CFA_AARCH64_negate_ra_state, which libdw 0.188 ignores:
 *               followed in check_cfi_aarch64_aapcs_elf.c);
 *   exact-sp/rbp (exact-sp/x29 on AArch64)
 *               each frame's sp (its callee's CFA) and frame pointer are
 *               exactly the expected ones: the sp the caller will have after
 *               the return and the frame pointer it had at the call (it is
 *               callee-saved, and the switch protocol preserves it). A CFA
 *               or frame-pointer rule that is wrong but happens not to
 *               change the pcs (an rbp-based caller does not need the right
 *               rsp) fails here.
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
#include <fcntl.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "check_cfi.h"

#define MAX_FRAMES 64
#define MAX_RECS 256
#define MAX_STASH 32
#define SWITCH_DISTANCE ((uint64_t)64 * 1024)

/* ------------------------------------------------------------------------ */
/* small helpers                                                            */
/* ------------------------------------------------------------------------ */

static const char *target_path;
pid_t child;
static const struct target *T;   /* the target's architecture */
static const struct backend *B;  /* how it is stepped */
static const char *objdump = "objdump";

void die(const char *fmt, ...) {
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
    return B->read_mem(addr, buf, len);
}

/* Bytes of a word of the target (T->word; 8 unless it says otherwise). */
static size_t word_bytes(void) { return T->word ? T->word : 8; }

static bool read_word(uint64_t addr, uint64_t *out) {
    uint8_t b[8];
    size_t n = word_bytes();
    if (!read_mem(addr, b, n))
        return false;
    uint64_t v = 0;
    for (int i = (int)n - 1; i >= 0; i--) /* every target is little-endian */
        v = v << 8 | b[i];
    *out = v;
    return true;
}

/* ------------------------------------------------------------------------ */
/* libdwfl: modules, symbols                                                */
/* ------------------------------------------------------------------------ */

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
            /* ARM32: bit 0 of a function's value says Thumb state; the
             * code starts at the even address. */
            GElf_Addr bias;
            GElf_Ehdr eh;
            Elf *elf = dwfl_module_getelf(mod, &bias);
            if (s->type == STT_FUNC && elf != NULL &&
                gelf_getehdr(elf, &eh) != NULL && eh.e_machine == EM_ARM)
                s->addr &= ~(uint64_t)1;
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

uint64_t find_function(Dwfl *dwfl, const char *name) {
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

/* ARM32 (EM_ARM): a Thumb function's symbol value has bit 0 set. */
static bool module_is_arm(Dwfl_Module *mod) {
    GElf_Addr bias;
    GElf_Ehdr eh;
    Elf *elf = dwfl_module_getelf(mod, &bias);
    return elf != NULL && gelf_getehdr(elf, &eh) != NULL &&
           eh.e_machine == EM_ARM;
}

static struct symbol symbolize(Dwfl *dwfl, uint64_t addr) {
    struct symbol s = {NULL, 0, false, NULL};
    Dwfl_Module *mod = dwfl_addrmodule(dwfl, addr);
    if (mod == NULL)
        return s;
    s.mod = mod;
    GElf_Off off = 0;
    GElf_Sym sym;
    /* ARM32: looked up with bit 0 set, an address is in the Thumb
     * function whose (odd) value is at or below it, and still in the ARM
     * function that holds it; the offset is from the code's start. */
    bool arm = module_is_arm(mod);
    const char *name =
        dwfl_module_addrinfo(mod, arm ? addr | 1 : addr, &off, &sym, NULL,
                             NULL, NULL);
    if (arm && name != NULL)
        off = addr - (((addr | 1) - off) & ~(uint64_t)1);
    /* AArch64 mapping symbols ($x: code follows, $d: data) name no
     * function. */
    if (name != NULL && name[0] != '$') {
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
             "'%s' -d --no-show-raw-insn --start-address=0x%" PRIx64
             " --stop-address=0x%" PRIx64 " '%s' 2>/dev/null",
             objdump, a, a + 16, file);
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
    int strip_mark; /* B->strip_mark() when libdw handed us this frame */
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
    /* Before dwfl_frame_pc, which unwinds this frame to its caller (to say
     * whether the caller is a signal frame) - except the first. */
    f->strip_mark = B->strip_mark != NULL ? B->strip_mark() : 0;
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
    f->sp_known = dwfl_frame_reg(state, (unsigned)T->dwarf_sp, &sp) == 0;
    f->sp = f->sp_known ? sp : 0;
    Dwarf_Word fp;
    f->fp_known = dwfl_frame_reg(state, (unsigned)T->dwarf_fp, &fp) == 0;
    f->fp = f->fp_known ? fp : 0;
    f->sym = symbolize(w->dwfl, act ? pc : pc - 1);
    w->n++;
    if (f->sym.name != NULL && strcmp(f->sym.name, "main") == 0) {
        w->main_idx = w->n - 1;
        return DWARF_CB_ABORT; /* nothing below main is checked */
    }
    return DWARF_CB_OK;
}

static pid_t tid; /* the thread libdw walks */

static void unwind(Dwfl *dwfl, struct walk *w) {
    w->dwfl = dwfl;
    w->n = 0;
    w->main_idx = -1;
    w->error[0] = '\0';
    if (B->walk_begin != NULL)
        B->walk_begin();
    int r = dwfl_getthread_frames(dwfl, tid, frame_cb, w);
    if (r == -1 && w->main_idx < 0 && w->error[0] == '\0')
        snprintf(w->error, sizeof w->error, "%s", dwfl_errmsg(-1));
}

/* ------------------------------------------------------------------------ */
/* the ground-truth model                                                   */
/* ------------------------------------------------------------------------ */

struct stash {
    uint64_t sp; /* sp of the stack when it was left */
    int n;
    struct rec recs[MAX_RECS];
};

static struct rec chain[MAX_RECS]; /* [0] = main's record */
static int nchain;
static struct stash stashes[MAX_STASH];
static int nstashes;
static unsigned long switches;
/* corolink__ontop's code, [ontop_lo, ontop_hi); 0, 0 if the target has
 * none. */
static uint64_t ontop_lo, ontop_hi;

static __attribute__((noreturn)) void model_error(const char *what,
                                                  uint64_t pc) {
    die("ground-truth model lost track at 0x%" PRIx64 ": %s (the checker "
        "does not understand this control flow)", pc, what);
}

/* The records parked under sp, if any, back on top of the chain. */
static bool unpark(uint64_t sp, uint64_t pc) {
    for (int s = 0; s < nstashes; s++) {
        if (stashes[s].sp == sp) {
            if (nchain + stashes[s].n > MAX_RECS)
                model_error("call chain too deep", pc);
            memcpy(&chain[nchain], stashes[s].recs,
                   (size_t)stashes[s].n * sizeof(struct rec));
            nchain += stashes[s].n;
            stashes[s] = stashes[--nstashes];
            return true;
        }
    }
    return false;
}

static void model_update(enum insn_kind kind, const struct regs *old,
                         const struct regs *now) {
    /* A conditional call or return that was not taken (ARM32: `bxeq lr`,
     * `blxne r3`, or one in a Thumb IT block) steps to the next
     * instruction with sp unchanged: an ordinary instruction. (A taken one
     * never lands there with sp unchanged: a return to just past itself
     * would need a call at its own address, and a call pushes or links.) */
    if ((kind == INSN_CALL || kind == INSN_RET) && now->sp == old->sp &&
        (now->pc == old->pc + 2 || now->pc == old->pc + 4))
        kind = INSN_OTHER;
    if (kind == INSN_CALL) {
        struct rec r;
        if (!T->call_record(old, now, read_word, &r))
            model_error("call that does not leave a return address", old->pc);
        if (nchain == MAX_RECS)
            model_error("call chain too deep", old->pc);
        chain[nchain++] = r;
        return;
    }
    if (kind == INSN_RET) {
        if (nchain == 0 || !T->ret_pops(&chain[nchain - 1], old, now))
            model_error("ret that does not pop the innermost record", old->pc);
        nchain--;
        return;
    }
    /* A return made with a jump (x86-64's out-of-line switch returns with
     * `jmp`, keeping the return-stack predictor balanced): the pc lands on
     * the innermost record's return address with sp at its CFA. */
    if (nchain > 0 && now->pc == chain[nchain - 1].ra &&
        now->sp == chain[nchain - 1].cfa) {
        nchain--;
        return;
    }
    uint64_t d = now->sp > old->sp ? now->sp - old->sp : old->sp - now->sp;
    if (d < SWITCH_DISTANCE)
        return;
    switches++;
    bool ontop = old->pc >= ontop_lo && old->pc < ontop_hi;
    if (!ontop && unpark(now->sp, old->pc))
        return; /* back onto a parked stack */
    for (int i = nchain - 1; i >= 0; i--) {
        /* Onto a pending return address: on x86-64 the inline suspend puts
         * rsp on the slot (CFA - 8) to `ret`, the out-of-line one just above
         * it (the CFA) to jump to the return address; on AArch64 both put
         * sp at the CFA (the resumer's sp) and `ret` to x30. */
        if (chain[i].cfa - T->ra_slot == now->sp || chain[i].cfa == now->sp) {
            int above = nchain - 1 - i;
            uint64_t park_sp = old->sp;
            if (ontop) {
                /* corolink__ontop leaves its own frame: parked at its CFA. */
                if (above == 0)
                    model_error("corolink__ontop left no frame of its own",
                                old->pc);
                park_sp = chain[--nchain].cfa;
                above--;
            }
            if (above > 0) {
                if (nstashes == MAX_STASH)
                    model_error("too many parked stacks", old->pc);
                struct stash *st = &stashes[nstashes++];
                st->sp = park_sp;
                st->n = above;
                memcpy(st->recs, &chain[i + 1],
                       (size_t)above * sizeof(struct rec));
                nchain = i + 1;
            }
            return;
        }
    }
    if (ontop) {
        /* Onto the frame record corolink__ontop stored: the parked stack
         * whose sp is its CFA comes back, then the call it stands for. */
        uint64_t w = word_bytes();
        uint64_t cfa = now->sp + (T->ontop_cfa ? T->ontop_cfa : 2 * w), fp, ra;
        if (!read_word(now->sp + T->ontop_fp_at, &fp) ||
            !read_word(now->sp + (T->ontop_cfa ? T->ontop_ra_at : w), &ra))
            model_error("corolink__ontop's frame record is unreadable",
                        old->pc);
        if (T->code_address != NULL)
            ra = T->code_address(ra);
        unpark(cfa, old->pc);
        if (nchain == MAX_RECS)
            model_error("call chain too deep", old->pc);
        chain[nchain++] = (struct rec){cfa, ra, fp};
        return;
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
    F_RASIGN = 1 << 6,
};
#define NKINDS 7

static const char *failure_names[NKINDS] = {
    "main", "symbol", "cfi", "resumers", "exact-pc", "exact-sp/rbp",
    "ra-sign"};

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
 * address, the caller's sp after the return (the record's CFA) and the
 * caller's frame pointer at the call. */
static void expected_chain(Dwfl *dwfl, const struct regs *r,
                           struct expected *e) {
    e->n = 0;
    e->pc[e->n] = r->pc;
    e->sp[e->n] = r->sp;
    e->fp[e->n] = r->fp;
    e->name[e->n++] = symbolize(dwfl, r->pc).name;
    for (int i = nchain - 1; i >= 0; i--) {
        e->pc[e->n] = chain[i].ra;
        e->sp[e->n] = chain[i].cfa;
        e->fp[e->n] = chain[i].fp;
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
        /* AArch64: the rows say whether the return address they lead to
         * is signed; a PAC-aware unwinder authenticates or strips it only
         * when they say so. A signed one under rows that say "not signed"
         * is an error for sure. The other way round cannot be told: the
         * authentication code of a signed address is 0 now and then (7
         * bits here), which looks just like an unsigned one. */
        if (T->ra_signed != NULL && B->ra_was_signed != NULL &&
            !(fail & F_RASIGN)) {
            int said = T->ra_signed(mod, upc);
            /* Unwinding frame i found frame i + 1's return address: libdw
             * does it in dwfl_frame_pc for frame i (frame 0: after it,
             * its registers before), so between the marks taken on entry
             * to our callback for frames i and i + 1. */
            bool was = B->ra_was_signed(w->f[i + 1].pc,
                                        i == 0 ? 0 : w->f[i].strip_mark,
                                        w->f[i + 1].strip_mark);
            if (said == 0 && was) {
                fail |= F_RASIGN;
                WHY("; frame #%d: its rows say the return address is not "
                    "signed, but it was", i);
            }
        }
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
                WHY("; frame #%d %s %s", i, T->sp_name,
                    w->f[i].sp_known ? "differs from the ground truth"
                                     : "unknown");
                break;
            }
            if (!w->f[i].fp_known || w->f[i].fp != e->fp[i]) {
                fail |= F_REGS;
                WHY("; frame #%d %s %s", i, T->fp_name,
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
        fprintf(out, "      #%-2d pc=0x%012" PRIx64 "%s sp=%-14s %s=%-14s %s\n",
                i, w->f[i].pc, w->f[i].activation ? " " : "r", sp, T->fp_name,
                fp, sym);
    }
}

static void print_expected(FILE *out, Dwfl *dwfl, const struct expected *e) {
    fprintf(out, "    expected (ground truth, %d frames):\n", e->n);
    for (int i = 0; i < e->n; i++) {
        char sym[256];
        format_symbol(sym, sizeof sym, dwfl, i == 0 ? e->pc[i] : e->pc[i] - 1);
        fprintf(out, "      #%-2d pc=0x%012" PRIx64 "  sp=0x%-12" PRIx64
                " %s=0x%-12" PRIx64 " %s\n", i, e->pc[i], e->sp[i], T->fp_name,
                e->fp[i], sym);
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

/* Every instruction of function `name` (by objdump; the target's trap,
 * `int3` or `brk`, excluded: it only guards against returns past the end) must have been stepped. Returns
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
             "'%s' -d --no-show-raw-insn --start-address=0x%" PRIx64
             " --stop-address=0x%" PRIx64 " '%s' 2>/dev/null",
             objdump, c.addr - bias, c.addr - bias + c.size, file);
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
        if (strncmp(tab + 1, T->guard_insn, strlen(T->guard_insn)) == 0)
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
            "                 [--stub=CMD,ARG...] [--sysroot=DIR] [--objdump=PATH]\n"
            "                 TARGET [ARGS...]\n");
    exit(2);
}

Elf *open_elf(const char *path, int *fd, GElf_Ehdr *eh) {
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        die("%s: %s", path, strerror(errno));
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(*fd, ELF_C_READ, NULL);
    if (elf == NULL || gelf_getehdr(elf, eh) == NULL)
        die("%s: not an ELF file", path);
    return elf;
}

/* The target's architecture, from its ELF header. */
static const struct target *target_of(const char *path) {
    static const struct target *const all[] = {&target_x86_64_sysv_elf,
                                               &target_aarch64_aapcs_elf,
                                               &target_riscv64_lp64d_elf,
                                               &target_i386_sysv_elf,
                                               &target_arm_aapcs_elf};
    int fd;
    GElf_Ehdr eh;
    Elf *elf = open_elf(path, &fd, &eh);
    unsigned machine = eh.e_machine;
    elf_end(elf);
    close(fd);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]->machine == machine)
            return all[i];
    die("%s: no check-cfi target for ELF machine %u", path, machine);
}

/* "a,b,c" -> {"a", "b", "c", NULL} */
static char **split_commas(const char *list) {
    char *copy = strdup(list);
    size_t n = 1;
    for (const char *c = list; *c; c++)
        n += *c == ',';
    char **v = calloc(n + 1, sizeof *v);
    if (copy == NULL || v == NULL)
        die("out of memory");
    size_t k = 0;
    for (char *save = NULL, *a = strtok_r(copy, ",", &save); a != NULL;
         a = strtok_r(NULL, ",", &save))
        v[k++] = a;
    v[k] = NULL;
    return v;
}

int main(int argc, char **argv) {
    bool verbose = false;
    unsigned long max_report = 8, max_steps = 200000;
    const char *expect_fail_under = NULL;
    const char *cover = NULL;
    const char *stub = NULL, *sysroot = NULL;
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
        else if (strncmp(a, "--stub=", 7) == 0)
            stub = a + 7;
        else if (strncmp(a, "--sysroot=", 10) == 0)
            sysroot = a + 10;
        else if (strncmp(a, "--objdump=", 10) == 0)
            objdump = a + 10;
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

    T = target_of(target_path);
    if (T->fp_name[0] == 'x')
        failure_names[5] = "exact-sp/x29";
    if (stub != NULL) {
        char **sv = split_commas(stub);
        for (int i = 0; sysroot == NULL && sv[i] != NULL; i++)
            if (strcmp(sv[i], "-L") == 0 && sv[i + 1] != NULL)
                sysroot = sv[i + 1];
        gdbstub_configure(sv, sysroot);
        B = &backend_gdbstub;
    } else
        B = &backend_ptrace;

    /* 1-3. start, run to cfi_window_begin, modules, libdw attached */
    uint64_t begin_addr, end_addr;
    Dwfl *dwfl = B->start(T, &argv[argi], "cfi_window_begin",
                          "cfi_window_end", &begin_addr, &end_addr, &tid);
    struct regs regs;
    B->get_regs(&regs);

    printf("check-cfi: %s\n", target_path);
    {
        char b[256], e[256];
        format_symbol(b, sizeof b, dwfl, begin_addr);
        format_symbol(e, sizeof e, dwfl, end_addr);
        printf("window: %s at 0x%" PRIx64 " .. %s at 0x%" PRIx64 "\n", b,
               begin_addr, e, end_addr);
    }

    {
        struct sym_search o = find_symbol(dwfl, "corolink__ontop");
        if (o.mod != NULL && o.size != 0) {
            ontop_lo = o.addr;
            ontop_hi = o.addr + o.size;
        }
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
    chain[0] = (struct rec){w.f[1].sp, w.f[1].pc, regs.fp};
    nchain = 1;
    {
        /* The return address is where the unwind says: on the stack
         * (x86-64) or in the link register (AArch64). */
        uint64_t ra = T->code_address ? T->code_address(regs.lr) : regs.lr;
        if ((T->ra_slot != 0 && !read_word(chain[0].cfa - T->ra_slot, &ra)) ||
            ra != chain[0].ra)
            die("main's return address is not where the unwind says "
                "(0x%" PRIx64 ", unwound 0x%" PRIx64 ")", ra, chain[0].ra);
    }

    /* 4. step */
    double t_window = now_seconds();
    unsigned long steps = 0, failed = 0, reported = 0, max_depth = 0;
    unsigned long fail_kinds[NKINDS] = {0};
    unsigned long failed_outside = 0; /* --expect-fail-under: unexpected */
    unsigned long plt_unjudged = 0;   /* T->plt_unjudged: stops in .plt */
    unsigned long excused = 0;        /* T->no_fde_prefix */
    static struct expected exp;
    int exit_status = 0;
    for (;;) {
        B->get_regs(&regs);
        steps++;
        if (steps > max_steps)
            die("more than %lu instructions in the window", max_steps);
        unwind(dwfl, &w);
        expected_chain(dwfl, &regs, &exp);
        if ((unsigned long)w.n > max_depth)
            max_depth = (unsigned long)w.n;
        char why[512];
        unsigned fail = check_stop(&w, &exp, why, sizeof why);
        struct symbol here = symbolize(dwfl, regs.pc);
        if (fail && T->plt_unjudged && here.plt) {
            fail = 0;
            plt_unjudged++;
        } else if (fail && T->no_fde_prefix != NULL && here.name != NULL &&
            strncmp(here.name, T->no_fde_prefix, strlen(T->no_fde_prefix)) == 0 &&
            strstr(why, "; frame #0 (pc ") != NULL &&
            strstr(why, ") has no FDE") != NULL) {
            excused++; /* the toolchain's code without CFI (check_cfi.h) */
            fail = 0;
        }
        struct fnstat *fs = fnstat_for(here.name, module_name(here.mod));
        fnstat_add(fs, regs.pc);
        if (verbose) {
            char sym[256];
            format_symbol(sym, sizeof sym, dwfl, regs.pc);
            printf("step %lu: 0x%" PRIx64 " %s %s=0x%" PRIx64 " %s\n", steps,
                   regs.pc, sym, T->sp_name, regs.sp, fail ? "FAIL" : "ok");
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
                read_mem(regs.pc, bytes, 8);
                format_symbol(sym, sizeof sym, dwfl, regs.pc);
                disassemble(dwfl, regs.pc, dis, sizeof dis);
                printf("FAIL at instruction %lu: 0x%" PRIx64 " %s  [%s]\n",
                       steps, regs.pc, sym, dis[0] ? dis : "?");
                printf("    bytes %02x %02x %02x %02x %02x %02x %02x %02x"
                       "  %s=0x%" PRIx64 " %s=0x%" PRIx64 "\n",
                       bytes[0], bytes[1], bytes[2], bytes[3], bytes[4],
                       bytes[5], bytes[6], bytes[7], T->sp_name, regs.sp,
                       T->fp_name, regs.fp);
                printf("    why: %s\n", why + 2);
                print_frames(stdout, "libdw unwound", dwfl, &w);
                print_expected(stdout, dwfl, &exp);
            }
        }
        if (regs.pc == end_addr)
            break;

        uint8_t code[16] = {0};
        if (!read_mem(regs.pc, code, T->insn_bytes) &&
            !read_mem(regs.pc, code, 4))
            die("cannot read the instruction at 0x%" PRIx64, regs.pc);
        enum insn_kind kind = T->decode(code);
        struct regs old = regs;
        struct stop st = B->step();
        if (st.sig < 0)
            die("target exited (status %d) inside the window", st.exit_status);
        if (st.sig != SIGTRAP) {
            /* The target itself broke (not an unwind failure): say where. */
            char sym[256];
            format_symbol(sym, sizeof sym, dwfl, old.pc);
            printf("target got signal %d (%s) at instruction %lu, 0x%" PRIx64
                   " %s (%s=0x%" PRIx64 " %s=0x%" PRIx64 "); that is a bug in "
                   "the program, not in its CFI\n",
                   st.sig, strsignal(st.sig), steps, old.pc, sym, T->sp_name,
                   old.sp, T->fp_name, old.fp);
            unwind(dwfl, &w);
            print_frames(stdout, "backtrace", dwfl, &w);
            die("target crashed inside the window");
        }
        B->get_regs(&regs);
        model_update(kind, &old, &regs);
    }
    t_window = now_seconds() - t_window;

    /* 5. let the target finish */
    exit_status = B->finish();

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
    if (plt_unjudged)
        printf("%lu stops in PLT stubs not judged (the linker writes no CFI "
               "for them)\n", plt_unjudged);
    if (failed) {
        printf("failing stops by check:");
        for (int k = 0; k < NKINDS; k++)
            if (fail_kinds[k])
                printf(" %s=%lu", failure_names[k], fail_kinds[k]);
        printf("\n");
    }
    if (excused)
        printf("excused: %lu stops in %s* without an FDE (toolchain code, "
               "not corolink's: see check_cfi.h)\n", excused, T->no_fde_prefix);
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
