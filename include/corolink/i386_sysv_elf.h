/*
 * corolink/i386_sysv_elf.h - the i686 (x86 32-bit, System V i386 ABI, ELF)
 * target of corolink.h: the control block's hot fields and the inline
 * switch.
 *
 * Included by corolink.h; not to be included directly. The layout and the
 * register protocol below are the i386 ABI v2 (COROLINK_ABI_VERSION),
 * frozen into every object that inlines the switch; unwind-info/README.md
 * ("i686") documents them with the unwind rows of every instruction, and
 * unwind-info/i386_sysv_elf.S holds the trampoline and the out-of-line
 * switch that speak the same protocol. Only how it differs from x86-64 is
 * spelled out here:
 *  - 32-bit words: the hot fields are packed at 4-byte steps;
 *  - the status travels in edx, as on AArch64 (no flags protocol): the
 *    portable halves COROLINK__RESUME_ENTER/LEAVE do the checks in C;
 *  - there is no pc-relative addressing: the suspend takes its resume
 *    point's address, and the resume the probe word's GOT entry, from a
 *    pc thunk (`call` + `ret`: balanced for the return-stack predictor),
 *    defined below in a COMDAT group of every object that inlines;
 *  - callee-saved are ebx, esi, edi, ebp: the switch declares every
 *    register but esp and ebp clobbered, so the compiler saves the live
 *    ones of ebx, esi, edi (no floating-point or vector register is
 *    callee-saved on i386).
 */
#ifndef COROLINK_I386_SYSV_ELF_H
#define COROLINK_I386_SYSV_ELF_H

#ifndef COROLINK_H
#error "include <corolink.h>, not this header"
#endif

/* The first 0x40 bytes of every coroutine's control block. The body's
 * stack starts below the control block (the trampoline keeps its return
 * address at co - 8 and calls the body with esp = co - 32). */
struct corolink__hot {
    void *pc;                  /* 0x00 where the next resume jumps */
    void *sp;                  /* 0x04 the body's esp while suspended */
    void *fp;                  /* 0x08 the body's ebp while suspended */
    void *corolink__priv0;     /* 0x0c library-private */
    uint32_t finished;         /* 0x10 nonzero once finished (see above) */
    uint32_t flags;            /* 0x14 library-private */
    corolink_fn fn;            /* 0x18 body */
    void *arg;                 /* 0x1c body's argument */
    uint64_t id;               /* 0x20 corolink_id() */
    void *link_fp;             /* 0x28 resumer's ebp    } frame record for */
    void *link_ra;             /* 0x2c resumer's return } frame-pointer walks */
    void *link_sp;             /* 0x30 resumer's esp after the resume returns */
    void *corolink__priv[3];   /* 0x34 library-private */
};

#if defined(COROLINK__INLINE)

/* Registers the switch leaves undefined: every general register but esp
 * and ebp (eax, edx, esi and edi carry values: operands), the x87 stack,
 * the MMX and SSE registers, the flags. ebx is the GOT pointer of PIC
 * code: gcc (since 5) treats it as an ordinary register and reloads it. */
#if defined(__SSE__)
#define COROLINK__CLOBBERS_SSE                                                 \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
#else
#define COROLINK__CLOBBERS_SSE /* (code built without SSE has no xmm) */
#endif
#if defined(__MMX__)
#define COROLINK__CLOBBERS_MMX                                                 \
    "mm0", "mm1", "mm2", "mm3", "mm4", "mm5", "mm6", "mm7",
#else
#define COROLINK__CLOBBERS_MMX
#endif
#define COROLINK__CLOBBERS                                                     \
    "ebx", "ecx", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)",          \
        "st(6)", "st(7)", COROLINK__CLOBBERS_MMX COROLINK__CLOBBERS_SSE "cc", \
        "memory"

/* CFI inside the inline switch, as on x86-64. */
#if defined(__GCC_HAVE_DWARF2_CFI_ASM)
#define COROLINK__CFI(x) x "\n\t"
#else
#define COROLINK__CFI(x)
#endif

