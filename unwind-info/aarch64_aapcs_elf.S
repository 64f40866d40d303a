/*
 * AArch64 (AAPCS64), ELF, GNU as: the root frame of every coroutine stack
 * (corolink__trampoline), the stack-switching call (corolink__call_on),
 * the out-of-line switch and corolink_resume_with()'s corolink__ontop.
 * Read x86_64_sysv_elf.S first: this file says only how AArch64 differs.
 * The inline switch is in include/corolink/aarch64_aapcs_elf.h;
 * unwind-info/README.md ("AArch64")
 * has the protocol and the rows of every instruction.
 *
 * Differences from x86-64:
 *  - The return address is in x30, not on the stack: a resume is
 *    `blr x3`, which leaves the resumer's return address in x30, and the
 *    suspend `ret`s to the link_ra it reloads into x30. link_fp/link_ra
 *    are adjacent, a frame record {x29, x30} written with one `stp`.
 *  - The CFA of the resumer's callee is its sp itself (AArch64 pushes
 *    nothing on a call); link_sp is the resumer's sp.
 *  - The trampoline stores its own return address at co - 8 (x86-64's
 *    `call` pushes it there), for the trap handler's scan, and calls the
 *    body with sp = co - 16.
 *  - Branch protection: every indirect-branch target starts with `bti c`
 *    when built with BTI; functions that save x30 on the stack sign it
 *    (paciasp/autiasp) when built with PAC, and their rows say so
 *    (.cfi_negate_ra_state). The trampoline never stores x30 on a stack,
 *    and the switch's return addresses in the control block are plain.
 *  - The out-of-line switch returns with `ret` (BTI forbids `br` to a
 *    return address, which has no landing pad), so where an out-of-line
 *    suspend pairs with a resume, the return-stack predictor misses twice
 *    per round trip (the inline switch stays balanced).
 *
 * The stacks (addresses grow upwards; co = control block, 64-byte
 * aligned):
 *
 *   just created               running                  suspended
 *   ------------               -------                  ---------
 *   co + 0x200  end            co + 0x50 link_sp ---+   co->pc: resume point
 *   co + 0x48 (link_ra)        co + 0x48 link_ra    |   co->sp, co->fp: the
 *   co + 0x40 (link_fp)        co + 0x40 link_fp <--+-- body's sp, x29 at
 *   co: control block          co: control block    |   its suspend (the
 *   pc = corolink__trampoline  co - 8: trampoline_ret|  frames below co
 *   (nothing below co)         co - 16: 0            |  keep their records)
 *                              body's frames: the    |
 *                              first record holds    |
 *                              {&co->link_fp,        |
 *                               trampoline_ret} -----+
 *
 *   resumer's stack while the coroutine runs: its frames above link_sp;
 *   x30 = link_ra was its return address from `blr`.
 */

/* Branch protection (the compiler's -mbranch-protection tells us what it
 * does through these macros). */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define BTI_C bti c     /* a landing pad for `blr`/`br x16`: calls */
#else
#define BTI_C
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT) && (__ARM_FEATURE_PAC_DEFAULT & 2)
/* pac-ret with the B key: sign x30 with sp as the modifier; the CIE says
 * which key (.cfi_b_key_frame) and each row whether x30 is signed. */
#define PAC_FRAME .cfi_b_key_frame
#define SIGN_LR pacibsp; .cfi_negate_ra_state
#define AUTH_LR autibsp; .cfi_negate_ra_state
#define RA_UNSIGNED .cfi_negate_ra_state
#elif defined(__ARM_FEATURE_PAC_DEFAULT) && (__ARM_FEATURE_PAC_DEFAULT & 1)
#define PAC_FRAME
#define SIGN_LR paciasp; .cfi_negate_ra_state   /* x30 signed from here */
#define AUTH_LR autiasp; .cfi_negate_ra_state   /* x30 plain again */
#define RA_UNSIGNED .cfi_negate_ra_state        /* see corolink_suspend */
#else
#define PAC_FRAME
#define SIGN_LR
#define AUTH_LR
#define RA_UNSIGNED
#endif

#define CO_PC      0x00
#define CO_SP      0x08
#define CO_FP      0x10
#define CO_FINISHED 0x20
#define CO_FN      0x28
#define CO_ARG     0x30
#define CO_LINK_FP 0x40
#define CO_LINK_RA 0x48
#define CO_LINK_SP 0x50
#define CO_STACK_LIMIT 0x98 /* struct corolink.stack_limit (library-private) */

#define STATUS_YIELD 1
#define STATUS_RETURN 2
#define STATUS_THROW 4      /* internal: the body threw (CL_STATUS_THROW) */
#define FINISHED_RETURNED 1 /* CL_FINISHED_RETURNED */

