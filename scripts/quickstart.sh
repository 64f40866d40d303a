#!/bin/sh
# corolink quick start for a fresh Debian 12 machine.
#
#   scripts/quickstart.sh demo   install what is missing, build, run the demo
#   scripts/quickstart.sh test   install what is missing, build everything
#                                (warnings are errors), run every test suite
#                                (valgrind memcheck included); build the
#                                Debian packages, install them, test them as
#                                a user, purge them; then the suites (no
#                                benchmarks) without the unwinder
#                                (COROLINK_UNWIND=OFF; clang, Ninja, the gdb
#                                plugin embedded), with ASan+UBSan (gcc) and
#                                with TSan (clang); then the cross builds
#                                (Release) for AArch64, RISC-V 64 and
#                                ARM32, their suites under qemu-user, the
#                                i686 build (-m32, Release), its suites
#                                natively or under qemu-i386, and the
#                                Windows x64 cross build (mingw-w64,
#                                Release), its suites under wine
#
# Run as root (or with sudo available); only Debian's package archive is
# needed. The build goes to ./build (override with BUILD_DIR=...); `test`
# also builds ./build-deb, ./build-nounwind, ./build-asan, ./build-tsan,
# ./build-aarch64, ./build-riscv64, ./build-i686, ./build-arm and
# ./build-windows (BUILD_DIR plus "-deb", "-nounwind", "-asan", "-tsan",
# "-aarch64", "-riscv64", "-i686", "-arm", "-windows"; wine's prefix is
# build-windows/wineprefix). For the AArch64, ARM32 and i686 builds it adds
# the arm64, armhf and i386 architectures to dpkg (multiarch: the target's
# Google Test, libunwind and libdw; Debian 12 has no riscv64 architecture).
# The package test installs corolink's .deb files on this machine and
# purges them again (root only; skipped otherwise).
set -eu

mode=${1:-}
case "$mode" in
demo | test) ;;
*)
    echo "usage: $0 demo|test" >&2
    exit 2
    ;;
esac

cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}

# What each mode needs from Debian.
pkgs="build-essential cmake pkg-config"
if [ "$mode" = test ]; then
    pkgs="$pkgs ninja-build dpkg-dev man-db mandoc libxml2-utils googletest libgtest-dev libbenchmark-dev libboost-context-dev \
libunwind-dev libdw-dev libelf-dev gdb clang linux-perf systemtap-sdt-dev \
valgrind \
gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user gdb-multiarch \
libgtest-dev:arm64 libunwind-dev:arm64 libdw-dev:arm64 libelf-dev:arm64 \
systemtap-sdt-dev:arm64 libstdc++6:arm64 libasan8:arm64 libubsan1:arm64 libtsan2:arm64 \
gcc-riscv64-linux-gnu g++-riscv64-linux-gnu \
libc6-dev-i386 lib32gcc-12-dev lib32stdc++-12-dev \
libgtest-dev:i386 libunwind-dev:i386 libdw-dev:i386 libelf-dev:i386 \
systemtap-sdt-dev:i386 libstdc++6:i386 \
gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf \
libgtest-dev:armhf libunwind-dev:armhf libdw-dev:armhf libelf-dev:armhf \
systemtap-sdt-dev:armhf libstdc++6:armhf libasan8:armhf libubsan1:armhf \
libc6-dbg:armhf \
mingw-w64 wine wine64"
fi

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "== installing:$missing"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    # Multiarch: the target libraries of the cross builds (arm64, armhf)
    # and of the -m32 build (i386).
    for arch in arm64 armhf i386; do
        case "$missing" in
        *:$arch*)
            dpkg --print-foreign-architectures | grep -qx "$arch" ||
                $sudo dpkg --add-architecture "$arch"
            ;;
        esac
    done
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        --no-install-recommends $missing >/dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)
if [ "$mode" = demo ]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCOROLINK_TESTS=OFF -DCOROLINK_BENCH=OFF -DCOROLINK_EXAMPLES=ON
    cmake --build "$build" -j "$jobs"
    echo "== running $build/examples/demo"
    exec "$build/examples/demo"
fi

# The configurations: the default one (in $build), the Debian packages
# ($build-deb), one without the unwinder (COROLINK_UNWIND=OFF, clang and
# Ninja, in $build-nounwind), and the library with
# its suites instrumented by ASan+UBSan (gcc, $build-asan) and by TSan
# (clang, $build-tsan: gcc's TSan runtime stops at 8128 live fibers, and
# the TSan suite runs 100,000 coroutines). Each is built and tested even
# if another one's tests fail; the script fails if any build or test
# fails.
failed=""
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOROLINK_WERROR=ON \
    -DCOROLINK_TESTS=ON -DCOROLINK_BENCH=ON -DCOROLINK_EXAMPLES=ON
