// Reference behaviour of the core API: values in and out, states, nesting,
// stacks and the pool, misuse errors, guard pages, threads.
#include <corolink.h>

#include <gtest/gtest.h>

#include "common/core_helpers.h"
#include "common/death_style.h"

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#if defined(_WIN32)
#include <windows.h>
#else
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <thread>
#include <vector>

namespace {

// ---- values in and out -------------------------------------------------

struct GeneratorLog {
    std::vector<std::string> lines;
};

void *generator_body(corolink_yielder *y, void *input, void *arg) {
    auto *log = static_cast<GeneratorLog *>(arg);
    log->lines.push_back("started " + std::to_string(as_int(input)));
    for (intptr_t i = 0; i < 5; i++) {
        log->lines.push_back("yield " + std::to_string(i));
        input = corolink_suspend(y, as_ptr(i));
        log->lines.push_back("got " + std::to_string(as_int(input)));
    }
    log->lines.push_back("exit");
    return as_ptr(-7);
}

TEST(Core, GeneratorExchangesValuesInOrder) {
    GeneratorLog log;
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, generator_body, &log, 0), 0);
    std::vector<intptr_t> got;
    intptr_t input = 100;
    void *out = nullptr;
    int rc;
    while ((rc = corolink_resume(co, as_ptr(input), &out)) == COROLINK_YIELD) {
        log.lines.push_back("main got " + std::to_string(as_int(out)));
        got.push_back(as_int(out));
        input++;
    }
    EXPECT_EQ(rc, COROLINK_RETURN);
    EXPECT_EQ(as_int(out), -7);
    EXPECT_EQ(got, (std::vector<intptr_t>{0, 1, 2, 3, 4}));
    std::vector<std::string> want = {"started 100"};
    for (int i = 0; i < 5; i++) {
        want.push_back("yield " + std::to_string(i));
        want.push_back("main got " + std::to_string(i));
        want.push_back("got " + std::to_string(101 + i));
    }
    want.push_back("exit");
    EXPECT_EQ(log.lines, want);
    corolink_destroy(co);
}

void *return_at_once(corolink_yielder *, void *input, void *) { return input; }

TEST(Core, StartedAndDoneTransitions) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, generator_body, new GeneratorLog, 0), 0);
    auto *log = static_cast<GeneratorLog *>(
        reinterpret_cast<struct corolink__hot *>(co)->arg);
    EXPECT_FALSE(corolink_started(co));
    EXPECT_FALSE(corolink_done(co));
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    EXPECT_TRUE(corolink_started(co));
    EXPECT_FALSE(corolink_done(co));
    int rc;
    while ((rc = corolink_resume(co, nullptr, nullptr)) == COROLINK_YIELD) {
    }
    EXPECT_EQ(rc, COROLINK_RETURN);
    EXPECT_TRUE(corolink_started(co));
    EXPECT_TRUE(corolink_done(co));
    EXPECT_FALSE(corolink_started(nullptr));
    EXPECT_FALSE(corolink_done(nullptr));
    corolink_destroy(co);
    delete log;
}

TEST(Core, ReturnWithoutSuspendDeliversValue) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, return_at_once, nullptr, 0), 0);
    void *out = nullptr;
    EXPECT_EQ(corolink_resume(co, as_ptr(42), &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 42);
    EXPECT_TRUE(corolink_done(co));
    corolink_destroy(co);
}

// ---- depth ---------------------------------------------------------------

__attribute__((noinline)) intptr_t deep_suspend(corolink_yielder *y, int depth,
                                                intptr_t acc) {
    if (depth == 0)
        return as_int(corolink_suspend(y, as_ptr(acc)));
    volatile intptr_t local = depth; // a real frame at every level
    intptr_t r = deep_suspend(y, depth - 1, acc + local);
    return r + local;
}

void *deep_body(corolink_yielder *y, void *, void *) {
    intptr_t r = deep_suspend(y, 20, 0);
    return as_ptr(r);
}

TEST(Core, SuspendFromTwentyFramesDeep) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, deep_body, nullptr, 0), 0);
    void *out;
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 20 * 21 / 2); // sum of the depths on the way down
    ASSERT_EQ(corolink_resume(co, as_ptr(1000), &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 1000 + 20 * 21 / 2); // and on the way up
    corolink_destroy(co);
}

// ---- registers survive the switch ----------------------------------------

__attribute__((noinline)) double mix(double a, long double b, int64_t c) {
    return a * 1.5 + static_cast<double>(b) - static_cast<double>(c);
}

void *register_body(corolink_yielder *y, void *, void *) {
    // Many values live across each suspend, in integer, SSE and x87
    // registers; the resumer clobbers all of them in between.
    double d0 = 1.25, d1 = 2.5, d2 = 3.75, d3 = 5.0;
    long double ld = 7.125L;
    int64_t a = 11, b = 13, c = 17, e = 19, f = 23, g = 29;
    for (int i = 0; i < 3; i++) {
        corolink_suspend(y, as_ptr(i));
        d0 += 1; d1 *= 2; d2 -= 1; d3 /= 2;
        ld += 0.5L;
        a += 1; b += 2; c += 3; e += 4; f += 5; g += 6;
    }
    double r = mix(d0 + d1 + d2 + d3, ld, a + b + c + e + f + g);
    return as_ptr(static_cast<intptr_t>(r * 1000));
}

TEST(Core, LiveRegistersSurviveBothSides) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, register_body, nullptr, 0), 0);
    double x0 = 0.5, x1 = 0.25;
    long double lx = 3.5L;
    int64_t k0 = 3, k1 = 5, k2 = 7, k3 = 9, k4 = 11;
    void *out = nullptr;
    int rc, n = 0;
    while ((rc = corolink_resume(co, nullptr, &out)) == COROLINK_YIELD) {
        EXPECT_EQ(as_int(out), n);
        x0 *= 3; x1 += 1; lx *= 2;
        k0 += 1; k1 += 1; k2 += 1; k3 += 1; k4 += 1;
        n++;
    }
    ASSERT_EQ(rc, COROLINK_RETURN);
    EXPECT_EQ(n, 3);
    // Resumer side: 0.5*27, 0.25+3, 3.5*8, k's +3 each.
    EXPECT_DOUBLE_EQ(x0, 13.5);
    EXPECT_DOUBLE_EQ(x1, 3.25);
    EXPECT_EQ(static_cast<double>(lx), 28.0);
    EXPECT_EQ(k0 + k1 + k2 + k3 + k4, 3 + 5 + 7 + 9 + 11 + 15);
    // Body side: d = 4.25 + 20 + 0.75 + 0.625 = 25.625; ld = 8.625;
    // ints = 112 + 63 = 175; mix = 25.625*1.5 + 8.625 - 175 = -127.9375.
    EXPECT_EQ(as_int(out), static_cast<intptr_t>(-127.9375 * 1000));
    corolink_destroy(co);
}

