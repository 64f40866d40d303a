/*
 * check_cfi_riscv64_lp64d_elf.c - check-cfi's RISC-V 64 target: a call
 * (`jal`/`jalr` with rd = ra or t0, the link registers; `c.jalr`) leaves
 * the return address (pc + 4, or pc + 2 after a compressed one) in the link
 * register and sp unchanged, so the caller's expected frame is {return
 * address, sp, s0 at the call}; a return (`jalr x0, 0(ra)` = `ret`, or
 * through t0; `c.jr ra`) goes to the link register with sp back where it
 * was at the call. s0 is the frame pointer. Jumps through other registers
 * (`jr t1`: corolink__ontop's entry into the old pc, `tail`) are neither.
 */
#include <elf.h>
#include <stdint.h>

#include "check_cfi.h"

#ifndef EM_RISCV
#define EM_RISCV 243
#endif

static bool link_reg(uint32_t r) { return r == 1 || r == 5; }

static enum insn_kind decode(const uint8_t *b) {
    uint32_t h = (uint32_t)b[0] | (uint32_t)b[1] << 8;
    if ((h & 3) != 3) {
        /* compressed (16-bit): c.jr rs1 = 1000 rs1 00000 10, c.jalr rs1 =
         * 1001 rs1 00000 10 (RV64 has no c.jal) */
        uint32_t rs1 = (h >> 7) & 31;
        if ((h & 0xf07f) == 0x8002 && rs1 != 0)
            return link_reg(rs1) ? INSN_RET : INSN_OTHER;
        if ((h & 0xf07f) == 0x9002 && rs1 != 0)
            return INSN_CALL;
        return INSN_OTHER;
    }
    uint32_t i = h | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    uint32_t opcode = i & 0x7f, rd = (i >> 7) & 31, funct3 = (i >> 12) & 7,
             rs1 = (i >> 15) & 31;
    if (opcode == 0x6f) /* jal */
        return link_reg(rd) ? INSN_CALL : INSN_OTHER;
    if (opcode == 0x67 && funct3 == 0) { /* jalr */
        if (link_reg(rd))
            return INSN_CALL;
        if (rd == 0 && link_reg(rs1))
            return INSN_RET;
    }
    return INSN_OTHER;
}

static bool call_record(const struct regs *old, const struct regs *now,
                        bool (*read_word)(uint64_t, uint64_t *),
                        struct rec *out) {
    (void)read_word;
    if ((now->lr != old->pc + 4 && now->lr != old->pc + 2) ||
        now->sp != old->sp)
        return false;
    *out = (struct rec){old->sp, now->lr, old->fp};
    return true;
}

static bool ret_pops(const struct rec *r, const struct regs *old,
                     const struct regs *now) {
    (void)old;
    return r->ra == now->pc && r->cfa == now->sp;
}

/* qemu's RISC-V 'g' packet: x0..x31, pc (8 bytes each; the floating-point
 * registers are another feature, not in it). DWARF numbers x0..x31 =
 * 0..31; the pc has none. */
static bool from_g(const uint64_t *w, size_t nwords, size_t nbytes,
                   uint64_t *dwarf, int *ndwarf, struct regs *r) {
    (void)nbytes;
    if (nwords < 33)
        return false;
    for (int i = 0; i < 32; i++)
        dwarf[i] = w[i];
    *ndwarf = 32;
    *r = (struct regs){.pc = w[32], .sp = w[2], .fp = w[8], .lr = w[1]};
    return true;
}

const struct target target_riscv64_lp64d_elf = {
    .name = "riscv64_lp64d_elf",
    .machine = EM_RISCV,
    .dwarf_sp = 2,
    .dwarf_ra = 1,
    .dwarf_fp = 8,
    .sp_name = "sp",
    .fp_name = "s0",
    .insn_bytes = 4,
    .guard_insn = "unimp",
    .ra_slot = 0,
    .decode = decode,
    .call_record = call_record,
    .ret_pops = ret_pops,
    .from_g = from_g,
    .bp_kind = 4,
    .strip_pac = NULL,
    .ra_signed = NULL,
    .plt_unjudged = true,
};
