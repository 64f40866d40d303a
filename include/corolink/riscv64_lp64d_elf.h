/*
 * corolink/riscv64_lp64d_elf.h - the RISC-V 64 (RV64GC, LP64D ABI, ELF)
 * target of corolink.h: the control block's hot fields and the inline
 * switch.
 *
 * Included by corolink.h; not to be included directly. The layout and the
 * register protocol below are the RISC-V 64 ABI v2 (COROLINK_ABI_VERSION),
 * frozen into every object that inlines the switch; unwind-info/README.md
 * ("RISC-V 64") documents them with the unwind rows of every instruction,
 * and unwind-info/riscv64_lp64d_elf.S holds the trampoline and the
 * out-of-line switch that speak the same protocol. It is AArch64's
 * protocol (corolink/aarch64_aapcs_elf.h) with RISC-V's registers; only how
 * it differs from AArch64 is spelled out here:
 *  - the frame record {saved s0, return address} lies BELOW the frame
 *    pointer: s0 is the frame's CFA, ra at s0 - 8, the caller's s0 at
 *    s0 - 16. link_fp, link_ra are such a record with s0 = &co->link_sp;
 *  - the switch's machine code is fixed: no compressed instructions and no
 *    linker relaxation inside it (.option norvc, norelax), so that the
 *    switch-out is exactly 36 bytes before the resume point everywhere;
 *  - the return-address stack: a resume is `jalr ra, a3` (a push: rd = x1,
 *    rs1 not a link register), the suspend that ends the round trip is
 *    `ret` (jalr x0, 0(ra): a pop). One call, one return.
 */
#ifndef COROLINK_RISCV64_LP64D_ELF_H
#define COROLINK_RISCV64_LP64D_ELF_H

#ifndef COROLINK_H
#error "include <corolink.h>, not this header"
#endif

/* The first 0x60 bytes of every coroutine's control block, laid out as on
 * AArch64. The body's stack starts 16 bytes below the control block (the
 * trampoline keeps its return address at co - 8). */
struct corolink__hot {
    void *pc;                  /* 0x00 where the next resume jumps */
    void *sp;                  /* 0x08 the body's sp while suspended */
    void *fp;                  /* 0x10 the body's s0 while suspended */
    void *corolink__priv0;     /* 0x18 library-private */
    uint32_t finished;         /* 0x20 nonzero once finished (see above) */
    uint32_t flags;            /* 0x24 library-private */
    corolink_fn fn;            /* 0x28 body */
    void *arg;                 /* 0x30 body's argument */
    uint64_t id;               /* 0x38 corolink_id() */
    void *link_fp;             /* 0x40 resumer's s0 } frame record below */
    void *link_ra;             /* 0x48 resumer's ra } s0 = &link_sp */
    void *link_sp;             /* 0x50 resumer's sp */
    void *corolink__priv[1];   /* 0x58 library-private */
};

#if defined(COROLINK__INLINE)

/* The floating-point registers (the D extension: fs0-fs11 callee-saved),
 * clobbered so that the compiler saves the live callee-saved ones. */
#if defined(__riscv_flen)
#define COROLINK__FP_CLOBBERS                                                  \
    , "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10",      \
        "f11", "f12", "f13", "f14", "f15", "f16", "f17", "f18", "f19", "f20", \
        "f21", "f22", "f23", "f24", "f25", "f26", "f27", "f28", "f29", "f30", \
        "f31"
#else
#define COROLINK__FP_CLOBBERS
#endif

/* Registers the switch leaves undefined: every general register but sp,
 * gp, tp and s0 (a0-a3 carry values: operands), every floating-point
 * register. */
#define COROLINK__CLOBBERS                                                     \
    "ra", "t0", "t1", "t2", "s1", "a4", "a5", "a6", "a7", "s2", "s3", "s4",   \
        "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",   \
        "memory" COROLINK__FP_CLOBBERS

