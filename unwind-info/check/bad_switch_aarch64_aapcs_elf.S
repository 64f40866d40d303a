/*
 * bad_switch_aarch64_aapcs_elf.S - the negative control's deliberately
 * wrong stack switch (AArch64; bad_switch_x86_64_sysv_elf.S is x86-64's).
 *
 * void *bad_stack_switch(void *(*fn)(void *), void *arg, void *top)
 * Calls fn(arg) with sp just below `top` and returns its result. An
 * ordinary frame record is pushed first and its rows are right (CFA = sp +
 * 16, x29 and x30 at CFA - 16 and CFA - 8); then sp moves to the other
 * stack and the rows say nothing about it: they keep CFA = sp + 16 until
 * sp is back. An unwinder stopped there, or in fn, reads the caller's x29
 * and return address from the wrong stack (a zeroed buffer).
 * check-cfi must report those instructions (test cfi_negative_control).
 */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define BTI_C bti c
#else
#define BTI_C
#endif

        .text
        .globl  bad_stack_switch
        .type   bad_stack_switch, %function
        .p2align 4
bad_stack_switch:
        .cfi_startproc
        BTI_C
        stp     x29, x30, [sp, #-16]!
        .cfi_def_cfa_offset 16
        .cfi_offset x29, -16
        .cfi_offset x30, -8
        mov     x29, sp
        mov     x3, sp
        and     x2, x2, #~15
        mov     sp, x2                  /* onto the other stack: no CFI */
        str     x3, [sp, #-16]!         /* old sp */
        mov     x16, x0
        mov     x0, x1
        blr     x16                     /* fn(arg) */
        ldr     x3, [sp], #16
        mov     sp, x3                  /* back */
        ldp     x29, x30, [sp], #16
        .cfi_def_cfa_offset 0
        .cfi_restore x29
        .cfi_restore x30
        ret
        brk     #0
        .cfi_endproc
        .size   bad_stack_switch, .-bad_stack_switch

        .section .note.GNU-stack,"",%progbits
