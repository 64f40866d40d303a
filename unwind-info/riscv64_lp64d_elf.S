/*
 * RISC-V 64 (RV64GC, LP64D ABI), ELF, GNU as: the root frame of every
 * coroutine stack (corolink__trampoline), the stack-switching call
 * (corolink__call_on), the out-of-line switch and corolink_resume_with()'s
 * corolink__ontop. Read x86_64_sysv_elf.S and aarch64_aapcs_elf.S first:
 * this file follows AArch64 register for register (x29 -> s0, x30 -> ra,
 * x0-x4 -> a0-a4, x16/x17 -> t1/t2, d8-d15 -> fs0-fs11) and says only how
 * RISC-V differs. The inline switch is in
 * include/corolink/riscv64_lp64d_elf.h; unwind-info/README.md ("RISC-V 64")
 * has the protocol and the rows of every instruction.
 *
 * Differences from AArch64:
 *  - The frame record lies below the frame pointer: gcc's RISC-V frame
 *    has s0 = the CFA, the return address at s0 - 8 and the caller's s0 at
 *    s0 - 16. So the trampoline points s0 at &co->link_sp (0x50): link_fp
 *    (0x40) and link_ra (0x48) are the record below it, and the CFA of the
 *    root frame is *s0 = co->link_sp, one dereference of s0 itself.
 *  - Return-address prediction: the hardware's return-address stack
 *    follows the link registers x1 (ra) and x5 (t0). A resume is
 *    `jalr ra, 0(a3)` (push), a suspend returns with `ret` (pop), the
 *    body's call is `jalr ra` (push) and its return `ret` (pop).
 *    corolink__ontop enters the old pc with `jr t1` (rs1 = x6, not a link
 *    register: no hint), so it never unbalances the stack; nothing here
 *    jumps through t0. One call and one return per round trip, inline and
 *    out of line (RISC-V has no branch-target landing pads, so the
 *    out-of-line suspend returns with `ret` too).
 *  - No compressed instructions and no linker relaxation in this file
 *    (.option norvc, norelax): every instruction is 4 bytes where it was
 *    assembled, so that the switch-out is 36 bytes before the resume point
 *    (CL_SUSPENDED_PC_ADJUST) in the out-of-line suspend as in the inline
 *    one, and the checker's model reads fixed-size instructions.
 *  - The callee-saved registers: s0-s11 and fs0-fs11 (the D extension).
 *
 * The stacks (addresses grow upwards; co = control block, 64-byte
 * aligned):
 *
 *   just created               running                  suspended
 *   ------------               -------                  ---------
 *   co + 0x200  end            co + 0x50 link_sp <- s0  co->pc: resume point
 *   co + 0x48 (link_ra)        co + 0x48 link_ra   ^    co->sp, co->fp: the
 *   co + 0x40 (link_fp)        co + 0x40 link_fp   |    body's sp, s0 at its
 *   co: control block          co: control block   |    suspend (the frames
 *   pc = corolink__trampoline  co - 8: trampoline_ret   below co keep their
 *   (nothing below co)         co - 16: 0          |    records)
 *                              body's frames: the  |
 *                              first record, at    |
 *                              co - 32, holds      |
 *                              {&co->link_sp, -----+
 *                               trampoline_ret}
 *
 *   resumer's stack while the coroutine runs: its frames above link_sp;
 *   ra = link_ra was its return address from `jalr`.
 */

        .option norvc           /* 4-byte instructions only (see above) */
        .option norelax         /* as assembled: the linker keeps them */

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
 * DWARF expressions used below, byte by byte (DWARF numbers: ra = x1 = 1,
 * s0 = x8 = 8, a0 = x10; DW_OP_breg8 = 0x70 + 8 = 0x78, DW_OP_breg10 =
 * 0x7a).
 *
 * CFA_VIA_LINK: CFA = the resumer's sp, at co->link_sp, where s0 points.
 *   0x0f           DW_CFA_def_cfa_expression
 *   0x03           expression length 3
 *   0x78 0x00      DW_OP_breg8 (s0) + 0         -> &co->link_sp
 *   0x06           DW_OP_deref                  -> co->link_sp
 *
 * FP_BELOW_FP: the caller's s0 is saved at s0 - 16 (co->link_fp).
 *   0x10 0x08      DW_CFA_expression, register 8 (s0)
 *   0x02           expression length 2
 *   0x78 0x70      DW_OP_breg8 (s0) - 16 (SLEB128 0x70)
 *
 * RA_BELOW_FP: the return address is saved at s0 - 8 (co->link_ra).
 *   0x10 0x01      DW_CFA_expression, register 1 (ra, the RA column)
 *   0x02           expression length 2
 *   0x78 0x78      DW_OP_breg8 (s0) - 8 (SLEB128 0x78)
 *
 * FP_IN_LINK: s0 was saved at co->link_fp, a0 holding co.
 *   0x10 0x08      DW_CFA_expression, register 8 (s0)
 *   0x03           expression length 3
 *   0x7a 0xc0 0x00 DW_OP_breg10 (a0) + 64 (SLEB128: 0x40 alone is -64)
 *
 * RA_IN_LINK: the return address was saved at co->link_ra, a0 holding co
 * (corolink__ontop, on its way back to the resumer).
 *   0x10 0x01      DW_CFA_expression, register 1 (ra, the RA column)
 *   0x03           expression length 3
 *   0x7a 0xc8 0x00 DW_OP_breg10 (a0) + 72 (SLEB128: 0x48 alone is -56)
 */
