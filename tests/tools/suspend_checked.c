/* The library's out-of-line corolink_suspend(), which checks its yielder
 * (the inline one trusts it: see the header), for tools_test.cpp's misuse
 * tests. A file of its own, built with COROLINK_NO_INLINE, so that the
 * suite keeps the inline switch for everything else. (An asm label naming
 * the exported symbol on a second declaration is not enough: clang binds
 * it to the header's inline function of the same name.) */
#define COROLINK_NO_INLINE 1
#include <corolink.h>

void *tools_suspend_checked(corolink_yielder *yielder, void *value) {
    return corolink_suspend(yielder, value);
}
