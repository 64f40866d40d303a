/* C coroutines with cleanup handlers (cleanup_c.c, built with
 * -fexceptions), driven by exception_test.cpp. */
#ifndef CLEANUP_C_H
#define CLEANUP_C_H
#include <corolink.h>
#ifdef __cplusplus
extern "C" {
#endif
void cleanup_c_reset(void);
int cleanup_c_count(void);
/* The tags of the cleanups that ran, in order, as "0,1,2,3,". */
const char *cleanup_c_order(void);
/* A coroutine whose body (cleanup variable tagged `depth`) nests `depth`
 * C functions with cleanup variables tagged depth-1 down to 0, and
 * suspends in the innermost; returned suspended. */
corolink *cleanup_c_park(int depth);
/* A coroutine (not started) like cleanup_c_park(2) that calls `thrower`
 * where that one suspends. */
corolink *cleanup_c_create_thrower(void (*thrower)(void));
/* Resumes `co` from a C frame holding a cleanup variable (tag 100) with
 * the inline switch: an exception leaving co passes through it. */
int cleanup_c_resume(corolink *co);
#ifdef __cplusplus
}
#endif
#endif
