/*
 * corolink/x86_64_sysv_elf.h - the x86-64 System V (ELF) target of
 * corolink.h: the control block's hot fields and the inline switch.
 *
 * Included by corolink.h; not to be included directly. The layout and the
 * register protocol below are ABI v2 (COROLINK_ABI_VERSION), frozen into
 * every object that inlines the switch; unwind-info/README.md ("x86-64
 * System V") documents them with the unwind rows of every instruction,
 * and unwind-info/x86_64_sysv_elf.S holds the trampoline and the
 * out-of-line switch that speak the same protocol.
 */
#ifndef COROLINK_X86_64_SYSV_ELF_H
#define COROLINK_X86_64_SYSV_ELF_H

#ifndef COROLINK_H
#error "include <corolink.h>, not this header"
#endif

/* The first 0xb0 bytes of every coroutine's control block. The control
 * block's address is also the stack pointer at which the body is called,
 * and the `link_*` fields sit where a Linux x86-64 ucontext_t keeps rbp
 * (0x78), rsp (0xa0) and rip (0xa8): see unwind-info/README.md. */
struct corolink__hot {
    void *pc;                  /* 0x00 where the next resume jumps */
    void *sp;                  /* 0x08 the body's rsp while suspended */
    void *fp;                  /* 0x10 the body's rbp while suspended */
    void *corolink__priv0;     /* 0x18 library-private */
    uint32_t finished;         /* 0x20 nonzero once finished (see above) */
    uint32_t flags;            /* 0x24 library-private */
    corolink_fn fn;            /* 0x28 body */
    void *arg;                 /* 0x30 body's argument */
    uint64_t id;               /* 0x38 corolink_id() */
    void *corolink__priv[7];   /* 0x40 library-private */
    void *link_fp;             /* 0x78 resumer's rbp    } frame record for */
    void *link_ra;             /* 0x80 resumer's return } frame-pointer walks */
    void *corolink__priv2[3];  /* 0x88 library-private */
    void *link_sp;             /* 0xa0 resumer's rsp after the resume returns */
    void *link_ip;             /* 0xa8 0 (ucontext rip slot, see unwind-info) */
};

#if defined(COROLINK__INLINE)

/* Registers the switch leaves undefined: everything but rsp and rbp (rax,
 * rdi, rsi and rdx carry values: operands, or listed where they are not). The compiler then
 * saves exactly the registers that are live across the switch. */
#if defined(__AVX512F__)
#define COROLINK__CLOBBERS_AVX512                                              \
    , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", \
        "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30",        \
        "xmm31", "k1", "k2", "k3", "k4", "k5", "k6", "k7"
#else
#define COROLINK__CLOBBERS_AVX512
#endif
#define COROLINK__CLOBBERS                                                     \
    "rbx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",  \
        "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",         \
        "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",   \
        "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)",    \
        "cc", "memory" COROLINK__CLOBBERS_AVX512

/* CFI inside the inline switch. Emitted only when the compiler itself
 * describes frames with .cfi directives; each line says what the unwinder
 * computes at the instructions that follow it. */
#if defined(__GCC_HAVE_DWARF2_CFI_ASM)
#define COROLINK__CFI(x) x "\n\t"
#else
#define COROLINK__CFI(x)
#endif

/* `rbp was saved at co->link_fp`: DW_CFA_expression(rbp,
 * DW_OP_breg5(rdi) + 0x78), rdi holding the control block. Bytes: 0x10
 * (DW_CFA_expression), 6 (rbp), 3 (length), 0x75 (DW_OP_breg5), 0xf8 0x00
 * (SLEB128 120 = 0x78). */
#define COROLINK__CFI_RBP_IN_LINK ".cfi_escape 0x10, 0x06, 0x03, 0x75, 0xf8, 0x00"

/* The resume point is the target of an indirect call: mark it for
 * indirect-branch tracking when the code is built for CET. */
