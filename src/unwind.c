/* Exceptions and forced unwinding across the coroutine boundary.
 *
 * How an exception leaves a body. Two designs were possible:
 *
 *  1. Let the unwinder follow the linked unwind rows of the root frame
 *     (corolink__trampoline) straight into the resumer, as backtraces do.
 *     This fails: the resumer's switch is inline assembly whose `call` has
 *     no entry in the resumer's call-site table (compilers assume inline
 *     asm cannot throw), so the C++ personality calls std::terminate there;
 *     and the coroutine would be left "running" on an abandoned stack.
 *
 *  2. Catch at the root and raise again in the resumer. This is what we do.
 *     The trampoline's FDE names corolink__personality (below), which
 *     claims every exception in the search phase, whatever its language
 *     (C++, a foreign one, a forced unwind of our own). In the cleanup
 *     phase the unwinder runs the body's destructors and cleanup handlers
 *     and then lands in the trampoline (corolink__trampoline_eh), which
 *     records the exception object in the control block, marks the
 *     coroutine finished and returns into the resumer with status 4. The
 *     inline resume sees that status and calls corolink__resume_throw(),
 *     a real call from the resumer's own code, which raises the same
 *     object again with _Unwind_RaiseException(): a new two-phase search
 *     that starts in the resumer. For a C++ exception the object is still
 *     "uncaught" to the C++ runtime throughout (nothing called
 *     __cxa_begin_catch), exactly as while it was in flight, so it arrives
 *     with its type, its value and std::uncaught_exceptions() intact.
 *
 * Forced unwinding (corolink_force_unwind(), corolink_destroy()) resumes a
 * suspended body with the command "unwind"; its suspend then calls
 * corolink__suspend_unwind(), which starts _Unwind_ForcedUnwind() with an
 * exception object of our own class that lives in the control block. Every
 * frame's cleanups run; the trampoline's personality stops it at the root
 * and the coroutine returns to corolink_force_unwind() as finished.
 */
#include "internal.h"

#if COROLINK_UNWIND

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unwind.h>
#if CL_WINDOWS
#include <windows.h>
/* The pending exception is a copy of an SEH exception record, not an
 * _Unwind_Exception, when this bit of the pointer is set. */
#define CL_SEH_TAG ((uintptr_t)1)
#endif

/* Our forced unwind's exception class: "CLNK" "UNWD". */
#if defined(__ARM_EABI_UNWINDER__)
/* ARM EHABI (libgcc's unwind-arm-common.h): the exception object is an
 * _Unwind_Control_Block, its class eight characters, its personality
 * routines take (state, object, context) and unwind their own frame. */
#define _Unwind_Exception _Unwind_Control_Block
static const char cl_unwind_class[8] = {'C', 'L', 'N', 'K', 'U', 'N', 'W', 'D'};
#define CL_IS_UNWIND_CLASS(cls) (memcmp((cls), cl_unwind_class, 8) == 0)
#define CL_SET_UNWIND_CLASS(exc)                                               \
    memcpy((exc)->exception_class, cl_unwind_class, 8)
/* The class as a big-endian number, as on the other targets. */
static uint64_t cl_class_word(const struct _Unwind_Exception *exc) {
    uint64_t w = 0;
    for (int i = 0; i < 8; i++)
        w = w << 8 | (unsigned char)exc->exception_class[i];
    return w;
}
#else
#define CL_UNWIND_CLASS ((_Unwind_Exception_Class)0x434c4e4b554e5744ULL)
#define CL_IS_UNWIND_CLASS(cls) ((cls) == CL_UNWIND_CLASS)
#define CL_SET_UNWIND_CLASS(exc) ((exc)->exception_class = CL_UNWIND_CLASS)
#define cl_class_word(exc) ((uint64_t)(exc)->exception_class)
#endif

/* The landing pad in the trampoline, and what corolink__personality tells
 * it in the second exception-data register. */
extern char corolink__trampoline_eh[] CL_HIDDEN;
enum { CAUGHT_EXCEPTION = 1, CAUGHT_UNWIND = 2, CAUGHT_SEH = 3 };

