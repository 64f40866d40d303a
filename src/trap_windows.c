/* Traps on Windows: recovering from a hardware fault (stack overflow
 * included) inside a coroutine, with a vectored exception handler.
 *
 * Linux (src/trap.c) gets a signal on an alternate stack; Windows
 * dispatches an exception on the faulting thread's own stack, calling the
 * vectored handlers first (before any frame-based handler, so before the
 * trampoline's SEH handler of src/unwind.c that would otherwise catch the
 * fault at the coroutine's root and raise it again in the resumer). Our
 * handler, installed first in the list, does what the Linux one does:
 *
 *  - find: the innermost running coroutine, from the faulting CONTEXT
 *    alone (the switch keeps no per-thread record). The system's own
 *    unwinder (RtlVirtualUnwind, over the SEH unwind records) walks the
 *    faulting thread's frames up to the body's return address into the
 *    trampoline, corolink__trampoline_ret, where rbp = &co->link_fp (as in
 *    corolink_current()). That walk passes through fn of
 *    corolink_on_stack() and corolink_on_parent_stack() into the calling
 *    coroutine, so a fault there traps the coroutine that called them, as
 *    on Linux. It is guarded: it follows a stack pointer only within the
 *    stack it walks, as the TEB (or a corolink__call_on record) describes
 *    it, only upward, and checks a frame register before the unwinder
 *    reads through it; the block found must sit where cl_place() puts it
 *    at the top of that stack, with its check word, running.
 *
 *  - redirect: rewrite the CONTEXT so that, when the handler returns
 *    EXCEPTION_CONTINUE_EXECUTION, the thread lands in the resumer just
 *    after its switch's `call`, with rcx = co, rdx = value, r8 =
 *    COROLINK_TRAP, as the trampoline's .Lleave does for a body that
 *    returns; and give the TEB back to the resumer, as .Lleave's TEB swap
 *    does (after undoing, in order, the swaps of any corolink__call_on
 *    frames the walk passed, as their returns would have).
 *
 * Only hardware faults trap (see is_fault()); everything else, and faults
 * outside coroutines, go on to the next handler (EXCEPTION_CONTINUE_SEARCH):
 * the process behaves as without corolink.
 *
 * Stack overflow. There is no alternate stack: the system dispatches
 * STATUS_STACK_OVERFLOW on the overflowed stack itself, in the room that
 * the stack's layout keeps below its PAGE_GUARD page (src/stack.c). What
 * the room must hold: the exception frame the system pushes (a CONTEXT
 * and an EXCEPTION_RECORD: 1.8 KiB under wine 8), the dispatcher's frames
 * (0.3 KiB) and this handler, which walks the exception's own CONTEXT
 * rather than a copy (1.5 KiB, 0.7 of them wine's RtlLookupFunctionEntry;
 * tests/trap/trap_windows_test.cpp measures what is left at the worst).
 * The library's stacks set GuaranteedStackBytes to the room and the guard
 * page (src/stack.c), so that the system raises the overflow at the first
 * touch of the guard page, with the whole room below it (2 pages; with the
 * default, it first moves the guard a page down, leaving about one page at
 * the worst). The system commits the room and clears the PAGE_GUARD page when
 * it raises the exception; the redirect arms it again on its way into the
 * resumer (cl_trap_return), so that the stack can be reused and overflow
 * detectably again. */
#include "internal.h"
#include "probes.h"
#include "trap_message.h"

#if CL_WINDOWS

#include <string.h>
#include <windows.h>

bool cl_trap_installed;

/* "Exception originated in software": set in what RtlRaiseException()
 * raises by the systems that mark them (winnt.h of newer SDKs; not in
 * mingw-w64's; wine 8 does not set it). */
#ifndef EXCEPTION_SOFTWARE_ORIGINATE
#define EXCEPTION_SOFTWARE_ORIGINATE 0x80
#endif

/* ---- the Thread Environment Block ---- */

