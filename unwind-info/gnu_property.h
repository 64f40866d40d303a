/* The GNU property note of every assembly file of the library: the
 * linker ANDs the note's bits over all the objects of a program, so an
 * unmarked object would switch the hardening off for whatever links it.
 * Include at the end of a .S file.
 *
 * x86-64: gcc's <cet.h> emits the bits IBT and SHSTK when built with
 * -fcf-protection (see "Hardening" in unwind-info/README.md).
 *
 * AArch64: GNU_PROPERTY_AARCH64_FEATURE_1_AND (0xc0000000) with bit 0 BTI
 * (every indirect-branch target is a landing pad) and bit 1 PAC (return
 * addresses saved on a stack are signed) when built with
 * -mbranch-protection; one NT_GNU_PROPERTY_TYPE_0 (5) note, owner "GNU". */
#if defined(__x86_64__)
#include <cet.h>
#elif defined(__aarch64__)
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define CL_PROP_BTI 1
#else
#define CL_PROP_BTI 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT) && __ARM_FEATURE_PAC_DEFAULT
#define CL_PROP_PAC 2
#else
#define CL_PROP_PAC 0
#endif
#if CL_PROP_BTI || CL_PROP_PAC
        .pushsection .note.gnu.property, "a"
        .balign 8
        .long   4                               /* n_namesz: "GNU\0" */
        .long   16                              /* n_descsz */
        .long   5                               /* NT_GNU_PROPERTY_TYPE_0 */
        .asciz  "GNU"
        .long   0xc0000000                      /* pr_type: FEATURE_1_AND */
        .long   4                               /* pr_datasz */
        .long   CL_PROP_BTI | CL_PROP_PAC       /* the bits */
        .long   0                               /* pad to 8 */
        .popsection
#endif
#endif