#define CFA_VIA_LINK .cfi_escape 0x0f, 0x03, 0x78, 0x00, 0x06
#define FP_BELOW_FP  .cfi_escape 0x10, 0x08, 0x02, 0x78, 0x70
#define RA_BELOW_FP  .cfi_escape 0x10, 0x01, 0x02, 0x78, 0x78
#define FP_IN_LINK   .cfi_escape 0x10, 0x08, 0x03, 0x7a, 0xc0, 0x00
#define RA_IN_LINK   .cfi_escape 0x10, 0x01, 0x03, 0x7a, 0xc8, 0x00

/* The rows of the resumer's callee during the switch (see the inline
 * suspend): CFA = sp, return address in ra, s0 in co->link_fp, every
 * other callee-saved register what the resumer may find. */
.macro RESUMER_CALLEE_ROWS
        .cfi_def_cfa sp, 0
        .cfi_same_value ra
        FP_IN_LINK
        .cfi_same_value s1
        .cfi_same_value s2
        .cfi_same_value s3
        .cfi_same_value s4
        .cfi_same_value s5
        .cfi_same_value s6
        .cfi_same_value s7
        .cfi_same_value s8
        .cfi_same_value s9
        .cfi_same_value s10
        .cfi_same_value s11
        .cfi_same_value fs0
        .cfi_same_value fs1
        .cfi_same_value fs2
        .cfi_same_value fs3
        .cfi_same_value fs4
        .cfi_same_value fs5
        .cfi_same_value fs6
        .cfi_same_value fs7
        .cfi_same_value fs8
        .cfi_same_value fs9
        .cfi_same_value fs10
        .cfi_same_value fs11
.endm

        .text

/*
 * corolink__trampoline: co->pc of a coroutine that has not started.
 * Entered by the first resume's `jalr ra`: a0 = co, a1 = input, ra =
 * return address into the resumer, s0 = resumer's s0, sp = resumer's sp.
 * Calls co->fn(yielder = co, input, co->arg) with sp = co - 16; when the
 * body returns, marks the coroutine finished and returns into its last
 * resumer with a1 = return value, a2 = COROLINK_RETURN. A signal frame,
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
        /* CIE rows: CFA = sp, return address in ra, every other register
         * unchanged. True here: this is the resumer's callee. */
        sd      s0, CO_LINK_FP(a0)              /* resumer's s0 */
        sd      ra, CO_LINK_RA(a0)              /* its return address */
        sd      sp, CO_LINK_SP(a0)              /* its sp */
        addi    s0, a0, CO_LINK_SP              /* s0 = &co->link_sp */
        /* From here on the frame is described through s0 = &co->link_sp,
         * which holds on any stack: CFA = co->link_sp (*s0), s0 =
         * co->link_fp (s0 - 16), ra = co->link_ra (s0 - 8). s0 is
         * callee-saved: the body hands it back. */
        CFA_VIA_LINK
        FP_BELOW_FP
        RA_BELOW_FP
        lla     t1, corolink__trampoline_ret
        sd      zero, -16(a0)
        sd      t1, -8(a0)                      /* co - 8: our return address */
        addi    sp, a0, -16                     /* onto the coroutine stack */
        ld      t1, CO_FN(a0)                   /* fn(co, input, arg) */
        ld      a2, CO_ARG(a0)
        jalr    ra, 0(t1)
        /* The body's return address: corolink_current() and the trap
         * handler recognise the root frame of a coroutine stack by it. */
        .globl  corolink__trampoline_ret
        .hidden corolink__trampoline_ret