/* The forced unwind's exception object, in the control block. */
struct unwind_obj {
    struct _Unwind_Exception exc;
    unsigned cxx_uncaught; /* see cxx_uncaught() */
};
_Static_assert(sizeof(struct unwind_obj) <=
                   sizeof(((struct corolink *)0)->unwind_exc),
               "room for the forced-unwind exception object");
_Static_assert(_Alignof(struct unwind_obj) <= 16,
               "alignment of the forced-unwind exception object");

/* The C++ runtime's per-thread exception state (Itanium C++ ABI 2.4.2:
 * __cxa_eh_globals), when the C++ runtime is loaded (weak). A C++
 * `catch (...) { throw; }` that rethrows our forced unwind counts it as a
 * new uncaught exception (__cxa_rethrow), and since no C++ handler ever
 * catches it, nothing counts it back: the root restores the count the
 * thread had when the unwind started, so std::uncaught_exceptions() stays
 * right afterwards. */
struct cxa_eh_globals {
    void *caught_exceptions;
    unsigned int uncaught_exceptions;
};
#if CL_WINDOWS
/* PE has no weak references to another module's symbols: the C++ runtime
 * of the program is out of reach from the DLL. */
static unsigned *cxx_uncaught(void) { return NULL; }
#else
extern struct cxa_eh_globals *__cxa_get_globals(void) __attribute__((weak));
static unsigned *cxx_uncaught(void) {
    return __cxa_get_globals ? &__cxa_get_globals()->uncaught_exceptions
                             : NULL;
}
#endif

static struct corolink *root_coroutine(struct _Unwind_Context *ctx) {
    /* The trampoline runs with the frame pointer = &co->link_fp. */
    return (struct corolink *)(_Unwind_GetGR(ctx, CL_DWARF_FP) -
                               CL_ROOT_FP_OFFSET);
}

#if !defined(__ARM_EABI_UNWINDER__)
/* What the personality routines of corolink__trampoline and
 * corolink__ontop do: catch every exception and this library's forced
 * unwind, and land at `landing` with the exception in the first
 * exception-data register and CAUGHT_* in the second. */
static _Unwind_Reason_Code catch_all(int version, _Unwind_Action actions,
                                     _Unwind_Exception_Class cls,
                                     struct _Unwind_Exception *exc,
                                     struct _Unwind_Context *ctx,
                                     void *landing) {
    if (version != 1)
        return _URC_FATAL_PHASE1_ERROR;
    int kind;
    if (CL_IS_UNWIND_CLASS(cls)) {
        /* Our forced unwind: it stops here. (On Linux it always comes
         * with _UA_FORCE_UNWIND; libgcc's SEH unwinder goes on with a
         * plain cleanup phase after the first cleanup it ran, and has no
         * search phase for it.) */
        if (actions & _UA_SEARCH_PHASE)
            return _URC_HANDLER_FOUND;
        kind = CAUGHT_UNWIND;
    } else if (actions & _UA_FORCE_UNWIND) {
        /* A forced unwind that is not ours (pthread_exit() or
         * pthread_cancel() inside a body: not supported, see the header)
         * goes on into the resumer as before. */
        return _URC_CONTINUE_UNWIND;
    } else if (actions & _UA_SEARCH_PHASE) {
        return _URC_HANDLER_FOUND; /* every exception stops here */
    } else if (actions & _UA_HANDLER_FRAME) {
        kind = CAUGHT_EXCEPTION;
    } else {
        return _URC_CONTINUE_UNWIND;
    }
    _Unwind_SetGR(ctx, __builtin_eh_return_data_regno(0), (_Unwind_Ptr)exc);
    _Unwind_SetGR(ctx, __builtin_eh_return_data_regno(1), (_Unwind_Word)kind);
    _Unwind_SetIP(ctx, (_Unwind_Ptr)landing);
    return _URC_INSTALL_CONTEXT;
}
#endif

