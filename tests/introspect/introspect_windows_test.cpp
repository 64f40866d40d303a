// In-process introspection on Windows (src/introspect.c with the system's
// unwinder, src/registry.c): corolink_backtrace() of suspended coroutines
// through the inline and the out-of-line switch, with and without frame
// pointers; its errors; the debug-offsets table as a tool finds it (in its
// own PE section, .clnkdbg, and exported from libcorolink.dll); the
// registry read through the table as a debugger would; corolink_dump().
// The Linux suite (introspect_test.cpp) needs dladdr and libunwind.
#include <gtest/gtest.h>

#include <corolink.h>

#include <windows.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "chains.h"
#include "debug_offsets.hpp"

extern "C" {
volatile int introspect_sink = 0;
}

// ---- a chain with frame pointers (this file is built with them) ----

CHAIN_END(deep, 300)
CHAIN_FN(deep, 4, deep_end)
CHAIN_FN(deep, 3, deep4)
CHAIN_FN(deep, 2, deep3)
CHAIN_FN(deep, 1, deep2)

CHAIN_BODY(chain_body, deep, 3000)

extern "C" void *nofp_deep1(corolink_yielder *, int);
extern "C" void *nofp_deep2(corolink_yielder *, int);
extern "C" void *nofp_deep3(corolink_yielder *, int);
extern "C" void *ool_deep1(corolink_yielder *, int);
extern "C" void *ool_deep2(corolink_yielder *, int);
extern "C" void *ool_deep3(corolink_yielder *, int);

namespace {

using Fn = const void *;

// Whether pc lies in function f: [begin, end) from f's unwind record
// (RtlLookupFunctionEntry), which every function of a mingw-w64 build has.
bool in_function(uintptr_t pc, Fn f) {
    DWORD64 image = 0;
    PRUNTIME_FUNCTION rf = RtlLookupFunctionEntry(
        reinterpret_cast<DWORD64>(f), &image, nullptr);
    if (rf == nullptr)
        return false;
    return pc >= image + rf->BeginAddress && pc < image + rf->EndAddress;
}

// The backtrace of `co`, checked frame by frame against `want` (innermost
// first): pcs[0] is the exact suspend pc, the others return addresses
// (looked up at pc - 1, inside the call).
void expect_frames(corolink *co, const std::vector<Fn> &want) {
    void *pcs[64];
    int n = corolink_backtrace(co, pcs, 64);
    ASSERT_EQ(n, static_cast<int>(want.size()));
    for (int i = 0; i < n; i++) {
        uintptr_t pc = reinterpret_cast<uintptr_t>(pcs[i]) - (i > 0 ? 1 : 0);
        EXPECT_TRUE(in_function(pc, want[i])) << "frame " << i;
    }
}

struct Co {
    corolink *co = nullptr;
    Co(corolink_fn fn, void *arg) {
        EXPECT_EQ(corolink_create(&co, fn, arg, 64 * 1024), 0);
    }
    ~Co() {
        while (corolink_state(co) == COROLINK_STATE_SUSPENDED)
            corolink_resume(co, nullptr, nullptr);
        corolink_destroy(co);
    }
};

} // namespace

TEST(WindowsBacktrace, InlineSwitchWithFramePointers) {
    Co c(chain_body, reinterpret_cast<void *>(4));
    ASSERT_EQ(corolink_resume(c.co, nullptr, nullptr), COROLINK_YIELD);
    expect_frames(c.co, {reinterpret_cast<Fn>(deep4), reinterpret_cast<Fn>(deep3),
                         reinterpret_cast<Fn>(deep2), reinterpret_cast<Fn>(deep1),
                         reinterpret_cast<Fn>(chain_body)});
}

TEST(WindowsBacktrace, WithoutFramePointers) {
    // chain_nofp.cpp: -O2 -fomit-frame-pointer; the unwind codes still
    // describe every frame.
    Co c(nofp_body, reinterpret_cast<void *>(3));
    ASSERT_EQ(corolink_resume(c.co, nullptr, nullptr), COROLINK_YIELD);
    expect_frames(c.co, {reinterpret_cast<Fn>(nofp_deep3),
                         reinterpret_cast<Fn>(nofp_deep2),
                         reinterpret_cast<Fn>(nofp_deep1),
                         reinterpret_cast<Fn>(nofp_body)});
}

