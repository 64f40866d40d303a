/*
 * bad_switch_i386_sysv_elf.S - the negative control's deliberately wrong
 * stack switch (i686; see bad_switch_x86_64_sysv_elf.S).
 *
 * void *bad_stack_switch(void *(*fn)(void *), void *arg, void *top)
 * Calls fn(arg) with esp just below `top` and returns its result. The FDE
 * says nothing about the switch: it keeps the CIE's rows (CFA = esp + 4,
 * return address at CFA - 4) at every instruction, which is wrong from the
 * moment esp points into the other stack until it is restored.
 */
        .text
        .globl  bad_stack_switch
        .type   bad_stack_switch, @function
        .p2align 4
bad_stack_switch:
        .cfi_startproc
        movl    %esp, %eax
        movl    4(%eax), %ecx           /* fn */
        movl    12(%eax), %edx          /* top */
        andl    $-16, %edx
        movl    %edx, %esp              /* onto the other stack: no CFI */
        pushl   %eax                    /* old esp */
        subl    $8, %esp                /* 16-byte alignment at the call */
        pushl   8(%eax)                 /* arg */
        call    *%ecx                   /* fn(arg) */
        addl    $12, %esp
        popl    %esp                    /* back */
        ret
        int3
        .cfi_endproc
        .size   bad_stack_switch, .-bad_stack_switch

        .section .note.GNU-stack,"",@progbits
