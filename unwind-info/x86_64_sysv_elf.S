/*
 * x86-64 System V, ELF, GNU as: the root frame of every coroutine stack
 * (corolink__trampoline) and the stack-switching call (corolink__call_on).
 *
 * The switch itself (resume and suspend) is inline assembly in
 * include/corolink/x86_64_sysv_elf.h; the register protocol both follow
 * and the layout of the control block are described in
 * unwind-info/README.md. In short:
 *
 *   resume:  rdi = control block `co`, rsi = input, CF = command (0 go
 *            on, 1 unwind); clears co->pc (running) and `call`s the old
 *            co->pc. Comes back with rdi = co and either ZF = 0: yielded,
 *            rsi = value; or ZF = 1: edx = status (COROLINK_RETURN with
 *            rsi = return value, COROLINK_TRAP, or 4: the body threw).
 *   co->pc:  entered on the resumer's stack, [rsp] = return address into the
 *            resumer, rbp = resumer's rbp. Records the resumer in
 *            co->link_fp (rbp), link_ra (return address) and link_sp (rsp
 *            after the return), then runs on the coroutine stack.
 *   (ABI v2; v1 passed the command in edx and the status, yield included,
 *   in edx.)
 *
 * Control block offsets used here (struct corolink__hot):
 */
/* With -fcf-protection (__CET__ defined), gcc's <cet.h> adds the
 * .note.gnu.property section that marks this object as compatible with
 * indirect-branch tracking and shadow stacks (the linker ANDs these bits
 * over all objects: one unmarked object unmarks the library). Every
 * indirect-branch target below starts with endbr64 (a NOP without CET);
 * the jumps that return without `ret` carry `notrack`. See "Hardening" in
 * unwind-info/README.md for what shadow stacks would need. */
#include "gnu_property.h"

#define CO_PC      0x00
#define CO_SP      0x08
#define CO_FP      0x10
#define CO_FINISHED 0x20
#define CO_FN      0x28
#define CO_ARG     0x30
#define CO_LINK_FP 0x78   /* ucontext_t uc_mcontext.gregs[REG_RBP] */
#define CO_LINK_RA 0x80
#define CO_LINK_SP 0xa0   /* ucontext_t uc_mcontext.gregs[REG_RSP] */
#define CO_STACK_LIMIT 0xe8 /* struct corolink.stack_limit (library-private) */
#define FAKE_UC_SIZE 0xb0 /* bytes of ucontext_t that libunwind reads */

#define STATUS_YIELD 1
#define STATUS_RETURN 2
#define STATUS_THROW 4      /* internal: the body threw (CL_STATUS_THROW) */
#define STATUS_BUSY 5       /* corolink__busy: not resumable (CL_STATUS_BUSY) */
#define FINISHED_RETURNED 1 /* CL_FINISHED_RETURNED */

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
/*
 * Probes (COROLINK_PROBES; src/probes.c): the semaphores of the USDT probes,
 * 16-bit counters that tracers increment while a probe is enabled. The
 * 32-bit word cl_probe_switch is nonzero while the resume and suspend
 * probes' shared semaphore is (the one the inline switch tests), the
 * 64-bit cl_probe_sems while it or the return or trap probe's is. Each
 * site below tests one and, only if it is nonzero, calls the probe in C
 * from a cold block in the function's `_eh` tail or after its main path.
 */
#define CFA_VIA_LINK .cfi_escape 0x0f, 0x03, 0x76, 0x28, 0x06
#define RBP_AT_RBP   .cfi_escape 0x10, 0x06, 0x02, 0x76, 0x00
#define RIP_AT_RBP8  .cfi_escape 0x10, 0x10, 0x02, 0x76, 0x08

        .text

/*
 * corolink__busy: what the inline resume (ABI v2) enters instead of co->pc
 * when co->pc is NULL (co running or finished): it loads this function's
 * address from the GOT with a `cmovz`, so that the test costs no branch on
 * the resume's path. Returns "not resumable": ZF = 1 with edx = 5 (the
 * resume then reports the error for co's state), rdi and rsi unchanged.
 *
 * corolink__trap_return, its tail: where the trap redirect (src/trap.c)
 * sends a trapped coroutine's thread. sigreturn lands there on the
 * resumer's stack with rsp = co->link_sp - 8, the resumer's return address
 * stored there, rbp = the resumer's, rdi = co, rsi = value,
 * edx = COROLINK_TRAP; it sets ZF = 1 ("edx is the status") and returns
 * into the resumer. Done here rather than in the signal context's eflags,
 * which not every environment restores at sigreturn (valgrind restores
 * only CF).
 *
 * Both are the resumer's callee with nothing pushed: the CIE rows
 * (CFA = rsp + 8, return address at CFA - 8, every register unchanged)
 * hold at each instruction.
 */
        .globl  corolink__busy
        .type   corolink__busy, @function
        .p2align 4
corolink__busy:
        .cfi_startproc
        endbr64                                 /* an indirect call's target */
        movl    $STATUS_BUSY, %edx
        .globl  corolink__trap_return
        .hidden corolink__trap_return
corolink__trap_return:
        cmpl    %edx, %edx                      /* ZF = 1: edx is the status */
        ret
        .cfi_endproc
        .size   corolink__busy, .-corolink__busy

