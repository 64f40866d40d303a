/*
 * i686 (x86 32-bit, System V i386 ABI), ELF, GNU as: the root frame of
 * every coroutine stack (corolink__trampoline), the stack-switching call
 * (corolink__call_on), the out-of-line switch and corolink_resume_with()'s
 * corolink__ontop. Read x86_64_sysv_elf.S first: this file says only how
 * i686 differs. The inline switch is in include/corolink/i386_sysv_elf.h;
 * unwind-info/README.md ("i686") has the protocol and the rows.
 *
 * Differences from x86-64:
 *  - Registers: edi = co, esi = input/value, edx = command/status, eax =
 *    where to enter co. The status travels in edx as on AArch64 (ZF/CF are
 *    not used): resume returns edx = COROLINK_YIELD, COROLINK_RETURN,
 *    COROLINK_TRAP or 4 (the body threw), and takes edx = the command.
 *  - No pc-relative addressing: the code here reaches its own labels and
 *    the GOT through pc thunks (.Lpc_<reg>: a `call` and a `ret`).
 *  - Arguments are on the stack (cdecl), and every call is made with esp
 *    16-byte aligned (gcc's i386 Linux default).
 *  - The trampoline calls the body with esp = co - 32 (its arguments at
 *    co - 32 .. co - 20) and stores its own return address at co - 8,
 *    where the trap handler's scan (8-byte steps) finds it, as AArch64
 *    does; the body's CFA is co - 32.
 *  - No red zone: the resumer's return address below link_sp is kept by
 *    nothing but the fact that nothing runs on the resumer's stack while
 *    the coroutine does (fn of corolink_on_parent_stack() runs 16 bytes
 *    below it).
 *  - libunwind on x86 has no fast tracer: no ucontext-shaped record.
 *  - No CET: Linux has no shadow stacks or IBT for 32-bit programs.
 *
 * The stacks (addresses grow upwards; co = control block, 64-byte
 * aligned):
 *
 *   just created               running                   suspended
 *   ------------               -------                   ---------
 *   co + 0x200  end            co + 0x30 link_sp ---+    co->pc: resume point
 *   co + 0x2c (link_ra)        co + 0x2c link_ra    |    co->sp, co->fp: the
 *   co + 0x28 (link_fp)        co + 0x28 link_fp <--+--  body's esp, ebp at
 *   co: control block          co: control block    |    its suspend (the
 *   pc = corolink__trampoline  co - 4: 0            |    frames below co
 *   (nothing below co)         co - 8: trampoline_ret|   keep their records)
 *                              co - 20..32: fn's args|
 *                              co - 36: trampoline_ret (the call's)
 *                              body's frames: the first
 *                              record holds {&co->link_fp,
 *                              trampoline_ret} ------+
 *
 *   resumer's stack while the coroutine runs: its frames above link_sp;
 *   link_sp - 4 still holds its return address (link_ra), pushed by the
 *   resume's `call` and popped by the resume point.
 */

#define CO_PC      0x00
#define CO_SP      0x04
#define CO_FP      0x08
#define CO_FINISHED 0x10
#define CO_FN      0x18
#define CO_ARG     0x1c
#define CO_LINK_FP 0x28
#define CO_LINK_RA 0x2c
#define CO_LINK_SP 0x30
#define CO_STACK_LIMIT 0x70 /* struct corolink.stack_limit (library-private) */

#define STATUS_YIELD 1
#define STATUS_RETURN 2
#define STATUS_THROW 4      /* internal: the body threw (CL_STATUS_THROW) */
#define FINISHED_RETURNED 1 /* CL_FINISHED_RETURNED */
#define SUSPENDED_PC_ADJUST 11 /* CL_SUSPENDED_PC_ADJUST */

/*
 * DWARF expressions used below, byte by byte (DWARF numbers: ebp = 5,
 * eip = 8, edi = 7; DW_OP_breg5 = 0x75, DW_OP_breg7 = 0x77).
 *
 * CFA_VIA_LINK: CFA = the resumer's esp after its resume returns, at
 * co->link_sp; ebp points at co->link_fp, so link_sp is at ebp + 8.
 *   0x0f           DW_CFA_def_cfa_expression
 *   0x03           expression length 3
 *   0x75 0x08      DW_OP_breg5 (ebp) + 8        -> &co->link_sp
 *   0x06           DW_OP_deref                  -> co->link_sp
 *
 * EBP_AT_EBP: the caller's ebp is saved at ebp + 0 (co->link_fp).
 *   0x10 0x05      DW_CFA_expression, register 5 (ebp)
 *   0x02           expression length 2
 *   0x75 0x00      DW_OP_breg5 (ebp) + 0        -> &co->link_fp
 *
 * EIP_AT_EBP4: the return address is saved at ebp + 4 (co->link_ra).
 *   0x10 0x08      DW_CFA_expression, register 8 (eip, the RA column)
 *   0x02           expression length 2
 *   0x75 0x04      DW_OP_breg5 (ebp) + 4        -> &co->link_ra
 *
 * EBP_IN_LINK: ebp was saved at co->link_fp, edi holding co (same bytes
 * as in include/corolink/i386_sysv_elf.h).
 *   0x10 0x05      DW_CFA_expression, register 5 (ebp)
 *   0x02           expression length 2
 *   0x77 0x28      DW_OP_breg7 (edi) + 40       -> &co->link_fp
 */
