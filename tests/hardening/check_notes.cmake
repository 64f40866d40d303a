# The hardening marks of every library object (see "Hardening" in
# CMakeLists.txt): CET on x86-64, BTI and PAC on AArch64.
#
#   -DREADELF= -DAR= -DCC=       tools
#   -DARCH=                      x86_64 or aarch64
#   -DOBJECTS=a.o|b.o|...        the library's objects (shared and static)
#   -DSTATIC_LIB=libcorolink.a   whose members are checked too
#   -DPROGRAM=prog.c -DINCLUDE=  linked against STATIC_LIB for the report
#   -DWORK_DIR=
#
# 1. readelf -n shows the target's feature note ("x86 feature: IBT, SHSTK",
#    "AArch64 feature: BTI, PAC") on every object and on every member of
#    the archive.
# 2. A program built with the hardening flags (-fcf-protection=full,
#    -mbranch-protection=standard) and linked against the archive with the
#    linker's report (-z cet-report=warning, -z force-bti): the linker
#    names every input that lacks a mark. Debian 12's own crt files are
#    unmarked, so there must be warnings (the report works), and none may
#    name a corolink object.
foreach(v READELF AR CC ARCH OBJECTS STATIC_LIB PROGRAM INCLUDE WORK_DIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "check_notes.cmake: ${v} not set")
  endif()
endforeach()
if(ARCH STREQUAL "x86_64")
  set(feature "x86 feature: IBT, SHSTK")
  set(prog_flags -fcf-protection=full -Wl,-z,cet-report=warning)
  set(report "missing IBT and SHSTK properties|missing (IBT|SHSTK) property")
elseif(ARCH STREQUAL "aarch64")
  set(feature "AArch64 feature: BTI, PAC")
  set(prog_flags -mbranch-protection=standard -Wl,-z,force-bti)
  set(report "BTI turned on by -z force-bti when all inputs do not have BTI")
else()
  message(FATAL_ERROR "check_notes.cmake: no marks known for ${ARCH}")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/members)

function(expect_marked obj label)
  execute_process(COMMAND ${READELF} -n ${obj} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "${feature}")
    message(FATAL_ERROR "${label}: no .note.gnu.property \"${feature}\" "
                        "(readelf -n: exit ${rc}):\n${out}")
  endif()
  message(STATUS "${label}: ${feature}")
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
  COMMAND ${CC} ${prog_flags} -I${INCLUDE} ${PROGRAM}
          ${STATIC_LIB} -pthread -ldl -o ${WORK_DIR}/prog
  ERROR_VARIABLE err OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "linking with ${prog_flags} failed:\n${out}${err}")
endif()
if(NOT err MATCHES "${report}")
  message(FATAL_ERROR "no report warning at all (the C runtime was "
                      "expected to be unmarked): the check proves nothing\n${err}")
endif()
string(REGEX MATCHALL "[^\n]*warning:[^\n]*" warnings "${err}")
foreach(w ${warnings})
  if(w MATCHES "corolink|\\.c\\.o|\\.S\\.o")
    message(FATAL_ERROR "a corolink object lacks a mark:\n${w}")
  endif()
endforeach()
list(LENGTH warnings nw)
message(STATUS "${n} objects and ${m} archive members marked; "
               "${nw} report warnings, none about corolink")