/*
 * corolink__trampoline: co->pc of a coroutine that has not started.
 * Entered by the first resume's `call *co->pc`:
 *   rdi = co, rsi = input, rsp = resumer's stack with [rsp] = return address,
 *   rbp = resumer's rbp.
 * Calls co->fn(yielder = co, input, co->arg) on the coroutine stack, whose
 * top is the control block itself (rsp = co, 64-byte aligned), and when the
 * body returns, marks the coroutine finished (co->pc is already NULL) and
 * returns into its last resumer with rsi = return value,
 * edx = COROLINK_RETURN, ZF = 1. (The first resume's command, CF, is
 * ignored: corolink_force_unwind() never enters a coroutine that has not
 * started.)
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
#if COROLINK_UNWIND
        /* The root of the coroutine stack catches every exception that
         * leaves the body, and stops forced unwinds of its own coroutine:
         * corolink__personality (src/unwind.c) runs for this frame and
         * sends the unwinder to .Lcaught below. Encoding 0x1b =
         * DW_EH_PE_pcrel | DW_EH_PE_sdata4: a 32-bit offset from the CIE
         * to the (hidden, same-module) routine. See unwind.c for why the
         * exception is caught here rather than left to the linked rows. */
        .cfi_personality 0x1b, corolink__personality
#endif
        /* CIE rows: CFA = rsp + 8, return address at CFA - 8, every other
         * register unchanged. True here: this is the resumer's callee. */
        endbr64
        movq    %rbp, CO_LINK_FP(%rdi)          /* resumer's rbp */
        popq    CO_LINK_RA(%rdi)                /* resumer's return address */
        /* rsp is the resumer's rsp after its resume returns (the CFA); the
         * return address stays at CFA - 8, in the resumer's red zone, which
         * signal delivery leaves alone (as at the resume points). */
        .cfi_def_cfa_offset 0                   /* CFA = rsp + 0 */
        movq    %rsp, CO_LINK_SP(%rdi)          /* resumer's rsp after return */
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
        movl    $FINISHED_RETURNED, CO_FINISHED(%rdi) /* pc stays NULL */
        movq    %rax, %rsi                      /* value */
        movl    $STATUS_RETURN, %edx
.Lleave:
        /* Into the resumer with rdi = co, rsi = value, edx = status and
         * ZF = 1; rows as above (CFA via the link). */
#if COROLINK_PROBES
        /* The return probe (and `from`). Not taken, the compare leaves
         * ZF = 1 ("edx is the status"), and nothing below changes the
         * flags; the probe's path sets it again before it comes back. */
        cmpq    $0, cl_probe_sems(%rip)
        jne     .Lleave_probe
.Lleave_probed:
#else
        cmpl    %edx, %edx                      /* ZF = 1: edx is the status */
#endif
        movq    CO_LINK_SP(%rdi), %rax
#if COROLINK_UNWIND
        .cfi_remember_state                     /* for the landing pad */
#endif
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
#if COROLINK_UNWIND
        /* Landing pad, entered by the unwinder (uw_install_context) when
         * an exception or this coroutine's forced unwind reaches the root:
         * every frame of the body has been unwound, so rsp = co (the
         * body's CFA), rbp = &co->link_fp (the value the body saved), rax
         * = the exception object, edx = 1 (an exception) or 2 (the forced
         * unwind), as corolink__personality set them. Rows: CFA via the
         * link again, as while the body ran. */
        .cfi_restore_state
        /* From here on only exception handling runs (check-cfi's --cover
         * leaves the `_eh` tail out). */
        .globl  corolink__trampoline_eh
        .hidden corolink__trampoline_eh
corolink__trampoline_eh:
        leaq    -CO_LINK_FP(%rbp), %rdi         /* co */
        movq    %rax, %rsi                      /* exception */
        /* corolink__caught(co, exception, kind) records how the coroutine
         * finished and returns the status for the resumer (STATUS_THROW
         * or STATUS_RETURN). rsp = co is 64-byte aligned. */
        call    corolink__caught
        movl    %eax, %edx                      /* status */
        leaq    -CO_LINK_FP(%rbp), %rdi         /* co */
        xorl    %esi, %esi                      /* value: NULL */
        jmp     .Lleave
#endif
#if COROLINK_PROBES
#if !COROLINK_UNWIND
        /* The cold tail (check-cfi's --cover leaves it out, as it does the
         * landing pad in builds with the unwinder). */
        .globl  corolink__trampoline_eh
        .hidden corolink__trampoline_eh
corolink__trampoline_eh:
#endif
.Lleave_probe:
        /* A tracer has the return probe (or the bookkeeping of `from`)
         * enabled: cl_probe_leave(co). On the coroutine stack, rsp = co
         * (64-byte aligned), rbp = &co->link_fp: rows via the link, as at
         * .Lleave (restated: the landing pad's jump leaves other rows). */
        CFA_VIA_LINK
        RBP_AT_RBP
        RIP_AT_RBP8
        pushq   %rsi                            /* value */
        pushq   %rdx                            /* status */
        call    cl_probe_leave                  /* (co) */
        popq    %rdx
        popq    %rsi
        leaq    -CO_LINK_FP(%rbp), %rdi         /* co */
        cmpl    %edx, %edx                      /* ZF = 1: edx is the status */
        jmp     .Lleave_probed
#endif
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
        /* fn's return address: the trap handler (src/trap.c) recognises a
         * call_on frame on the stack fn runs on by it. */
        .globl  corolink__call_on_ret
        .hidden corolink__call_on_ret