#define CFA_VIA_LINK .cfi_escape 0x0f, 0x03, 0x75, 0x08, 0x06
#define EBP_AT_EBP   .cfi_escape 0x10, 0x05, 0x02, 0x75, 0x00
#define EIP_AT_EBP4  .cfi_escape 0x10, 0x08, 0x02, 0x75, 0x04
#define EBP_IN_LINK  .cfi_escape 0x10, 0x05, 0x02, 0x77, 0x28

        .text

/*
 * The pc thunks: `call .Lpc_<reg>` leaves the address of the instruction
 * after the call in <reg>; nothing else changes. Leaves with nothing
 * pushed: the CIE's rows (CFA = esp + 4, return address at CFA - 4,
 * every other register unchanged but <reg>) hold at both instructions.
 * Named (local symbols cl_pc_thunk_<reg>) so that symbolizers name them.
 */
.macro PC_THUNK reg
        .type   cl_pc_thunk_\reg, @function
        .p2align 4
cl_pc_thunk_\reg:
.Lpc_\reg:
        .cfi_startproc
        movl    (%esp), %\reg
        ret
        .cfi_endproc
        .size   cl_pc_thunk_\reg, .-cl_pc_thunk_\reg
.endm
        PC_THUNK eax
        PC_THUNK ecx
        PC_THUNK edx
        PC_THUNK ebx

/* reg = the GOT's address (for @GOTOFF and @GOT operands); the thunk's
 * return address is the `addl`, which the GOTPC relocation of
 * $_GLOBAL_OFFSET_TABLE_ counts from. */
.macro LOAD_GOT reg
        call    .Lpc_\reg
        addl    $_GLOBAL_OFFSET_TABLE_, %\reg
.endm

/*
 * corolink__trampoline: co->pc of a coroutine that has not started.
 * Entered by the first resume's `call *%eax`: edi = co, esi = input,
 * [esp] = return address into the resumer, ebp = resumer's ebp.
 * Calls co->fn(yielder = co, input, co->arg) with esp = co - 32; when the
 * body returns, marks the coroutine finished and returns into its last
 * resumer with esi = return value, edx = COROLINK_RETURN. A signal frame,
 * for the reasons given in x86_64_sysv_elf.S.
 */
        .globl  corolink__trampoline
        .type   corolink__trampoline, @function
        .p2align 4
corolink__trampoline:
.Ltrampoline:   /* (for corolink__ontop: a reference that binds here) */
        .cfi_startproc
        .cfi_signal_frame
#if COROLINK_UNWIND
        /* As on x86-64: the root catches every exception (src/unwind.c).
         * 0x1b = DW_EH_PE_pcrel | DW_EH_PE_sdata4. */
        .cfi_personality 0x1b, corolink__personality
#endif
        /* CIE rows: CFA = esp + 4, return address at CFA - 4, every other
         * register unchanged. True here: this is the resumer's callee. */
        movl    %ebp, CO_LINK_FP(%edi)          /* resumer's ebp */
        popl    CO_LINK_RA(%edi)                /* resumer's return address */
        /* CFA = esp (the resumer's esp after its resume returns); the
         * return address stays at CFA - 4. */
        .cfi_def_cfa_offset 0
        movl    %esp, CO_LINK_SP(%edi)          /* resumer's esp after return */
        leal    CO_LINK_FP(%edi), %ebp          /* ebp = &co->link_fp */
        /* From here on the frame is described through ebp = &co->link_fp,
         * which holds on any stack: CFA = co->link_sp, ebp = co->link_fp,
         * eip = co->link_ra. ebp is callee-saved: the body hands it back. */
        CFA_VIA_LINK
        EBP_AT_EBP
        EIP_AT_EBP4
        movl    %edi, %esp                      /* onto the coroutine stack */
        call    .Lpc_ecx
1:      leal    corolink__trampoline_ret-1b(%ecx), %ecx
        movl    %ecx, -8(%edi)                  /* co - 8: our return address */
        movl    $0, -4(%edi)
        subl    $32, %esp                       /* esp = co - 32 */
        movl    CO_ARG(%edi), %ecx              /* fn(co, input, arg) */
        movl    %ecx, 8(%esp)
        movl    %esi, 4(%esp)
        movl    %edi, (%esp)
        call    *CO_FN(%edi)
        /* The body's return address: corolink_current() and the trap
         * handler recognise the root frame of a coroutine stack by it
         * (ebp = &co->link_fp there). */
        .globl  corolink__trampoline_ret
        .hidden corolink__trampoline_ret