corolink__trampoline_ret:
        /* The body returned: a0 = return value, s0 = &co->link_sp. Rows
         * are unchanged (CFA via the link). */
        mv      a1, a0                          /* value */
        addi    a0, s0, -CO_LINK_SP             /* a0 = co */
        li      a2, FINISHED_RETURNED
        sw      a2, CO_FINISHED(a0)             /* pc stays NULL */
        li      a2, STATUS_RETURN
.Lleave:
        /* Into the resumer with a0 = co, a1 = value, a2 = status; rows as
         * above (CFA via the link). */
#if COROLINK_PROBES
        lla     t1, cl_probe_sems
        ld      t1, 0(t1)                       /* the return probe (and `from`) */
        bnez    t1, .Lleave_probe
.Lleave_probed:
#endif
        ld      t1, CO_LINK_SP(a0)
#if COROLINK_UNWIND
        .cfi_remember_state                     /* for the landing pad */
#endif
        mv      sp, t1                          /* the resumer's sp */
        /* CFA = sp; s0 and ra still found through s0 = &co->link_sp. */
        .cfi_def_cfa sp, 0
        ld      ra, CO_LINK_RA(a0)              /* its return address */
        /* ra holds the caller's value: the resumer's callee. */
        .cfi_same_value ra
        ld      s0, CO_LINK_FP(a0)              /* resumer's s0 */
        /* s0 holds the caller's value too. */
        .cfi_same_value s0
        ret
        /* Unwinders look callers of a signal frame up at the exact return
         * address; nothing may return to the address after this `ret`. */
        unimp
#if COROLINK_UNWIND
        /* Landing pad, entered by the unwinder when an exception or this
         * coroutine's forced unwind reaches the root: sp = co - 16 (the
         * body's CFA), s0 = &co->link_sp, a0 = the exception object,
         * a1 = 1 (an exception) or 2 (the forced unwind). Rows: via the
         * link, as while the body ran. */
        .cfi_restore_state
        .globl  corolink__trampoline_eh
        .hidden corolink__trampoline_eh
corolink__trampoline_eh:
        mv      a2, a1                          /* kind */
        mv      a1, a0                          /* exception */
        addi    a0, s0, -CO_LINK_SP             /* co */
        /* corolink__caught(co, exception, kind): the status. */
        call    corolink__caught
        sext.w  a2, a0                          /* status */
        addi    a0, s0, -CO_LINK_SP             /* co */
        li      a1, 0                           /* value: NULL */
        j       .Lleave
#endif
#if COROLINK_PROBES
#if !COROLINK_UNWIND
        .globl  corolink__trampoline_eh
        .hidden corolink__trampoline_eh
corolink__trampoline_eh:
#endif
.Lleave_probe:
        /* cl_probe_leave(co), on the coroutine stack (sp = co - 16),
         * s0 = &co->link_sp: rows via the link, restated. */
        CFA_VIA_LINK
        FP_BELOW_FP
        RA_BELOW_FP
        addi    sp, sp, -16
        sd      a1, 0(sp)                       /* value */
        sd      a2, 8(sp)                       /* status */
        call    cl_probe_leave                  /* (co) */
        ld      a1, 0(sp)
        ld      a2, 8(sp)
        addi    sp, sp, 16
        addi    a0, s0, -CO_LINK_SP             /* co */
        j       .Lleave_probed
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
 * original stack. The 32 bytes at the new top hold {s0, call_on_ret} (as
 * on AArch64) and the caller's sp, for the trap handler's scan. An
 * ordinary s0-based frame otherwise (CFA = s0); a signal frame, as on
 * x86-64.
 */
        .globl  corolink__call_on
        .type   corolink__call_on, %function
        .p2align 4
corolink__call_on:
        .cfi_startproc
        .cfi_signal_frame
        /* CFA = sp, return address in ra. */
        addi    sp, sp, -16
        /* CFA = sp + 16. */
        .cfi_def_cfa_offset 16
        sd      ra, 8(sp)
        /* ra saved at CFA - 8. */
        .cfi_offset ra, -8
        sd      s0, 0(sp)
        /* s0 saved at CFA - 16. */
        .cfi_offset s0, -16
        addi    s0, sp, 16
        /* CFA = s0, valid whichever stack sp is on. */
        .cfi_def_cfa s0, 0
        andi    a2, a2, -16
        lla     t1, corolink__call_on_ret
        sd      s0, -32(a2)
        sd      t1, -24(a2)
        sd      s0, -16(a2)                     /* the caller's sp (= our CFA) */
        sd      zero, -8(a2)
        addi    sp, a2, -32                     /* onto the new stack */
        jalr    ra, 0(a1)                       /* fn(arg); a0 = arg */
        /* fn's return address: the trap handler recognises a call_on
         * frame on the stack fn runs on by it. */
        .globl  corolink__call_on_ret
        .hidden corolink__call_on_ret
