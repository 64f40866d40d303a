// Built at -O2 -fomit-frame-pointer (see CMakeLists.txt): a frame-pointer
// walk cannot follow these frames; libunwind's DWARF stepper must.
#include "chains.h"

extern "C" CHAIN_NOIPA void *nofp_deep_end(corolink_yielder *y, int) {
    void *r = corolink_suspend(y, nullptr);
    introspect_sink = introspect_sink + 100;
    return r;
}
CHAIN_FN(nofp_deep, 5, nofp_deep_end)
CHAIN_FN(nofp_deep, 4, nofp_deep5)
CHAIN_FN(nofp_deep, 3, nofp_deep4)
CHAIN_FN(nofp_deep, 2, nofp_deep3)
CHAIN_FN(nofp_deep, 1, nofp_deep2)

extern "C" CHAIN_NOIPA void *nofp_body(corolink_yielder *y, void *, void *arg) {
    void *r = nofp_deep1(y, (int)(intptr_t)arg);
    introspect_sink = introspect_sink + 1000;
    return r;
}
