/*
 * Windows x64 (Microsoft x64 ABI), PE/COFF, GNU as (mingw-w64): the root
 * frame of every coroutine stack (corolink__trampoline), the
 * stack-switching call (corolink__call_on), the out-of-line switch
 * (corolink_resume, corolink_suspend) and the library's own resume
 * (corolink__enter). How this target differs from x86-64 System V
 * (unwind-info/x86_64_sysv_elf.S, which explains the design):
 *
 *   resume:  rcx = control block `co`, rax = co->pc, rdx = input, r8 =
 *            command; `call *%rax`. Comes back with rcx = co, rdx = value,
 *            r8d = status.
 *   co->pc:  entered on the resumer's stack with [rsp] = return address,
 *            rbp = resumer's rbp. Records the resumer in co->link_fp
 *            (rbp), link_ra (return address) and link_sp (rsp: the
 *            address of the return address), swaps the TEB's stack fields
 *            with the block's copy, then runs on the coroutine stack.
 *
 * Unwind information is SEH's (.pdata/.xdata), read by RtlVirtualUnwind:
 * unwind codes that undo a function's prologue, in reverse order, from
 * the state after it; nothing describes code after the prologue except
 * the epilogue, which unwinders recognise by its instructions. So the
 * rows of the DWARF targets have no equivalent inside the switch (see
 * "Windows x64" in unwind-info/README.md); what matters, and what the
 * codes below give exactly, is the step from a coroutine's root frame
 * into its resumer.
 *
 * The stack as the trampoline leaves it while the body runs:
 *
 *     resumer's stack                      coroutine stack (top)
 *   +--------------------+            +-----------------------------+
 *   | resumer's frame    |            | control block co (0x200 B)  |
 *   |                    |            |   0x50 link_sp -------------+--+
 *   | return address  <--+------------+---                          |  |
 *   +--------------------+  link_sp   |   0x40 link_fp  <- rbp      |  |
 *                                     +-----------------------------+  |
 *                                     | 32 bytes: the body's shadow |  |
 *                                     |   space (co - 32 = its rsp  |  |
 *                                     |   at the call)              |  |
 *                                     | corolink__trampoline_ret    |  |
 *                                     | body's frames ...           |  |
 *                                     +-----------------------------+  |
 *   (link_sp holds the address of the return address: ---------------+)
 */

#define CO_PC      0x00
#define CO_SP      0x08
#define CO_FP      0x10
#define CO_FINISHED 0x20
#define CO_FN      0x28
#define CO_ARG     0x30
#define CO_LINK_FP 0x40
#define CO_LINK_RA 0x48
#define CO_LINK_SP 0x50
#define CO_TEB     0x58       /* the TEB record: see TEB_ENTER */
#define CO_STACK_LIMIT 0xc8   /* struct corolink.stack_limit (library-private) */

#define STATUS_YIELD 1
#define STATUS_RETURN 2
#define STATUS_THROW 4
#define FINISHED_RETURNED 1

/* TEB offsets (gs: points at the running thread's TEB on x64). */
#define TEB_EXCEPTION_LIST 0x00 /* see the header: for wine */
#define TEB_STACK_BASE  0x08
#define TEB_STACK_LIMIT 0x10
#define TEB_DEALLOC     0x1478
#define TEB_GUARANTEE   0x1748

/* The TEB record, at \co + \rec (the control block's at CO_TEB, or one
 * of corolink__call_on's): +0x00 saved StackBase, +0x08 saved StackLimit
 * (the side that entered, while the other runs), +0x10 DeallocationStack,
 * +0x18 GuaranteedStackBytes (32 bits), +0x20 ExceptionList (these three
 * swapped on every switch), +0x28 own StackBase, +0x30 own StackLimit (of
 * the stack entered). TEB_ENTER and TEB_LEAVE are the instructions of
 * COROLINK__TEB_ENTER and COROLINK__TEB_LEAVE in the header. */
.macro TEB_SWAP3 co, t0, t1, t2, t3, t1d, t3d, rec
        movq    %gs:TEB_DEALLOC, \t0
        movl    %gs:TEB_GUARANTEE, \t1d
        movq    \rec+0x10(\co), \t2
        movl    \rec+0x18(\co), \t3d
        movq    \t2, %gs:TEB_DEALLOC
        movl    \t3d, %gs:TEB_GUARANTEE
        movq    \t0, \rec+0x10(\co)
        movl    \t1d, \rec+0x18(\co)
        movq    %gs:TEB_EXCEPTION_LIST, \t0
        movq    \rec+0x20(\co), \t1
        movq    \t1, %gs:TEB_EXCEPTION_LIST
        movq    \t0, \rec+0x20(\co)