corolink__call_on_ret:
        addi    sp, s0, -16                     /* back on the caller's stack */
        /* CFA = sp + 16 (s0 is about to be reloaded). */
        .cfi_def_cfa sp, 16
        ld      ra, 8(sp)
        /* ra holds the caller's value. */
        .cfi_restore ra
        ld      s0, 0(sp)
        /* s0 holds the caller's value. */
        .cfi_restore s0
        addi    sp, sp, 16
        /* CFA = sp. */
        .cfi_def_cfa_offset 0
        ret
        unimp
        .cfi_endproc
        .size   corolink__call_on, .-corolink__call_on

/*
 * The out-of-line switch, as on x86-64: corolink_resume(), corolink_suspend()
 * and the library's corolink__enter() save the callee-saved registers the
 * switch destroys in a frame of 208 bytes, s0 = its CFA:
 *
 *   s0 - 8     ra   } the frame record     s0 - 112 .. s0 - 200  fs0 .. fs11
 *   s0 - 16    s0   }                      s0 - 208  a spare word
 *   s0 - 24 .. s0 - 104  s1 .. s11                   (resume: output)
 */
#define FRAME 208
#define SPARE (-208)

/* The rows of that frame: CFA = s0, everything saved. */
.macro CALLEE_SAVED_ROWS
        .cfi_def_cfa s0, 0
        .cfi_offset ra, -8
        .cfi_offset s0, -16
        .cfi_offset s1, -24
        .cfi_offset s2, -32
        .cfi_offset s3, -40
        .cfi_offset s4, -48
        .cfi_offset s5, -56
        .cfi_offset s6, -64
        .cfi_offset s7, -72
        .cfi_offset s8, -80
        .cfi_offset s9, -88
        .cfi_offset s10, -96
        .cfi_offset s11, -104
        .cfi_offset fs0, -112
        .cfi_offset fs1, -120
        .cfi_offset fs2, -128
        .cfi_offset fs3, -136
        .cfi_offset fs4, -144
        .cfi_offset fs5, -152
        .cfi_offset fs6, -160
        .cfi_offset fs7, -168
        .cfi_offset fs8, -176
        .cfi_offset fs9, -184
        .cfi_offset fs10, -192
        .cfi_offset fs11, -200
.endm

/* Prologue: the frame record first (CFA = s0 from the `addi s0` on, on
 * whatever stack sp points into), then the registers. */
.macro SAVE_CALLEE_SAVED
        addi    sp, sp, -FRAME
        /* CFA = sp + 208. */
        .cfi_def_cfa_offset FRAME
        sd      ra, FRAME-8(sp)
        /* ra at CFA - 8. */
        .cfi_offset ra, -8
        sd      s0, FRAME-16(sp)
        /* s0 at CFA - 16. */
        .cfi_offset s0, -16
        addi    s0, sp, FRAME
        /* CFA = s0 from here on. */
        .cfi_def_cfa s0, 0
        sd      s1, -24(s0)
        sd      s2, -32(s0)
        sd      s3, -40(s0)
        sd      s4, -48(s0)
        sd      s5, -56(s0)
        sd      s6, -64(s0)
        sd      s7, -72(s0)
        sd      s8, -80(s0)
        sd      s9, -88(s0)
        sd      s10, -96(s0)
        sd      s11, -104(s0)
        fsd     fs0, -112(s0)
        fsd     fs1, -120(s0)
        fsd     fs2, -128(s0)
        fsd     fs3, -136(s0)
        fsd     fs4, -144(s0)
        fsd     fs5, -152(s0)
        fsd     fs6, -160(s0)
        fsd     fs7, -168(s0)
        fsd     fs8, -176(s0)
        fsd     fs9, -184(s0)
        fsd     fs10, -192(s0)
        fsd     fs11, -200(s0)
        /* All saved (the registers still hold their values until then:
         * both rows are right in between). */
        CALLEE_SAVED_ROWS
.endm

/* Epilogue: registers back, frame popped. After it, CFA = sp and every
 * register holds the caller's value. */