#if defined(__CET__) && (__CET__ & 1)
#define COROLINK__ENDBR "endbr64\n\t"
#else
#define COROLINK__ENDBR
#endif

/* The templates are AT&T syntax; code built with -masm=intel switches the
 * assembler to AT&T for the switch and back (GNU asm dialect alternatives:
 * {AT&T text|Intel text}). No operand is substituted inside them, so the
 * dialect the compiler prints operands in does not matter. */
#define COROLINK__ATT_BEGIN "{|.att_syntax prefix\n\t}"
#define COROLINK__ATT_END "{|\n\t.intel_syntax noprefix}"


/* The gate of the inline resume (three instructions, no register kept
 * but rax): sends to the traced resume both co == NULL and every resume
 * while a tracer or the library watches. It compares co (in rdi) with the
 * exported 64-bit word corolink__probe_gate, read through the GOT: while
 * nobody watches the word is 0, and only co == NULL is <= it; the resume
 * and suspend probes' shared semaphore is its top 16 bits (tracers add 1
 * to bits 48-55, the library's holders 1 to bits 56-63), so while it is
 * nonzero the word is >= 2^48, above every user-space address of a 4-level
 * page table, and every resume goes slow. (A coroutine placed above 2^48,
 * which only a 5-level page table and an explicit mmap hint give, always
 * takes the traced resume: slower, never wrong.) The word is never named
 * in C: a direct reference from an executable would copy it there (a copy
 * relocation), where the tracers' increments in the library's copy never
 * show. With COROLINK_NO_PROBES the gate only tests co for NULL. */
#if defined(COROLINK_NO_PROBES)
#define COROLINK__GATE                                                         \
    "testq %%rdi, %%rdi\n\t"                                                   \
    "jz %l[corolink__slow]\n\t"
#else
#define COROLINK__GATE                                                         \
    "movq corolink__probe_gate@GOTPCREL(%%rip), %%rax\n\t"                     \
    "cmpq (%%rax), %%rdi\n\t"                                                  \
    "jbe %l[corolink__slow]\n\t"
#endif

/* Immediates as bytes: clang's -masm=intel parse of inline assembly
 * rejects an AT&T immediate even inside the AT&T alternative. */
#define COROLINK__MOVQ_0_RDI ".byte 0x48, 0xc7, 0x07, 0, 0, 0, 0\n\t" /* movq $0, (%rdi) */
#define COROLINK__SUBQ_8_RSP ".byte 0x48, 0x83, 0xec, 0x08\n\t"       /* subq $8, %rsp */

/* The switch's operands. The switch hands rdi back unchanged; gcc is told
 * it may have changed ("+r"): in the resume that lets it use the returned
 * rdi instead of keeping co elsewhere (co's home may be memory the switch
 * could have written), in the suspend it measured faster (see there).
 * clang is told it is an input only, because clang needs one more free
 * register for the flag output than "+r" leaves it when the frame pointer
 * is reserved. */
#if defined(__clang__)
#define COROLINK__RESUME_OPERANDS(rdi, rsi, edx, zf)                           \
    : "+r"(rsi), "=r"(edx), "=@ccz"(zf) : "r"(rdi)
#define COROLINK__SUSPEND_OPERANDS(rdi, rsi, cf)                               \
    : "+r"(rsi), "=@ccc"(cf) : "r"(rdi)
#else
#define COROLINK__RESUME_OPERANDS(rdi, rsi, edx, zf)                           \
    : "+r"(rdi), "+r"(rsi), "=r"(edx), "=@ccz"(zf) :
#define COROLINK__SUSPEND_OPERANDS(rdi, rsi, cf)                               \
    : "+r"(rsi), "=@ccc"(cf), "+r"(rdi) :
#endif