/* The TEB record the switch enters and leaves (struct cl_teb_record,
 * src/arch/x86_64_windows.h): the control block's, or a
 * corolink__call_on's. */
#define TEB_EXCEPTION_LIST 0x00
#define TEB_STACK_BASE 0x08
#define TEB_STACK_LIMIT 0x10
#define TEB_DEALLOC 0x1478
#define TEB_GUARANTEE 0x1748

/* The calling thread's TEB, as memory (gs:0x30 holds its own address).
 * Read with asm: NtCurrentTeb()'s __readgsqword(0x30) looks to gcc 12 like
 * a read of address 0x30 (-Warray-bounds). */
static inline char *teb(void) {
    char *t;
    __asm__("movq %%gs:0x30, %0" : "=r"(t));
    return t;
}

static inline void *teb_get(unsigned off) {
    return *(void *volatile *)(teb() + off);
}

static void swap_word(unsigned off, void **slot) {
    void *volatile *t = (void *volatile *)(teb() + off);
    void *v = *t;
    *t = *slot;
    *slot = v;
}

/* Leaves the stack a record was entered for, as the switch's TEB_LEAVE
 * does: the bounds saved on entry back, DeallocationStack,
 * GuaranteedStackBytes and ExceptionList swapped back. */
static void teb_leave(struct cl_teb_record *r) {
    *(void *volatile *)(teb() + TEB_STACK_BASE) = r->saved_base;
    *(void *volatile *)(teb() + TEB_STACK_LIMIT) = r->saved_limit;
    swap_word(TEB_DEALLOC, &r->dealloc);
    volatile uint32_t *g = (volatile uint32_t *)(teb() + TEB_GUARANTEE);
    uint32_t v = *g;
    *g = r->guarantee;
    r->guarantee = v;
    swap_word(TEB_EXCEPTION_LIST, &r->exception_list);
}

static struct cl_teb_record *block_teb(struct corolink *co) {
    return (struct cl_teb_record *)(void *)&co->hot.teb_saved_base;
}

/* ---- reading without faulting (pages: CL_WIN_PAGE, 4 KiB on x64) ---- */

/* [p, p + n) is committed, readable and no PAGE_GUARD page (reading one
 * would disarm it, or grow a stack): asked of the system, which cannot
 * fault. Used for the one pointer the walk cannot check against a stack's
 * limits: a corolink__call_on record's `teb`. */
static bool readable(uintptr_t p, size_t n) {
    while (n > 0) {
        MEMORY_BASIC_INFORMATION mbi;
        if (VirtualQuery((const void *)p, &mbi, sizeof mbi) != sizeof mbi)
            return false;
        const DWORD ok = PAGE_READONLY | PAGE_READWRITE | PAGE_WRITECOPY |
                         PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE |
                         PAGE_EXECUTE_WRITECOPY;
        if (mbi.State != MEM_COMMIT || (mbi.Protect & PAGE_GUARD) ||
            !(mbi.Protect & ok))
            return false;
        uintptr_t end = (uintptr_t)mbi.BaseAddress + mbi.RegionSize;
        if (end <= p)
            return false;
        size_t k = end - p < n ? end - p : n;
        p += k;
        n -= k;
    }
    return true;
}

/* ---- finding the coroutine ---- */

/* The bounds a walk stays within: [lo, hi), the TEB's [StackLimit,
 * StackBase] (or those a corolink__call_on record saved), which span the
 * stack the walk is on and the stacks of the chain that resumed it; they
 * may hold memory that is no stack, so the walk also asks the system
 * whether each new page it reads from is readable. */
struct range {
    uintptr_t lo, hi;
};

/* corolink__call_on's record (unwind-info/x86_64_win64_pe.S), at fn's rbp
 * while fn runs. */
struct call_on_record {
    uintptr_t caller_rbp;
    uintptr_t caller_rbx;
    uintptr_t ret_addr_at; /* &the return address, on the caller's stack */
    struct cl_teb_record *teb; /* entered for fn's stack, or NULL */
};