corolink__call_on_ret:
        movq    %rbp, %rsp                      /* back on the caller's stack */
        popq    %rbp
        /* CFA = rsp + 8, rbp unchanged from here. */
        .cfi_def_cfa %rsp, 8
        .cfi_same_value %rbp
        ret
        int3
        .cfi_endproc
        .size   corolink__call_on, .-corolink__call_on

/*
 * The out-of-line switch: int corolink_resume(corolink *co, void *input,
 * void **output) and void *corolink_suspend(corolink_yielder *y, void *v),
 * for code built with COROLINK_NO_INLINE (or for sanitizers, or callers
 * from other languages). They speak the protocol of the inline switch, so
 * either side may be inline and the other out of line.
 *
 * Unlike the inline switch they are ordinary C functions: they save and
 * restore the callee-saved registers the switch destroys. And they transfer
 * control with jumps where the inline switch uses `ret`: an out-of-line
 * suspend is itself called, so a `ret` that switched to the resumer would
 * pop the body's call from the return-stack predictor instead of the
 * resumer's, and mispredict twice per round trip (28 ns instead of ~7 ns
 * here). Jumps leave the predictor's stack alone.
 *
 * What a round trip costs them (issue 13; unwind-info/README.md, "The
 * out-of-line switch"): each saves the five callee-saved registers other
 * than rbp with pushes and restores them with pops; rbp needs no save of
 * its own, since the protocol hands it back (the resumer's through
 * link_fp, the body's through the frame record the suspend leaves): each
 * pushes it only to make the frame record that frame-pointer walkers and
 * corolink_backtrace() follow. Their checks run before anything is saved,
 * so their failures need no frame.
 *
 * The frames they leave, from higher addresses down:
 *
 *   corolink_resume, on the resumer's stack     corolink_suspend, on the body's
 *   +8  return address into the caller           +8  return address into the body
 *    0  caller's rbp   <- rbp (CFA - 16)          0  body's rbp   <- co->fp (CFA - 16)
 *   -8  rbx  -16 r12  -24 r13  -32 r14  -40 r15  -8  rbx ... -40 r15  <- co->sp
 *  -48  output         <- rsp at the call
 */

/* `rbp was saved at co->link_fp`: DW_CFA_expression(rbp, DW_OP_breg5(rdi)
 * + 0x78), rdi holding the control block (same bytes as in include/corolink/x86_64_sysv_elf.h). */
#define RBP_IN_LINK .cfi_escape 0x10, 0x06, 0x03, 0x75, 0xf8, 0x00

/* The rows of an rbp-based frame that saved rbx, r12-r15 below its frame
 * record (corolink_resume's, corolink__enter's, and corolink_suspend's
 * forced-unwind tail): CFA = rbp + 16, the caller's rbp at CFA - 16 and
 * rbx, r12-r15 saved below it. */
.macro CALLEE_SAVED_ROWS
        .cfi_def_cfa %rbp, 16           /* CFA = rbp + 16 */
        .cfi_offset %rbp, -16           /* caller's rbp at CFA - 16 */
        .cfi_offset %rbx, -24           /* caller's rbx at CFA - 24 */
        .cfi_offset %r12, -32           /* caller's r12 at CFA - 32 */
        .cfi_offset %r13, -40           /* caller's r13 at CFA - 40 */
        .cfi_offset %r14, -48           /* caller's r14 at CFA - 48 */
        .cfi_offset %r15, -56           /* caller's r15 at CFA - 56 */
.endm

/* A prologue (corolink__enter's): a frame pointer, then the callee-saved
 * registers the switch destroys. From the `movq` on, CFA = rbp + 16 on
 * whatever stack rsp points into. */
.macro SAVE_CALLEE_SAVED
        endbr64
        pushq   %rbp
        .cfi_def_cfa_offset 16          /* CFA = rsp + 16 */
        .cfi_offset %rbp, -16           /* caller's rbp at CFA - 16 */
        movq    %rsp, %rbp
        .cfi_def_cfa_register %rbp      /* CFA = rbp + 16 */
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        CALLEE_SAVED_ROWS               /* the pushes are done: all saved */
.endm

/* Its epilogue: the saved registers back, the frame popped. After it,
 * CFA = rsp + 8 and every register holds the caller's value. */
.macro RESTORE_CALLEE_SAVED
        movq    -8(%rbp), %rbx
        movq    -16(%rbp), %r12
        movq    -24(%rbp), %r13
        movq    -32(%rbp), %r14
        movq    -40(%rbp), %r15
        /* The registers hold their saved values again. */
        .cfi_same_value %rbx
        .cfi_same_value %r12
        .cfi_same_value %r13
        .cfi_same_value %r14
        .cfi_same_value %r15
        movq    %rbp, %rsp
        popq    %rbp
        /* CFA = rsp + 8, rbp restored. */
        .cfi_def_cfa %rsp, 8
        .cfi_same_value %rbp
.endm

/* (The CFA offsets are absolute, .cfi_def_cfa_offset, never relative,
 * .cfi_adjust_cfa_offset: LLVM's integrated assembler resolves a relative
 * one against its own running count, which .cfi_restore_state does not
 * restore, so that after a restore_state it emits wrong offsets. GNU as
 * gets both right.) */

/* The rows of corolink_suspend's own frame, described through rsp (its rbp
 * is not a frame pointer: see there): CFA = rsp + 56, the body's rbp at
 * CFA - 16 (the frame record co->fp points at), rbx, r12-r15 below it. */
