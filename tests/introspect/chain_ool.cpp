// Built with COROLINK_NO_INLINE: the suspend is the library's out-of-line
// corolink_suspend(), a frame of its own that corolink_backtrace() leaves
// out (the list starts in the function that called it).
#include "chains.h"

CHAIN_END(ool_deep, 200)
CHAIN_FN(ool_deep, 3, ool_deep_end)
CHAIN_FN(ool_deep, 2, ool_deep3)
CHAIN_FN(ool_deep, 1, ool_deep2)

CHAIN_BODY(ool_body, ool_deep, 2000)