cmake --build "$build" -j "$jobs"
echo "== testing $build (default configuration)"
(cd "$build" && ctest --output-on-failure -j "$jobs") || failed="$failed $build"

# The Debian packages (cmake/packaging.cmake), built as a distribution
# builds them (prefix /usr, nothing but the library and the tools), and
# packages.debian: installed with dpkg, used as a user would, purged.
deb="${build}-deb"
cmake -S . -B "$deb" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOROLINK_WERROR=ON \
    -DCMAKE_INSTALL_PREFIX=/usr -DCOROLINK_PACKAGE_TESTS=ON \
    -DCOROLINK_TESTS=OFF -DCOROLINK_BENCH=OFF -DCOROLINK_EXAMPLES=OFF
cmake --build "$deb" -j "$jobs"
echo "== testing $deb (Debian packages)"
(cd "$deb" && ctest --output-on-failure) || failed="$failed $deb"

# Without the unwinder; also the configuration built with clang and Ninja
# (the other generator and the other compiler users have), with the gdb
# plugin embedded in the library (COROLINK_GDB_EMBED).
nounwind="${build}-nounwind"
# (A tree left by an older script, made by another generator or compiler,
# cannot be reconfigured: it is made again.)
if [ -f "$nounwind/CMakeCache.txt" ] &&
    ! grep -q "^CMAKE_GENERATOR:INTERNAL=Ninja$" "$nounwind/CMakeCache.txt"; then
    rm -rf "$nounwind"
fi
CC=clang CXX=clang++ cmake -S . -B "$nounwind" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCOROLINK_WERROR=ON -DCOROLINK_UNWIND=OFF -DCOROLINK_GDB_EMBED=ON \
    -DCOROLINK_TESTS=ON -DCOROLINK_BENCH=OFF -DCOROLINK_EXAMPLES=ON
cmake --build "$nounwind" -j "$jobs"
echo "== testing $nounwind (COROLINK_UNWIND=OFF, clang, Ninja)"
(cd "$nounwind" && ctest --output-on-failure -j "$jobs") || failed="$failed $nounwind"

asan="${build}-asan"
cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOROLINK_WERROR=ON \
    -DCOROLINK_SANITIZE=address,undefined \
    -DCOROLINK_TESTS=ON -DCOROLINK_BENCH=OFF -DCOROLINK_EXAMPLES=ON
cmake --build "$asan" -j "$jobs"
echo "== testing $asan (ASan+UBSan)"
(cd "$asan" && ctest --output-on-failure -j "$jobs") || failed="$failed $asan"

tsan="${build}-tsan"
CC=clang CXX=clang++ cmake -S . -B "$tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCOROLINK_WERROR=ON -DCOROLINK_SANITIZE=thread \
    -DCOROLINK_TESTS=ON -DCOROLINK_BENCH=OFF -DCOROLINK_EXAMPLES=ON
cmake --build "$tsan" -j "$jobs"
# TSan's runtime maps a shadow call stack per fiber, so the suite's
# 100,000 suspended coroutines need more mappings than the kernel's
# default vm.max_map_count (65530) allows: raised for this run (root
# only), then put back.
maps=$(cat /proc/sys/vm/max_map_count 2>/dev/null || echo 0)
if [ "$maps" -lt 262144 ] && [ "$(id -u)" -eq 0 ]; then
    echo "== vm.max_map_count $maps -> 262144 for the TSan suite"
    sysctl -q -w vm.max_map_count=262144 || true
fi
echo "== testing $tsan (TSan, clang)"
(cd "$tsan" && ctest --output-on-failure -j "$jobs") || failed="$failed $tsan"
if [ "$maps" -lt 262144 ] && [ "$(id -u)" -eq 0 ]; then
    sysctl -q -w vm.max_map_count="$maps" || true
fi