.macro SUSPEND_FRAME_ROWS
        .cfi_def_cfa %rsp, 56           /* CFA = rsp + 56 (co->sp + 56) */
        .cfi_offset %rbp, -16           /* body's rbp at CFA - 16 (co->fp) */
        .cfi_offset %rbx, -24           /* body's rbx at CFA - 24 */
        .cfi_offset %r12, -32           /* body's r12 at CFA - 32 */
        .cfi_offset %r13, -40           /* body's r13 at CFA - 40 */
        .cfi_offset %r14, -48           /* body's r14 at CFA - 48 */
        .cfi_offset %r15, -56           /* body's r15 at CFA - 56 */
.endm

        .globl  corolink_resume
        .type   corolink_resume, @function
        .p2align 4
corolink_resume:
        .cfi_startproc
        /* CFA = rsp + 8, return address at CFA - 8. Called through the
         * GOT or the PLT: an indirect-branch target. */
        endbr64
        /* A tracer has the resume or suspend probe enabled, or suspend
         * timestamps are on, or a tool watches: the traced resume
         * (src/probes.c) does it all, with the same arguments. */
#if COROLINK_PROBES
        /* corolink__probe_switch is also the hidden cl_probe_switch
         * (src/probes.c): read it without the GOT. */
        cmpl    $0, cl_probe_switch(%rip)
#else
        /* The word is a plain exported variable (src/probes.c): its
         * address from the GOT (rax is free here), then the word. */
        movq    corolink__probe_switch@GOTPCREL(%rip), %rax
        cmpl    $0, (%rax)
#endif
        jne     corolink__resume_traced@PLT
        /* The checks, before any frame: a failure is a tail call of
         * corolink__resume_fail(co, output), which returns the error. */
        testq   %rdi, %rdi
        jz      .Lresume_fail                   /* co NULL */
        movq    CO_PC(%rdi), %rax               /* where to enter it */
        testq   %rax, %rax
        jz      .Lresume_fail                   /* running or finished */
        pushq   %rbp
        .cfi_def_cfa_offset 16          /* CFA = rsp + 16 */
        .cfi_offset %rbp, -16           /* caller's rbp at CFA - 16 */
        movq    %rsp, %rbp                      /* our frame record: link_fp */
        .cfi_def_cfa_register %rbp      /* CFA = rbp + 16, on any stack */
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        /* The pushes are done: CFA = rbp + 16, rbx, r12-r15 saved below
         * the frame record (until then they held the caller's values). */
        CALLEE_SAVED_ROWS
        pushq   %rdx                            /* output, at rbp - 48 */
        movq    $0, CO_PC(%rdi)                 /* running */
        /* CF = 0, the command "go on": from the `testq` of pc above (the
         * pushes and moves since keep the flags). */
        call    *%rax                           /* the switch: see x86_64_sysv_elf.h */
        /* Back: rdi = co, rsi = value, ZF = 0 (yielded) or edx = status.
         * The rows above hold again (the suspend restored rsp and rbp);
         * rsp = rbp - 48, 16-byte aligned. */
        movl    $STATUS_YIELD, %eax             /* (moves keep the flags) */
        jnz     2f                              /* yielded */
        cmpl    $STATUS_THROW, %edx
        jae     .Lresume_throw                  /* the body threw */
        movl    %edx, %eax                      /* returns the status */
2:      popq    %rcx                            /* output */
        testq   %rcx, %rcx
        jz      1f
        movq    %rsi, (%rcx)                    /* *output = value */
1:
        popq    %r15
        .cfi_same_value %r15            /* r15 holds the caller's again */
        popq    %r14
        .cfi_same_value %r14            /* r14 holds the caller's again */
        popq    %r13
        .cfi_same_value %r13            /* r13 holds the caller's again */
        popq    %r12
        .cfi_same_value %r12            /* r12 holds the caller's again */
        popq    %rbx
        .cfi_same_value %rbx            /* rbx holds the caller's again */
        popq    %rbp
        .cfi_def_cfa %rsp, 8            /* CFA = rsp + 8 */
        .cfi_same_value %rbp            /* rbp holds the caller's again */
        popq    %rcx                            /* return address */
        /* CFA = rsp: the return address is still at CFA - 8 (in the red
         * zone, which signal delivery skips). */
        .cfi_def_cfa_offset 0
        notrack jmp *%rcx                       /* a return: no endbr64 there */
.Lresume_fail:
        /* From the checks, before any frame: CFA = rsp + 8, return
         * address at CFA - 8, every register the caller's (as the pops
         * above left the rows, but for the CFA). */
        .cfi_def_cfa %rsp, 8
        movq    %rdx, %rsi
        jmp     corolink__resume_fail@PLT       /* (co, output): the error */
.Lresume_throw:
        /* CFA = rbp + 16, registers saved as above; rsp = rbp - 48 is
         * 16-byte aligned (return address + 7 pushes). Raise the body's
         * exception again from this frame: it never returns. */
        CALLEE_SAVED_ROWS
        call    corolink__resume_throw@PLT      /* (co) */
        int3
        .cfi_endproc
        .size   corolink_resume, .-corolink_resume

        .globl  corolink_suspend
        .type   corolink_suspend, @function
        .p2align 4
