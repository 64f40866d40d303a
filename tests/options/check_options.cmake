# Configures and builds the library with COROLINK_DEFAULT_STACK=OFF and
# COROLINK_UNWIND=OFF (warnings as errors), then builds and runs
# minimal.c against it. In: SOURCE_DIR, WORK_DIR, C_COMPILER; NM, EMU and
# TOOLCHAIN (optional).
include(${CMAKE_CURRENT_LIST_DIR}/../script_run.cmake)
if(NOT NM)
  set(NM nm)
endif()

run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}
    ${TOOLCHAIN_ARGS} -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_BUILD_TYPE=RelWithDebInfo
    -DCOROLINK_DEFAULT_STACK=OFF -DCOROLINK_UNWIND=OFF -DCOROLINK_WERROR=ON
    -DCOROLINK_TESTS=OFF -DCOROLINK_BENCH=OFF -DCOROLINK_EXAMPLES=OFF)
run(${CMAKE_COMMAND} --build ${WORK_DIR})
# Nothing of the unwinder is linked in.
run(${NM} -D --undefined-only ${WORK_DIR}/libcorolink.so)
if(last_output MATCHES "_Unwind_")
  message(FATAL_ERROR "COROLINK_UNWIND=OFF still uses the unwinder:\n${last_output}")
endif()
run(${C_COMPILER} ${C_TARGET_FLAGS} -std=c11 -Wall -Wextra -Werror -I${SOURCE_DIR}/include
    ${SOURCE_DIR}/tests/options/minimal.c ${WORK_DIR}/libcorolink.so
    -Wl,-rpath,${WORK_DIR} -o ${WORK_DIR}/minimal)
run(${EMU} ${WORK_DIR}/minimal)
message(STATUS "${last_output}")
