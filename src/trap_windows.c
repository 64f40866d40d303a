/* Traps on Windows: a vectored exception handler (see src/trap.c for the
 * design on Linux). Not yet implemented: every entry point says so. */
#include "internal.h"

#if CL_WINDOWS

bool cl_trap_installed;

void cl_trap_thread_setup(void) {}
int corolink_trap_install(void) { return COROLINK_ENOTSUP; }
int corolink_trap_thread_init(void) { return COROLINK_ENOTSUP; }
void corolink_trap_diagnostics(bool enable) { (void)enable; }
int corolink_trap_info(const corolink *co, corolink_trap *out) {
    (void)co, (void)out;
    return COROLINK_ENOTRAP;
}
corolink *corolink_trap_find(const void *ucontext) {
    (void)ucontext;
    return NULL;
}
int corolink_trap_redirect(corolink *co, void *ucontext, int signo, void *addr,
                           void *value) {
    (void)co, (void)ucontext, (void)signo, (void)addr, (void)value;
    return COROLINK_ENOTSUP;
}

#endif