/* What a walk found: the coroutine, and the corolink__call_on frames
 * with a TEB record that it passed between the fault and the coroutine's
 * root: how many, and the outermost one's record (the block's own TEB
 * copy if that call was co's corolink_on_parent_stack()). */
struct walk {
    struct corolink *co;
    unsigned nrec;
    const struct cl_teb_record *last;
};

/* The register a function's UNWIND_INFO names as its frame register, or
 * -1; `established`: the prologue has set it up at pc. (The format: byte 0
 * version and flags, 1 prologue size, 3 frame register and offset.) */
static int frame_register(DWORD64 image, PRUNTIME_FUNCTION fn, DWORD64 pc,
                          bool *established) {
    const unsigned char *ui = (const unsigned char *)(uintptr_t)(
        image + fn->UnwindData);
    *established = pc - (image + fn->BeginAddress) >= ui[1] ||
                   ((ui[0] >> 3) & UNW_FLAG_CHAININFO);
    unsigned reg = ui[3] & 15;
    return reg ? (int)reg : -1;
}

/* CONTEXT's integer registers are Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi,
 * R8..R15 in a row: the unwind codes' register numbers. */
static DWORD64 ctx_reg(const CONTEXT *ctx, int n) { return (&ctx->Rax)[n]; }
_Static_assert(offsetof(CONTEXT, R15) - offsetof(CONTEXT, Rax) == 15 * 8,
               "CONTEXT's integer registers in a row");

/* Walks ctx (the faulting context, modified) up to the root frame of the
 * innermost running coroutine. NULL if the stack leads to none, or if the
 * walk meets anything it cannot follow safely. `swap`: perform, as each
 * corolink__call_on frame is passed, the TEB swap its return would have
 * done (the redirect's second walk; the walk reads a record's TEB values
 * before it swaps them, and never again after). */