/* CFI inside the inline switch, as on x86-64. */
#if defined(__GCC_HAVE_DWARF2_CFI_ASM)
#define COROLINK__CFI(x) x "\n\t"
#else
#define COROLINK__CFI(x)
#endif

/* `s0 was saved at co->link_fp`: DW_CFA_expression(s0 = x8,
 * DW_OP_breg10(a0) + 0x40), a0 holding the control block. Bytes: 0x10
 * (DW_CFA_expression), 0x08 (x8), 3 (length), 0x7a (DW_OP_breg10),
 * 0xc0 0x00 (SLEB128 64: one byte 0x40 would be -64). */
#define COROLINK__CFI_FP_IN_LINK ".cfi_escape 0x10, 0x08, 0x03, 0x7a, 0xc0, 0x00"

/* Nonzero while a tracer has the resume or suspend probe enabled: the
 * word's address from the GOT (see x86-64), then the volatile word. */
#if defined(COROLINK_NO_PROBES)
#define corolink__probing() 0
#else
#define corolink__probing()                                                    \
    __extension__({                                                            \
        const volatile uint32_t *corolink__sem;                                \
        __asm__("1: auipc %0, %%got_pcrel_hi(corolink__probe_switch)\n\t"      \
                "ld %0, %%pcrel_lo(1b)(%0)"                                    \
                : "=r"(corolink__sem));                                        \
        *corolink__sem != 0;                                                   \
    })
#endif

COROLINK__INLINE_DEF int corolink_resume(corolink *co, void *input,
                                         void **output) {
    struct corolink__hot *h = (struct corolink__hot *)co;
    COROLINK__RESUME_ENTER(h, co, input, output, pc);

    register void *a3 __asm__("a3") = pc;
    register struct corolink__hot *a0 __asm__("a0") = h;
    register void *a1 __asm__("a1") = input;
    /* The command for a suspended body: 0 = go on (1 = unwind). */
    register uintptr_t a2 __asm__("a2") = 0;
    /* Resume: in a0 = control block, a3 = where to enter it (its old
     * co->pc), a1 = input, a2 = command. Out: a0 = control block, a1 =
     * value, a2 = status (COROLINK_YIELD, COROLINK_RETURN, COROLINK_TRAP,
     * or 4: the body threw). sp and s0 come back as they were; the
     * caller's rows stay valid (the only instruction is the call). */
    __asm__ volatile(
        /* Enter the coroutine. ra = the resumer's return address, which
         * the resume point records and the suspend's `ret` returns to;
         * rd = ra, rs1 = a3: the return-address stack pushes. */
        "jalr ra, 0(%3)"
        : "+r"(a0), "+r"(a1), "+r"(a2), "+r"(a3)
        :
        : COROLINK__CLOBBERS);
    COROLINK__RESUME_LEAVE(a0, a1, a2, output);
}

