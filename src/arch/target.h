/* The target the library is built for: one header per architecture and
 * operating system under src/arch/, each defining the same names (see
 * x86_64_linux.h for what each means). Included by internal.h. */
#ifndef COROLINK_ARCH_TARGET_H
#define COROLINK_ARCH_TARGET_H

#if defined(__x86_64__) && defined(__linux__)
#include "x86_64_linux.h"
#elif defined(__aarch64__) && defined(__linux__)
#include "aarch64_linux.h"
#elif defined(__riscv) && __riscv_xlen == 64 && defined(__linux__)
#include "riscv64_linux.h"
#elif defined(__i386__) && defined(__linux__)
#include "i386_linux.h"
#elif defined(__arm__) && defined(__linux__)
#include "arm_linux.h"
#elif defined(__x86_64__) && defined(_WIN64)
#include "x86_64_windows.h"
#else
#error "corolink: no port to this target (see the targets table in README.md)"
#endif

#endif
