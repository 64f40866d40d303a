/*
 * corolink/x86_64_win64_pe.h - the Windows x64 target of corolink.h
 * (Microsoft x64 calling convention, PE/COFF, SEH unwind records; built
 * with mingw-w64): the control block's hot fields and the inline switch.
 *
 * Included by corolink.h; not to be included directly. The layout and the
 * register protocol below are the Windows x64 ABI v2 (COROLINK_ABI_VERSION; unchanged since v1),
 * frozen into every object that inlines the switch; unwind-info/README.md
 * ("Windows x64") documents them with the SEH unwind codes, and
 * unwind-info/x86_64_win64_pe.S holds the trampoline and the out-of-line
 * switch that speak the same protocol. Only how it differs from x86-64
 * System V is spelled out here:
 *
 *  - Registers: the Microsoft ABI passes arguments in rcx, rdx, r8, r9, so
 *    the switch carries the control block in rcx, the value in rdx and the
 *    status or command in r8 (System V: rdi, rsi, rdx). Callee-saved are
 *    rbx, rbp, rdi, rsi, r12-r15 and xmm6-xmm15; the switch keeps rsp and
 *    rbp and declares everything else clobbered, so the compiler saves
 *    only the live ones, as on Linux.
 *  - The Thread Environment Block describes the running stack:
 *    StackBase (gs:0x08), StackLimit (gs:0x10), DeallocationStack
 *    (gs:0x1478) and GuaranteedStackBytes (gs:0x1748). The system's
 *    stack growth and STATUS_STACK_OVERFLOW read all four; exception
 *    dispatch and every stack walker (RtlCaptureStackBackTrace, debuggers)
 *    stop at the first frame outside [StackLimit, StackBase]. So a resume
 *    sets DeallocationStack and GuaranteedStackBytes to the coroutine's
 *    own (swapping them with the block's copy) and widens [StackLimit,
 *    StackBase] to span the coroutine's stack as well as every stack of
 *    the chain that resumed it (their union: the resumer's values, saved
 *    in the block, and the coroutine's own); the switch back restores the
 *    resumer's. Walks then follow the links from a coroutine into its
 *    resumers down to the thread's main; exceptions still stop at the
 *    coroutine's root, which catches them (see unwind-info/README.md). It
 *    swaps the TEB's ExceptionList (gs:0x00) as well: unused by 64-bit
 *    Windows, but wine keeps its own handler frames of the thread's stack
 *    there and calls them for any frame that lies above them in memory
 *    (which a coroutine stack may), so a coroutine gets an empty list
 *    (-1) while it runs.
 *  - link_sp is the address of the resumer's return address (its rsp on
 *    entry to the resume point), not the rsp after the return: the SEH
 *    unwind codes of the trampoline restore rsp from it and then pop the
 *    return address, as every Windows unwind ends.
 *  - No red zone: nothing is ever read below rsp.
 */
#ifndef COROLINK_X86_64_WIN64_PE_H
#define COROLINK_X86_64_WIN64_PE_H

#ifndef COROLINK_H
#error "include <corolink.h>, not this header"
#endif

/* The first 0x90 bytes of every coroutine's control block; the first 0x40
 * are laid out as on every target. The body is called with rsp = co - 32
 * (its 32 bytes of shadow space are the top of the stack). */
struct corolink__hot {
    void *pc;                  /* 0x00 where the next resume jumps */
    void *sp;                  /* 0x08 the body's rsp while suspended */
    void *fp;                  /* 0x10 the body's rbp while suspended */
    void *corolink__priv0;     /* 0x18 library-private */
    uint32_t finished;         /* 0x20 nonzero once finished */
    uint32_t flags;            /* 0x24 library-private */
    corolink_fn fn;            /* 0x28 body */
    void *arg;                 /* 0x30 body's argument */
    uint64_t id;               /* 0x38 corolink_id() */
    void *link_fp;             /* 0x40 resumer's rbp    } frame record */
    void *link_ra;             /* 0x48 resumer's return } */
    void *link_sp;             /* 0x50 &resumer's return address */
    /* The TEB (see above). While the coroutine runs: */
    void *teb_saved_base;      /* 0x58 the resumer's StackBase */
    void *teb_saved_limit;     /* 0x60 the resumer's StackLimit */
    /* Swapped on every switch: the coroutine's own while it does not run,
     * the resumer's while it does. */
    void *teb_dealloc;         /* 0x68 DeallocationStack */
    uint32_t teb_guarantee;    /* 0x70 GuaranteedStackBytes */
    uint32_t corolink__priv1;  /* 0x74 library-private */
    void *teb_exception_list;  /* 0x78 ExceptionList */
    /* The coroutine's own stack bounds. */
    void *teb_stack_base;      /* 0x80 StackBase: the region's end */
    void *teb_stack_limit;     /* 0x88 StackLimit: its lowest committed byte */
};

