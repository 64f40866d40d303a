/*
 * corolink/x86_64_sysv_elf.h - the x86-64 System V (ELF) target of
 * corolink.h: the control block's hot fields and the inline switch.
 *
 * Included by corolink.h; not to be included directly. The layout and the
 * register protocol below are ABI v1 (COROLINK_ABI_VERSION), frozen into
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


/* Nonzero while a tracer has the resume or suspend probe enabled: loads the
 * word's address from the GOT and compares the word (tracers change it at
 * any time) with 0 in place, branching straight to the traced path (asm
 * goto: three instructions, no register kept). */
#if defined(COROLINK_NO_PROBES)
#define corolink__probing() 0
#else
#define corolink__probing()                                                    \
    __extension__({                                                            \
        __label__ corolink__traced;                                            \
        int corolink__on = 0;                                                  \
        __asm__ goto(COROLINK__ATT_BEGIN                                       \
                "movq corolink__probe_switch@GOTPCREL(%%rip), %%rax\n\t"       \
                /* cmpl $0, (%rax), as bytes: clang's -masm=intel parse   \
                 * of inline asm rejects an AT&T immediate */               \
                ".byte 0x83, 0x38, 0x00\n\t"                                   \
                "jne %l[corolink__traced]\n\t"                                 \
                COROLINK__ATT_END                                              \
                : : : "rax", "cc" : corolink__traced);                         \
        if (0) {                                                               \
        corolink__traced:                                                      \
            corolink__on = 1;                                                  \
        }                                                                      \
        corolink__on;                                                          \
    })
#endif


COROLINK__INLINE_DEF int corolink_resume(corolink *co, void *input,
                                         void **output) {
    struct corolink__hot *h = (struct corolink__hot *)co;
    /* The checks; a tracer or timestamps take the traced resume (a real
     * call, so this function stays a non-leaf as well). */
    COROLINK__RESUME_ENTER(h, co, input, output, pc);

    register void *rax __asm__("rax") = pc;
    register struct corolink__hot *rdi __asm__("rdi") = h;
    register void *rsi __asm__("rsi") = input;
    /* The command for a suspended body: 0 = go on (1 = unwind, sent only by
     * corolink_force_unwind()). */
    register uintptr_t rdx __asm__("rdx") = 0;
    /* Resume: in rdi = control block, rax = where to enter it (its old
     * co->pc), rsi = input, edx = 0. Out: rsi = value, edx = COROLINK_YIELD,
     * COROLINK_RETURN, COROLINK_TRAP, or 4: the body threw (the exception
     * waits in the control block). The caller's unwind rows stay valid: the
     * only instruction is the call, and the code at co->pc describes
     * itself. */
    __asm__ volatile(
        COROLINK__ATT_BEGIN
        /* Enter the coroutine. The pushed return address is the resumer's
         * link; it is popped by the `ret` of the suspend that comes back. */
        "call *%%rax\n\t"
        COROLINK__ATT_END
        : "+r"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx)
        :
        : COROLINK__CLOBBERS);
    /* The switch hands the control block back in rdi: using it rather
     * than `co` keeps `co` from having to live across the switch (in rbp,
     * the one register it preserves, which the caller's loop would rather
     * use). */
    COROLINK__RESUME_LEAVE(rdi, rsi, rdx, output);
}

COROLINK__INLINE_DEF void *corolink_suspend(corolink_yielder *yielder,
                                            void *value) {
    struct corolink__hot *h = (struct corolink__hot *)yielder;
    register struct corolink__hot *rdi __asm__("rdi") = h;
    register void *rsi __asm__("rsi") = value;
    /* The resumer's status, COROLINK_YIELD; loaded by the compiler so that
     * the template holds no immediate. */
    register uintptr_t rdx __asm__("rdx") = COROLINK_YIELD;
    /* Suspend: in rdi = control block, rsi = value, edx = status. Saves the
     * body's rip/rsp/rbp in the control block and returns into the resumer; the
     * next resume `call`s label 1 with rdi = control block, rsi = input,
     * edx = command. */
    __asm__ volatile(
        COROLINK__ATT_BEGIN
        COROLINK__CFI(".cfi_remember_state")
        /* Still the body's frame: the compiler's rows hold. */
        "leaq 1f(%%rip), %%rax\n\t"
        "movq %%rax, 0x00(%%rdi)\n\t"   /* co->pc = resume point: suspended */
        "movq %%rsp, 0x08(%%rdi)\n\t"   /* co->sp */
        "movq %%rbp, 0x10(%%rdi)\n\t"   /* co->fp */
        "movq 0xa0(%%rdi), %%rax\n\t"
        "leaq -8(%%rax), %%rsp\n\t"     /* rsp = resumer's return address */
        /* Now on the resumer's stack, at its return address: this is the
         * resumer's callee. CFA = rsp + 8; rip at CFA - 8; the resumer's
         * rbp is still in co->link_fp (addressed through rdi); the other
         * callee-saved registers hold what the resumer may find (it
         * declared them clobbered), so: same value. */
        COROLINK__CFI(".cfi_def_cfa %%rsp, 8")
        COROLINK__CFI(".cfi_offset %%rip, -8")
        COROLINK__CFI(COROLINK__CFI_RBP_IN_LINK)
        COROLINK__CFI(".cfi_same_value %%rbx")
        COROLINK__CFI(".cfi_same_value %%r12")
        COROLINK__CFI(".cfi_same_value %%r13")
        COROLINK__CFI(".cfi_same_value %%r14")
        COROLINK__CFI(".cfi_same_value %%r15")
        "movq 0x78(%%rdi), %%rbp\n\t"   /* resumer's rbp */
        /* rbp is the resumer's again. */
        COROLINK__CFI(".cfi_same_value %%rbp")
        "ret\n"                          /* into the resumer */
        /* Resume point, entered by the resume's `call` on the resumer's
         * stack: same rows as at the `ret` above (CFA = rsp + 8, everything
         * else unchanged). Record the resumer in the link fields, then
         * return to the body's stack. */
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
        : "+r"(rdi), "+r"(rsi), "+r"(rdx)
        :
        : "rax", COROLINK__CLOBBERS);
    /* edx = the resumer's command: nonzero only from
     * corolink_force_unwind(). The forced unwind starts from this real
     * call, so that this frame's cleanups run. */
    if (__builtin_expect(rdx != 0, 0))
        corolink__suspend_unwind(yielder);
    return rsi;
}

#endif /* COROLINK__INLINE */

#endif /* COROLINK_X86_64_SYSV_ELF_H */
