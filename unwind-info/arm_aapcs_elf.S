/*
 * ARM32 (AAPCS, hard-float EABI), ELF, GNU as: the root frame of every
 * coroutine stack (corolink__trampoline), the stack-switching call
 * (corolink__call_on), the out-of-line switch and corolink_resume_with()'s
 * corolink__ontop. Read x86_64_sysv_elf.S and aarch64_aapcs_elf.S first:
 * this file says only how ARM32 differs from AArch64. The inline switch is
 * in include/corolink/arm_aapcs_elf.h; unwind-info/README.md ("ARM32")
 * has the protocol and the rows of every instruction.
 *
 * Differences from AArch64:
 *  - This file is ARM-state code; the code that calls it and that it
 *    enters may be ARM or Thumb-2. Every call into unknown code is `blx`
 *    (interworking: bit 0 of the target selects the state) and every
 *    return `bx lr` or `pop {..., pc}` (interworking loads on ARMv7).
 *    Labels that the library compares with return addresses and
 *    unwinders' pcs (corolink__trampoline_ret, corolink__call_on_ret) are
 *    ARM-state addresses: bit 0 clear, as _Unwind_GetIP() reports them.
 *  - Two frame pointers: r7 (Thumb code's) and r11 (ARM code's). The
 *    switch keeps both (see the control block in the header). The root
 *    frame runs with r7 = &co->link_fp (its rows are expressed through
 *    r7, callee-saved in both states) and r11 = &co->link_ra: gcc's
 *    ARM-state frame record, fp pointing at the saved lr with the saved
 *    fp at fp - 4, here {link_fp11, link_ra}. This file's own frames keep
 *    such a record in r11 too. (gcc's Thumb-2 r7 points below the locals,
 *    at no record: no frame-pointer walk exists for Thumb code.)
 *  - Two unwind formats. DWARF CFI (.debug_frame: gdb, libunwind, libdw)
 *    as on AArch64, exact at every instruction. EHABI (.ARM.exidx,
 *    .ARM.extab: libgcc's unwinder, hence C++ exceptions and
 *    _Unwind_Backtrace()) has one entry per function, a program of unwind
 *    opcodes valid at its call sites only: each function's entry says how
 *    to unwind from its calls. The root frame's program is
 *        vsp = r7; pop {r7, r11, lr}; pop {sp}
 *    (0x97, 0x84 0x88, 0x82 0x00): the resumer's r7, r11, return address
 *    and sp, read from co->link_fp .. co->link_sp, in that order by
 *    design (EHABI has no expressions; "set vsp from a register" and
 *    "pop sp" are its way to a stack that is not this one).
 *  - The body's stack starts at co - 8: the trampoline keeps its return
 *    address at co - 8 (the word the trap handler's scan looks for) and 0
 *    at co - 4, and calls the body with sp = co - 8.
 *  - A suspended coroutine's switch-out starts 40 bytes before its
 *    resume point (10 ARM instructions, or the Thumb-2 sequence of the
 *    same length; CL_SUSPENDED_PC_ADJUST in src/arch/arm_linux.h).
 *
 * The stacks (addresses grow upwards; co = control block, 64-byte
 * aligned):
 *
 *   just created               running                   suspended
 *   ------------               -------                   ---------
 *   co + 0x200  end            co + 0x4c link_sp  ---+   co->pc: resume point
 *   co + 0x48 (link_ra)        co + 0x48 link_ra <-r11|  co->sp, co->fp,
 *   co + 0x40 (link_fp)        co + 0x44 link_fp11   |   co->fp11: the body's
 *   co: control block          co + 0x40 link_fp <-r7|   sp, r7, r11 at its
 *   pc = corolink__trampoline  co: control block     |   suspend (the frames
 *   (nothing below co)         co - 4: 0             |   below co keep their
 *                              co - 8: trampoline_ret|   records)
 *                              body's frames: its    |
 *                              first ARM record      |
 *                              holds {co + 0x48,     |
 *                              trampoline_ret} ------+
 *
 *   resumer's stack while the coroutine runs: its frames above link_sp;
 *   lr = link_ra was its return address from `blx`.
 */

/* EHABI directives: everywhere but in the freestanding core (no default
 * stacks, no unwinder), which links with nothing: every unwind entry
 * names its personality routine (__aeabi_unwind_cpp_pr0/pr1 from libgcc
 * for the compact model), an undefined symbol there. */
#if COROLINK_UNWIND || COROLINK_DEFAULT_STACK
#define EH(...) __VA_ARGS__
#else
#define EH(...)
#endif

        .syntax unified
        .arch   armv7-a
        .fpu    vfpv3-d16
        .arm

#define CO_PC       0x00
#define CO_SP       0x08
#define CO_FP       0x10
#define CO_FP11     0x14
#define CO_FINISHED 0x20
#define CO_FN       0x28
#define CO_ARG      0x30
#define CO_LINK_FP  0x40
#define CO_LINK_FP11 0x44
#define CO_LINK_RA  0x48
#define CO_LINK_SP  0x4c
#define CO_STACK_LIMIT 0x90 /* struct corolink.stack_limit (library-private) */

#define STATUS_YIELD 1
#define STATUS_RETURN 2
#define STATUS_THROW 4      /* internal: the body threw (CL_STATUS_THROW) */
#define FINISHED_RETURNED 1 /* CL_FINISHED_RETURNED */