static struct corolink *walk(CONTEXT *ctx, struct walk *w, bool swap) {
    const uintptr_t tramp_ret = (uintptr_t)corolink__trampoline_ret;
    const uintptr_t call_on_ret = (uintptr_t)corolink__call_on_ret;
    const size_t page = CL_WIN_PAGE;
    w->co = NULL;
    w->nrec = 0;
    w->last = NULL;
    /* The bounds the TEB gives (the running stack and the chain that
     * resumed it). The system may have let rsp go below StackLimit (into a PAGE_GUARD page it is
     * about to turn into stack): down to the page above the hard guard
     * (DeallocationStack) is stack too. */
    struct range r = {(uintptr_t)teb_get(TEB_STACK_LIMIT),
                      (uintptr_t)teb_get(TEB_STACK_BASE)};
    uintptr_t floor = (uintptr_t)teb_get(TEB_DEALLOC) + page;
    if (ctx->Rsp < r.lo && ctx->Rsp >= floor)
        r.lo = ctx->Rsp & ~(uintptr_t)7;
    uintptr_t page_ok = 0; /* the last page found readable */
    for (;;) {
        uintptr_t sp = ctx->Rsp, pc = ctx->Rip;
        if (sp < r.lo || sp >= r.hi || (sp & 7))
            return NULL; /* off the stacks: not ours to follow */
        if ((sp & ~(page - 1)) != page_ok) {
            if (!readable(sp, 8))
                return NULL;
            page_ok = sp & ~(page - 1);
        }
        if (pc == tramp_ret) {
            /* The body's return into the trampoline: rbp = &co->link_fp,
             * rsp = co - 32 (the body's shadow space), co a live, running
             * control block whose stack holds the frame. */
            uintptr_t co = ctx->Rbp - offsetof(struct corolink__hot, link_fp);
            if (sp != co - 32 || co >= r.hi ||
                !readable(co, sizeof(struct corolink)))
                return NULL;
            struct corolink *c = (struct corolink *)co;
            if (!cl_is_block(c) || !cl_running(c) ||
                (uintptr_t)c->stack_limit > sp)
                return NULL;
            w->co = c;
            return c;
        }
        if (pc == call_on_ret) {
            /* fn of corolink_on_stack()/corolink_on_parent_stack()
             * returns here: rbp = the call's record (on fn's stack), whose
             * unwind codes lead to the caller on its own stack, which the
             * record's `teb` describes (the caller's TEB values, swapped
             * out for fn). */
            uintptr_t at = ctx->Rbp;
            if (at < sp || at > r.hi - sizeof(struct call_on_record) ||
                (at & 15))
                return NULL;
            const struct call_on_record *rec = (const void *)at;
            struct range next = r;
            if (rec->teb != NULL) {
                if (!readable((uintptr_t)rec->teb, sizeof *rec->teb))
                    return NULL;
                next.lo = (uintptr_t)rec->teb->saved_limit;
                next.hi = (uintptr_t)rec->teb->saved_base;
                w->nrec++;
                w->last = rec->teb;
            }
            if (rec->ret_addr_at < next.lo ||
                rec->ret_addr_at > next.hi - 8 || (rec->ret_addr_at & 7))
                return NULL;
            DWORD64 image;
            PRUNTIME_FUNCTION fn = RtlLookupFunctionEntry(pc, &image, NULL);
            if (fn == NULL)
                return NULL;
            void *hd;
            DWORD64 est;
            RtlVirtualUnwind(UNW_FLAG_NHANDLER, image, pc, fn, ctx, &hd, &est,
                             NULL);
            if (ctx->Rsp != rec->ret_addr_at + 8)
                return NULL; /* not the frame its codes describe */
            if (swap && rec->teb != NULL)
                teb_leave(rec->teb);
            r = next;
            continue;
        }
        DWORD64 image;
        PRUNTIME_FUNCTION fn = RtlLookupFunctionEntry(pc, &image, NULL);
        if (fn == NULL) {
            /* No unwind record: a leaf (or code the unwinder cannot
             * describe), whose return address is at rsp, as the system's
             * dispatcher assumes. */
            ctx->Rip = *(const DWORD64 *)sp;
            ctx->Rsp = sp + 8;
        } else {
            /* The unwinder reads through rsp and, once a function has set
             * one up, its frame register: that must lie on this stack
             * too, above rsp. */
            bool established;
            int reg = frame_register(image, fn, pc, &established);
            if (reg >= 0 && established) {
                uintptr_t f = (uintptr_t)ctx_reg(ctx, reg);
                if (f < sp || f >= r.hi)
                    return NULL;
            }
            void *hd;
            DWORD64 est;
            RtlVirtualUnwind(UNW_FLAG_NHANDLER, image, pc, fn, ctx, &hd, &est,
                             NULL);
        }
        if (ctx->Rsp <= sp || ctx->Rip == 0)
            return NULL; /* no progress up the stack, or its end */
    }
}

/* The handler walks the exception's own CONTEXT, to spare the stack a
 * copy of it (1.2 KiB: see "Stack overflow" above), and puts back what
 * the unwinder changes in it: rip, rsp, eflags, the integer registers
 * (unwind codes can name any of the 16) and the xmm registers. */
struct saved_regs {
    DWORD64 gpr[16]; /* Rax .. R15 */
    DWORD64 rip;
    DWORD eflags;
    M128A xmm[16];
};

static __attribute__((noinline)) struct corolink *
walk_in_place(CONTEXT *ctx, struct walk *w, bool swap) {
    struct saved_regs s;
    memcpy(s.gpr, &ctx->Rax, sizeof s.gpr);
    s.rip = ctx->Rip;
    s.eflags = ctx->EFlags;
    memcpy(s.xmm, ctx->FltSave.XmmRegisters, sizeof s.xmm);
    struct corolink *co = walk(ctx, w, swap);
    memcpy(&ctx->Rax, s.gpr, sizeof s.gpr);
    ctx->Rip = s.rip;
    ctx->EFlags = s.eflags;
    memcpy(ctx->FltSave.XmmRegisters, s.xmm, sizeof s.xmm);
    return co;
}