// ---- alignment -------------------------------------------------------------

struct AlignSeen {
    uintptr_t frame = 1, aligned16 = 1, aligned64 = 1;
};

__attribute__((noinline)) void record_alignment(AlignSeen *s) {
    alignas(16) volatile char buf16[16];
    alignas(64) volatile char buf64[64];
    buf16[0] = 1;
    buf64[0] = 1;
    s->aligned16 = reinterpret_cast<uintptr_t>(&buf16[0]) % 16;
    s->aligned64 = reinterpret_cast<uintptr_t>(&buf64[0]) % 64;
}

void *align_body(corolink_yielder *, void *arg, void *) {
    auto *s = static_cast<AlignSeen *>(arg);
    // At entry rsp + 8 is 16-byte aligned: the return address was pushed by
    // a call made with an aligned rsp.
#if defined(__arm__) && defined(__thumb__)
    // AAPCS: sp 8-byte aligned at a call. Thumb code's frame address is
    // its sp after the prologue, which keeps that alignment.
    s->frame = reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) % 8;
#elif defined(__arm__)
    // ARM state: the frame address is the slot of the saved lr, the word
    // just below the sp at entry.
    s->frame = (reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) + 4) % 8;
#else
    s->frame = (reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) +
                2 * sizeof(void *)) % 16;
#endif
    record_alignment(s);
    return nullptr;
}

TEST(Core, StackIsAbiAlignedAtBodyEntry) {
    AlignSeen seen;
    corolink *co;
    ASSERT_EQ(corolink_create(&co, align_body, nullptr, 0), 0);
    ASSERT_EQ(corolink_resume(co, &seen, nullptr), COROLINK_RETURN);
#if !defined(_WIN32) // (the Microsoft ABI puts rbp anywhere in the frame)
    EXPECT_EQ(seen.frame, 0u);
#endif
    EXPECT_EQ(seen.aligned16, 0u);
    EXPECT_EQ(seen.aligned64, 0u);
    corolink_destroy(co);
}

// ---- nesting and corolink_current ----------------------------------------

struct NestState {
    corolink *outer = nullptr, *inner = nullptr;
    std::vector<std::string> trace;
};

void *inner_body(corolink_yielder *y, void *, void *arg) {
    auto *s = static_cast<NestState *>(arg);
    s->trace.push_back(corolink_current() == expected_current(s->inner) ? "inner:current ok"
                                                       : "inner:current BAD");
    corolink_suspend(y, as_ptr(1));
    s->trace.push_back(corolink_current() == expected_current(s->inner) ? "inner:current ok"
                                                       : "inner:current BAD");
    return as_ptr(2);
}

void *outer_body(corolink_yielder *y, void *, void *arg) {
    auto *s = static_cast<NestState *>(arg);
    void *out;
    int rc = corolink_resume(s->inner, nullptr, &out);
    s->trace.push_back("outer got " + std::to_string(rc) + "/" +
                       std::to_string(as_int(out)));
    s->trace.push_back(corolink_current() == expected_current(s->outer) ? "outer:current ok"
                                                       : "outer:current BAD");
    corolink_suspend(y, as_ptr(10));
    return as_ptr(20);
}

