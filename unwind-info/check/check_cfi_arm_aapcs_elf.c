/*
 * check_cfi_arm_aapcs_elf.c - check-cfi's ARM32 target (ARM and Thumb-2
 * state): a call (`bl`, `blx`) leaves the return address in lr (bit 0 set
 * for a Thumb caller) and sp unchanged, so the caller's expected frame is
 * {lr without bit 0, sp, r7 at the call}; a return (`bx lr`, `pop {...,
 * pc}`, `ldr pc, [sp], #4`) goes there with sp back where it was at the
 * call. r7, Thumb code's frame pointer and the root frame's CFA base, is
 * the frame pointer the checker compares (r11 is checked through the rows
 * that use it: a wrong r11 row derails every ARM-state frame above it).
 *
 * The checker decodes an instruction from its bytes only: the state it is
 * in (CPSR.T) comes with the registers of the stop before it (from_g).
 * DWARF CFI only: the EHABI tables (.ARM.exidx) of the library are checked
 * by the suites that unwind with libgcc (exceptions, _Unwind_Backtrace,
 * glibc's backtrace()), which use nothing else.
 */
#include <elf.h>
#include <stdlib.h>

#include "check_cfi.h"

/* CPSR.T at the last register fetch: the state of the next instruction. */
static bool thumb;

static uint32_t half(const uint8_t *b) { return (uint32_t)b[0] | (uint32_t)b[1] << 8; }

static enum insn_kind decode_arm(uint32_t i) {
    uint32_t cond = i >> 28;
    if (cond != 0xf && (i & 0x0f000000u) == 0x0b000000u) /* bl imm24 */
        return INSN_CALL;
    if ((i & 0xfe000000u) == 0xfa000000u) /* blx imm24 */
        return INSN_CALL;
    if ((i & 0x0ffffff0u) == 0x012fff30u) /* blx rN */
        return INSN_CALL;
    if ((i & 0x0fffffffu) == 0x012fff1eu) /* bx lr */
        return INSN_RET;
    if ((i & 0x0fff8000u) == 0x08bd8000u) /* pop {..., pc} (ldmia sp!) */
        return INSN_RET;
    if ((i & 0x0fffffffu) == 0x049df004u) /* ldr pc, [sp], #4 */
        return INSN_RET;
    if ((i & 0x0fffffffu) == 0x01a0f00eu) /* mov pc, lr */
        return INSN_RET;
    return INSN_OTHER;
}

static enum insn_kind decode_thumb(const uint8_t *b) {
    uint32_t h1 = half(b), h2 = half(b + 2);
    if ((h1 & 0xf800u) >= 0xe800u) { /* 32-bit */
        if ((h1 & 0xf800u) == 0xf000u && (h2 & 0xc000u) == 0xc000u)
            return INSN_CALL; /* bl, blx imm */
        if (h1 == 0xe8bdu && (h2 & 0x8000u)) /* pop.w {..., pc} */
            return INSN_RET;
        if (h1 == 0xf85du && h2 == 0xfb04u) /* ldr.w pc, [sp], #4 */
            return INSN_RET;
        return INSN_OTHER;
    }
    if ((h1 & 0xff87u) == 0x4780u) /* blx rN */
        return INSN_CALL;
    if (h1 == 0x4770u) /* bx lr */
        return INSN_RET;
    if ((h1 & 0xff00u) == 0xbd00u) /* pop {..., pc} */
        return INSN_RET;
    return INSN_OTHER;
}

static enum insn_kind decode(const uint8_t *b) {
    if (thumb)
        return decode_thumb(b);
    return decode_arm(half(b) | half(b + 2) << 16);
}

static bool call_record(const struct regs *old, const struct regs *now,
                        bool (*read_word)(uint64_t, uint64_t *),
                        struct rec *out) {
    (void)read_word;
    uint64_t ra = now->lr & ~UINT64_C(1);
    if ((ra != old->pc + 4 && ra != old->pc + 2) || now->sp != old->sp)
        return false;
    *out = (struct rec){old->sp, ra, old->fp};
    return true;
}

static bool ret_pops(const struct rec *r, const struct regs *old,
                     const struct regs *now) {
    (void)old;
    return r->ra == now->pc && r->cfa == now->sp;
}

/* qemu's ARM 'g' packet (no target description negotiated): r0..r15 (4
 * bytes each), eight 12-byte FPA registers (zeros), fps, cpsr: 168 bytes;
 * with one, r0..r15 and cpsr: 68. DWARF numbers r0..r15 = 0..15. */
static bool from_g(const uint64_t *w, size_t nwords, size_t nbytes,
                   uint64_t *dwarf, int *ndwarf, struct regs *r) {
    size_t cpsr_at;
    if (nbytes >= 168)
        cpsr_at = 164;
    else if (nbytes >= 68)
        cpsr_at = 64;
    else
        return false;
    if (nwords * 8 < cpsr_at)
        return false;
    uint32_t reg[17];
    for (int i = 0; i < 16; i++)
        reg[i] = (uint32_t)(w[i / 2] >> (32 * (i % 2)));
    /* cpsr: the word at cpsr_at (the last, partial 8-byte word included:
     * its bytes beyond nbytes are zero). */
    size_t k = cpsr_at / 8;
    reg[16] = (uint32_t)(w[k] >> (8 * (cpsr_at % 8)));
    for (int i = 0; i < 16; i++)
        dwarf[i] = reg[i];
    *ndwarf = 16;
    thumb = (reg[16] >> 5) & 1;
    *r = (struct regs){.pc = reg[15], .sp = reg[13], .fp = reg[7],
                       .lr = reg[14]};
    return true;
}

static uint64_t code_address(uint64_t lr) { return lr & ~UINT64_C(1); }

const struct target target_arm_aapcs_elf = {
    .name = "arm_aapcs_elf",
    .machine = EM_ARM,
    .dwarf_sp = 13,
    .dwarf_ra = 14,
    .dwarf_fp = 7,
    .sp_name = "sp",
    .fp_name = "r7",
    .insn_bytes = 4,
    .guard_insn = "udf",
    .ra_slot = 0,
    .decode = decode,
    .call_record = call_record,
    .ret_pops = ret_pops,
    .from_g = from_g,
    .bp_kind = 2,
    .strip_pac = NULL,
    .ra_signed = NULL,
    .code_address = code_address,
    .word = 4,
    /* corolink__ontop's record: {r7, r11, R} at sp, CFA = sp + 12. */
    .ontop_fp_at = 0,
    .ontop_ra_at = 8,
    .ontop_cfa = 12,
};