/* The caller's context is const: walked on a copy. */
corolink *corolink_trap_find(const void *ucontext) {
    if (ucontext == NULL)
        return NULL;
    CONTEXT copy; /* 16-byte aligned, as its declaration asks */
    memcpy(&copy, ucontext, sizeof copy);
    struct walk w;
    return walk(&copy, &w, false);
}

/* ---- the redirect and its message ---- */

static bool diagnostics = true;

void corolink_trap_diagnostics(bool enable) {
    __atomic_store_n(&diagnostics, enable, __ATOMIC_RELAXED);
}

/* The low end of co's stack where an overflow lands: the guard below
 * stack_limit (a page if none), and, on the library's layout, the room
 * and the PAGE_GUARD page above it (src/stack.c). */
static bool in_low_end(const struct corolink *co, uintptr_t a) {
    size_t page = CL_WIN_PAGE;
    uintptr_t limit = (uintptr_t)co->stack_limit;
    size_t g = co->guard > page ? co->guard : page;
    uintptr_t lo = limit >= g ? limit - g : 0;
    uintptr_t hi = limit + (CL_WIN_RESERVE_PAGES + 1) * page;
    return a >= lo && a < hi;
}

/* The stack-overflow line (src/trap_message.h), as on Linux. The size:
 * what corolink_create() was asked for, rounded to pages (the room and the
 * guard page come on top of it); for a caller's stack, [limit, base). */
static void print_overflow(const struct corolink *co, void *addr) {
    struct cl_line l;
    size_t size = (co->hot.flags & CL_STACK_POOLED) && co->size_class
                      ? co->size_class
                      : (size_t)((uintptr_t)co->stack_top -
                                 (uintptr_t)co->stack_limit);
    cl_overflow_line(&l, co, size, addr);
    HANDLE err = GetStdHandle(STD_ERROR_HANDLE);
    if (err == NULL || err == INVALID_HANDLE_VALUE)
        return;
    size_t done = 0;
    while (done < l.len) {
        DWORD w = 0;
        if (!WriteFile(err, l.buf + done, (DWORD)(l.len - done), &w, NULL) ||
            w == 0)
            break;
        done += w;
    }
}

/* ---- re-arming the guard page ---- */

/* When the system raises STATUS_STACK_OVERFLOW it turns the PAGE_GUARD page
 * and the room below it into plain read-write stack (and lowers the TEB's
 * StackLimit): without a new guard page the next overflow of that stack
 * would run through the room into the hard guard, where no exception can
 * be dispatched (the process dies). So, as _resetstkoflw() does for a
 * thread's stack, the guard page is armed again where the layout has it.
 * Not in the handler, which runs below that page with the exception frame
 * possibly in it (the system reads the frame back when the handler
 * returns): after a stack overflow the redirect goes through
 * cl_trap_return (below), which runs on the resumer's stack, above
 * whatever overflowed, calls cl_trap_rearm_stack() and then returns into
 * the resumer as the trampoline's .Lleave does. The overflowed stack is the
 * coroutine's own (reused once it is destroyed) or, after an overflow in fn
 * of corolink_on_parent_stack(), the resumer's (in use right away). */

/* Arms the guard page of the stack whose reservation starts at `dealloc`
 * (the TEB's DeallocationStack for it) again, if it has the library's
 * layout (src/stack.c: a one-page hard guard, the room, the guard page;
 * what corolink_create() and corolink_stack_alloc() make) and neither its
 * guard page nor the page below it (where a first touch moves it when the
 * guarantee is small, as stacks grow) is armed. Other stacks (a thread's
 * own, say) are left as the overflow left them. Called by
 * cl_trap_return. */
