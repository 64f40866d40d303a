# Cross build for RISC-V 64 Linux (RV64GC, LP64D) with Debian's cross
# toolchain (gcc-riscv64-linux-gnu, g++-riscv64-linux-gnu), testing under
# qemu-user:
#
#   cmake -S . -B build-riscv64 \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/riscv64-linux-gnu.cmake
#   cmake --build build-riscv64 && ctest --test-dir build-riscv64
#
# Debian 12 has no riscv64 architecture in its archive (it came with
# Debian 13): no multiarch :riscv64 packages, so no Google Test, libunwind,
# libdw or <sys/sdt.h> for the target. What the build has is the cross
# toolchain's own runtime in /usr/riscv64-linux-gnu (glibc, libgcc_s with
# its DWARF unwinder, libstdc++). So:
#  - Google Test is built from Debian's sources (package googletest,
#    /usr/src/googletest) by the project's CMake, as the Windows build does
#    (COROLINK_GTEST_FROM_SOURCE);
#  - the suites that need libunwind or libdw for the target are not built
#    (each says so at configure time);
#  - the USDT probes are off (check_include_file finds no <sys/sdt.h> for
#    the target; COROLINK_PROBES defaults to OFF then).
# ctest runs every test program through CMAKE_CROSSCOMPILING_EMULATOR:
# qemu-riscv64 with -L /usr/riscv64-linux-gnu. Unlike AArch64 (whose
# multiarch libraries come from the :arm64 packages), every library of the
# target is in that one directory, one glibc build with its own loader, so
# -L is right here. Google Test's death tests run in the "fast" style (fork
# only): the default "threadsafe" style re-executes the test program, which
# a program under qemu-user cannot do without binfmt_misc.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR riscv64)
set(COROLINK_CROSS_TRIPLE riscv64-linux-gnu)

set(CMAKE_C_COMPILER ${COROLINK_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${COROLINK_CROSS_TRIPLE}-g++)

# Only the cross toolchain's directory holds target libraries; programs
# (python3, gdb, cmake) on the host.
set(CMAKE_LIBRARY_ARCHITECTURE ${COROLINK_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH /usr/${COROLINK_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# (Packages also outside it: tests/install finds the installed corolink in
# a scratch prefix.)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# No pkg-config module of the host may stand in for the target's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/${COROLINK_CROSS_TRIPLE}/lib/pkgconfig)

set(COROLINK_GTEST_FROM_SOURCE ON)

# gcc 12's RISC-V default is no unwind tables for C (-fasynchronous-unwind-
# tables became the default on RISC-V Linux with gcc 13, as it always was
# on x86-64 and AArch64): C code without them stops every DWARF unwinder
# (libgcc's: exceptions, forced unwinds, backtrace()) at its frames. The
# library builds with them anyway (CMakeLists.txt); this makes the tests'
# and examples' C code what it is on the other targets. Programs of users
# built with gcc 12 for RISC-V need the same flag (README.md says so).
set(CMAKE_C_FLAGS_INIT "-fasynchronous-unwind-tables")
set(CMAKE_CXX_FLAGS_INIT "-fasynchronous-unwind-tables")

find_program(COROLINK_QEMU qemu-riscv64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${COROLINK_QEMU}
    -L /usr/${COROLINK_CROSS_TRIPLE} -E GTEST_DEATH_TEST_STYLE=fast)
