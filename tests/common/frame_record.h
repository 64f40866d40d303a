// Where a frame record {caller's frame pointer, return address} lies from
// a frame pointer (__builtin_frame_address(0), or a record's first word):
// at it on x86-64, AArch64 and i686; 16 bytes below it on RISC-V, whose
// frame pointer s0 is the frame's CFA, and 4 below it in ARM-state code on
// ARM32 (src/arch/*_linux.h, CL_RECORD_*).
#ifndef COROLINK_TESTS_FRAME_RECORD_H
#define COROLINK_TESTS_FRAME_RECORD_H

#include <stdint.h>

#if defined(__riscv)
#define COROLINK_TEST_FP_RECORD_OFFSET (-16)
#elif defined(__arm__)
/* ARM state: gcc's record is {saved r11 at fp - 4, lr at fp}. */
#define COROLINK_TEST_FP_RECORD_OFFSET (-4)
#else
#define COROLINK_TEST_FP_RECORD_OFFSET 0
#endif

/* The record of the frame whose frame pointer is fp. */
static inline const uintptr_t *corolink_test_fp_record(uintptr_t fp) {
    return (const uintptr_t *)(fp + (intptr_t)COROLINK_TEST_FP_RECORD_OFFSET);
}

#endif
