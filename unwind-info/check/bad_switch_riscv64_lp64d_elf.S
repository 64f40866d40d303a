/*
 * bad_switch_riscv64_lp64d_elf.S - the negative control's deliberately
 * wrong stack switch (RISC-V 64; bad_switch_x86_64_sysv_elf.S is x86-64's).
 *
 * void *bad_stack_switch(void *(*fn)(void *), void *arg, void *top)
 * Calls fn(arg) with sp just below `top` and returns its result. An
 * ordinary frame is pushed first and its rows are right (CFA = sp + 16, ra
 * and s0 at CFA - 8 and CFA - 16); then sp moves to the other stack and
 * the rows say nothing about it: they keep CFA = sp + 16 until sp is back.
 * An unwinder stopped there, or in fn, reads the caller's s0 and return
 * address from the wrong stack (a zeroed buffer). check-cfi must report
 * those instructions (test cfi_negative_control).
 */
        .option norvc
        .text
        .globl  bad_stack_switch
        .type   bad_stack_switch, %function
        .p2align 4
bad_stack_switch:
        .cfi_startproc
        addi    sp, sp, -16
        /* CFA = sp + 16 */
        .cfi_def_cfa_offset 16
        sd      ra, 8(sp)
        /* ra at CFA - 8 */
        .cfi_offset ra, -8
        sd      s0, 0(sp)
        /* s0 at CFA - 16 */
        .cfi_offset s0, -16
        mv      t2, sp
        andi    a2, a2, -16
        mv      sp, a2                  /* onto the other stack: no CFI */
        addi    sp, sp, -16
        sd      t2, 0(sp)               /* old sp */
        mv      t1, a0
        mv      a0, a1
        jalr    ra, 0(t1)               /* fn(arg) */
        ld      t2, 0(sp)
        mv      sp, t2                  /* back */
        ld      ra, 8(sp)
        /* ra restored */
        .cfi_restore ra
        ld      s0, 0(sp)
        /* s0 restored */
        .cfi_restore s0
        addi    sp, sp, 16
        /* CFA = sp */
        .cfi_def_cfa_offset 0
        ret
        unimp
        .cfi_endproc
        .size   bad_stack_switch, .-bad_stack_switch

        .section .note.GNU-stack,"",%progbits