.endm
/* Entering a stack: [StackLimit, StackBase] becomes the union of the
 * current bounds (saved) and the stack's own; the rest swapped. */
.macro TEB_ENTER co, t0, t1, t2, t3, t1d, t3d, rec=CO_TEB
        movq    %gs:TEB_STACK_BASE, \t0
        movq    %gs:TEB_STACK_LIMIT, \t1
        movq    \t0, \rec+0x00(\co)
        movq    \t1, \rec+0x08(\co)
        movq    \rec+0x28(\co), \t2
        movq    \rec+0x30(\co), \t3
        cmpq    \t2, \t0
        cmovbq  \t2, \t0                        /* StackBase: the higher */
        cmpq    \t3, \t1
        cmovaq  \t3, \t1                        /* StackLimit: the lower */
        movq    \t0, %gs:TEB_STACK_BASE
        movq    \t1, %gs:TEB_STACK_LIMIT
        TEB_SWAP3 \co, \t0, \t1, \t2, \t3, \t1d, \t3d, \rec
.endm
/* Leaving it: the saved bounds back, the rest swapped back. */
.macro TEB_LEAVE co, t0, t1, t2, t3, t1d, t3d, rec=CO_TEB
        movq    \rec+0x00(\co), \t0
        movq    \rec+0x08(\co), \t1
        movq    \t0, %gs:TEB_STACK_BASE
        movq    \t1, %gs:TEB_STACK_LIMIT
        TEB_SWAP3 \co, \t0, \t1, \t2, \t3, \t1d, \t3d, \rec
.endm

/* What every resume point does first, entered by a resume's `call` on the
 * resumer's stack: record the resumer in co->link_fp (its rbp), link_ra
 * (the return address) and link_sp (the address of that). */
.macro RECORD_RESUMER co, tmp
        movq    %rbp, CO_LINK_FP(\co)           /* resumer's rbp */
        movq    (%rsp), \tmp
        movq    \tmp, CO_LINK_RA(\co)           /* resumer's return address */
        movq    %rsp, CO_LINK_SP(\co)           /* &return address */
.endm

/* A function symbol for the linker and the debuggers (COFF: storage class
 * 2 = external, type 0x20 = function). */
.macro FUNCTION name
        .globl  \name
        .def    \name; .scl 2; .type 32; .endef
.endm

        .text

/*
 * corolink__trampoline: co->pc of a coroutine that has not started.
 * Entered by the first resume's `call *co->pc` with rcx = co, rdx = input,
 * rsp = resumer's stack with [rsp] = return address, rbp = resumer's rbp.
 * Calls co->fn(yielder = co, input, co->arg) with rsp = co - 32 (the
 * body's shadow space), and when the body returns, marks the coroutine
 * finished and returns into its last resumer with rdx = return value,
 * r8d = COROLINK_RETURN.
 *
 * The unwind codes. Once the prologue has run, rbp = &co->link_fp, and
 * the frame register makes RtlVirtualUnwind compute, for any pc of the
 * body of this function:
 *   frame = rbp - 0                     (UNWIND_INFO: FrameRegister = rbp,
 *                                        FrameOffset = 0)
 * then apply the codes in this order (the reverse of the directives):
 *   UWOP_SET_FPREG           rsp = frame            = &co->link_fp
 *   UWOP_SAVE_NONVOL rbp, 0  rbp = [frame + 0]      = co->link_fp
 *   UWOP_SAVE_NONVOL rsp, 16 rsp = [frame + 0x10]   = co->link_sp
 * and end as every unwind does: rip = [rsp], rsp += 8, which pops the
 * resumer's return address from the resumer's own stack. Each code is
 * tagged with the offset of the end of the `leaq` that sets rbp, so
 * before it (rsp still at the return address, rbp the resumer's) none
 * applies and the plain rip = [rsp] is right too. The codes are listed
 * so that SET_FPREG comes first: unwinders that take UWOP_SAVE_NONVOL
 * offsets from the current rsp (rather than from the frame) agree.
 *
 * rbp is callee-saved in the body, so it still holds &co->link_fp
 * whenever an unwinder reaches this frame; every resume rewrites
 * link_fp, link_ra and link_sp, so the step always leads to the latest
 * resumer.
 *
 * Its language-specific handler (corolink__seh_handler, src/unwind.c)
 * catches every exception that leaves the body, C++ or SEH, and stops the
 * coroutine's forced unwind: exception dispatch on Windows validates every
 * frame against the TEB's stack limits, which name the coroutine stack
 * while the body runs, so no exception can be dispatched past this frame
 * into the resumer's. The handler sends the unwind to
 * corolink__trampoline_eh, from where the resumer raises it again.
 */
        FUNCTION corolink__trampoline
        .p2align 4
        .seh_proc corolink__trampoline