corolink__trampoline_ret:
        /* The body returned: eax = return value, ebp = &co->link_fp,
         * esp = co - 32. Rows are unchanged (CFA via the link). */
        leal    -CO_LINK_FP(%ebp), %edi         /* edi = co */
        movl    $FINISHED_RETURNED, CO_FINISHED(%edi) /* pc stays NULL */
        movl    %eax, %esi                      /* value */
        movl    $STATUS_RETURN, %edx
.Lleave:
        /* Into the resumer with edi = co, esi = value, edx = status; rows
         * as above (CFA via the link). */
#if COROLINK_PROBES
        LOAD_GOT eax                            /* the return probe (and `from`) */
        movl    cl_probe_sems@GOTOFF(%eax), %ecx
        orl     cl_probe_sems@GOTOFF+4(%eax), %ecx
        jnz     .Lleave_probe
.Lleave_probed:
#endif
        movl    CO_LINK_SP(%edi), %eax
#if COROLINK_UNWIND
        .cfi_remember_state                     /* for the landing pad */
#endif
        leal    -4(%eax), %esp                  /* at the resumer's return address */
        movl    (%ebp), %ebp                    /* resumer's ebp */
        /* Back to the resumer's callee view: CFA = esp + 4, return address
         * at CFA - 4, ebp unchanged from here. */
        .cfi_def_cfa %esp, 4
        .cfi_offset %eip, -4
        .cfi_same_value %ebp
        ret
        /* Unwinders look callers of a signal frame up at the exact return
         * address; nothing may return to the address after this `ret`. */
        int3
#if COROLINK_UNWIND
        /* Landing pad, entered by the unwinder when an exception or this
         * coroutine's forced unwind reaches the root: esp = co - 32 (the
         * body's CFA), ebp = &co->link_fp, eax = the exception object,
         * edx = 1 (an exception) or 2 (the forced unwind), as
         * corolink__personality set them. Rows: via the link, as while the
         * body ran. */
        .cfi_restore_state
        /* From here on only exception handling runs (check-cfi's --cover
         * leaves the `_eh` tail out). */
        .globl  corolink__trampoline_eh
        .hidden corolink__trampoline_eh
corolink__trampoline_eh:
        leal    -CO_LINK_FP(%ebp), %edi         /* co */
        /* corolink__caught(co, exception, kind): the status. esp =
         * co - 32, 16-byte aligned; the arguments in the body's slots. */
        movl    %edx, 8(%esp)
        movl    %eax, 4(%esp)
        movl    %edi, (%esp)
        call    corolink__caught
        movl    %eax, %edx                      /* status */
        leal    -CO_LINK_FP(%ebp), %edi         /* co */
        xorl    %esi, %esi                      /* value: NULL */
        jmp     .Lleave
#endif
#if COROLINK_PROBES
#if !COROLINK_UNWIND
        .globl  corolink__trampoline_eh
        .hidden corolink__trampoline_eh
corolink__trampoline_eh:
#endif
.Lleave_probe:
        /* cl_probe_leave(co), on the coroutine stack (esp = co - 32),
         * ebp = &co->link_fp: rows via the link, restated. esi and edi are
         * callee-saved; the status waits in ebx (the resumer declared it
         * clobbered). */
        CFA_VIA_LINK
        EBP_AT_EBP
        EIP_AT_EBP4
        movl    %edx, %ebx                      /* status */
        movl    %edi, (%esp)
        call    cl_probe_leave                  /* (co) */
        movl    %ebx, %edx
        leal    -CO_LINK_FP(%ebp), %edi         /* co */
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
 * Calls fn(arg) with esp = (top & ~15) - 48 and returns its result on the
 * original stack. The new stack's top holds, for the trap handler's scan,
 * corolink__call_on_ret at top - 24 and the caller's esp at top - 16
 * (CL_CALL_ON_CALLER_SP = 0 past the word after it). An ordinary
 * ebp-based frame otherwise; a signal frame, as on x86-64.
 */
        .globl  corolink__call_on
        .type   corolink__call_on, @function
        .p2align 4
corolink__call_on:
        .cfi_startproc
        .cfi_signal_frame
        /* CFA = esp + 4, return address at CFA - 4. */
        pushl   %ebp
        /* CFA = esp + 8; the caller's ebp at CFA - 8. */
        .cfi_def_cfa_offset 8
        .cfi_offset %ebp, -8
        movl    %esp, %ebp
        /* CFA = ebp + 8, valid whichever stack esp is on. */
        .cfi_def_cfa_register %ebp
        movl    16(%ebp), %eax                  /* top */
        andl    $-16, %eax
        call    .Lpc_ecx
1:      leal    corolink__call_on_ret-1b(%ecx), %ecx
        movl    %ecx, -24(%eax)                 /* for the scan */
        leal    8(%ebp), %ecx
        movl    %ecx, -16(%eax)                 /* the caller's esp */
        leal    -48(%eax), %esp                 /* onto the new stack */
        movl    8(%ebp), %ecx
        movl    %ecx, (%esp)                    /* fn(arg) */
        call    *12(%ebp)
        /* fn's return address: the trap handler recognises a call_on
         * frame on the stack fn runs on by the copy at top - 24. */
        .globl  corolink__call_on_ret
        .hidden corolink__call_on_ret
