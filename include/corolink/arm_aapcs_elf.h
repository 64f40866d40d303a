/*
 * corolink/arm_aapcs_elf.h - the ARM32 (AAPCS, hard-float EABI, ELF)
 * target of corolink.h: the control block's hot fields and the inline
 * switch, for user code built in ARM or in Thumb-2 state.
 *
 * Included by corolink.h; not to be included directly. The layout and the
 * register protocol below are the ARM32 ABI v2 (COROLINK_ABI_VERSION),
 * frozen into every object that inlines the switch; unwind-info/README.md
 * ("ARM32") documents them with the unwind rows of every instruction, and
 * unwind-info/arm_aapcs_elf.S holds the trampoline and the out-of-line
 * switch that speak the same protocol. Only how it differs from AArch64
 * is spelled out here.
 */
#ifndef COROLINK_ARM_AAPCS_ELF_H
#define COROLINK_ARM_AAPCS_ELF_H

#ifndef COROLINK_H
#error "include <corolink.h>, not this header"
#endif

/* The first 0x60 bytes of every coroutine's control block, at the offsets
 * of the 64-bit targets: every pointer has an 8-byte slot (its upper word
 * is zero unless named below), so that the portable layout checks and the
 * debug table's offsets are the same as there.
 *
 * Both frame pointers are kept across a switch: r7 is Thumb code's frame
 * pointer and r11 ARM code's, and the two sides of a switch may be built
 * in different states (and the library in a third), so the switch never
 * clobbers either: it keeps the body's in fp/fp11 and the resumer's in
 * link_fp/link_fp11. link_fp11 and link_ra are an ARM-state frame record
 * (gcc's: fp points at the saved lr, the saved fp is at fp - 4), and
 * link_fp, link_fp11, link_ra, link_sp are in the order in which an EHABI
 * "pop {r7, r11, lr}" then "pop {sp}" reads them (the root frame's unwind
 * entry, see unwind-info/arm_aapcs_elf.S). The body's stack starts 8
 * bytes below the control block (the trampoline keeps its return address
 * at co - 8). */
struct corolink__hot {
    void *pc;                  /* 0x00 where the next resume jumps (bit 0: Thumb) */
    uint32_t corolink__pad0;
    void *sp;                  /* 0x08 the body's sp while suspended */
    uint32_t corolink__pad1;
    void *fp;                  /* 0x10 the body's r7 while suspended */
    void *fp11;                /* 0x14 the body's r11 while suspended */
    void *corolink__priv0;     /* 0x18 library-private */
    uint32_t corolink__pad3;
    uint32_t finished;         /* 0x20 nonzero once finished (see above) */
    uint32_t flags;            /* 0x24 library-private */
    corolink_fn fn;            /* 0x28 body */
    uint32_t corolink__pad4;
    void *arg;                 /* 0x30 body's argument */
    uint32_t corolink__pad5;
    uint64_t id;               /* 0x38 corolink_id() */
    void *link_fp;             /* 0x40 resumer's r7 */
    void *link_fp11;           /* 0x44 resumer's r11 } ARM-state frame record */
    void *link_ra;             /* 0x48 resumer's lr  } for frame-pointer walks */
    void *link_sp;             /* 0x4c resumer's sp */
    void *corolink__priv[4];   /* 0x50 library-private */
};

#if defined(COROLINK__INLINE)

/* Registers the switch leaves undefined: every core register but sp, r7
 * and r11 (r0-r3 carry values: operands), lr, every VFP register (so
 * d8-d15, callee-saved, are saved by the compiler only where live), the
 * flags. d16-d31 exist only with 32 VFP registers: gcc takes them in any
 * case, clang only where they exist, which it says with NEON (it has no
 * macro for VFPv3-D32 without NEON). */
#if defined(__ARM_NEON) || !defined(__clang__)
#define COROLINK__CLOBBERS_D32                                                 \
    , "d16", "d17", "d18", "d19", "d20", "d21", "d22", "d23", "d24", "d25",   \
        "d26", "d27", "d28", "d29", "d30", "d31"
#else
#define COROLINK__CLOBBERS_D32
#endif
#define COROLINK__CLOBBERS                                                     \
    "r4", "r5", "r6", "r8", "r9", "r10", "r12", "lr", "d0", "d1", "d2", "d3",  \
        "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13", "d14", \
        "d15", "cc", "memory" COROLINK__CLOBBERS_D32

/* CFI inside the inline switch, as on x86-64 (gcc writes .debug_frame on
 * ARM; EHABI has no rows inside a function, and no exception is thrown
 * from inside the switch). */
#if defined(__GCC_HAVE_DWARF2_CFI_ASM)
#define COROLINK__CFI(x) x "\n\t"
#else
#define COROLINK__CFI(x)
#endif