corolink__trampoline:
        RECORD_RESUMER %rcx, %rax
        leaq    CO_LINK_FP(%rcx), %rbp          /* rbp = &co->link_fp */
        /* Unwind codes, listed in reverse of how the unwinder applies them
         * (see above). COROLINK_NO_LINK_RECORDS leaves them out: the
         * negative control of tests/windows, whose walks must then fail. */
#if !COROLINK_NO_LINK_RECORDS
        .seh_savereg %rsp, 0x10                 /* rsp = [frame + 0x10] = link_sp */
        .seh_savereg %rbp, 0                    /* rbp = [frame] = link_fp */
        .seh_setframe %rbp, 0                   /* frame = rbp; rsp = frame */
#endif
        .seh_endprologue
        TEB_ENTER %rcx, %rax, %r9, %r10, %r11, %r9d, %r11d
        leaq    -32(%rcx), %rsp                 /* onto the coroutine stack */
        movq    CO_ARG(%rcx), %r8               /* fn(co, input, arg) */
        call    *CO_FN(%rcx)
        /* The body's return address: corolink_current() recognises the
         * root frame of a coroutine stack by it (rbp = &co->link_fp). */
        .globl  corolink__trampoline_ret
corolink__trampoline_ret:
        leaq    -CO_LINK_FP(%rbp), %rcx         /* rcx = co */
        movl    $FINISHED_RETURNED, CO_FINISHED(%rcx) /* pc stays NULL */
        movq    %rax, %rdx                      /* value */
        movl    $STATUS_RETURN, %r8d
.Lleave:
        /* Into the resumer with rcx = co, rdx = value, r8d = status. */
        TEB_LEAVE %rcx, %rax, %r9, %r10, %r11, %r9d, %r11d
        movq    CO_LINK_SP(%rcx), %rsp          /* at the resumer's return address */
        movq    CO_LINK_FP(%rcx), %rbp          /* resumer's rbp */
        ret                                     /* an epilogue to unwinders */
        int3
#if COROLINK_UNWIND
        /* Landing pad, entered through RtlUnwindEx when an exception or
         * this coroutine's forced unwind reaches the root: every frame of
         * the body has been unwound, so rsp = co - 32 and rbp = &co->link_fp
         * (restored by the unwind codes of the body's frames); rax = the
         * exception (the ReturnValue of RtlUnwindEx), rdx = 1 (a C++ or
         * other GCC exception), 2 (the forced unwind) or 3 (an SEH
         * exception), as corolink__seh_handler set them. */
        .globl  corolink__trampoline_eh
corolink__trampoline_eh:
        leaq    -CO_LINK_FP(%rbp), %rcx         /* co */
        movl    %edx, %r8d                      /* kind */
        movq    %rax, %rdx                      /* exception */
        /* corolink__caught(co, exception, kind) records how the coroutine
         * finished and returns the status for the resumer; rsp = co - 32
         * is 16-byte aligned and [rsp, co) is its shadow space. */
        call    corolink__caught
        movl    %eax, %r8d                      /* status */
        leaq    -CO_LINK_FP(%rbp), %rcx         /* co */
        xorl    %edx, %edx                      /* value: NULL */
        jmp     .Lleave
        .seh_handler corolink__seh_handler, @except, @unwind
#endif
        .seh_endproc
        /* End of the trampoline's code, for corolink_current(). */
        .globl  corolink__trampoline_end
corolink__trampoline_end:

