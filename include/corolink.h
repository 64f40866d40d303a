/*
 * corolink.h - stackful coroutines whose stacks stay visible to debuggers
 * and profilers.
 *
 * This header is the whole public API and its manual. Every function is
 * documented where it is declared.
 *
 * ----------------------------------------------------------------------------
 * Overview
 * ----------------------------------------------------------------------------
 * A coroutine is a function (its "body") that runs on a stack of its own and
 * can be paused and resumed. The body may pause (suspend) from any depth of
 * its call stack; each suspension hands a value to whoever resumed it, and
 * each resume hands a new value in:
 *
 *     static void *body(corolink_yielder *y, void *input, void *arg) {
 *         for (intptr_t i = 0; i < 5; i++) {
 *             input = corolink_suspend(y, (void *)i);   // yield i, get input
 *         }
 *         return NULL;                                  // finished
 *     }
 *
 *     corolink *co;
 *     if (corolink_create(&co, body, NULL, 0) != 0) abort();
 *     void *out;
 *     while (corolink_resume(co, (void *)100, &out) == COROLINK_YIELD)
 *         printf("got %ld\n", (long)(intptr_t)out);
 *     corolink_destroy(co);
 *
 * Values: the first corolink_resume() passes its `input` as the body's
 * `input` parameter; every later resume's `input` is what the pending
 * corolink_suspend() returns. corolink_suspend()'s `value` comes out of the
 * resume as `*output` with COROLINK_YIELD; the body's return value comes
 * out with COROLINK_RETURN, after which the coroutine is finished.
 *
 * Nesting: a coroutine may create and resume others. corolink_suspend()
 * always returns control to whoever resumed the coroutine last.
 *
 * Backtraces: the root frame of every coroutine stack carries unwind
 * information that leads unwinders (gdb, glibc backtrace(), libgcc
 * _Unwind_Backtrace, libunwind, libdw) and frame-pointer walkers (perf
 * --call-graph fp) from the coroutine into the frame that resumed it. In
 * gdb the boundary shows as `<signal handler called>`: the root frame is
 * described as a signal frame so that gdb accepts a caller that lives on
 * another stack.
 *
 * ----------------------------------------------------------------------------
 * Threads
 * ----------------------------------------------------------------------------
 * A coroutine may be resumed from any thread, including one other than the
 * thread that created it, but never by two threads at once: the caller must
 * serialise resumes of one coroutine (a mutex, a queue handoff, a join). A
 * coroutine that suspends on thread A and is resumed on thread B continues
 * its body on B.
 *
 * Thread-local variables: after such a migration, `__thread`/`thread_local`
 * variables named in the body refer to thread B's copies - but compilers
 * compute the address of a thread-local variable once per function and may
 * reuse it across a call to corolink_suspend(), so a body that migrates can
 * keep using thread A's copy. The same holds for functions the compiler
 * treats as constant within a function, such as pthread_self() (and so
 * std::this_thread::get_id()). Bodies that migrate between threads must not
 * hold pointers to thread-local data across a suspend, and should reach
 * thread-local data through a non-inlined function called after the
 * suspend. The switch itself keeps no per-thread state, so corolink is
 * unaffected.
 *
 * Each thread has its own stack pool (see corolink_create()); a stack freed
 * on another thread than the one that allocated it goes to the freeing
 * thread's pool.
 *
 * ----------------------------------------------------------------------------
 * What a switch carries over
 * ----------------------------------------------------------------------------
 * A switch preserves, for both sides, what the target's ABI makes
 * callee-saved: on x86-64 (System V) rsp, rbp, rbx, r12-r15; on AArch64
 * (AAPCS64) sp, x19-x29 and d8-d15; on i686 (System V i386) esp, ebp,
 * ebx, esi, edi (the compiler saves the live ones around the inline
 * switch). It does not switch the floating-point control
 * state (x86-64 and i686: the MXCSR rounding mode and exception masks, the
 * x87 control word; AArch64: FPCR): like a function call that changes them, a
 * coroutine that changes them changes them for its resumer too. Restore
 * them before suspending if you change them.
 *
 * ----------------------------------------------------------------------------
 * Exceptions (builds with COROLINK_UNWIND=ON, the default)
 * ----------------------------------------------------------------------------
 * A C++ exception (or any exception of the Itanium unwinding ABI: Rust
 * panics, Ada, ...) thrown in a body at any depth and not caught there
 * finishes the coroutine and propagates out of the corolink_resume() that
 * resumed it: the same exception object, catchable by type in the resumer.
 * Across nested coroutines it crosses each boundary in turn, finishing each
 * coroutine. An exception thrown by fn of corolink_on_parent_stack()
 * propagates into the body at that call, and one thrown by fn of
 * corolink_on_stack() to its caller.
 *
 *     try {
 *         corolink_resume(co, nullptr, &out);  // the body throws
 *     } catch (const std::runtime_error &e) {  // caught here;
 *         assert(corolink_done(co));           // co is finished
 *     }
 *
 * C code in between (resumers or bodies) needs unwind tables, which
 * x86-64 compilers emit by default, and -fexceptions for its cleanup
 * handlers to run. corolink_destroy() of a suspended coroutine unwinds its
 * stack: see corolink_force_unwind().
 *
 * The C++ runtime's per-thread exception state (the stack of exceptions
 * being handled, std::uncaught_exceptions()) is not switched with
 * coroutines: a body must not suspend inside a catch block.
 *
 * Builds with COROLINK_UNWIND=OFF have no unwinder support: an exception
 * must not leave a body (the C++ runtime calls std::terminate), and
 * destroying a suspended coroutine aborts unless corolink_force_reset() was
 * called first.
 *
 * ----------------------------------------------------------------------------
 * Probes
 * ----------------------------------------------------------------------------
 * Builds with COROLINK_PROBES=ON (the default where <sys/sdt.h> is found;
 * not the freestanding build) carry USDT probes of provider `corolink` in
 * libcorolink, for perf, bpftrace and systemtap (see perf/README.md). All
 * arguments are 64-bit unsigned integers except the signal (32-bit):
 *
 *   create  (id, entry fn, stack base, stack size)  after a create; base is
 *           the highest address of the stack's region (the control block
 *           included), size its usable size as created
 *   resume  (from id, to id)  before a resume enters `to`; `from` is the
 *           coroutine the resumer runs on, 0 for the thread's own stack
 *   suspend (id)              before a suspend leaves the coroutine
 *   return  (id)              as a finished coroutine returns into its
 *           resumer: the body returned, or an exception or a forced unwind
 *           left it
 *   destroy (id)              in corolink_destroy(), before the stack is
 *           freed (after the unwind of a suspended coroutine)
 *   trap    (id, signal, address)  a fault finished the coroutine (see
 *           "Traps"; fired in the signal handler)
 *   name    (id, w0, w1, w2, w3)  corolink_set_name(): the name's
 *           COROLINK_NAME_MAX bytes as four little-endian 64-bit words
 *           (NUL-terminated; bytes after the NUL mean nothing)
 *
 * A failing resume fires nothing. corolink_force_unwind() (and so
 * corolink_destroy() of a suspended coroutine) fires resume and return.
 *
 * Every probe has a semaphore that tracers increment while they have it
 * enabled. Disabled, a probe costs its semaphore test: a load and a
 * predicted branch in the inline resume (which then hands the resume to
 * the library, see corolink__resume_traced() below; the suspend probe
 * fires there, on the resumer's side, and the body's suspend tests
 * nothing), in the trampoline and in create and destroy (bench/README.md).
 * Enabled, an event costs a uprobe trap (microseconds).
 *
 * `from`: the switch keeps no record of the coroutine running on a thread.
 * While the resume, suspend, return or trap probe is enabled the library
 * keeps one per thread (the coroutines it saw resumed there, with their
 * stacks), so `from` is exact for resumers that were themselves resumed
 * while tracing; it is 0 for the thread's own stack and also for a
 * resumer resumed before tracing started (never another coroutine's id).
 * Inside fn of corolink_on_parent_stack() (which runs on the resumer's
 * stack) a resume reports the coroutine whose stack fn runs on.
 *
 * ----------------------------------------------------------------------------
 * Sanitizers and valgrind
 * ----------------------------------------------------------------------------
 * Nothing to configure. AddressSanitizer, ThreadSanitizer and valgrind are
 * told about every stack switch whenever their runtime is in the process,
 * whether the library, the program or both are instrumented: the library
 * references the sanitizers' fiber interfaces weakly and asks valgrind
 * (RUNNING_ON_VALGRIND) when it is loaded. If one is there, every resume
 * (the inline one included) goes through the library, where:
 *  - ASan: __sanitizer_start_switch_fiber()/__sanitizer_finish_switch_fiber()
 *    on each transfer, a fake stack kept per coroutine (for
 *    detect_stack_use_after_return), and a stack unpoisoned before a body
 *    starts on it and when it is given back (frames that never returned,
 *    after a reset, a trap, a forced unwind or a throw, leave poison);
 *    corolink_on_stack()/corolink_on_parent_stack() switch too;
 *  - TSan: one fiber per coroutine (__tsan_create_fiber() at its first
 *    resume, __tsan_switch_to_fiber() on each transfer, which orders what
 *    each side did before it, __tsan_destroy_fiber() at destroy). gcc 12's
 *    runtime (libtsan2) counts fibers as threads and dies beyond 8128 live
 *    ones ("Thread limit (8128 threads) exceeded"); clang's runtime (14
 *    here) was tested with 100,000 suspended coroutines. Both report
 *    races between coroutines running at the same time on two threads,
 *    but may miss one against an access of a coroutine that has been
 *    suspended since (TSan's fibers: about one case in four here);
 *  - valgrind: every coroutine stack (the library's, pooled, or given to
 *    corolink_create_on()) registered from its first resume to its
 *    destroy (VALGRIND_STACK_REGISTER), stacks of corolink_on_stack()
 *    while fn runs. Needs <valgrind/valgrind.h> when the library is built
 *    (Debian: valgrind); without it there is no valgrind support.
 * Translation units built with COROLINK_NO_PROBES skip the test that sends
 * their inline resumes to the library: the tools do not see those.
 * COROLINK_TOOLS=0 in the environment turns all of this off. Sanitizer
 * builds take the out-of-line switch (below), which checks its yielder.
 *
 * ----------------------------------------------------------------------------
 * Misuse
 * ----------------------------------------------------------------------------
 * Mistakes the library can see are reported, never turned into silent
 * corruption: a function that can return an error returns one (resuming a
 * finished coroutine: COROLINK_EDONE; a destroyed one still in the pool,
 * or a pointer that is no control block: COROLINK_EINVAL; a guard larger
 * than its stack: COROLINK_ESTACK); the others print one line naming the
 * coroutine ("corolink: fatal: ...") and abort: corolink_destroy() called
 * twice, or on what is no control block; corolink_on_parent_stack() with a
 * NULL yielder or one that is not the innermost running coroutine's; the
 * out-of-line corolink_suspend() with such a yielder. The checks sit on
 * the slow paths: the inline switch trusts its caller (a NULL yielder
 * faults at address 0; another coroutine's yielder is undefined
 * behaviour), and corolink_destroy() checks only what does not look like
 * a finished or never-started coroutine. Not detectable: a block used after
 * its stack was unmapped (pool full or trimmed, a freed user stack), or
 * destroyed again after a create reused it.
 *
 * ----------------------------------------------------------------------------
 * Inline fast paths and the ABI they freeze
 * ----------------------------------------------------------------------------
 * corolink_resume() and corolink_suspend() are defined in this header as
 * always-inline functions (GNU C `extern inline` semantics; the library
 * also exports real functions of the same names). The switch is a few
 * instructions of inline assembly in the caller, which declares every
 * register except the stack and frame pointers (x86-64: rsp, rbp; AArch64:
 * sp, x29) clobbered: the compiler saves only what is live, and one call
 * (resume: `call` / `blr`) pairs with one `ret` (suspend) so that the
 * return-stack predictor stays balanced. Each target's layout and protocol
 * are in its header, included at the end of this one
 * (corolink/x86_64_sysv_elf.h, corolink/aarch64_aapcs_elf.h), and in
 * unwind-info/README.md.
 *
 * Inlining freezes two things into the caller's object code: the layout of
 * `struct corolink__hot` below and the register protocol of the switch
 * (documented in unwind-info/README.md). Both are versioned together as
 * COROLINK_ABI_VERSION, which is also the major version of the shared
 * library's SONAME (libcorolink.so.COROLINK_ABI_VERSION); a change to either
 * bumps it.
 *
 * Define COROLINK_NO_INLINE before including this header to call the
 * out-of-line functions instead (assembly speaking the same protocol; 83
 * instructions a round trip against 38, about 3x the time of the inline
 * switch on the bench machine: they save and restore the callee-saved
 * registers). Sanitizer builds
 * (-fsanitize=address/thread) take the out-of-line path automatically.
 */
