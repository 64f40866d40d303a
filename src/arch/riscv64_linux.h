/* RISC-V 64 Linux (RV64GC, LP64D): what the portable sources in src/ need
 * to know about the target (see x86_64_linux.h for what each name means;
 * only the values, the frame-record position and the signal context
 * differ). The switch is in include/corolink/riscv64_lp64d_elf.h and
 * unwind-info/riscv64_lp64d_elf.S; unwind-info/README.md ("RISC-V 64")
 * documents both. */
#ifndef COROLINK_ARCH_RISCV64_LINUX_H
#define COROLINK_ARCH_RISCV64_LINUX_H

#define CL_TARGET_NAME "riscv64-lp64d-elf"
#define CL_ELF_MACHINE 243 /* EM_RISCV */
#define CL_DWARF_PC 64     /* pc: no DWARF number; 64, past x0-x31 and f0-f31 */
#define CL_DWARF_RA 1      /* ra (x1): the return-address column */
#define CL_DWARF_SP 2      /* sp (x2) */
#define CL_DWARF_FP 8      /* s0 (x8) */
/* The switch-out's first instruction is 36 bytes before the resume point
 * (9 instructions, never compressed): it runs with the body's sp and s0
 * under the body's own rows. */
#define CL_SUSPENDED_PC_ADJUST 36

/* gcc's RISC-V frame record lies below the frame pointer: s0 is the
 * frame's CFA, the caller's s0 at s0 - 16 and the return address at
 * s0 - 8 (introspect.c's frame-pointer walk; see CL_RECORD_FP there). */
#define CL_RECORD_FP(co) ((uintptr_t)(co)->hot.fp)
#define CL_RECORD_NEXT(fp) (((const uintptr_t *)(fp))[-2])
#define CL_RECORD_RA(fp) (((const uintptr_t *)(fp))[-1])
#define CL_RECORD_LO 16
#define CL_RECORD_HI 0
#define CL_RECORD_ALIGN 8

/* The trampoline runs with s0 = &co->link_sp: the record {link_fp,
 * link_ra} lies below it, as below any RISC-V frame pointer. */
#define CL_ROOT_FP_OFFSET offsetof(struct corolink__hot, link_sp)

/* The layout the assembly and the inline switch use. */
_Static_assert(sizeof(struct corolink__hot) == 0x60, "RISC-V 64 hot layout");
_Static_assert(offsetof(struct corolink__hot, link_fp) == 0x40, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_ra) == 0x48, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_sp) == 0x50, "ABI v2");
/* CO_STACK_LIMIT in unwind-info/riscv64_lp64d_elf.S. */
_Static_assert(offsetof(struct corolink, stack_limit) == 0x98,
               "stack_limit where the out-of-line suspend reads it");

/* Nothing to set beyond the portable fields. */
static inline void cl_arch_place(struct corolink *co) { (void)co; }

/* The trampoline stores its return address at co - 8 and calls the body
 * with sp = co - 16. */

/* corolink__call_on() leaves {s0, corolink__call_on_ret} at the new
 * stack's top - 32 and the caller's sp right above them, at the return
 * address's slot + 8. */
#define CL_CALL_ON_CALLER_SP 0

/* fn of corolink_on_parent_stack() runs below the resumer's sp (the
 * RISC-V psABI has no red zone; the resumer's return address is in the
 * control block): 16 bytes of margin. */
#define CL_PARENT_STACK_RESERVE 16

/* libunwind's local-unwinding entry points and register numbers
 * (libunwind-riscv.h: UNW_RISCV_X2 = sp = 2, UNW_TDEP_IP = UNW_RISCV_PC =
 * 64, after x0-x31 and f0-f31). Debian 12 has no libunwind for riscv64:
 * corolink_backtrace() finds none to dlopen() and walks frame records. */
#define CL_UNW_SYM(name) "_ULriscv_" name
#define CL_UNW_REG_SP 2
#define CL_UNW_REG_IP 64

/* A return address as found in a frame record (nothing signs them). */
static inline uintptr_t cl_strip_ra(uintptr_t ra) { return ra; }

#if !CL_FREESTANDING
#include <ucontext.h>

/* RISC-V Linux has no user shadow stack (Zicfiss) in the kernels and C
 * libraries this targets. */
static inline bool cl_shadow_stack_enabled(void) { return false; }

static inline uintptr_t cl_uc_sp(const ucontext_t *uc) {
    return (uintptr_t)uc->uc_mcontext.__gregs[REG_SP];
}

static inline void cl_uc_set_frame(ucontext_t *uc, uintptr_t pc, uintptr_t sp,
                                   uintptr_t fp) {
    uc->uc_mcontext.__gregs[REG_PC] = pc;
    uc->uc_mcontext.__gregs[REG_SP] = sp;
    uc->uc_mcontext.__gregs[REG_S0] = fp;
}

/* Sigreturn lands in co's resumer just after its `jalr ra`, as a body that
 * returns does: pc/sp/s0 from the link fields, a0 = co, a1 = value,
 * a2 = status; everything else is clobbered by the switch. ra = link_ra
 * too, as the suspend's `ret` leaves it (nothing reads it). */
static inline void cl_uc_return_to_resumer(ucontext_t *uc, struct corolink *co,
                                           void *value, int status) {
    unsigned long *gr = uc->uc_mcontext.__gregs;
    gr[REG_PC] = (uintptr_t)co->hot.link_ra;
    gr[REG_RA] = (uintptr_t)co->hot.link_ra;
    gr[REG_SP] = (uintptr_t)co->hot.link_sp;
    gr[REG_S0] = (uintptr_t)co->hot.link_fp;
    gr[REG_A0] = (uintptr_t)co;
    gr[REG_A0 + 1] = (uintptr_t)value;
    gr[REG_A0 + 2] = (unsigned)status;
}
#endif

#endif