/*
 * void *corolink__call_on(void *arg, void *(*fn)(void *), void *top,
 *                         void *teb)
 * Calls fn(arg) with rsp just below `top` (16-byte aligned, with shadow
 * space) and returns its result on the original stack. `teb` points at
 * a TEB record (see TEB_ENTER; struct cl_teb_record in
 * src/arch/x86_64_windows.h) whose own bounds and DeallocationStack,
 * GuaranteedStackBytes and ExceptionList describe the stack fn runs on:
 * entered for the call and left after it, as a resume and a suspend do.
 *
 * Unwind codes. Exception dispatch only looks at frames whose establisher
 * frame lies within the TEB's limits, which always include fn's stack but
 * not always the caller's (corolink_on_stack() from a thread), so this
 * frame's must lie on fn's stack: as in the trampoline, a record on the new
 * stack holds what the unwinder needs, and the frame register points at
 * it. Record at top - 48 (top aligned down to 16):
 *   +0x00 caller's rbp   +0x08 caller's rbx   +0x10 &return address
 *   +0x18 teb
 * Codes (applied in this order once rbp = record):
 *   UWOP_SET_FPREG            rsp = frame = rbp
 *   UWOP_SAVE_NONVOL rbp, 0   rbp = [frame]
 *   UWOP_SAVE_NONVOL rbx, 8   rbx = [frame + 8]
 *   UWOP_SAVE_NONVOL rsp, 16  rsp = [frame + 0x10] = &return address
 *   then rip = [rsp], rsp += 8: the caller, on its own stack.
 *
 * An exception cannot be dispatched from fn's stack into the caller's, so,
 * as at the root of a coroutine, this frame's handler
 * (corolink__call_on_seh_handler, src/unwind.c) catches whatever leaves
 * fn, the unwind lands in corolink__call_on_eh, and that raises it again
 * on the caller's stack.
 */
        FUNCTION corolink__call_on
        .p2align 4
        .seh_proc corolink__call_on
corolink__call_on:
        andq    $-16, %r8
        movq    %rbp, -0x30(%r8)                /* the record */
        movq    %rbx, -0x28(%r8)
        movq    %rsp, -0x20(%r8)                /* &return address */
        movq    %r9, -0x18(%r8)
        leaq    -0x30(%r8), %rbp                /* rbp = record */
        .seh_savereg %rsp, 0x10                 /* rsp = [frame + 0x10] */
        .seh_savereg %rbx, 8                    /* rbx = [frame + 8] */
        .seh_savereg %rbp, 0                    /* rbp = [frame] */
        .seh_setframe %rbp, 0                   /* frame = rbp; rsp = frame */
        .seh_endprologue
        movq    %r9, %rbx                       /* teb, kept across fn */
        leaq    -32(%rbp), %rsp                 /* onto the new stack, shadow space */
        testq   %rbx, %rbx
        jz      1f
        TEB_ENTER %rbx, %rax, %r9, %r10, %r11, %r9d, %r11d, 0
1:      call    *%rdx                           /* fn(arg): rcx = arg */
        /* fn's return address: the trap handler recognises a call_on
         * frame by it. */
        .globl  corolink__call_on_ret
corolink__call_on_ret:
        testq   %rbx, %rbx
        jz      2f
        movq    %rbx, %rcx
        TEB_LEAVE %rcx, %rdx, %r9, %r10, %r11, %r9d, %r11d, 0
2:      movq    0x10(%rbp), %rsp                /* back on the caller's stack */
        movq    0x08(%rbp), %rbx
        movq    0x00(%rbp), %rbp
        ret
#if COROLINK_UNWIND
        .seh_handler corolink__call_on_seh_handler, @except, @unwind
#endif
        .seh_endproc

#if COROLINK_UNWIND
/*
 * Landing pad of corolink__call_on, entered through RtlUnwindEx when an
 * exception leaves fn: rsp = the new stack, rbp = the record and rbx =
 * teb (restored by the unwind codes of fn's frames), rax = the exception,
 * rdx = its kind (as at the trampoline's landing pad). It gives the TEB
 * back, restores the caller's rbp and rbx and moves onto the caller's
 * stack, 40 bytes below the return address, and raises the exception
 * again from there. A function of its own, without a handler, whose one
 * unwind code (at prologue offset 0, so for every pc) describes that last
 * state: UWOP_ALLOC_SMALL 40, rsp += 40; then rip = [rsp], rsp += 8.
 */
        FUNCTION corolink__call_on_eh
        .seh_proc corolink__call_on_eh
corolink__call_on_eh:
        .seh_stackalloc 40
        .seh_endprologue
        testq   %rbx, %rbx
        jz      1f
        movq    %rbx, %rcx                      /* the TEB back (keeps rax, rdx) */
        TEB_LEAVE %rcx, %r8, %r9, %r10, %r11, %r9d, %r11d, 0
1:      movq    0x10(%rbp), %rcx                /* &return address */
        movq    0x08(%rbp), %rbx
        movq    0x00(%rbp), %rbp
        leaq    -40(%rcx), %rsp                 /* shadow space, 16-byte aligned */
        movq    %rax, %rcx
        call    corolink__call_on_rethrow       /* (exception, kind): no return */
        int3
        .seh_endproc
#endif