case "$build" in
/*) host_build=$build ;;
*) host_build=$PWD/$build ;;
esac
# A Linux target other than the host's: target_build DIR TOOLCHAIN LABEL
# configures DIR with cmake/TOOLCHAIN.cmake (Release), builds it and runs
# its suites; corolink-stacks' tests read the target's cores with the host
# build of the tool, built above.
target_build() {
    cmake -S . -B "$1" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/$2.cmake" \
        -DCMAKE_BUILD_TYPE=Release -DCOROLINK_WERROR=ON \
        -DCOROLINK_TESTS=ON -DCOROLINK_BENCH=OFF -DCOROLINK_EXAMPLES=ON \
        -DCOROLINK_HOST_STACKS="$host_build/perf/corolink-stacks"
    cmake --build "$1" -j "$jobs"
    echo "== testing $1 ($3)"
    (cd "$1" && ctest --output-on-failure -j "$jobs") || failed="$failed $1"
}

# AArch64: cross-compiled (cmake/aarch64-linux-gnu.cmake), every suite run
# under qemu-user (`-cpu max`: pointer authentication and BTI on), in
# Release.
aarch64="${build}-aarch64"
target_build "$aarch64" aarch64-linux-gnu "AArch64 under qemu-user"

# RISC-V 64 (RV64GC, LP64D): cross-compiled (cmake/riscv64-linux-gnu.cmake),
# every suite run under qemu-riscv64, in Release. Debian 12 has no riscv64
# architecture: Google Test is built from its sources, and what needs the
# target's libunwind, libdw or <sys/sdt.h> is left out (each suite says so
# when configured). qemu 7.2 writes no cores of RISC-V guests: the gdb
# plugin's and corolink-stacks' core tests read a core that the test
# program writes itself, in the kernel's format (tests/common/self_core.h).
riscv64="${build}-riscv64"
target_build "$riscv64" riscv64-linux-gnu "RISC-V 64 under qemu-user"

# i686: the host's gcc with -m32 (cmake/i686-linux-gnu.cmake; the :i386
# multiarch packages for the target's libraries), in Release. Its programs
# run natively where the kernel runs 32-bit programs, else under
# qemu-i386 (the toolchain file tries one first); under qemu-i386,
# corolink-stacks' tests read the guest's cores with the host build of the
# tool, built above.
i686="${build}-i686"
target_build "$i686" i686-linux-gnu "i686"

# ARM32 (ARMv7-A, hard float): cross-compiled (cmake/arm-linux-gnueabihf.cmake),
# every suite run under qemu-user (`-cpu max`), in Release. The toolchain's
# default is Thumb-2: the suites are Thumb-2 code, and the core, exception,
# resume_with and backtrace suites are built once more in ARM state
# (tests/CMakeLists.txt, ".arm" in their names). libc6-dbg:armhf (in the
# package list above): glibc's .debug_frame, without which libdw (it reads
# no EHABI table) cannot unwind the armhf libc in qemu's cores, and
# stacks.qemu_core is not registered.
arm="${build}-arm"
target_build "$arm" arm-linux-gnueabihf "ARM32 under qemu-user"

# Windows x64: cross-compiled with mingw-w64 (cmake/x86_64-w64-mingw32.cmake,
# Google Test from Debian's sources), every suite run under wine, headless,
# in a wine prefix of the build's own. The prefix is made first (wineboot:
# a few seconds, once; then its wine server is let go) and one persistent
# wine server is kept for the whole run (otherwise each of the few hundred
# test processes starts its own, about 3 s each).
windows="${build}-windows"
cmake -S . -B "$windows" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/x86_64-w64-mingw32.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DCOROLINK_WERROR=ON \
    -DCOROLINK_TESTS=ON -DCOROLINK_BENCH=ON -DCOROLINK_EXAMPLES=ON
cmake --build "$windows" -j "$jobs"
echo "== testing $windows (Windows x64 under wine)"
case "$windows" in
/*) WINEPREFIX=$windows/wineprefix ;;
*) WINEPREFIX=$PWD/$windows/wineprefix ;;
esac
export WINEPREFIX
WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" wineboot -i >/dev/null 2>&1 || true
wineserver -w || true # wineboot's server exits (-p refuses while one runs)
wineserver -p
# One program first, alone: in a new prefix the first test programs to
# start have hung in wine's own start-up (never the tests themselves).
WINEDEBUG=-all timeout 120 wine "$windows/bin/generator.exe" >/dev/null 2>&1 || true
# (A time limit per test: a program that dies unhandled under wine may
# wait for a debugger instead of exiting.)
(cd "$windows" && ctest --output-on-failure -j "$jobs" --timeout 300) ||
    failed="$failed $windows"
wineserver -k || true

if [ -n "$failed" ]; then
    # The failed tests by name, last, where a log cut to its tail still
    # shows them (ctest's own list is printed after each configuration).
    for b in $failed; do
        echo "== failed in $b:" >&2
        sed 's/^/   /' "$b/Testing/Temporary/LastTestsFailed.log" >&2 2>/dev/null ||
            echo "   (no test list: the build or the tool failed)" >&2
    done
    echo "== tests failed in:$failed" >&2
    exit 1
fi
echo "== all tests passed in $build, $deb, $nounwind, $asan, $tsan, $aarch64, $riscv64, $i686, $arm and $windows"
