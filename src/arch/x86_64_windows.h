/* Windows x64: what the portable sources in src/ need to know about the
 * target (see x86_64_linux.h for what each name means). The switch is in
 * include/corolink/x86_64_win64_pe.h and unwind-info/x86_64_win64_pe.S;
 * unwind-info/README.md ("Windows x64") documents both. Traps are in
 * src/trap_windows.c (a vectored exception handler instead of signals). */
#ifndef COROLINK_ARCH_X86_64_WINDOWS_H
#define COROLINK_ARCH_X86_64_WINDOWS_H

#define CL_TARGET_NAME "x86_64-win64-pe"
#define CL_ELF_MACHINE 0x8664 /* no ELF: the PE machine (IMAGE_FILE_MACHINE_AMD64) */
#define CL_DWARF_PC 16        /* same DWARF numbers as x86-64 System V */
#define CL_DWARF_RA 16
#define CL_DWARF_SP 7
#define CL_DWARF_FP 6
/* The switch-out's first instruction (leaq 1f(%rip), %rax) is this many
 * bytes before the resume point: 7 (leaq) + 3 + 4 + 4 (the three stores)
 * + 130 (the TEB swap: 12 gs-relative moves of 9 bytes, 8 of 4 bytes...
 * see tests/core_test.cpp) + 4 + 4 (the rsp and rbp loads) + 1 (ret).
 * Tools that unwind a suspended coroutine use it with co->sp and co->fp,
 * which are the body's until the switch-out's rsp load, so the function's
 * own unwind codes hold there. (In the out-of-line suspend, whose
 * switch-out is longer, the same distance lands after its prologue and
 * before its rsp load: its codes hold as well.) */
#define CL_SUSPENDED_PC_ADJUST 157

_Static_assert(sizeof(struct corolink__hot) == 0x80, "Windows x64 hot layout");
_Static_assert(offsetof(struct corolink__hot, link_fp) == 0x40, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, link_ra) == 0x48, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, link_sp) == 0x50, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, teb_stack_base) == 0x58, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, teb_stack_limit) == 0x60, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, teb_dealloc) == 0x68, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, teb_guarantee) == 0x70, "ABI v1");
_Static_assert(offsetof(struct corolink__hot, teb_exception_list) == 0x78, "ABI v1");

/* A placed block holds the TEB values of its own stack (the side that is
 * not running): StackBase = the end of the stack region, StackLimit = its
 * lowest committed byte (stacks given by the caller are taken as committed
 * down to `limit`; the library's own, reserved and committed on demand,
 * set their limit afterwards: src/stack.c), DeallocationStack = the start
 * of the reservation (guard included). */
static inline void cl_arch_place(struct corolink *co) {
    co->hot.teb_stack_base = co->stack_top;
    co->hot.teb_stack_limit = co->stack_limit;
    co->hot.teb_dealloc = (char *)co->stack_limit - co->guard;
    co->hot.teb_guarantee = 0;
    co->hot.teb_exception_list = (void *)~(uintptr_t)0; /* empty */
}

/* CO_STACK_LIMIT in unwind-info/x86_64_win64_pe.S. */
_Static_assert(offsetof(struct corolink, stack_limit) == 0xb8,
               "stack_limit where the out-of-line suspend reads it");

/* corolink__call_on() keeps the caller's rsp in its frame, not next to
 * fn's return address: the trap code (src/trap_windows.c) unwinds with
 * RtlVirtualUnwind instead of scanning. */
#define CL_CALL_ON_CALLER_SP 0

/* fn of corolink_on_parent_stack() runs below the resumer's return
 * address (link_sp points at it): 16 bytes of margin, no red zone. */
#define CL_PARENT_STACK_RESERVE 16
/* While the coroutine runs, its block holds the resumer's TEB values: fn
 * runs on the resumer's stack with those swapped in. */
#define CL_PARENT_TEB(co) ((void *)&(co)->hot.teb_stack_base)

/* Return addresses are plain. */
static inline uintptr_t cl_strip_ra(uintptr_t ra) { return ra; }

/* No CET shadow stacks for user-mode mingw-w64 code. */
static inline bool cl_shadow_stack_enabled(void) { return false; }

#endif