/*
 * The out-of-line switch: int corolink_resume(corolink *co, void *input,
 * void **output) and void *corolink_suspend(corolink_yielder *y, void *v),
 * for code built with COROLINK_NO_INLINE or called from other languages.
 * They speak the inline switch's protocol, save and restore every
 * callee-saved register of the Microsoft ABI (rbx, rbp, rdi, rsi,
 * r12-r15, xmm6-xmm15) and, as on Linux, transfer control with jumps
 * where the inline switch returns, to keep the return-stack predictor
 * balanced.
 *
 * Their frame (rsp-based; the unwind codes describe it exactly):
 *   rsp + 0x00 .. 0x20   shadow space of the calls made from here
 *   rsp + 0x20           output (resume) / value pointer (enter)
 *   rsp + 0x30 .. 0xd0   xmm6 .. xmm15
 *   rsp + 0xd8 ..        r15 r14 r13 r12 rdi rsi rbx rbp, return address
 */
#define FRAME_ALLOC 0xd8
#define FRAME_SLOT  0x20
.macro SAVE_CALLEE_SAVED
        pushq   %rbp
        .seh_pushreg %rbp
        pushq   %rbx
        .seh_pushreg %rbx
        pushq   %rsi
        .seh_pushreg %rsi
        pushq   %rdi
        .seh_pushreg %rdi
        pushq   %r12
        .seh_pushreg %r12
        pushq   %r13
        .seh_pushreg %r13
        pushq   %r14
        .seh_pushreg %r14
        pushq   %r15
        .seh_pushreg %r15
        subq    $FRAME_ALLOC, %rsp
        .seh_stackalloc FRAME_ALLOC             /* rsp += FRAME_ALLOC */
        movaps  %xmm6, 0x30(%rsp)
        .seh_savexmm %xmm6, 0x30                /* xmm6 = [rsp + 0x30] */
        movaps  %xmm7, 0x40(%rsp)
        .seh_savexmm %xmm7, 0x40
        movaps  %xmm8, 0x50(%rsp)
        .seh_savexmm %xmm8, 0x50
        movaps  %xmm9, 0x60(%rsp)
        .seh_savexmm %xmm9, 0x60
        movaps  %xmm10, 0x70(%rsp)
        .seh_savexmm %xmm10, 0x70
        movaps  %xmm11, 0x80(%rsp)
        .seh_savexmm %xmm11, 0x80
        movaps  %xmm12, 0x90(%rsp)
        .seh_savexmm %xmm12, 0x90
        movaps  %xmm13, 0xa0(%rsp)
        .seh_savexmm %xmm13, 0xa0
        movaps  %xmm14, 0xb0(%rsp)
        .seh_savexmm %xmm14, 0xb0
        movaps  %xmm15, 0xc0(%rsp)
        .seh_savexmm %xmm15, 0xc0
        .seh_endprologue
.endm

/* Restores what SAVE_CALLEE_SAVED saved; leaves rsp at the return
 * address (an epilogue: `add rsp` and pops, then the transfer). */
.macro RESTORE_CALLEE_SAVED
        movaps  0x30(%rsp), %xmm6
        movaps  0x40(%rsp), %xmm7
        movaps  0x50(%rsp), %xmm8
        movaps  0x60(%rsp), %xmm9
        movaps  0x70(%rsp), %xmm10
        movaps  0x80(%rsp), %xmm11
        movaps  0x90(%rsp), %xmm12
        movaps  0xa0(%rsp), %xmm13
        movaps  0xb0(%rsp), %xmm14
        movaps  0xc0(%rsp), %xmm15
        addq    $FRAME_ALLOC, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rdi
        popq    %rsi
        popq    %rbx
        popq    %rbp
.endm

        FUNCTION corolink_resume
        .p2align 4
        .seh_proc corolink_resume
corolink_resume:
        SAVE_CALLEE_SAVED
        movq    %r8, FRAME_SLOT(%rsp)           /* output */
        testq   %rcx, %rcx
        jz      .Lresume_fail
        movq    CO_PC(%rcx), %rax
        testq   %rax, %rax
        jz      .Lresume_fail                   /* running or finished */
        movq    $0, CO_PC(%rcx)                 /* running */
        xorl    %r8d, %r8d                      /* command: go on */
        call    *%rax                           /* the switch */
        /* Back: rcx = co, rdx = value, r8d = status. */
        cmpl    $STATUS_THROW, %r8d
        jae     .Lresume_throw
        movq    FRAME_SLOT(%rsp), %rax
        testq   %rax, %rax
        jz      1f
        movq    %rdx, (%rax)
1:      movl    %r8d, %eax
.Lresume_out:
        RESTORE_CALLEE_SAVED
        popq    %rcx
        jmp     *%rcx                           /* a return (see above) */