TEST(Core, NestedCoroutinesSuspendToTheirLastResumer) {
    NestState s;
    ASSERT_EQ(corolink_create(&s.outer, outer_body, &s, 0), 0);
    ASSERT_EQ(corolink_create(&s.inner, inner_body, &s, 0), 0);
    EXPECT_EQ(corolink_current(), nullptr);
    void *out;
    // main -> outer -> inner; inner suspends to outer, outer to main.
    ASSERT_EQ(corolink_resume(s.outer, nullptr, &out), COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 10);
    EXPECT_EQ(corolink_current(), nullptr);
    // The inner coroutine was last resumed by outer; now main resumes it,
    // so its next suspend/return comes back to main.
    ASSERT_EQ(corolink_resume(s.inner, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 2);
    ASSERT_EQ(corolink_resume(s.outer, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), 20);
    EXPECT_EQ(s.trace, (std::vector<std::string>{"inner:current ok",
                                                 "outer got 1/1",
                                                 "outer:current ok",
                                                 "inner:current ok"}));
    EXPECT_EQ(corolink_current(), nullptr);
    corolink_destroy(s.inner);
    corolink_destroy(s.outer);
}

// ---- corolink_current() off the coroutine's own stack ----------------------

void *current_of(void *) { return corolink_current(); }

__attribute__((noinline)) corolink *current_deep(int depth) {
    if (depth == 0)
        return corolink_current();
    corolink *r = current_deep(depth - 1);
    __asm__ volatile("" ::: "memory"); // no tail call: keep every frame
    return r;
}

struct CurrentSeen {
    corolink *self = nullptr, *deep = nullptr, *on_parent = nullptr,
             *on_stack = nullptr;
    corolink_stack stack{};
};

void *current_body(corolink_yielder *y, void *, void *arg) {
    auto *s = static_cast<CurrentSeen *>(arg);
    s->self = corolink_from_yielder(y);
    s->deep = current_deep(30);
    s->on_parent = static_cast<corolink *>(
        corolink_on_parent_stack(y, current_of, nullptr));
    void *r = nullptr;
    if (corolink_on_stack(&s->stack, current_of, nullptr, &r) == 0)
        s->on_stack = static_cast<corolink *>(r);
    return nullptr;
}

TEST(Core, CurrentFromDeepCallsAndOtherStacks) {
    CurrentSeen seen;
    ASSERT_EQ(corolink_stack_alloc(&seen.stack, 64 * 1024), 0);
    corolink *co;
    ASSERT_EQ(corolink_create(&co, current_body, &seen, 0), 0);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    EXPECT_EQ(seen.self, co);
    // 30 frames below the body; fn on the resumer's stack for co; fn on
    // another stack, called by co.
    EXPECT_EQ(seen.deep, expected_current(co));
    EXPECT_EQ(seen.on_parent, expected_current(co));
    EXPECT_EQ(seen.on_stack, expected_current(co));
    // Outside any coroutine: on the thread's stack, and on another stack.
    EXPECT_EQ(current_deep(5), nullptr);
    void *r = reinterpret_cast<void *>(1);
    ASSERT_EQ(corolink_on_stack(&seen.stack, current_of, nullptr, &r), 0);
    EXPECT_EQ(r, nullptr);
    corolink *in_thread = reinterpret_cast<corolink *>(1);
    std::thread t([&] { in_thread = corolink_current(); });
    t.join();
    EXPECT_EQ(in_thread, nullptr);
    corolink_destroy(co);
    corolink_stack_free(&seen.stack);
}

// ---- ABI v1: where a suspended coroutine unwinds from ----------------------

void *suspend_inline_body(corolink_yielder *y, void *, void *) {
    corolink_suspend(y, nullptr);
    return nullptr;
}

void *suspend_outofline_body(corolink_yielder *y, void *, void *) {
    // The library's out-of-line function: a pointer the compiler cannot see
    // through (it would inline the header's definition).
    void *(*volatile suspend)(corolink_yielder *, void *) = corolink_suspend;
    suspend(y, nullptr);
    return nullptr;
}

// The bytes before a suspended coroutine's co->pc are its switch-out,
// whose first instruction runs on the body's stack with co->sp and co->fp
// in the stack and frame-pointer registers (unwind-info/README.md,
// "Suspended coroutines"): 16 bytes on x86-64, 32 on AArch64.
#if defined(__x86_64__) && defined(_WIN32)
constexpr size_t kSwitchOut = 131; // with the TEB swap (no CFI rows to keep short)
#elif defined(__x86_64__)
constexpr size_t kSwitchOut = 16;
#elif defined(__aarch64__)
constexpr size_t kSwitchOut = 32;
#elif defined(__riscv) && __riscv_xlen == 64
constexpr size_t kSwitchOut = 36; // 9 instructions, never compressed
#elif defined(__i386__)
constexpr size_t kSwitchOut = 11;
#elif defined(__arm__)
constexpr size_t kSwitchOut = 40; // ARM and Thumb-2 alike
#endif

std::vector<uint8_t> switch_out_bytes(corolink_fn body) {
    corolink *co;
    EXPECT_EQ(corolink_create(&co, body, nullptr, 0), 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    const auto *pc = static_cast<const uint8_t *>(
        reinterpret_cast<struct corolink__hot *>(co)->pc);
#if defined(__arm__)
    // Bit 0 of a Thumb resume point's address is the state, not a byte.
    pc = reinterpret_cast<const uint8_t *>(reinterpret_cast<uintptr_t>(pc) &
                                           ~uintptr_t(1));
#endif
    std::vector<uint8_t> bytes(pc - kSwitchOut, pc);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    corolink_destroy(co);
    return bytes;
}

#if defined(__arm__)
// Little-endian bytes of ARM instruction words, or of Thumb halfwords (a
// 32-bit Thumb-2 instruction is its two halfwords, the first one first).
std::vector<uint8_t> le_bytes(std::initializer_list<uint32_t> units,
                              int size) {
    std::vector<uint8_t> bytes;
    for (uint32_t w : units)
        for (int i = 0; i < size; i++)
            bytes.push_back(static_cast<uint8_t>(w >> (8 * i)));
    return bytes;
}
#endif

#if defined(__aarch64__) || (defined(__riscv) && __riscv_xlen == 64)
// Little-endian bytes of A64 (and RISC-V's 32-bit) instruction words.
std::vector<uint8_t> a64_bytes(std::initializer_list<uint32_t> words) {
    std::vector<uint8_t> bytes;
    for (uint32_t w : words)
        for (int i = 0; i < 4; i++)
            bytes.push_back(static_cast<uint8_t>(w >> (8 * i)));
    return bytes;
}
#endif

TEST(Core, SuspendedCoroutineUnwindsFromSwitchOut) {
#if COROLINK_TEST_SANITIZED
    GTEST_SKIP() << "compares the inline switch's machine code; sanitizer builds take the out-of-line switch";
#endif
#if defined(__x86_64__) && defined(_WIN32)
    // mov 0x50(%rcx),%rsp; mov 0x40(%rcx),%rbp; ret
    // Starts with lea 1f(%rip),%rax (the resume point, kSwitchOut bytes on).
    const std::vector<uint8_t> tail = {0x48, 0x8b, 0x61, 0x50, 0x48,
                                       0x8b, 0x69, 0x40, 0xc3};
    std::vector<uint8_t> got = switch_out_bytes(suspend_inline_body);
    EXPECT_EQ(std::vector<uint8_t>(got.begin(), got.begin() + 3),
              (std::vector<uint8_t>{0x48, 0x8d, 0x05}));
    EXPECT_EQ(std::vector<uint8_t>(got.end() - tail.size(), got.end()), tail);
    // The out-of-line suspend's switch-out is longer (it sets the status
    // and returns with a jump): kSwitchOut bytes before its resume point
    // are inside it, after its frame is complete, where its own unwind
    // codes hold: lea 15(%rip)... is not checked byte for byte.
    (void)suspend_outofline_body;
#elif defined(__x86_64__)
    // mov 0xa0(%rdi),%rsp; sub $8,%rsp; mov 0x78(%rdi),%rbp; ret
    EXPECT_EQ(switch_out_bytes(suspend_inline_body),
              (std::vector<uint8_t>{0x48, 0x8b, 0xa7, 0xa0, 0, 0, 0, 0x48,
                                    0x83, 0xec, 0x08, 0x48, 0x8b, 0x6f, 0x78,
                                    0xc3}));
    // mov 0xa0(%rdi),%rsp; mov 0x78(%rdi),%rbp; notrack jmp *-8(%rsp)
    EXPECT_EQ(switch_out_bytes(suspend_outofline_body),
              (std::vector<uint8_t>{0x48, 0x8b, 0xa7, 0xa0, 0, 0, 0, 0x48,
                                    0x8b, 0x6f, 0x78, 0x3e, 0xff, 0x64, 0x24,
                                    0xf8}));
#elif defined(__aarch64__)
    // The inline and the out-of-line suspend share one switch-out:
    // adr x3, .+32; str x3, [x0]; mov x4, sp; stp x4, x29, [x0, #8];
    // ldp x30, x4, [x0, #72]; mov sp, x4; ldr x29, [x0, #64]; ret
    const std::vector<uint8_t> expected =
        a64_bytes({0x10000103, 0xf9000003, 0x910003e4, 0xa900f404,
                   0xa944901e, 0x9100009f, 0xf940201d, 0xd65f03c0});
    EXPECT_EQ(switch_out_bytes(suspend_inline_body), expected);
    EXPECT_EQ(switch_out_bytes(suspend_outofline_body), expected);
#elif defined(__riscv) && __riscv_xlen == 64
    // The inline and the out-of-line suspend share one switch-out:
    // auipc a3, 0; addi a3, a3, 36; sd a3, 0(a0); sd sp, 8(a0);
    // sd s0, 16(a0); ld ra, 72(a0); ld sp, 80(a0); ld s0, 64(a0); ret
    const std::vector<uint8_t> expected =
        a64_bytes({0x00000697, 0x02468693, 0x00d53023, 0x00253423,
                   0x00853823, 0x04853083, 0x05053103, 0x04053403,
                   0x00008067});
    EXPECT_EQ(switch_out_bytes(suspend_inline_body), expected);
    EXPECT_EQ(switch_out_bytes(suspend_outofline_body), expected);
#elif defined(__i386__)
    // mov 0x30(%edi),%esp; lea -4(%esp),%esp; mov 0x28(%edi),%ebp; ret
    EXPECT_EQ(switch_out_bytes(suspend_inline_body),
              (std::vector<uint8_t>{0x8b, 0x67, 0x30, 0x8d, 0x64, 0x24, 0xfc,
                                    0x8b, 0x6f, 0x28, 0xc3}));
    // mov 0x30(%edi),%esp; mov 0x28(%edi),%ebp; notrack jmp *-4(%esp)
    EXPECT_EQ(switch_out_bytes(suspend_outofline_body),
              (std::vector<uint8_t>{0x8b, 0x67, 0x30, 0x8b, 0x6f, 0x28, 0x3e,
                                    0xff, 0x64, 0x24, 0xfc}));
#elif defined(__arm__)
    // ARM state (the library's out-of-line suspend, and the inline one in
    // ARM code): adr r3, .+40; str r3, [r0]; str sp, [r0, #8];
    // str r7, [r0, #16]; str r11, [r0, #20]; ldr lr, [r0, #72];
    // ldr sp, [r0, #76]; ldr r11, [r0, #68]; ldr r7, [r0, #64]; bx lr
    const std::vector<uint8_t> arm = le_bytes(
        {0xe28f3020, 0xe5803000, 0xe580d008, 0xe5807010, 0xe580b014,
         0xe590e048, 0xe590d04c, 0xe590b044, 0xe5907040, 0xe12fff1e}, 4);
    EXPECT_EQ(switch_out_bytes(suspend_outofline_body), arm);
#if defined(__thumb__)
    // Thumb-2: mov r3, sp; str.w r3, [r0, #8]; adr.w r3, 1f+1 (addw r3,
    // pc, #imm: imm depends on the alignment, not compared); str.w r3,
    // [r0]; str.w r7, [r0, #16]; str.w r11, [r0, #20]; ldr.w lr, [r0,
    // #72]; ldr.w sp, [r0, #76]; ldr.w r11, [r0, #68]; ldr.w r7, [r0,
    // #64]; bx lr
    std::vector<uint8_t> got = switch_out_bytes(suspend_inline_body);
    std::vector<uint8_t> thumb = le_bytes(
        {0x466b, 0xf8c0, 0x3008, 0xf20f, 0x0300, 0xf8c0, 0x3000, 0xf8c0,
         0x7010, 0xf8c0, 0xb014, 0xf8d0, 0xe048, 0xf8d0, 0xd04c, 0xf8d0,
         0xb044, 0xf8d0, 0x7040, 0x4770}, 2);
    ASSERT_EQ(got.size(), thumb.size());
    got[8] = 0; // addw's imm8
    EXPECT_EQ(got, thumb);
#else
    EXPECT_EQ(switch_out_bytes(suspend_inline_body), arm);
#endif
#endif
}

// ---- running on other stacks ----------------------------------------------

struct StackProbe {
    uintptr_t local = 0;
};

void *probe_local(void *arg) {
    volatile int here = 0;
    static_cast<StackProbe *>(arg)->local = reinterpret_cast<uintptr_t>(&here);
    return as_ptr(77);
}

void *parent_stack_body(corolink_yielder *y, void *, void *arg) {
    auto *probe = static_cast<StackProbe *>(arg);
    void *r = corolink_on_parent_stack(y, probe_local, probe);
    // Still the coroutine afterwards, and still able to suspend.
    corolink_suspend(y, r);
    return nullptr;
}

TEST(Core, OnParentStackRunsOnTheResumersStack) {
    StackProbe probe;
    corolink *co;
    ASSERT_EQ(corolink_create(&co, parent_stack_body, &probe, 0), 0);
    volatile int resumer_local = 0;
    void *out;
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_YIELD);
    EXPECT_EQ(as_int(out), 77);
    corolink_stack st;
    ASSERT_EQ(corolink_get_stack(co, &st), 0);
    // fn's local is not on the coroutine stack but just below the resumer's
    // frame on the resumer's stack.
    EXPECT_FALSE(probe.local >= reinterpret_cast<uintptr_t>(st.limit) &&
                 probe.local < reinterpret_cast<uintptr_t>(st.base));
    uintptr_t mine = reinterpret_cast<uintptr_t>(&resumer_local);
    EXPECT_LT(probe.local, mine);
    EXPECT_GT(probe.local, mine - 64 * 1024);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    corolink_destroy(co);
}

TEST(Core, OnStackRunsOnTheGivenStack) {
    corolink_stack st;
    ASSERT_EQ(corolink_stack_alloc(&st, 64 * 1024), 0);
    StackProbe probe;
    void *result = nullptr;
    ASSERT_EQ(corolink_on_stack(&st, probe_local, &probe, &result), 0);
    EXPECT_EQ(as_int(result), 77);
    EXPECT_GE(probe.local, reinterpret_cast<uintptr_t>(st.limit));
    EXPECT_LT(probe.local, reinterpret_cast<uintptr_t>(st.base));
    EXPECT_EQ(corolink_on_stack(nullptr, probe_local, &probe, &result),
              COROLINK_EINVAL);
    EXPECT_EQ(corolink_on_stack(&st, nullptr, &probe, &result), COROLINK_EINVAL);
    corolink_stack tiny = {static_cast<char *>(st.base), static_cast<char *>(st.base) - 256, 0};
    EXPECT_EQ(corolink_on_stack(&tiny, probe_local, &probe, &result),
              COROLINK_ESTACK);
    corolink_stack_free(&st);
    EXPECT_EQ(st.base, nullptr);
}

// ---- many coroutines, stacks, pool -----------------------------------------

void *count_body(corolink_yielder *y, void *input, void *) {
    intptr_t n = as_int(input);
    while (true)
        n += as_int(corolink_suspend(y, as_ptr(n)));
}

TEST(Core, TenThousandLiveCoroutines) {
    constexpr int kCount = 10000;
    std::vector<corolink *> cos(kCount);
    std::set<uint64_t> ids;
    for (int i = 0; i < kCount; i++) {
        ASSERT_EQ(corolink_create(&cos[i], count_body, nullptr, 16 * 1024), 0)
            << "coroutine " << i;
        ids.insert(corolink_id(cos[i]));
        void *out;
        ASSERT_EQ(corolink_resume(cos[i], as_ptr(i), &out), COROLINK_YIELD);
        ASSERT_EQ(as_int(out), i);
    }
    EXPECT_EQ(ids.size(), static_cast<size_t>(kCount));
    EXPECT_EQ(ids.count(0), 0u);
    for (int round = 1; round <= 2; round++)
        for (int i = 0; i < kCount; i++) {
            void *out;
            ASSERT_EQ(corolink_resume(cos[i], as_ptr(1), &out), COROLINK_YIELD);
            ASSERT_EQ(as_int(out), i + round);
        }
    for (corolink *co : cos)
        destroy_suspended(co);
    corolink_pool_trim();
}

TEST(Core, PoolReusesStacks) {
    corolink_pool_trim();
    corolink *a;
    ASSERT_EQ(corolink_create(&a, return_at_once, nullptr, 0), 0);
    corolink_stack sa;
    ASSERT_EQ(corolink_get_stack(a, &sa), 0);
    ASSERT_EQ(corolink_resume(a, nullptr, nullptr), COROLINK_RETURN);
    uint64_t id_a = corolink_id(a);
    corolink_destroy(a);
    corolink *b;
    ASSERT_EQ(corolink_create(&b, return_at_once, nullptr, 0), 0);
    corolink_stack sb;
    ASSERT_EQ(corolink_get_stack(b, &sb), 0);
    EXPECT_EQ(sa.base, sb.base); // the same stack, from the pool
    EXPECT_EQ(sa.limit, sb.limit);
    EXPECT_NE(id_a, corolink_id(b)); // but a new coroutine
    EXPECT_FALSE(corolink_started(b));
    ASSERT_EQ(corolink_resume(b, as_ptr(5), nullptr), COROLINK_RETURN);
    // A different size is not served from the default-size stack.
    corolink *c;
    ASSERT_EQ(corolink_create(&c, return_at_once, nullptr, 64 * 1024), 0);
    corolink_stack sc;
    ASSERT_EQ(corolink_get_stack(c, &sc), 0);
    EXPECT_NE(sc.base, sb.base);
    EXPECT_GE(static_cast<char *>(sc.base) - static_cast<char *>(sc.limit),
              64 * 1024 - static_cast<long>(COROLINK_CONTROL_SIZE));
    corolink_destroy(c);
    corolink_destroy(b);
    // With pooling off, a destroyed stack is not reused.
    size_t old = corolink_pool_limit(0);
    EXPECT_EQ(old, 64u);
    corolink *d, *e;
    ASSERT_EQ(corolink_create(&d, return_at_once, nullptr, 0), 0);
    corolink_stack sd;
    ASSERT_EQ(corolink_get_stack(d, &sd), 0);
    corolink_destroy(d);
    ASSERT_EQ(corolink_create(&e, return_at_once, nullptr, 32 * 1024), 0);
    corolink_destroy(e);
    EXPECT_EQ(corolink_pool_limit(old), 0u);
}

#if defined(_WIN32)
// Allocations of this process (VirtualAlloc regions: each stack is one).
size_t count_mappings() {
    size_t n = 0;
    void *last = nullptr;
    MEMORY_BASIC_INFORMATION mbi;
    for (char *p = nullptr;
         VirtualQuery(p, &mbi, sizeof mbi) == sizeof mbi;
         p = static_cast<char *>(mbi.BaseAddress) + mbi.RegionSize) {
        if (mbi.State != MEM_FREE && mbi.AllocationBase != last)
            n++;
        last = mbi.State != MEM_FREE ? mbi.AllocationBase : nullptr;
        if (static_cast<char *>(mbi.BaseAddress) + mbi.RegionSize < p)
            break;
    }
    return n;
}
#else
// Mappings of this process, one per line of /proc/self/maps.
size_t count_mappings() {
    FILE *f = std::fopen("/proc/self/maps", "r");
    size_t n = 0;
    for (int c; (c = std::fgetc(f)) != EOF;)
        n += c == '\n';
    std::fclose(f);
    return n;
}
#endif

void create_and_pool(int n, size_t size) {
    std::vector<corolink *> cos(n);
    for (auto &co : cos)
        ASSERT_EQ(corolink_create(&co, return_at_once, nullptr, size), 0);
    for (auto *co : cos)
        corolink_destroy(co); // into this thread's pool
}

TEST(Core, PoolIsFreedByTrimAndAtThreadExit) {
#if COROLINK_TEST_SANITIZED
    GTEST_SKIP() << "counts the process's mappings, to which the sanitizer runtime adds its own";
#endif
    corolink_pool_trim();
    // A first thread leaves glibc's cached thread stack and malloc arena
    // behind; count after it.
    std::thread warm([] { create_and_pool(0, 48 * 1024); });
    warm.join();
    size_t before = count_mappings();
    // A thread fills its own pool and exits: its stacks are unmapped.
    std::thread t([] { create_and_pool(10, 48 * 1024); });
    t.join();
    EXPECT_EQ(count_mappings(), before);
    // This thread's pool keeps stacks until trimmed.
    create_and_pool(10, 48 * 1024);
    EXPECT_GE(count_mappings(), before + 10);
    corolink_pool_trim();
    EXPECT_EQ(count_mappings(), before);
}

TEST(Core, StackSizesAreRoundedAndGuarded) {
    corolink_stack st;
    ASSERT_EQ(corolink_stack_alloc(&st, COROLINK_STACK_MIN_SIZE + 1), 0);
    size_t usable = static_cast<char *>(st.base) - static_cast<char *>(st.limit);
    EXPECT_EQ(usable % 4096, 0u);
    EXPECT_GE(usable, COROLINK_STACK_MIN_SIZE + 1);
    EXPECT_GE(st.guard, 4096u);
    corolink_stack_free(&st);
    EXPECT_EQ(corolink_stack_alloc(&st, COROLINK_STACK_MIN_SIZE - 1),
              COROLINK_ESTACK);
    EXPECT_EQ(corolink_stack_alloc(nullptr, 0), COROLINK_EINVAL);
}

// ---- caller-provided stacks ------------------------------------------------

TEST(Core, CreateOnCallerStack) {
    std::vector<unsigned char> mem(32 * 1024, 0);
    corolink_stack st = {mem.data() + mem.size(), mem.data(), 0};
    GeneratorLog log;
    corolink *co;
    ASSERT_EQ(corolink_create_on(&co, &st, generator_body, &log), 0);
    // The control block lies at the top of the given memory.
    EXPECT_GE(reinterpret_cast<unsigned char *>(co), mem.data());
    EXPECT_LT(reinterpret_cast<unsigned char *>(co), mem.data() + mem.size());
    int rc, n = 0;
    while ((rc = corolink_resume(co, as_ptr(n), nullptr)) == COROLINK_YIELD)
        n++;
    EXPECT_EQ(rc, COROLINK_RETURN);
    EXPECT_EQ(n, 5);
    size_t used = corolink_stack_used(co);
    EXPECT_GT(used, 64u);
    EXPECT_LT(used, mem.size());
    corolink_destroy(co); // does not free the caller's memory
    // The same memory can carry another coroutine.
    ASSERT_EQ(corolink_create_on(&co, &st, return_at_once, nullptr), 0);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    corolink_destroy(co);
}

TEST(Core, CreateOnRejectsBadStacks) {
    std::vector<unsigned char> mem(64 * 1024);
    corolink *co = nullptr;
    corolink_stack small = {mem.data() + COROLINK_CONTROL_SIZE + 100, mem.data(), 0};
    EXPECT_EQ(corolink_create_on(&co, &small, return_at_once, nullptr),
              COROLINK_ESTACK);
    corolink_stack inverted = {mem.data(), mem.data() + mem.size(), 0};
    EXPECT_EQ(corolink_create_on(&co, &inverted, return_at_once, nullptr),
              COROLINK_EINVAL);
    corolink_stack ok = {mem.data() + mem.size(), mem.data(), 0};
    EXPECT_EQ(corolink_create_on(nullptr, &ok, return_at_once, nullptr),
              COROLINK_EINVAL);
    EXPECT_EQ(corolink_create_on(&co, nullptr, return_at_once, nullptr),
              COROLINK_EINVAL);
    EXPECT_EQ(corolink_create_on(&co, &ok, nullptr, nullptr), COROLINK_EINVAL);
    EXPECT_EQ(co, nullptr); // failed calls leave *out alone
}

// ---- stack usage -------------------------------------------------------------

__attribute__((noinline)) int burn_stack(int depth) {
    volatile char pad[1024];
    pad[0] = static_cast<char>(depth);
    pad[1023] = static_cast<char>(depth);
    int r = depth == 0 ? pad[0] : burn_stack(depth - 1);
    // pad stays live across the recursive call: every level keeps its frame
    // (no compiler may turn the recursion into a loop).
    __asm__ volatile("" : : "r"(pad) : "memory");
    return r + pad[1023];
}

void *usage_body(corolink_yielder *y, void *input, void *) {
    corolink_suspend(y, nullptr);
    return as_ptr(burn_stack(static_cast<int>(as_int(input))));
}

TEST(Core, StackUsageHighWaterMark) {
    corolink_stack st;
    ASSERT_EQ(corolink_stack_alloc(&st, 256 * 1024), 0);
    corolink *co;
    ASSERT_EQ(corolink_create_on(&co, &st, usage_body, nullptr), 0);
    EXPECT_EQ(corolink_stack_used(co), 0u); // fresh mapping, nothing written
    ASSERT_EQ(corolink_resume(co, as_ptr(40), nullptr), COROLINK_YIELD);
    size_t shallow = corolink_stack_used(co);
    EXPECT_GT(shallow, 0u);
    EXPECT_LT(shallow, 8u * 1024);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    size_t deep = corolink_stack_used(co);
    EXPECT_GE(deep, 40u * 1024); // 40 frames of > 1 KiB
    EXPECT_LT(deep, 200u * 1024);
    corolink_destroy(co);
    corolink_stack_free(&st);
}

// ---- ids and names -------------------------------------------------------------

TEST(Core, IdsAndNames) {
    corolink *a, *b;
    ASSERT_EQ(corolink_create(&a, return_at_once, nullptr, 0), 0);
    ASSERT_EQ(corolink_create(&b, return_at_once, nullptr, 0), 0);
    EXPECT_NE(corolink_id(a), 0u);
    EXPECT_GT(corolink_id(b), corolink_id(a));
    EXPECT_EQ(corolink_id(nullptr), 0u);
    EXPECT_STREQ(corolink_name(a), "");
    EXPECT_EQ(corolink_set_name(a, "worker-1"), 0);
    EXPECT_STREQ(corolink_name(a), "worker-1");
    std::string longname(100, 'x');
    EXPECT_EQ(corolink_set_name(b, longname.c_str()), 0);
    EXPECT_EQ(std::string(corolink_name(b)),
              std::string(COROLINK_NAME_MAX - 1, 'x'));
    EXPECT_EQ(corolink_set_name(a, nullptr), 0);
    EXPECT_STREQ(corolink_name(a), "");
    EXPECT_EQ(corolink_set_name(nullptr, "x"), COROLINK_EINVAL);
    corolink_destroy(a);
    corolink_destroy(b);
}

// ---- misuse ------------------------------------------------------------------------

void *resume_self(corolink_yielder *y, void *, void *) {
    corolink *self = corolink_from_yielder(y);
    void *out = as_ptr(1);
    int rc = corolink_resume(self, nullptr, &out);
    return as_ptr(rc * 10 + (out == nullptr ? 0 : 1));
}

void *resume_resumer(corolink_yielder *, void *input, void *) {
    void *out = nullptr;
    return as_ptr(corolink_resume(static_cast<corolink *>(input), nullptr, &out));
}

void *call_inner(corolink_yielder *, void *input, void *arg) {
    void *out = nullptr;
    int rc = corolink_resume(static_cast<corolink *>(arg), input, &out);
    return rc == COROLINK_RETURN ? out : as_ptr(-1000);
}

TEST(Core, MisuseReturnsNamedErrors) {
    void *out = as_ptr(5);
    EXPECT_EQ(corolink_resume(nullptr, nullptr, &out), COROLINK_EINVAL);
    EXPECT_EQ(out, nullptr);
    corolink *co;
    EXPECT_EQ(corolink_create(nullptr, return_at_once, nullptr, 0), COROLINK_EINVAL);
    EXPECT_EQ(corolink_create(&co, nullptr, nullptr, 0), COROLINK_EINVAL);
    EXPECT_EQ(corolink_create(&co, return_at_once, nullptr, 1024), COROLINK_ESTACK);

    // Resuming a finished coroutine.
    ASSERT_EQ(corolink_create(&co, return_at_once, nullptr, 0), 0);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_RETURN);
    out = as_ptr(5);
    EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_EDONE);
    EXPECT_EQ(out, nullptr);
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_EDONE);
    corolink_destroy(co);

    // A coroutine resuming itself.
    ASSERT_EQ(corolink_create(&co, resume_self, nullptr, 0), 0);
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), COROLINK_ERUNNING * 10);
    corolink_destroy(co);

    // A coroutine resuming the coroutine that resumed it.
    corolink *outer, *inner;
    ASSERT_EQ(corolink_create(&inner, resume_resumer, nullptr, 0), 0);
    ASSERT_EQ(corolink_create(&outer, call_inner, inner, 0), 0);
    ASSERT_EQ(corolink_resume(outer, outer, &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), COROLINK_ERUNNING);
    corolink_destroy(outer);
    corolink_destroy(inner);

    EXPECT_STREQ(corolink_strerror(COROLINK_EDONE), "coroutine has finished");
    EXPECT_STREQ(corolink_strerror(COROLINK_ERUNNING), "coroutine is running");
    EXPECT_STREQ(corolink_strerror(12345), "unknown corolink error");
}

