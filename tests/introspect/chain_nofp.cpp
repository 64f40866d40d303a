// Built at -O2 -fomit-frame-pointer (see CMakeLists.txt): a frame-pointer
// walk cannot follow these frames; libunwind's DWARF stepper must.
#include "chains.h"

CHAIN_END(nofp_deep, 100)
CHAIN_FN(nofp_deep, 5, nofp_deep_end)
CHAIN_FN(nofp_deep, 4, nofp_deep5)
CHAIN_FN(nofp_deep, 3, nofp_deep4)
CHAIN_FN(nofp_deep, 2, nofp_deep3)
CHAIN_FN(nofp_deep, 1, nofp_deep2)

CHAIN_BODY(nofp_body, nofp_deep, 1000)