#if defined(__ARM_EABI_UNWINDER__)
/* ARM EHABI: what catch_all() does, in the EHABI personality protocol
 * (no handler-frame flag in the cleanup phase: reaching this frame there
 * means it is the handler, since it claims everything in the search;
 * _Unwind_Backtrace() searches with _US_FORCE_UNWIND set and goes on). A
 * routine that lets the unwind go on runs its frame's unwind opcodes
 * (__gnu_unwind_frame(): the EHABI entry of corolink__trampoline or
 * corolink__ontop, which lead to the resumer or the suspended body). */
static void unwind_cleanup(_Unwind_Reason_Code reason,
                           struct _Unwind_Exception *exc);
static _Unwind_Reason_Code catch_all_ehabi(_Unwind_State state,
                                           _Unwind_Control_Block *exc,
                                           struct _Unwind_Context *ctx,
                                           void *landing) {
    int kind;
    switch (state & _US_ACTION_MASK) {
    case _US_VIRTUAL_UNWIND_FRAME:
        if (state & _US_FORCE_UNWIND)
            goto go_on; /* a backtrace */
        return _URC_HANDLER_FOUND; /* every exception stops here */
    case _US_UNWIND_FRAME_STARTING:
        /* Our forced unwind stops here. It is known by its cleanup
         * routine too: one that a C++ `catch (...) { throw; }` rethrew
         * comes back with the class "GNUCFOR" (libstdc++ on ARM). */
        if (CL_IS_UNWIND_CLASS(exc->exception_class) ||
            exc->exception_cleanup == unwind_cleanup)
            kind = CAUGHT_UNWIND;
        else if (state & _US_FORCE_UNWIND)
            goto go_on; /* not ours: goes on into the resumer */
        else
            kind = CAUGHT_EXCEPTION;
        break;
    default:
        goto go_on;
    }
    _Unwind_SetGR(ctx, 0, (_Unwind_Word)(uintptr_t)exc);
    _Unwind_SetGR(ctx, 1, (_Unwind_Word)kind);
    /* An ARM-state label: bit 0 clear. */
    _Unwind_SetGR(ctx, 15, (_Unwind_Word)(uintptr_t)landing);
    return _URC_INSTALL_CONTEXT;
go_on:
    if (__gnu_unwind_frame(exc, ctx) != _URC_OK)
        return _URC_FAILURE;
    return _URC_CONTINUE_UNWIND;
}

CL_HIDDEN _Unwind_Reason_Code
corolink__personality(_Unwind_State state, _Unwind_Control_Block *exc,
                      struct _Unwind_Context *ctx) {
    (void)root_coroutine;
    return catch_all_ehabi(state, exc, ctx, corolink__trampoline_eh);
}

extern char corolink__ontop_eh[] CL_HIDDEN;
CL_HIDDEN _Unwind_Reason_Code
corolink__ontop_personality(_Unwind_State state, _Unwind_Control_Block *exc,
                            struct _Unwind_Context *ctx) {
    return catch_all_ehabi(state, exc, ctx, corolink__ontop_eh);
}
#else
/* The personality routine of corolink__trampoline, the root frame of every
 * coroutine stack. */
CL_HIDDEN _Unwind_Reason_Code
corolink__personality(int version, _Unwind_Action actions,
                      _Unwind_Exception_Class cls,
                      struct _Unwind_Exception *exc,
                      struct _Unwind_Context *ctx) {
    (void)root_coroutine;
    return catch_all(version, actions, cls, exc, ctx, corolink__trampoline_eh);
}

/* The personality routine of corolink__ontop, fn's caller in
 * corolink_resume_with(): the exception, or the forced unwind, is raised
 * again from the body's pending suspend (corolink__ontop_caught(), then
 * corolink__suspend_unwind()), whose call of corolink__suspend_unwind()
 * is a call site of the body's own code: the C++ personality of the
 * body would call std::terminate() for an exception coming out of the
 * switch-out, which no call-site table lists. */
