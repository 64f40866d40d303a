/* Attributes of the functions the check-cfi targets are made of. */
#ifndef CFI_TARGET_H
#define CFI_TARGET_H

/* noipa: no inlining, cloning, identical-code folding or signature
 * changes, so each function keeps its own frame and name at -O2. */
#if defined(__has_attribute)
#if __has_attribute(noipa)
#define CFI_NOIPA noipa,
#endif
#endif
#ifndef CFI_NOIPA
#define CFI_NOIPA
#endif
#define CFI_FN __attribute__((CFI_NOIPA noinline, used))
#define CFI_EXPORT __attribute__((visibility("default")))

#endif