TEST(Core, ForceResetFinishesASuspendedCoroutine) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, count_body, nullptr, 0), 0);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    EXPECT_EQ(corolink_force_reset(co), 0);
    EXPECT_TRUE(corolink_done(co));
    EXPECT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_EDONE);
    EXPECT_EQ(corolink_force_reset(nullptr), COROLINK_EINVAL);
    corolink_destroy(co);
}

void *force_reset_self(corolink_yielder *y, void *, void *) {
    return as_ptr(corolink_force_reset(corolink_from_yielder(y)));
}

TEST(Core, ForceResetRefusesARunningCoroutine) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, force_reset_self, nullptr, 0), 0);
    void *out;
    ASSERT_EQ(corolink_resume(co, nullptr, &out), COROLINK_RETURN);
    EXPECT_EQ(as_int(out), COROLINK_ERUNNING);
    corolink_destroy(co);
}

TEST(Core, DestroyingSuspendedAndUnstartedCoroutines) {
    corolink *co;
    ASSERT_EQ(corolink_create(&co, count_body, nullptr, 0), 0);
    corolink_destroy(co); // never started
    ASSERT_EQ(corolink_create(&co, count_body, nullptr, 0), 0);
    ASSERT_EQ(corolink_resume(co, nullptr, nullptr), COROLINK_YIELD);
    destroy_suspended(co); // suspended: unwound (or reset), then freed
    corolink_destroy(nullptr);
}