corolink_suspend:
        .cfi_startproc
        /* CFA = rsp + 8: the body's frame called us. */
        endbr64
        /* The yielder must be the innermost running coroutine's: its
         * stack [stack_limit, co) holds our return address (rsp). A NULL
         * yielder (rsp >= 0 = co: the first test), another coroutine's, or
         * a call from fn of corolink_on_parent_stack() (on the resumer's
         * stack) is reported by cl_suspend_misuse(), which aborts. (The
         * inline suspend trusts its caller: these four instructions would
         * cost it about 10%.) */
        cmpq    %rdi, %rsp
        jae     .Lsuspend_misuse
        cmpq    CO_STACK_LIMIT(%rdi), %rsp
        /* rsp = stack_limit leaves no room for the pushes below: an
         * overflow. Not taken, this leaves ZF = 0 (rsp > stack_limit),
         * the resumer's "yielded": nothing below changes the flags. */
        jbe     .Lsuspend_misuse
        /* (The suspend probe and the suspend timestamp are taken by the
         * traced resume, on the resumer's side: nothing to test here.) */
        pushq   %rbp
        .cfi_def_cfa_offset 16          /* CFA = rsp + 16 */
        .cfi_offset %rbp, -16           /* body's rbp at CFA - 16 */
        /* Our frame record {body's rbp, return address into the body}:
         * co->fp, where the resume point finds it and frame-pointer walks
         * of the suspended coroutine start. rbp itself is left alone: it
         * is the resumer's from the switch on, and the pops take the
         * body's back. */
        movq    %rsp, CO_FP(%rdi)
        pushq   %rbx
        .cfi_def_cfa_offset 24          /* CFA = rsp + 24 */
        .cfi_offset %rbx, -24           /* body's rbx at CFA - 24 */
        pushq   %r12
        .cfi_def_cfa_offset 32          /* CFA = rsp + 32 */
        .cfi_offset %r12, -32           /* body's r12 at CFA - 32 */
        pushq   %r13
        .cfi_def_cfa_offset 40          /* CFA = rsp + 40 */
        .cfi_offset %r13, -40           /* body's r13 at CFA - 40 */
        pushq   %r14
        .cfi_def_cfa_offset 48          /* CFA = rsp + 48 */
        .cfi_offset %r14, -48           /* body's r14 at CFA - 48 */
        pushq   %r15
        .cfi_def_cfa_offset 56          /* CFA = rsp + 56 */
        .cfi_offset %r15, -56           /* body's r15 at CFA - 56 */
        leaq    .Lsuspend_resumed(%rip), %rax
        movq    %rax, CO_PC(%rdi)               /* suspended; resume here */
        movq    %rsp, CO_SP(%rdi)
        /* Our frame, CFA = rsp + 56 (SUSPEND_FRAME_ROWS): kept for the
         * resume point. */
        .cfi_remember_state
        /* As in the inline suspend, the 16 bytes before the resume point
         * run with the body's rsp in place until the switch, under these
         * rsp-based rows: a tool unwinding the suspended coroutine may use
         * pc = co->pc - 16 with co->sp and co->fp (rbp is then read from
         * CFA - 16 = co->fp, whatever rbp holds). (Exactly 16: 7 + 4 + 5
         * bytes, the jump with its notrack prefix.) */
        movq    CO_LINK_SP(%rdi), %rsp          /* resumer's rsp after return */
        /* Now the resumer's callee that has returned: CFA = rsp, the
         * return address still at CFA - 8 (in the red zone), the resumer's
         * rbp in co->link_fp, the other registers what the resumer may
         * find (it declared them clobbered). */
        .cfi_def_cfa %rsp, 0            /* CFA = rsp */
        .cfi_offset %rip, -8            /* return address at CFA - 8 */
        RBP_IN_LINK                     /* resumer's rbp at co->link_fp */
        .cfi_same_value %rbx            /* rbx: what the resumer may find */
        .cfi_same_value %r12            /* r12: likewise */
        .cfi_same_value %r13            /* r13: likewise */
        .cfi_same_value %r14            /* r14: likewise */
        .cfi_same_value %r15            /* r15: likewise */
        movq    CO_LINK_FP(%rdi), %rbp
        .cfi_same_value %rbp            /* rbp is the resumer's again */
        notrack jmp *-8(%rsp)                   /* into the resumer (a return) */
        /* The resume point (co->pc of a coroutine suspended here): named
         * for introspect.c, which skips this function's frame. */
        .globl  corolink__suspend_resumed
        .hidden corolink__suspend_resumed