.macro RESTORE_CALLEE_SAVED
        ld      s1, -24(s0)
        ld      s2, -32(s0)
        ld      s3, -40(s0)
        ld      s4, -48(s0)
        ld      s5, -56(s0)
        ld      s6, -64(s0)
        ld      s7, -72(s0)
        ld      s8, -80(s0)
        ld      s9, -88(s0)
        ld      s10, -96(s0)
        ld      s11, -104(s0)
        fld     fs0, -112(s0)
        fld     fs1, -120(s0)
        fld     fs2, -128(s0)
        fld     fs3, -136(s0)
        fld     fs4, -144(s0)
        fld     fs5, -152(s0)
        fld     fs6, -160(s0)
        fld     fs7, -168(s0)
        fld     fs8, -176(s0)
        fld     fs9, -184(s0)
        fld     fs10, -192(s0)
        fld     fs11, -200(s0)
        /* The registers hold their saved values again. */
        .cfi_restore s1
        .cfi_restore s2
        .cfi_restore s3
        .cfi_restore s4
        .cfi_restore s5
        .cfi_restore s6
        .cfi_restore s7
        .cfi_restore s8
        .cfi_restore s9
        .cfi_restore s10
        .cfi_restore s11
        .cfi_restore fs0
        .cfi_restore fs1
        .cfi_restore fs2
        .cfi_restore fs3
        .cfi_restore fs4
        .cfi_restore fs5
        .cfi_restore fs6
        .cfi_restore fs7
        .cfi_restore fs8
        .cfi_restore fs9
        .cfi_restore fs10
        .cfi_restore fs11
        addi    sp, s0, -FRAME
        /* CFA = sp + 208 (s0 is about to be reloaded). */
        .cfi_def_cfa sp, FRAME
        ld      ra, FRAME-8(sp)
        /* ra restored. */
        .cfi_restore ra
        ld      s0, FRAME-16(sp)
        /* s0 restored. */
        .cfi_restore s0
        addi    sp, sp, FRAME
        /* CFA = sp. */
        .cfi_def_cfa_offset 0
.endm

/* The probe word's address from the GOT (see the inline resume), in reg. */
.macro PROBE_SWITCH_WORD reg
0:      auipc   \reg, %got_pcrel_hi(corolink__probe_switch)
        ld      \reg, %pcrel_lo(0b)(\reg)
        lw      \reg, 0(\reg)
.endm

        .globl  corolink_resume
        .type   corolink_resume, %function
        .p2align 4
corolink_resume:
        .cfi_startproc
        /* CFA = sp, return address in ra. Called through the PLT. */
        /* A tracer has the resume or suspend probe enabled, or suspend
         * timestamps are on: the traced resume does it all (a tail call,
         * same arguments). t1 is free here (and `tail` jumps through it:
         * not a link register, no return-stack hint). */
        PROBE_SWITCH_WORD t1
        beqz    t1, 1f
        tail    corolink__resume_traced
1:      SAVE_CALLEE_SAVED
        sd      a2, SPARE(s0)                   /* output */
        beqz    a0, .Lresume_fail
        ld      a3, CO_PC(a0)
        beqz    a3, .Lresume_fail               /* running or finished */
        sd      zero, CO_PC(a0)                 /* running */
        li      a2, 0                           /* command: go on */
        jalr    ra, 0(a3)                       /* the switch */
        /* Back: a0 = co, a1 = value, a2 = status; sp and s0 restored by
         * the suspend, so the rows above hold. */
        li      t1, STATUS_THROW
        bgeu    a2, t1, .Lresume_throw          /* the body threw */
        ld      a3, SPARE(s0)
        beqz    a3, 2f
        sd      a1, 0(a3)
2:      sext.w  a0, a2
.Lresume_out:
        /* The tails below run in the frame: their rows are the ones in
         * force here. */
        .cfi_remember_state
        RESTORE_CALLEE_SAVED
        ret
        /* CFA = s0, registers saved (the rows before the epilogue). */
        .cfi_restore_state
.Lresume_fail:
        ld      a1, SPARE(s0)
        call    corolink__resume_fail           /* (co, output): the error */
        j       .Lresume_out
.Lresume_throw:
        /* Raise the body's exception again from this frame (a0 = co). */
        call    corolink__resume_throw
        unimp
        .cfi_endproc
        .size   corolink_resume, .-corolink_resume

        .globl  corolink_suspend
        .type   corolink_suspend, %function
        .p2align 4
corolink_suspend:
        .cfi_startproc
        /* CFA = sp, return address in ra: the body called us. */
        SAVE_CALLEE_SAVED
        /* The yielder must be the innermost running coroutine's: its stack
         * [stack_limit, co) holds our frame (s0). */
        beqz    a0, .Lsuspend_misuse
        bgeu    s0, a0, .Lsuspend_misuse
        ld      t1, CO_STACK_LIMIT(a0)
        bltu    s0, t1, .Lsuspend_misuse
        li      a2, STATUS_YIELD
        .cfi_remember_state
        /* As in the inline suspend (the same 9 instructions, byte for
         * byte), the 36 bytes before the resume point start with our sp
         * and s0 in place: a tool may unwind a suspended coroutine from
         * co->pc - 36, co->sp and co->fp. */
