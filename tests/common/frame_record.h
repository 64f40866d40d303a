// Where a frame record {caller's frame pointer, return address} lies from
// a frame pointer (__builtin_frame_address(0), or a record's first word):
// at it on x86-64 and AArch64; 16 bytes below it on RISC-V, whose frame
// pointer s0 is the frame's CFA (src/arch/riscv64_linux.h,
// CL_FP_RECORD_OFFSET).
#ifndef COROLINK_TESTS_FRAME_RECORD_H
#define COROLINK_TESTS_FRAME_RECORD_H

#include <stdint.h>

#if defined(__riscv)
#define COROLINK_TEST_FP_RECORD_OFFSET (-16)
#else
#define COROLINK_TEST_FP_RECORD_OFFSET 0
#endif

/* The record of the frame whose frame pointer is fp. */
static inline const uintptr_t *corolink_test_fp_record(uintptr_t fp) {
    return (const uintptr_t *)(fp + (intptr_t)COROLINK_TEST_FP_RECORD_OFFSET);
}

#endif