corolink__call_on_ret:
        movl    %ebp, %esp                      /* back on the caller's stack */
        popl    %ebp
        /* CFA = esp + 4, ebp unchanged from here. */
        .cfi_def_cfa %esp, 4
        .cfi_same_value %ebp
        ret
        int3
        .cfi_endproc
        .size   corolink__call_on, .-corolink__call_on

/*
 * The out-of-line switch, as on x86-64: corolink_resume(),
 * corolink_suspend() and corolink__enter() save the callee-saved registers
 * the switch destroys (ebx, esi, edi) below an ebp frame record:
 *
 *   corolink_resume, on the resumer's stack     corolink_suspend, on the body's
 *   +4  return address into the caller           +4  return address into the body
 *    0  caller's ebp  <- ebp (CFA - 8)            0  body's ebp  <- co->fp (CFA - 8)
 *   -4  ebx  -8 esi  -12 edi                     -4  ebx  -8 esi  -12 edi <- co->sp
 *   -24 .. -13: outgoing arguments (16-byte aligned)
 */

/* The rows of an ebp-based frame that saved ebx, esi, edi below its frame
 * record: CFA = ebp + 8, the caller's ebp at CFA - 8, ebx, esi and edi
 * below it. */
.macro CALLEE_SAVED_ROWS
        .cfi_def_cfa %ebp, 8            /* CFA = ebp + 8 */
        .cfi_offset %ebp, -8            /* caller's ebp at CFA - 8 */
        .cfi_offset %ebx, -12           /* caller's ebx at CFA - 12 */
        .cfi_offset %esi, -16           /* caller's esi at CFA - 16 */
        .cfi_offset %edi, -20           /* caller's edi at CFA - 20 */
.endm

/* A prologue: a frame pointer, the callee-saved registers the switch
 * destroys, and 12 bytes that align esp to 16 for the calls made from the
 * frame (esp = ebp - 24). From the `movl` on, CFA = ebp + 8 on whatever
 * stack esp points into. */
.macro SAVE_CALLEE_SAVED
        pushl   %ebp
        .cfi_def_cfa_offset 8           /* CFA = esp + 8 */
        .cfi_offset %ebp, -8            /* caller's ebp at CFA - 8 */
        movl    %esp, %ebp
        .cfi_def_cfa_register %ebp      /* CFA = ebp + 8 */
        pushl   %ebx
        pushl   %esi
        pushl   %edi
        CALLEE_SAVED_ROWS               /* the pushes are done: all saved */
        subl    $12, %esp
.endm

/* Its epilogue: the saved registers back, the frame popped. After it,
 * CFA = esp + 4 and every register holds the caller's value. */
.macro RESTORE_CALLEE_SAVED
        movl    -4(%ebp), %ebx
        movl    -8(%ebp), %esi
        movl    -12(%ebp), %edi
        /* The registers hold their saved values again. */
        .cfi_same_value %ebx
        .cfi_same_value %esi
        .cfi_same_value %edi
        movl    %ebp, %esp
        popl    %ebp
        /* CFA = esp + 4, ebp restored. */
        .cfi_def_cfa %esp, 4
        .cfi_same_value %ebp
.endm

/* The rows of corolink_suspend's own frame, described through esp (its
 * ebp is not a frame pointer: see there): CFA = esp + 20, the body's ebp
 * at CFA - 8 (the frame record co->fp points at), ebx, esi, edi below. */
.macro SUSPEND_FRAME_ROWS
        .cfi_def_cfa %esp, 20           /* CFA = esp + 20 (co->sp + 20) */
        .cfi_offset %ebp, -8            /* body's ebp at CFA - 8 (co->fp) */
        .cfi_offset %ebx, -12           /* body's ebx at CFA - 12 */
        .cfi_offset %esi, -16           /* body's esi at CFA - 16 */
        .cfi_offset %edi, -20           /* body's edi at CFA - 20 */
.endm

/* int corolink_resume(corolink *co, void *input, void **output) */
        .globl  corolink_resume
        .type   corolink_resume, @function
        .p2align 4
corolink_resume:
        .cfi_startproc
        /* CFA = esp + 4, return address at CFA - 4. */
        SAVE_CALLEE_SAVED
        /* A tracer has the resume or suspend probe enabled, or suspend
         * timestamps are on, or a tool watches: the traced resume
         * (src/probes.c) does it all, with the same arguments. */
        LOAD_GOT ecx
#if COROLINK_PROBES
        cmpl    $0, cl_probe_switch@GOTOFF(%ecx)
#else
        movl    corolink__probe_switch@GOT(%ecx), %eax
        cmpl    $0, (%eax)
