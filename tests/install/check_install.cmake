# Installs the build tree into a scratch prefix, then builds and runs a
# consumer with find_package(corolink) and with pkg-config.
# In: BUILD_DIR, SOURCE_DIR, WORK_DIR, C_COMPILER; EMU, TOOLCHAIN and
# C_TARGET_FLAGS (optional).
include(${CMAKE_CURRENT_LIST_DIR}/../script_run.cmake)

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(f include/corolink.h include/corolink.hpp include/corolink/x86_64_sysv_elf.h
          include/corolink/aarch64_aapcs_elf.h include/corolink/riscv64_lp64d_elf.h
          include/corolink/i386_sysv_elf.h include/corolink/arm_aapcs_elf.h
          lib/libcorolink.a lib/pkgconfig/corolink.pc
          lib/cmake/corolink/corolinkConfig.cmake)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
file(GLOB sonames ${prefix}/lib/libcorolink.so.2)
if(NOT sonames)
  message(FATAL_ERROR "libcorolink.so.2 (SONAME) not installed")
endif()

# CMake package.
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/install/consumer -B ${WORK_DIR}/cm
    ${TOOLCHAIN_ARGS} -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_COMPILER=${C_COMPILER}
    -DCMAKE_BUILD_RPATH=${prefix}/lib)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/cm)
run(${EMU} ${WORK_DIR}/cm/consumer)
message(STATUS "find_package, shared: ${last_output}")
run(${EMU} ${WORK_DIR}/cm/consumer_static)
message(STATUS "find_package, static: ${last_output}")

# pkg-config. The .pc file names the prefix it was installed to, absolute
# and normalised (what debuggers then show as the header's path).
file(GLOB pcs ${prefix}/lib*/pkgconfig/corolink.pc ${prefix}/lib/*/pkgconfig/corolink.pc)
list(GET pcs 0 pc)
file(READ ${pc} pc_text)
if(NOT pc_text MATCHES "(^|\n)prefix=${prefix}\n" OR pc_text MATCHES "\\.\\.")
  message(FATAL_ERROR "${pc}: not the install prefix, or not normalised:\n${pc_text}")
endif()
get_filename_component(pc_dir ${pc} DIRECTORY)
set(ENV{PKG_CONFIG_PATH} ${pc_dir})
run(pkg-config --cflags --libs corolink)
string(STRIP "${last_output}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
# (C_TARGET_FLAGS: what makes the compiler the target's, e.g. -m32 for
# i686, from the toolchain file's COROLINK_TARGET_C_FLAGS.)
run(${C_COMPILER} ${C_TARGET_FLAGS} ${SOURCE_DIR}/tests/install/consumer/consumer.c ${flags}
    -Wl,-rpath,${prefix}/lib -o ${WORK_DIR}/pc_consumer)
run(${EMU} ${WORK_DIR}/pc_consumer)
message(STATUS "pkg-config: ${last_output}")
