/* Embeds the gdb plugin (gdb/corolink-gdb.py) in libcorolink as an inline
 * `.debug_gdb_scripts` entry (type 4, SECTION_SCRIPT_ID_PYTHON_TEXT: a
 * name line, then the script's text, then a NUL), so that gdb loads it with
 * the library when its auto-load safe-path allows (see gdb/README.md). The
 * section is not allocated (no run-time cost) and goes away with
 * `strip --strip-debug`; `objcopy --only-keep-debug` keeps it in the
 * separate debug file. The assembler finds the script through -Wa,-I (see
 * CMakeLists.txt). The property note marks the object compatible with
 * the target's hardening (CET, BTI/PAC; unwind-info/gnu_property.h): it
 * holds no code, and an unmarked object would unmark the whole library.
 *
 * Built only with -DCOROLINK_GDB_EMBED=ON (CMakeLists.txt says why it is
 * off by default). The one-byte anchor is referenced from corolink.c, so
 * that a static link pulls this object out of libcorolink.a along with the
 * rest of the library (an archive member nobody references is left out). */
#include "../unwind-info/gnu_property.h"
#if defined(__ELF__)
    .pushsection .debug_gdb_scripts, "MS", %progbits, 1
    .byte 4
    .ascii "corolink-gdb.py\n"
    .incbin "corolink-gdb.py"
    .byte 0
    .popsection
    .pushsection .rodata.corolink__gdb_script_anchor, "a", %progbits
    .globl corolink__gdb_script_anchor
    .hidden corolink__gdb_script_anchor
    .type corolink__gdb_script_anchor, %object
corolink__gdb_script_anchor:
    .byte 0
    .size corolink__gdb_script_anchor, 1
    .popsection
    .section .note.GNU-stack, "", %progbits
#endif
