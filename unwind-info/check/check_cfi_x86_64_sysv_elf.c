/*
 * check_cfi_x86_64_sysv_elf.c - check-cfi's x86-64 target: `call` pushes
 * the return address at CFA - 8, `ret` pops it; rbp is the frame pointer.
 */
#include <elf.h>

#include "check_cfi.h"

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

/* A call pushed {return address} at the new rsp: the caller's rsp after
 * the return is the old rsp, its rbp the one it had. */
static bool call_record(const struct regs *old, const struct regs *now,
                        bool (*read_word)(uint64_t, uint64_t *),
                        struct rec *out) {
    uint64_t ra;
    if (now->sp != old->sp - 8 || !read_word(now->sp, &ra))
        return false;
    *out = (struct rec){now->sp + 8, ra, old->fp};
    return true;
}

/* A `ret` pops the slot at the old rsp and jumps to what it held. */
static bool ret_pops(const struct rec *r, const struct regs *old,
                     const struct regs *now) {
    return r->cfa - 8 == old->sp && r->ra == now->pc;
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