#if defined(COROLINK__INLINE)

/* Registers the switch leaves undefined: everything but rsp and rbp (rax,
 * rcx, rdx and r8 carry values: operands). */
#if defined(__AVX512F__)
#define COROLINK__CLOBBERS_AVX512                                              \
    , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", \
        "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30",        \
        "xmm31", "k1", "k2", "k3", "k4", "k5", "k6", "k7"
#else
#define COROLINK__CLOBBERS_AVX512
#endif
#define COROLINK__CLOBBERS                                                     \
    "rbx", "rsi", "rdi", "r9", "r10", "r11", "r12", "r13", "r14", "r15",      \
        "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",         \
        "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",   \
        "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)",    \
        "cc", "memory" COROLINK__CLOBBERS_AVX512

/* AT&T syntax inside the templates whatever -masm says (see the System V
 * header). */
#define COROLINK__ATT_BEGIN "{|.att_syntax prefix\n\t}"
#define COROLINK__ATT_END "{|\n\t.intel_syntax noprefix}"

/* The TEB as the switch leaves it (rcx = control block; scratch: rax,
 * r9, r10, r11). Entering the coroutine: the resumer's StackBase and
 * StackLimit saved, the union of theirs and the coroutine's own installed
 * (unsigned max and min), DeallocationStack, GuaranteedStackBytes and
 * ExceptionList swapped with the block's copy. */
#define COROLINK__TEB_SWAP3                                                    \
    "movq %%gs:0x1478, %%rax\n\t"     /* DeallocationStack */                  \
    "movl %%gs:0x1748, %%r9d\n\t"     /* GuaranteedStackBytes */               \
    "movq 0x68(%%rcx), %%r10\n\t"                                              \
    "movl 0x70(%%rcx), %%r11d\n\t"                                             \
    "movq %%r10, %%gs:0x1478\n\t"                                              \
    "movl %%r11d, %%gs:0x1748\n\t"                                             \
    "movq %%rax, 0x68(%%rcx)\n\t"                                              \
    "movl %%r9d, 0x70(%%rcx)\n\t"                                              \
    "movq %%gs:0x00, %%rax\n\t"       /* ExceptionList */                      \
    "movq 0x78(%%rcx), %%r9\n\t"                                               \
    "movq %%r9, %%gs:0x00\n\t"                                                 \
    "movq %%rax, 0x78(%%rcx)\n\t"
#define COROLINK__TEB_ENTER                                                    \
    "movq %%gs:0x08, %%rax\n\t"       /* the resumer's StackBase */            \
    "movq %%gs:0x10, %%r9\n\t"        /* and StackLimit */                     \
    "movq %%rax, 0x58(%%rcx)\n\t"                                              \
    "movq %%r9, 0x60(%%rcx)\n\t"                                               \
    "movq 0x80(%%rcx), %%r10\n\t"     /* the coroutine's own */                \
    "movq 0x88(%%rcx), %%r11\n\t"                                              \
    "cmpq %%r10, %%rax\n\t"                                                    \
    "cmovbq %%r10, %%rax\n\t"         /* StackBase: the higher */              \
    "cmpq %%r11, %%r9\n\t"                                                     \
    "cmovaq %%r11, %%r9\n\t"          /* StackLimit: the lower */              \
    "movq %%rax, %%gs:0x08\n\t"                                                \
    "movq %%r9, %%gs:0x10\n\t"                                                 \
    COROLINK__TEB_SWAP3
/* Leaving it: the resumer's StackBase and StackLimit back, the three
 * others swapped back. */