3:      auipc   a3, %pcrel_hi(.Lsuspend_resumed)
        addi    a3, a3, %pcrel_lo(3b)
        sd      a3, CO_PC(a0)                   /* suspended; resume there */
        sd      sp, CO_SP(a0)                   /* co->sp */
        sd      s0, CO_FP(a0)                   /* co->fp */
        ld      ra, CO_LINK_RA(a0)              /* ra = link_ra */
        ld      sp, CO_LINK_SP(a0)              /* the resumer's stack */
        /* The resumer's callee, about to return: CFA = sp, its return
         * address in ra. */
        RESUMER_CALLEE_ROWS
        ld      s0, CO_LINK_FP(a0)
        /* s0 is the resumer's again. */
        .cfi_same_value s0
        ret                                     /* into the resumer: a pop */
        /* The resume point, entered by a resume's `jalr ra` on the
         * resumer's stack: ra = return address, s0 = the resumer's. Named
         * for introspect.c, which skips this function's frame. */
        .globl  corolink__suspend_resumed
        .hidden corolink__suspend_resumed
corolink__suspend_resumed:
.Lsuspend_resumed:
        sd      s0, CO_LINK_FP(a0)              /* link_fp */
        sd      ra, CO_LINK_RA(a0)              /* link_ra */
        sd      sp, CO_LINK_SP(a0)              /* link_sp */
        ld      s0, CO_FP(a0)                   /* our s0 */
        /* The resumer's s0 is in co->link_fp now. */
        FP_IN_LINK
        ld      sp, CO_SP(a0)                   /* back on the body's stack */
        /* Our own frame again: CFA = s0, registers saved. */
        .cfi_restore_state
        bnez    a2, .Lsuspend_unwind            /* the resumer's command */
        mv      a0, a1                          /* returns the input */
        .cfi_remember_state
        RESTORE_CALLEE_SAVED
        ret
        /* The frame's rows again. */
        .cfi_restore_state
        /* From here on only exception handling and misuse (check-cfi's
         * --cover leaves the `_eh` tail out). */
        .globl  corolink_suspend_eh
        .hidden corolink_suspend_eh
corolink_suspend_eh:
.Lsuspend_unwind:
        /* corolink_force_unwind() resumed us with the unwind command: start
         * the forced unwind from here (a0 = co). */
        call    corolink__suspend_unwind
        unimp
.Lsuspend_misuse:
        /* A bad yielder: cl_suspend_misuse(yielder, s0) aborts. */
        mv      a1, s0
        call    cl_suspend_misuse
        unimp
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
         * src/probes.h). */
        .pushsection corolink_hidden, "ax", %progbits
        /* Exported for symbolizers, as corolink__ontop. */
        .globl  corolink__enter
        .type   corolink__enter, %function
        .p2align 4
corolink__enter:
        .cfi_startproc
        SAVE_CALLEE_SAVED
        sd      a3, SPARE(s0)                   /* value */
#if COROLINK_PROBES
        lla     t1, cl_probe_switch
        lw      t1, 0(t1)                       /* the resume probe */
        bnez    t1, .Lenter_probe
.Lenter_probed:
#endif
        ld      a4, CO_PC(a0)
        sd      zero, CO_PC(a0)                 /* running */
        li      t1, 1
        bltu    t1, a2, .Lenter_with            /* cmd: a struct cl_with * */
        jalr    ra, 0(a4)                       /* a0 = co, a1, a2 = cmd */
.Lenter_back:
        /* Back: a1 = value, a2 = status; rows as above. */
        ld      a3, SPARE(s0)
        sd      a1, 0(a3)
        sext.w  a0, a2
        .cfi_remember_state
        RESTORE_CALLEE_SAVED
        ret
        /* The frame's rows again. */
        .cfi_restore_state
.Lenter_with:
        /* corolink_resume_with(): a4 = co's old pc, a2 = the struct
         * cl_with. Same frame as at the `jalr` above; corolink__ontop
         * comes back as a switch does, to the `j` after its call (which
         * the resume point of a suspend records as link_ra). */
        jal     ra, corolink__ontop
        j       .Lenter_back
