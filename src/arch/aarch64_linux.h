/* AArch64 Linux: what the portable sources in src/ need to know about the
 * target (see x86_64_linux.h for what each name means; only the values
 * and the signal context differ). The switch is in
 * include/corolink/aarch64_aapcs_elf.h and unwind-info/aarch64_aapcs_elf.S;
 * unwind-info/README.md ("AArch64") documents both. */
#ifndef COROLINK_ARCH_AARCH64_LINUX_H
#define COROLINK_ARCH_AARCH64_LINUX_H

#define CL_TARGET_NAME "aarch64-aapcs-elf"
#define CL_ELF_MACHINE 183 /* EM_AARCH64 */
#define CL_DWARF_PC 32     /* pc */
#define CL_DWARF_RA 30     /* x30: the return-address column */
#define CL_DWARF_SP 31     /* sp */
#define CL_DWARF_FP 29     /* x29 */
/* The switch-out's first instruction is 32 bytes before the resume point:
 * it runs with the body's sp and x29 under the body's own rows. */
#define CL_SUSPENDED_PC_ADJUST 32

/* The layout the assembly and the inline switch use. */
_Static_assert(sizeof(struct corolink__hot) == 0x60, "AArch64 hot layout");
_Static_assert(offsetof(struct corolink__hot, link_fp) == 0x40, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_ra) == 0x48, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_sp) == 0x50, "ABI v2");
/* CO_STACK_LIMIT in unwind-info/aarch64_aapcs_elf.S. */
_Static_assert(offsetof(struct corolink, stack_limit) == 0x98,
               "stack_limit where the out-of-line suspend reads it");

/* Nothing to set beyond the portable fields. */
static inline void cl_arch_place(struct corolink *co) { (void)co; }

/* The trampoline stores its return address at co - 8 and calls the body
 * with sp = co - 16. */

/* corolink__call_on() leaves {x29, corolink__call_on_ret} at the new
 * stack's top - 32 and the caller's sp right above them, at the return
 * address's slot + 8. */
#define CL_CALL_ON_CALLER_SP 0

/* fn of corolink_on_parent_stack() runs below the resumer's sp (AAPCS64
 * has no red zone; the resumer's return address is in the control
 * block): 16 bytes of margin. */
#define CL_PARENT_STACK_RESERVE 16

/* libunwind's local-unwinding entry points and register numbers:
 * UNW_REG_SP = UNW_AARCH64_SP (31), UNW_REG_IP = UNW_TDEP_IP =
 * UNW_AARCH64_X30 (30), not UNW_AARCH64_PC (32). libunwind keeps the
 * frame's pc as the return-address column x30; its PC slot is only the
 * initial context's and stays there through every unw_step() (reading 32
 * gave the first frame's pc at every depth). */
#define CL_UNW_SYM(name) "_ULaarch64_" name
#define CL_UNW_REG_SP 31
#define CL_UNW_REG_IP 30

/* A return address as found in a frame record: code built with
 * -mbranch-protection=pac-ret keeps a pointer-authentication code in its
 * high bits. XPACLRI (a hint: a no-op before ARMv8.3) strips it from x30. */
static inline uintptr_t cl_strip_ra(uintptr_t ra) {
    register uintptr_t x30 __asm__("x30") = ra;
    __asm__("hint #7" : "+r"(x30)); /* xpaclri */
    return x30;
}

#if !CL_FREESTANDING
#include <sys/prctl.h>
#include <ucontext.h>

/* Whether the C library enabled the Guarded Control Stack (the arm64
 * shadow stack, Linux 6.13+) for this thread:
 * prctl(PR_GET_SHADOW_STACK_STATUS = 74), bit 0 PR_SHADOW_STACK_ENABLE. The
 * switch does not carry it (see "Hardening" in unwind-info/README.md). */
static inline bool cl_shadow_stack_enabled(void) {
    unsigned long status = 0;
    return prctl(74, &status, 0, 0, 0) == 0 && (status & 1);
}

static inline uintptr_t cl_uc_sp(const ucontext_t *uc) {
    return (uintptr_t)uc->uc_mcontext.sp;
}

static inline void cl_uc_set_frame(ucontext_t *uc, uintptr_t pc, uintptr_t sp,
                                   uintptr_t fp) {
    uc->uc_mcontext.pc = pc;
    uc->uc_mcontext.sp = sp;
    uc->uc_mcontext.regs[29] = fp;
}

/* Sigreturn lands in co's resumer just after its `blr`, as a body that
 * returns does: pc/sp/x29 from the link fields, x0 = co, x1 = value,
 * x2 = status; everything else is clobbered by the switch. PSTATE.BTYPE
 * (bits 10-11) is cleared: it records the kind of branch that led to the
 * faulting instruction, and a nonzero one would make the return address
 * (no landing pad) fault under branch-target identification. */
static inline void cl_uc_return_to_resumer(ucontext_t *uc, struct corolink *co,
                                           void *value, int status) {
    uc->uc_mcontext.pc = (uintptr_t)co->hot.link_ra;
    uc->uc_mcontext.sp = (uintptr_t)co->hot.link_sp;
    uc->uc_mcontext.regs[29] = (uintptr_t)co->hot.link_fp;
    uc->uc_mcontext.regs[0] = (uintptr_t)co;
    uc->uc_mcontext.regs[1] = (uintptr_t)value;
    uc->uc_mcontext.regs[2] = (unsigned)status;
    uc->uc_mcontext.pstate &= ~(uint64_t)0xc00;
}
#endif

#endif