extern char corolink__ontop_eh[] CL_HIDDEN;
CL_HIDDEN _Unwind_Reason_Code
corolink__ontop_personality(int version, _Unwind_Action actions,
                            _Unwind_Exception_Class cls,
                            struct _Unwind_Exception *exc,
                            struct _Unwind_Context *ctx) {
    return catch_all(version, actions, cls, exc, ctx, corolink__ontop_eh);
}
#endif

/* Called by corolink__ontop's landing pad (a suspended body's case): what
 * the body's pending suspend is to raise when it calls
 * corolink__suspend_unwind(). */
CL_HIDDEN void corolink__ontop_caught(struct corolink *co,
                                      struct _Unwind_Exception *exc,
                                      int kind);
void corolink__ontop_caught(struct corolink *co, struct _Unwind_Exception *exc,
                            int kind) {
    if (kind == CAUGHT_UNWIND)
        co->hot.flags |= CL_FLAG_REUNWIND; /* unwind on */
    else
        co->pending = exc;
}

#if CL_WINDOWS
/* libgcc's bridge from SEH dispatch to an Itanium personality routine
 * (unwind-seh.c): what __gxx_personality_seh0 calls with the C++ one. */
EXCEPTION_DISPOSITION _GCC_specific_handler(PEXCEPTION_RECORD, void *,
                                            PCONTEXT, PDISPATCHER_CONTEXT,
                                            _Unwind_Personality_Fn);

/* libgcc's exception codes: STATUS_USER_DEFINED (bit 29) | type << 24 |
 * "GCC" (throw, unwind, forced unwind: types 0-2). */
static bool gcc_code(DWORD code) {
    return (code & ~(DWORD)0x0f000000) == ((1u << 29) | 0x474343u);
}

/* Catches, at the frame `frame`, every exception dispatched through it:
 * exceptions of libgcc's unwinder (C++, and our forced unwind) go to the
 * Itanium personality `per` through _GCC_specific_handler, which runs the
 * same two phases as on Linux on top of SEH dispatch; any other SEH
 * exception (an access violation without traps installed,
 * RaiseException()) is caught as well: the stack is unwound to `landing`
 * with a tagged copy of its record in rax and CAUGHT_SEH in rdx. */
static EXCEPTION_DISPOSITION seh_catch(PEXCEPTION_RECORD rec, void *frame,
                                       PCONTEXT ctx, PDISPATCHER_CONTEXT disp,
                                       _Unwind_Personality_Fn per,
                                       void *landing) {
    if (gcc_code(rec->ExceptionCode))
        return _GCC_specific_handler(rec, frame, ctx, disp, per);
    if (rec->ExceptionFlags & EXCEPTION_TARGET_UNWIND) {
        /* Our own unwind below reached this frame: the landing pad's
         * second register. */
        disp->ContextRecord->Rdx = CAUGHT_SEH;
        return ExceptionContinueSearch;
    }
    if (rec->ExceptionFlags & (EXCEPTION_UNWINDING | EXCEPTION_EXIT_UNWIND))
        return ExceptionContinueSearch;
    EXCEPTION_RECORD *copy = malloc(sizeof *copy);
    if (copy == NULL)
        return ExceptionContinueSearch; /* no memory: as without us */
    *copy = *rec;
    copy->ExceptionRecord = NULL;
    RtlUnwindEx(frame, landing, rec, (void *)((uintptr_t)copy | CL_SEH_TAG),
                ctx, disp->HistoryTable);
    abort(); /* RtlUnwindEx() does not return */
}

/* Defines `name`, the language-specific handler (named by an SEH record
 * of unwind-info/x86_64_win64_pe.S) of a frame that catches everything
 * with seh_catch(). */
#define CL_SEH_CATCH_HANDLER(attr, name, per, landing)                         \
    attr EXCEPTION_DISPOSITION name(PEXCEPTION_RECORD rec, void *frame,        \
                                    PCONTEXT ctx, PDISPATCHER_CONTEXT disp);   \
    EXCEPTION_DISPOSITION name(PEXCEPTION_RECORD rec, void *frame,             \
                               PCONTEXT ctx, PDISPATCHER_CONTEXT disp) {       \
        return seh_catch(rec, frame, ctx, disp, per, landing);                 \
    }

