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
 * + 104 (COROLINK__TEB_LEAVE: 8 gs-relative moves of 9 bytes, 8 others of
 * 4) + 4 + 4 (the rsp and rbp loads) + 1 (ret); tests/core_test.cpp
 * checks it. Tools that unwind a suspended coroutine use it with co->sp
 * and co->fp, which are the body's until the switch-out's rsp load, so the
 * function's own unwind codes hold there. (In the out-of-line suspend,
 * whose switch-out is longer, the same distance lands after its prologue
 * and before its rsp load: its codes hold as well.) */
#define CL_SUSPENDED_PC_ADJUST 131

_Static_assert(sizeof(struct corolink__hot) == 0x90, "Windows x64 hot layout");
_Static_assert(offsetof(struct corolink__hot, link_fp) == 0x40, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_ra) == 0x48, "ABI v2");
_Static_assert(offsetof(struct corolink__hot, link_sp) == 0x50, "ABI v2");

/* The TEB record the switch and corolink__call_on() enter and leave
 * (TEB_ENTER in unwind-info/x86_64_win64_pe.S): the control block's from
 * teb_saved_base on, or a record of corolink__call_on's. */
struct cl_teb_record {
    void *saved_base, *saved_limit; /* the side that entered */
    void *dealloc;                  /* } swapped on entry and exit */
    uint32_t guarantee;             /* } */
    uint32_t kind;                  /* CL_TEB_* (not read by the assembly) */
    void *exception_list;           /* } */
    void *own_base, *own_limit;     /* the stack entered */
};
#define CL_TEB_AT(field) \
    (offsetof(struct corolink__hot, field) - offsetof(struct corolink__hot, teb_saved_base))
_Static_assert(offsetof(struct corolink__hot, teb_saved_base) == 0x58, "ABI v2");
_Static_assert(CL_TEB_AT(teb_saved_limit) == offsetof(struct cl_teb_record, saved_limit), "");
_Static_assert(CL_TEB_AT(teb_dealloc) == offsetof(struct cl_teb_record, dealloc), "");
_Static_assert(CL_TEB_AT(teb_guarantee) == offsetof(struct cl_teb_record, guarantee), "");
_Static_assert(CL_TEB_AT(teb_exception_list) == offsetof(struct cl_teb_record, exception_list), "");
_Static_assert(CL_TEB_AT(teb_stack_base) == offsetof(struct cl_teb_record, own_base), "");
_Static_assert(CL_TEB_AT(teb_stack_limit) == offsetof(struct cl_teb_record, own_limit), "");

/* The library's stacks (src/stack.c): the pages of room for the handlers
 * of a stack overflow between the one-page hard guard and the PAGE_GUARD
 * page (trap_windows.c arms that page again after an overflow consumed
 * it). Pages are 4 KiB on x64 Windows. */
#define CL_WIN_RESERVE_PAGES 2
#define CL_WIN_PAGE 4096u

/* A placed block holds its own stack's TEB values: StackBase = the end
 * of the stack region, StackLimit = its lowest committed byte (stacks
 * given by the caller are taken as committed down to `limit`; the
 * library's own set theirs afterwards: src/stack.c), DeallocationStack =
 * the start of the reservation (guard included), an empty ExceptionList,
 * and GuaranteedStackBytes = the room and the guard page on a stack with
 * a one-page guard (the library's layout, corolink_stack_alloc()'s
 * included): the system then raises STATUS_STACK_OVERFLOW at the first
 * touch of the PAGE_GUARD page, leaving the handlers the whole room (with
 * less, wine and Windows first move the guard page one page down and
 * raise the overflow there, with one page left: too little for the
 * exception frame, the dispatcher and the trap handler). */
static inline void cl_arch_place(struct corolink *co) {
    co->hot.teb_stack_base = co->stack_top;
    co->hot.teb_stack_limit = co->stack_limit;
    co->hot.teb_dealloc = (char *)co->stack_limit - co->guard;
    co->hot.teb_guarantee =
        co->guard == CL_WIN_PAGE ? (CL_WIN_RESERVE_PAGES + 1) * CL_WIN_PAGE
                                 : 0;
    co->hot.teb_exception_list = (void *)~(uintptr_t)0; /* empty */
}

