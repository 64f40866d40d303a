/* x86-64 Linux: what the portable sources in src/ need to know about the
 * target, so that they name no register. The switch itself is in
 * include/corolink/x86_64_sysv_elf.h and unwind-info/x86_64_sysv_elf.S;
 * unwind-info/README.md ("x86-64 System V") documents both. */
#ifndef COROLINK_ARCH_X86_64_LINUX_H
#define COROLINK_ARCH_X86_64_LINUX_H

/* The target description of the debug-offsets table
 * (unwind-info/debug-table.md, version 2): ELF machine and the DWARF
 * numbers of the registers tools read. */
#define CL_TARGET_NAME "x86_64-sysv-elf"
#define CL_ELF_MACHINE 62 /* EM_X86_64 */
#define CL_DWARF_PC 16    /* rip: also the return-address column */
#define CL_DWARF_RA 16
#define CL_DWARF_SP 7     /* rsp */
#define CL_DWARF_FP 6     /* rbp */
/* A suspended coroutine unwinds from its resume point minus this many
 * bytes: the switch-out's first instruction (ABI v1 and v2). */
#define CL_SUSPENDED_PC_ADJUST 16

/* The hot fields are ABI v2 (as in v1): code that inlined the switch reads them. */
_Static_assert(sizeof(struct corolink__hot) == 0xb0, "ABI v2 hot layout");
_Static_assert(offsetof(struct corolink__hot, link_fp) == 0x78, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_ra) == 0x80, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_sp) == 0xa0, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_ip) == 0xa8, "ABI v2");

/* A block is placed: libunwind before 1.6 reads the caller of a
 * coroutine's root frame from link_ip (the rip slot of a ucontext_t): 0
 * ends its fast trace cleanly. Later versions, and every other unwinder,
 * use the CFI. */
static inline void cl_arch_place(struct corolink *co) { co->hot.link_ip = 0; }

/* CO_STACK_LIMIT in unwind-info/x86_64_sysv_elf.S. */
_Static_assert(offsetof(struct corolink, stack_limit) == 0xe8,
               "stack_limit where the out-of-line suspend reads it");

/* The trampoline's `call` of the body leaves its return address
 * (corolink__trampoline_ret) at co - 8: the body runs with rsp = co. */

/* corolink__call_on() leaves, above the return address of its call of fn
 * (corolink__call_on_ret), a record whose word at this offset from the
 * return address's slot + 8 is the caller's rsp (the rsp slot of a
 * ucontext_t: see unwind-info/README.md, "libunwind's fast tracer"). */
#define CL_CALL_ON_CALLER_SP 0xa0

/* fn of corolink_on_parent_stack() runs on the resumer's stack below the
 * resumer's return address (the word under link_sp, which the suspend
 * that returns to the resumer still needs) and below its 128-byte red
 * zone (never in use across a resume, but the margin costs nothing). */
#define CL_PARENT_STACK_RESERVE (8 + 128)

/* libunwind's local-unwinding entry points (<libunwind.h> maps unw_* to
 * these) and its register numbers (UNW_X86_64_RSP, UNW_X86_64_RIP). */
#define CL_UNW_SYM(name) "_ULx86_64_" name
#define CL_UNW_REG_SP 7
#define CL_UNW_REG_IP 16

/* A return address as found in a frame record (x86-64 does not sign
 * them). */
static inline uintptr_t cl_strip_ra(uintptr_t ra) { return ra; }

#if !CL_FREESTANDING
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* Whether the C library enabled CET shadow stacks for this thread:
 * arch_prctl(ARCH_SHSTK_STATUS) (Linux 6.6+; asm/prctl.h of newer kernel
 * headers), feature bit 0 (ARCH_SHSTK_SHSTK). */
static inline bool cl_shadow_stack_enabled(void) {
    unsigned long long features = 0;
    return syscall(SYS_arch_prctl, 0x5005 /* ARCH_SHSTK_STATUS */,
                   &features) == 0 &&
           (features & 1);
}

/* The interrupted stack pointer of a signal's context. */
static inline uintptr_t cl_uc_sp(const ucontext_t *uc) {
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
}

/* A context for libunwind's unw_init_local() that holds pc, sp and fp
 * (the registers a suspended coroutine's unwind starts from). */
static inline void cl_uc_set_frame(ucontext_t *uc, uintptr_t pc, uintptr_t sp,
                                   uintptr_t fp) {
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
    uc->uc_mcontext.gregs[REG_RSP] = (greg_t)sp;
    uc->uc_mcontext.gregs[REG_RBP] = (greg_t)fp;
}

/* Rewrites a signal's context so that sigreturn lands in co's resumer just
 * after its switch `call`, as a body that returns does (the trampoline's
 * .Lleave): rsp/rbp from the link fields, rdi = co, rsi = value,
 * edx = status, and ZF = 1 (ABI v2: "edx is the status"), which
 * corolink__trap_return sets before it returns to link_ra (the signal
 * context's eflags is not restored everywhere: valgrind keeps only CF).
 * The return address goes back to its slot below link_sp, in the
 * resumer's red zone, where the resume point's pop left it. Every other register is clobbered by the switch (the
 * inline one declares them so, the out-of-line one restores the
 * callee-saved ones from its frame). */
CL_HIDDEN void corolink__trap_return(void); /* x86_64_sysv_elf.S */
static inline void cl_uc_return_to_resumer(ucontext_t *uc, struct corolink *co,
                                           void *value, int status) {
    greg_t *gr = uc->uc_mcontext.gregs;
    void **ra_slot = (void **)co->hot.link_sp - 1;
    *ra_slot = co->hot.link_ra;
    gr[REG_RIP] = (greg_t)(uintptr_t)corolink__trap_return;
    gr[REG_RSP] = (greg_t)(uintptr_t)ra_slot;
    gr[REG_RBP] = (greg_t)(uintptr_t)co->hot.link_fp;
    gr[REG_RDI] = (greg_t)(uintptr_t)co;
    gr[REG_RSI] = (greg_t)(uintptr_t)value;
    gr[REG_RDX] = status;
    gr[REG_EFL] &= ~(greg_t)0x400; /* DF clear, as at any call boundary */
    /* The ABI wants the x87 register stack empty at a call boundary: drop
     * whatever the body left on it (tags all empty, TOP = 0). */
    if (uc->uc_mcontext.fpregs) {
        uc->uc_mcontext.fpregs->ftw = 0;
        uc->uc_mcontext.fpregs->swd &= (unsigned short)~0x3800u;
    }
}
#endif

#endif
