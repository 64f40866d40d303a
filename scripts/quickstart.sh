#!/bin/sh
# corolink quick start for a fresh Debian 12 machine.
#
#   scripts/quickstart.sh demo   install what is missing, build, run the demo
#   scripts/quickstart.sh test   install what is missing, build everything
#                                (warnings are errors), run every test suite
#
# Run as root (or with sudo available); only Debian's package archive is
# needed. The build goes to ./build (override with BUILD_DIR=...).
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
    pkgs="$pkgs googletest libgtest-dev libbenchmark-dev libboost-context-dev \
libunwind-dev libdw-dev libelf-dev gdb clang"
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

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOROLINK_WERROR=ON \
    -DCOROLINK_TESTS=ON -DCOROLINK_BENCH=ON -DCOROLINK_EXAMPLES=ON
cmake --build "$build" -j "$jobs"
cd "$build"
exec ctest --output-on-failure -j "$jobs"
