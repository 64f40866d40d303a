# freestanding.nostdlib: configures and builds the library with
# COROLINK_DEFAULT_STACK=OFF and COROLINK_UNWIND=OFF (warnings as errors)
# into WORK_DIR, then checks that
#  1. `nm -A -u libcorolink.a` prints nothing: no undefined symbol at all;
#  2. `nm -D --undefined-only libcorolink.so` prints nothing, and the .so
#     has no DT_NEEDED entry (not even libc);
#  3. generator_nostdlib.c compiles with -ffreestanding and links with
#     -nostdlib -static against libcorolink.a (no libc, no libgcc);
#  4. that program has no interpreter (PT_INTERP), no PT_DYNAMIC and no
#     dynamic section, and no undefined symbol;
#  5. it exits with 0 (its own checks of corolink_on_parent_stack(),
#     corolink_on_stack(), ids and names passed), with nothing on stderr,
#     and its stdout is examples/generator.expected byte for byte;
#  6. run as `generator_nostdlib fatal`, it dies of SIGABRT after the
#     library's fatal message (raw write, raw tgkill) for destroying a
#     suspended coroutine.
# In: SOURCE_DIR, WORK_DIR, C_COMPILER; NM, READELF, EMU and TOOLCHAIN
# (optional).
include(${CMAKE_CURRENT_LIST_DIR}/../script_run.cmake)

if(NOT NM)
  find_program(NM nm REQUIRED)
endif()
if(NOT READELF)
  find_program(READELF readelf REQUIRED)
endif()

set(build ${WORK_DIR}/build)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${build}
    ${TOOLCHAIN_ARGS} -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_BUILD_TYPE=RelWithDebInfo
    -DCOROLINK_DEFAULT_STACK=OFF -DCOROLINK_UNWIND=OFF -DCOROLINK_WERROR=ON
    -DCOROLINK_TESTS=OFF -DCOROLINK_BENCH=OFF -DCOROLINK_EXAMPLES=OFF)
run(${CMAKE_COMMAND} --build ${build})
set(lib_a ${build}/libcorolink.a)
set(lib_so ${build}/libcorolink.so)

# 1. The archive: -A prints one line per symbol and no member headers.
# (ARM32: _GLOBAL_OFFSET_TABLE_, which its GOT-relative relocations name
# and every final link defines, see CMakeLists.txt, is not an outside
# dependency.)
run(${NM} -A -u ${lib_a})
# (i686: the pc-thunk idiom's GOTPC relocations name _GLOBAL_OFFSET_TABLE_,
# which every final link defines: not a symbol from outside.)
string(REGEX REPLACE "[^\n]* U _GLOBAL_OFFSET_TABLE_\n?" "" last_output "${last_output}")
if(NOT last_output STREQUAL "")
  message(FATAL_ERROR "libcorolink.a has undefined symbols (the freestanding "
                      "core must need nothing from outside):\n${last_output}")
endif()

# 2. The shared library.
run(${NM} -D --undefined-only ${lib_so})
if(NOT last_output STREQUAL "")
  message(FATAL_ERROR "libcorolink.so has undefined dynamic symbols (the "
                      "freestanding core must need nothing from outside):\n"
                      "${last_output}")
endif()
run(${READELF} -d ${lib_so})
if(last_output MATCHES "\\(NEEDED\\)")
  message(FATAL_ERROR "libcorolink.so needs shared libraries:\n${last_output}")
endif()

# 2b. CET marking (where the compiler has -fcf-protection): the archive's
# one partially linked object keeps the property of its inputs, and the
# .so, linked without start files, has no unmarked input at all.
# (Not for -m32: Linux has no IBT or shadow stacks for 32-bit programs,
# and the i686 library is built without the marks.)
execute_process(COMMAND ${C_COMPILER} -fcf-protection=full -x c -c /dev/null
                -o ${WORK_DIR}/cf.o RESULT_VARIABLE cf_rc OUTPUT_QUIET ERROR_QUIET)
if(cf_rc EQUAL 0 AND NOT "${C_TARGET_FLAGS}" MATCHES "-m32")
  foreach(f ${lib_a} ${lib_so})
    run(${READELF} -n ${f})
    if(NOT last_output MATCHES "x86 feature: IBT, SHSTK")
      message(FATAL_ERROR "${f}: not marked IBT and SHSTK:\n${last_output}")
    endif()
  endforeach()
endif()

# 3. The program: no C library, no start files, no libgcc.
set(prog ${WORK_DIR}/generator_nostdlib)
run(${C_COMPILER} ${C_TARGET_FLAGS} -std=c11 -O2 -g -Wall -Wextra -Werror
    -ffreestanding -fno-stack-protector -fno-pie
    -nostdlib -static
    -I${SOURCE_DIR}/include -I${SOURCE_DIR}/src
    ${SOURCE_DIR}/tests/freestanding/generator_nostdlib.c ${lib_a}
    -o ${prog})

# 4. Nothing dynamic about it.
run(${READELF} -lW ${prog})
if(last_output MATCHES "INTERP|DYNAMIC")
  message(FATAL_ERROR "${prog} has an interpreter or a dynamic segment:\n"
                      "${last_output}")
endif()
run(${READELF} -d ${prog})
# (GNU readelf says "There is no dynamic section"; llvm-readelf, which
# CMake picks with clang, prints nothing.)
if(NOT last_output MATCHES "no dynamic section" AND NOT last_output STREQUAL "")
  message(FATAL_ERROR "${prog} has a dynamic section:\n${last_output}")
endif()
run(${NM} -u ${prog})
if(NOT last_output STREQUAL "")
  message(FATAL_ERROR "${prog} has undefined symbols:\n${last_output}")
endif()

# 5. The generator's output, exactly; the extra checks through the status.
execute_process(COMMAND ${EMU} ${prog} RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
file(READ ${SOURCE_DIR}/examples/generator.expected expected)
if(NOT rc STREQUAL "0" OR NOT err STREQUAL "")
  message(FATAL_ERROR "${prog} failed (exit status ${rc}):\n${err}")
endif()
if(NOT out STREQUAL expected)
  message(FATAL_ERROR "${prog}: output differs from generator.expected.\n"
                      "--- got:\n${out}--- expected:\n${expected}")
endif()

# 6. The library's fatal path without a C library.
execute_process(COMMAND ${EMU} ${prog} fatal RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
# (qemu-user adds a line of its own about the signal: not ours.)
string(REGEX REPLACE "qemu: uncaught target signal [^\n]*\n?$" "" err "${err}")
set(want "corolink: fatal: corolink_destroy\\(\\) cannot unwind [^\n]* "
         "suspended coroutine [0-9]+ \"doomed\"\n")
string(CONCAT want ${want})
if(NOT err MATCHES "^${want}$" OR NOT rc MATCHES "[Aa]bort")
  message(FATAL_ERROR "${prog} fatal: expected the fatal message and SIGABRT, "
                      "got exit status \"${rc}\" and stderr:\n${err}")
endif()

message(STATUS "freestanding core: no undefined symbols; generator output "
               "exact; fatal path aborts")