void cl_trap_rearm_stack(char *dealloc, struct corolink *co)
    __attribute__((used));
void cl_trap_rearm_stack(char *dealloc, struct corolink *co) {
    const size_t page = CL_WIN_PAGE;
    char *guard_page = dealloc + (1 + CL_WIN_RESERVE_PAGES) * page;
    MEMORY_BASIC_INFORMATION mbi;
    if (VirtualQuery(dealloc, &mbi, sizeof mbi) != sizeof mbi ||
        mbi.AllocationBase != dealloc || mbi.State != MEM_RESERVE ||
        mbi.RegionSize != page)
        return; /* not the library's layout: leave it alone */
    for (char *p = guard_page - page; p <= guard_page + page; p += page) {
        if (VirtualQuery(p, &mbi, sizeof mbi) != sizeof mbi ||
            mbi.AllocationBase != dealloc || mbi.State != MEM_COMMIT)
            return; /* (a stack of at least a page above the guard page) */
        if (mbi.Protect & PAGE_GUARD)
            return; /* still armed */
    }
    DWORD old;
    VirtualProtect(guard_page, page, PAGE_READWRITE | PAGE_GUARD, &old);
    /* StackLimit needs nothing: the system lowered the TEB's while it
     * described the overflowing stack, and the redirect has put back the
     * values saved before (the block keeps co's own, never lowered). */
    (void)co;
}

#define CL_STR_(x) #x
#define CL_STR(x) CL_STR_(x)
_Static_assert(COROLINK_TRAP == 3 &&
                   offsetof(struct corolink__hot, link_fp) == 0x40 &&
                   offsetof(struct corolink__hot, link_sp) == 0x50,
               "what cl_trap_return uses");

/* Entered (by the redirect's CONTEXT) with rsp = the resumer's link_sp -
 * 40, rbx = co, rsi = the value for the resumer, rdi = the overflowed
 * stack's DeallocationStack. Everything below link_sp on the resumer's
 * stack is free (the resumer is in its switch's call); the 40 bytes are
 * the callee's shadow space and alignment (link_sp + 8 is 16-aligned).
 * rbx, rsi and rdi survive the call; the resumer declared them clobbered
 * (the out-of-line resume restores its own from its frame). The unwind
 * code (40 bytes allocated) leads to the resumer's return address at
 * link_sp, for anything that walks the stack from inside the call. */
void cl_trap_return(void);
__asm__(".text\n"
        ".globl cl_trap_return\n"
        ".def cl_trap_return; .scl 2; .type 32; .endef\n"
        ".p2align 4\n"
        ".seh_proc cl_trap_return\n"
        "cl_trap_return:\n"
        "\t.seh_stackalloc 40\n"
        "\t.seh_endprologue\n"
        "\tmovq %rdi, %rcx\n"
        "\tmovq %rbx, %rdx\n"
        "\tcall cl_trap_rearm_stack\n" /* (dealloc, co) */
        "\tmovq %rbx, %rcx\n"          /* co */
        "\tmovq %rsi, %rdx\n"          /* value */
        "\tmovl $" CL_STR(COROLINK_TRAP) ", %r8d\n"
        "\tmovq 0x50(%rcx), %rsp\n"    /* link_sp: at the return address */
        "\tmovq 0x40(%rcx), %rbp\n"    /* link_fp */
        "\tret\n"                      /* into the resumer, as .Lleave */
        "\tint3\n"
        ".seh_endproc\n");