corolink__suspend_resumed:
.Lsuspend_resumed:
        /* Entered by a resume's `call` on the resumer's stack: [rsp] =
         * return address, rbp = the resumer's, CF = the command (nothing
         * before the `jc` below changes the flags); the resumer's callee. */
        .cfi_def_cfa %rsp, 8            /* CFA = rsp + 8 (rip at CFA - 8) */
        endbr64
        movq    %rbp, CO_LINK_FP(%rdi)          /* link_fp: resumer's rbp */
        popq    CO_LINK_RA(%rdi)                /* link_ra: resumer's return address */
        /* CFA = rsp: the return address is still at CFA - 8 (in the red
         * zone, which signal delivery skips); rbp still the resumer's. */
        .cfi_def_cfa_offset 0
        movq    %rsp, CO_LINK_SP(%rdi)          /* link_sp: resumer's rsp after return */
        movq    CO_SP(%rdi), %rsp               /* back on the body's stack */
        /* Our own frame again: CFA = rsp + 56, the body's rbp at CFA - 16
         * and rbx, r12-r15 below it (rbp still holds the resumer's, whose
         * frame is no longer ours to describe: the pops below restore the
         * body's). */
        .cfi_restore_state
        jc      .Lsuspend_unwind                /* CF: the resumer's command */
        popq    %r15
        .cfi_def_cfa_offset 48          /* CFA = rsp + 48 */
        .cfi_same_value %r15            /* r15 holds the body's again */
        popq    %r14
        .cfi_def_cfa_offset 40          /* CFA = rsp + 40 */
        .cfi_same_value %r14            /* r14 holds the body's again */
        popq    %r13
        .cfi_def_cfa_offset 32          /* CFA = rsp + 32 */
        .cfi_same_value %r13            /* r13 holds the body's again */
        popq    %r12
        .cfi_def_cfa_offset 24          /* CFA = rsp + 24 */
        .cfi_same_value %r12            /* r12 holds the body's again */
        popq    %rbx
        .cfi_def_cfa_offset 16          /* CFA = rsp + 16 */
        .cfi_same_value %rbx            /* rbx holds the body's again */
        popq    %rbp
        .cfi_def_cfa_offset 8           /* CFA = rsp + 8 */
        .cfi_same_value %rbp            /* rbp holds the body's again */
        movq    %rsi, %rax                      /* returns the input */
        popq    %rcx
        /* CFA = rsp: return address still at CFA - 8. */
        .cfi_def_cfa_offset 0
        notrack jmp *%rcx                       /* into the body (a return) */
        /* From here on only exception handling runs (check-cfi's --cover
         * leaves the `_eh` tail out: its windows do not take it). */
        .globl  corolink_suspend_eh
        .hidden corolink_suspend_eh
corolink_suspend_eh:
.Lsuspend_unwind:
        /* corolink_force_unwind() resumed us with the unwind command. On
         * the body's stack in our own frame (rsp = co->sp), as at the
         * resume point's .cfi_restore_state. */
        SUSPEND_FRAME_ROWS
        /* rbp = our frame record, as in an rbp-based frame, so that
         * frame-pointer walks from the unwinder's frames stay on the
         * body's stack. */
        movq    CO_FP(%rdi), %rbp
        /* The same frame described through rbp = co->fp = rsp + 40:
         * CFA = rbp + 16, registers saved below it. */
        CALLEE_SAVED_ROWS
        /* Start the forced unwind from here (rdi = co); it unwinds this
         * frame, then the body's. */
        subq    $8, %rsp                        /* 16-byte alignment */
        call    corolink__suspend_unwind@PLT
        int3
.Lsuspend_misuse:
        /* A bad yielder (see above), found before anything was saved:
         * CFA = rsp + 8, return address at CFA - 8, every register the
         * body's. cl_suspend_misuse(yielder, rsp) prints what is wrong
         * and aborts. */
        .cfi_def_cfa %rsp, 8            /* CFA = rsp + 8 */
        .cfi_same_value %rbp            /* rbp: the body's */
        .cfi_same_value %rbx            /* rbx: the body's */
        .cfi_same_value %r12            /* r12: the body's */
        .cfi_same_value %r13            /* r13: the body's */
        .cfi_same_value %r14            /* r14: the body's */
        .cfi_same_value %r15            /* r15: the body's */
        movq    %rsp, %rsi
        subq    $8, %rsp                        /* 16-byte alignment */
        .cfi_def_cfa_offset 16          /* CFA = rsp + 16 */
        call    cl_suspend_misuse
        int3
        .cfi_endproc
        .size   corolink_suspend, .-corolink_suspend

/*
 * int corolink__enter(corolink *co, void *input, uintptr_t cmd, void **value)
 * The library's own resume of a suspended coroutine (src/unwind.c): like
 * corolink_resume() without its checks, with `cmd` (0 or 1) made the
 * switch's CF for the pending suspend, returning the switch's raw status
 * (the body's exception, status 4, is left in the control block for the
 * caller). A `cmd` above 1 is a struct cl_with * (corolink_resume_with()):
 * the switch then goes through corolink__ontop, which runs with->fn on
 * co's stack first.
 */
        /* In the section of the library's resume-path code that tools
         * leave out of backtraces (the debug table's hidden_lo/hidden_hi,
         * src/probes.h): between a running coroutine's root frame and its
         * resumer's own frames. */
        .pushsection corolink_hidden, "ax", @progbits
        /* Exported for symbolizers, as corolink__ontop (its frame lies
         * between a coroutine's root frame and corolink_resume_with()). */
        .globl  corolink__enter
        .type   corolink__enter, @function
        .p2align 4
corolink__enter:
        .cfi_startproc
        /* CFA = rsp + 8, return address at CFA - 8. */
        SAVE_CALLEE_SAVED
        pushq   %rcx                            /* value, at rbp - 48 */
#if COROLINK_PROBES
        cmpl    $0, cl_probe_switch(%rip)       /* the resume probe */
        jne     .Lenter_probe
.Lenter_probed:
#endif
        movq    CO_PC(%rdi), %rax
        movq    $0, CO_PC(%rdi)                 /* running */
        cmpq    $1, %rdx
        ja      .Lenter_with                    /* cmd: a struct cl_with * */
        negl    %edx                            /* CF = (cmd != 0) */
        call    *%rax                           /* rdi = co, rsi, CF = cmd */
