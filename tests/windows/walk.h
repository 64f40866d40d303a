// Helpers of the Windows-only suite: the TEB's stack fields, code ranges
// from the SEH tables, and the three stack walkers whose results the tests
// compare (RtlCaptureStackBackTrace, an explicit RtlVirtualUnwind loop,
// libgcc's _Unwind_Backtrace).
#ifndef COROLINK_TESTS_WINDOWS_WALK_H
#define COROLINK_TESTS_WINDOWS_WALK_H

#include <windows.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace winwalk {

// The TEB fields that name the running stack (offsets of the x64 TEB, as
// the switch swaps them: include/corolink/x86_64_win64_pe.h).
struct Teb {
    uintptr_t stack_base;      // gs:0x08
    uintptr_t stack_limit;     // gs:0x10
    uintptr_t dealloc;         // gs:0x1478 DeallocationStack
    uint32_t guarantee;        // gs:0x1748 GuaranteedStackBytes
    uintptr_t exception_list;  // gs:0x00 (wine's handler frames)
    bool operator==(const Teb &o) const {
        return stack_base == o.stack_base && stack_limit == o.stack_limit &&
               dealloc == o.dealloc && guarantee == o.guarantee &&
               exception_list == o.exception_list;
    }
    bool operator!=(const Teb &o) const { return !(*this == o); }
};
Teb teb_now();
std::string describe(const Teb &t);

// [begin, end) of the function containing `code`, from the SEH function
// table (.pdata) of its module; {0, 0} if it has no entry.
struct Range {
    uintptr_t begin = 0, end = 0;
    // Whether a frame's pc falls inside: return addresses are tested one
    // byte back, so that a call ending a function still counts as in it.
    bool holds(uintptr_t pc) const { return pc - 1 >= begin && pc - 1 < end; }
};
Range range_of(const void *code);

// One frame of a walk: the pc (for every frame but the first a return
// address) and, for the walks that have them, the stack pointer and rbp
// the unwinder restored for that frame (0 when the walk does not say).
struct Frame {
    uintptr_t pc = 0, sp = 0, fp = 0;
};

// Each walker starts at its caller's frame and stops at `max` frames, at
// a pc of 0 or at a pc without a function-table entry.
constexpr int kMaxFrames = 128;
std::vector<Frame> walk_rtl_capture();         // pcs only
std::vector<Frame> walk_virtual_unwind();      // pc, rsp, rbp
std::vector<Frame> walk_unwind_backtrace();    // pc, rsp (the CFA)
// The explicit loop from a given register state (e.g. an exception's).
std::vector<Frame> walk_virtual_unwind_from(CONTEXT ctx);

// The three walks taken from one place, under their names.
struct Walks {
    std::vector<Frame> rtl_capture, virtual_unwind, unwind_backtrace;
};
// Takes all three from the caller's frame (never inlined, so that the
// caller is a frame of its own in every walk).
__attribute__((noinline)) void take_walks(Walks *out);

// The start of the program's main() (the walks of a test must reach it).
const void *main_address();

}  // namespace winwalk

#endif