/* The redirect proper, once a walk from ctx found co (w: what it passed). */
static void redirect(struct corolink *co, CONTEXT *ctx, const struct walk *w,
                     int signo, void *addr, void *value) {
    /* The stack the fault happened on, before the swaps below. */
    void *dealloc = teb_get(TEB_DEALLOC);
    /* An overflow of co's own stack: the address, or the stack pointer if
     * the fault happened on co's stack, at its low end. */
    uintptr_t sp = ctx->Rsp;
    uintptr_t lo = (uintptr_t)co->stack_limit - co->guard;
    bool on_own_stack = sp >= lo && sp < (uintptr_t)co;
    bool overflow = in_low_end(co, (uintptr_t)addr) ||
                    (on_own_stack && in_low_end(co, sp));
    /* A fault in fn of co's corolink_on_parent_stack(): that call never
     * returns (corolink.c counts them). It is the outermost call_on frame
     * the walk passed, and its record says so. */
    if (w->last != NULL && w->last->kind == CL_TEB_ON_PARENT)
        cl_on_parent_trapped();
    /* The TEB back to the resumer. First what the corolink__call_on frames
     * between the fault and the root would have done on return, innermost
     * first (each leaves its record): a second walk does them (the first
     * only found them); then the trampoline's leave of the block.
     * Afterwards the TEB is the resumer's again and the block holds the
     * coroutine's own values, as after a return. The stacks
     * walked are this thread's own, unchanged since the first walk. */
    if (w->nrec > 0) {
        struct walk again;
        walk_in_place(ctx, &again, true);
    }
    teb_leave(block_teb(co));
    co->trap_signo = signo;
    co->trap_addr = addr;
    co->trap_overflow = overflow;
    co->hot.finished = CL_FINISHED_TRAPPED; /* pc stays NULL */
    CL_PROBE_TRAP(co, signo, addr);
    /* Continue in the resumer just after its switch's `call`, as the
     * trampoline's .Lleave does. */
    cl_ctx_return_to_resumer(ctx, co, value, COROLINK_TRAP);
    if (overflow || signo == (int)STATUS_STACK_OVERFLOW) {
        /* A guard page was consumed: by way of cl_trap_return, which arms
         * it again and then does that return (rbx = co, rsi = value,
         * rdi = the reservation), on the resumer's stack below link_sp. */
        ctx->Rip = (DWORD64)(uintptr_t)cl_trap_return;
        ctx->Rsp = (DWORD64)(uintptr_t)co->hot.link_sp - 40;
        ctx->Rbx = (DWORD64)(uintptr_t)co;
        ctx->Rsi = (DWORD64)(uintptr_t)value;
        ctx->Rdi = (DWORD64)(uintptr_t)dealloc;
    }
    if (overflow && __atomic_load_n(&diagnostics, __ATOMIC_RELAXED))
        print_overflow(co, addr);
}

int corolink_trap_redirect(corolink *co, void *ucontext, int signo, void *addr,
                           void *value) {
    if (co == NULL || ucontext == NULL || !cl_is_block(co) || !cl_running(co))
        return COROLINK_EINVAL;
    /* co must be what the walk from this context finds. */
    struct walk w;
    if (walk_in_place(ucontext, &w, false) != co)
        return COROLINK_EINVAL;
    redirect(co, ucontext, &w, signo, addr, value);
    return 0;
}

int corolink_trap_info(const corolink *co, corolink_trap *out) {
    if (co == NULL || out == NULL)
        return COROLINK_EINVAL;
    if (co->hot.finished != CL_FINISHED_TRAPPED)
        return COROLINK_ENOTRAP;
    out->signo = co->trap_signo;
    out->addr = co->trap_addr;
    out->stack_overflow = co->trap_overflow;
    return 0;
}

/* ---- the handler ---- */

/* Exception codes the processor raises for an instruction (the Linux
 * SIGSEGV and SIGBUS): bad accesses, the stack overflow the system makes
 * of a touch of the PAGE_GUARD page, a PAGE_GUARD page of the program's
 * own, a page that could not be read in, a misaligned access with
 * alignment checks on. Not the arithmetic ones (a division by zero is not
 * SIGSEGV on Linux either), nor anything RaiseException() raises. */
static bool is_fault(DWORD code) {
    switch (code) {
    case EXCEPTION_ACCESS_VIOLATION:
    case EXCEPTION_STACK_OVERFLOW:
    case EXCEPTION_GUARD_PAGE:
    case EXCEPTION_IN_PAGE_ERROR:
    case EXCEPTION_DATATYPE_MISALIGNMENT:
        return true;
    default:
        return false;
    }
}