#endif
        jne     .Lresume_traced
        movl    8(%ebp), %edi                   /* co */
        testl   %edi, %edi
        jz      .Lresume_fail                   /* co NULL */
        movl    CO_PC(%edi), %eax               /* where to enter it */
        testl   %eax, %eax
        jz      .Lresume_fail                   /* running or finished */
        movl    12(%ebp), %esi                  /* input */
        movl    $0, CO_PC(%edi)                 /* running */
        xorl    %edx, %edx                      /* command: go on */
        call    *%eax                           /* the switch: see i386_sysv_elf.h */
        /* Back: edi = co, esi = value, edx = status; esp and ebp restored
         * by the suspend, so the rows above hold. */
        cmpl    $STATUS_THROW, %edx
        jae     .Lresume_throw                  /* the body threw */
        movl    16(%ebp), %ecx                  /* output */
        testl   %ecx, %ecx
        jz      2f
        movl    %esi, (%ecx)                    /* *output = value */
2:      movl    %edx, %eax                      /* the status */
.Lresume_out:
        .cfi_remember_state
        RESTORE_CALLEE_SAVED
        ret
        .cfi_restore_state
.Lresume_fail:
        /* corolink__resume_fail(co, output): the error. */
        movl    16(%ebp), %eax
        movl    %eax, 4(%esp)
        movl    8(%ebp), %eax
        movl    %eax, (%esp)
        call    corolink__resume_fail
        jmp     .Lresume_out
.Lresume_traced:
        /* corolink__resume_traced(co, input, output). */
        movl    16(%ebp), %eax
        movl    %eax, 8(%esp)
        movl    12(%ebp), %eax
        movl    %eax, 4(%esp)
        movl    8(%ebp), %eax
        movl    %eax, (%esp)
        call    corolink__resume_traced
        jmp     .Lresume_out
.Lresume_throw:
        /* Raise the body's exception again from this frame (co). */
        movl    %edi, (%esp)
        call    corolink__resume_throw
        int3
        .cfi_endproc
        .size   corolink_resume, .-corolink_resume

/* void *corolink_suspend(corolink_yielder *yielder, void *value) */
        .globl  corolink_suspend
        .type   corolink_suspend, @function
        .p2align 4
corolink_suspend:
        .cfi_startproc
        /* CFA = esp + 4: the body's frame called us. */
        movl    4(%esp), %ecx                   /* yielder */
        /* The yielder must be the innermost running coroutine's: its
         * stack [stack_limit, co) holds our return address (esp); a NULL
         * yielder fails the first test. cl_suspend_misuse() aborts. */
        cmpl    %ecx, %esp
        jae     .Lsuspend_misuse
        cmpl    CO_STACK_LIMIT(%ecx), %esp
        jbe     .Lsuspend_misuse
        pushl   %ebp
        .cfi_def_cfa_offset 8           /* CFA = esp + 8 */
        .cfi_offset %ebp, -8            /* body's ebp at CFA - 8 */
        /* Our frame record {body's ebp, return address into the body}:
         * co->fp, where frame-pointer walks of the suspended coroutine
         * start. ebp itself is left alone (see x86-64). */
        movl    %esp, CO_FP(%ecx)
        pushl   %ebx
        .cfi_def_cfa_offset 12          /* CFA = esp + 12 */
        .cfi_offset %ebx, -12           /* body's ebx at CFA - 12 */
        pushl   %esi
        .cfi_def_cfa_offset 16          /* CFA = esp + 16 */
        .cfi_offset %esi, -16           /* body's esi at CFA - 16 */
        pushl   %edi
        .cfi_def_cfa_offset 20          /* CFA = esp + 20 */
        .cfi_offset %edi, -20           /* body's edi at CFA - 20 */
        movl    %ecx, %edi                      /* co */
        movl    24(%esp), %esi                  /* value */
        movl    $STATUS_YIELD, %edx
        call    .Lpc_eax
1:      leal    .Lsuspend_resumed-1b(%eax), %eax
        movl    %eax, CO_PC(%edi)               /* suspended; resume here */
        movl    %esp, CO_SP(%edi)
        /* Our frame, CFA = esp + 20 (SUSPEND_FRAME_ROWS): kept for the
         * resume point. */
        .cfi_remember_state
        /* As in the inline suspend, the 11 bytes before the resume point
         * start with the body's esp in place: a tool may unwind a
         * suspended coroutine from co->pc - 11, co->sp and co->fp. */
        movl    CO_LINK_SP(%edi), %esp          /* resumer's esp after return */
        /* Now the resumer's callee that has returned: CFA = esp, the
         * return address still at CFA - 4, the resumer's ebp in
         * co->link_fp, the other registers what the resumer may find. */
        .cfi_def_cfa %esp, 0            /* CFA = esp */
        .cfi_offset %eip, -4            /* return address at CFA - 4 */
        EBP_IN_LINK                     /* resumer's ebp at co->link_fp */
        .cfi_same_value %ebx            /* ebx: what the resumer may find */
        .cfi_same_value %esi            /* esi: the value */
        .cfi_same_value %edi            /* edi: co */
        movl    CO_LINK_FP(%edi), %ebp
        .cfi_same_value %ebp            /* ebp is the resumer's again */
        /* Into the resumer: a jump, not a `ret` (which would pop the
         * body's call from the return-stack predictor: see x86-64). 5
         * bytes with the notrack prefix, so that the three instructions
         * make the 11 of the inline suspend. */
        notrack jmp *-4(%esp)
        /* The resume point (co->pc of a coroutine suspended here): named
         * for introspect.c, which skips this function's frame. */
        .globl  corolink__suspend_resumed
        .hidden corolink__suspend_resumed
