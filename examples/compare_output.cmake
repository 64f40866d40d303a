# Runs PROG (through EMU, see tests/script_run.cmake) and compares its
# standard output with the file EXPECTED.
string(REPLACE "|" ";" EMU "${EMU}")
execute_process(COMMAND ${EMU} ${PROG} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
file(READ ${EXPECTED} want)
string(REPLACE "\r\n" "\n" out "${out}") # Windows programs print CRLF
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PROG} exited with ${rc}")
endif()
if(NOT out STREQUAL want)
  message(FATAL_ERROR "output differs.\n--- expected\n${want}--- got\n${out}")
endif()