.Lresume_fail:
        movq    FRAME_SLOT(%rsp), %rdx          /* (co, output) */
        call    corolink__resume_fail
        jmp     .Lresume_out
.Lresume_throw:
        /* Raise the body's exception again from this frame. */
        call    corolink__resume_throw          /* (co) */
        int3
        .seh_endproc

        FUNCTION corolink_suspend
        .p2align 4
        .seh_proc corolink_suspend
corolink_suspend:
        SAVE_CALLEE_SAVED
        /* The yielder must be the innermost running coroutine's: its
         * stack [stack_limit, co) holds our frame. */
        testq   %rcx, %rcx
        jz      .Lsuspend_misuse
        cmpq    %rcx, %rsp
        jae     .Lsuspend_misuse
        cmpq    CO_STACK_LIMIT(%rcx), %rsp
        jb      .Lsuspend_misuse
        leaq    .Lsuspend_resumed(%rip), %rax
        movq    %rax, CO_PC(%rcx)               /* suspended; resume here */
        movq    %rsp, CO_SP(%rcx)
        movq    %rbp, CO_FP(%rcx)
        movl    $STATUS_YIELD, %r8d
        TEB_LEAVE %rcx, %rax, %r9, %r10, %r11, %r9d, %r11d
        movq    CO_LINK_SP(%rcx), %rax          /* &resumer's return address */
        movq    (%rax), %r9                     /* the return address */
        leaq    8(%rax), %rsp                   /* resumer's rsp after return */
        movq    CO_LINK_FP(%rcx), %rbp
        jmp     *%r9                            /* into the resumer (a return) */
        /* The resume point (co->pc of a coroutine suspended here). */
        .globl  corolink__suspend_resumed
corolink__suspend_resumed:
.Lsuspend_resumed:
        RECORD_RESUMER %rcx, %rax
        TEB_ENTER %rcx, %rax, %r9, %r10, %r11, %r9d, %r11d
        movq    CO_FP(%rcx), %rbp
        movq    CO_SP(%rcx), %rsp               /* back in our frame */
        testl   %r8d, %r8d                      /* the resumer's command */
        jnz     .Lsuspend_unwind
        RESTORE_CALLEE_SAVED
        movq    %rdx, %rax                      /* returns the input */
        popq    %rcx
        jmp     *%rcx                           /* into the body (a return) */
.Lsuspend_unwind:
        /* corolink_force_unwind() resumed us with the unwind command:
         * start the forced unwind from this frame (rcx = co). */
        call    corolink__suspend_unwind
        int3
.Lsuspend_misuse:
        movq    %rsp, %rdx
        call    cl_suspend_misuse               /* (yielder, sp): aborts */
        int3
        .seh_endproc

/*
 * int corolink__enter(corolink *co, void *input, uintptr_t cmd, void **value)
 * The library's own resume of a suspended coroutine (src/unwind.c). A
 * `cmd` above 1 is a struct cl_with * (corolink_resume_with()): the
 * switch then calls corolink__ontop instead of co->pc, with r9 = co->pc,
 * which runs with->fn on co's stack first.
 */
        FUNCTION corolink__enter
        .p2align 4
        .seh_proc corolink__enter
corolink__enter:
        SAVE_CALLEE_SAVED
        movq    %r9, FRAME_SLOT(%rsp)           /* value */
        movq    CO_PC(%rcx), %rax
        movq    $0, CO_PC(%rcx)                 /* running */
        movq    %rax, %r9                       /* co's pc, for corolink__ontop */
        leaq    corolink__ontop(%rip), %r10
        cmpq    $1, %r8
        cmovaq  %r10, %rax                      /* cmd: a struct cl_with * */
        call    *%rax                           /* rcx = co, rdx, r8 = cmd */
        movq    FRAME_SLOT(%rsp), %rax
        movq    %rdx, (%rax)
        movl    %r8d, %eax
        RESTORE_CALLEE_SAVED
        ret
        .seh_endproc

