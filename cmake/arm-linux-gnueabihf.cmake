# Cross build for ARM32 Linux (ARMv7-A, hard-float EABI) with Debian's
# cross toolchain (gcc-arm-linux-gnueabihf, g++-arm-linux-gnueabihf),
# testing under qemu-user:
#
#   cmake -S . -B build-arm \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/arm-linux-gnueabihf.cmake
#   cmake --build build-arm && ctest --test-dir build-arm
#
# Debian's compiler for armhf builds Thumb-2 code by default (-mthumb,
# -march=armv7-a+fp, vfpv3-d16): the library, the tests and the examples
# are Thumb-2; the core, exception and backtrace suites are built once more
# in ARM state (-marm, tests/CMakeLists.txt: COROLINK_ARM_MODE_SUITES) so
# that both kinds of user code run against the one library.
#
# Libraries for the target (Google Test, libunwind, libdw) come from
# Debian's multiarch :armhf packages, in /usr/lib/arm-linux-gnueabihf; the
# compiler links against the cross toolchain's C library in
# /usr/arm-linux-gnueabihf. ctest runs every test program through
# CMAKE_CROSSCOMPILING_EMULATOR: qemu-arm with `-cpu max` (ARMv8-A's
# AArch32 state with every feature qemu has: VFPv4 with 32 double
# registers, NEON; it runs every ARMv7-A program, and no program of ours
# depends on a feature a Cortex-A15 lacks). Programs run on the multiarch
# runtime (libc6:armhf: /lib/ld-linux-armhf.so.3), without -L, for the
# reason given in aarch64-linux-gnu.cmake; Google Test's death tests run in
# the "fast" style, as there.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(COROLINK_CROSS_TRIPLE arm-linux-gnueabihf)

set(CMAKE_C_COMPILER ${COROLINK_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${COROLINK_CROSS_TRIPLE}-g++)

# gcc for ARM Linux writes no unwind tables for C code by default (x86-64's
# and AArch64's do: -fasynchronous-unwind-tables), and ARM's runtime
# unwinder (libgcc's, EHABI: C++ exceptions, _Unwind_Backtrace(), glibc's
# backtrace()) stops at a function without one: C code between a
# coroutine's frames and its resumer's (the tests' C helpers, as users'
# C code) is built with -funwind-tables.
#
# And 64-bit file offsets and inode numbers (_FILE_OFFSET_BITS=64), as
# Debian builds its armhf packages: a 32-bit readdir() without them fails
# (EOVERFLOW) on a 64-bit host's file systems, whose inode numbers do not
# fit 32 bits (the backtrace suite looks for qemu's cores that way).
set(CMAKE_C_FLAGS_INIT "-funwind-tables -D_FILE_OFFSET_BITS=64")
set(CMAKE_CXX_FLAGS_INIT "-D_FILE_OFFSET_BITS=64")

# Find target packages under the multiarch directories; programs (python3,
# gdb, cmake) on the host.
set(CMAKE_LIBRARY_ARCHITECTURE ${COROLINK_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH /usr/${COROLINK_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${COROLINK_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)

find_program(COROLINK_QEMU qemu-arm REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${COROLINK_QEMU} -cpu max
    -E GTEST_DEATH_TEST_STYLE=fast)