/*
 * VFP registers in the rows: d8-d15 as the compiler describes them, the
 * pairs of single-precision registers s16-s31 (DWARF 80-95, the numbering
 * gcc writes and libunwind reads; it has none for 256-287, AAPCS's d0-d31).
 *
 * DWARF expressions used below, byte by byte (DWARF numbers: r0-r15 =
 * 0-15, lr = 14 is the return-address column; DW_OP_breg7 = 0x77,
 * DW_OP_breg0 = 0x70).
 *
 * CFA_VIA_LINK: CFA = the resumer's sp, at co->link_sp; r7 points at
 * co->link_fp, so link_sp is at r7 + 0x0c.
 *   0x0f           DW_CFA_def_cfa_expression
 *   0x03           expression length 3
 *   0x77 0x0c      DW_OP_breg7 (r7) + 12        -> &co->link_sp
 *   0x06           DW_OP_deref                  -> co->link_sp
 *
 * R7_AT_R7, R11_AT_R7_4, LR_AT_R7_8: the caller's r7, r11 and return
 * address are saved at r7 + 0, + 4, + 8 (co->link_fp, link_fp11, link_ra).
 *   0x10 0x07 0x02 0x77 0x00   DW_CFA_expression r7:  DW_OP_breg7 + 0
 *   0x10 0x0b 0x02 0x77 0x04   DW_CFA_expression r11: DW_OP_breg7 + 4
 *   0x10 0x0e 0x02 0x77 0x08   DW_CFA_expression lr:  DW_OP_breg7 + 8
 *
 * R7_IN_LINK, R11_IN_LINK, LR_IN_LINK: saved at co->link_fp, link_fp11,
 * link_ra, r0 holding co (SLEB128 0x40, 0x44, 0x48 take two bytes).
 *   0x10 0x07 0x03 0x70 0xc0 0x00   DW_OP_breg0 + 64
 *   0x10 0x0b 0x03 0x70 0xc4 0x00   DW_OP_breg0 + 68
 *   0x10 0x0e 0x03 0x70 0xc8 0x00   DW_OP_breg0 + 72
 */
#define CFA_VIA_LINK .cfi_escape 0x0f, 0x03, 0x77, 0x0c, 0x06
#define R7_AT_R7     .cfi_escape 0x10, 0x07, 0x02, 0x77, 0x00
#define R11_AT_R7_4  .cfi_escape 0x10, 0x0b, 0x02, 0x77, 0x04
#define LR_AT_R7_8   .cfi_escape 0x10, 0x0e, 0x02, 0x77, 0x08
#define R7_IN_LINK   .cfi_escape 0x10, 0x07, 0x03, 0x70, 0xc0, 0x00
#define R11_IN_LINK  .cfi_escape 0x10, 0x0b, 0x03, 0x70, 0xc4, 0x00
#define LR_IN_LINK   .cfi_escape 0x10, 0x0e, 0x03, 0x70, 0xc8, 0x00

/* The rows of the resumer's callee during the switch (see the inline
 * suspend): CFA = sp, return address in lr, r7 and r11 in co->link_fp and
 * co->link_fp11, every other callee-saved register what the resumer may
 * find. */
.macro RESUMER_CALLEE_ROWS
        .cfi_def_cfa sp, 0
        .cfi_same_value lr
        R7_IN_LINK
        R11_IN_LINK
        .cfi_same_value r4
        .cfi_same_value r5
        .cfi_same_value r6
        .cfi_same_value r8
        .cfi_same_value r9
        .cfi_same_value r10
        .cfi_same_value 80
        .cfi_same_value 81
        .cfi_same_value 82
        .cfi_same_value 83
        .cfi_same_value 84
        .cfi_same_value 85
        .cfi_same_value 86
        .cfi_same_value 87
        .cfi_same_value 88
        .cfi_same_value 89
        .cfi_same_value 90
        .cfi_same_value 91
        .cfi_same_value 92
        .cfi_same_value 93
        .cfi_same_value 94
        .cfi_same_value 95
.endm

        .text

/*
 * corolink__trampoline: co->pc of a coroutine that has not started.
 * Entered by the first resume's `blx`: r0 = co, r1 = input, lr = return
 * address into the resumer, r7/r11 = the resumer's, sp = the resumer's.
 * Calls co->fn(yielder = co, input, co->arg) with sp = co - 8; when the
 * body returns, marks the coroutine finished and returns into its last
 * resumer with r1 = return value, r2 = COROLINK_RETURN. A signal frame
 * for DWARF unwinders, for the reasons given in x86_64_sysv_elf.S
 * (libgcc's EHABI unwinder looks every frame up at its pc - 2, inside the
 * call: nothing to mark there).
 */
        .globl  corolink__trampoline
        .type   corolink__trampoline, %function
        .p2align 4
corolink__trampoline:
.Ltrampoline:   /* (for corolink__ontop: a reference that binds here) */
        EH(.fnstart)
        .cfi_startproc
        .cfi_signal_frame
#if COROLINK_UNWIND
        /* EHABI: as on x86-64 the root catches every exception
         * (src/unwind.c); the personality routine runs this entry's
         * opcodes (below) itself when it lets an unwind go on. */
        EH(.personality corolink__personality)
