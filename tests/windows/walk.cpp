// See walk.h.
#include "walk.h"

#include <cstdio>
#include <unwind.h>

// main(), named without taking the address of ::main in C++ (the linker
// resolves the assembler name; x64 COFF symbols have no leading
// underscore).
extern "C" char corolink_test_main_entry[] __asm__("main");

namespace winwalk {

namespace {

// The TEB's own address (its NT_TIB.Self, gs:0x30). Not NtCurrentTeb():
// gcc 12 warns (-Warray-bounds) on mingw-w64's __readgsqword.
const char *teb() {
    const char *self;
    __asm__("movq %%gs:0x30, %0" : "=r"(self));
    return self;
}

template <typename T> T teb_field(size_t offset) {
    return *reinterpret_cast<const volatile T *>(teb() + offset);
}

}  // namespace

Teb teb_now() {
    Teb t;
    t.exception_list = teb_field<uintptr_t>(0x00);
    t.stack_base = teb_field<uintptr_t>(0x08);
    t.stack_limit = teb_field<uintptr_t>(0x10);
    t.dealloc = teb_field<uintptr_t>(0x1478);
    t.guarantee = teb_field<uint32_t>(0x1748);
    return t;
}

std::string describe(const Teb &t) {
    char buf[160];
    snprintf(buf, sizeof buf,
             "StackBase %#llx StackLimit %#llx DeallocationStack %#llx "
             "GuaranteedStackBytes %u ExceptionList %#llx",
             (unsigned long long)t.stack_base, (unsigned long long)t.stack_limit,
             (unsigned long long)t.dealloc, t.guarantee,
             (unsigned long long)t.exception_list);
    return buf;
}

Range range_of(const void *code) {
    DWORD64 image = 0;
    PRUNTIME_FUNCTION fe =
        RtlLookupFunctionEntry(reinterpret_cast<DWORD64>(code), &image, nullptr);
    Range r;
    if (fe != nullptr) {
        r.begin = image + fe->BeginAddress;
        r.end = image + fe->EndAddress;
    }
    return r;
}

__attribute__((noinline)) std::vector<Frame> walk_rtl_capture() {
    void *pcs[kMaxFrames];
    USHORT n = RtlCaptureStackBackTrace(0, kMaxFrames, pcs, nullptr);
    std::vector<Frame> frames;
    for (USHORT i = 0; i < n; i++)
        frames.push_back({reinterpret_cast<uintptr_t>(pcs[i]), 0, 0});
    return frames;
}

// What every SEH unwinder does: look the pc up in the function tables and
// let RtlVirtualUnwind undo that function's prologue.
std::vector<Frame> walk_virtual_unwind_from(CONTEXT ctx) {
    std::vector<Frame> frames;
    while (ctx.Rip != 0 && frames.size() < static_cast<size_t>(kMaxFrames)) {
        frames.push_back({ctx.Rip, ctx.Rsp, ctx.Rbp});
        DWORD64 image = 0;
        PRUNTIME_FUNCTION fe = RtlLookupFunctionEntry(ctx.Rip, &image, nullptr);
        if (fe == nullptr)
            break; // no leaf functions on these paths: the walk is lost
        void *handler_data = nullptr;
        DWORD64 establisher = 0;
        RtlVirtualUnwind(UNW_FLAG_NHANDLER, image, ctx.Rip, fe, &ctx,
                         &handler_data, &establisher, nullptr);
    }
    return frames;
}

__attribute__((noinline)) std::vector<Frame> walk_virtual_unwind() {
    CONTEXT ctx;
    RtlCaptureContext(&ctx); // this function's frame, at the return point
    std::vector<Frame> frames = walk_virtual_unwind_from(ctx);
    __asm__ volatile("" ::: "memory"); // not a tail call
    return frames;
}

namespace {

// libgcc on SEH targets: _Unwind_GetIP is the unwound Rip (a return
// address), _Unwind_GetCFA the unwound Rsp. (_Unwind_GetGR takes only the
// exception registers there.)
_Unwind_Reason_Code collect(struct _Unwind_Context *ctx, void *arg) {
    auto *frames = static_cast<std::vector<Frame> *>(arg);
    uintptr_t pc = _Unwind_GetIP(ctx);
    if (pc == 0 || frames->size() >= static_cast<size_t>(kMaxFrames))
        return _URC_END_OF_STACK;
    frames->push_back({pc, static_cast<uintptr_t>(_Unwind_GetCFA(ctx)), 0});
    return _URC_NO_REASON;
}

}  // namespace

__attribute__((noinline)) std::vector<Frame> walk_unwind_backtrace() {
    std::vector<Frame> frames;
    _Unwind_Backtrace(collect, &frames);
    __asm__ volatile("" ::: "memory");
    return frames;
}

void take_walks(Walks *out) {
    out->rtl_capture = walk_rtl_capture();
    out->virtual_unwind = walk_virtual_unwind();
    out->unwind_backtrace = walk_unwind_backtrace();
    __asm__ volatile("" ::: "memory");
}

const void *main_address() { return corolink_test_main_entry; }

}  // namespace winwalk