#define COROLINK__TEB_LEAVE                                                    \
    "movq 0x58(%%rcx), %%rax\n\t"                                              \
    "movq 0x60(%%rcx), %%r9\n\t"                                               \
    "movq %%rax, %%gs:0x08\n\t"                                                \
    "movq %%r9, %%gs:0x10\n\t"                                                 \
    COROLINK__TEB_SWAP3

/* No USDT probes on Windows: the inline resume never takes the traced
 * path. */
#define corolink__probing() 0

COROLINK__INLINE_DEF int corolink_resume(corolink *co, void *input,
                                         void **output) {
    struct corolink__hot *h = (struct corolink__hot *)co;
    COROLINK__RESUME_ENTER(h, co, input, output, pc);

    register void *rax __asm__("rax") = pc;
    register struct corolink__hot *rcx __asm__("rcx") = h;
    register void *rdx __asm__("rdx") = input;
    /* The command for a suspended body: 0 = go on. */
    register uintptr_t r8 __asm__("r8") = 0;
    /* Resume: in rcx = control block, rax = where to enter it, rdx = input,
     * r8 = 0. Out: rcx = control block, rdx = value, r8d = COROLINK_YIELD,
     * COROLINK_RETURN, COROLINK_TRAP or 4 (the body threw). */
    __asm__ volatile(
        COROLINK__ATT_BEGIN
        "call *%%rax\n\t"
        COROLINK__ATT_END
        : "+r"(rax), "+r"(rcx), "+r"(rdx), "+r"(r8)
        :
        : COROLINK__CLOBBERS);
    COROLINK__RESUME_LEAVE(rcx, rdx, r8, output);
}

COROLINK__INLINE_DEF void *corolink_suspend(corolink_yielder *yielder,
                                            void *value) {
    struct corolink__hot *h = (struct corolink__hot *)yielder;
    register struct corolink__hot *rcx __asm__("rcx") = h;
    register void *rdx __asm__("rdx") = value;
    register uintptr_t r8 __asm__("r8") = COROLINK_YIELD;
    /* Suspend: in rcx = control block, rdx = value, r8 = status. Saves the
     * body's rip/rsp/rbp, gives the TEB back to the resumer and returns
     * into it; the next resume `call`s label 1 with rcx = control block,
     * rdx = input, r8 = command. */
    __asm__ volatile(
        COROLINK__ATT_BEGIN
        "leaq 1f(%%rip), %%rax\n\t"
        "movq %%rax, 0x00(%%rcx)\n\t"   /* co->pc = resume point: suspended */
        "movq %%rsp, 0x08(%%rcx)\n\t"   /* co->sp */
        "movq %%rbp, 0x10(%%rcx)\n\t"   /* co->fp */
        COROLINK__TEB_LEAVE             /* the TEB: the resumer's again */
        "movq 0x50(%%rcx), %%rsp\n\t"   /* at the resumer's return address */
        "movq 0x40(%%rcx), %%rbp\n\t"   /* resumer's rbp */
        "ret\n"                          /* into the resumer */
        /* Resume point, entered by the resume's `call` on the resumer's
         * stack. Record the resumer, take the TEB, go back to the body. */
        "1:\n\t"
        "movq %%rbp, 0x40(%%rcx)\n\t"   /* link_fp */
        "movq (%%rsp), %%rax\n\t"
        "movq %%rax, 0x48(%%rcx)\n\t"   /* link_ra */
        "movq %%rsp, 0x50(%%rcx)\n\t"   /* link_sp: &return address */
        COROLINK__TEB_ENTER             /* the TEB: the body's stack too */
        "movq 0x10(%%rcx), %%rbp\n\t"   /* the body's rbp */
        "movq 0x08(%%rcx), %%rsp\n\t"   /* the body's stack */
        COROLINK__ATT_END
        : "+r"(rcx), "+r"(rdx), "+r"(r8)
        :
        : "rax", COROLINK__CLOBBERS);
    /* r8 = the resumer's command: nonzero only from
     * corolink_force_unwind(). */
    if (__builtin_expect(r8 != 0, 0))
        corolink__suspend_unwind(yielder);
    return rdx;
}

#endif /* COROLINK__INLINE */

#endif /* COROLINK_X86_64_WIN64_PE_H */