/* `r7 was saved at co->link_fp`, `r11 at co->link_fp11`:
 * DW_CFA_expression(r7 or r11, DW_OP_breg0(r0) + 0x40 or 0x44), r0
 * holding the control block. Bytes: 0x10 (DW_CFA_expression), 7 or 0x0b,
 * 3 (length), 0x70 (DW_OP_breg0), SLEB128 64 = 0xc0 0x00 or 68 = 0xc4 0x00
 * (one byte 0x40 would be -64). */
#define COROLINK__CFI_R7_IN_LINK ".cfi_escape 0x10, 0x07, 0x03, 0x70, 0xc0, 0x00"
#define COROLINK__CFI_R11_IN_LINK ".cfi_escape 0x10, 0x0b, 0x03, 0x70, 0xc4, 0x00"

/* The instruction set of the code that inlines the switch: Thumb-2 takes
 * `.w` to force the 32-bit encodings (the switch-out is 40 bytes in both
 * states, see corolink_suspend), ARM has no such suffix; a Thumb resume
 * point's address carries bit 0, so that `blx` enters it in Thumb state;
 * the pc reads 4 bytes ahead in Thumb state, 8 in ARM state. */
#if defined(__thumb__)
#define COROLINK__W ".w"
#define COROLINK__THUMB_BIT "+1"
#define COROLINK__PC_AHEAD "4"
#else
#define COROLINK__W ""
#define COROLINK__THUMB_BIT ""
#define COROLINK__PC_AHEAD "8"
#endif

/* Nonzero while a tracer has the resume or suspend probe enabled: the
 * word's address from the GOT (see x86-64), then the volatile word. ARM32
 * has no GOT-relative load from inline assembly but through a literal
 * (R_ARM_GOT_PREL, as gcc's own PIC code loads it), branched over. */
#if defined(COROLINK_NO_PROBES)
#define corolink__probing() 0
#else
#define corolink__probing()                                                    \
    __extension__({                                                            \
        const volatile uint32_t *corolink__sem;                                \
        __asm__("ldr %0, 3f\n"                                                 \
                "2:\n\t"                                               \
                "add %0, %0, pc\n\t"                                           \
                "ldr %0, [%0]\n\t"                                             \
                "b 4f\n\t"                                                     \
                ".p2align 2\n"                                                 \
                "3:\n\t"                                                       \
                ".word corolink__probe_switch(GOT_PREL) + "                    \
                "(3b - (2b + " COROLINK__PC_AHEAD "))\n"                       \
                "4:"                                                           \
                : "=r"(corolink__sem));                                        \
        *corolink__sem != 0;                                                   \
    })
#endif

COROLINK__INLINE_DEF int corolink_resume(corolink *co, void *input,
                                         void **output) {
    struct corolink__hot *h = (struct corolink__hot *)co;
    COROLINK__RESUME_ENTER(h, co, input, output, pc);

    register void *r3 __asm__("r3") = pc;
    register struct corolink__hot *r0 __asm__("r0") = h;
    register void *r1 __asm__("r1") = input;
    /* The command for a suspended body: 0 = go on (1 = unwind). */
    register uintptr_t r2 __asm__("r2") = 0;
    /* Resume: in r0 = control block, r3 = where to enter it (its old
     * co->pc, bit 0 set for a Thumb resume point), r1 = input, r2 =
     * command. Out: r0 = control block, r1 = value, r2 = status
     * (COROLINK_YIELD, COROLINK_RETURN, COROLINK_TRAP, or 4: the body
     * threw). sp, r7 and r11 come back as they were; the caller's rows stay
     * valid (the only instruction is the call). */
    __asm__ volatile(
        /* Enter the coroutine (interworking): lr = the resumer's return
         * address (bit 0 set in Thumb state), which the resume point
         * records and the suspend's `bx lr` returns to. */
        "blx %3"
        : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3)
        :
        : COROLINK__CLOBBERS);
    COROLINK__RESUME_LEAVE(r0, r1, r2, output);
}