corolink__suspend_resumed:
.Lsuspend_resumed:
        /* Entered by a resume's `call` on the resumer's stack: [esp] =
         * return address, ebp = the resumer's, edx = the command: the
         * resumer's callee. */
        .cfi_def_cfa %esp, 4            /* CFA = esp + 4 (eip at CFA - 4) */
        movl    %ebp, CO_LINK_FP(%edi)          /* link_fp: resumer's ebp */
        popl    CO_LINK_RA(%edi)                /* link_ra: resumer's return address */
        /* CFA = esp: the return address is still at CFA - 4. */
        .cfi_def_cfa_offset 0
        movl    %esp, CO_LINK_SP(%edi)          /* link_sp */
        movl    CO_SP(%edi), %esp               /* back on the body's stack */
        /* Our own frame again: CFA = esp + 20, the body's ebp at CFA - 8
         * and ebx, esi, edi below it. */
        .cfi_restore_state
        testl   %edx, %edx
        jnz     .Lsuspend_unwind                /* the resumer's command */
        movl    %esi, %eax                      /* returns the input */
        popl    %edi
        .cfi_def_cfa_offset 16          /* CFA = esp + 16 */
        .cfi_same_value %edi            /* edi holds the body's again */
        popl    %esi
        .cfi_def_cfa_offset 12          /* CFA = esp + 12 */
        .cfi_same_value %esi            /* esi holds the body's again */
        popl    %ebx
        .cfi_def_cfa_offset 8           /* CFA = esp + 8 */
        .cfi_same_value %ebx            /* ebx holds the body's again */
        popl    %ebp
        .cfi_def_cfa_offset 4           /* CFA = esp + 4 */
        .cfi_same_value %ebp            /* ebp holds the body's again */
        popl    %ecx
        /* CFA = esp: return address still at CFA - 4. */
        .cfi_def_cfa_offset 0
        notrack jmp *%ecx                       /* into the body (a return) */
        /* From here on only exception handling and misuse (check-cfi's
         * --cover leaves the `_eh` tail out). */
        .globl  corolink_suspend_eh
        .hidden corolink_suspend_eh
corolink_suspend_eh:
.Lsuspend_unwind:
        /* corolink_force_unwind() resumed us with the unwind command. On
         * the body's stack in our own frame (esp = co->sp). */
        SUSPEND_FRAME_ROWS
        movl    CO_FP(%edi), %ebp
        /* The same frame described through ebp = co->fp = esp + 12:
         * CFA = ebp + 8, registers saved below it. */
        CALLEE_SAVED_ROWS
        subl    $12, %esp                       /* 16-byte alignment */
        movl    %edi, (%esp)
        call    corolink__suspend_unwind        /* (co) */
        int3
.Lsuspend_misuse:
        /* A bad yielder, found before anything was saved: CFA = esp + 4,
         * every register the body's. cl_suspend_misuse(yielder, esp)
         * prints what is wrong and aborts. */
        .cfi_def_cfa %esp, 4            /* CFA = esp + 4 */
        .cfi_same_value %ebp            /* ebp: the body's */
        .cfi_same_value %ebx            /* ebx: the body's */
        .cfi_same_value %esi            /* esi: the body's */
        .cfi_same_value %edi            /* edi: the body's */
        movl    %esp, %eax
        subl    $12, %esp                       /* 16-byte alignment */
        .cfi_def_cfa_offset 16          /* CFA = esp + 16 */
        movl    %eax, 4(%esp)
        movl    %ecx, (%esp)
        call    cl_suspend_misuse
        int3
        .cfi_endproc
        .size   corolink_suspend, .-corolink_suspend

/*
 * int corolink__enter(corolink *co, void *input, uintptr_t cmd, void **value)
 * The library's own resume (see x86_64_sysv_elf.S). A `cmd` above 1 is a
 * struct cl_with * (corolink_resume_with()): the switch then goes through
 * corolink__ontop, which runs with->fn on co's stack first.
 */
        .pushsection corolink_hidden, "ax", @progbits
        .globl  corolink__enter
        .type   corolink__enter, @function
        .p2align 4
corolink__enter:
        .cfi_startproc
        /* CFA = esp + 4, return address at CFA - 4. */
        SAVE_CALLEE_SAVED
#if COROLINK_PROBES
        LOAD_GOT ecx
        cmpl    $0, cl_probe_switch@GOTOFF(%ecx) /* the resume probe */
        jne     .Lenter_probe