/* corolink__trampoline's: the root of every coroutine stack catches
 * everything that leaves the body. */
CL_SEH_CATCH_HANDLER(CL_EXPORTED, corolink__seh_handler, corolink__personality,
                     corolink__trampoline_eh)

/* corolink__call_on's: whatever leaves fn is caught (a forced unwind
 * cannot start there: fn cannot suspend) and lands in
 * corolink__call_on_eh, which raises it again on the caller's stack. */
extern char corolink__call_on_eh[];
static _Unwind_Reason_Code
call_on_personality(int version, _Unwind_Action actions,
                    _Unwind_Exception_Class cls,
                    struct _Unwind_Exception *exc,
                    struct _Unwind_Context *ctx) {
    (void)cls;
    if (version != 1)
        return _URC_FATAL_PHASE1_ERROR;
    if (actions & _UA_SEARCH_PHASE)
        return _URC_HANDLER_FOUND;
    if (!(actions & _UA_HANDLER_FRAME))
        return _URC_CONTINUE_UNWIND;
    _Unwind_SetGR(ctx, __builtin_eh_return_data_regno(0), (_Unwind_Ptr)exc);
    _Unwind_SetGR(ctx, __builtin_eh_return_data_regno(1), CAUGHT_EXCEPTION);
    _Unwind_SetIP(ctx, (_Unwind_Ptr)corolink__call_on_eh);
    return _URC_INSTALL_CONTEXT;
}

CL_SEH_CATCH_HANDLER(CL_EXPORTED, corolink__call_on_seh_handler,
                     call_on_personality, corolink__call_on_eh)

CL_EXPORTED __attribute__((noreturn)) void
corolink__call_on_rethrow(struct _Unwind_Exception *exc, int kind);

/* corolink__ontop's (fn's caller in corolink_resume_with()): whatever
 * leaves fn, C++, SEH or co's forced unwind, lands in corolink__ontop_eh
 * (an SEH exception as a tagged copy of its record, which
 * corolink__ontop_caught() keeps and raise_again() raises again from the
 * body's pending suspend). */
CL_SEH_CATCH_HANDLER(CL_HIDDEN, corolink__ontop_seh_handler,
                     corolink__ontop_personality, corolink__ontop_eh)
#endif

/* Called by the landing pad on the coroutine's (now empty) stack: records
 * how the coroutine finished; returns the status for its resumer. */
CL_HIDDEN int corolink__caught(struct corolink *co,
                               struct _Unwind_Exception *exc, int kind) {
    if (kind == CAUGHT_UNWIND) {
        unsigned *uncaught = cxx_uncaught();
        if (uncaught)
            *uncaught = ((struct unwind_obj *)co->unwind_exc)->cxx_uncaught;
        co->hot.finished = CL_FINISHED_UNWOUND;
        return COROLINK_RETURN;
    }
    /* kind CAUGHT_SEH (Windows): exc is a tagged copy of the exception
     * record (see corolink__seh_handler()). */
    co->pending = exc;
    co->hot.finished = CL_FINISHED_THREW;
    return CL_STATUS_THROW;
}

/* What a C++ program does with an exception nobody catches (as
 * __cxa_throw does when the search fails): take it as the current
 * exception and call std::terminate(), whose default handler prints
 * "terminate called after throwing an instance of ...". Weak: present
 * only when the C++ runtime is loaded. */
#if CL_WINDOWS
#define __cxa_begin_catch ((void *(*)(void *))NULL)
#define _ZSt9terminatev ((void (*)(void))NULL)
#else
extern void *__cxa_begin_catch(void *) __attribute__((weak));
extern void _ZSt9terminatev(void) __attribute__((weak, noreturn));
#endif

/* Raises `exc` again from the caller's frame; never returns. id and name
 * name the coroutine it came from, for the message when nothing catches
 * it. */
