/*
 * check_cfi.h - what the parts of check-cfi share.
 *
 *   check_cfi.c                   the target-independent checker: libdwfl
 *                                 walks, the ground-truth model, the checks,
 *                                 the report
 *   check_cfi_<target>.c          one per target (x86_64_sysv_elf,
 *                                 aarch64_aapcs_elf): which instructions
 *                                 are calls and returns, what a call leaves
 *                                 behind, register numbers and names, the
 *                                 gdb remote register layout
 *   check_cfi_ptrace.c            stepping backend: ptrace (x86-64 hosts,
 *                                 native targets)
 *   check_cfi_gdbstub.c           stepping backend: the GDB remote serial
 *                                 protocol, against qemu-user's gdb stub
 *                                 (`qemu-<arch> -g SOCKET`), for targets
 *                                 the host cannot ptrace (any architecture)
 */
#ifndef CHECK_CFI_H
#define CHECK_CFI_H

#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define EXIT_SKIP 77 /* ctest SKIP_RETURN_CODE: no ptrace here */

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The process to kill when the checker dies (the target, or its stub). */
extern pid_t child;

/* The registers the model needs, in every target's terms. */
struct regs {
    uint64_t pc, sp;
    uint64_t fp; /* rbp / x29 */
    uint64_t lr; /* the link register (x30); 0 where there is none */
};

enum insn_kind { INSN_OTHER, INSN_CALL, INSN_RET };

/* One pending call: the expected caller frame while the callee runs. */
struct rec {
    uint64_t cfa; /* the caller's sp after the return: its callee's CFA */
    uint64_t ra;  /* the return address */
    uint64_t fp;  /* the caller's frame pointer at the call (callee-saved) */
};

/* ---- per target (check_cfi_<target>.c) ---- */
struct target {
    const char *name;  /* x86_64_sysv_elf, aarch64_aapcs_elf */
    unsigned machine;  /* ELF e_machine */
    int dwarf_sp, dwarf_fp, dwarf_ra;
    const char *sp_name, *fp_name; /* in reports */
    size_t insn_bytes;             /* enough to decode one instruction */
    const char *guard_insn;        /* objdump's name of the trap after a
                                      final return (int3, brk): --cover
                                      leaves it out */
    /* Where a call leaves the return address, below the callee's CFA (8:
     * pushed at CFA - 8; 0: in a register). A stack switch onto a pending
     * record's CFA, or onto its return-address slot, leaves the records
     * above it. */
    uint64_t ra_slot;
    /* Bytes of a word in memory (return addresses, frame records): 4 on
     * i386 and ARM32; 0 means 8. */
    size_t word;
    /* Toolchain code stepped in the window that has no FDE at all, not
     * corolink's (i386: glibc's crti.o defines gcc's pc thunk
     * __x86.get_pc_thunk.bx without one, and the linker keeps that copy
     * of the COMDAT for every shared library): a stop whose innermost
     * frame is in a function of this name prefix and has no FDE is
     * counted apart ("excused"), not failed. NULL: none. */
    const char *no_fde_prefix;
    enum insn_kind (*decode)(const uint8_t *code);
    /* The record a call instruction made (old: before it, now: after it);
     * false if it did not do what a call does. read_word reads memory. */
    bool (*call_record)(const struct regs *old, const struct regs *now,
                        bool (*read_word)(uint64_t, uint64_t *),
                        struct rec *out);
    /* Whether the return instruction just stepped returned to record r. */
    bool (*ret_pops)(const struct rec *r, const struct regs *old,
                     const struct regs *now);
    /* The gdb remote protocol: the 'g' packet, decoded (little-endian
     * words) into DWARF registers 0 .. *ndwarf-1 and struct regs; and the
     * kind of a software breakpoint (Z0,addr,kind). */
    bool (*from_g)(const uint64_t *words, size_t nwords, size_t nbytes,
                   uint64_t *dwarf, int *ndwarf, struct regs *r);
    int bp_kind;
    /* A code address as a return address saved in memory may hold it,
     * without its pointer-authentication code (AArch64: bits 63..48 of a
     * user-space address); NULL where there is none. */
    uint64_t (*strip_pac)(uint64_t word);
    /* Whether the rows at addr (module-relative lookup as the unwinder
     * does it) say the return address is signed (1) or not (0); -1: no
     * rows, or not understood. NULL where there is no such state. */
    int (*ra_signed)(Dwfl_Module *mod, uint64_t addr);
    /* The linker writes no CFI for PLT stubs and the compiler cannot call
     * around them (RISC-V: gcc 12 has no -fno-plt): stops inside a .plt
     * section are counted apart, not judged (no unwinder can be right
     * there, and that is the toolchain's, not corolink's). */
    bool plt_unjudged;
    /* A return address as the link register holds it, as unwinders report
     * it (ARM32: without the Thumb bit); NULL: the same. */
    uint64_t (*code_address)(uint64_t lr);
    /* The frame record corolink__ontop stores at the sp it switches to:
     * the caller's fp at sp + ontop_fp_at, the return address at sp +
     * ontop_ra_at, the CFA at sp + ontop_cfa; all 0: {fp, ra} at sp, CFA
     * sp + 2 words (x86-64, AArch64, RISC-V, i686). */
    unsigned ontop_fp_at, ontop_ra_at, ontop_cfa;
};

extern const struct target target_x86_64_sysv_elf;
extern const struct target target_aarch64_aapcs_elf;
extern const struct target target_riscv64_lp64d_elf;
extern const struct target target_i386_sysv_elf;
extern const struct target target_arm_aapcs_elf;

/* ---- stepping backends ---- */
struct stop {
    int sig;         /* SIGTRAP after a step or at the breakpoint; another
                        signal the target got; -1: it exited */
    int exit_status; /* when sig == -1: exit code, or 128 + signal */
};

struct backend {
    /* Starts argv[0] and runs it to the first instruction of `begin`
     * (an exported function of the executable). Returns a Dwfl with every
     * module reported and the stopped thread attached (the thread id for
     * dwfl_getthread_frames in *tid), and begin's and end's addresses. */
    Dwfl *(*start)(const struct target *t, char **argv, const char *begin,
                   const char *end, uint64_t *begin_addr,
                   uint64_t *end_addr, pid_t *tid);
    void (*get_regs)(struct regs *r);
    bool (*read_mem)(uint64_t addr, void *buf, size_t len);
    struct stop (*step)(void);
    /* Lets the target run to its end; its exit status. */
    int (*finish)(void);
    /* Optional (NULL): told before each walk; then, during it, how many
     * signed words (return addresses) it has stripped so far; and whether
     * it stripped one into `value` between two such marks. */
    void (*walk_begin)(void);
    int (*strip_mark)(void);
    bool (*ra_was_signed)(uint64_t value, int from, int to);
};

extern const struct backend backend_ptrace;
/* gdbstub_configure: the stub command (argv of e.g. `qemu-aarch64 -cpu max
 * -L SYSROOT`; -g SOCKET TARGET ARGS... are appended) and the sysroot in
 * which the target's libraries are found on the host (or NULL). */
void gdbstub_configure(char **stub_argv, const char *sysroot);
extern const struct backend backend_gdbstub;

/* An ELF file and its header (check_cfi.c; dies if it is none). The
 * caller ends it with elf_end() and close(*fd). */
Elf *open_elf(const char *path, int *fd, GElf_Ehdr *eh);
/* Symbol lookup in every module (check_cfi.c). */
uint64_t find_function(Dwfl *dwfl, const char *name);

#endif