/*
 * DWARF expressions used below, byte by byte (DWARF numbers: x29 = 29 =
 * 0x1d, x30 = 30 = 0x1e; DW_OP_breg29 = 0x70 + 29 = 0x8d, DW_OP_breg0 =
 * 0x70).
 *
 * CFA_VIA_LINK: CFA = the resumer's sp, at co->link_sp; x29 points at
 * co->link_fp, so link_sp is at x29 + 0x10.
 *   0x0f           DW_CFA_def_cfa_expression
 *   0x03           expression length 3
 *   0x8d 0x10      DW_OP_breg29 (x29) + 0x10    -> &co->link_sp
 *   0x06           DW_OP_deref                  -> co->link_sp
 *
 * FP_AT_FP: the caller's x29 is saved at x29 + 0 (co->link_fp).
 *   0x10 0x1d      DW_CFA_expression, register 29 (x29)
 *   0x02           expression length 2
 *   0x8d 0x00      DW_OP_breg29 (x29) + 0       -> &co->link_fp
 *
 * LR_AT_FP8: the return address is saved at x29 + 8 (co->link_ra).
 *   0x10 0x1e      DW_CFA_expression, register 30 (x30, the RA column)
 *   0x02           expression length 2
 *   0x8d 0x08      DW_OP_breg29 (x29) + 8       -> &co->link_ra
 *
 * FP_IN_LINK: x29 was saved at co->link_fp, x0 holding co.
 *   0x10 0x1d      DW_CFA_expression, register 29 (x29)
 *   0x03           expression length 3
 *   0x70 0xc0 0x00 DW_OP_breg0 (x0) + 64 (SLEB128: 0x40 alone is -64)
 *
 * LR_IN_LINK: the return address was saved at co->link_ra, x0 holding co
 * (corolink__ontop, on its way back to the resumer).
 *   0x10 0x1e      DW_CFA_expression, register 30 (x30, the RA column)
 *   0x03           expression length 3
 *   0x70 0xc8 0x00 DW_OP_breg0 (x0) + 72 (SLEB128: 0x48 alone is -56)
 */
#define CFA_VIA_LINK .cfi_escape 0x0f, 0x03, 0x8d, 0x10, 0x06
#define FP_AT_FP     .cfi_escape 0x10, 0x1d, 0x02, 0x8d, 0x00
#define LR_AT_FP8    .cfi_escape 0x10, 0x1e, 0x02, 0x8d, 0x08
#define FP_IN_LINK   .cfi_escape 0x10, 0x1d, 0x03, 0x70, 0xc0, 0x00
#define LR_IN_LINK   .cfi_escape 0x10, 0x1e, 0x03, 0x70, 0xc8, 0x00

/* The rows of the resumer's callee during the switch (see the inline
 * suspend): CFA = sp, return address in x30 (plain), x29 in co->link_fp,
 * every other callee-saved register what the resumer may find. */
.macro RESUMER_CALLEE_ROWS
        .cfi_def_cfa sp, 0
        .cfi_same_value x30
        RA_UNSIGNED
        FP_IN_LINK
        .cfi_same_value x19
        .cfi_same_value x20
        .cfi_same_value x21
        .cfi_same_value x22
        .cfi_same_value x23
        .cfi_same_value x24
        .cfi_same_value x25
        .cfi_same_value x26
        .cfi_same_value x27
        .cfi_same_value x28
        .cfi_same_value d8
        .cfi_same_value d9
        .cfi_same_value d10
        .cfi_same_value d11
        .cfi_same_value d12
        .cfi_same_value d13
        .cfi_same_value d14
        .cfi_same_value d15
.endm

        .text

