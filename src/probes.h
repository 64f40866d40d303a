/* USDT probes (provider "corolink"): the probe sites of the library's own
 * code. The probes themselves and their semaphores live in probes.c; see
 * "Probes" in include/corolink.h. Each site costs a load of its semaphore
 * and a predicted branch while no tracer has the probe enabled. */
#ifndef COROLINK_PROBES_H
#define COROLINK_PROBES_H

#include "internal.h"

/* Probes in this build: COROLINK_PROBES (CMake option) and not
 * freestanding (the resume probe's `from` needs thread-local state). */
#define CL_PROBES (COROLINK_PROBES && !CL_FREESTANDING)

/* One more (on) or one fewer (off) holder of the gate words
 * (corolink__probe_gate, corolink__probe_switch):
 * while it is nonzero every resume goes through corolink__resume_traced()
 * (probes.c). Held by suspend timestamps (registry.c) and by the tools
 * (tools.c). */
CL_HIDDEN void cl_probes_hold(bool on);

#if CL_PROBES
/* The semaphores: 16-bit counters in section .probes (defined in
 * probes.c), which tracers increment through the uprobe reference counter
 * while they have the probe enabled. All hidden: the library reads its own
 * copies whatever a program links. The resume and suspend probes share one
 * (the two names are one address). cl_probe_sems overlays the return, trap
 * and resume/suspend semaphores: nonzero while any probe that involves the
 * per-thread bookkeeping of `from` is enabled; cl_probe_switch is nonzero
 * while the resume/suspend semaphore is (see probes.c). */
CL_HIDDEN extern volatile unsigned short corolink_resume_semaphore,
    corolink_suspend_semaphore, corolink_return_semaphore,
    corolink_trap_semaphore, corolink_create_semaphore,
    corolink_destroy_semaphore, corolink_name_semaphore;
CL_HIDDEN extern volatile uint64_t cl_probe_sems;
CL_HIDDEN extern volatile uint32_t cl_probe_switch;

/* True while the probe `name` is enabled. */
#define COROLINK_PROBE_ENABLED(name)                                           \
    __builtin_expect(corolink_##name##_semaphore != 0, 0)

CL_HIDDEN __attribute__((noinline, cold)) void
cl_probe_create(const struct corolink *co);
CL_HIDDEN __attribute__((noinline, cold)) void
cl_probe_destroy(const struct corolink *co);
CL_HIDDEN __attribute__((noinline, cold)) void
cl_probe_name(const struct corolink *co);
/* Async-signal-safe (called by the trap redirect). */
CL_HIDDEN __attribute__((noinline, cold)) void
cl_probe_trap(const struct corolink *co, int signo, void *addr);

#define CL_PROBE_CREATE(co)                                                    \
    do {                                                                       \
        if (COROLINK_PROBE_ENABLED(create))                                    \
            cl_probe_create(co);                                               \
    } while (0)
#define CL_PROBE_DESTROY(co)                                                   \
    do {                                                                       \
        if (COROLINK_PROBE_ENABLED(destroy))                                   \
            cl_probe_destroy(co);                                              \
    } while (0)
#define CL_PROBE_NAME(co)                                                      \
    do {                                                                       \
        if (COROLINK_PROBE_ENABLED(name))                                      \
            cl_probe_name(co);                                                 \
    } while (0)
#define CL_PROBE_TRAP(co, signo, addr)                                         \
    do {                                                                       \
        if (__builtin_expect(cl_probe_sems != 0, 0))                           \
            cl_probe_trap(co, signo, addr);                                    \
    } while (0)
#else
#define COROLINK_PROBE_ENABLED(name) 0
#define CL_PROBE_CREATE(co) ((void)(co))
#define CL_PROBE_DESTROY(co) ((void)(co))
#define CL_PROBE_NAME(co) ((void)(co))
#define CL_PROBE_TRAP(co, signo, addr) ((void)(co), (void)(signo), (void)(addr))
#endif

#if !CL_FREESTANDING
/* What takes a create off its call-free fast path (corolink_create() from
 * the pool, corolink_create_on()): a new block of ids to take, the
 * thread's trap set-up to do, a tracer on the create probe. */
static inline bool cl_create_rare(const struct cl_thread *t) {
    return __builtin_expect(t->id_next == t->id_end, 0) ||
           __builtin_expect(cl_trap_installed && !t->trap_ready, 0) ||
           COROLINK_PROBE_ENABLED(create);
}
#endif

#endif