#if COROLINK_PROBES
.Lenter_probe:
        /* cl_probe_resume(co), keeping a0-a2 in s1-s3. */
        mv      s1, a0
        mv      s2, a1
        mv      s3, a2
        call    cl_probe_resume
        mv      a0, s1
        mv      a1, s2
        mv      a2, s3
        j       .Lenter_probed
#endif
        .cfi_endproc
        .size   corolink__enter, .-corolink__enter

/*
 * corolink__ontop: the switch of corolink_resume_with() (read the comments
 * on corolink__ontop in x86_64_sysv_elf.S and aarch64_aapcs_elf.S first),
 * called by corolink__enter with `jal ra` on the resumer's stack like a
 * resume point:
 *   a0 = co, a1 = input, a2 = struct cl_with { fn, arg }, a4 = co's old pc
 *   (the resume point of its pending suspend, or corolink__trampoline if
 *   it has not started), ra = return address into corolink__enter, s0 =
 *   its s0, sp = its sp.
 * As on AArch64 it records the resumer in co->link_*, moves onto co's
 * stack and calls fn(input, arg) from a frame that looks called from the
 * body at its suspension point, then enters co's old pc as a resume would
 * (`jr t1`: no return-stack hint), with a1 = fn's result and a2 = 0.
 *
 * The frame on co's stack: below the body's sp (Csp = co->sp) a frame
 * record {Cfp = co->fp, R} in RISC-V's shape, our s0 = Csp (the CFA), R at
 * s0 - 8, Cfp at s0 - 16, where R = co->pc - 32 = S + 4, S = co->pc - 36
 * being the switch-out's first instruction (`auipc a3`, inline and out of
 * line alike; CL_SUSPENDED_PC_ADJUST in src/arch/riscv64_linux.h): R - 1
 * lies inside S's instruction, under the body's rows with sp = co->sp and
 * s0 = co->fp.
 *
 *   co's stack while fn runs:
 *     Csp      ->  (the body's frames, as the suspend left them) <- s0
 *     Csp - 8      R = co->pc - 32        } a frame record, as a call
 *     Csp - 16     Cfp = co->fp           } from S and a prologue leave it
 *     Csp - 24     co's old pc (where to go on after fn)
 *     Csp - 32     co            <- sp at the call of fn
 *                  fn's frames
 *
 * Rows while fn runs: CFA = s0 (= Csp), s0 at CFA - 16, ra at CFA - 8.
 * For a coroutine that has not started: R = corolink__trampoline_ret,
 * Csp = co - 16, Cfp = &co->link_sp (the trampoline's rows there lead to
 * the resumer through co->link_*), and {0, corolink__trampoline_ret} is
 * stored at co - 16 as the trampoline leaves it.
 *
 * Exceptions (corolink__ontop_personality, src/unwind.c) land in
 * corolink__ontop_eh, as on AArch64.
 */
#define WITH_FN    0x00         /* struct cl_with (src/internal.h) */
#define WITH_ARG   0x08
#define RA_ADJUST  32           /* CL_SUSPENDED_PC_ADJUST - 4 (see above) */
        /* Exported (not API), as corolink__trampoline is. */
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
        /* CIE rows: CFA = sp, return address in ra, every other register
         * unchanged: corolink__enter's callee. */
        sd      s0, CO_LINK_FP(a0)              /* resumer's s0 */
        sd      ra, CO_LINK_RA(a0)              /* its return address */
        sd      sp, CO_LINK_SP(a0)              /* its sp */
        ld      t1, WITH_FN(a2)                 /* fn */
        ld      t2, WITH_ARG(a2)                /* arg */
        lla     a5, .Ltrampoline
        beq     a4, a5, 1f
        /* Suspended: called from the switch-out with the body's sp and
         * s0. */
        addi    a5, a4, -RA_ADJUST              /* R */
        ld      a6, CO_SP(a0)                   /* Csp */
        ld      a7, CO_FP(a0)                   /* Cfp */
        j       2f
1:      /* Not started: called from the root frame at the body's return
         * address, with sp = co - 16 and s0 = &co->link_sp. */
        lla     a5, corolink__trampoline_ret    /* R */
        addi    a6, a0, -16                     /* Csp */
        addi    a7, a0, CO_LINK_SP              /* Cfp */
        sd      zero, 0(a6)                     /* co - 16, as the trampoline */
        sd      a5, 8(a6)
