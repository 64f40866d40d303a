/*
 * check_cfi_i386_sysv_elf.c - check-cfi's i686 target: x86-64's model with
 * 4-byte words. `call` pushes the return address at CFA - 4, `ret` pops
 * it; ebp is the frame pointer. (No REX prefix: 0x40-0x4f are inc/dec.)
 */
#include <elf.h>

#include "check_cfi_x86.h"

static enum insn_kind decode(const uint8_t *b) { return x86_decode(b, false); }

/* A call pushed {return address} at the new esp; a `ret` pops it. */
static bool call_record(const struct regs *old, const struct regs *now,
                        bool (*read_word)(uint64_t, uint64_t *),
                        struct rec *out) {
    return x86_call_record(old, now, read_word, out, 4);
}

static bool ret_pops(const struct rec *r, const struct regs *old,
                     const struct regs *now) {
    return x86_ret_pops(r, old, now, 4);
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