/* `ebp was saved at co->link_fp`: DW_CFA_expression(ebp, DW_OP_breg7(edi)
 * + 0x28), edi holding the control block. Bytes: 0x10 (DW_CFA_expression),
 * 5 (ebp), 2 (length), 0x77 (DW_OP_breg7), 0x28 (SLEB128 40). */
#define COROLINK__CFI_EBP_IN_LINK ".cfi_escape 0x10, 0x05, 0x02, 0x77, 0x28"

/* The resume point is the target of an indirect call: marked for
 * indirect-branch tracking when the code is built for CET. */
#if defined(__CET__) && (__CET__ & 1)
#define COROLINK__ENDBR "endbr32\n\t"
#else
#define COROLINK__ENDBR
#endif

/* The templates are AT&T syntax, as on x86-64 (see there). */
#define COROLINK__ATT_BEGIN "{|.att_syntax prefix\n\t}"
#define COROLINK__ATT_END "{|\n\t.intel_syntax noprefix}"

/* The pc thunk: eax = its return address. One hidden copy per module (a
 * COMDAT group: every object that inlines the switch defines it, the
 * linker keeps one), so that the call is direct in PIC and non-PIC code
 * alike. Its two instructions run under the CIE's rows (CFA = esp + 4,
 * return address at CFA - 4). */
__asm__(".pushsection .text.corolink__pc_thunk,\"axG\",@progbits,"
        "corolink__pc_thunk,comdat\n\t"
        ".globl corolink__pc_thunk\n\t"
        ".hidden corolink__pc_thunk\n\t"
        ".type corolink__pc_thunk, @function\n"
        "corolink__pc_thunk:\n\t"
        ".cfi_startproc\n\t"
        "movl (%esp), %eax\n\t"
        "ret\n\t"
        ".cfi_endproc\n\t"
        ".size corolink__pc_thunk, .-corolink__pc_thunk\n\t"
        ".popsection");

/* Nonzero while a tracer has the resume or suspend probe enabled: the
 * word's address from the GOT (never named in C: see x86-64), reached
 * through the pc thunk, then the volatile word. */
#if defined(COROLINK_NO_PROBES)
#define corolink__probing() 0
#else
#define corolink__probing()                                                    \
    __extension__({                                                            \
        const volatile uint32_t *corolink__sem;                                \
        __asm__(COROLINK__ATT_BEGIN                                            \
                "call corolink__pc_thunk\n\t"                                  \
                "addl $_GLOBAL_OFFSET_TABLE_, %%eax\n\t"                       \
                "movl corolink__probe_switch@GOT(%%eax), %%eax\n\t"            \
                COROLINK__ATT_END                                              \
                : "=a"(corolink__sem) : : "cc");                               \
        *corolink__sem != 0;                                                   \
    })
#endif

COROLINK__INLINE_DEF int corolink_resume(corolink *co, void *input,
                                         void **output) {
    struct corolink__hot *h = (struct corolink__hot *)co;
    COROLINK__RESUME_ENTER(h, co, input, output, pc);

    register void *eax __asm__("eax") = pc;
    register struct corolink__hot *edi __asm__("edi") = h;
    register void *esi __asm__("esi") = input;
    /* The command for a suspended body: 0 = go on (1 = unwind). */
    register uint32_t edx __asm__("edx") = 0;
    /* Resume: in edi = control block, eax = where to enter it (its old
     * co->pc), esi = input, edx = command. Out: edi = control block,
     * esi = value, edx = status (COROLINK_YIELD, COROLINK_RETURN,
     * COROLINK_TRAP, or 4: the body threw). esp and ebp come back as they
     * were; the caller's rows stay valid (the only instruction is the
     * call, whose pushed return address the suspend's `ret` pops). */
    __asm__ volatile(COROLINK__ATT_BEGIN
                     "call *%%eax\n\t"
                     COROLINK__ATT_END
                     : "+r"(edi), "+r"(esi), "+r"(edx), "+r"(eax)
                     :
                     : COROLINK__CLOBBERS);
    COROLINK__RESUME_LEAVE(edi, esi, edx, output);
}

