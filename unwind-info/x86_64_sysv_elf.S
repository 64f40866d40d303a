/*
 * x86-64 System V, ELF, GNU as: the root frame of every coroutine stack
 * (corolink__trampoline) and the stack-switching call (corolink__call_on).
 *
 * The switch itself (resume and suspend) is inline assembly in
 * include/corolink.h; the register protocol both follow and the layout of
 * the control block are described in unwind-info/README.md. In short:
 *
 *   resume:  rdi = control block `co`, rax = co->pc, rsi = input; clears
 *            co->pc (running) and `call *%rax`. Comes back with rsi = value,
 *            edx = COROLINK_YIELD/RETURN.
 *   co->pc:  entered on the resumer's stack, [rsp] = return address into the
 *            resumer, rbp = resumer's rbp. Records the resumer in
 *            co->link_fp (rbp), link_ra (return address) and link_sp (rsp
 *            after the return), then runs on the coroutine stack.
 *
 * Control block offsets used here (struct corolink__hot):
 */
#define CO_PC      0x00
#define CO_FINISHED 0x20
#define CO_FN      0x28
#define CO_ARG     0x30
#define CO_LINK_FP 0x78   /* ucontext_t uc_mcontext.gregs[REG_RBP] */
#define CO_LINK_RA 0x80
#define CO_LINK_SP 0xa0   /* ucontext_t uc_mcontext.gregs[REG_RSP] */
#define FAKE_UC_SIZE 0xb0 /* bytes of ucontext_t that libunwind reads */

#define STATUS_RETURN 2

/*
 * DWARF expressions used below, spelled out byte by byte.
 *
 * CFA_VIA_LINK: the canonical frame address is the resumer's rsp after its
 * resume returns, stored at co->link_sp; rbp points at co->link_fp, so
 * link_sp is at rbp + 0x28.
 *   0x0f           DW_CFA_def_cfa_expression
 *   0x03           expression length 3
 *   0x76 0x28      DW_OP_breg6 (rbp) + 0x28     -> &co->link_sp
 *   0x06           DW_OP_deref                   -> co->link_sp
 *
 * RBP_AT_RBP: the caller's rbp is saved at address rbp + 0 (co->link_fp).
 *   0x10 0x06      DW_CFA_expression, register 6 (rbp)
 *   0x02           expression length 2
 *   0x76 0x00      DW_OP_breg6 (rbp) + 0         -> &co->link_fp
 *
 * RIP_AT_RBP8: the return address is saved at rbp + 8 (co->link_ra).
 *   0x10 0x10      DW_CFA_expression, register 16 (return address, rip)
 *   0x02           expression length 2
 *   0x76 0x08      DW_OP_breg6 (rbp) + 8         -> &co->link_ra
 */
#define CFA_VIA_LINK .cfi_escape 0x0f, 0x03, 0x76, 0x28, 0x06
#define RBP_AT_RBP   .cfi_escape 0x10, 0x06, 0x02, 0x76, 0x00
#define RIP_AT_RBP8  .cfi_escape 0x10, 0x10, 0x02, 0x76, 0x08

        .text

/*
 * corolink__trampoline: co->pc of a coroutine that has not started.
 * Entered by the first resume's `call *co->pc`:
 *   rdi = co, rsi = input, rsp = resumer's stack with [rsp] = return address,
 *   rbp = resumer's rbp.
 * Calls co->fn(yielder = co, input, co->arg) on the coroutine stack, whose
 * top is the control block itself (rsp = co, 64-byte aligned), and when the
 * body returns, marks the coroutine finished (co->pc is already NULL) and
 * returns into its last resumer with rsi = return value,
 * edx = COROLINK_RETURN.
 *
 * While the body runs this is the root frame of the coroutine stack; its
 * unwind rows lead to the resumer through co->link_*, which every resume
 * rewrites. It is marked as a signal frame:
 *  - gdb then accepts a caller whose stack lies at a lower address ("inner")
 *    than this frame's callee, as it does for signal handlers;
 *  - unwinders look up the caller's rows at the exact return address, not
 *    at return address - 1 (the return address always follows a call here,
 *    so both rows are the same);
 *  - libunwind's fast tracer (unw_backtrace), from version 1.6, recognises
 *    these rows as its "realigned stack" pattern (CFA = *(rbp + k), rbp
 *    saved at rbp + 0) and reads the return address at CFA - 8; older
 *    versions take any signal frame for a kernel one and read a ucontext_t
 *    at the callee's CFA (= co): link_fp and link_sp sit at its rbp and rsp
 *    offsets, and its rip slot holds 0, which ends their trace cleanly.
 */
        .globl  corolink__trampoline
        .type   corolink__trampoline, @function
        .p2align 4
