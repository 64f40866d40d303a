# Builds examples/generator.c with another compiler (CC, with CC_FLAGS such
# as --target=...), asm dialect DIALECT (att/intel on x86-64; "default":
# the compiler's only one) and language LANG (c/c++), links it with LIB,
# runs it (through EMU) and compares the output with
# examples/generator.expected.
include(${CMAKE_CURRENT_LIST_DIR}/script_run.cmake)
file(MAKE_DIRECTORY ${WORK_DIR})
set(dialectflags)
if(NOT DIALECT STREQUAL "default")
  set(dialectflags -masm=${DIALECT})
endif()
get_filename_component(libdir ${LIB} DIRECTORY)
set(exe ${WORK_DIR}/generator-${DIALECT}-${LANG})
if(LANG STREQUAL "c++")
  set(langflags -x c++ -std=c++17)
else()
  set(langflags -x c -std=c11)
endif()
execute_process(
  COMMAND ${CC} ${CC_FLAGS} ${langflags} -O2 -g ${dialectflags} -Wall -Wextra -Werror
          -I${SOURCE_DIR}/include ${SOURCE_DIR}/examples/generator.c
          -x none ${LIB} -Wl,-rpath,${libdir} -o ${exe}
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compile failed:\n${err}")
endif()
execute_process(COMMAND ${EMU} ${exe} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
file(READ ${SOURCE_DIR}/examples/generator.expected want)
if(NOT rc EQUAL 0 OR NOT out STREQUAL want)
  message(FATAL_ERROR "exit ${rc}; output:\n${out}")
endif()