static __attribute__((noreturn, noinline)) void
raise_again(struct _Unwind_Exception *exc, uint64_t id, const char *name) {
#if CL_WINDOWS
    if ((uintptr_t)exc & CL_SEH_TAG) {
        /* An SEH exception (an access violation, RaiseException()) that
         * left the body: raised again, with its code, flags and
         * parameters, from the resumer's frame. */
        EXCEPTION_RECORD rec = *(EXCEPTION_RECORD *)((uintptr_t)exc &
                                                     ~CL_SEH_TAG);
        free((void *)((uintptr_t)exc & ~CL_SEH_TAG));
        RaiseException(rec.ExceptionCode,
                       rec.ExceptionFlags & EXCEPTION_NONCONTINUABLE,
                       rec.NumberParameters, rec.ExceptionInformation);
        fprintf(stderr,
                "corolink: fatal: SEH exception 0x%08lx left coroutine %llu "
                "\"%s\" and was not handled\n",
                (unsigned long)rec.ExceptionCode, (unsigned long long)id,
                name);
        abort();
    }
#endif
    /* The frames this exception leaves on the resumer's stack never
     * return: tell ASan, as __cxa_throw does for the body's. */
    cl_tools_no_return();
    _Unwind_RaiseException(exc);
    /* Nobody above catches it: end as the exception's language would. */
    if ((cl_class_word(exc) >> 8) == 0x474e5543432b2bULL /* "GNUCC++" */ &&
        __cxa_begin_catch && _ZSt9terminatev) {
        __cxa_begin_catch(exc);
        _ZSt9terminatev(); /* std::terminate() */
    }
    char cls[9];
    for (int i = 0; i < 8; i++) /* the class reads as big-endian text */
        cls[i] = (char)(cl_class_word(exc) >> (56 - 8 * i));
    cls[8] = '\0';
    fprintf(stderr,
            "corolink: fatal: uncaught exception (class \"%.8s\") left "
            "coroutine %llu \"%s\"\n",
            cls, (unsigned long long)id, name);
    abort();
}

void corolink__resume_throw(corolink *co) {
    struct _Unwind_Exception *exc = co->pending;
    co->pending = NULL;
    if (exc == NULL)
        cl_fatal(co, "the switch reported an exception but none is pending "
                     "for");
    raise_again(exc, co->hot.id, co->name);
}

#if CL_WINDOWS
/* corolink__call_on_eh: an exception that left fn of corolink_on_stack()
 * or corolink_on_parent_stack(), raised again on the caller's stack. */
void corolink__call_on_rethrow(struct _Unwind_Exception *exc, int kind) {
    (void)kind; /* an SEH exception's copy is tagged */
    raise_again(exc, 0, "(fn of corolink_on_stack/on_parent_stack)");
}
#endif

static void unwind_cleanup(_Unwind_Reason_Code reason,
                           struct _Unwind_Exception *exc) {
    /* The object lives in the control block: nothing to free. A C++
     * `catch (...)` that swallowed the forced unwind ends up here. */
    (void)reason, (void)exc;
}

static _Unwind_Reason_Code unwind_stop(int version, _Unwind_Action actions,
                                       _Unwind_Exception_Class cls,
                                       struct _Unwind_Exception *exc,
                                       struct _Unwind_Context *ctx,
                                       void *param) {
    (void)version, (void)cls, (void)exc, (void)ctx;
    if (actions & _UA_END_OF_STACK) {
        /* The root frame always stops it; getting here means the body's
         * stack was not reachable by the unwinder (code without unwind
         * tables). */
        const struct corolink *co = param;
        fprintf(stderr,
                "corolink: fatal: forced unwind of coroutine %llu \"%s\" "
                "missed its root frame (code without unwind tables?)\n",
                (unsigned long long)co->hot.id, co->name);
        abort();
    }
    return _URC_NO_REASON;
}

