/*
 * check_cfi_i386_sysv_elf.c - check-cfi's i686 target: x86-64's model with
 * 4-byte words. `call` pushes the return address at CFA - 4, `ret` pops
 * it; ebp is the frame pointer. (No REX prefix: 0x40-0x4f are inc/dec.)
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

/* A call pushed {return address} at the new esp: the caller's esp after
 * the return is the old esp, its ebp the one it had. */
static bool call_record(const struct regs *old, const struct regs *now,
                        bool (*read_word)(uint64_t, uint64_t *),
                        struct rec *out) {
    uint64_t ra;
    if (now->sp != old->sp - 4 || !read_word(now->sp, &ra))
        return false;
    *out = (struct rec){now->sp + 4, ra, old->fp};
    return true;
}

/* A `ret` pops the slot at the old esp and jumps to what it held. */
static bool ret_pops(const struct rec *r, const struct regs *old,
                     const struct regs *now) {
    return r->cfa - 4 == old->sp && r->ra == now->pc;
}

/* gdb's i386 'g' order: eax ecx edx ebx esp ebp esi edi eip eflags ...
 * (4 bytes each), which is also the DWARF order (8: eip, the return
 * address column). The backend hands the packet over as 8-byte words. */
static bool from_g(const uint64_t *w, size_t nwords, size_t nbytes,
                   uint64_t *dwarf, int *ndwarf, struct regs *r) {
    if (nbytes < 9 * 4 || nwords < 5)
        return false;
    for (int i = 0; i < 9; i++)
        dwarf[i] = (w[i / 2] >> (32 * (i & 1))) & 0xffffffffu;
    *ndwarf = 9;
    *r = (struct regs){.pc = dwarf[8], .sp = dwarf[4], .fp = dwarf[5], .lr = 0};
    return true;
}

const struct target target_i386_sysv_elf = {
    .name = "i386_sysv_elf",
    .machine = EM_386,
    .dwarf_sp = 4,
    .dwarf_ra = 8,
    .dwarf_fp = 5,
    .sp_name = "esp",
    .fp_name = "ebp",
    .insn_bytes = 16,
    .guard_insn = "int3",
    .ra_slot = 4,
    .word = 4,
    .no_fde_prefix = "__x86.get_pc_thunk.",
    .decode = decode,
    .call_record = call_record,
    .ret_pops = ret_pops,
    .from_g = from_g,
    .bp_kind = 1,
};
