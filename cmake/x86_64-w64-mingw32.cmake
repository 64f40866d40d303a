# Cross build for Windows x64 with Debian's mingw-w64 (package mingw-w64),
# testing under wine (package wine, wine64):
#
#   cmake -S . -B build-windows \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/x86_64-w64-mingw32.cmake
#   cmake --build build-windows && ctest --test-dir build-windows
#
# The compilers are the "posix" flavour (the winpthreads thread model: the
# library uses pthread_once/keys, Google Test std::thread). Everything is
# linked statically against the compiler's runtime (libgcc, libstdc++,
# winpthreads), so that the programs and libcorolink.dll need no DLL but
# the system's, and every program and DLL lands in one directory (bin/),
# where Windows looks for the DLLs a program imports. Google Test is built
# from Debian's sources (package googletest, /usr/src/googletest) by the
# project's CMake. ctest runs every program through wine, headless
# (WINEDEBUG=-all: no diagnostics on stderr; no DISPLAY needed; mscoree
# and mshtml disabled so that a fresh prefix does not offer to install
# Mono or Gecko), in the wine prefix named by WINEPREFIX (scripts/
# quickstart.sh makes one in the build directory; default ~/.wine).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)
set(COROLINK_CROSS_TRIPLE x86_64-w64-mingw32)

set(CMAKE_C_COMPILER ${COROLINK_CROSS_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${COROLINK_CROSS_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER ${COROLINK_CROSS_TRIPLE}-windres)

set(CMAKE_FIND_ROOT_PATH /usr/${COROLINK_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static")

find_program(COROLINK_WINE NAMES wine wine64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR env WINEDEBUG=-all
    "WINEDLLOVERRIDES=mscoree,mshtml=" ${COROLINK_WINE})