.Lenter_back:
        /* Back: rsi = value, ZF = 0 (yielded) or edx = status; rows as
         * above. */
        movl    $STATUS_YIELD, %eax             /* (moves keep the flags) */
        cmovzl  %edx, %eax                      /* ZF = 1: the status */
        movq    -48(%rbp), %rcx
        movq    %rsi, (%rcx)
        RESTORE_CALLEE_SAVED
        ret
#if COROLINK_PROBES
.Lenter_probe:
        /* CFA = rbp + 16, registers saved as above; rsp is 16-byte aligned.
         * cl_probe_resume(co), keeping rdi, rsi and rdx in rbx, r12, r13. */
        CALLEE_SAVED_ROWS
        movq    %rdi, %rbx
        movq    %rsi, %r12
        movq    %rdx, %r13
        call    cl_probe_resume
        movq    %rbx, %rdi
        movq    %r12, %rsi
        movq    %r13, %rdx
        jmp     .Lenter_probed
#endif
.Lenter_with:
        /* corolink_resume_with(): rax = co's old pc, rdx = the struct
         * cl_with. Same frame as at the `call *%rax` above (CFA = rbp + 16,
         * registers saved below it); corolink__ontop comes back as a
         * switch does. */
        CALLEE_SAVED_ROWS
        call    corolink__ontop
        jmp     .Lenter_back                    /* (a jump keeps the flags) */
        .cfi_endproc
        .size   corolink__enter, .-corolink__enter

/*
 * corolink__ontop: the switch of corolink_resume_with(), called by
 * corolink__enter on the resumer's stack like a resume point:
 *   rdi = co, rsi = input, rax = co's old pc (the resume point of its
 *   pending suspend, or corolink__trampoline if it has not started),
 *   rdx = struct cl_with { fn, arg }, [rsp] = return address into
 *   corolink__enter, rbp = its rbp.
 * It records the resumer in co->link_* as a resume point does, moves onto
 * co's stack and calls fn(input, arg) there from a frame of its own, then
 * enters co's old pc as a resume would (back on the resumer's stack, at
 * the return address, with rsi = fn's result and CF = 0), so that the
 * pending suspend returns fn's result (or the body starts with it).
 *
 * Its frame on co's stack is made to look called from the coroutine at
 * its suspension point: below the body's stack pointer (co->sp) it writes
 * what a `call` and a `push %rbp` made there would have left, the return
 * address S = co->pc - 16 (the switch-out's first instruction, where the
 * body's own unwind rows still hold with rsp = co->sp and rbp = co->fp:
 * see CL_SUSPENDED_PC_ADJUST in src/arch/x86_64_linux.h) and the body's
 * rbp = co->fp:
 *
 *   co's stack while fn runs:
 *     co->sp  ->  (the body's frames, as the suspend left them)
 *     -8          S = co->pc - 16            } a frame record, as a call
 *     -16         co->fp    <- rbp           } from S would leave it
 *     -24         co
 *     -32         co's old pc (where to go on after fn)
 *                 (16-byte alignment)
 *                 fn's frames
 *
 * Every unwinder, and every frame-pointer walk, then goes from fn through
 * this frame into the body at S, the body's frames, the root frame and
 * the resumer. For a coroutine that has not started the frame is made the
 * same way below co, as called by the root frame from the body's return
 * address: S = corolink__trampoline_ret, rbp = &co->link_fp (the rows of
 * corolink__trampoline there lead to the resumer through co->link_*).
 *
 * An exception that leaves fn (or a forced unwind of co while fn is
 * suspended in it) is caught here by corolink__ontop_personality
 * (src/unwind.c), which lands in corolink__ontop_eh: for a suspended
 * body the pending suspend is entered with CF = 1, so that it calls
 * corolink__suspend_unwind() from the body's frame, which raises the
 * exception again there (or starts the forced unwind again); for a
 * coroutine that has not started, the root frame's landing pad finishes
 * it as if the body had thrown.
 */
#define SUSPENDED_PC_ADJUST 16  /* CL_SUSPENDED_PC_ADJUST */
#define WITH_FN    0x00         /* struct cl_with (src/internal.h) */
#define WITH_ARG   0x08
        /* Exported (not API), as corolink__trampoline is: symbolizers
         * that read only the dynamic symbol table (dladdr(),
         * backtrace_symbols(), perf) name fn's caller. */
        .globl  corolink__ontop
        .type   corolink__ontop, @function
        .p2align 4
corolink__ontop:
        .cfi_startproc
#if COROLINK_UNWIND
        /* Everything that leaves fn stops here (see above). Encoding as
         * in corolink__trampoline. */
        .cfi_personality 0x1b, corolink__ontop_personality
#endif
        /* CIE rows: CFA = rsp + 8, return address at CFA - 8, every other
         * register unchanged: corolink__enter's callee (a direct call: no
         * endbr64 needed). */
        movq    %rbp, CO_LINK_FP(%rdi)          /* resumer's rbp */
        popq    CO_LINK_RA(%rdi)                /* resumer's return address */
        /* CFA = rsp (the resumer's rsp after its call returns); the return
         * address stays at CFA - 8, in the resumer's red zone. */
        .cfi_def_cfa_offset 0
        movq    %rsp, CO_LINK_SP(%rdi)          /* resumer's rsp after return */
        movq    WITH_FN(%rdx), %r10
        movq    WITH_ARG(%rdx), %r11
        leaq    corolink__trampoline(%rip), %rcx
        cmpq    %rcx, %rax
        je      1f
        /* Suspended: called from the switch-out S with the body's rsp and
         * rbp. */
        leaq    -SUSPENDED_PC_ADJUST(%rax), %rcx /* S */
        movq    CO_SP(%rdi), %rdx               /* the body's rsp */
        movq    CO_FP(%rdi), %r8                /* the body's rbp */
        jmp     2f