#endif
        /* EHABI (at the body's call, the only call site): vsp = r7
         * (&co->link_fp); pop {r7, r11, lr} (link_fp, link_fp11,
         * link_ra); pop {sp} (link_sp); pc = lr. */
        EH(.unwind_raw 0, 0x97, 0x84, 0x88, 0x82, 0x00)
        /* CIE rows: CFA = sp, return address in lr, every other register
         * unchanged. True here: this is the resumer's callee. */
        str     r7, [r0, #CO_LINK_FP]           /* resumer's r7, */
        str     r11, [r0, #CO_LINK_FP11]        /* r11, */
        str     lr, [r0, #CO_LINK_RA]           /* return address, */
        str     sp, [r0, #CO_LINK_SP]           /* sp */
        add     r7, r0, #CO_LINK_FP             /* r7 = &co->link_fp */
        /* From here on the frame is described through r7 = &co->link_fp,
         * which holds on any stack: CFA = co->link_sp, r7 = co->link_fp,
         * r11 = co->link_fp11, lr = co->link_ra. r7 is callee-saved: the
         * body hands it back. */
        CFA_VIA_LINK
        R7_AT_R7
        R11_AT_R7_4
        LR_AT_R7_8
        add     r11, r0, #CO_LINK_RA            /* the ARM frame record */
        adr     r12, corolink__trampoline_ret
        mov     r2, #0
        str     r12, [r0, #-8]                  /* co - 8: our return address */
        str     r2, [r0, #-4]
        sub     sp, r0, #8                      /* onto the coroutine stack */
        ldr     r12, [r0, #CO_FN]
        ldr     r2, [r0, #CO_ARG]               /* fn(co, input, arg) */
        blx     r12
        /* The body's return address: corolink_current() and the trap
         * handler recognise the root frame of a coroutine stack by it. */
        .globl  corolink__trampoline_ret
        .hidden corolink__trampoline_ret
corolink__trampoline_ret:
        /* The body returned: r0 = return value, r7 = &co->link_fp. Rows
         * are unchanged (CFA via the link). */
        mov     r1, r0                          /* value */
        sub     r0, r7, #CO_LINK_FP             /* r0 = co */
        mov     r2, #FINISHED_RETURNED
        str     r2, [r0, #CO_FINISHED]          /* pc stays NULL */
        mov     r2, #STATUS_RETURN
.Lleave:
        /* Into the resumer with r0 = co, r1 = value, r2 = status; rows as
         * above (CFA via the link). */
#if COROLINK_PROBES
        ldr     r12, .Lprobe_sems
.Lprobe_sems_pc:
        add     r12, pc, r12                    /* &cl_probe_sems */
        ldr     r3, [r12]
        ldr     r12, [r12, #4]
        orrs    r12, r12, r3                    /* the return probe (and `from`) */
        bne     .Lleave_probe
.Lleave_probed:
#endif
#if COROLINK_UNWIND
        .cfi_remember_state                     /* for the landing pad */
#endif
        ldr     sp, [r0, #CO_LINK_SP]           /* the resumer's sp */
        /* CFA = sp; r7, r11 and lr still found through r7. */
        .cfi_def_cfa sp, 0
        ldr     r11, [r0, #CO_LINK_FP11]
        .cfi_same_value r11                     /* the caller's r11 */
        ldr     lr, [r0, #CO_LINK_RA]
        .cfi_same_value lr                      /* the return address */
        ldr     r7, [r0, #CO_LINK_FP]
        .cfi_same_value r7                      /* the caller's r7 */
        bx      lr
        /* Unwinders look callers of a signal frame up at the exact return
         * address; nothing may return to the address after this `bx`. */
        udf     #0
#if COROLINK_UNWIND
        /* Landing pad, entered by the unwinder when an exception or this
         * coroutine's forced unwind reaches the root: sp = co - 8 (the
         * body's CFA), r7 = &co->link_fp, r0 = the exception object,
         * r1 = 1 (an exception) or 2 (the forced unwind). Rows: via the
         * link, as while the body ran. */
        .cfi_restore_state
        .globl  corolink__trampoline_eh
        .hidden corolink__trampoline_eh
corolink__trampoline_eh:
        mov     r2, r1                          /* kind */
        mov     r1, r0                          /* exception */
        sub     r0, r7, #CO_LINK_FP             /* co */
        /* corolink__caught(co, exception, kind): the status. */
        bl      corolink__caught
        mov     r2, r0                          /* status */
        sub     r0, r7, #CO_LINK_FP             /* co */
        mov     r1, #0                          /* value: NULL */
        b       .Lleave
#endif
#if COROLINK_PROBES
#if !COROLINK_UNWIND
        .globl  corolink__trampoline_eh
        .hidden corolink__trampoline_eh
corolink__trampoline_eh:
#endif
.Lleave_probe:
        /* cl_probe_leave(co), on the coroutine stack (sp = co - 8),
         * r7 = &co->link_fp: rows via the link, restated. */
        CFA_VIA_LINK
        R7_AT_R7
        R11_AT_R7_4
        LR_AT_R7_8
        push    {r1, r2}                        /* value, status */
        bl      cl_probe_leave                  /* (co) */
        pop     {r1, r2}
        sub     r0, r7, #CO_LINK_FP             /* co */
        b       .Lleave_probed
        .p2align 2
.Lprobe_sems:
        .word   cl_probe_sems - (.Lprobe_sems_pc + 8)
#endif
        .cfi_endproc
        EH(.fnend)
        .size   corolink__trampoline, .-corolink__trampoline
        /* End of the trampoline's code, for corolink_current(). */
        .globl  corolink__trampoline_end
        .hidden corolink__trampoline_end
corolink__trampoline_end:

/*
 * void *corolink__call_on(void *arg, void *(*fn)(void *), void *top)
 * Calls fn(arg) with sp = (top & ~15) - 32 and returns its result on the
 * original stack. The words at the new top hold {r11, call_on_ret} at
 * top - 28 (shaped like fn's own first frame record) and the caller's sp
 * at top - 16, for the trap handler's scan. An ordinary frame otherwise,
 * r7-based (CFA = r7 + 16) with an ARM frame record in r11; a signal
 * frame, as on x86-64.
 */
        .globl  corolink__call_on
        .type   corolink__call_on, %function
        .p2align 4
corolink__call_on:
        EH(.fnstart)
        .cfi_startproc
        .cfi_signal_frame
        /* CFA = sp, return address in lr. */
        push    {r4, r7, r11, lr}
        /* EHABI: pop {r4, r7, r11, lr}. */
        EH(.save   {r4, r7, r11, lr})
        /* CFA = sp + 16; r4, r7, r11, lr saved at CFA - 16 .. CFA - 4. */
        .cfi_def_cfa_offset 16
        .cfi_offset r4, -16
        .cfi_offset r7, -12
        .cfi_offset r11, -8
        .cfi_offset lr, -4
        mov     r7, sp
        /* EHABI: vsp = r7 first. */
        EH(.setfp  r7, sp)
        /* CFA = r7 + 16, valid whichever stack sp is on. */
        .cfi_def_cfa_register r7
        add     r11, sp, #12                    /* the ARM frame record */
        bic     r2, r2, #15
        adr     r12, corolink__call_on_ret
        str     r11, [r2, #-28]
        str     r12, [r2, #-24]
        add     r12, r7, #16
        str     r12, [r2, #-16]                 /* the caller's sp */
        sub     sp, r2, #32                     /* onto the new stack */
        blx     r1                              /* fn(arg); r0 = arg */
        /* fn's return address: the trap handler recognises a call_on
         * frame on the stack fn runs on by it. */
        .globl  corolink__call_on_ret
        .hidden corolink__call_on_ret
corolink__call_on_ret:
        mov     sp, r7                          /* back on the caller's stack */
        /* CFA = sp + 16. */
        .cfi_def_cfa_register sp
        pop     {r4, r7, r11, pc}
        udf     #0
        .cfi_endproc
        EH(.fnend)
        .size   corolink__call_on, .-corolink__call_on

/*
 * The out-of-line switch, as on x86-64: corolink_resume(), corolink_suspend()
 * and the library's corolink__enter() save the callee-saved registers the
 * switch destroys in a frame of 104 bytes (CFA = r11 + 4):
 *
 *   CFA - 4    lr                  CFA - 100 .. CFA - 44   d8 .. d15
 *   CFA - 8    r11 (frame record)  CFA - 104 a spare word (resume: output)
 *   CFA - 36 .. CFA - 12   r4 .. r10
 */
#define FRAME 104

/* Prologue: the core registers (their rows at once), the VFP ones, the
 * spare word, then the frame record (CFA = r11 + 4 from then on, on
 * whatever stack sp points into). EHABI: vsp = r11 - 100; pop the spare
 * word; vpop {d8-d15}; pop {r4-r11, lr}. */
.macro SAVE_CALLEE_SAVED
        push    {r4-r11, lr}
        EH(.save   {r4-r11, lr})
        /* CFA = sp + 36; r4-r11, lr at CFA - 36 .. CFA - 4. */
        .cfi_def_cfa_offset 36
        .cfi_offset lr, -4
        .cfi_offset r11, -8
        .cfi_offset r10, -12
        .cfi_offset r9, -16
        .cfi_offset r8, -20
        .cfi_offset r7, -24
        .cfi_offset r6, -28
        .cfi_offset r5, -32
        .cfi_offset r4, -36
        vpush   {d8-d15}
        EH(.vsave  {d8-d15})
        /* CFA = sp + 100; d8-d15 at CFA - 100 .. CFA - 44. */
        .cfi_def_cfa_offset 100
        .cfi_offset 80, -100
        .cfi_offset 81, -96
        .cfi_offset 82, -92
        .cfi_offset 83, -88
        .cfi_offset 84, -84
        .cfi_offset 85, -80
        .cfi_offset 86, -76
        .cfi_offset 87, -72
        .cfi_offset 88, -68
        .cfi_offset 89, -64
        .cfi_offset 90, -60
        .cfi_offset 91, -56
        .cfi_offset 92, -52
        .cfi_offset 93, -48
        .cfi_offset 94, -44
        .cfi_offset 95, -40
        sub     sp, sp, #4
        EH(.pad    #4)
        .cfi_def_cfa_offset FRAME               /* CFA = sp + 104 */
        add     r11, sp, #FRAME - 4
        EH(.setfp  r11, sp, #FRAME - 4)
        /* CFA = r11 + 4 (the same address: the rows of every register
         * saved above hold at their CFA offsets, on whatever stack sp
         * points into from now on). */
        .cfi_def_cfa r11, 4
.endm

/* Epilogue: registers back and the frame popped; the last instruction
 * returns (interworking). */
.macro RESTORE_CALLEE_SAVED
        add     sp, r11, #4 - 100
        /* CFA = sp + 100; the spare word is gone. */
        .cfi_def_cfa sp, 100
        vpop    {d8-d15}
        /* CFA = sp + 36; d8-d15 hold their saved values again. */
        .cfi_def_cfa_offset 36
        .cfi_restore 80
        .cfi_restore 81
        .cfi_restore 82
        .cfi_restore 83
        .cfi_restore 84
        .cfi_restore 85
        .cfi_restore 86
        .cfi_restore 87
        .cfi_restore 88
        .cfi_restore 89
        .cfi_restore 90
        .cfi_restore 91
        .cfi_restore 92
        .cfi_restore 93
        .cfi_restore 94
        .cfi_restore 95
        pop     {r4-r11, pc}
.endm

        .globl  corolink_resume
        .type   corolink_resume, %function
        .p2align 4
corolink_resume:
        EH(.fnstart)
        .cfi_startproc
        /* CFA = sp, return address in lr. Called through the PLT. A tracer
         * has the resume or suspend probe enabled, or suspend timestamps
         * are on: the traced resume does it all (a tail call, same
         * arguments). r12 is free here. */
        ldr     r12, .Lresume_got
.Lresume_got_pc:
        ldr     r12, [pc, r12]                  /* &corolink__probe_switch */
        ldr     r12, [r12]
        cmp     r12, #0
        bne     .Lresume_traced
        SAVE_CALLEE_SAVED
        str     r2, [sp]                        /* output */
        cmp     r0, #0
        beq     .Lresume_fail
        ldr     r3, [r0, #CO_PC]
        cmp     r3, #0
        beq     .Lresume_fail                   /* running or finished */
        mov     r2, #0
        str     r2, [r0, #CO_PC]                /* running; command: go on */
        blx     r3                              /* the switch */
        /* Back: r0 = co, r1 = value, r2 = status; sp, r7 and r11 restored
         * by the suspend, so the rows above hold. */
        cmp     r2, #STATUS_THROW
        bhs     .Lresume_throw                  /* the body threw */
        ldr     r3, [sp]
        cmp     r3, #0
        strne   r1, [r3]
        mov     r0, r2
.Lresume_out:
        .cfi_remember_state
        RESTORE_CALLEE_SAVED
        .cfi_restore_state
.Lresume_fail:
        ldr     r1, [sp]
        bl      corolink__resume_fail           /* (co, output): the error */
        b       .Lresume_out
.Lresume_throw:
        /* Raise the body's exception again from this frame (r0 = co). */
        bl      corolink__resume_throw
        udf     #0
.Lresume_traced:
        /* The frame is not set up yet: CIE rows. */
        .cfi_def_cfa sp, 0
        .cfi_restore lr
        .cfi_restore r4
        .cfi_restore r5
        .cfi_restore r6
        .cfi_restore r7
        .cfi_restore r8
        .cfi_restore r9
        .cfi_restore r10
        .cfi_restore r11
        .cfi_restore 80
        .cfi_restore 81
        .cfi_restore 82
        .cfi_restore 83
        .cfi_restore 84
        .cfi_restore 85
        .cfi_restore 86
        .cfi_restore 87
        .cfi_restore 88
        .cfi_restore 89
        .cfi_restore 90
        .cfi_restore 91
        .cfi_restore 92
        .cfi_restore 93
        .cfi_restore 94
        .cfi_restore 95
        b       corolink__resume_traced
        .p2align 2
.Lresume_got:
        .word   corolink__probe_switch(GOT_PREL) - (.Lresume_got_pc + 8 - .Lresume_got)
        .cfi_endproc
        EH(.fnend)
        .size   corolink_resume, .-corolink_resume

        .globl  corolink_suspend
        .type   corolink_suspend, %function
        .p2align 4
corolink_suspend:
        EH(.fnstart)
        .cfi_startproc
        /* CFA = sp, return address in lr: the body called us. */
        SAVE_CALLEE_SAVED
        /* The yielder must be the innermost running coroutine's: its stack
         * [stack_limit, co) holds our frame (r11). */
        cmp     r0, #0
        beq     .Lsuspend_misuse
        cmp     r11, r0
        bhs     .Lsuspend_misuse
        ldr     r12, [r0, #CO_STACK_LIMIT]
        cmp     r11, r12
        blo     .Lsuspend_misuse
        mov     r2, #STATUS_YIELD
        .cfi_remember_state
        /* As in the inline suspend, the 40 bytes before the resume point
         * start with our sp, r7 and r11 in place: a tool may unwind a
         * suspended coroutine from co->pc - 40, co->sp, co->fp and
         * co->fp11. */
        adr     r3, .Lsuspend_resumed
        str     r3, [r0, #CO_PC]                /* suspended; resume there */
        str     sp, [r0, #CO_SP]
        str     r7, [r0, #CO_FP]
        str     r11, [r0, #CO_FP11]
        ldr     lr, [r0, #CO_LINK_RA]           /* lr = link_ra */
        ldr     sp, [r0, #CO_LINK_SP]           /* the resumer's stack */
        /* The resumer's callee, about to return: CFA = sp, its return
         * address in lr. */
        RESUMER_CALLEE_ROWS
        ldr     r11, [r0, #CO_LINK_FP11]
        .cfi_same_value r11                     /* the resumer's r11 */
        ldr     r7, [r0, #CO_LINK_FP]
        .cfi_same_value r7                      /* the resumer's r7 */
        bx      lr                              /* into the resumer */
        /* The resume point, entered by a resume's `blx` on the resumer's
         * stack: lr = return address, r7 and r11 the resumer's. Named for
         * introspect.c, which skips this function's frame. */
        .globl  corolink__suspend_resumed
        .hidden corolink__suspend_resumed
corolink__suspend_resumed:
.Lsuspend_resumed:
        str     r7, [r0, #CO_LINK_FP]
        str     r11, [r0, #CO_LINK_FP11]
        str     lr, [r0, #CO_LINK_RA]
        str     sp, [r0, #CO_LINK_SP]
        ldr     r11, [r0, #CO_FP11]             /* our r11 */
        /* The resumer's r11 is in co->link_fp11 now. */
        R11_IN_LINK
        ldr     r7, [r0, #CO_FP]                /* the body's r7 */
        /* The resumer's r7 is in co->link_fp now. */
        R7_IN_LINK
        ldr     sp, [r0, #CO_SP]                /* back on the body's stack */
        /* Our own frame again: CFA = r11 + 4, registers saved. */
        .cfi_restore_state
        cmp     r2, #0
        bne     .Lsuspend_unwind                /* the resumer's command */
        mov     r0, r1                          /* returns the input */
        .cfi_remember_state
        RESTORE_CALLEE_SAVED
        .cfi_restore_state
        /* From here on only exception handling and misuse (check-cfi's
         * --cover leaves the `_eh` tail out). */
        .globl  corolink_suspend_eh
        .hidden corolink_suspend_eh
corolink_suspend_eh:
.Lsuspend_unwind:
        /* corolink_force_unwind() resumed us with the unwind command: start
         * the forced unwind from here (r0 = co). */
        bl      corolink__suspend_unwind
        udf     #0
.Lsuspend_misuse:
        /* A bad yielder: cl_suspend_misuse(yielder, r11) aborts. */
        mov     r1, r11
        bl      cl_suspend_misuse
        udf     #0
        .cfi_endproc
        EH(.fnend)
        .size   corolink_suspend, .-corolink_suspend

/*
 * int corolink__enter(corolink *co, void *input, uintptr_t cmd, void **value)
 * The library's own resume (see x86_64_sysv_elf.S). A `cmd` above 1 is a
 * struct cl_with * (corolink_resume_with()): the switch then goes through
 * corolink__ontop, which runs with->fn on co's stack first.
 */
        /* In the section of the library's resume-path code that tools
         * leave out of backtraces (see aarch64_aapcs_elf.S). */
        .pushsection corolink_hidden, "ax", %progbits
        .globl  corolink__enter
        .type   corolink__enter, %function
        .p2align 4
corolink__enter:
        EH(.fnstart)
        .cfi_startproc
        SAVE_CALLEE_SAVED
        str     r3, [sp]                        /* value */
#if COROLINK_PROBES
        ldr     r12, .Lprobe_switch
.Lprobe_switch_pc:
        ldr     r12, [pc, r12]                  /* the resume probe */
        cmp     r12, #0
        bne     .Lenter_probe
.Lenter_probed:
#endif
        ldr     r4, [r0, #CO_PC]
        mov     r12, #0
        str     r12, [r0, #CO_PC]               /* running */
        cmp     r2, #1
        bhi     .Lenter_with                    /* cmd: a struct cl_with * */
        blx     r4                              /* r0 = co, r1, r2 = cmd */
.Lenter_back:
        /* Back: r1 = value, r2 = status; rows as above. */
        ldr     r3, [sp]
        str     r1, [r3]
        mov     r0, r2
        .cfi_remember_state
        RESTORE_CALLEE_SAVED
        .cfi_restore_state
.Lenter_with:
        /* corolink_resume_with(): r4 = co's old pc, r2 = the struct
         * cl_with. Same frame as at the `blx r4` above; corolink__ontop
         * comes back as a switch does, to the `b` after its call (which
         * the resume point of a suspend records as link_ra). */
        bl      corolink__ontop
        b       .Lenter_back
#if COROLINK_PROBES
.Lenter_probe:
        /* cl_probe_resume(co), keeping r0-r2 in r4-r6. */
        mov     r4, r0
        mov     r5, r1
        mov     r6, r2
        bl      cl_probe_resume
        mov     r0, r4
        mov     r1, r5
        mov     r2, r6
        b       .Lenter_probed
        .p2align 2
.Lprobe_switch:
        .word   cl_probe_switch - (.Lprobe_switch_pc + 8)
#endif
        .cfi_endproc
        EH(.fnend)
        .size   corolink__enter, .-corolink__enter

/*
 * corolink__ontop: the switch of corolink_resume_with() (read the comments
 * on corolink__ontop in x86_64_sysv_elf.S and aarch64_aapcs_elf.S first),
 * called by corolink__enter with `bl` on the resumer's stack like a
 * resume point:
 *   r0 = co, r1 = input, r2 = struct cl_with { fn, arg }, r4 = co's old pc
 *   (the resume point of its pending suspend, or corolink__trampoline if
 *   it has not started), lr = return address into corolink__enter, r7/r11
 *   its own, sp its sp.
 * It records the resumer in co->link_* as a resume point does, moves onto
 * co's stack and calls fn(input, arg) there from a frame of its own, then
 * enters co's old pc as a resume would, with r1 = fn's result and r2 = 0
 * (go on), or r2 = 1 (raise) from its landing pad.
 *
 * Its frame on co's stack looks called from the coroutine at its
 * suspension point. Below the body's sp (Csp = co->sp) it writes a record
 * {Cfp = co->fp (r7), Cfp11 = co->fp11 (r11), R} and points r11 at R's
 * slot (an ARM frame record {Cfp11, R}), where R = co->pc - 36 = S + 4,
 * S = co->pc - 40 being the switch-out's first instruction (bit 0 kept
 * for a Thumb body: R is then a Thumb return address). Unwinders look a
 * return address up at R - 1 or R - 2, inside the instruction at S (ARM)
 * or the 32-bit one at S + 2 (Thumb), where the body's rows hold with
 * sp = Csp, r7 = Cfp and r11 = Cfp11.
 *
 *   co's stack while fn runs:
 *     Csp      ->  (the body's frames, as the suspend left them)
 *     Csp - 4      R = co->pc - 36   <- r11
 *     Csp - 8      Cfp11
 *     Csp - 12     Cfp
 *     Csp - 16     co's old pc (where to go on after fn)
 *     Csp - 20     co
 *     Csp - 24     (unused)          <- sp at the call of fn
 *                  fn's frames
 *
 * Rows while fn runs: CFA = r11 + 4 (= Csp), r7 at CFA - 12, r11 at
 * CFA - 8, lr at CFA - 4. EHABI: vsp = r11; vsp -= 8; pop {r7, r11, lr}
 * (0x9b, 0x41, 0x84 0x88). For a coroutine that has not started the frame
 * is made as if the root frame had called it at the body's return
 * address: R = corolink__trampoline_ret, Csp = co - 8, Cfp = &co->link_fp,
 * Cfp11 = &co->link_ra, and co - 8, co - 4 as the trampoline leaves them.
 */
/* reg = the address of sym, a label in .text (corolink__ontop is in
 * corolink_hidden, out of `adr`'s reach), from a pc-relative literal
 * `lit` (after the function: no data among its instructions) that holds
 * sym - (anchor + 8). */
.macro ADDR_OF reg, lit, anchor
        ldr     \reg, \lit
\anchor:
        add     \reg, pc, \reg
.endm
#define WITH_FN    0x00         /* struct cl_with (src/internal.h) */
#define WITH_ARG   0x04
#define RA_ADJUST  36           /* CL_SUSPENDED_PC_ADJUST - 4 (see above) */
        .globl  corolink__ontop
        .type   corolink__ontop, %function
        .p2align 4
corolink__ontop:
        EH(.fnstart)
        .cfi_startproc
#if COROLINK_UNWIND
        /* Everything that leaves fn stops here (see above). */
        EH(.personality corolink__ontop_personality)
#endif
        /* EHABI (at the call of fn): vsp = r11; vsp = vsp - 8;
         * pop {r7, r11, lr}; pc = lr. */
        EH(.unwind_raw 0, 0x9b, 0x41, 0x84, 0x88)
        /* CIE rows: CFA = sp, return address in lr, every other register
         * unchanged: corolink__enter's callee (lr, r4-r11 stay untouched
         * until the switch below: only r0-r3 and r12 are scratch). */
        str     r7, [r0, #CO_LINK_FP]           /* resumer's r7, */
        str     r11, [r0, #CO_LINK_FP11]        /* r11, */
        str     lr, [r0, #CO_LINK_RA]           /* return address, */
        str     sp, [r0, #CO_LINK_SP]           /* sp */
        ADDR_OF r12, .Lontop_lit1, .Lontop_pc1   /* .Ltrampoline */
        cmp     r4, r12
        beq     1f
        /* Suspended: called from the switch-out with the body's sp, r7
         * and r11. */
        ldr     r3, [r0, #CO_SP]                /* Csp */
        sub     r12, r4, #RA_ADJUST             /* R */
        str     r12, [r3, #-4]
        ldr     r12, [r0, #CO_FP11]
        str     r12, [r3, #-8]                  /* Cfp11 */
        ldr     r12, [r0, #CO_FP]
        str     r12, [r3, #-12]                 /* Cfp */
        b       2f
1:      /* Not started: called from the root frame at the body's return
         * address, with sp = co - 8, r7 = &co->link_fp, r11 =
         * &co->link_ra. */
        sub     r3, r0, #8                      /* Csp */
        ADDR_OF r12, .Lontop_lit2, .Lontop_pc2   /* R = corolink__trampoline_ret */
        str     r12, [r3]                       /* co - 8, as the trampoline */
        str     r12, [r3, #-4]
        mov     r12, #0
        str     r12, [r3, #4]
        add     r12, r0, #CO_LINK_RA
        str     r12, [r3, #-8]                  /* Cfp11 */
        add     r12, r0, #CO_LINK_FP
        str     r12, [r3, #-12]                 /* Cfp */
2:      str     r4, [r3, #-16]                  /* where co goes on */
        str     r0, [r3, #-20]                  /* co */
        sub     sp, r3, #12                     /* onto co's stack, at the record */
        /* Now the callee of R that has stored its record: CFA = sp + 12
         * (Csp), r7 (Cfp) at CFA - 12, r11 (Cfp11) at CFA - 8, the return
         * address (R) at CFA - 4. */
        .cfi_def_cfa sp, 12
        .cfi_offset r7, -12
        .cfi_offset r11, -8
        .cfi_offset lr, -4
        sub     r11, r3, #4
        /* CFA = r11 + 4 from here on, whatever sp does. */
        .cfi_def_cfa r11, 4
        sub     sp, sp, #12                     /* co, old pc above sp */
        mov     r0, r1                          /* fn(input, arg) */
        ldr     r1, [r2, #WITH_ARG]
        ldr     r12, [r2, #WITH_FN]
        blx     r12
        /* Back: r0 = fn's result, r11 = our record, sp = r11 - 20. */
        mov     r1, r0                          /* fn's result: the input */
        mov     r2, #0                          /* the command: go on */
.Lontop_leave:
        /* Into co's old pc, as a resume enters it: r1 = the input, r2 =
         * the command for a pending suspend (0 go on, 1 raise). */
        ldr     r0, [r11, #-16]                 /* co */
        ldr     r12, [r11, #-12]                /* where co goes on */
        /* The body's sp, r7 and r11 for the resume point, which reads them
         * from co: fn may have suspended co since, over them. */
        ldr     r3, [r11, #-8]
        str     r3, [r0, #CO_FP]                /* Cfp */
        ldr     r3, [r11, #-4]
        str     r3, [r0, #CO_FP11]              /* Cfp11 */
        add     r3, r11, #4
        str     r3, [r0, #CO_SP]                /* Csp */
        .cfi_remember_state                     /* for the tails below */
        ldr     sp, [r0, #CO_LINK_SP]           /* the resumer's sp */
        /* Back to the resumer's callee view, as at a resume's `blx`:
         * CFA = sp, the return address in co->link_ra, the resumer's r7
         * and r11 in co->link_fp and link_fp11 (r0 = co), every other
         * register as the resumer may find it (fn kept r4-r10 and d8-d15,
         * and this function never touches them but r4, which
         * corolink__enter saved). */
        .cfi_def_cfa sp, 0
        LR_IN_LINK
        R7_IN_LINK
        R11_IN_LINK
        ldr     r11, [r0, #CO_LINK_FP11]
        .cfi_same_value r11                     /* the resumer's r11 */
        ldr     r7, [r0, #CO_LINK_FP]
        .cfi_same_value r7                      /* the resumer's r7 */
        ldr     lr, [r0, #CO_LINK_RA]
        .cfi_same_value lr                      /* the return address */
        bx      r12                             /* r0 = co, r1 = input */
        .cfi_restore_state
#if COROLINK_UNWIND
        /* Landing pad, entered by the unwinder when an exception leaves fn
         * (or co's forced unwind reaches this frame): r11 = our record,
         * sp = what it was at the call (r11 - 20), r0 = the exception
         * object, r1 = 1 (an exception) or 2 (the forced unwind), as
         * corolink__ontop_personality set them. Rows: our frame, as while
         * fn ran. (check-cfi's --cover leaves the `_eh` tail out.) */
        .globl  corolink__ontop_eh
        .hidden corolink__ontop_eh
corolink__ontop_eh:
        ldr     r3, [r11, #-16]                 /* co */
        ldr     r12, [r11, #-12]                /* where co goes on */
        ADDR_OF r2, .Lontop_lit3, .Lontop_pc3    /* .Ltrampoline */
        cmp     r12, r2
        beq     3f
        /* corolink__ontop_caught(co, exception, kind) leaves the exception
         * (or the order to unwind again) for corolink__suspend_unwind(),
         * which the pending suspend calls when entered with r2 = 1. */
        mov     r2, r1                          /* kind */
        mov     r1, r0                          /* exception */
        mov     r0, r3                          /* co */
        bl      corolink__ontop_caught
        mov     r1, #0                          /* value: NULL */
        mov     r2, #1                          /* the command: raise */
        b       .Lontop_leave
3:      /* Not started: go back into the root frame, as a return to R
         * would, and take its landing pad with r0 and r1 as they are: it
         * finishes co and reports the exception (or the end of the forced
         * unwind) to the resumer. */
        ldr     r7, [r11, #-8]                  /* r7 = &co->link_fp */
        .cfi_same_value r7                      /* restored */
        add     sp, r11, #4                     /* sp = Csp = co - 8 */
        /* CFA = sp: R still at CFA - 4. */
        .cfi_def_cfa sp, 0
        ldr     r11, [r11, #-4]                 /* r11 = &co->link_ra */
        .cfi_same_value r11                     /* restored */
        b       corolink__trampoline_eh
#endif
        .cfi_endproc
        EH(.fnend)
        .size   corolink__ontop, .-corolink__ontop
        /* ADDR_OF's literals. */
        .p2align 2
.Lontop_lit1:
        .word   .Ltrampoline - (.Lontop_pc1 + 8)
.Lontop_lit2:
        .word   corolink__trampoline_ret - (.Lontop_pc2 + 8)
#if COROLINK_UNWIND
.Lontop_lit3:
        .word   .Ltrampoline - (.Lontop_pc3 + 8)
#endif
        .popsection

        .section .note.GNU-stack,"",%progbits
