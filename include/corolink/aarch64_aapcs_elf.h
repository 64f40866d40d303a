/*
 * corolink/aarch64_aapcs_elf.h - the AArch64 (AAPCS64, ELF) target of
 * corolink.h: the control block's hot fields and the inline switch.
 *
 * Included by corolink.h; not to be included directly. The layout and the
 * register protocol below are the AArch64 ABI v2 (COROLINK_ABI_VERSION; unchanged since v1),
 * frozen into every object that inlines the switch; unwind-info/README.md
 * ("AArch64") documents them with the unwind rows of every instruction,
 * and unwind-info/aarch64_aapcs_elf.S holds the trampoline and the
 * out-of-line switch that speak the same protocol. Only how it differs
 * from x86-64 is spelled out here.
 */
#ifndef COROLINK_AARCH64_AAPCS_ELF_H
#define COROLINK_AARCH64_AAPCS_ELF_H

#ifndef COROLINK_H
#error "include <corolink.h>, not this header"
#endif

/* The first 0x60 bytes of every coroutine's control block. The first 0x40
 * are laid out as on x86-64. The body's stack starts 16 bytes below the
 * control block (the trampoline keeps its return address there). */
struct corolink__hot {
    void *pc;                  /* 0x00 where the next resume jumps */
    void *sp;                  /* 0x08 the body's sp while suspended */
    void *fp;                  /* 0x10 the body's x29 while suspended */
    void *corolink__priv0;     /* 0x18 library-private */
    uint32_t finished;         /* 0x20 nonzero once finished (see above) */
    uint32_t flags;            /* 0x24 library-private */
    corolink_fn fn;            /* 0x28 body */
    void *arg;                 /* 0x30 body's argument */
    uint64_t id;               /* 0x38 corolink_id() */
    void *link_fp;             /* 0x40 resumer's x29 } frame record for */
    void *link_ra;             /* 0x48 resumer's x30 } frame-pointer walks */
    void *link_sp;             /* 0x50 resumer's sp */
    void *corolink__priv[1];   /* 0x58 library-private */
};

#if defined(COROLINK__INLINE)

/* Registers the switch leaves undefined: every general register but sp and
 * x29 (x0-x3 carry values: operands), every vector register (so d8-d15,
 * callee-saved, are saved by the compiler only where live), the flags. */
#define COROLINK__CLOBBERS                                                     \
    "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",    \
        "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", \
        "x25", "x26", "x27", "x28", "x30", "v0", "v1", "v2", "v3", "v4",      \
        "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14",      \
        "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", \
        "v25", "v26", "v27", "v28", "v29", "v30", "v31", "cc", "memory"

/* CFI inside the inline switch, as on x86-64. */
#if defined(__GCC_HAVE_DWARF2_CFI_ASM)
#define COROLINK__CFI(x) x "\n\t"
#else
#define COROLINK__CFI(x)
#endif

/* `x29 was saved at co->link_fp`: DW_CFA_expression(x29, DW_OP_breg0(x0)
 * + 0x40), x0 holding the control block. Bytes: 0x10 (DW_CFA_expression),
 * 0x1d (x29), 3 (length), 0x70 (DW_OP_breg0), 0xc0 0x00 (SLEB128 64: one
 * byte 0x40 would be -64). */
#define COROLINK__CFI_FP_IN_LINK ".cfi_escape 0x10, 0x1d, 0x03, 0x70, 0xc0, 0x00"

/* While the switch runs as the resumer's callee, x30 holds the resumer's
 * return address as `blr` left it: not signed. Code built to sign return
 * addresses (-mbranch-protection=pac-ret, standard) signs them in every
 * function that saves x30 - which the function holding the suspend does,
 * since the switch clobbers x30 - so its rows say "signed" and the switch
 * flips that for the rows that describe the resumer's callee
 * (DW_CFA_AARCH64_negate_ra_state; .cfi_restore_state flips it back). */
#if defined(__ARM_FEATURE_PAC_DEFAULT) && (__ARM_FEATURE_PAC_DEFAULT & 3)
#define COROLINK__CFI_RA_UNSIGNED COROLINK__CFI(".cfi_negate_ra_state")
#else
#define COROLINK__CFI_RA_UNSIGNED
#endif

/* The resume point is the target of an indirect call (`blr`): a landing
 * pad for branch-target identification when the code is built for it. */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define COROLINK__BTI_C "bti c\n\t"
#else
#define COROLINK__BTI_C
#endif

/* Nonzero while a tracer has the resume or suspend probe enabled: the
 * word's address from the GOT (see x86-64), then the volatile word. */
#if defined(COROLINK_NO_PROBES)
#define corolink__probing() 0
#else
#define corolink__probing()                                                    \
    __extension__({                                                            \
        const volatile uint32_t *corolink__sem;                                \
        __asm__("adrp %0, :got:corolink__probe_switch\n\t"                     \
                "ldr %0, [%0, #:got_lo12:corolink__probe_switch]"              \
                : "=r"(corolink__sem));                                        \
        *corolink__sem != 0;                                                   \
    })
#endif

