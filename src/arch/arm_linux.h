/* ARM32 Linux (ARMv7-A, hard-float EABI): what the portable sources in
 * src/ need to know about the target (see x86_64_linux.h for what each
 * name means; only the values and the signal context differ). The switch
 * is in include/corolink/arm_aapcs_elf.h and unwind-info/arm_aapcs_elf.S;
 * unwind-info/README.md ("ARM32") documents both. */
#ifndef COROLINK_ARCH_ARM_LINUX_H
#define COROLINK_ARCH_ARM_LINUX_H

#define CL_TARGET_NAME "arm-aapcs-elf"
#define CL_ELF_MACHINE 40 /* EM_ARM */
#define CL_DWARF_PC 15    /* pc */
#define CL_DWARF_RA 14    /* lr: the return-address column */
#define CL_DWARF_SP 13    /* sp */
/* r7, Thumb code's frame pointer (the toolchain's default state, the
 * library's): the root frame runs with r7 = &co->link_fp (and r11 =
 * &co->link_ra, an ARM-state frame record). A suspended coroutine keeps
 * the body's r7 in co->fp and its r11 in co->fp11. */
#define CL_DWARF_FP 7
/* r11, ARM code's frame pointer: the debug table lists it as a third
 * register a suspended coroutine's unwind starts from (co->fp11). */
#define CL_DWARF_FP2 11
/* The switch-out's first instruction is 40 bytes before the resume point
 * in both states (a Thumb co->pc has bit 0 set, and so has co->pc - 40):
 * it runs with the body's sp, r7 and r11 under the body's own rows. */
#define CL_SUSPENDED_PC_ADJUST 40

/* The layout the assembly and the inline switch use. */
_Static_assert(sizeof(struct corolink__hot) == 0x60, "ARM32 hot layout");
_Static_assert(offsetof(struct corolink__hot, fp11) == 0x14, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_fp) == 0x40, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_fp11) == 0x44, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_ra) == 0x48, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_sp) == 0x4c, "ABI v2");
/* CO_STACK_LIMIT in unwind-info/arm_aapcs_elf.S. */
_Static_assert(offsetof(struct corolink, stack_limit) == 0x90,
               "stack_limit where the out-of-line suspend reads it");

/* Nothing to set beyond the portable fields. */
static inline void cl_arch_place(struct corolink *co) { (void)co; }

/* The trampoline stores its return address at co - 8 (0 at co - 4) and
 * calls the body with sp = co - 8. */

/* corolink__call_on() leaves {r11, corolink__call_on_ret} at the new
 * stack's top - 28 and the caller's sp at the return address's slot + 8. */
#define CL_CALL_ON_CALLER_SP 0

/* fn of corolink_on_parent_stack() runs below the resumer's sp (the AAPCS
 * has no red zone; the resumer's return address is in the control
 * block): 8 bytes of margin. */
#define CL_PARENT_STACK_RESERVE 8

/* libunwind's local-unwinding entry points and register numbers:
 * UNW_REG_SP = UNW_ARM_R13, UNW_REG_IP = UNW_ARM_R15. */
#define CL_UNW_SYM(name) "_ULarm_" name
#define CL_UNW_REG_SP 13
#define CL_UNW_REG_IP 15

/* Frame records (introspect.c's frame-pointer walk): gcc's ARM-state
 * ones, in r11, {saved r11 at fp - 4, lr at fp}; a suspended body keeps
 * its r11 in co->fp11. (Thumb-2 code keeps no record: r7 points below its
 * locals, and the walk of a Thumb body ends at its first frame.) */
#define CL_RECORD_FP(co) ((uintptr_t)(co)->hot.fp11)
#define CL_RECORD_NEXT(fp) (((const uintptr_t *)(fp))[-1])
#define CL_RECORD_RA(fp) (((const uintptr_t *)(fp))[0])
#define CL_RECORD_LO 4
#define CL_RECORD_HI 4
#define CL_RECORD_ALIGN 4

/* A return address as found in a frame record: bit 0 says Thumb state;
 * symbolizers take it as it is. */
static inline uintptr_t cl_strip_ra(uintptr_t ra) { return ra; }

#if !CL_FREESTANDING
#include <ucontext.h>

/* ARM32 Linux has no shadow stack. */
static inline bool cl_shadow_stack_enabled(void) { return false; }

static inline uintptr_t cl_uc_sp(const ucontext_t *uc) {
    return (uintptr_t)uc->uc_mcontext.arm_sp;
}

/* CPSR: T (Thumb state, bit 5) and the IT bits (ITSTATE: 15-10, 26-25). */
#define CL_CPSR_T 0x20ul
#define CL_CPSR_IT 0x0600fc00ul

/* A code address with bit 0 as the state: pc and the T bit. */
static inline void cl_uc_set_pc(ucontext_t *uc, uintptr_t pc) {
    uc->uc_mcontext.arm_pc = pc & ~(uintptr_t)1;
    uc->uc_mcontext.arm_cpsr &= ~(CL_CPSR_T | CL_CPSR_IT);
    if (pc & 1)
        uc->uc_mcontext.arm_cpsr |= CL_CPSR_T;
}

/* A context for libunwind's unw_init_local(): on ARM libunwind's
 * unw_context_t is not a ucontext_t but r0-r15 in a row (struct
 * unw_tdep_context { unsigned long regs[16]; }), written at the start of
 * the (zeroed, larger) ucontext_t the caller passes. pc keeps bit 0 (a
 * Thumb address is inside the same instruction either way). */
static inline void cl_uc_set_frame(ucontext_t *uc, uintptr_t pc, uintptr_t sp,
                                   uintptr_t fp) {
    unsigned long *regs = (unsigned long *)(void *)uc;
    _Static_assert(sizeof(ucontext_t) >= 16 * sizeof(unsigned long),
                   "room for libunwind's context");
    regs[7] = fp;
    regs[13] = sp;
    regs[15] = pc;
}
static inline void cl_uc_set_fp2(ucontext_t *uc, uintptr_t fp11) {
    ((unsigned long *)(void *)uc)[11] = fp11;
}

/* Sigreturn lands in co's resumer just after its `blx`, as a body that
 * returns does: pc (and the state, from bit 0 of link_ra), sp, r7 and r11
 * from the link fields, r0 = co, r1 = value, r2 = status; everything else
 * is clobbered by the switch. */
static inline void cl_uc_return_to_resumer(ucontext_t *uc, struct corolink *co,
                                           void *value, int status) {
    cl_uc_set_pc(uc, (uintptr_t)co->hot.link_ra);
    uc->uc_mcontext.arm_sp = (uintptr_t)co->hot.link_sp;
    uc->uc_mcontext.arm_r7 = (uintptr_t)co->hot.link_fp;
    uc->uc_mcontext.arm_fp = (uintptr_t)co->hot.link_fp11;
    uc->uc_mcontext.arm_r0 = (uintptr_t)co;
    uc->uc_mcontext.arm_r1 = (uintptr_t)value;
    uc->uc_mcontext.arm_r2 = (unsigned)status;
}
#endif

#endif
