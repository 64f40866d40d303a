/*
 * check_cfi_x86.h - what check-cfi's two x86 targets (x86_64_sysv_elf,
 * i386_sysv_elf) share: the instruction decoder (calls and returns), and
 * what a `call` pushes and a `ret` pops, in words of W bytes (8 or 4).
 * Included by the two target files only.
 */
#ifndef COROLINK_CHECK_CFI_X86_H
#define COROLINK_CHECK_CFI_X86_H

#include "check_cfi.h"

/* A call (e8 rel32, ff /2) or a return (c3, c2 imm16) after any legacy
 * prefixes, and on x86-64 (rex) one REX prefix. */
static inline enum insn_kind x86_decode(const uint8_t *b, bool rex) {
    int i = 0;
    while (i < 14 && (b[i] == 0x26 || b[i] == 0x2e || b[i] == 0x36 ||
                      b[i] == 0x3e || b[i] == 0x64 || b[i] == 0x65 ||
                      b[i] == 0x66 || b[i] == 0x67 || b[i] == 0xf2 ||
                      b[i] == 0xf3))
        i++;
    if (rex && (b[i] & 0xf0) == 0x40)
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

/* A call pushed {return address} at the new sp, one word below the old:
 * the caller's sp after the return is the old sp, its frame pointer the
 * one it had. */
static inline bool x86_call_record(const struct regs *old,
                                   const struct regs *now,
                                   bool (*read_word)(uint64_t, uint64_t *),
                                   struct rec *out, uint64_t w) {
    uint64_t ra;
    if (now->sp != old->sp - w || !read_word(now->sp, &ra))
        return false;
    *out = (struct rec){now->sp + w, ra, old->fp};
    return true;
}

/* A `ret` pops the slot at the old sp and jumps to what it held. */
static inline bool x86_ret_pops(const struct rec *r, const struct regs *old,
                                const struct regs *now, uint64_t w) {
    return r->cfa - w == old->sp && r->ra == now->pc;
}

#endif