1:      /* Not started: called from the root frame, at the body's return
         * address, with rsp = co and rbp = &co->link_fp. */
        leaq    corolink__trampoline_ret(%rip), %rcx
        movq    %rdi, %rdx
        leaq    CO_LINK_FP(%rdi), %r8
2:      movq    %rcx, -8(%rdx)                  /* the return address */
        movq    %r8, -16(%rdx)                  /* the caller's rbp */
        leaq    -16(%rdx), %rsp                 /* onto co's stack */
        /* Now the callee of S that has pushed rbp: CFA = rsp + 16 (the
         * caller's rsp), return address at CFA - 8, the caller's rbp at
         * CFA - 16. */
        .cfi_def_cfa %rsp, 16
        .cfi_offset %rbp, -16
        movq    %rsp, %rbp
        /* CFA = rbp + 16 from here on, whatever rsp does. */
        .cfi_def_cfa_register %rbp
        pushq   %rdi                            /* co, at rbp - 8 */
        pushq   %rax                            /* co's old pc, at rbp - 16 */
        andq    $-16, %rsp                      /* the ABI's alignment */
        movq    %rsi, %rdi                      /* fn(input, arg) */
        movq    %r11, %rsi
        call    *%r10
        movq    %rax, %rsi                      /* fn's result: the input */
        xorl    %r9d, %r9d                      /* the command: go on */
.Lontop_leave:
        /* Into co's old pc, as a resume enters it: rsi = the input, r9d =
         * the command for a pending suspend (0 go on, 1 raise). */
        movq    -8(%rbp), %rdi                  /* co */
        movq    -16(%rbp), %rcx                 /* where co goes on */
        /* The body's rsp and rbp for the resume point, which reads them
         * from co: fn may have suspended co since, over them. */
        movq    (%rbp), %rax
        movq    %rax, CO_FP(%rdi)
        leaq    16(%rbp), %rax
        movq    %rax, CO_SP(%rdi)
        movq    CO_LINK_SP(%rdi), %rax
        .cfi_remember_state                     /* for the landing pad */
        leaq    -8(%rax), %rsp                  /* at the resumer's return address */
        /* Back to the resumer's callee view, as at a resume's `call`:
         * CFA = rsp + 8, return address at CFA - 8, the resumer's rbp in
         * co->link_fp (rdi = co). */
        .cfi_def_cfa %rsp, 8
        .cfi_offset %rip, -8
        RBP_IN_LINK
        movq    CO_LINK_FP(%rdi), %rbp
        .cfi_same_value %rbp                    /* rbp: the resumer's */
        negl    %r9d                            /* CF = the command */
        jmp     *%rcx                           /* rdi = co, rsi = input */
        .cfi_restore_state
#if COROLINK_UNWIND
        /* Landing pad, entered by the unwinder when an exception leaves fn
         * (or co's forced unwind reaches this frame): rbp = our frame,
         * rsp = what it was at the call, rax = the exception object,
         * edx = 1 (an exception) or 2 (the forced unwind), as
         * corolink__ontop_personality set them. Rows: our frame, as
         * while fn ran. (check-cfi's --cover leaves the `_eh` tail out.) */
        .globl  corolink__ontop_eh
        .hidden corolink__ontop_eh
corolink__ontop_eh:
        movq    -8(%rbp), %rdi                  /* co */
        movq    -16(%rbp), %rcx                 /* where co goes on */
        leaq    corolink__trampoline(%rip), %r8
        cmpq    %r8, %rcx
        je      3f
        /* corolink__ontop_caught(co, exception, kind) leaves the exception
         * (or the order to unwind again) for corolink__suspend_unwind(),
         * which the pending suspend calls when entered with CF = 1. rsp is
         * 16-byte aligned, as at the call of fn. */
        movq    %rax, %rsi
        call    corolink__ontop_caught
        xorl    %esi, %esi                      /* value: NULL */
        movl    $1, %r9d                        /* the command: raise */
        jmp     .Lontop_leave
3:      /* Not started: go back into the root frame, as a return to S
         * would, and take its landing pad with rax and edx as they are:
         * it finishes co and reports the exception (or the end of the
         * forced unwind) to the resumer. Rows: our frame (the jump above
         * came from under them). */
        .cfi_def_cfa %rbp, 16
        .cfi_offset %rbp, -16
        .cfi_offset %rip, -8
        leave                                   /* rbp = &co->link_fp */
        /* CFA = rsp + 8: the return address S is at rsp, rbp restored. */
        .cfi_def_cfa %rsp, 8
        .cfi_same_value %rbp
        addq    $8, %rsp                        /* rsp = co */
        /* CFA = rsp: S still at CFA - 8. */
        .cfi_def_cfa_offset 0
        jmp     corolink__trampoline_eh
#endif
        .cfi_endproc
        .size   corolink__ontop, .-corolink__ontop
        .popsection

        .section .note.GNU-stack,"",@progbits
