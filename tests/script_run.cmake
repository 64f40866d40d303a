# EMU (the emulator that runs the target's programs in a cross build, its
# arguments joined with "|"; empty in a native build) becomes a list, and
# TOOLCHAIN_ARGS the -DCMAKE_TOOLCHAIN_FILE=... of the build's toolchain
# file (empty without one) for the sub-builds a script configures.
string(REPLACE "|" ";" EMU "${EMU}")
set(TOOLCHAIN_ARGS)
if(TOOLCHAIN)
  set(TOOLCHAIN_ARGS -DCMAKE_TOOLCHAIN_FILE=${TOOLCHAIN})
endif()

# run(COMMAND...): runs a command in a ctest script (cmake -P), fails the
# test with the command's output if it exits non-zero, and leaves its
# standard output in `last_output`.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()
