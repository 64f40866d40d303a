# Debian packages, one per install component (see CMakeLists.txt):
#
#   cmake -S . -B build-deb -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=RelWithDebInfo
#   cmake --build build-deb
#   (cd build-deb && cpack -G DEB)        # -> build-deb/packages/*.deb
#
# Named and split as Debian names and splits C libraries (Debian policy 8,
# "Shared libraries"):
#   libcorolink2      the runtime library; the package name carries the
#                     SONAME's number, so that a future libcorolink3 can be
#                     installed beside it. A shlibs file (policy >=) lets
#                     dpkg-shlibdeps of programs built on it depend on it,
#                     and an ldconfig trigger refreshes the cache.
#   libcorolink-dev   what building against it needs: the headers,
#                     libcorolink.so (the link-time name), libcorolink.a,
#                     corolink.pc, the CMake package, corolink(3). Depends on
#                     the same version of libcorolink2 (the inline switch
#                     freezes the ABI: a header of one version with the
#                     library of another is never right).
#   corolink-tools    corolink-stacks, corolink-perf, the gdb plugin under
#                     /usr/share/gdb/auto-load/<libdir>/ (which gdb trusts
#                     and reads by default), their man pages.
#   *-dbgsym          the debug information stripped from the binaries
#                     (.ddeb, as Debian's own build tools make them).
# Dependencies on system libraries come from dpkg-shlibdeps (dpkg-dev, part
# of build-essential). The install prefix must be /usr at configure time:
# GNUInstallDirs then picks Debian's multiarch libdir
# (lib/x86_64-linux-gnu), which the packages' paths, corolink.pc and the
# gdb auto-load path are made from.

set(CPACK_PACKAGE_NAME corolink)
set(CPACK_PACKAGE_VENDOR "corolink")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "corolink maintainers <maintainers@corolink.invalid>")
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_COMPONENTS_ALL runtime dev tools)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)   # name_version-release_arch.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The binaries are stripped into -dbgsym packages (needs a build type with
# -g: RelWithDebInfo or Debug; with CPACK_STRIP_FILES there would be none).
set(CPACK_DEBIAN_DEBUGINFO_PACKAGE ON)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
# Debian's own paths are root's, whatever the builder's umask.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# /usr/share/doc/<package>/copyright and changelog.Debian.gz in each
# package (cmake/debian/docs.cmake). The copyright file says that no
# licence has been chosen yet (cmake/debian/copyright).
set(CPACK_COROLINK_DEBIAN_DIR ${PROJECT_SOURCE_DIR}/cmake/debian)
set(CPACK_PRE_BUILD_SCRIPTS ${PROJECT_SOURCE_DIR}/cmake/debian/docs.cmake)

set(_cl_soversion 2) # = SOVERSION in CMakeLists.txt = COROLINK_ABI_VERSION
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libcorolink${_cl_soversion})
# ldconfig through a dpkg trigger (what Debian's tools do since 2015),
# not from maintainer scripts: CPack writes postinst/postrm scripts that
# call ldconfig unless the package brings its own, and these do nothing.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/cmake/debian/triggers
    ${PROJECT_SOURCE_DIR}/cmake/debian/postinst
    ${PROJECT_SOURCE_DIR}/cmake/debian/postrm)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
# (Global variables: CPack applies them to the packages holding libraries.)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
"stackful coroutines visible to debuggers and profilers (library)
corolink runs C and C++ functions as stackful coroutines: they suspend from
any depth of their call stack and take a new value each time they are
resumed. The root of every coroutine stack carries unwind records that lead
into the frame that resumed it, so that gdb, glibc backtrace(), libgcc,
libunwind, libdw and perf walk from inside a coroutine to main.
.
This package contains the shared library.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libcorolink-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_DESCRIPTION
"stackful coroutines visible to debuggers and profilers (development files)
corolink runs C and C++ functions as stackful coroutines whose stacks stay
visible to gdb, perf and every unwinder.
.
This package contains the header (the API manual), the static library, the
pkg-config and CMake package files, and the corolink(3) man page.")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME corolink-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS "python3")
set(CPACK_DEBIAN_TOOLS_PACKAGE_RECOMMENDS "gdb, linux-perf")
set(CPACK_DEBIAN_TOOLS_DESCRIPTION
"debugging and profiling tools for corolink coroutines
corolink-stacks lists the coroutines of a live process or a core file with
their backtraces (libdw); corolink-perf records and reports perf profiles
attributed to coroutines; the gdb plugin (loaded automatically for programs
linked with libcorolink) adds 'info coroutines', 'coroutine ID',
'coroutine apply' and pretty-printers.")

include(CPack)
cpack_add_component(runtime DISPLAY_NAME "Runtime library")
cpack_add_component(dev DISPLAY_NAME "Development files" DEPENDS runtime)
# The gdb plugin is named for the library's real file: the same version.
cpack_add_component(tools DISPLAY_NAME "Tools" DEPENDS runtime)
