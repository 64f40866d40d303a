# Builds the exception suite (exception_test.cpp, cleanup_c.c) with another
# compiler CC (its C++ driver: CC with "++" appended; CC_FLAGS such as
# --target=... for both), -O2, run through EMU, against the
# library LIB and Google Test (GTEST, GTEST_MAIN), and runs it.
include(${CMAKE_CURRENT_LIST_DIR}/../script_run.cmake)
file(MAKE_DIRECTORY ${WORK_DIR})
get_filename_component(libdir ${LIB} DIRECTORY)
set(cxx ${CC}++)
set(CC ${CC} ${CC_FLAGS})
set(cxx ${cxx} ${CC_FLAGS})
set(dir ${SOURCE_DIR}/tests/exception)
set(exe ${WORK_DIR}/exception_test)
# Under an emulator the suite adapts as the main build's does
# (tests/common/death_style.h).
if(EMU)
  set(emulated 1)
else()
  set(emulated 0)
endif()
execute_process(
  COMMAND ${CC} -x c -std=c11 -O2 -g -fexceptions -Wall -Wextra -Werror
          -I${SOURCE_DIR}/include -c ${dir}/cleanup_c.c -o ${WORK_DIR}/cleanup_c.o
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compiling cleanup_c.c failed:\n${err}")
endif()
execute_process(
  COMMAND ${cxx} -std=c++17 -O2 -g -Wall -Wextra -DCOROLINK_TEST_UNWIND=1
          -DCOROLINK_TEST_EMULATED=${emulated}
          -I${SOURCE_DIR}/include ${dir}/exception_test.cpp ${WORK_DIR}/cleanup_c.o
          ${GTEST_MAIN} ${GTEST} ${LIB} -pthread -Wl,-rpath,${libdir} -o ${exe}
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compiling exception_test.cpp failed:\n${err}")
endif()
execute_process(COMMAND ${EMU} ${exe} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "exit ${rc}:\n${out}\n${err}")
endif()
string(REGEX MATCH "PASSED[^\n]*" passed "${out}")
message(STATUS "${CC}: ${passed}")