#ifndef COROLINK_H
#define COROLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#if defined(__STDC_HOSTED__) && __STDC_HOSTED__
#include <stdio.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Library version, and the ABI version frozen into code that inlines the
 * switch (also the shared library's SONAME major number). */
#define COROLINK_VERSION_MAJOR 2
#define COROLINK_VERSION_MINOR 0
#define COROLINK_VERSION_PATCH 0
#define COROLINK_ABI_VERSION 2

/* Windows: the DLL exports what is marked; programs import through the
 * import library (mingw-w64's linker resolves both DLL and static links
 * without dllimport). */
#if defined(_WIN32) && defined(COROLINK__BUILDING)
#define COROLINK_API __declspec(dllexport)
#elif defined(_WIN32)
#define COROLINK_API
#elif defined(__GNUC__)
#define COROLINK_API __attribute__((visibility("default")))
#else
#define COROLINK_API
#endif

/* Calls into the library from the inline fast paths go through the GOT
 * rather than the PLT (GCC only: clang has no `noplt` attribute). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define COROLINK__NOPLT __attribute__((noplt))
#else
#define COROLINK__NOPLT
#endif

/* ------------------------------------------------------------------------ */
/* Status and error codes                                                   */
/* ------------------------------------------------------------------------ */

/* Successful results of corolink_resume(). */
#define COROLINK_YIELD 1  /* the body called corolink_suspend() */
#define COROLINK_RETURN 2 /* the body returned; the coroutine is finished */
#define COROLINK_TRAP 3   /* the body faulted (see "Traps"); it is finished */

/* Errors: every function that can fail returns 0 (or a status above) on
 * success and one of these negative codes on failure. A failed call changes
 * nothing. corolink_strerror() names them. */
#define COROLINK_EINVAL (-1)   /* a required argument is NULL or invalid */
#define COROLINK_ENOMEM (-2)   /* no memory (mmap or malloc failed) */
#define COROLINK_EDONE (-3)    /* the coroutine has finished */
#define COROLINK_ERUNNING (-4) /* the coroutine is running (resumed twice) */
#define COROLINK_ESTACK (-5)   /* the stack is too small or malformed */
#define COROLINK_ENOTSUP (-6)  /* not available in this build */
#define COROLINK_ENOTRAP (-7)  /* the coroutine did not finish by a trap */

/* Returns a static, human-readable description of a status or error code
 * ("invalid argument", ...). Unknown codes give "unknown corolink error". */
COROLINK_API const char *corolink_strerror(int code);

/* ------------------------------------------------------------------------ */
/* Types                                                                    */
/* ------------------------------------------------------------------------ */

/* A coroutine. Opaque: use the functions below. */
typedef struct corolink corolink;

/* Handed to the body; the body passes it to corolink_suspend() and
 * corolink_on_parent_stack(). Valid only on the coroutine's own stack, while
 * the coroutine runs. */
typedef struct corolink_yielder corolink_yielder;

/* A coroutine body. `input` is the first resume's input, `arg` the argument
 * given at creation. The return value finishes the coroutine and comes out
 * of the final corolink_resume() as `*output`. */
typedef void *(*corolink_fn)(corolink_yielder *yielder, void *input,
                             void *arg);

/* A stack: usable memory is [limit, base), growing down from base. `guard`
 * is the size of the inaccessible (PROT_NONE) region directly below
 * `limit`, 0 if there is none (for a stack of corolink_create(), the guard
 * region, inaccessible or watched: see corolink_stack_mode()). A stack
 * made by corolink_stack_alloc() is one mapping [limit - guard, base). */
typedef struct corolink_stack {
    void *base;   /* highest address, exclusive; the stack grows down from it */
    void *limit;  /* lowest usable address */
    size_t guard; /* bytes of guard region below limit (0: no guard) */
} corolink_stack;

/* Default stack size of corolink_create(co, fn, arg, 0), and the smallest
 * size corolink_create()/corolink_stack_alloc() accept (smaller requests
 * are refused with COROLINK_ESTACK; sizes are rounded up to whole pages).
 * The minimum leaves room for the coroutine's control block (stored at the
 * top of its stack), a signal frame, and some calls. */
#define COROLINK_STACK_DEFAULT_SIZE ((size_t)256 * 1024)
#define COROLINK_STACK_MIN_SIZE ((size_t)16 * 1024)

/* Bytes at the top of every coroutine stack taken by the coroutine's
 * control block (the rest is the body's). corolink_create_on() needs at
 * least this plus COROLINK_STACK_MIN_USABLE bytes. */
#define COROLINK_CONTROL_SIZE ((size_t)512)
#define COROLINK_STACK_MIN_USABLE ((size_t)4096)

/* ------------------------------------------------------------------------ */
/* Creating and destroying                                                  */
/* ------------------------------------------------------------------------ */

/* Creates a coroutine running `fn(yielder, input, arg)` on a fresh stack of
 * `stack_size` bytes (0: COROLINK_STACK_DEFAULT_SIZE; rounded up to pages),
 * with a guard region below it: an inaccessible guard page, so that an
 * overflow faults instead of corrupting memory, or on Linux, past the
 * kernel's map-count budget, a watched zone (see corolink_stack_mode(),
 * which says how a million coroutines fit). The body does not run until
 * the first corolink_resume().
 *
 * Stacks come from a per-thread pool: corolink_destroy() returns the stack
 * to the pool and the next create of the same size reuses it, so a
 * create/destroy cycle costs no system call. See corolink_pool_trim().
 *
 * Returns 0 and stores the coroutine in *out, or COROLINK_EINVAL (out or fn
 * NULL), COROLINK_ESTACK (stack_size below COROLINK_STACK_MIN_SIZE),
 * COROLINK_ENOMEM, or COROLINK_ENOTSUP (built without default stacks). */
COROLINK_API COROLINK__NOPLT int corolink_create(corolink **out,
                                                 corolink_fn fn, void *arg,
                                                 size_t stack_size);

/* Creates a coroutine on a stack the caller provides. The coroutine's
 * control block is placed at the top of the stack (COROLINK_CONTROL_SIZE
 * bytes below stack->base); the body gets the rest. The stack must stay
 * valid, and must not be used for anything else, until corolink_destroy();
 * corolink_destroy() does not free it. `*stack` itself is copied.
 *
 * Returns 0, or COROLINK_EINVAL (a NULL argument, base <= limit) or
 * COROLINK_ESTACK (fewer than COROLINK_CONTROL_SIZE +
 * COROLINK_STACK_MIN_USABLE bytes, or a guard larger than the stack or
 * than limit's address). */
COROLINK_API COROLINK__NOPLT int corolink_create_on(corolink **out,
                                                    const corolink_stack *stack,
                                                    corolink_fn fn, void *arg);

/* Destroys a coroutine that is not running and releases its stack (to the
 * pool, or nothing for a caller-provided stack). NULL is ignored.
 *
 * A created coroutine that never ran, or a finished one, is just freed:
 * nothing of its body runs. A suspended coroutine is first unwound with
 * corolink_force_unwind(): C++ destructors and C cleanup handlers of the
 * frames on its stack run, innermost first, then the stack is freed. If
 * the body throws a new exception while it is unwound, the stack is freed
 * and the exception then propagates out of corolink_destroy().
 *
 * Builds with COROLINK_UNWIND=OFF cannot unwind: destroying a suspended
 * coroutine there prints a message naming the coroutine (id and name) and
 * aborts, unless corolink_force_reset() was called on it first (then its
 * stack is freed without running anything on it: whatever lives there is
 * leaked).
 *
 * Destroying a running coroutine (from inside itself, or one that is
 * resuming another) is a fatal error: the process prints a message naming
 * the coroutine and aborts, since it cannot continue on a freed stack.
 * So is destroying a coroutine twice, or a pointer that is no coroutine
 * (see "Misuse"). */
COROLINK_API COROLINK__NOPLT void corolink_destroy(corolink *co);

/* Marks a created or suspended coroutine as finished without running or
 * unwinding anything on its stack (whatever lives there is leaked), so that
 * a later resume returns COROLINK_EDONE and corolink_destroy() frees it
 * without unwinding. Returns 0, COROLINK_EINVAL (NULL), or
 * COROLINK_ERUNNING (the coroutine is running); a finished coroutine stays
 * finished (0). */
COROLINK_API int corolink_force_reset(corolink *co);

/* Unwinds a suspended coroutine's stack without freeing it: resumes it so
 * that its pending corolink_suspend() raises a forced unwind (the Itanium
 * ABI's _Unwind_ForcedUnwind, as pthread_cancel uses), which runs the C++
 * destructors and the C `__attribute__((cleanup))` handlers (code built
 * with -fexceptions) of every frame on the stack, innermost first. The
 * coroutine is then finished (a later resume returns COROLINK_EDONE).
 *
 * The rule for bodies that catch everything: C++ `catch (...)` also
 * catches the forced unwind (as `abi::__forced_unwind`). If the handler
 * rethrows (`throw;`), the unwind goes on. If it does not, the body keeps
 * running: when it returns, the coroutine is finished; when it suspends
 * again, corolink_force_unwind() resumes it again with a new forced unwind,
 * and so on until nothing is left on the stack. A body that swallows the
 * unwind and suspends again forever therefore never finishes, like a
 * destructor that never returns. A body that throws a new exception while
 * it is unwound finishes with that exception, which propagates out of this
 * call (the coroutine is finished by then). A fault while unwinding (see
 * "Traps") finishes it too.
 *
 * A created coroutine that never ran is marked finished without running
 * anything; a finished one is left as it is. Returns 0, COROLINK_EINVAL
 * (NULL), COROLINK_ERUNNING (the coroutine is running) or
 * COROLINK_ENOTSUP (a suspended coroutine in a build with
 * COROLINK_UNWIND=OFF; nothing happens). */
COROLINK_API int corolink_force_unwind(corolink *co);

/* ------------------------------------------------------------------------ */
/* Stacks and the pool                                                      */
/* ------------------------------------------------------------------------ */

/* Maps a stack of `size` usable bytes (rounded up to whole pages; 0 means
 * COROLINK_STACK_DEFAULT_SIZE) with one PROT_NONE guard page below it.
 * (Windows: VirtualAlloc, laid out as a thread's stack: below the `size`
 * bytes a PAGE_GUARD page, whose first touch raises STATUS_STACK_OVERFLOW,
 * and two pages of room for the handlers of that exception, all inside
 * [limit, base); the inaccessible `guard` page below limit.) Returns 0, COROLINK_EINVAL (out NULL), COROLINK_ESTACK (size below
 * COROLINK_STACK_MIN_SIZE), COROLINK_ENOMEM, or COROLINK_ENOTSUP. */
COROLINK_API int corolink_stack_alloc(corolink_stack *out, size_t size);

/* Unmaps a stack made by corolink_stack_alloc(). NULL, or a stack whose
 * base is NULL, is ignored; *stack is cleared. */
COROLINK_API void corolink_stack_free(corolink_stack *stack);

/* Frees every stack cached in the calling thread's pool, and gives the
 * memory of every free slab slot back to the system (Linux: see
 * corolink_stack_mode(); a slab whose slots are all free is unmapped as
 * soon as it is). The pool keeps at most corolink_pool_limit() stacks; a
 * thread's pool is freed when the thread exits. */
COROLINK_API void corolink_pool_trim(void);

/* Sets how many stacks the calling thread's pool may keep (default 64; 0
 * disables pooling for the thread) and returns the previous limit. Stacks
 * beyond a lowered limit are freed. */
COROLINK_API size_t corolink_pool_limit(size_t max_stacks);

/* How corolink_create() gets the stacks it maps (Linux; process-wide).
 * Every mode gives each stack a guard region below it, of one of two
 * kinds (corolink_stack_guard() tells which a coroutine has):
 *
 *  - a guard page (COROLINK_GUARD_PAGE): inaccessible memory; an overflow
 *    faults as it happens (COROLINK_TRAP with corolink_trap_install(),
 *    otherwise the usual SIGSEGV);
 *  - a watched zone (COROLINK_GUARD_WATCHED): 64 KiB that nothing uses and
 *    the kernel says were never touched. corolink_destroy(), the trap
 *    handler and the tools (gdb plugin, corolink-stacks) check it; an
 *    overflow found there is a fatal error that names the coroutine. It
 *    costs no kernel mapping and nothing on the switch, but catches an
 *    overflow only after the fact, and one by a frame larger than 64 KiB
 *    may write into the stack below first. A destroy of such a coroutine
 *    costs one system call (mincore).
 *
 * A kernel allows a process vm.max_map_count mappings (65530 by default)
 * and an mprotect'd guard page costs a mapping of its own, so:
 *
 *  COROLINK_STACKS_AUTO     (default) guarded stacks while the process's
 *                           mappings leave a quarter of vm.max_map_count
 *                           free for the rest of the program (about 24,000
 *                           stacks on a stock kernel), then slab stacks:
 *                           with guard pages on Linux 6.13+, watched
 *                           before. Raise vm.max_map_count (sysctl
 *                           vm.max_map_count=N) to keep mprotect'd guard
 *                           pages on more of them.
 *  COROLINK_STACKS_GUARDED  every stack a mapping of its own with a
 *                           PROT_NONE guard page (two kernel mappings);
 *                           COROLINK_ENOMEM at the map-count limit.
 *  COROLINK_STACKS_SLAB     every stack a slot of a slab (one mapping per
 *                           few hundred stacks): guard pages installed
 *                           with MADV_GUARD_INSTALL on 6.13+ (gdb 13's
 *                           gcore cannot read such a slab: its core holds
 *                           zeros there; a kernel core dump is complete),
 *                           watched zones before.
 *  COROLINK_STACKS_WATCHED  slab slots with watched zones, whatever the
 *                           kernel has (to test, or to save the page-table
 *                           entries of the guard pages).
 *
 * The environment variable COROLINK_STACKS (auto, guarded, slab, watched)
 * sets the mode at the first create; corolink_stack_mode() changes it for
 * the stacks mapped afterwards (pooled stacks keep theirs). Returns the
 * previous mode, or the current one for -1; COROLINK_EINVAL for an
 * unknown mode, COROLINK_ENOTSUP on Windows and without default stacks. */
#define COROLINK_STACKS_AUTO 0
#define COROLINK_STACKS_GUARDED 1
#define COROLINK_STACKS_SLAB 2
#define COROLINK_STACKS_WATCHED 3
COROLINK_API int corolink_stack_mode(int mode);

/* What guards co's stack: COROLINK_GUARD_PAGE, COROLINK_GUARD_WATCHED
 * (see corolink_stack_mode()), or COROLINK_GUARD_NONE (a stack given to
 * corolink_create_on() with no guard); COROLINK_EINVAL if co is NULL. */
#define COROLINK_GUARD_NONE 0
#define COROLINK_GUARD_PAGE 1
#define COROLINK_GUARD_WATCHED 2
COROLINK_API int corolink_stack_guard(const corolink *co);

/* ------------------------------------------------------------------------ */
/* Running                                                                  */
/* ------------------------------------------------------------------------ */

/* Resumes `co`: starts its body with `input` the first time, or makes the
 * pending corolink_suspend() return `input`. Runs until the body suspends
 * (returns COROLINK_YIELD; the suspended value is stored in *output) or
 * returns (COROLINK_RETURN; the return value in *output; the coroutine is
 * then finished). `output` may be NULL to discard the value.
 *
 * If the body faults and traps are installed (see "Traps"), returns
 * COROLINK_TRAP: the coroutine is finished, *output holds NULL (or the
 * value given to corolink_trap_redirect()). If the body throws an exception
 * that it does not catch, the coroutine is finished and the exception
 * propagates out of this call (see "Exceptions").
 *
 * Errors (nothing runs; *output is set to NULL): COROLINK_EINVAL (co NULL,
 * destroyed, or no control block),
 * COROLINK_EDONE (the coroutine has finished), COROLINK_ERUNNING (the
 * coroutine is running: resuming itself or one of its resumers),
 * COROLINK_ENOTSUP (the C library enabled CET shadow stacks for the
 * process: the switch does not carry them yet, see unwind-info/README.md
 * "Hardening"). */
COROLINK_API COROLINK__NOPLT int corolink_resume(corolink *co, void *input,
                                                 void **output);

/* Suspends the calling coroutine: its resumer's corolink_resume() returns
 * COROLINK_YIELD with `value`. Returns the input of the next resume. Must be
 * called on the coroutine's own stack with the yielder its body received:
 * the out-of-line function (COROLINK_NO_INLINE, sanitizer builds) aborts
 * with a message naming the coroutine otherwise; for the inline one it is
 * undefined behaviour. */
COROLINK_API COROLINK__NOPLT void *corolink_suspend(corolink_yielder *yielder,
                                                    void *value);

/* What corolink_resume_with() runs on top of a coroutine: called with the
 * resume's `input` and the `arg` given to corolink_resume_with(); its return
 * value is what the coroutine's pending corolink_suspend() returns. */
typedef void *(*corolink_with_fn)(void *input, void *arg);

/* Resumes `co` as corolink_resume() does, but first calls fn(input, arg)
 * on co's own stack, on top of its pending corolink_suspend() (as if that
 * suspend had called fn): what fn returns is what the suspend returns in
 * the body, which then runs on until it suspends or returns. On a
 * coroutine that has not started, fn runs first (as if the coroutine's
 * root frame had called it) and its return value is the body's `input`.
 * (Boost.Context's resume_with()/ontop_fcontext().)
 *
 * An exception thrown by fn (builds with COROLINK_UNWIND=ON) comes out of
 * the pending corolink_suspend() inside the body, raised there from a real
 * call: the body may catch it around the suspend, which makes this the
 * way to cancel a coroutine at its suspension point; uncaught, it finishes
 * the coroutine and propagates out of this call, as any exception a body
 * throws. If the coroutine had not started, the body never runs: the
 * exception finishes it and propagates out of this call.
 *
 * fn may do anything a body may do: call deeper, resume other coroutines,
 * call corolink_on_parent_stack() with the coroutine's yielder, and even
 * suspend the coroutine with that yielder (passed to it through arg): the
 * pending suspend then returns fn's result only once fn itself returns,
 * after later resumes. A fault in fn traps the coroutine (see "Traps"); a
 * corolink_destroy() of the coroutine suspended inside fn unwinds fn's
 * frames and then the body's.
 *
 * Backtraces taken inside fn (gdb, glibc backtrace(), libgcc, libunwind,
 * libdw, frame-pointer walks) show fn, then the body's frames from its
 * suspension point down to the coroutine's root frame, then the resumer:
 * fn's caller is a library frame (corolink__ontop) whose unwind rows give
 * the body's registers as they were at the suspend.
 *
 * Returns what corolink_resume() returns; COROLINK_EINVAL also for fn NULL
 * (*output is set to NULL and nothing runs on any error). Always takes the
 * library's out-of-line switch (about twice the cost of an inline round
 * trip). */
COROLINK_API int corolink_resume_with(corolink *co, corolink_with_fn fn,
                                      void *arg, void *input, void **output);

/* Calls fn(arg) on the stack of the coroutine's current resumer (below the
 * resumer's frame, which is blocked in corolink_resume()) and returns its
 * result. Use it for work that needs more stack than the coroutine has. fn
 * must not suspend the coroutine. Backtraces taken inside fn lead back into
 * the coroutine and on to the resumer. A NULL yielder or fn, or a yielder
 * that is not the innermost running coroutine's, is fatal (a message
 * naming the coroutine, then abort). */
COROLINK_API void *corolink_on_parent_stack(corolink_yielder *yielder,
                                            void *(*fn)(void *), void *arg);

/* Calls fn(arg) on `stack` (from its base down) and stores the result in
 * *result (if result is not NULL). No coroutine is involved: it is a plain
 * call on another stack; backtraces inside fn lead back to the caller.
 * Returns 0, COROLINK_EINVAL (a NULL stack or fn, or base <= limit) or
 * COROLINK_ESTACK (fewer than COROLINK_STACK_MIN_USABLE bytes). */
COROLINK_API int corolink_on_stack(const corolink_stack *stack,
                                   void *(*fn)(void *), void *arg,
                                   void **result);

/* ------------------------------------------------------------------------ */
/* Inspecting                                                               */
/* ------------------------------------------------------------------------ */

/* True once the coroutine has been resumed for the first time. */
COROLINK_API bool corolink_started(const corolink *co);

/* True once the body has returned (or after corolink_force_reset()). */
COROLINK_API bool corolink_done(const corolink *co);

/* The coroutine's numeric id: unique in the process, never 0, assigned at
 * creation in increasing order per thread. 0 for NULL. */
COROLINK_API uint64_t corolink_id(const corolink *co);

/* Names the coroutine (for debuggers, dumps and messages). The name is
 * copied, truncated to COROLINK_NAME_MAX - 1 bytes; NULL clears it. Returns
 * 0 or COROLINK_EINVAL (co NULL). */
#define COROLINK_NAME_MAX 32
COROLINK_API int corolink_set_name(corolink *co, const char *name);

/* The coroutine's name ("" when none was set), valid until the next
 * corolink_set_name() or corolink_destroy(). */
COROLINK_API const char *corolink_name(const corolink *co);

/* A coroutine's state, as corolink_state() reports it. */
#define COROLINK_STATE_CREATED 0   /* created, never resumed */
#define COROLINK_STATE_RUNNING 1   /* resumed, neither suspended nor finished */
#define COROLINK_STATE_SUSPENDED 2 /* waiting in corolink_suspend() */
#define COROLINK_STATE_FINISHED 3  /* returned, threw, trapped, unwound or reset */

/* The coroutine's state (COROLINK_STATE_*), or COROLINK_EINVAL for NULL. */
COROLINK_API int corolink_state(const corolink *co);

/* The code address corolink_create()/corolink_create_on() was called from
 * for this coroutine (its creation site, a return address into the
 * creator), or NULL for NULL. */
COROLINK_API void *corolink_create_site(const corolink *co);

/* The coroutine running on the calling thread (the innermost one when
 * coroutines nest; inside fn of corolink_on_parent_stack(), the coroutine
 * that called it), or NULL outside any coroutine.
 *
 * The switch keeps no per-thread record of the running coroutine (that
 * bookkeeping would cost a third of a switch), so this function finds the
 * coroutine's root frame by unwinding the calling thread's stack: about a
 * microsecond, more with deep call stacks, and O(1) on a thread's own stack.
 * A body that needs its coroutine often should keep
 * corolink_from_yielder(yielder). Not async-signal-safe on the first call in
 * a thread. Builds with COROLINK_UNWIND=OFF have no unwinder: there it
 * returns NULL. */
COROLINK_API corolink *corolink_current(void);

/* The coroutine that a yielder belongs to. */
COROLINK_API corolink *corolink_from_yielder(corolink_yielder *yielder);

/* Describes the coroutine's stack: the body's usable part [limit, base)
 * (the control block lies above base) and its guard. Returns 0 or
 * COROLINK_EINVAL. */
COROLINK_API int corolink_get_stack(const corolink *co, corolink_stack *out);

/* Stack high-water mark: how many bytes of the body's usable stack (see
 * corolink_get_stack()) have ever been written, counted from the top down
 * to the deepest non-zero word. Fresh stacks start zeroed, so for a
 * coroutine on a fresh stack this is its own peak usage. A pooled stack
 * keeps its contents between coroutines: the figure is then the peak of
 * every coroutine that used that stack since it was mapped, which is the
 * number to size stacks by. A caller-provided stack must have been zeroed
 * for the figure to mean anything. 0 for NULL. */
COROLINK_API size_t corolink_stack_used(const corolink *co);

/* ------------------------------------------------------------------------ */
/* Introspection: the registry, backtraces of suspended coroutines, dumps   */
/* ------------------------------------------------------------------------ */

/* Every live coroutine (created and not yet destroyed) is listed in a
 * registry that debuggers and profilers read from memory or a core file
 * through the debug-offsets table (the exported symbol
 * `corolink_debug_offsets`, in section `.corolink_debug`; its layout is in
 * unwind-info/debug-table.md): the gdb plugin (gdb/) and perf tools (perf/)
 * use it. Creating and destroying a coroutine costs one or two stores for
 * it. Builds with COROLINK_REGISTRY=OFF (and the freestanding build) have
 * no registry: corolink_dump() then prints nothing and returns
 * COROLINK_ENOTSUP. */

/* Turns recording of suspend times on or off for the whole process (off
 * by default; COROLINK_TIMESTAMPS=1 in the environment turns it on at
 * start-up). When on, every suspend reads CLOCK_MONOTONIC_COARSE (about
 * 10 ns; the kernel tick's resolution, typically 4 ms) so that debuggers
 * can show how long each coroutine has been suspended;
 * when off, a suspend tests one flag. A live process's debugger may also
 * set the flag (see unwind-info/debug-table.md). Windows: no effect (the
 * inline switch there tests no probe word, and no tool reads the times). */
COROLINK_API void corolink_debug_timestamps(bool enable);

/* Stores up to `max` return addresses of a suspended coroutine's stack in
 * pcs, innermost first, starting at the function that called
 * corolink_suspend() (the resume point itself is not listed) and ending at
 * the body's entry function; returns how many, or COROLINK_EINVAL (NULL
 * co, or pcs NULL with max > 0), COROLINK_ERUNNING (the coroutine is
 * running: take the backtrace from inside it), 0 for a created or finished
 * coroutine. Unwinds with libunwind when it is installed (loaded at the
 * first call), else by walking frame pointers (bodies built without frame
 * pointers then give short backtraces); COROLINK_BACKTRACE=fp in the
 * environment forces the frame-pointer walk. pcs[0] is the exact pc at
 * which the coroutine suspended (for a body that suspended through the
 * out-of-line corolink_suspend(), a return address into its caller); the
 * others are return addresses. */
COROLINK_API int corolink_backtrace(const corolink *co, void **pcs, int max);

#if defined(__STDC_HOSTED__) && __STDC_HOSTED__
/* Prints every live coroutine to `out`, like a Go goroutine dump: id,
 * state, name, creation site and, for a suspended one, its symbolized
 * backtrace; coroutines whose stacks are identical are printed once with a
 * count ("37 coroutines with this stack"). Safe to call from any thread
 * while other threads run coroutines only if they do not create, destroy,
 * resume or suspend any meanwhile: it reads the registry and the stacks
 * without locking, so a coroutine that moves during the dump may show a
 * garbled backtrace (the walk stays bounded). Returns the
 * number of live coroutines listed, or COROLINK_EINVAL (out NULL) or
 * COROLINK_ENOTSUP (no registry in this build). */
COROLINK_API int corolink_dump(FILE *out);
#endif

/* ------------------------------------------------------------------------ */
/* Traps: surviving a fault (stack overflow included) inside a coroutine    */
/* ------------------------------------------------------------------------ */

/* With traps installed, a SIGSEGV or SIGBUS raised by code running on a
 * coroutine's stack (an overflow into its guard page included) finishes
 * that coroutine at once: its resumer's corolink_resume() returns
 * COROLINK_TRAP. Nothing on the coroutine's stack is unwound (objects living
 * there are leaked); the stack can be reused (destroy the coroutine and
 * create another on it). A fault in fn of corolink_on_parent_stack() traps
 * the coroutine that called it. Only faults count: a SIGSEGV or SIGBUS sent
 * with kill(), raise() or sigqueue() has its usual effect. Faults anywhere
 * else go to the handler installed before (called as it was installed,
 * with its sa_mask, SA_NODEFER and SA_RESETHAND honoured, on the alternate
 * signal stack), or get the default action: the rest of the process
 * behaves as without corolink. Not available in the freestanding build
 * (COROLINK_DEFAULT_STACK=OFF and COROLINK_UNWIND=OFF): COROLINK_ENOTSUP.
 *
 * A frame larger than the guard region can jump over it: such an overflow
 * lands in unrelated memory and is not recognised. Build bodies with
 * -fstack-clash-protection (which probes every page of a large frame) if
 * they may have big frames.
 *
 * A stack overflow can only be handled on another stack: the handler runs
 * on a per-thread alternate signal stack (sigaltstack) of 64 KiB plus a
 * guard page. The library sets one up for the calling thread in
 * corolink_trap_install(), for every thread at its first corolink_create()
 * or corolink_create_on() after that, and in corolink_trap_thread_init(),
 * which a thread that resumes coroutines but never creates one should call
 * once. A thread that already has an alternate stack keeps it. The
 * library's alternate stacks are freed when their threads exit.
 *
 * A fault in a coroutine on a thread without an alternate stack is still
 * recovered unless it is a stack overflow (the kernel then cannot deliver
 * the signal and kills the process, as without corolink). The handler
 * needs about 6 KiB of alternate stack, which matters only if a thread
 * brought a small one of its own.
 *
 * Windows: a vectored exception handler (added first in the list) traps
 * the hardware faults EXCEPTION_ACCESS_VIOLATION, EXCEPTION_STACK_OVERFLOW,
 * EXCEPTION_GUARD_PAGE, EXCEPTION_IN_PAGE_ERROR and
 * EXCEPTION_DATATYPE_MISALIGNMENT; signo is the exception code (an
 * NTSTATUS, e.g. 0xC00000FD for a stack overflow) and addr the accessed
 * address. Exceptions raised with RaiseException() are left alone. There
 * are no alternate stacks (corolink_trap_thread_init() does nothing and
 * returns 0): the system dispatches a stack overflow on the coroutine's
 * stack itself, in the two pages of room that the stacks of
 * corolink_create() and corolink_stack_alloc() keep below their guard
 * page, and the trap arms that page again. An overflow of a thread's own
 * stack (in fn of corolink_on_parent_stack()) leaves it unarmed, as any
 * handled stack overflow does on Windows (see _resetstkoflw()). */

/* What corolink_trap_info() reports. */
typedef struct corolink_trap {
    int signo;           /* SIGSEGV or SIGBUS (or what the redirect gave) */
    void *addr;          /* the faulting address (si_addr) */
    bool stack_overflow; /* the fault hit the guard region below the stack */
} corolink_trap;

/* Installs the SIGSEGV and SIGBUS handlers (remembering the ones installed
 * before) and sets up the calling thread's alternate signal stack.
 * Idempotent and thread-safe. Returns 0, COROLINK_ENOMEM (no alternate
 * stack could be mapped) or COROLINK_ENOTSUP (the freestanding build, or
 * the kernel refuses process_vm_readv() on the process itself, e.g. under
 * a seccomp filter: the handler reads stacks with it so that it can never
 * fault; where the system call is missing (ENOSYS, as under qemu-user) it
 * reads them through a pipe instead). */
COROLINK_API int corolink_trap_install(void);

/* Sets up the calling thread's alternate signal stack if it has none
 * (see above). Idempotent. Returns 0, COROLINK_ENOMEM or COROLINK_ENOTSUP. */
COROLINK_API int corolink_trap_thread_init(void);

/* Turns the one-line message printed to stderr on a stack overflow
 * on (the default) or off, for the whole process. The message:
 *   corolink: coroutine 7 "parser" overflowed its 262144-byte stack (fault
 *   at 0x7f...); its resume returns COROLINK_TRAP
 * (one line; the size is the stack's usable size as created, what
 * corolink_create() was asked for rounded to pages). */
COROLINK_API void corolink_trap_diagnostics(bool enable);

/* If `co` finished by a trap, stores what happened in *out and returns 0;
 * otherwise returns COROLINK_ENOTRAP (or COROLINK_EINVAL for NULL). */
COROLINK_API int corolink_trap_info(const corolink *co, corolink_trap *out);

/* The lower-level interface, for runtimes with their own signal handlers
 * (JITs and WebAssembly engines that turn deep recursion into an error).
 * Both functions are async-signal-safe and meant to be called from a
 * handler installed with SA_SIGINFO (and SA_ONSTACK, for overflows), with
 * the handler's third argument `ucontext` (a ucontext_t *). On Windows
 * `ucontext` is a CONTEXT * of the calling thread (a vectored handler's
 * ExceptionInfo->ContextRecord), and a handler added with
 * AddVectoredExceptionHandler(1, ...) after corolink_trap_install() runs
 * before the library's.
 *
 * corolink_trap_find() returns the running coroutine on whose stack (guard
 * region included) the interrupted code was running, the innermost one if
 * coroutines nest (while fn of corolink_on_parent_stack() runs, the
 * coroutine that called it), or NULL if the interrupted code was not
 * running on a coroutine's stack. It reads only the interrupted thread's stack and
 * control blocks, with system calls that cannot fault.
 *
 * corolink_trap_redirect() rewrites *ucontext so that, when the handler
 * returns, `co` (which must be what corolink_trap_find() returned for this
 * ucontext) is finished and its resumer's corolink_resume() returns
 * COROLINK_TRAP with `value` in *output. `signo` and `addr` are what
 * corolink_trap_info() will report; the stack-overflow flag is computed
 * from addr and the coroutine's stack. Prints the stack-overflow message
 * unless diagnostics are off. Returns 0, or COROLINK_EINVAL (NULL
 * arguments, or co is not running). */
COROLINK_API corolink *corolink_trap_find(const void *ucontext);
COROLINK_API int corolink_trap_redirect(corolink *co, void *ucontext, int signo,
                                        void *addr, void *value);

/* ------------------------------------------------------------------------ */
/* ABI v2: what the inline fast paths read and write.                       */
/* Not for use by applications; layout checked by the library at build time.*/
/* ------------------------------------------------------------------------ */

/* A coroutine's state is encoded in two fields, so that a round trip
 * writes one word for it:
 *   finished                        -> finished (1 returned, 2 trapped,
 *                                      3 threw, 4 unwound, 5 reset)
 *   pc == corolink__trampoline      -> created, not started
 *   pc == NULL                      -> running
 *   otherwise                       -> suspended at pc
 * corolink_resume() clears pc before it enters the coroutine; the suspend
 * stores its resume point there. */


/* Out-of-line error path of the inline corolink_resume(): sets *output
 * (if not NULL) to NULL and returns the error for co's state. */
COROLINK_API COROLINK__NOPLT int corolink__resume_fail(corolink *co,
                                                       void **output)
#if defined(__GNUC__)
    /* Never inlined, not even into the library's own resume or by LTO: the
     * call is what keeps a resumer from being a leaf (see below). */
    __attribute__((noinline, cold))
#endif
    ;

/* Out-of-line paths of the inline switch for exceptions (see
 * unwind-info/README.md): corolink__resume_throw() re-raises, in the
 * resumer, the exception that finished `co` (status 4 from the switch);
 * corolink__suspend_unwind() raises the forced unwind in a body whose
 * suspend was resumed with the unwind command (1). Neither returns. */
COROLINK_API COROLINK__NOPLT void corolink__resume_throw(corolink *co)
#if defined(__GNUC__)
    __attribute__((noinline, cold))
#endif
    ;
COROLINK_API COROLINK__NOPLT void
corolink__suspend_unwind(corolink_yielder *yielder)
#if defined(__GNUC__)
    __attribute__((noinline, cold))
#endif
    ;

/* Probes (see "Probes" above): while the resume and suspend probes' shared
 * semaphore (a 16-bit counter that tracers increment while they have
 * either probe enabled, and that the library also holds up while suspend
 * timestamps are on or a tool watches) is nonzero, the inline resume hands
 * the whole resume to corolink__resume_traced(), which fires the resume
 * probe, switches, and fires the suspend probe (and takes the suspend
 * time) when the coroutine comes back suspended. The body's suspend tests
 * nothing. (The suspend probe thus fires on the resumer's side, after the
 * switch; no code of the process runs in between. Each test in the body's
 * suspend cost about 10% of a round trip in -O3 code: the suspend carries
 * none.) The inline resume reads the semaphore as part of an exported
 * word, through the GOT from inline assembly, and never names it in C: a
 * direct reference from a non-PIC or PIE executable would make the linker
 * copy it into the executable (a copy relocation), where the tracers'
 * increments, made in the library's copy, would never show. x86-64 reads
 * the 64-bit `corolink__probe_gate`, whose top 16 bits the semaphore is
 * (one compare tests co for NULL as well: see corolink/x86_64_sysv_elf.h);
 * AArch64 the 32-bit `corolink__probe_switch`, nonzero exactly while the
 * semaphore is. Define COROLINK_NO_PROBES to leave the test out of a
 * translation unit (its resumes then fire no probes and take no suspend
 * times). corolink__resume_traced() also does what the inline resume does
 * for co == NULL. */
#if defined(__x86_64__) && defined(__ELF__)
/* x86-64 (ABI v2): the function the inline resume calls instead of a NULL
 * co->pc (see corolink/x86_64_sysv_elf.h): returns ZF = 1, edx = 5. Not
 * callable from C. */
COROLINK_API void corolink__busy(void);
#endif
COROLINK_API COROLINK__NOPLT int corolink__resume_traced(corolink *co,
                                                         void *input,
                                                         void **output);


/* Whether this translation unit inlines the switch (see "Inline fast paths
 * and the ABI they freeze" above); the target's header defines the inline
 * functions when it is set. */
#if !defined(COROLINK_NO_INLINE) && !defined(COROLINK__BUILDING) &&         \
    defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__) &&                  \
    !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define COROLINK__NO_INLINE_SANITIZER 1
