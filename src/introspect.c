/* In-process introspection: backtraces of suspended coroutines and the
 * dump of every live coroutine. (Being written: see issue 4.) */
#include "internal.h"

int corolink_backtrace(const corolink *co, void **pcs, int max) {
    (void)co, (void)pcs, (void)max;
    return COROLINK_ENOTSUP;
}

#if !CL_FREESTANDING
int corolink_dump(FILE *out) {
    (void)out;
    return COROLINK_ENOTSUP;
}
#endif