COROLINK__INLINE_DEF int corolink_resume(corolink *co, void *input,
                                         void **output) {
    register struct corolink__hot *rdi __asm__("rdi") =
        (struct corolink__hot *)co;
    /* co NULL, or a tracer / timestamps / a tool: the traced resume. */
    __asm__ goto(COROLINK__ATT_BEGIN COROLINK__GATE COROLINK__ATT_END
                 : : "r"(rdi) : "rax", "cc" : corolink__slow);
    {
        register void *rsi __asm__("rsi") = input;
        register uint32_t edx __asm__("rdx");
        int not_yield;
        /* Resume (ABI v2): in rdi = control block, rsi = input, CF = the
         * command for a suspended body (0 = go on; 1 = unwind, sent only
         * by corolink_force_unwind(), through the library's resume).
         * Out: rdi = control block (unchanged), and ZF = 0: the body yielded, rsi =
         * value; ZF = 1: edx = COROLINK_RETURN (rsi = return value),
         * COROLINK_TRAP, or 4: the body threw (the exception waits in the
         * control block), or 5: co was not resumable (corolink__busy). The
         * caller's unwind rows stay valid: the only
         * instruction that leaves this frame is the call, and the code at
         * co->pc describes itself. */
        __asm__ volatile(
            COROLINK__ATT_BEGIN
            "movq (%%rdi), %%rax\n\t"     /* where to enter co */
            "testq %%rax, %%rax\n\t"      /* CF = 0: the command "go on" */
            /* pc NULL (running or finished): enter the library's
             * corolink__busy instead, which returns ZF = 1, edx = 5. */
            "cmovzq corolink__busy@GOTPCREL(%%rip), %%rax\n\t"
            COROLINK__MOVQ_0_RDI          /* co->pc = NULL: running */
            /* Enter the coroutine. The pushed return address is the
             * resumer's link; the `ret` of the suspend that comes back
             * pops it. */
            "call *%%rax\n\t"
            COROLINK__ATT_END
            COROLINK__RESUME_OPERANDS(rdi, rsi, edx, not_yield)
            : "rax", COROLINK__CLOBBERS);
        /* The status needs no test on the yield path: it returns the
         * constant, which the compiler folds into the caller's own test of
         * the result (its `rc == COROLINK_YIELD` becomes the switch's
         * `jne`/`je` on ZF). */
        if (__builtin_expect(!not_yield, 1)) {
            if (output)
                *output = rsi;
            return COROLINK_YIELD;
        }
        if (__builtin_expect(edx > (uint32_t)COROLINK_TRAP, 0)) {
            /* 4: the body threw: re-raised from a real call (the switch
             * has no entry in the caller's call-site table). The control
             * block comes back in rdi: co itself need not live across the
             * switch. */
            if (edx == 4)
                corolink__resume_throw((corolink *)rdi);
            /* 5: not resumable. A real call, never a tail call: it keeps
             * every function that contains a resume a non-leaf, so that
             * the compiler never keeps data in the red zone below rsp,
             * where the switch's `call` writes. */
            return corolink__resume_error((corolink *)rdi, output);
        }
        if (output)
            *output = rsi;
        return (int)edx;
    }
corolink__slow:
    return corolink__resume_traced(co, input, output);
}