#endif
#endif
/* The x86-64 inline switch is `asm goto` with outputs (gcc 11, clang 11):
 * older compilers call the out-of-line switch. */
#if defined(__x86_64__) && !defined(_WIN64) &&                              \
    (defined(__clang__) ? __clang_major__ < 11 : __GNUC__ < 11)
#define COROLINK__NO_INLINE_COMPILER 1
#endif
#if !defined(COROLINK__NO_INLINE_SANITIZER) &&                              \
    !defined(COROLINK__NO_INLINE_COMPILER)
#define COROLINK__INLINE 1
#endif
#endif

#if defined(COROLINK__INLINE)
#define COROLINK__INLINE_DEF                                                   \
    extern inline __attribute__((gnu_inline, always_inline))

/* The error path as a real call, never a tail call (`jmp`): a function
 * whose only call is a tail call is a leaf to the compiler, which may then
 * keep data in the red zone below rsp, where the switch's `call` writes. */
#define corolink__resume_error(co, output)                                    \
    __extension__({                                                            \
        int corolink__r = corolink__resume_fail((co), (output));               \
        __asm__("" : "+r"(corolink__r));                                       \
        corolink__r;                                                           \
    })

/* The portable halves of the inline corolink_resume() of the targets whose
 * status travels in a register (AArch64, Windows x64; the x86-64 ELF one,
 * ABI v2, takes it from the flags and does its own checks). The
 * first checks co and the probe word (returning from the enclosing
 * function on the slow paths), then declares `pc`, where to enter co, and
 * marks co running. `pc` is hidden from the optimiser so that the call to
 * the slow path can never be proven dead: that call keeps every function
 * containing a resume a non-leaf, so the compiler never keeps data in a
 * red zone below the stack pointer, where a switch's call may write, and
 * always saves the return-address register the switch clobbers. The
 * second re-raises an exception that left the body (from a real call: the
 * switch has no entry in the caller's call-site table) and hands out the
 * value. */
