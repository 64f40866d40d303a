/*
 * bad_switch_x86_64_sysv_elf.S - the negative control's deliberately wrong
 * stack switch (x86-64; bad_switch_<target>.S for the others).
 *
 * void *bad_stack_switch(void *(*fn)(void *), void *arg, void *top)
 * Calls fn(arg) with rsp just below `top` and returns its result. The FDE
 * says nothing about the switch: it keeps the CIE's rows (CFA = rsp + 8,
 * return address at CFA - 8) at every instruction, which is wrong from the
 * moment rsp points into the other stack until it is restored. An unwinder
 * stopped there, or in fn, reads the "return address" from the wrong stack.
 * check-cfi must report those instructions (test cfi_negative_control).
 */
        .text
        .globl  bad_stack_switch
        .type   bad_stack_switch, @function
        .p2align 4
bad_stack_switch:
        .cfi_startproc
        endbr64
        movq    %rsp, %rax
        andq    $-16, %rdx
        movq    %rdx, %rsp              /* onto the other stack: no CFI */
        pushq   %rax                    /* old rsp */
        subq    $8, %rsp                /* 16-byte alignment at the call */
        movq    %rdi, %rax
        movq    %rsi, %rdi
        call    *%rax                   /* fn(arg) */
        addq    $8, %rsp
        popq    %rsp                    /* back */
        ret
        int3
        .cfi_endproc
        .size   bad_stack_switch, .-bad_stack_switch

        .section .note.GNU-stack,"",@progbits