COROLINK__INLINE_DEF void *corolink_suspend(corolink_yielder *yielder,
                                            void *value) {
    register struct corolink__hot *edi __asm__("edi") =
        (struct corolink__hot *)yielder;
    register void *esi __asm__("esi") = value;
    register uint32_t edx __asm__("edx") = COROLINK_YIELD;
    /* Suspend: in edi = control block, esi = value, edx = status. Saves
     * the body's eip/esp/ebp in the control block and returns into the
     * resumer; the next resume `call`s label 1 with edi = control block,
     * esi = input, edx = command. The 11 bytes before label 1 run with the
     * body's esp and ebp until `movl ..., %esp`: a suspended coroutine
     * unwinds from co->pc - 11. */
    __asm__ volatile(
        COROLINK__ATT_BEGIN
        COROLINK__CFI(".cfi_remember_state")
        /* Still the body's frame: the compiler's rows hold (the thunk's
         * call pushes below esp: i386 has no red zone). */
        "call corolink__pc_thunk\n"
        "2:\n\t"
        "addl $1f-2b, %%eax\n\t"         /* the resume point */
        "movl %%eax, 0x00(%%edi)\n\t"    /* co->pc: suspended */
        "movl %%esp, 0x04(%%edi)\n\t"    /* co->sp */
        "movl %%ebp, 0x08(%%edi)\n\t"    /* co->fp */
        "movl 0x30(%%edi), %%esp\n\t"    /* resumer's esp after its return */
        /* Now on the resumer's stack, as its callee that has returned:
         * CFA = esp + 0, eip at CFA - 4 (the return address is still
         * there; nothing runs on this stack between the resume point's
         * pop and this), the resumer's ebp in co->link_fp (addressed
         * through edi); ebx, esi, edi hold what the resumer may find (it
         * declared them clobbered or passed them): same value. */
        COROLINK__CFI(".cfi_def_cfa %%esp, 0")
        COROLINK__CFI(".cfi_offset %%eip, -4")
        COROLINK__CFI(COROLINK__CFI_EBP_IN_LINK)
        COROLINK__CFI(".cfi_same_value %%ebx")
        COROLINK__CFI(".cfi_same_value %%esi")
        COROLINK__CFI(".cfi_same_value %%edi")
        "leal -4(%%esp), %%esp\n\t"      /* at the return address */
        /* CFA = esp + 4, eip at CFA - 4. */
        COROLINK__CFI(".cfi_def_cfa_offset 4")
        "movl 0x28(%%edi), %%ebp\n\t"    /* resumer's ebp */
        /* ebp is the resumer's again. */
        COROLINK__CFI(".cfi_same_value %%ebp")
        "ret\n"                          /* into the resumer */
        /* Resume point, entered by the resume's `call` on the resumer's
         * stack: same rows as at the `ret` above (CFA = esp + 4). Record
         * the resumer in the link fields, then return to the body's
         * stack. */
        "1:\n\t"
        COROLINK__ENDBR
        "movl %%ebp, 0x28(%%edi)\n\t"    /* link_fp: resumer's ebp */
        "popl 0x2c(%%edi)\n\t"           /* link_ra: resumer's return address */
        /* CFA = esp + 0 (the resumer's esp after its call returns); the
         * return address stays at CFA - 4. */
        COROLINK__CFI(".cfi_def_cfa_offset 0")
        "movl %%esp, 0x30(%%edi)\n\t"    /* link_sp */
        "movl 0x08(%%edi), %%ebp\n\t"    /* the body's ebp */
        /* ebp is the body's: the resumer's is found in co->link_fp. */
        COROLINK__CFI(COROLINK__CFI_EBP_IN_LINK)
        "movl 0x04(%%edi), %%esp\n\t"    /* the body's stack */
        /* Back in the body's frame with its own esp and ebp. */
        COROLINK__CFI(".cfi_restore_state")
        COROLINK__ATT_END
        : "+r"(edi), "+r"(esi), "+r"(edx)
        :
        : "eax", COROLINK__CLOBBERS);
    /* edx = the resumer's command: nonzero only from
     * corolink_force_unwind(). */
    if (__builtin_expect(edx != 0, 0))
        corolink__suspend_unwind(yielder);
    return esi;
}

#endif /* COROLINK__INLINE */

#endif /* COROLINK_I386_SYSV_ELF_H */