COROLINK__INLINE_DEF void *corolink_suspend(corolink_yielder *yielder,
                                            void *value) {
    register struct corolink__hot *rdi __asm__("rdi") =
        (struct corolink__hot *)yielder;
    register void *rsi __asm__("rsi") = value;
    int unwind;
    /* Suspend (ABI v2): in rdi = control block, rsi = value. Saves the
     * body's rip/rsp/rbp in the control block and returns into the
     * resumer with ZF = 0 (yielded) and rdi, rsi unchanged; the next
     * resume `call`s label 1 with rdi = control block, rsi = input and
     * CF = its command, which comes out here unchanged (only moves run in
     * between). rdi comes back holding the control block, but is declared
     * changed: kept there as an input only, gcc makes the body's next
     * switch wait for the resumer's reload of it, and the round trip took
     * 5% longer on the bench machine than with the copy it then keeps in
     * a preserved register (one more instruction: see bench/README.md). */
    __asm__ volatile(
        COROLINK__ATT_BEGIN
        COROLINK__CFI(".cfi_remember_state")
        /* Still the body's frame: the compiler's rows hold. */
        "leaq 1f(%%rip), %%rax\n\t"
        "movq %%rax, 0x00(%%rdi)\n\t"   /* co->pc = resume point: suspended */
        "movq %%rsp, 0x08(%%rdi)\n\t"   /* co->sp */
        "movq %%rbp, 0x10(%%rdi)\n\t"   /* co->fp */
        "movq 0xa0(%%rdi), %%rsp\n\t"   /* resumer's rsp after its return */
        /* Now on the resumer's stack, as its callee that has returned:
         * CFA = rsp + 0, rip at CFA - 8 (the return address is still
         * there, in the resumer's red zone); the resumer's rbp is still in
         * co->link_fp (addressed through rdi); the other callee-saved
         * registers hold what the resumer may find (it declared them
         * clobbered), so: same value. */
        COROLINK__CFI(".cfi_def_cfa %%rsp, 0")
        COROLINK__CFI(".cfi_offset %%rip, -8")
        COROLINK__CFI(COROLINK__CFI_RBP_IN_LINK)
        COROLINK__CFI(".cfi_same_value %%rbx")
        COROLINK__CFI(".cfi_same_value %%r12")
        COROLINK__CFI(".cfi_same_value %%r13")
        COROLINK__CFI(".cfi_same_value %%r14")
        COROLINK__CFI(".cfi_same_value %%r15")
        /* At the return address; rsp is not 0, so ZF = 0: "yielded". */
        COROLINK__SUBQ_8_RSP
        /* CFA = rsp + 8, rip at CFA - 8. */
        COROLINK__CFI(".cfi_def_cfa_offset 8")
        "movq 0x78(%%rdi), %%rbp\n\t"   /* resumer's rbp */
        /* rbp is the resumer's again. */
        COROLINK__CFI(".cfi_same_value %%rbp")
        "ret\n"                          /* into the resumer */
        /* Resume point, entered by the resume's `call` on the resumer's
         * stack: same rows as at the `ret` above (CFA = rsp + 8, everything
         * else unchanged). Record the resumer in the link fields, then
         * return to the body's stack. No instruction here changes the
         * flags: CF is the resumer's command. */
        "1:\n\t"
        COROLINK__ENDBR
        "movq %%rbp, 0x78(%%rdi)\n\t"   /* link_fp: resumer's rbp */
        "popq 0x80(%%rdi)\n\t"          /* link_ra: resumer's return address */
        /* rsp is the resumer's rsp after its resume returns (the CFA); the
         * return address stays at CFA - 8, in the resumer's red zone, which
         * signal delivery leaves alone: CFA = rsp + 0, rip at CFA - 8. */
        COROLINK__CFI(".cfi_def_cfa_offset 0")
        "movq %%rsp, 0xa0(%%rdi)\n\t"   /* link_sp: resumer's rsp after return */
        "movq 0x10(%%rdi), %%rbp\n\t"   /* the body's rbp */
        /* rbp is the body's: the resumer's is found in co->link_fp. */
        COROLINK__CFI(COROLINK__CFI_RBP_IN_LINK)
        "movq 0x08(%%rdi), %%rsp\n\t"   /* the body's stack */
        /* Back in the body's frame with its own rsp and rbp. */
        COROLINK__CFI(".cfi_restore_state")
        COROLINK__ATT_END
        COROLINK__SUSPEND_OPERANDS(rdi, rsi, unwind)
        : "rax", "rdx", COROLINK__CLOBBERS);
    /* CF = the resumer's command: set only by corolink_force_unwind(). The
     * forced unwind starts from this real call, so that this frame's
     * cleanups run. */
    if (__builtin_expect(unwind, 0))
        corolink__suspend_unwind(yielder);
    return rsi;
}

#endif /* COROLINK__INLINE */

#endif /* COROLINK_X86_64_SYSV_ELF_H */