COROLINK__INLINE_DEF void *corolink_suspend(corolink_yielder *yielder,
                                            void *value) {
    struct corolink__hot *h = (struct corolink__hot *)yielder;
    register struct corolink__hot *a0 __asm__("a0") = h;
    register void *a1 __asm__("a1") = value;
    register uintptr_t a2 __asm__("a2") = COROLINK_YIELD;
    /* Suspend: in a0 = control block, a1 = value, a2 = status. Saves the
     * body's pc/sp/s0 in the control block and returns into the resumer;
     * the next resume `jalr`s label 1 with a0 = control block, a1 = input,
     * a2 = command. The 36 bytes before label 1 run with the body's sp and
     * s0 until `ld sp`: a suspended coroutine unwinds from co->pc - 36. */
    __asm__ volatile(
        ".option push\n\t"
        ".option norvc\n\t"             /* fixed sizes: 4-byte instructions */
        ".option norelax\n\t"           /* that the linker keeps as they are */
        COROLINK__CFI(".cfi_remember_state")
        /* Still the body's frame: the compiler's rows hold (the body saved
         * its own ra: the switch clobbers it). */
        "2: auipc a3, %%pcrel_hi(1f)\n\t"
        "addi a3, a3, %%pcrel_lo(2b)\n\t"
        "sd a3, 0(a0)\n\t"              /* co->pc = resume point: suspended */
        "sd sp, 8(a0)\n\t"              /* co->sp */
        "sd s0, 16(a0)\n\t"             /* co->fp */
        "ld ra, 0x48(a0)\n\t"           /* ra = link_ra */
        "ld sp, 0x50(a0)\n\t"           /* the resumer's stack */
        /* Now the resumer's callee that is about to return: CFA = sp, the
         * return address in ra, the resumer's s0 in co->link_fp (addressed
         * through a0); the other callee-saved registers hold what the
         * resumer may find (it declared them clobbered): same value. */
        COROLINK__CFI(".cfi_def_cfa sp, 0")
        COROLINK__CFI(".cfi_same_value ra")
        COROLINK__CFI(COROLINK__CFI_FP_IN_LINK)
        COROLINK__CFI(".cfi_same_value s1")
        COROLINK__CFI(".cfi_same_value s2")
        COROLINK__CFI(".cfi_same_value s3")
        COROLINK__CFI(".cfi_same_value s4")
        COROLINK__CFI(".cfi_same_value s5")
        COROLINK__CFI(".cfi_same_value s6")
        COROLINK__CFI(".cfi_same_value s7")
        COROLINK__CFI(".cfi_same_value s8")
        COROLINK__CFI(".cfi_same_value s9")
        COROLINK__CFI(".cfi_same_value s10")
        COROLINK__CFI(".cfi_same_value s11")
        COROLINK__CFI(".cfi_same_value f8")
        COROLINK__CFI(".cfi_same_value f9")
        COROLINK__CFI(".cfi_same_value f18")
        COROLINK__CFI(".cfi_same_value f19")
        COROLINK__CFI(".cfi_same_value f20")
        COROLINK__CFI(".cfi_same_value f21")
        COROLINK__CFI(".cfi_same_value f22")
        COROLINK__CFI(".cfi_same_value f23")
        COROLINK__CFI(".cfi_same_value f24")
        COROLINK__CFI(".cfi_same_value f25")
        COROLINK__CFI(".cfi_same_value f26")
        COROLINK__CFI(".cfi_same_value f27")
        "ld s0, 0x40(a0)\n\t"           /* the resumer's s0 */
        /* s0 is the resumer's again. */
        COROLINK__CFI(".cfi_same_value s0")
        "ret\n"                         /* into the resumer: a pop */
        /* Resume point, entered by the resume's `jalr ra` on the
         * resumer's stack: same rows as at the `ret` above. Record the
         * resumer in the link fields, then return to the body's stack. */
        "1:\n\t"
        "sd s0, 0x40(a0)\n\t"           /* link_fp */
        "sd ra, 0x48(a0)\n\t"           /* link_ra */
        "sd sp, 0x50(a0)\n\t"           /* link_sp */
        "ld s0, 16(a0)\n\t"             /* the body's s0 */
        /* s0 is the body's: the resumer's is found in co->link_fp. */
        COROLINK__CFI(COROLINK__CFI_FP_IN_LINK)
        "ld sp, 8(a0)\n\t"              /* the body's stack */
        /* Back in the body's frame with its own sp and s0. */
        COROLINK__CFI(".cfi_restore_state")
        ".option pop"
        : "+r"(a0), "+r"(a1), "+r"(a2)
        :
        : "a3", COROLINK__CLOBBERS);
    /* a2 = the resumer's command: nonzero only from
     * corolink_force_unwind(). */
    if (__builtin_expect(a2 != 0, 0))
        corolink__suspend_unwind(yielder);
    return a1;
}

#endif /* COROLINK__INLINE */

#endif /* COROLINK_RISCV64_LP64D_ELF_H */