/*
 * corolink__ontop: the switch of corolink_resume_with(), called by
 * corolink__enter on the resumer's stack like a resume point:
 *   rcx = co, rdx = input, r8 = struct cl_with { fn, arg }, r9 = co's old
 *   pc (the resume point of its pending suspend, or corolink__trampoline
 *   if it has not started), [rsp] = the return address into
 *   corolink__enter, which saved every callee-saved register (so this
 *   function may use them all).
 * As on x86-64 System V (unwind-info/x86_64_sysv_elf.S explains the
 * design), it records the resumer in co->link_* as a resume point does,
 * moves onto co's stack, calls fn(input, arg) there from a frame made to
 * look called from the body at its suspension point, then goes back onto
 * the resumer's stack and enters co's old pc as a resume would (rcx = co,
 * rdx = fn's result, r8 = 0: "go on"). What differs here:
 *
 *  - The TEB: entering co's stack is TEB_ENTER with the block's record,
 *    as at a resume point, before fn runs; before the old pc is entered,
 *    TEB_LEAVE gives the TEB back as a switch-out would, since the resume
 *    point (or the trampoline) enters it again itself. A suspend inside fn
 *    leaves and enters it as for any suspend of co.
 *  - The return address S = co->pc - CL_SUSPENDED_PC_ADJUST (131: the
 *    switch-out's first instruction, src/arch/x86_64_windows.h), where
 *    the body's own unwind codes hold with rsp = co->sp and rbp = co->fp.
 *    For a coroutine that has not started: S = corolink__trampoline_ret,
 *    with rsp = co - 32 (where the body's call leaves it) and rbp =
 *    &co->link_fp, where the trampoline's codes lead to the resumer.
 *  - The frame is described by SEH unwind codes alone, and no code is
 *    needed until rsp leaves the resumer's stack: the prologue writes S
 *    just below the body's rsp and moves rsp onto it, so that from then on
 *    the state is exactly that of a function entered by a `call` at S
 *    (rip = [rsp], rsp += 8: the plain end of every unwind), with rbp =
 *    the body's; then a `push %rbp` and `mov %rsp, %rbp` (codes below).
 *    Before that move, rip = [rsp] is the return address into
 *    corolink__enter, also right.
 *
 *   co's stack while fn runs (B = co->sp, or co - 32 if not started):
 *     B       ->  (the body's frames, as the suspend left them)
 *     B - 8       S                       } what a call from S and a
 *     B - 16      co->fp   <- rbp = frame } `push %rbp` leave
 *     B - 24      co
 *     B - 32      co's old pc (where to go on after fn)
 *                 (16-byte alignment, 32 bytes of shadow space)
 *                 fn's frames
 *
 * The unwind codes, applied once the prologue has run (UNWIND_INFO:
 * FrameRegister = rbp, FrameOffset = 0, so frame = rbp):
 *   UWOP_SET_FPREG          rsp = frame           = B - 16
 *   UWOP_PUSH_NONVOL rbp    rbp = [rsp], rsp += 8 = co->fp, B - 8
 *   (end)                   rip = [rsp], rsp += 8 = S, B
 * which is the body at S with its rsp and rbp: RtlVirtualUnwind, and with
 * it exception dispatch, RtlCaptureStackBackTrace, libgcc's unwinder,
 * corolink_current() and the trap handler, go from fn into the body's
 * frames, its root and its resumer. The establisher frame (rbp) lies on
 * co's stack, inside the TEB's bounds while fn runs.
 *
 * Its language-specific handler (corolink__ontop_seh_handler, src/unwind.c)
 * catches whatever leaves fn (C++, SEH, co's forced unwind while fn is
 * suspended in it), and the unwind lands in corolink__ontop_eh: for a
 * suspended body, the exception is left for corolink__suspend_unwind()
 * (corolink__ontop_caught()) and the pending suspend is entered with the
 * command 1, so that it raises the exception again from the body's own
 * call; for one that has not started, the root's landing pad finishes it.
 */
#define SUSPENDED_PC_ADJUST 131 /* CL_SUSPENDED_PC_ADJUST */
#define WITH_FN    0x00         /* struct cl_with (src/internal.h) */
#define WITH_ARG   0x08
        .globl  corolink__ontop
        .def    corolink__ontop; .scl 2; .type 32; .endef
        .p2align 4
        .seh_proc corolink__ontop
corolink__ontop:
        RECORD_RESUMER %rcx, %rax
        movq    %rdx, %rsi                      /* input */
        movq    %r8, %rdi                       /* struct cl_with */
        leaq    corolink__trampoline(%rip), %rax
        cmpq    %rax, %r9
        je      1f
        /* Suspended: called from the switch-out S with the body's rsp and
         * rbp. */
        leaq    -SUSPENDED_PC_ADJUST(%r9), %rax /* S */
        movq    CO_SP(%rcx), %r10               /* the body's rsp */
        movq    CO_FP(%rcx), %r11               /* the body's rbp */
        jmp     2f
1:      /* Not started: called from the root frame at the body's return
         * address, with rsp = co - 32 and rbp = &co->link_fp. */
        leaq    corolink__trampoline_ret(%rip), %rax
        leaq    -32(%rcx), %r10
        leaq    CO_LINK_FP(%rcx), %r11
