/*
 * check_cfi_aarch64_aapcs_elf.c - check-cfi's AArch64 target: a call
 * (`bl`, `blr`, `blraa`...) leaves the return address pc + 4 in x30 and sp
 * unchanged, so the caller's expected frame is {pc + 4, sp, x29 at the
 * call}; a return (`ret`, `retaa`, `retab`) goes to x30 with sp back where
 * it was at the call. x29 is the frame pointer.
 */
#include <elf.h>

#include "check_cfi.h"

static uint32_t word(const uint8_t *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

static enum insn_kind decode(const uint8_t *b) {
    uint32_t i = word(b);
    if ((i & 0xfc000000u) == 0x94000000u) /* bl imm26 */
        return INSN_CALL;
    if ((i & 0xfffffc1fu) == 0xd63f0000u) /* blr xN */
        return INSN_CALL;
    if ((i & 0xfefff800u) == 0xd63f0800u) /* blraa(z)/blrab(z) */
        return INSN_CALL;
    if ((i & 0xfffffc1fu) == 0xd65f0000u) /* ret xN */
        return INSN_RET;
    if (i == 0xd65f0bffu || i == 0xd65f0fffu) /* retaa, retab */
        return INSN_RET;
    return INSN_OTHER;
}

static bool call_record(const struct regs *old, const struct regs *now,
                        bool (*read_word)(uint64_t, uint64_t *),
                        struct rec *out) {
    (void)read_word;
    if (now->lr != old->pc + 4 || now->sp != old->sp)
        return false;
    *out = (struct rec){old->sp, old->pc + 4, old->fp};
    return true;
}

static bool ret_pops(const struct rec *r, const struct regs *old,
                     const struct regs *now) {
    (void)old;
    return r->ra == now->pc && r->cfa == now->sp;
}

/* qemu's AArch64 'g' packet: x0..x30, sp, pc (8 bytes each), cpsr (4).
 * DWARF numbers x0..x30 = 0..30, sp = 31; the pc has none. */
static bool from_g(const uint64_t *w, size_t nwords, size_t nbytes,
                   uint64_t *dwarf, int *ndwarf, struct regs *r) {
    (void)nbytes;
    if (nwords < 33)
        return false;
    for (int i = 0; i < 32; i++)
        dwarf[i] = w[i];
    *ndwarf = 32;
    *r = (struct regs){.pc = w[32], .sp = w[31], .fp = w[29], .lr = w[30]};
    return true;
}

/* A signed return address (paciasp/pacibsp) carries its authentication
 * code in the bits above the 48-bit user address space (bit 55 clear: a
 * user address). */
static uint64_t strip_pac(uint64_t w) {
    if (w & (UINT64_C(1) << 55))
        return w;
    return w & ((UINT64_C(1) << 48) - 1);
}

const struct target target_aarch64_aapcs_elf = {
    .name = "aarch64_aapcs_elf",
    .machine = EM_AARCH64,
    .dwarf_sp = 31,
    .dwarf_ra = 30,
    .dwarf_fp = 29,
    .sp_name = "sp",
    .fp_name = "x29",
    .insn_bytes = 4,
    .guard_insn = "brk",
    .ra_slot = 0,
    .decode = decode,
    .call_record = call_record,
    .ret_pops = ret_pops,
    .from_g = from_g,
    .bp_kind = 4,
    .strip_pac = strip_pac,
};
