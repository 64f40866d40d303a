/* i686 Linux (x86 32-bit, System V i386 ABI): what the portable sources in
 * src/ need to know about the target (see x86_64_linux.h for what each
 * name means; only the values and the signal context differ). The switch
 * is in include/corolink/i386_sysv_elf.h and unwind-info/i386_sysv_elf.S;
 * unwind-info/README.md ("i686") documents both. */
#ifndef COROLINK_ARCH_I386_LINUX_H
#define COROLINK_ARCH_I386_LINUX_H

#define CL_TARGET_NAME "i386-sysv-elf"
#define CL_ELF_MACHINE 3 /* EM_386 */
#define CL_DWARF_PC 8    /* eip: also the return-address column */
#define CL_DWARF_RA 8
#define CL_DWARF_SP 4    /* esp */
#define CL_DWARF_FP 5    /* ebp */
/* The switch-out's first instruction is 11 bytes before the resume point
 * (movl link_sp, %esp; leal; movl link_fp, %ebp; ret): it runs with the
 * body's esp and ebp under the body's own rows. */
#define CL_SUSPENDED_PC_ADJUST 11

/* The layout the assembly and the inline switch use. */
_Static_assert(sizeof(struct corolink__hot) == 0x40, "i386 hot layout");
_Static_assert(offsetof(struct corolink__hot, link_fp) == 0x28, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_ra) == 0x2c, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_sp) == 0x30, "ABI v2");
/* CO_STACK_LIMIT in unwind-info/i386_sysv_elf.S. */
_Static_assert(offsetof(struct corolink, stack_limit) == 0x70,
               "stack_limit where the out-of-line suspend reads it");

/* Nothing to set beyond the portable fields. */
static inline void cl_arch_place(struct corolink *co) { (void)co; }

/* The trampoline stores its return address at co - 8 (for the trap
 * handler's scan, which reads 8-byte steps) and calls the body with
 * esp = co - 32. */

/* corolink__call_on() leaves {ebp, corolink__call_on_ret} at the new
 * stack's top - 32 (the return address at top - 24, 8-aligned for the
 * scan) and the caller's esp right above them, at the return address's
 * slot + 8. */
#define CL_CALL_ON_CALLER_SP 0

/* fn of corolink_on_parent_stack() runs below the resumer's esp (no red
 * zone on i386; the resumer's return address is in the control block and
 * in the word under link_sp): 16 bytes of margin. */
#define CL_PARENT_STACK_RESERVE 16

/* libunwind's local-unwinding entry points (<libunwind.h> maps unw_* to
 * these) and its register numbers (UNW_X86_ESP, UNW_X86_EIP). */
#define CL_UNW_SYM(name) "_ULx86_" name
#define CL_UNW_REG_SP 7
#define CL_UNW_REG_IP 8

/* A return address as found in a frame record. */
static inline uintptr_t cl_strip_ra(uintptr_t ra) { return ra; }

#if !CL_FREESTANDING
#include <ucontext.h>

/* Linux has no shadow stacks for 32-bit x86 programs. */
static inline bool cl_shadow_stack_enabled(void) { return false; }

static inline uintptr_t cl_uc_sp(const ucontext_t *uc) {
    return (uintptr_t)uc->uc_mcontext.gregs[REG_ESP];
}

static inline void cl_uc_set_frame(ucontext_t *uc, uintptr_t pc, uintptr_t sp,
                                   uintptr_t fp) {
    uc->uc_mcontext.gregs[REG_EIP] = (greg_t)pc;
    uc->uc_mcontext.gregs[REG_ESP] = (greg_t)sp;
    uc->uc_mcontext.gregs[REG_EBP] = (greg_t)fp;
}

/* Sigreturn lands in co's resumer just after its switch `call`, as a body
 * that returns does (the trampoline's .Lleave): eip/esp/ebp from the link
 * fields (esp = link_sp is the resumer's esp after its call returned),
 * edi = co, esi = value, edx = status; everything else is clobbered by
 * the switch. DF is cleared and the x87 register stack emptied, as at any
 * call boundary (the signal frame's legacy FSAVE header is what sigreturn
 * restores them from: tag word all empty, TOP = 0). */
static inline void cl_uc_return_to_resumer(ucontext_t *uc, struct corolink *co,
                                           void *value, int status) {
    greg_t *gr = uc->uc_mcontext.gregs;
    gr[REG_EIP] = (greg_t)(uintptr_t)co->hot.link_ra;
    gr[REG_ESP] = (greg_t)(uintptr_t)co->hot.link_sp;
    gr[REG_EBP] = (greg_t)(uintptr_t)co->hot.link_fp;
    gr[REG_EDI] = (greg_t)(uintptr_t)co;
    gr[REG_ESI] = (greg_t)(uintptr_t)value;
    gr[REG_EDX] = status;
    gr[REG_EFL] &= ~(greg_t)0x400;
    if (uc->uc_mcontext.fpregs) {
        uc->uc_mcontext.fpregs->tag = 0xffff;
        uc->uc_mcontext.fpregs->sw &= ~0x3800ul;
    }
}
#endif

#endif
