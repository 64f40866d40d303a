# Build for i686 Linux (x86 32-bit, System V i386 ABI) with the host's
# gcc/g++ and -m32 (not gcc-multilib, which conflicts with Debian's cross
# compilers: libc6-dev-i386, lib32gcc-12-dev and lib32stdc++-12-dev give
# -m32 its C and C++ runtime):
#
#   cmake -S . -B build-i686 -DCMAKE_TOOLCHAIN_FILE=cmake/i686-linux-gnu.cmake
#   cmake --build build-i686 && ctest --test-dir build-i686
#
# Libraries for the target (Google Test, libunwind, libdw, sys/sdt.h) come
# from Debian's multiarch :i386 packages, in /usr/lib/i386-linux-gnu.
#
# Running the programs: an x86-64 kernel built with IA32_EMULATION runs
# them natively. Where the kernel refuses 32-bit executables ("Exec format
# error": ia32_emulation=0, or a VM kernel without the compat ABI, as on
# the CI machine this was written on), ctest runs them under qemu-i386
# (qemu-user) instead, as the AArch64 build does: this file compiles and
# runs a probe program once to decide, and sets CMAKE_CROSSCOMPILING_EMULATOR
# only if the probe does not run. Either way CMAKE_CROSSCOMPILING is set
# (CMAKE_SYSTEM_NAME is). The tests follow the emulator, not the cross
# build (tests/CMakeLists.txt, COROLINK_TEST_EMULATED): natively the
# in-process backtrace suites attach with ptrace (libdw); under qemu they
# read qemu's cores and gdb uses qemu's stub. The gdb plugin and
# corolink-stacks suites of a cross build are registered under an emulator
# only (tests/gdb, tests/stacks), the perf suites not at all (tests/perf):
# a native i686 run leaves them out (never run here: this project's
# machines run no 32-bit programs).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR i686)
set(COROLINK_CROSS_TRIPLE i386-linux-gnu)

set(CMAKE_C_COMPILER gcc)
set(CMAKE_CXX_COMPILER g++)
# (COROLINK_TARGET_C_FLAGS: for test scripts that run the compiler
# themselves, tests/install/check_install.cmake.)
set(COROLINK_TARGET_C_FLAGS -m32)
# 64-bit file offsets and inode numbers (glibc's LFS interfaces) in every
# program: readdir() of a 32-bit program without them fails with EOVERFLOW
# on file systems whose directory offsets or inode numbers need 64 bits
# (the backtrace suites read the directories qemu writes cores into).
# corolink's own interface has no off_t.
set(CMAKE_C_FLAGS_INIT "-m32 -D_FILE_OFFSET_BITS=64")
set(CMAKE_CXX_FLAGS_INIT "-m32 -D_FILE_OFFSET_BITS=64")
set(CMAKE_ASM_FLAGS_INIT -m32)
set(CMAKE_EXE_LINKER_FLAGS_INIT -m32)
set(CMAKE_SHARED_LINKER_FLAGS_INIT -m32)
set(CMAKE_MODULE_LINKER_FLAGS_INIT -m32)

# Find target packages under the multiarch directories; programs (python3,
# gdb, cmake) on the host.
set(CMAKE_LIBRARY_ARCHITECTURE ${COROLINK_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${COROLINK_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
# The host's x86-64 libraries in /usr/lib/x86_64-linux-gnu must not be
# found for the target: search the i386 directory first and ignore the
# host's.
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu)

# Native, or under qemu-i386 (see above). The probe's result is cached in
# the environment of this configure run (the toolchain file is read again
# for every try_compile).
if(NOT DEFINED ENV{COROLINK_I686_EMULATOR})
  set(_probe_dir ${CMAKE_BINARY_DIR}/CMakeFiles/i686-probe)
  file(MAKE_DIRECTORY ${_probe_dir})
  file(WRITE ${_probe_dir}/probe.c "int main(void) { return 0; }\n")
  execute_process(COMMAND gcc -m32 ${_probe_dir}/probe.c -o ${_probe_dir}/probe
                  RESULT_VARIABLE _probe_cc OUTPUT_QUIET ERROR_QUIET)
  set(_probe_run 1)
  if(_probe_cc EQUAL 0)
    execute_process(COMMAND ${_probe_dir}/probe RESULT_VARIABLE _probe_run
                    OUTPUT_QUIET ERROR_QUIET)
  endif()
  if(_probe_run EQUAL 0)
    set(ENV{COROLINK_I686_EMULATOR} native)
  else()
    find_program(_qemu_i386 qemu-i386)
    if(NOT _qemu_i386)
      message(FATAL_ERROR "i686: this kernel does not run 32-bit programs and qemu-i386 (qemu-user) is not installed")
    endif()
    set(ENV{COROLINK_I686_EMULATOR} ${_qemu_i386})
  endif()
endif()
if(NOT "$ENV{COROLINK_I686_EMULATOR}" STREQUAL "native")
  # Death tests in the "fast" style, as for AArch64 (see there).
  set(CMAKE_CROSSCOMPILING_EMULATOR $ENV{COROLINK_I686_EMULATOR}
      -E GTEST_DEATH_TEST_STYLE=fast)
endif()