COROLINK__INLINE_DEF int corolink_resume(corolink *co, void *input,
                                         void **output) {
    struct corolink__hot *h = (struct corolink__hot *)co;
    COROLINK__RESUME_ENTER(h, co, input, output, pc);

    register void *x3 __asm__("x3") = pc;
    register struct corolink__hot *x0 __asm__("x0") = h;
    register void *x1 __asm__("x1") = input;
    /* The command for a suspended body: 0 = go on (1 = unwind). */
    register uintptr_t x2 __asm__("x2") = 0;
    /* Resume: in x0 = control block, x3 = where to enter it (its old
     * co->pc), x1 = input, x2 = command. Out: x0 = control block, x1 =
     * value, x2 = status (COROLINK_YIELD, COROLINK_RETURN, COROLINK_TRAP,
     * or 4: the body threw). sp and x29 come back as they were; the
     * caller's rows stay valid (the only instruction is the call). */
    __asm__ volatile(
        /* Enter the coroutine. x30 = the resumer's return address, which
         * the resume point records and the suspend's `ret` returns to. */
        "blr %3"
        : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)
        :
        : COROLINK__CLOBBERS);
    COROLINK__RESUME_LEAVE(x0, x1, x2, output);
}

COROLINK__INLINE_DEF void *corolink_suspend(corolink_yielder *yielder,
                                            void *value) {
    struct corolink__hot *h = (struct corolink__hot *)yielder;
    register struct corolink__hot *x0 __asm__("x0") = h;
    register void *x1 __asm__("x1") = value;
    register uintptr_t x2 __asm__("x2") = COROLINK_YIELD;
    /* Suspend: in x0 = control block, x1 = value, x2 = status. Saves the
     * body's pc/sp/x29 in the control block and returns into the resumer;
     * the next resume `blr`s label 1 with x0 = control block, x1 = input,
     * x2 = command. The 32 bytes before label 1 run with the body's sp and
     * x29 until `mov sp`: a suspended coroutine unwinds from co->pc - 32. */
    __asm__ volatile(
        COROLINK__CFI(".cfi_remember_state")
        /* Still the body's frame: the compiler's rows hold (the body saved
         * its own x30: the switch clobbers it). */
        "adr x3, 1f\n\t"
        "str x3, [x0]\n\t"              /* co->pc = resume point: suspended */
        "mov x4, sp\n\t"
        "stp x4, x29, [x0, #0x08]\n\t"  /* co->sp, co->fp */
        "ldp x30, x4, [x0, #0x48]\n\t"  /* x30 = link_ra, x4 = link_sp */
        "mov sp, x4\n\t"                /* the resumer's stack */
        /* Now the resumer's callee that is about to return: CFA = sp, the
         * return address in x30 (unsigned), the resumer's x29 in
         * co->link_fp (addressed through x0); the other callee-saved
         * registers hold what the resumer may find (it declared them
         * clobbered): same value. */
        COROLINK__CFI(".cfi_def_cfa sp, 0")
        COROLINK__CFI(".cfi_same_value x30")
        COROLINK__CFI_RA_UNSIGNED
        COROLINK__CFI(COROLINK__CFI_FP_IN_LINK)
        COROLINK__CFI(".cfi_same_value x19")
        COROLINK__CFI(".cfi_same_value x20")
        COROLINK__CFI(".cfi_same_value x21")
        COROLINK__CFI(".cfi_same_value x22")
        COROLINK__CFI(".cfi_same_value x23")
        COROLINK__CFI(".cfi_same_value x24")
        COROLINK__CFI(".cfi_same_value x25")
        COROLINK__CFI(".cfi_same_value x26")
        COROLINK__CFI(".cfi_same_value x27")
        COROLINK__CFI(".cfi_same_value x28")
        COROLINK__CFI(".cfi_same_value d8")
        COROLINK__CFI(".cfi_same_value d9")
        COROLINK__CFI(".cfi_same_value d10")
        COROLINK__CFI(".cfi_same_value d11")
        COROLINK__CFI(".cfi_same_value d12")
        COROLINK__CFI(".cfi_same_value d13")
        COROLINK__CFI(".cfi_same_value d14")
        COROLINK__CFI(".cfi_same_value d15")
        "ldr x29, [x0, #0x40]\n\t"      /* the resumer's x29 */
        /* x29 is the resumer's again. */
        COROLINK__CFI(".cfi_same_value x29")
        "ret\n"                         /* into the resumer */
        /* Resume point, entered by the resume's `blr` on the resumer's
         * stack: same rows as at the `ret` above. Record the resumer in
         * the link fields, then return to the body's stack. */
        "1:\n\t"
        COROLINK__BTI_C
        "stp x29, x30, [x0, #0x40]\n\t" /* link_fp, link_ra */
        "mov x4, sp\n\t"
        "str x4, [x0, #0x50]\n\t"       /* link_sp */
        "ldp x4, x29, [x0, #0x08]\n\t"  /* the body's sp and x29 */
        /* x29 is the body's: the resumer's is found in co->link_fp. */
        COROLINK__CFI(COROLINK__CFI_FP_IN_LINK)
        "mov sp, x4\n\t"                /* the body's stack */
        /* Back in the body's frame with its own sp and x29. */
        COROLINK__CFI(".cfi_restore_state")
        : "+r"(x0), "+r"(x1), "+r"(x2)
        :
        : "x3", COROLINK__CLOBBERS);
    /* x2 = the resumer's command: nonzero only from
     * corolink_force_unwind(). */
    if (__builtin_expect(x2 != 0, 0))
        corolink__suspend_unwind(yielder);
    return x1;
}

#endif /* COROLINK__INLINE */

#endif /* COROLINK_AARCH64_AAPCS_ELF_H */
