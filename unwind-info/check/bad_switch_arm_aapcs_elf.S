/*
 * bad_switch_arm_aapcs_elf.S - the negative control's deliberately wrong
 * stack switch (ARM32, ARM state; see bad_switch_aarch64_aapcs_elf.S).
 *
 * void *bad_stack_switch(void *(*fn)(void *), void *arg, void *top)
 * Calls fn(arg) with sp just below `top` and returns its result. An
 * ordinary frame is pushed first and its rows are right (CFA = sp + 8, r7
 * and lr at CFA - 8 and CFA - 4); then sp moves to the other stack and
 * the rows say nothing about it: they keep CFA = sp + 8 until sp is back.
 * An unwinder stopped there, or in fn, reads the caller's r7 and return
 * address from the wrong stack (a zeroed buffer). check-cfi must report
 * those instructions (test cfi_negative_control). (No EHABI entry: only
 * the DWARF rows are under test here.)
 */
        .syntax unified
        .arm
        .text
        .globl  bad_stack_switch
        .type   bad_stack_switch, %function
        .p2align 4
bad_stack_switch:
        .cfi_startproc
        push    {r7, lr}
        .cfi_def_cfa_offset 8
        .cfi_offset r7, -8
        .cfi_offset lr, -4
        mov     r7, sp
        mov     r3, sp
        bic     r2, r2, #15
        mov     sp, r2                  /* onto the other stack: no CFI */
        push    {r3, r4}                /* old sp (and a pad word) */
        mov     r12, r0
        mov     r0, r1
        blx     r12                     /* fn(arg) */
        pop     {r3, r4}
        mov     sp, r3                  /* back */
        pop     {r7, lr}
        .cfi_def_cfa_offset 0
        .cfi_restore r7
        .cfi_restore lr
        bx      lr
        udf     #0
        .cfi_endproc
        .size   bad_stack_switch, .-bad_stack_switch

        .section .note.GNU-stack,"",%progbits