/*
 * corolink__trampoline: co->pc of a coroutine that has not started.
 * Entered by the first resume's `blr`: x0 = co, x1 = input, x30 = return
 * address into the resumer, x29 = resumer's x29, sp = resumer's sp.
 * Calls co->fn(yielder = co, input, co->arg) with sp = co - 16; when the
 * body returns, marks the coroutine finished and returns into its last
 * resumer with x1 = return value, x2 = COROLINK_RETURN. A signal frame,
 * for the reasons given in x86_64_sysv_elf.S.
 */
        .globl  corolink__trampoline
        .type   corolink__trampoline, %function
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
        /* CIE rows: CFA = sp, return address in x30, every other register
         * unchanged. True here: this is the resumer's callee. */
        BTI_C
        stp     x29, x30, [x0, #CO_LINK_FP]     /* resumer's x29, return address */
        mov     x16, sp
        str     x16, [x0, #CO_LINK_SP]          /* resumer's sp */
        add     x29, x0, #CO_LINK_FP            /* x29 = &co->link_fp */
        /* From here on the frame is described through x29 = &co->link_fp,
         * which holds on any stack: CFA = co->link_sp, x29 = co->link_fp,
         * x30 = co->link_ra. x29 is callee-saved: the body hands it back. */
        CFA_VIA_LINK
        FP_AT_FP
        LR_AT_FP8
        adr     x16, corolink__trampoline_ret
        stp     xzr, x16, [x0, #-16]            /* co - 8: our return address */
        sub     sp, x0, #16                     /* onto the coroutine stack */
        ldp     x16, x2, [x0, #CO_FN]           /* fn(co, input, arg) */
        blr     x16
        /* The body's return address: corolink_current() and the trap
         * handler recognise the root frame of a coroutine stack by it. */
        .globl  corolink__trampoline_ret
        .hidden corolink__trampoline_ret
corolink__trampoline_ret:
        /* The body returned: x0 = return value, x29 = &co->link_fp. Rows
         * are unchanged (CFA via the link). */
        mov     x1, x0                          /* value */
        sub     x0, x29, #CO_LINK_FP            /* x0 = co */
        mov     w2, #FINISHED_RETURNED
        str     w2, [x0, #CO_FINISHED]          /* pc stays NULL */
        mov     x2, #STATUS_RETURN
.Lleave:
        /* Into the resumer with x0 = co, x1 = value, x2 = status; rows as
         * above (CFA via the link). */
#if COROLINK_PROBES
        adrp    x16, cl_probe_sems
        ldr     x16, [x16, #:lo12:cl_probe_sems] /* the return probe (and `from`) */
        cbnz    x16, .Lleave_probe
.Lleave_probed:
#endif
        ldr     x16, [x0, #CO_LINK_SP]
#if COROLINK_UNWIND
        .cfi_remember_state                     /* for the landing pad */
#endif
        mov     sp, x16                         /* the resumer's sp */
        /* CFA = sp; x29 and x30 still found through x29 = &co->link_fp. */
        .cfi_def_cfa sp, 0
        ldp     x29, x30, [x0, #CO_LINK_FP]     /* resumer's x29, return address */
        /* Both hold the caller's values: the resumer's callee. */
        .cfi_same_value x29
        .cfi_same_value x30
        ret
        /* Unwinders look callers of a signal frame up at the exact return
         * address; nothing may return to the address after this `ret`. */
        brk     #0
#if COROLINK_UNWIND
        /* Landing pad, entered by the unwinder when an exception or this
         * coroutine's forced unwind reaches the root: sp = co - 16 (the
         * body's CFA), x29 = &co->link_fp, x0 = the exception object,
         * x1 = 1 (an exception) or 2 (the forced unwind). Rows: via the
         * link, as while the body ran. */
        .cfi_restore_state
        .globl  corolink__trampoline_eh
        .hidden corolink__trampoline_eh
corolink__trampoline_eh:
        mov     x2, x1                          /* kind */
        mov     x1, x0                          /* exception */
        sub     x0, x29, #CO_LINK_FP            /* co */
        /* corolink__caught(co, exception, kind): the status. */
        bl      corolink__caught
        mov     w2, w0                          /* status */
        sub     x0, x29, #CO_LINK_FP            /* co */
        mov     x1, #0                          /* value: NULL */
        b       .Lleave
#endif
#if COROLINK_PROBES
#if !COROLINK_UNWIND
        .globl  corolink__trampoline_eh
        .hidden corolink__trampoline_eh
corolink__trampoline_eh:
#endif
.Lleave_probe:
        /* cl_probe_leave(co), on the coroutine stack (sp = co - 16),
         * x29 = &co->link_fp: rows via the link, restated. */
        CFA_VIA_LINK
        FP_AT_FP
        LR_AT_FP8
        stp     x1, x2, [sp, #-16]!             /* value, status */
        bl      cl_probe_leave                  /* (co) */
        ldp     x1, x2, [sp], #16
        sub     x0, x29, #CO_LINK_FP            /* co */
        b       .Lleave_probed
#endif
        .cfi_endproc
        .size   corolink__trampoline, .-corolink__trampoline
        /* End of the trampoline's code, for corolink_current(). */
        .globl  corolink__trampoline_end
        .hidden corolink__trampoline_end
corolink__trampoline_end:

/*
 * void *corolink__call_on(void *arg, void *(*fn)(void *), void *top)
 * Calls fn(arg) with sp = (top & ~15) - 32 and returns its result on the
 * original stack. The 32 bytes at the new top hold {x29, call_on_ret}
 * (shaped like fn's own first frame record) and the caller's sp, for the
 * trap handler's scan. An ordinary x29-based frame otherwise; a signal
 * frame, as on x86-64.
 */
        .globl  corolink__call_on
        .type   corolink__call_on, %function
        .p2align 4
corolink__call_on:
        .cfi_startproc
        .cfi_signal_frame
        PAC_FRAME
        /* CFA = sp, return address in x30. */
        BTI_C
        SIGN_LR
        stp     x29, x30, [sp, #-16]!
        /* CFA = sp + 16; x29 and x30 saved at CFA - 16 and CFA - 8. */
        .cfi_def_cfa_offset 16
        .cfi_offset x29, -16
        .cfi_offset x30, -8
        mov     x29, sp
        /* CFA = x29 + 16, valid whichever stack sp is on. */
        .cfi_def_cfa x29, 16
        and     x2, x2, #~15
        adr     x16, corolink__call_on_ret
        stp     x29, x16, [x2, #-32]
        add     x16, x29, #16
        stp     x16, xzr, [x2, #-16]            /* the caller's sp */
        sub     sp, x2, #32                     /* onto the new stack */
        blr     x1                              /* fn(arg); x0 = arg */
        /* fn's return address: the trap handler recognises a call_on
         * frame on the stack fn runs on by it. */
        .globl  corolink__call_on_ret
        .hidden corolink__call_on_ret
corolink__call_on_ret:
        mov     sp, x29                         /* back on the caller's stack */
        ldp     x29, x30, [sp], #16
        /* CFA = sp; x29 and x30 hold the caller's values (x30 still
         * signed until AUTH_LR). */
        .cfi_def_cfa sp, 0
        .cfi_restore x29
        .cfi_restore x30
        AUTH_LR
        ret
        brk     #0
        .cfi_endproc
        .size   corolink__call_on, .-corolink__call_on

/*
 * The out-of-line switch, as on x86-64: corolink_resume(), corolink_suspend()
 * and the library's corolink__enter() save the callee-saved registers the
 * switch destroys in a frame of 176 bytes:
 *
 *   x29 + 0    x29, x30 (frame record)     x29 + 96   d8, d9
 *   x29 + 16   x19, x20                    x29 + 112  d10, d11
 *   x29 + 32   x21, x22                    x29 + 128  d12, d13
 *   x29 + 48   x23, x24                    x29 + 144  d14, d15
 *   x29 + 64   x25, x26                    x29 + 160  a spare word
 *   x29 + 80   x27, x28                               (resume: output)
 */
#define FRAME 176

/* The rows of that frame: CFA = x29 + 176, everything saved. */
.macro CALLEE_SAVED_ROWS
        .cfi_def_cfa x29, FRAME
        .cfi_offset x29, -176
        .cfi_offset x30, -168
        .cfi_offset x19, -160
        .cfi_offset x20, -152
        .cfi_offset x21, -144
        .cfi_offset x22, -136
        .cfi_offset x23, -128
        .cfi_offset x24, -120
        .cfi_offset x25, -112
        .cfi_offset x26, -104
        .cfi_offset x27, -96
        .cfi_offset x28, -88
        .cfi_offset d8, -80
        .cfi_offset d9, -72
        .cfi_offset d10, -64
        .cfi_offset d11, -56
        .cfi_offset d12, -48
        .cfi_offset d13, -40
        .cfi_offset d14, -32
        .cfi_offset d15, -24
.endm

/* Prologue: the frame record first (CFA = x29 + 176 from the `mov` on, on
 * whatever stack sp points into), then the registers. */
.macro SAVE_CALLEE_SAVED
        SIGN_LR
        stp     x29, x30, [sp, #-FRAME]!
        /* CFA = sp + 176; x29, x30 at CFA - 176, CFA - 168. */
        .cfi_def_cfa_offset FRAME
        .cfi_offset x29, -176
        .cfi_offset x30, -168
        mov     x29, sp
        .cfi_def_cfa_register x29               /* CFA = x29 + 176 */
        stp     x19, x20, [x29, #16]
        stp     x21, x22, [x29, #32]
        stp     x23, x24, [x29, #48]
        stp     x25, x26, [x29, #64]
        stp     x27, x28, [x29, #80]
        stp     d8, d9, [x29, #96]
        stp     d10, d11, [x29, #112]
        stp     d12, d13, [x29, #128]
        stp     d14, d15, [x29, #144]
        CALLEE_SAVED_ROWS                       /* all saved */
.endm

/* Epilogue: registers back, frame popped, x30 authenticated. After it,
 * CFA = sp and every register holds the caller's value. */
.macro RESTORE_CALLEE_SAVED
        ldp     x19, x20, [x29, #16]
        ldp     x21, x22, [x29, #32]
        ldp     x23, x24, [x29, #48]
        ldp     x25, x26, [x29, #64]
        ldp     x27, x28, [x29, #80]
        ldp     d8, d9, [x29, #96]
        ldp     d10, d11, [x29, #112]
        ldp     d12, d13, [x29, #128]
        ldp     d14, d15, [x29, #144]
        /* The registers hold their saved values again. */
        .cfi_restore x19
        .cfi_restore x20
        .cfi_restore x21
        .cfi_restore x22
        .cfi_restore x23
        .cfi_restore x24
        .cfi_restore x25
        .cfi_restore x26
        .cfi_restore x27
        .cfi_restore x28
        .cfi_restore d8
        .cfi_restore d9
        .cfi_restore d10
        .cfi_restore d11
        .cfi_restore d12
        .cfi_restore d13
        .cfi_restore d14
        .cfi_restore d15
        mov     sp, x29
        .cfi_def_cfa_register sp                /* CFA = sp + 176 */
        ldp     x29, x30, [sp], #FRAME
        /* CFA = sp; x29 and x30 restored (x30 signed until AUTH_LR). */
        .cfi_def_cfa_offset 0
        .cfi_restore x29
        .cfi_restore x30
        AUTH_LR
.endm

        .globl  corolink_resume
        .type   corolink_resume, %function
        .p2align 4
corolink_resume:
        .cfi_startproc
        PAC_FRAME
        /* CFA = sp, return address in x30. Called through the PLT. */
        BTI_C
        /* A tracer has the resume or suspend probe enabled, or suspend
         * timestamps are on: the traced resume does it all (a tail call,
         * same arguments). x16 is free here. */
        adrp    x16, :got:corolink__probe_switch
        ldr     x16, [x16, #:got_lo12:corolink__probe_switch]
        ldr     w16, [x16]
        cbz     w16, 1f
        b       corolink__resume_traced
1:      SAVE_CALLEE_SAVED
        str     x2, [x29, #160]                 /* output */
        cbz     x0, .Lresume_fail
        ldr     x3, [x0, #CO_PC]
        cbz     x3, .Lresume_fail               /* running or finished */
        str     xzr, [x0, #CO_PC]               /* running */
        mov     x2, #0                          /* command: go on */
        blr     x3                              /* the switch */
        /* Back: x0 = co, x1 = value, x2 = status; sp and x29 restored by
         * the suspend, so the rows above hold. */
        cmp     x2, #STATUS_THROW
        b.hs    .Lresume_throw                  /* the body threw */
        ldr     x3, [x29, #160]
        cbz     x3, 2f
        str     x1, [x3]
2:      mov     w0, w2
.Lresume_out:
        /* The tails below run in the frame, x30 still signed on its
         * stack: their rows are the ones in force here. */
        .cfi_remember_state
        RESTORE_CALLEE_SAVED
        ret
        /* CFA = x29 + 176, registers saved, saved x30 signed (the rows
         * before the epilogue: an unwinder that took the epilogue's "x30
         * plain" here would authenticate nothing and return to a signed
         * address). */
        .cfi_restore_state
.Lresume_fail:
        ldr     x1, [x29, #160]
        bl      corolink__resume_fail           /* (co, output): the error */
        b       .Lresume_out
.Lresume_throw:
        /* Raise the body's exception again from this frame (x0 = co). */
        bl      corolink__resume_throw
        brk     #0
        .cfi_endproc
        .size   corolink_resume, .-corolink_resume

        .globl  corolink_suspend
        .type   corolink_suspend, %function
        .p2align 4
corolink_suspend:
        .cfi_startproc
        PAC_FRAME
        /* CFA = sp, return address in x30: the body called us. */
        BTI_C
        SAVE_CALLEE_SAVED
        /* The yielder must be the innermost running coroutine's: its stack
         * [stack_limit, co) holds our frame (x29). */
        cbz     x0, .Lsuspend_misuse
        cmp     x29, x0
        b.hs    .Lsuspend_misuse
        ldr     x16, [x0, #CO_STACK_LIMIT]
        cmp     x29, x16
        b.lo    .Lsuspend_misuse
        mov     x2, #STATUS_YIELD
        .cfi_remember_state
        /* As in the inline suspend, the 32 bytes before the resume point
         * start with our sp and x29 in place: a tool may unwind a
         * suspended coroutine from co->pc - 32, co->sp and co->fp. */
        adr     x3, .Lsuspend_resumed
        str     x3, [x0, #CO_PC]                /* suspended; resume there */
        mov     x4, sp
        stp     x4, x29, [x0, #CO_SP]           /* co->sp, co->fp */
        ldp     x30, x4, [x0, #CO_LINK_RA]      /* x30 = link_ra, x4 = link_sp */
        mov     sp, x4                          /* the resumer's stack */
        /* The resumer's callee, about to return: CFA = sp, its return
         * address in x30 (plain: if our rows said "signed", flip them). */
        RESUMER_CALLEE_ROWS
        ldr     x29, [x0, #CO_LINK_FP]
        .cfi_same_value x29
        ret                                     /* into the resumer */
        /* The resume point, entered by a resume's `blr` on the resumer's
         * stack: x30 = return address, x29 = the resumer's. Named for
         * introspect.c, which skips this function's frame. */
        .globl  corolink__suspend_resumed
        .hidden corolink__suspend_resumed
corolink__suspend_resumed:
.Lsuspend_resumed:
        BTI_C
        stp     x29, x30, [x0, #CO_LINK_FP]     /* link_fp, link_ra */
        mov     x4, sp
        str     x4, [x0, #CO_LINK_SP]           /* link_sp */
        ldp     x4, x29, [x0, #CO_SP]           /* our sp and x29 */
        /* The resumer's x29 is in co->link_fp now. */
        FP_IN_LINK
        mov     sp, x4                          /* back on the body's stack */
        /* Our own frame again: CFA = x29 + 176, registers saved. */
        .cfi_restore_state
        cbnz    x2, .Lsuspend_unwind            /* the resumer's command */
        mov     x0, x1                          /* returns the input */
        .cfi_remember_state
        RESTORE_CALLEE_SAVED
        ret
        /* The frame's rows again (saved x30 signed): see corolink_resume. */
        .cfi_restore_state
        /* From here on only exception handling and misuse (check-cfi's
         * --cover leaves the `_eh` tail out). */
        .globl  corolink_suspend_eh
        .hidden corolink_suspend_eh
corolink_suspend_eh:
.Lsuspend_unwind:
        /* corolink_force_unwind() resumed us with the unwind command: start
         * the forced unwind from here (x0 = co). */
        bl      corolink__suspend_unwind
        brk     #0
.Lsuspend_misuse:
        /* A bad yielder: cl_suspend_misuse(yielder, x29) aborts. */
        mov     x1, x29
        bl      cl_suspend_misuse
        brk     #0
        .cfi_endproc
        .size   corolink_suspend, .-corolink_suspend

/*
 * int corolink__enter(corolink *co, void *input, uintptr_t cmd, void **value)
 * The library's own resume (see x86_64_sysv_elf.S). A `cmd` above 1 is a
 * struct cl_with * (corolink_resume_with()): the switch then goes through
 * corolink__ontop, which runs with->fn on co's stack first.
 */
        /* In the section of the library's resume-path code that tools
         * leave out of backtraces (the debug table's hidden_lo/hidden_hi,
         * src/probes.h): between a running coroutine's root frame and its
         * resumer's own frames. */
        .pushsection corolink_hidden, "ax", %progbits
        /* Exported for symbolizers, as corolink__ontop (its frame lies
         * between a coroutine's root frame and corolink_resume_with()). */
        .globl  corolink__enter
        .type   corolink__enter, %function
        .p2align 4
corolink__enter:
        .cfi_startproc
        PAC_FRAME
        BTI_C
        SAVE_CALLEE_SAVED
        str     x3, [x29, #160]                 /* value */
#if COROLINK_PROBES
        adrp    x16, cl_probe_switch
        ldr     w16, [x16, #:lo12:cl_probe_switch] /* the resume probe */
        cbnz    w16, .Lenter_probe
.Lenter_probed:
#endif
        ldr     x4, [x0, #CO_PC]
        str     xzr, [x0, #CO_PC]               /* running */
        cmp     x2, #1
        b.hi    .Lenter_with                    /* cmd: a struct cl_with * */
        blr     x4                              /* x0 = co, x1, x2 = cmd */
.Lenter_back:
        /* Back: x1 = value, x2 = status; rows as above. */
        ldr     x3, [x29, #160]
        str     x1, [x3]
        mov     w0, w2
        .cfi_remember_state
        RESTORE_CALLEE_SAVED
        ret
        /* The frame's rows again (saved x30 signed): see corolink_resume. */
        .cfi_restore_state
.Lenter_with:
        /* corolink_resume_with(): x4 = co's old pc, x2 = the struct
         * cl_with. Same frame as at the `blr x4` above; corolink__ontop
         * comes back as a switch does, to the `b` after its call (which
         * the resume point of a suspend records as link_ra). */
        bl      corolink__ontop
        b       .Lenter_back
#if COROLINK_PROBES
.Lenter_probe:
        /* cl_probe_resume(co), keeping x0-x2 in x19-x21. */
        mov     x19, x0
        mov     x20, x1
        mov     x21, x2
        bl      cl_probe_resume
        mov     x0, x19
        mov     x1, x20
        mov     x2, x21
        b       .Lenter_probed
#endif
        .cfi_endproc
        .size   corolink__enter, .-corolink__enter

/*
 * corolink__ontop: the switch of corolink_resume_with() (read the comment
 * on corolink__ontop in x86_64_sysv_elf.S first), called by
 * corolink__enter with `bl` on the resumer's stack like a resume point:
 *   x0 = co, x1 = input, x2 = struct cl_with { fn, arg }, x4 = co's old pc
 *   (the resume point of its pending suspend, or corolink__trampoline if
 *   it has not started), x30 = return address into corolink__enter (plain:
 *   from `bl`), x29 = its x29, sp = its sp.
 * It records the resumer in co->link_* as a resume point does, moves onto
 * co's stack and calls fn(input, arg) there from a frame of its own, then
 * enters co's old pc as a resume would (back on the resumer's stack with
 * x30 = link_ra, x29 = link_fp, sp = link_sp), with x1 = fn's result and
 * x2 = 0, the command "go on", so that the pending suspend returns fn's
 * result (or the body starts with it).
 *
 * Its frame on co's stack looks called from the coroutine at its
 * suspension point. Below the body's sp (Csp = co->sp) it writes a frame
 * record {Cfp = co->fp, R} and points x29 at it, where R = co->pc - 28 =
 * S + 4, S = co->pc - 32 being the switch-out's first instruction (`adr x3`,
 * inline and out of line alike), where the body's own rows hold with
 * sp = co->sp and x29 = co->fp (CL_SUSPENDED_PC_ADJUST in
 * src/arch/aarch64_linux.h). R rather than S: unwinders, symbolizers and
 * frame-pointer walkers look a return address up at R - 1, which must be
 * inside S's instruction; S - 1 would be the compiler's instruction before
 * the switch-out, whose rows need not be the same (a prologue placed right
 * before the suspend by shrink-wrapping changes them at S). The first
 * three instructions of the switch-out, S to R + 4, all run with the
 * body's sp and x29 under the body's rows. (x86-64 has one such
 * instruction only and uses S.)
 *
 *   co's stack while fn runs:
 *     Csp      ->  (the body's frames, as the suspend left them)
 *     Csp - 8      R = co->pc - 28        } a frame record, as a `bl`
 *     Csp - 16     Cfp = co->fp  <- x29   } from S and a `stp` leave it
 *     Csp - 24     co's old pc (where to go on after fn)
 *     Csp - 32     co            <- sp at the call of fn
 *                  fn's frames
 *
 * The switch onto co's stack is a `mov sp` to the frame record itself
 * (check-cfi's model takes such a switch in corolink__ontop for a call
 * from the record's return address).
 *
 * Rows while fn runs: CFA = x29 + 16 (= Csp), x29 at CFA - 16, x30 at
 * CFA - 8 (plain: nothing here signs). So every unwinder, and every
 * frame-pointer walk, goes from fn through this frame into the body at
 * S, the body's frames, the root frame and the resumer.
 *
 * For a coroutine that has not started the frame is made the same way as
 * if the root frame had called it at the body's return address:
 * R = corolink__trampoline_ret, Csp = co - 16, Cfp = &co->link_fp (the
 * trampoline's rows there lead to the resumer through co->link_*), and
 * {0, corolink__trampoline_ret} is stored at co - 16 as the trampoline
 * leaves it (the trap handler's scan looks for that word at co - 8).
 *
 * An exception that leaves fn (or a forced unwind of co while fn is
 * suspended in it) is caught here by corolink__ontop_personality
 * (src/unwind.c), which lands in corolink__ontop_eh: for a suspended body
 * the pending suspend is entered with x2 = 1, so that it calls
 * corolink__suspend_unwind() from the body's frame, which raises the
 * exception again there (or starts the forced unwind again); for a
 * coroutine that has not started, the root frame's landing pad
 * corolink__trampoline_eh finishes it as if the body had thrown.
 *
 * The old pc is entered with `br x16`: resume points and the trampoline
 * start with `bti c`, which takes `br` through x16 or x17.
 */
#define WITH_FN    0x00         /* struct cl_with (src/internal.h) */
#define WITH_ARG   0x08
#define RA_ADJUST  28           /* CL_SUSPENDED_PC_ADJUST - 4 (see above) */
        /* Exported (not API), as corolink__trampoline is: symbolizers
         * that read only the dynamic symbol table (dladdr(),
         * backtrace_symbols(), perf) name fn's caller. */
        .globl  corolink__ontop
        .type   corolink__ontop, %function
        .p2align 4
corolink__ontop:
        .cfi_startproc
#if COROLINK_UNWIND
        /* Everything that leaves fn stops here (see above). Encoding as
         * in corolink__trampoline. */
        .cfi_personality 0x1b, corolink__ontop_personality
#endif
        /* CIE rows: CFA = sp, return address in x30, every other register
         * unchanged: corolink__enter's callee (a direct `bl`: no landing
         * pad needed). */
        stp     x29, x30, [x0, #CO_LINK_FP]     /* resumer's x29, return address */
        mov     x16, sp
        str     x16, [x0, #CO_LINK_SP]          /* resumer's sp */
        ldp     x16, x17, [x2, #WITH_FN]        /* fn, arg */
        adrp    x5, .Ltrampoline
        add     x5, x5, :lo12:.Ltrampoline
        cmp     x4, x5
        b.eq    1f
        /* Suspended: called from the switch-out with the body's sp and
         * x29. */
        sub     x5, x4, #RA_ADJUST              /* R */
        ldp     x6, x7, [x0, #CO_SP]            /* Csp, Cfp: the body's */
        b       2f
1:      /* Not started: called from the root frame at the body's return
         * address, with sp = co - 16 and x29 = &co->link_fp. */
        adrp    x5, corolink__trampoline_ret
        add     x5, x5, :lo12:corolink__trampoline_ret /* R */
        sub     x6, x0, #16                     /* Csp */
        add     x7, x0, #CO_LINK_FP             /* Cfp */
        stp     xzr, x5, [x6]                   /* co - 16, as the trampoline */
2:      stp     x7, x5, [x6, #-16]!             /* the frame record {Cfp, R} */
        mov     sp, x6                          /* onto co's stack, at it */
        /* Now the callee of R that has stored its frame record: CFA =
         * sp + 16 (Csp), x29 (Cfp) at CFA - 16, the return address (R,
         * plain) at CFA - 8. */
        .cfi_def_cfa sp, 16
        .cfi_offset x29, -16
        .cfi_offset x30, -8
        mov     x29, sp
        /* CFA = x29 + 16 from here on, whatever sp does. */
        .cfi_def_cfa x29, 16
        stp     x0, x4, [sp, #-16]!             /* co, where co goes on */
        mov     x0, x1                          /* fn(input, arg) */
        mov     x1, x17
        blr     x16
        /* fn's return address (corolink_current() and the trap handler
         * need nothing of it: the frame unwinds as any other). Back:
         * x0 = fn's result, x29 = our frame record, sp = x29 - 16. */
        mov     x1, x0                          /* fn's result: the input */
        mov     x2, #0                          /* the command: go on */
.Lontop_leave:
        /* Into co's old pc, as a resume enters it: x1 = the input, x2 =
         * the command for a pending suspend (0 go on, 1 raise). */
        ldp     x0, x16, [x29, #-16]            /* co, where co goes on */
        /* The body's sp and x29 for the resume point, which reads them
         * from co: fn may have suspended co since, over them. */
        ldr     x3, [x29]                       /* Cfp */
        add     x4, x29, #16                    /* Csp */
        stp     x4, x3, [x0, #CO_SP]            /* co->sp, co->fp */
        ldr     x4, [x0, #CO_LINK_SP]
        .cfi_remember_state                     /* for the tails below */
        mov     sp, x4                          /* the resumer's sp */
        /* Back to the resumer's callee view, as at a resume's `blr`:
         * CFA = sp, the return address in co->link_ra and the resumer's
         * x29 in co->link_fp (x0 = co), every other register as the
         * resumer may find it (fn kept x19-x28 and d8-d15, and this
         * function never touches them). */
        .cfi_def_cfa sp, 0
        LR_IN_LINK
        FP_IN_LINK
        ldp     x29, x30, [x0, #CO_LINK_FP]     /* the resumer's x29, x30 */
        /* Both hold the caller's values: the resumer's callee. */
        .cfi_same_value x29
        .cfi_same_value x30
        br      x16                             /* x0 = co, x1 = input */
        .cfi_restore_state
#if COROLINK_UNWIND
        /* Landing pad, entered by the unwinder when an exception leaves fn
         * (or co's forced unwind reaches this frame): x29 = our frame,
         * sp = what it was at the call (x29 - 16), x0 = the exception
         * object, x1 = 1 (an exception) or 2 (the forced unwind), as
         * corolink__ontop_personality set them. Rows: our frame, as while
         * fn ran. (check-cfi's --cover leaves the `_eh` tail out.) */
        .globl  corolink__ontop_eh
        .hidden corolink__ontop_eh
corolink__ontop_eh:
        ldp     x3, x16, [x29, #-16]            /* co, where co goes on */
        adrp    x4, .Ltrampoline
        add     x4, x4, :lo12:.Ltrampoline
        cmp     x16, x4
        b.eq    3f
        /* corolink__ontop_caught(co, exception, kind) leaves the exception
         * (or the order to unwind again) for corolink__suspend_unwind(),
         * which the pending suspend calls when entered with x2 = 1. sp is
         * 16-byte aligned, as at the call of fn. */
        mov     x2, x1                          /* kind */
        mov     x1, x0                          /* exception */
        mov     x0, x3                          /* co */
        bl      corolink__ontop_caught
        mov     x1, #0                          /* value: NULL */
        mov     x2, #1                          /* the command: raise */
        b       .Lontop_leave
3:      /* Not started: go back into the root frame, as a return to R
         * would, and take its landing pad with x0 and x1 as they are: it
         * finishes co and reports the exception (or the end of the forced
         * unwind) to the resumer. Rows: our frame (restored above). */
        add     sp, x29, #16                    /* sp = Csp = co - 16 */
        ldr     x29, [x29]                      /* x29 = &co->link_fp */
        /* CFA = sp: R still at CFA - 8 (where the root frame's rows take
         * over: corolink__trampoline_eh expects sp = co - 16, x29 =
         * &co->link_fp), x29 restored. */
        .cfi_def_cfa sp, 0
        .cfi_same_value x29
        b       corolink__trampoline_eh
#endif
        .cfi_endproc
        .size   corolink__ontop, .-corolink__ontop
        .popsection

#include "gnu_property.h"   /* BTI and PAC marks (see there) */

        .section .note.GNU-stack,"",%progbits
