/*
 * check_cfi_x86_64_sysv_elf.c - check-cfi's x86-64 target: `call` pushes
 * the return address at CFA - 8, `ret` pops it; rbp is the frame pointer.
 */
#include <elf.h>

#include "check_cfi_x86.h"

static enum insn_kind decode(const uint8_t *b) { return x86_decode(b, true); }

/* A call pushed {return address} at the new rsp; a `ret` pops it. */
static bool call_record(const struct regs *old, const struct regs *now,
                        bool (*read_word)(uint64_t, uint64_t *),
                        struct rec *out) {
    return x86_call_record(old, now, read_word, out, 8);
}

static bool ret_pops(const struct rec *r, const struct regs *old,
                     const struct regs *now) {
    return x86_ret_pops(r, old, now, 8);
}

/* gdb's x86-64 'g' order: rax rbx rcx rdx rsi rdi rbp rsp r8..r15 rip
 * (8 bytes each), eflags, ... DWARF: rax rdx rcx rbx rsi rdi rbp rsp
 * r8..r15, and 16 is the return address (rip). */
static bool from_g(const uint64_t *w, size_t nwords, size_t nbytes,
                   uint64_t *dwarf, int *ndwarf, struct regs *r) {
    (void)nbytes;
    if (nwords < 17)
        return false;
    static const int g_of_dwarf[16] = {0, 3, 2, 1, 4,  5,  6,  7,
                                       8, 9, 10, 11, 12, 13, 14, 15};
    for (int i = 0; i < 16; i++)
        dwarf[i] = w[g_of_dwarf[i]];
    dwarf[16] = w[16];
    *ndwarf = 17;
    *r = (struct regs){.pc = w[16], .sp = w[7], .fp = w[6], .lr = 0};
    return true;
}

const struct target target_x86_64_sysv_elf = {
    .name = "x86_64_sysv_elf",
    .machine = EM_X86_64,
    .dwarf_sp = 7,
    .dwarf_ra = 16,
    .dwarf_fp = 6,
    .sp_name = "rsp",
    .fp_name = "rbp",
    .insn_bytes = 16,
    .guard_insn = "int3",
    .ra_slot = 8,
    .decode = decode,
    .call_record = call_record,
    .ret_pops = ret_pops,
    .from_g = from_g,
    .bp_kind = 1,
};