.Lenter_probed:
#endif
        movl    8(%ebp), %edi                   /* co */
        movl    12(%ebp), %esi                  /* input */
        movl    16(%ebp), %edx                  /* cmd */
        movl    CO_PC(%edi), %eax
        movl    $0, CO_PC(%edi)                 /* running */
        cmpl    $1, %edx
        ja      .Lenter_with                    /* cmd: a struct cl_with * */
        call    *%eax                           /* edi = co, esi, edx = cmd */
.Lenter_back:
        /* Back: esi = value, edx = status; rows as above. */
        movl    20(%ebp), %ecx
        movl    %esi, (%ecx)
        movl    %edx, %eax
        RESTORE_CALLEE_SAVED
        ret
#if COROLINK_PROBES
.Lenter_probe:
        /* cl_probe_resume(co). CFA = ebp + 8, registers saved. */
        CALLEE_SAVED_ROWS
        movl    8(%ebp), %eax
        movl    %eax, (%esp)
        call    cl_probe_resume
        jmp     .Lenter_probed
#endif
.Lenter_with:
        /* corolink_resume_with(): eax = co's old pc, edx = the struct
         * cl_with. Same frame as at the `call *%eax` above; corolink__ontop
         * comes back as a switch does. */
        CALLEE_SAVED_ROWS
        call    corolink__ontop
        jmp     .Lenter_back
        .cfi_endproc
        .size   corolink__enter, .-corolink__enter

/*
 * corolink__ontop: the switch of corolink_resume_with() (read the comment
 * on corolink__ontop in x86_64_sysv_elf.S first), called by
 * corolink__enter on the resumer's stack like a resume point:
 *   edi = co, esi = input, edx = struct cl_with { fn, arg }, eax = co's
 *   old pc (the resume point of its pending suspend, or
 *   corolink__trampoline if it has not started), [esp] = return address
 *   into corolink__enter, ebp = its ebp.
 * Its frame on co's stack looks called from the coroutine at its
 * suspension point S = co->pc - 11 (the switch-out's first instruction,
 * where the body's rows hold with esp = co->sp and ebp = co->fp), as on
 * x86-64:
 *
 *   co's stack while fn runs:
 *     Csp = co->sp  ->  (the body's frames, as the suspend left them)
 *     Csp - 4           S = co->pc - 11          } a frame record, as a
 *     Csp - 8           Cfp = co->fp  <- ebp     } call from S leaves it
 *     Csp - 12          co
 *     Csp - 16          co's old pc (where to go on after fn)
 *                       (16-byte alignment; fn's arguments)
 *                       fn's frames
 *
 * For a coroutine that has not started: S = corolink__trampoline_ret,
 * Csp = co - 32, Cfp = &co->link_fp, and co - 8 / co - 4 written as the
 * trampoline leaves them. Exceptions as on x86-64 (the command travels in
 * edx: 0 go on, 1 raise).
 */
#define WITH_FN    0x00         /* struct cl_with (src/internal.h) */
#define WITH_ARG   0x04
        .globl  corolink__ontop
        .type   corolink__ontop, @function
        .p2align 4
corolink__ontop:
        .cfi_startproc
#if COROLINK_UNWIND
        /* Everything that leaves fn stops here. Encoding as in
         * corolink__trampoline. */
        .cfi_personality 0x1b, corolink__ontop_personality
#endif
        /* CIE rows: CFA = esp + 4, return address at CFA - 4, every other
         * register unchanged: corolink__enter's callee. The GOT first:
         * the thunk's call pushes below esp, which after the `popl` below
         * would be the return address's slot (the resume point the old pc
         * may be returns through it). */
        movl    WITH_FN(%edx), %ebx             /* fn */
        movl    WITH_ARG(%edx), %ecx            /* arg */
        LOAD_GOT edx
        movl    %ebp, CO_LINK_FP(%edi)          /* resumer's ebp */
        popl    CO_LINK_RA(%edi)                /* resumer's return address */
        /* CFA = esp (the resumer's esp after its call returns); the return
         * address stays at CFA - 4. */
        .cfi_def_cfa_offset 0
        movl    %esp, CO_LINK_SP(%edi)          /* resumer's esp after return */
        /* ebp is free: the resumer's is in co->link_fp (and the rows say
         * so: CFA and the return address through esp, ebp ... */
        EBP_IN_LINK                     /* ... at co->link_fp, edi = co) */
        leal    .Ltrampoline@GOTOFF(%edx), %ebp
        cmpl    %ebp, %eax
        je      1f
        /* Suspended: called from the switch-out S with the body's esp
         * and ebp. */
        movl    CO_SP(%edi), %edx               /* Csp */
        leal    -SUSPENDED_PC_ADJUST(%eax), %ebp /* S */
        movl    %ebp, -4(%edx)                  /* the return address */
        movl    CO_FP(%edi), %ebp               /* Cfp */
        movl    %ebp, -8(%edx)                  /* the caller's ebp */
        jmp     2f
