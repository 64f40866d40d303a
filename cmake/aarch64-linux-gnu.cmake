# Cross build for AArch64 Linux with Debian's cross toolchain
# (gcc-aarch64-linux-gnu, g++-aarch64-linux-gnu), testing under qemu-user:
#
#   cmake -S . -B build-aarch64 \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#   cmake --build build-aarch64 && ctest --test-dir build-aarch64
#
# Libraries for the target (Google Test, libunwind, libdw) come from
# Debian's multiarch :arm64 packages, in /usr/lib/aarch64-linux-gnu; the
# compiler links against the cross toolchain's C library in
# /usr/aarch64-linux-gnu. ctest runs every test program through
# CMAKE_CROSSCOMPILING_EMULATOR: qemu-aarch64 with `-cpu max` (pointer
# authentication and branch-target identification enforced). Programs run
# on the multiarch runtime (libc6:arm64: /lib/ld-linux-aarch64.so.1 and
# what the host's ld.so.cache lists), not on the cross toolchain's copy
# (qemu's -L /usr/aarch64-linux-gnu): that directory has the dynamic loader
# but not the libraries from the :arm64 packages, so the loader of one
# glibc build would run with the libc.so.6 of another, whose fork() then
# never returns in the child. Google Test's death tests run in the "fast"
# style (fork only): the default "threadsafe" style re-executes the test
# program, which a program under qemu-user cannot do without binfmt_misc.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(COROLINK_CROSS_TRIPLE aarch64-linux-gnu)

set(CMAKE_C_COMPILER ${COROLINK_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${COROLINK_CROSS_TRIPLE}-g++)

# Find target packages under the multiarch directories; programs (python3,
# gdb, cmake) on the host.
set(CMAKE_LIBRARY_ARCHITECTURE ${COROLINK_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH /usr/${COROLINK_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${COROLINK_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)

find_program(COROLINK_QEMU qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${COROLINK_QEMU} -cpu max
    -E GTEST_DEATH_TEST_STYLE=fast)