// ---- death tests ------------------------------------------------------------------

volatile int recursion_limit = 1 << 30; // never reached: the guard is

__attribute__((noinline)) int recurse_forever(int n) {
    volatile char pad[256];
    pad[0] = static_cast<char>(n);
    if (n >= recursion_limit)
        return 0;
    return recurse_forever(n + 1) + pad[0];
}

void *overflow_body(corolink_yielder *, void *, void *) {
    return as_ptr(recurse_forever(0));
}

#if defined(_WIN32)
LONG WINAPI exit_with_exception_code(EXCEPTION_POINTERS *info) {
    TerminateProcess(GetCurrentProcess(),
                     info->ExceptionRecord->ExceptionCode);
    return EXCEPTION_CONTINUE_SEARCH;
}
#endif

TEST(CoreDeathTest, StackOverflowHitsTheGuardPage) {
#if COROLINK_TEST_SANITIZED
    GTEST_SKIP() << "expects death by SIGSEGV; the sanitizer reports the overflow itself and exits";
#endif
    COROLINK_TEST_THREADSAFE_DEATH();
#if defined(_WIN32)
    // Windows: the system raises STATUS_STACK_OVERFLOW near the end of the
    // stack; the coroutine's root catches it and the resumer raises it
    // again, where nothing handles it.
    const auto died = testing::ExitedWithCode(static_cast<int>(0xC00000FDu));
#else
    const auto died = testing::KilledBySignal(SIGSEGV);
#endif
    EXPECT_EXIT(
        {
#if defined(_WIN32)
            // Unhandled, the exception would start the system's debugger
            // (winedbg under wine, which may wait forever): end with its
            // code instead, as the system does when no debugger is set.
            SetUnhandledExceptionFilter(exit_with_exception_code);
#endif
            corolink *co;
            if (corolink_create(&co, overflow_body, nullptr, 64 * 1024) != 0)
                _exit(3);
            corolink_resume(co, nullptr, nullptr);
            _exit(4); // not reached: the overflow must fault
        },
        died, "");
}