corolink__trampoline:
        .cfi_startproc
        .cfi_signal_frame
        /* CIE rows: CFA = rsp + 8, return address at CFA - 8, every other
         * register unchanged. True here: this is the resumer's callee. */
        endbr64
        movq    %rbp, CO_LINK_FP(%rdi)          /* resumer's rbp */
        movq    (%rsp), %rax
        movq    %rax, CO_LINK_RA(%rdi)          /* resumer's return address */
        leaq    8(%rsp), %rax
        movq    %rax, CO_LINK_SP(%rdi)          /* resumer's rsp after return */
        leaq    CO_LINK_FP(%rdi), %rbp          /* rbp = &co->link_fp */
        /* From here on the frame is described through rbp = &co->link_fp,
         * which holds on any stack:
         *   CFA = co->link_sp (the resumer's rsp after its resume returns)
         *   rbp = co->link_fp, rip = co->link_ra.
         * rbp is callee-saved, so the body hands it back unchanged. */
        CFA_VIA_LINK
        RBP_AT_RBP
        RIP_AT_RBP8
        movq    %rdi, %rsp                      /* onto the coroutine stack */
        movq    CO_ARG(%rdi), %rdx              /* fn(co, input, arg) */
        call    *CO_FN(%rdi)
        /* The body's return address: corolink_current() recognises the root
         * frame of a coroutine stack by it (rbp = &co->link_fp there). */
        .globl  corolink__trampoline_ret
        .hidden corolink__trampoline_ret
corolink__trampoline_ret:
        /* The body returned: rax = return value, rbp = &co->link_fp. Rows
         * are unchanged (CFA via the link). */
        leaq    -CO_LINK_FP(%rbp), %rdi         /* rdi = co */
        movl    $1, CO_FINISHED(%rdi)           /* pc stays NULL: finished */
        movq    %rax, %rsi                      /* value */
        movl    $STATUS_RETURN, %edx
        movq    CO_LINK_SP(%rdi), %rax
        leaq    -8(%rax), %rsp                  /* at the resumer's return address */
        movq    (%rbp), %rbp                    /* resumer's rbp */
        /* Back to the resumer's callee view: CFA = rsp + 8, return address
         * at CFA - 8, rbp unchanged from here. */
        .cfi_def_cfa %rsp, 8
        .cfi_offset %rip, -8
        .cfi_same_value %rbp
        ret
        /* Unwinders look callers of a signal frame up at the exact return
         * address; nothing may return to the address after this `ret`. */
        int3
        .cfi_endproc
        .size   corolink__trampoline, .-corolink__trampoline
        /* End of the trampoline's code, for corolink_current(). */
        .globl  corolink__trampoline_end
        .hidden corolink__trampoline_end
corolink__trampoline_end:

/*
 * void *corolink__call_on(void *arg, void *(*fn)(void *), void *top)
 * Calls fn(arg) with rsp just below `top` (16-byte aligned) and returns its
 * result on the original stack. Used by corolink_on_stack() and
 * corolink_on_parent_stack().
 *
 * A ucontext-shaped record at the new stack's top (FAKE_UC_SIZE bytes)
 * holds the caller's rbp, rsp and rip for libunwind's fast tracer, as in the
 * trampoline; the frame is a signal frame for the same reasons. DWARF
 * unwinders use the ordinary rbp-based rows.
 */
        .globl  corolink__call_on
        .type   corolink__call_on, @function
        .p2align 4
corolink__call_on:
        .cfi_startproc
        .cfi_signal_frame
        /* CFA = rsp + 8, return address at CFA - 8. */
        endbr64
        pushq   %rbp
        /* CFA = rsp + 16; the caller's rbp is at CFA - 16. */
        .cfi_def_cfa_offset 16
        .cfi_offset %rbp, -16
        movq    %rsp, %rbp
        /* CFA = rbp + 16, valid whichever stack rsp is on. */
        .cfi_def_cfa_register %rbp
        andq    $-16, %rdx
        leaq    -FAKE_UC_SIZE(%rdx), %rsp       /* onto the new stack */
        movq    (%rbp), %rax
        movq    %rax, 0x78(%rsp)                /* caller's rbp */
        leaq    16(%rbp), %rax
        movq    %rax, 0xa0(%rsp)                /* caller's rsp after return */
        movq    8(%rbp), %rax
        movq    %rax, 0xa8(%rsp)                /* return address */
        call    *%rsi                           /* fn(arg); rdi = arg */
        movq    %rbp, %rsp                      /* back on the caller's stack */
        popq    %rbp
        /* CFA = rsp + 8, rbp unchanged from here. */
        .cfi_def_cfa %rsp, 8
        .cfi_same_value %rbp
        ret
        int3
        .cfi_endproc
        .size   corolink__call_on, .-corolink__call_on

        .section .note.GNU-stack,"",@progbits