TEST(WindowsBacktrace, OutOfLineSwitchStartsInItsCaller) {
    Co c(ool_body, reinterpret_cast<void *>(3));
    ASSERT_EQ(corolink_resume(c.co, nullptr, nullptr), COROLINK_YIELD);
    // The list starts in the function that called corolink_suspend().
    void *pcs[64];
    int n = corolink_backtrace(c.co, pcs, 64);
    ASSERT_GE(n, 4);
    std::vector<Fn> want = {reinterpret_cast<Fn>(ool_deep3),
                            reinterpret_cast<Fn>(ool_deep2),
                            reinterpret_cast<Fn>(ool_deep1),
                            reinterpret_cast<Fn>(ool_body)};
    ASSERT_EQ(n, 4);
    for (int i = 0; i < n; i++)
        EXPECT_TRUE(in_function(reinterpret_cast<uintptr_t>(pcs[i]) - 1,
                                want[i]))
            << "frame " << i;
}

TEST(WindowsBacktrace, TruncatedAtMax) {
    Co c(chain_body, reinterpret_cast<void *>(4));
    ASSERT_EQ(corolink_resume(c.co, nullptr, nullptr), COROLINK_YIELD);
    void *pcs[2] = {nullptr, nullptr};
    ASSERT_EQ(corolink_backtrace(c.co, pcs, 2), 2);
    EXPECT_TRUE(in_function(reinterpret_cast<uintptr_t>(pcs[0]),
                            reinterpret_cast<Fn>(deep4)));
    EXPECT_TRUE(in_function(reinterpret_cast<uintptr_t>(pcs[1]) - 1,
                            reinterpret_cast<Fn>(deep3)));
}

namespace {
int running_rc = 0;
void *backtrace_self(corolink_yielder *y, void *, void *) {
    void *pcs[8];
    running_rc = corolink_backtrace(corolink_from_yielder(y), pcs, 8);
    return nullptr;
}
} // namespace

TEST(WindowsBacktrace, Errors) {
    void *pcs[4];
    EXPECT_EQ(corolink_backtrace(nullptr, pcs, 4), COROLINK_EINVAL);
    Co created(chain_body, reinterpret_cast<void *>(1));
    EXPECT_EQ(corolink_backtrace(created.co, pcs, 4), 0);
    EXPECT_EQ(corolink_backtrace(created.co, nullptr, 4), COROLINK_EINVAL);
    Co self(backtrace_self, nullptr);
    ASSERT_EQ(corolink_resume(self.co, nullptr, nullptr), COROLINK_RETURN);
    EXPECT_EQ(running_rc, COROLINK_ERUNNING);
    EXPECT_EQ(corolink_backtrace(self.co, pcs, 4), 0); // finished
}

// ---- the debug-offsets table and the registry, as a tool reads them ----

namespace {

HMODULE library() {
    HMODULE m = GetModuleHandleA("libcorolink.dll");
    return m;
}

const DebugOffsets *exported_table() {
    HMODULE m = library();
    return m ? reinterpret_cast<const DebugOffsets *>(
                   GetProcAddress(m, "corolink_debug_offsets"))
             : nullptr;
}

// The start of the module's section `name` (from its PE headers), or null.
const void *section(HMODULE m, const char *name) {
    auto *base = reinterpret_cast<const unsigned char *>(m);
    auto *dos = reinterpret_cast<const IMAGE_DOS_HEADER *>(base);
    auto *nt = reinterpret_cast<const IMAGE_NT_HEADERS64 *>(base + dos->e_lfanew);
    const IMAGE_SECTION_HEADER *s = IMAGE_FIRST_SECTION(nt);
    for (unsigned i = 0; i < nt->FileHeader.NumberOfSections; i++, s++)
        if (std::strncmp(reinterpret_cast<const char *>(s->Name), name,
                         IMAGE_SIZEOF_SHORT_NAME) == 0)
            return base + s->VirtualAddress;
    return nullptr;
}

// Live control blocks listed in the registry, walked through the table.
std::set<uintptr_t> live(const DebugOffsets &t) {
    std::set<uintptr_t> out;
    auto chunk = *reinterpret_cast<const uintptr_t *>(t.registry);
    for (int guard = 0; chunk != 0 && guard < 100000; guard++) {
        auto *c = reinterpret_cast<const unsigned char *>(chunk);
        uint64_t nslots = *reinterpret_cast<const uint64_t *>(c + t.chunk_off_nslots);
        auto *slots = reinterpret_cast<const uintptr_t *>(c + t.chunk_off_slots);
        for (uint64_t i = 0; i < nslots; i++)
            if (slots[i] != 0 && (slots[i] & t.slot_tag_mask) == 0)
                out.insert(slots[i]);
        chunk = *reinterpret_cast<const uintptr_t *>(c + t.chunk_off_next);
    }
    return out;
}

} // namespace