void *destroy_self(corolink_yielder *y, void *, void *) {
    corolink_set_name(corolink_from_yielder(y), "selfish");
    corolink_destroy(corolink_from_yielder(y));
    return nullptr;
}

TEST(CoreDeathTest, DestroyingARunningCoroutineAborts) {
    COROLINK_TEST_THREADSAFE_DEATH();
    EXPECT_DEATH(
        {
            corolink *co;
            if (corolink_create(&co, destroy_self, nullptr, 0) == 0)
                corolink_resume(co, nullptr, nullptr);
        },
        "corolink: fatal: corolink_destroy\\(\\) called on coroutine " COROLINK_RE_NUMBER " "
        "\"selfish\" while it is running");
}

// ---- threads ------------------------------------------------------------------------

// The kernel's id of the calling thread. A real system call each time:
// pthread_self() (and so std::this_thread::get_id()) is declared `const`,
// and the compiler may reuse its value across a suspend, which is wrong
// once the coroutine migrates (see "Threads" in corolink.h).
#if defined(_WIN32)
__attribute__((noinline)) long current_tid() {
    return static_cast<long>(GetCurrentThreadId());
}
#else
__attribute__((noinline)) long current_tid() { return syscall(SYS_gettid); }
#endif

struct ThreadTrip {
    std::vector<long> seen;
    std::vector<bool> current_ok;
};