#define COROLINK__RESUME_ENTER(h, co, input, output, pc)                       \
    if (__builtin_expect((co) == NULL, 0))                                     \
        return corolink__resume_error(co, output);                             \
    if (__builtin_expect(corolink__probing(), 0))                              \
        return corolink__resume_traced(co, input, output);                     \
    void *pc = (h)->pc;                                                        \
    __asm__("" : "+r"(pc));                                                    \
    if (__builtin_expect(pc == NULL, 0)) /* running or finished */            \
        return corolink__resume_error(co, output);                             \
    (h)->pc = NULL /* running */
#define COROLINK__RESUME_LEAVE(co_back, value, status, output)                 \
    do {                                                                       \
        if (__builtin_expect((status) > COROLINK_TRAP, 0))                     \
            corolink__resume_throw((corolink *)(co_back));                     \
        if (output)                                                            \
            *(output) = (value);                                               \
        return (int)(status);                                                  \
    } while (0)
#endif

/* The target: `struct corolink__hot` (the control block's first bytes, which
 * the inline switch reads and writes) and, in translation units that inline
 * it, the switch itself. One header per target, named like the assembly in
 * unwind-info/ (<arch>_<abi>_<format>); each documents its register
 * protocol, and unwind-info/README.md has one section per target. */
#if defined(__x86_64__) && defined(__ELF__)
#include "corolink/x86_64_sysv_elf.h"
#elif defined(__aarch64__) && defined(__ELF__) && defined(__LP64__)
#include "corolink/aarch64_aapcs_elf.h"
#elif defined(__riscv) && __riscv_xlen == 64 && defined(__ELF__) &&         \
    defined(__riscv_float_abi_double)
#include "corolink/riscv64_lp64d_elf.h"
#elif defined(__arm__) && defined(__ELF__) && defined(__ARM_EABI__) &&      \
    defined(__ARM_PCS_VFP)
#include "corolink/arm_aapcs_elf.h"
#elif defined(__x86_64__) && defined(_WIN64)
#include "corolink/x86_64_win64_pe.h"
#elif defined(__i386__) && defined(__ELF__)
#include "corolink/i386_sysv_elf.h"
#else
#error "corolink: this target is not supported (see the targets table in README.md)"
#endif

#ifdef __cplusplus
}
#endif

#endif /* COROLINK_H */
