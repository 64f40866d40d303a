// Built with COROLINK_NO_INLINE: the suspend is the library's out-of-line
// corolink_suspend(), a frame of its own that corolink_backtrace() leaves
// out (the list starts in the function that called it).
#include "chains.h"

extern "C" CHAIN_NOIPA void *ool_deep_end(corolink_yielder *y, int) {
    void *r = corolink_suspend(y, nullptr);
    introspect_sink = introspect_sink + 200;
    return r;
}
CHAIN_FN(ool_deep, 3, ool_deep_end)
CHAIN_FN(ool_deep, 2, ool_deep3)
CHAIN_FN(ool_deep, 1, ool_deep2)

extern "C" CHAIN_NOIPA void *ool_body(corolink_yielder *y, void *, void *arg) {
    void *r = ool_deep1(y, (int)(intptr_t)arg);
    introspect_sink = introspect_sink + 2000;
    return r;
}