void *thread_body(corolink_yielder *y, void *input, void *arg) {
    auto *t = static_cast<ThreadTrip *>(arg);
    intptr_t sum = as_int(input);
    for (int i = 0; i < 6; i++) {
        t->seen.push_back(current_tid());
        t->current_ok.push_back(corolink_current() ==
                                expected_current(corolink_from_yielder(y)));
        sum += as_int(corolink_suspend(y, as_ptr(sum)));
    }
    return as_ptr(sum);
}

TEST(Core, ResumedAlternatelyFromTwoThreads) {
    ThreadTrip trip;
    corolink *co;
    ASSERT_EQ(corolink_create(&co, thread_body, &trip, 0), 0);
    std::vector<long> resumers;
    std::vector<intptr_t> outs;
    int last = 0;
    // Each thread resumes in turn; join() orders the resumes (no overlap).
    for (int i = 0; i < 7; i++) {
        std::thread t([&, i] {
            void *out = nullptr;
            last = corolink_resume(co, as_ptr(i + 1), &out);
            outs.push_back(as_int(out));
            resumers.push_back(current_tid());
            // Back on this thread's own stack.
            if (corolink_current() != nullptr)
                last = -100;
        });
        t.join();
    }
    EXPECT_EQ(last, COROLINK_RETURN);
    EXPECT_EQ(outs, (std::vector<intptr_t>{1, 3, 6, 10, 15, 21, 28}));
    ASSERT_EQ(trip.seen.size(), 6u);
    for (size_t i = 0; i < trip.seen.size(); i++) {
        EXPECT_EQ(trip.seen[i], resumers[i]) << "step " << i;
        EXPECT_TRUE(trip.current_ok[i]) << "step " << i;
    }
    EXPECT_EQ(corolink_current(), nullptr);
    corolink_destroy(co); // created on this thread, last run on another
}