TEST(WindowsRegistry, TableInItsOwnSectionAndExported) {
    HMODULE m = library();
    ASSERT_NE(m, nullptr) << "the test links libcorolink.dll";
    const DebugOffsets *t = exported_table();
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(section(m, ".clnkdbg"), static_cast<const void *>(t));
    EXPECT_STREQ(t->magic, "CLNKDBG");
    EXPECT_EQ(t->version, 3u);
    EXPECT_EQ(t->size, sizeof(DebugOffsets));
    // No resume-path range on Windows (no tool reads it there).
    EXPECT_EQ(t->hidden_lo, 0u);
    EXPECT_EQ(t->hidden_hi, 0u);
    EXPECT_STREQ(t->target, "x86_64-win64-pe");
    EXPECT_EQ(t->elf_machine, 0x8664u); // IMAGE_FILE_MACHINE_AMD64
    EXPECT_EQ(t->suspended_pc_adjust, -131);
    EXPECT_EQ(t->off_link_sp, 0x50u);
    EXPECT_NE(t->registry, 0u);
}

TEST(WindowsRegistry, ListsLiveCoroutinesAndForgetsTheDestroyed) {
    const DebugOffsets *t = exported_table();
    ASSERT_NE(t, nullptr);
    auto a = std::make_unique<Co>(chain_body, reinterpret_cast<void *>(2));
    auto b = std::make_unique<Co>(chain_body, reinterpret_cast<void *>(2));
    ASSERT_EQ(corolink_resume(a->co, nullptr, nullptr), COROLINK_YIELD);
    std::set<uintptr_t> now = live(*t);
    EXPECT_EQ(now.count(reinterpret_cast<uintptr_t>(a->co)), 1u);
    EXPECT_EQ(now.count(reinterpret_cast<uintptr_t>(b->co)), 1u);
    // The block as a debugger reads it: id, check word, state.
    auto *block = reinterpret_cast<const unsigned char *>(a->co);
    EXPECT_EQ(*reinterpret_cast<const uint64_t *>(block + t->off_id),
              corolink_id(a->co));
    EXPECT_EQ(*reinterpret_cast<const uint64_t *>(block + t->off_check),
              reinterpret_cast<uintptr_t>(a->co) ^ t->check_xor);
    uintptr_t gone = reinterpret_cast<uintptr_t>(b->co);
    b.reset();
    EXPECT_EQ(live(*t).count(gone), 0u);
}

TEST(WindowsDump, ListsSuspendedCoroutinesWithModuleOffsets) {
    Co a(chain_body, reinterpret_cast<void *>(3));
    Co b(chain_body, reinterpret_cast<void *>(3));
    ASSERT_EQ(corolink_resume(a.co, nullptr, nullptr), COROLINK_YIELD);
    ASSERT_EQ(corolink_resume(b.co, nullptr, nullptr), COROLINK_YIELD);
    corolink_set_name(a.co, "alpha");
    FILE *f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    int rc = corolink_dump(f);
    EXPECT_GE(rc, 2);
    std::rewind(f);
    std::string out;
    char buf[4096];
    for (size_t k; (k = std::fread(buf, 1, sizeof buf, f)) > 0;)
        out.append(buf, k);
    std::fclose(f);
    SCOPED_TRACE(out);
    EXPECT_NE(out.find("2 coroutines with this stack"), std::string::npos);
    EXPECT_NE(out.find("alpha"), std::string::npos);
    // Frames are named by module and offset (PE images carry no symbol
    // table for the library to read).
    EXPECT_NE(out.find(".exe+0x"), std::string::npos);
}
