/* The debug-offsets table: what tools need to read coroutines from memory
 * or a core file without DWARF. Its layout is a stable interface,
 * specified in unwind-info/debug-table.md; registry.c defines the one
 * instance, corolink_debug_offsets. */
#ifndef COROLINK_DEBUG_TABLE_H
#define COROLINK_DEBUG_TABLE_H

#include <stddef.h>
#include <stdint.h>

/* Version 3: version 2 with the library's resume-path range appended;
 * version 2: version 1 with the target description appended. Every field
 * is little-endian and naturally aligned; offsets are from the start of
 * the control block. Tools check magic, version
 * (a newer minor layout only appends fields: accept version >= 1 and
 * size >= what you read; a version 1 table is x86-64's) and
 * pointer_size. */
/* An address field: 64 bits on every target. A static initializer cannot
 * widen an address on a 32-bit target (i686): there the address is the low
 * word, name_lo, and the high word stays 0 (CL_DT_ADDR_INIT in
 * registry.c); readers see the same 64-bit little-endian field. */
#if UINTPTR_MAX > 0xffffffffu
#define CL_DT_ADDR(name) uint64_t name
#define CL_DT_ADDR_INIT(name, v) .name = (uint64_t)(uintptr_t)(v)
#else
#define CL_DT_ADDR(name)                                                       \
    union {                                                                    \
        uint64_t name;                                                         \
        struct {                                                               \
            uintptr_t name##_lo;                                               \
            uint32_t name##_hi;                                                \
        };                                                                     \
    }
#define CL_DT_ADDR_INIT(name, v) .name##_lo = (uintptr_t)(v)
#endif

struct corolink_debug_offsets {
    char magic[8];            /* "CLNKDBG\0" */
    uint32_t version;         /* 3 */
    uint32_t size;            /* sizeof this table */
    uint32_t abi_version;     /* COROLINK_ABI_VERSION */
    uint32_t pointer_size;    /* 8 */
    /* the control block */
    uint32_t control_size;    /* bytes of struct corolink to read */
    uint32_t off_pc, off_sp, off_fp, off_finished, off_fn, off_arg, off_id;
    uint32_t off_name, name_size;
    uint32_t off_stack_limit, off_stack_top, off_guard;
    uint32_t off_link_fp, off_link_ra, off_link_sp;
    uint32_t off_check, off_create_site, off_suspend_ns;
    uint32_t off_trap_signo, off_trap_addr;
    uint32_t finished_size;   /* 4: bytes of `finished` */
    uint64_t check_xor;       /* *(co + off_check) == co ^ check_xor */
    /* states (see unwind-info/debug-table.md) */
    CL_DT_ADDR(trampoline);      /* pc of a created, never started coroutine */
    CL_DT_ADDR(trampoline_ret);  /* the body's return address: root frame */
    CL_DT_ADDR(trampoline_end);
    int64_t suspended_pc_adjust; /* unwind a suspended one from pc + this */
    /* the registry */
    CL_DT_ADDR(registry);        /* address of the first chunk pointer */
    uint32_t chunk_off_next, chunk_off_nslots, chunk_off_slots;
    uint32_t slot_size;       /* 8 */
    uint64_t slot_tag_mask;   /* slot & mask != 0: not a live coroutine */
    /* timestamps */
    CL_DT_ADDR(debug_flags);     /* address of corolink__debug_flags */
    uint32_t clock_id;        /* CLOCK_MONOTONIC_COARSE (6) */
    uint32_t reserved;
    /* version 2: the target, so that tools read registers without knowing
     * it (src/arch/, unwind-info/debug-table.md) */
    char target[32];          /* "x86_64-sysv-elf", "aarch64-aapcs-elf" */
    uint32_t elf_machine;     /* e_machine: 62 x86-64, 183 AArch64 */
    uint32_t dwarf_pc;        /* DWARF register numbers: the pc, */
    uint32_t dwarf_sp;        /* the stack pointer, */
    uint32_t dwarf_fp;        /* the frame pointer (frame records), */
    uint32_t dwarf_ra;        /* the return-address column of the CFI */
    uint32_t nsaved;          /* entries of saved[] in use */
    struct {
        uint32_t dwarf;       /* a DWARF register number */
        uint32_t off;         /* where a suspended coroutine keeps it */
    } saved[4];               /* what its unwind starts from, besides pc */
    /* version 3: [hidden_lo, hidden_hi), the library's resume-path code
     * (src/internal.h, CL_RESUME_PATH): frames there, past the innermost,
     * are left out of backtraces. 0, 0: none (freestanding, Windows). */
    CL_DT_ADDR(hidden_lo);
    CL_DT_ADDR(hidden_hi);
};

/* Bytes of a version 1 table (x86-64 only): everything before `target`. */
#define CL_DEBUG_TABLE_V1_SIZE 0xc8

/* The layout is an interface (unwind-info/debug-table.md): frozen. */
_Static_assert(offsetof(struct corolink_debug_offsets, off_pc) == 0x1c, "v1");
_Static_assert(offsetof(struct corolink_debug_offsets, check_xor) == 0x70, "v1");
_Static_assert(offsetof(struct corolink_debug_offsets, registry) == 0x98, "v1");
_Static_assert(offsetof(struct corolink_debug_offsets, clock_id) == 0xc0, "v1");
_Static_assert(offsetof(struct corolink_debug_offsets, target) ==
                   CL_DEBUG_TABLE_V1_SIZE, "v2");
_Static_assert(offsetof(struct corolink_debug_offsets, elf_machine) == 0xe8, "v2");
_Static_assert(offsetof(struct corolink_debug_offsets, saved) == 0x100, "v2");
_Static_assert(offsetof(struct corolink_debug_offsets, hidden_lo) == 0x120, "v3");
_Static_assert(sizeof(struct corolink_debug_offsets) == 0x130, "v3");

/* Bytes of a version 2 table: everything before `hidden_lo`. */
#define CL_DEBUG_TABLE_V2_SIZE 0x120

#ifndef CL_EXPORTED /* included by a tool rather than the library */
#define CL_EXPORTED
#endif
extern const struct corolink_debug_offsets corolink_debug_offsets
    CL_EXPORTED;

#endif