TEST(Core, TwoThreadsPingPongOneCoroutine) {
    // Two long-lived threads hand one coroutine back and forth through an
    // atomic turn counter: thread A resumes on even turns, B on odd ones.
    ThreadTrip trip;
    corolink *co;
    ASSERT_EQ(corolink_create(&co, thread_body, &trip, 0), 0);
    std::atomic<int> turn{0};
    std::vector<intptr_t> outs(7);
    std::vector<int> rcs(7);
    auto player = [&](int parity) {
        for (int t = parity; t < 7; t += 2) {
            while (turn.load(std::memory_order_acquire) != t)
                std::this_thread::yield();
            void *out = nullptr;
            rcs[t] = corolink_resume(co, as_ptr(1), &out);
            outs[t] = as_int(out);
            turn.store(t + 1, std::memory_order_release);
        }
    };
    std::thread a(player, 0), b(player, 1);
    a.join();
    b.join();
    EXPECT_EQ(outs, (std::vector<intptr_t>{1, 2, 3, 4, 5, 6, 7}));
    EXPECT_EQ(rcs[6], COROLINK_RETURN);
    for (int t = 0; t < 6; t++)
        EXPECT_EQ(rcs[t], COROLINK_YIELD);
    for (size_t i = 1; i < trip.seen.size(); i++)
        EXPECT_NE(trip.seen[i], trip.seen[i - 1]) << "step " << i;
    corolink_destroy(co);
}

#if defined(__x86_64__) && defined(__ELF__)
// The x86-64 gate word (ABI v2), read through the GOT as the inline resume
// reads it (a C reference from the executable could copy it here).
std::uint64_t read_probe_gate() {
    std::uint64_t v;
    __asm__ volatile("movq corolink__probe_gate@GOTPCREL(%%rip), %0\n\t"
                     "movq (%0), %0"
                     : "=r"(v));
    return v;
}

// Replies input + 1 until it gets 0, then returns (so that destroying it
// unwinds nothing: builds without the unwinder cannot).
void *gate_echo_body(corolink_yielder *y, void *input, void *) {
    while (input != nullptr)
        input = corolink_suspend(
            y, reinterpret_cast<void *>(reinterpret_cast<std::uintptr_t>(input) + 1));
    return nullptr;
}

// A holder (here suspend timestamps) adds 1 to the high byte of the
// resume/suspend semaphore, the word's top 16 bits: the word is then above
// every user address, so every inline resume takes the traced path (the
// suites of timestamps check what it does); and lets go of it exactly.
TEST(Core, ProbeGateIsHeldAboveEveryAddressWhileTimestampsAreOn) {
    const std::uint64_t before = read_probe_gate();
    corolink *co = nullptr;
    ASSERT_EQ(corolink_create(&co, gate_echo_body, nullptr, 0), 0);
    void *out = nullptr;
    ASSERT_EQ(corolink_resume(co, reinterpret_cast<void *>(1), &out), COROLINK_YIELD);
    corolink_debug_timestamps(true);
    EXPECT_EQ(read_probe_gate() - before, std::uint64_t{1} << 56);
    EXPECT_GT(read_probe_gate(), reinterpret_cast<std::uintptr_t>(co));
    ASSERT_EQ(corolink_resume(co, reinterpret_cast<void *>(5), &out), COROLINK_YIELD);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(out), 6u);
    corolink_debug_timestamps(false);
    EXPECT_EQ(read_probe_gate(), before);
    EXPECT_EQ(corolink_resume(co, nullptr, &out), COROLINK_RETURN);
    corolink_destroy(co);
}
#endif

} // namespace