void corolink__suspend_unwind(corolink_yielder *yielder) {
    struct corolink *co = (struct corolink *)yielder;
    if (co->pending != NULL) {
        /* An exception that left fn of corolink_resume_with() (caught by
         * corolink__ontop): raised again from the body's suspend. The root
         * frame catches whatever the body does not. */
        struct _Unwind_Exception *exc = co->pending;
        co->pending = NULL;
        raise_again(exc, co->hot.id, co->name);
    }
    struct unwind_obj *obj = (struct unwind_obj *)co->unwind_exc;
    unsigned *uncaught = cxx_uncaught();
    unsigned count = uncaught ? *uncaught : 0;
    if (co->hot.flags & CL_FLAG_REUNWIND) {
        /* The same forced unwind, stopped at a corolink__ontop frame: it
         * goes on from here, with the count it started with. */
        co->hot.flags &= ~(uint32_t)CL_FLAG_REUNWIND;
        count = obj->cxx_uncaught;
    }
    memset(obj, 0, sizeof *obj);
    CL_SET_UNWIND_CLASS(&obj->exc);
    obj->exc.exception_cleanup = unwind_cleanup;
    obj->cxx_uncaught = count;
    _Unwind_ForcedUnwind(&obj->exc, unwind_stop, co);
    fprintf(stderr,
            "corolink: fatal: could not start a forced unwind of coroutine "
            "%llu \"%s\"\n",
            (unsigned long long)co->hot.id, co->name);
    abort();
}

/* Unwinds a suspended coroutine; returns the exception that a body threw
 * while being unwound (the coroutine is finished then), or NULL. */
static struct _Unwind_Exception *unwind_suspended(struct corolink *co) {
    for (;;) {
        void *value;
        int st = cl_enter(co, NULL, CL_CMD_UNWIND, &value);
        if (st == COROLINK_YIELD)
            continue; /* swallowed and suspended again: unwind again */
        if (st == CL_STATUS_THROW) {
            struct _Unwind_Exception *exc = co->pending;
            co->pending = NULL;
            return exc;
        }
        return NULL; /* unwound, returned, or trapped: finished */
    }
}

/* corolink_force_unwind() of a suspended coroutine. */
static int force_unwind_suspended(struct corolink *co) {
    struct _Unwind_Exception *exc = unwind_suspended(co);
    if (exc != NULL)
        raise_again(exc, co->hot.id, co->name);
    return 0;
}

void *cl_destroy_unwind(struct corolink *co) { return unwind_suspended(co); }

void cl_raise(void *exc, uint64_t id, const char *name) {
    raise_again(exc, id, name);
}

#else /* !COROLINK_UNWIND: no unwinder (and maybe no C library) */

/* The switch never reports an exception or sends the unwind command in
 * this build (nothing catches at the root, corolink_force_unwind() does
 * not unwind), so these are unreachable from correct programs. */
void corolink__resume_throw(corolink *co) {
    cl_fatal(co, "exception reported by the switch in a COROLINK_UNWIND=OFF "
                 "build for");
}
void corolink__suspend_unwind(corolink_yielder *yielder) {
    cl_fatal((struct corolink *)yielder,
             "unwind command in a COROLINK_UNWIND=OFF build for");
}

static int force_unwind_suspended(struct corolink *co) {
    (void)co;
    return COROLINK_ENOTSUP; /* nothing happens */
}

void *cl_destroy_unwind(struct corolink *co) {
    cl_fatal(co, "corolink_destroy() cannot unwind (built with "
                 "COROLINK_UNWIND=OFF; call corolink_force_reset() first to "
                 "free it without unwinding) suspended");
    return NULL;
}

void cl_raise(void *exc, uint64_t id, const char *name) {
    (void)exc, (void)id, (void)name;
    cl_fatal(NULL, "exception raised in a COROLINK_UNWIND=OFF build");
}

#endif

int corolink_force_unwind(corolink *co) {
    if (co == NULL)
        return COROLINK_EINVAL;
    if (co->hot.finished)
        return 0;
    if (co->hot.pc == NULL)
        return COROLINK_ERUNNING;
    if (co->hot.pc == (void *)corolink__trampoline) {
        co->hot.finished = CL_FINISHED_UNWOUND; /* never ran: nothing to do */
        co->hot.pc = NULL;
        return 0;
    }
    return force_unwind_suspended(co);
}
