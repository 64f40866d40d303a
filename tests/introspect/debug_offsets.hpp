// The debug-offsets table (unwind-info/debug-table.md, version 3) as a
// tool outside the library declares it: the layout is a frozen interface.
#pragma once

#include <cstddef>
#include <cstdint>

namespace {

struct DebugOffsets {
    char magic[8];
    uint32_t version, size, abi_version, pointer_size;
    uint32_t control_size;
    uint32_t off_pc, off_sp, off_fp, off_finished, off_fn, off_arg, off_id;
    uint32_t off_name, name_size;
    uint32_t off_stack_limit, off_stack_top, off_guard;
    uint32_t off_link_fp, off_link_ra, off_link_sp;
    uint32_t off_check, off_create_site, off_suspend_ns;
    uint32_t off_trap_signo, off_trap_addr;
    uint32_t finished_size;
    uint64_t check_xor;
    uint64_t trampoline, trampoline_ret, trampoline_end;
    int64_t suspended_pc_adjust;
    uint64_t registry;
    uint32_t chunk_off_next, chunk_off_nslots, chunk_off_slots;
    uint32_t slot_size;
    uint64_t slot_tag_mask;
    uint64_t debug_flags;
    uint32_t clock_id, reserved;
    // version 2: the target description
    char target[32];
    uint32_t elf_machine, dwarf_pc, dwarf_sp, dwarf_fp, dwarf_ra, nsaved;
    struct {
        uint32_t dwarf, off;
    } saved[4];
    uint64_t hidden_lo, hidden_hi; // version 3: the library's resume path
};
static_assert(offsetof(DebugOffsets, registry) == 0x98, "v1");
static_assert(offsetof(DebugOffsets, target) == 0xc8, "v2");
static_assert(offsetof(DebugOffsets, hidden_lo) == 0x120, "v3");
static_assert(sizeof(DebugOffsets) == 0x130, "debug-offsets table v3");

} // namespace