2:      movq    %rax, -8(%r10)                  /* the return address S */
        leaq    -8(%r10), %rsp                  /* onto co's stack: S's callee */
        movq    %r11, %rbp                      /* the body's rbp */
        pushq   %rbp
        .seh_pushreg %rbp                       /* rbp = [rsp], rsp += 8 */
        movq    %rsp, %rbp
        .seh_setframe %rbp, 0                   /* frame = rbp; rsp = frame */
        .seh_endprologue
        pushq   %rcx                            /* co, at rbp - 8 */
        pushq   %r9                             /* co's old pc, at rbp - 16 */
        andq    $-16, %rsp
        subq    $32, %rsp                       /* fn's shadow space */
        TEB_ENTER %rcx, %rax, %r8, %r10, %r11, %r8d, %r11d
        movq    %rsi, %rcx                      /* fn(input, arg) */
        movq    WITH_ARG(%rdi), %rdx
        call    *WITH_FN(%rdi)
        movq    -8(%rbp), %rcx                  /* co */
        movq    -16(%rbp), %r9                  /* where co goes on */
        movq    %rax, %rdx                      /* fn's result: the input */
        xorl    %r8d, %r8d                      /* the command "go on" */
.Lontop_leave:
        /* The body's rsp and rbp for the resume point, which reads them
         * from co: fn may have suspended co since, over them. */
        movq    (%rbp), %rax
        movq    %rax, CO_FP(%rcx)
        leaq    16(%rbp), %rax
        movq    %rax, CO_SP(%rcx)
        /* The TEB as a switch-out leaves it: the old pc enters it again. */
        TEB_LEAVE %rcx, %rax, %r10, %r11, %rsi, %r10d, %esi
        movq    CO_LINK_SP(%rcx), %rsp          /* at the resumer's return address */
        movq    CO_LINK_FP(%rcx), %rbp          /* resumer's rbp */
        jmp     *%r9                            /* rcx = co, rdx, r8 = command */
#if COROLINK_UNWIND
        /* Landing pad, entered through RtlUnwindEx when an exception leaves
         * fn (or co's forced unwind reaches this frame): rbp = our frame
         * and rsp = what it was at the call of fn (restored by the unwind
         * codes of fn's frames), rax = the exception, rdx = 1 (a C++ or
         * other GCC exception), 2 (the forced unwind) or 3 (a tagged copy
         * of an SEH exception's record), as corolink__ontop_seh_handler
         * set them. */
        .globl  corolink__ontop_eh
corolink__ontop_eh:
        movq    -16(%rbp), %r9                  /* co's old pc */
        leaq    corolink__trampoline(%rip), %r8
        cmpq    %r8, %r9
        je      3f
        /* corolink__ontop_caught(co, exception, kind) leaves the exception
         * (or the order to unwind again) for corolink__suspend_unwind();
         * rsp is 16-byte aligned with fn's shadow space above it. */
        movq    -8(%rbp), %rcx                  /* co */
        movl    %edx, %r8d                      /* kind */
        movq    %rax, %rdx                      /* exception */
        call    corolink__ontop_caught
        movq    -8(%rbp), %rcx                  /* co */
        movq    -16(%rbp), %r9                  /* the pending suspend */
        xorl    %edx, %edx                      /* value: NULL */
        movl    $1, %r8d                        /* the suspend calls */
        jmp     .Lontop_leave                   /* corolink__suspend_unwind() */
3:      /* Not started: into the root frame's landing pad with rax and rdx
         * as they are, and the registers it expects: rsp = co - 32, rbp =
         * &co->link_fp. The TEB is co's, as in the body, link_* are ours:
         * it finishes co and returns to the resumer with the exception
         * (or the end of the forced unwind). */
        leaq    16(%rbp), %rsp
        movq    (%rbp), %rbp
        jmp     corolink__trampoline_eh
        .seh_handler corolink__ontop_seh_handler, @except, @unwind
#endif
        .seh_endproc

/* Exports of libcorolink.dll (the C sources mark theirs with
 * __declspec(dllexport); a directive section is how assembly does it):
 * the out-of-line switch, and the trampoline, call-on-stack, ontop and
 * enter for symbolizers that read only the export table (not API). */
        .section .drectve
        .ascii  " -export:corolink_resume"
        .ascii  " -export:corolink_suspend"
        .ascii  " -export:corolink__trampoline"
        .ascii  " -export:corolink__call_on"
        .ascii  " -export:corolink__ontop"
        .ascii  " -export:corolink__enter"