/* RaiseException() (kernelbase.dll's, and kernel32.dll's if it is not the
 * same): the code of its function, [lo, hi), found at install. An
 * exception raised by it has its address there (the return address of its
 * call of RtlRaiseException()). */
static struct {
    uintptr_t lo, hi;
} raisers[2];

static void note_raiser(int i, const char *dll) {
    HMODULE m = GetModuleHandleA(dll);
    FARPROC f = m ? GetProcAddress(m, "RaiseException") : NULL;
    if (f == NULL)
        return;
    DWORD64 image;
    PRUNTIME_FUNCTION fn =
        RtlLookupFunctionEntry((DWORD64)(uintptr_t)f, &image, NULL);
    if (fn == NULL)
        return;
    raisers[i].lo = (uintptr_t)(image + fn->BeginAddress);
    raisers[i].hi = (uintptr_t)(image + fn->EndAddress);
}

/* Raised by software: marked so by the system, or raised from
 * RaiseException(). (A direct call of RtlRaiseException() with a fault's
 * code, on a system that does not mark it, is taken for a fault.) */
static bool is_software(const EXCEPTION_RECORD *rec) {
    if (rec->ExceptionFlags & EXCEPTION_SOFTWARE_ORIGINATE)
        return true;
    uintptr_t at = (uintptr_t)rec->ExceptionAddress;
    for (int i = 0; i < 2; i++)
        if (at >= raisers[i].lo && at < raisers[i].hi)
            return true;
    return false;
}

static LONG CALLBACK on_exception(EXCEPTION_POINTERS *ep) {
    const EXCEPTION_RECORD *rec = ep->ExceptionRecord;
    if (!is_fault(rec->ExceptionCode) || is_software(rec))
        return EXCEPTION_CONTINUE_SEARCH;
    struct walk w;
    struct corolink *co = walk_in_place(ep->ContextRecord, &w, false);
    if (co == NULL)
        return EXCEPTION_CONTINUE_SEARCH;
    /* The faulting address: the accessed one, which the access faults
     * carry (a stack overflow too, on Windows and wine alike, unless the
     * system found the overflow while pushing the exception frame of
     * another fault: then the stack pointer). A misaligned access has
     * none: NULL. */
    void *addr = NULL;
    if (rec->NumberParameters >= 2)
        addr = (void *)rec->ExceptionInformation[1];
    else if (rec->ExceptionCode == EXCEPTION_STACK_OVERFLOW)
        addr = (void *)(uintptr_t)ep->ContextRecord->Rsp;
    redirect(co, ep->ContextRecord, &w, (int)rec->ExceptionCode, addr, NULL);
    return EXCEPTION_CONTINUE_EXECUTION;
}

/* ---- installing ---- */

static INIT_ONCE install_once = INIT_ONCE_STATIC_INIT;
static int install_rc;

static BOOL CALLBACK install(PINIT_ONCE once, PVOID param, PVOID *ctx) {
    (void)once, (void)param, (void)ctx;
    note_raiser(0, "kernelbase.dll");
    note_raiser(1, "kernel32.dll");
    if (AddVectoredExceptionHandler(1, on_exception) == NULL) {
        install_rc = COROLINK_ENOMEM;
        return TRUE;
    }
    __atomic_store_n(&cl_trap_installed, true, __ATOMIC_RELEASE);
    return TRUE;
}

int corolink_trap_install(void) {
    InitOnceExecuteOnce(&install_once, install, NULL, NULL);
    return install_rc;
}

/* Nothing per thread: the handler runs on the faulting stack, in any
 * thread, once installed. */
void cl_trap_thread_setup(void) { cl_thread.trap_ready = true; }

int corolink_trap_thread_init(void) { return 0; }

#endif