COROLINK__INLINE_DEF void *corolink_suspend(corolink_yielder *yielder,
                                            void *value) {
    struct corolink__hot *h = (struct corolink__hot *)yielder;
    register struct corolink__hot *r0 __asm__("r0") = h;
    register void *r1 __asm__("r1") = value;
    register uintptr_t r2 __asm__("r2") = COROLINK_YIELD;
    /* Suspend: in r0 = control block, r1 = value, r2 = status. Saves the
     * body's pc/sp/r7/r11 in the control block and returns into the
     * resumer; the next resume `blx`es label 1 with r0 = control block,
     * r1 = input, r2 = command. The 40 bytes before label 1 (in both
     * states: Thumb-2's `bx lr` has only a 16-bit encoding, its `mov r3,
     * sp` makes up for it) run with the body's sp, r7 and r11 until
     * `ldr sp`: a suspended coroutine unwinds from co->pc - 40. */
    __asm__ volatile(
        COROLINK__CFI(".cfi_remember_state")
        /* Still the body's frame: the compiler's rows hold (the body saved
         * its own lr: the switch clobbers it). */
#if defined(__thumb__)
        "mov r3, sp\n\t"
        "str.w r3, [r0, #0x08]\n\t"     /* co->sp */
        "adr.w r3, 1f+1\n\t"
        "str.w r3, [r0]\n\t"            /* co->pc: suspended */
#else
        "adr r3, 1f\n\t"
        "str r3, [r0]\n\t"              /* co->pc: suspended */
        "str sp, [r0, #0x08]\n\t"       /* co->sp */
#endif
        "str" COROLINK__W " r7, [r0, #0x10]\n\t"  /* co->fp */
        "str" COROLINK__W " r11, [r0, #0x14]\n\t" /* co->fp11 */
        "ldr" COROLINK__W " lr, [r0, #0x48]\n\t"  /* lr = link_ra */
        "ldr" COROLINK__W " sp, [r0, #0x4c]\n\t"  /* the resumer's stack */
        /* Now the resumer's callee that is about to return: CFA = sp, the
         * return address in lr, the resumer's r7 and r11 in co->link_fp
         * and co->link_fp11 (addressed through r0); the other
         * callee-saved registers hold what the resumer may find (it
         * declared them clobbered): same value (d8-d15 as s16-s31, DWARF
         * 80-95, the numbering gcc writes and libunwind reads). */
        COROLINK__CFI(".cfi_def_cfa sp, 0")
        COROLINK__CFI(".cfi_same_value lr")
        COROLINK__CFI(COROLINK__CFI_R7_IN_LINK)
        COROLINK__CFI(COROLINK__CFI_R11_IN_LINK)
        COROLINK__CFI(".cfi_same_value r4")
        COROLINK__CFI(".cfi_same_value r5")
        COROLINK__CFI(".cfi_same_value r6")
        COROLINK__CFI(".cfi_same_value r8")
        COROLINK__CFI(".cfi_same_value r9")
        COROLINK__CFI(".cfi_same_value r10")
        COROLINK__CFI(".cfi_same_value 80")
        COROLINK__CFI(".cfi_same_value 81")
        COROLINK__CFI(".cfi_same_value 82")
        COROLINK__CFI(".cfi_same_value 83")
        COROLINK__CFI(".cfi_same_value 84")
        COROLINK__CFI(".cfi_same_value 85")
        COROLINK__CFI(".cfi_same_value 86")
        COROLINK__CFI(".cfi_same_value 87")
        COROLINK__CFI(".cfi_same_value 88")
        COROLINK__CFI(".cfi_same_value 89")
        COROLINK__CFI(".cfi_same_value 90")
        COROLINK__CFI(".cfi_same_value 91")
        COROLINK__CFI(".cfi_same_value 92")
        COROLINK__CFI(".cfi_same_value 93")
        COROLINK__CFI(".cfi_same_value 94")
        COROLINK__CFI(".cfi_same_value 95")
        "ldr" COROLINK__W " r11, [r0, #0x44]\n\t" /* the resumer's r11 */
        /* r11 is the resumer's again. */
        COROLINK__CFI(".cfi_same_value r11")
        "ldr" COROLINK__W " r7, [r0, #0x40]\n\t"  /* the resumer's r7 */
        /* r7 is the resumer's again. */
        COROLINK__CFI(".cfi_same_value r7")
        "bx lr\n"                       /* into the resumer */
        /* Resume point, entered by the resume's `blx` on the resumer's
         * stack: same rows as at the `bx` above. Record the resumer in
         * the link fields, then return to the body's stack. */
        "1:\n\t"
        "str r7, [r0, #0x40]\n\t"       /* link_fp */
        "str r11, [r0, #0x44]\n\t"      /* link_fp11 */
        "str lr, [r0, #0x48]\n\t"       /* link_ra */
        "str sp, [r0, #0x4c]\n\t"       /* link_sp */
        "ldr r11, [r0, #0x14]\n\t"      /* the body's r11 */
        /* r11 is the body's: the resumer's is found in co->link_fp11. */
        COROLINK__CFI(COROLINK__CFI_R11_IN_LINK)
        "ldr r7, [r0, #0x10]\n\t"       /* the body's r7 */
        /* r7 is the body's: the resumer's is found in co->link_fp. */
        COROLINK__CFI(COROLINK__CFI_R7_IN_LINK)
        "ldr sp, [r0, #0x08]\n\t"       /* the body's stack */
        /* Back in the body's frame with its own sp, r7 and r11. */
        COROLINK__CFI(".cfi_restore_state")
        : "+r"(r0), "+r"(r1), "+r"(r2)
        :
        : "r3", COROLINK__CLOBBERS);
    /* r2 = the resumer's command: nonzero only from
     * corolink_force_unwind(). */
    if (__builtin_expect(r2 != 0, 0))
        corolink__suspend_unwind(yielder);
    return r1;
}

#endif /* COROLINK__INLINE */

#endif /* COROLINK_ARM_AAPCS_ELF_H */