1:      /* Not started: called from the root frame, at the body's return
         * address, with esp = co - 32 and ebp = &co->link_fp. */
        leal    corolink__trampoline_ret@GOTOFF(%edx), %ebp /* S */
        leal    -32(%edi), %edx                 /* Csp */
        movl    %ebp, 24(%edx)                  /* co - 8, as the trampoline */
        movl    $0, 28(%edx)                    /* co - 4 */
        movl    %ebp, -4(%edx)                  /* the return address */
        leal    CO_LINK_FP(%edi), %ebp          /* Cfp */
        movl    %ebp, -8(%edx)                  /* the caller's ebp */
2:      leal    -8(%edx), %esp                  /* onto co's stack */
        /* Now the callee of S that has pushed ebp: CFA = esp + 8 (Csp),
         * return address at CFA - 4, the caller's ebp at CFA - 8. */
        .cfi_def_cfa %esp, 8
        .cfi_offset %ebp, -8
        movl    %esp, %ebp
        /* CFA = ebp + 8 from here on, whatever esp does. */
        .cfi_def_cfa_register %ebp
        pushl   %edi                            /* co, at ebp - 4 */
        pushl   %eax                            /* co's old pc, at ebp - 8 */
        subl    $8, %esp
        andl    $-16, %esp                      /* the ABI's alignment */
        movl    %ecx, 4(%esp)                   /* fn(input, arg) */
        movl    %esi, (%esp)
        call    *%ebx
        movl    %eax, %esi                      /* fn's result: the input */
        xorl    %edx, %edx                      /* the command: go on */
.Lontop_leave:
        /* Into co's old pc, as a resume enters it: esi = the input, edx =
         * the command for a pending suspend (0 go on, 1 raise). */
        movl    -4(%ebp), %edi                  /* co */
        movl    -8(%ebp), %ecx                  /* where co goes on */
        /* The body's esp and ebp for the resume point, which reads them
         * from co: fn may have suspended co since, over them. */
        movl    (%ebp), %eax
        movl    %eax, CO_FP(%edi)
        leal    8(%ebp), %eax
        movl    %eax, CO_SP(%edi)
        movl    CO_LINK_SP(%edi), %eax
        .cfi_remember_state                     /* for the landing pad */
        leal    -4(%eax), %esp                  /* at the resumer's return address */
        /* Back to the resumer's callee view, as at a resume's `call`:
         * CFA = esp + 4, return address at CFA - 4, the resumer's ebp in
         * co->link_fp (edi = co). */
        .cfi_def_cfa %esp, 4
        .cfi_offset %eip, -4
        EBP_IN_LINK
        movl    CO_LINK_FP(%edi), %ebp
        .cfi_same_value %ebp                    /* ebp: the resumer's */
        jmp     *%ecx                           /* edi = co, esi, edx */
        .cfi_restore_state
#if COROLINK_UNWIND
        /* Landing pad, entered by the unwinder when an exception leaves fn
         * (or co's forced unwind reaches this frame): ebp = our frame,
         * esp = what it was at the call, eax = the exception object,
         * edx = 1 (an exception) or 2 (the forced unwind), as
         * corolink__ontop_personality set them. Rows: our frame, as while
         * fn ran. (check-cfi's --cover leaves the `_eh` tail out.) */
        .globl  corolink__ontop_eh
        .hidden corolink__ontop_eh
corolink__ontop_eh:
        movl    -4(%ebp), %edi                  /* co */
        movl    -8(%ebp), %ecx                  /* where co goes on */
        LOAD_GOT ebx                            /* (fn is done with ebx) */
        leal    .Ltrampoline@GOTOFF(%ebx), %ebx
        cmpl    %ebx, %ecx
        je      4f
        /* corolink__ontop_caught(co, exception, kind) leaves the exception
         * (or the order to unwind again) for corolink__suspend_unwind(),
         * which the pending suspend calls when entered with edx = 1. esp
         * is 16-byte aligned, as at the call of fn. */
        movl    %edx, 8(%esp)
        movl    %eax, 4(%esp)
        movl    %edi, (%esp)
        call    corolink__ontop_caught
        xorl    %esi, %esi                      /* value: NULL */
        movl    $1, %edx                        /* the command: raise */
        jmp     .Lontop_leave
4:      /* Not started: go back into the root frame, as a return to S
         * would, and take its landing pad with eax and edx as they are:
         * it finishes co and reports the exception (or the end of the
         * forced unwind) to the resumer. Rows: our frame. */
        .cfi_def_cfa %ebp, 8
        .cfi_offset %ebp, -8
        .cfi_offset %eip, -4
        leave                                   /* ebp = &co->link_fp */
        /* CFA = esp + 4: the return address S is at esp, ebp restored. */
        .cfi_def_cfa %esp, 4
        .cfi_same_value %ebp
        leal    4(%esp), %esp                   /* esp = co - 32 */
        /* CFA = esp: S still at CFA - 4. */
        .cfi_def_cfa_offset 0
        jmp     corolink__trampoline_eh
#endif
        .cfi_endproc
        .size   corolink__ontop, .-corolink__ontop

        .popsection

        .section .note.GNU-stack,"",@progbits