/* What a record is for (src/trap_windows.c tells them apart). */
enum { CL_TEB_ON_STACK = 0, CL_TEB_ON_PARENT = 1 };

/* The record for fn of corolink_on_parent_stack(), which runs on the
 * resumer's stack: that stack's values, which the block holds while the
 * coroutine runs (the bounds saved, the rest swapped out). */
static inline void cl_teb_for_parent(struct cl_teb_record *r,
                                     const struct corolink *co) {
    r->own_base = co->hot.teb_saved_base;
    r->own_limit = co->hot.teb_saved_limit;
    r->dealloc = co->hot.teb_dealloc;
    r->guarantee = co->hot.teb_guarantee;
    r->kind = CL_TEB_ON_PARENT;
    r->exception_list = co->hot.teb_exception_list;
}

/* The record for fn of corolink_on_stack(): the given stack, taken as
 * committed down to limit, as for corolink_create_on(). */
static inline void cl_teb_for_stack(struct cl_teb_record *r,
                                    const corolink_stack *st) {
    r->own_base = st->base;
    r->own_limit = st->limit;
    r->dealloc = (char *)st->limit - st->guard;
    r->guarantee = 0;
    r->kind = CL_TEB_ON_STACK;
    r->exception_list = (void *)~(uintptr_t)0;
}

/* CO_STACK_LIMIT in unwind-info/x86_64_win64_pe.S. */
_Static_assert(offsetof(struct corolink, stack_limit) == 0xc8,
               "stack_limit where the out-of-line suspend reads it");

/* corolink__call_on() keeps the caller's rsp in its frame, not next to
 * fn's return address: the trap code (src/trap_windows.c) unwinds with
 * RtlVirtualUnwind instead of scanning. */
#define CL_CALL_ON_CALLER_SP 0

/* fn of corolink_on_parent_stack() runs below the resumer's return
 * address (link_sp points at it): 16 bytes of margin, no red zone. */
#define CL_PARENT_STACK_RESERVE 16

/* Return addresses are plain. */
static inline uintptr_t cl_strip_ra(uintptr_t ra) { return ra; }

/* No CET shadow stacks for user-mode mingw-w64 code. */
static inline bool cl_shadow_stack_enabled(void) { return false; }

#include <windows.h>

/* Rewrites an exception's CONTEXT so that continuing it lands in co's
 * resumer just after its switch's `call`, as a body that returns does
 * (the trampoline's .Lleave): rip from link_ra, rsp = link_sp + 8 (the
 * return address popped), rbp = link_fp, rcx = co, rdx = value, r8 =
 * status. The resumer declared every other register clobbered. DF and AC
 * are cleared (a call boundary has DF clear; alignment checks a body
 * turned on are no one's to keep), and the x87 register stack is emptied
 * (abridged tags all empty, TOP = 0), as the ABI wants at a call. */
static inline void cl_ctx_return_to_resumer(CONTEXT *ctx, struct corolink *co,
                                            void *value, int status) {
    ctx->Rip = (DWORD64)(uintptr_t)co->hot.link_ra;
    ctx->Rsp = (DWORD64)(uintptr_t)co->hot.link_sp + 8;
    ctx->Rbp = (DWORD64)(uintptr_t)co->hot.link_fp;
    ctx->Rcx = (DWORD64)(uintptr_t)co;
    ctx->Rdx = (DWORD64)(uintptr_t)value;
    ctx->R8 = (DWORD64)(int64_t)status;
    ctx->EFlags &= ~(DWORD)(0x400 | 0x40000);
    if ((ctx->ContextFlags & CONTEXT_FLOATING_POINT) ==
        CONTEXT_FLOATING_POINT) {
        ctx->FltSave.TagWord = 0;
        ctx->FltSave.StatusWord &= (WORD)~0x3800u;
    }
}

#endif
