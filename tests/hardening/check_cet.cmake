# CET marking of every library object (see "Hardening" in CMakeLists.txt).
#
#   -DREADELF= -DAR= -DCC=       tools
#   -DOBJECTS=a.o|b.o|...        the library's objects (shared and static)
#   -DSTATIC_LIB=libcorolink.a   whose members are checked too
#   -DPROGRAM=prog.c -DINCLUDE=  linked against STATIC_LIB for the report
#   -DWORK_DIR=
#
# 1. readelf -n shows "x86 feature: IBT, SHSTK" on every object and on every
#    member of the archive.
# 2. A program built with -fcf-protection and linked with
#    -z cet-report=warning against the archive: the linker names every
#    input that lacks a bit. Debian 12's own crt files are unmarked, so
#    there must be warnings (the report works), and none may name a
#    corolink object.
foreach(v READELF AR CC OBJECTS STATIC_LIB PROGRAM INCLUDE WORK_DIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "check_cet.cmake: ${v} not set")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/members)

function(expect_marked obj label)
  execute_process(COMMAND ${READELF} -n ${obj} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "readelf -n ${label}: exit ${rc}")
  endif()
  if(NOT out MATCHES "x86 feature: IBT, SHSTK")
    message(FATAL_ERROR "${label}: no .note.gnu.property with IBT and SHSTK:\n${out}")
  endif()
  message(STATUS "${label}: IBT, SHSTK")
endfunction()

string(REPLACE "|" ";" objects "${OBJECTS}")
set(n 0)
foreach(o ${objects})
  get_filename_component(name ${o} NAME)
  expect_marked(${o} ${name})
  math(EXPR n "${n} + 1")
endforeach()

execute_process(COMMAND ${AR} x ${STATIC_LIB} WORKING_DIRECTORY ${WORK_DIR}/members
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ar x ${STATIC_LIB}: exit ${rc}")
endif()
file(GLOB members ${WORK_DIR}/members/*)
list(LENGTH members m)
if(m EQUAL 0)
  message(FATAL_ERROR "${STATIC_LIB} has no members")
endif()
foreach(o ${members})
  get_filename_component(name ${o} NAME)
  expect_marked(${o} "libcorolink.a(${name})")
endforeach()

execute_process(
  COMMAND ${CC} -fcf-protection=full -I${INCLUDE} -Wl,-z,cet-report=warning ${PROGRAM}
          ${STATIC_LIB} -pthread -ldl -o ${WORK_DIR}/prog
  ERROR_VARIABLE err OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "linking with -z cet-report=warning failed:\n${out}${err}")
endif()
if(NOT err MATCHES "missing IBT and SHSTK properties|missing (IBT|SHSTK) property")
  message(FATAL_ERROR "no cet-report warning at all (the C runtime was "
                      "expected to be unmarked): the check proves nothing\n${err}")
endif()
string(REGEX MATCHALL "[^\n]*warning:[^\n]*" warnings "${err}")
foreach(w ${warnings})
  if(w MATCHES "corolink|\\.c\\.o|\\.S\\.o")
    message(FATAL_ERROR "a corolink object lacks a CET property:\n${w}")
  endif()
endforeach()
list(LENGTH warnings nw)
message(STATUS "${n} objects and ${m} archive members marked; "
               "${nw} cet-report warnings, none about corolink")
