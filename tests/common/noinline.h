/* NOINLINE for test programs whose functions must stay frames of their own
 * under their own names (perf and unwinder tests match them): not inlined,
 * and with gcc not cloned either (a clone is named foo.constprop.0).
 * clang has no noclone attribute (nor clones functions that way). */
#ifndef COROLINK_TEST_NOINLINE_H
#define COROLINK_TEST_NOINLINE_H

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

#endif