2:      sd      a7, -16(a6)                     /* the frame record {Cfp, R} */
        sd      a5, -8(a6)
        addi    sp, a6, -16                     /* onto co's stack, at it */
        /* Now the callee of R that has stored its frame record: CFA =
         * sp + 16 (Csp), s0 (Cfp) at CFA - 16, the return address (R) at
         * CFA - 8. */
        .cfi_def_cfa sp, 16
        .cfi_offset s0, -16
        .cfi_offset ra, -8
        addi    s0, sp, 16
        /* CFA = s0 from here on, whatever sp does. */
        .cfi_def_cfa s0, 0
        addi    sp, sp, -16
        sd      a0, 0(sp)                       /* co */
        sd      a4, 8(sp)                       /* where co goes on */
        mv      a0, a1                          /* fn(input, arg) */
        mv      a1, t2
        jalr    ra, 0(t1)
        /* fn's return address. Back: a0 = fn's result, s0 = Csp,
         * sp = s0 - 32. */
        mv      a1, a0                          /* fn's result: the input */
        li      a2, 0                           /* the command: go on */
.Lontop_leave:
        /* Into co's old pc, as a resume enters it: a1 = the input, a2 =
         * the command for a pending suspend (0 go on, 1 raise). */
        ld      a0, -32(s0)                     /* co */
        ld      t1, -24(s0)                     /* where co goes on */
        /* The body's sp and s0 for the resume point, which reads them
         * from co: fn may have suspended co since, over them. */
        ld      a3, -16(s0)                     /* Cfp */
        sd      s0, CO_SP(a0)                   /* co->sp = Csp */
        sd      a3, CO_FP(a0)                   /* co->fp */
        ld      a4, CO_LINK_SP(a0)
        .cfi_remember_state                     /* for the tails below */
        mv      sp, a4                          /* the resumer's sp */
        /* Back to the resumer's callee view, as at a resume's `jalr`:
         * CFA = sp, the return address in co->link_ra and the resumer's
         * s0 in co->link_fp (a0 = co), every other register as the
         * resumer may find it (fn kept s1-s11 and fs0-fs11, and this
         * function never touches them). */
        .cfi_def_cfa sp, 0
        RA_IN_LINK
        FP_IN_LINK
        ld      ra, CO_LINK_RA(a0)              /* the resumer's ra */
        /* ra holds the caller's value. */
        .cfi_same_value ra
        ld      s0, CO_LINK_FP(a0)              /* the resumer's s0 */
        /* s0 holds the caller's value. */
        .cfi_same_value s0
        jr      t1                              /* a0 = co, a1 = input */
        .cfi_restore_state
#if COROLINK_UNWIND
        /* Landing pad, entered by the unwinder when an exception leaves fn
         * (or co's forced unwind reaches this frame): s0 = our CFA, sp =
         * what it was at the call (s0 - 32), a0 = the exception object,
         * a1 = 1 (an exception) or 2 (the forced unwind), as
         * corolink__ontop_personality set them. Rows: our frame, as while
         * fn ran. (check-cfi's --cover leaves the `_eh` tail out.) */
        .globl  corolink__ontop_eh
        .hidden corolink__ontop_eh
corolink__ontop_eh:
        ld      a3, -32(s0)                     /* co */
        ld      t1, -24(s0)                     /* where co goes on */
        lla     a4, .Ltrampoline
        beq     t1, a4, 3f
        /* corolink__ontop_caught(co, exception, kind) leaves the exception
         * (or the order to unwind again) for corolink__suspend_unwind(),
         * which the pending suspend calls when entered with a2 = 1. sp is
         * 16-byte aligned, as at the call of fn. */
        mv      a2, a1                          /* kind */
        mv      a1, a0                          /* exception */
        mv      a0, a3                          /* co */
        call    corolink__ontop_caught
        li      a1, 0                           /* value: NULL */
        li      a2, 1                           /* the command: raise */
        j       .Lontop_leave
3:      /* Not started: go back into the root frame, as a return to R
         * would, and take its landing pad with a0 and a1 as they are: it
         * finishes co and reports the exception (or the end of the forced
         * unwind) to the resumer. Rows: our frame (restored above). */
        mv      sp, s0                          /* sp = Csp = co - 16 */
        /* CFA = sp (s0 is about to be reloaded): R still at CFA - 8, s0
         * at CFA - 16. */
        .cfi_def_cfa sp, 0
        ld      s0, -16(sp)                     /* s0 = &co->link_sp */
        /* s0 restored: where the root frame's rows take over
         * (corolink__trampoline_eh expects sp = co - 16, s0 =
         * &co->link_sp). */
        .cfi_same_value s0
        j       corolink__trampoline_eh
#endif
        .cfi_endproc
        .size   corolink__ontop, .-corolink__ontop
        .popsection

        .section .note.GNU-stack,"",%progbits
