# CPack pre-build script (cmake/packaging.cmake): what Debian's tools put
# in every package's /usr/share/doc/<package>/ and `cmake --install` has
# no use for: the copyright file (Debian policy 12.5), and the Debian
# changelog, compressed as Debian ships it (gzip -9n: no name, no time
# stamp, so that rebuilds are identical).
find_program(_cl_gzip gzip REQUIRED)
foreach(_comp IN LISTS CPACK_COMPONENTS_ALL)
  string(TOUPPER "${_comp}" _up)
  set(_pkg "${CPACK_DEBIAN_${_up}_PACKAGE_NAME}")
  set(_root "${CPACK_TEMPORARY_DIRECTORY}/${_comp}")
  if(NOT _pkg OR NOT IS_DIRECTORY "${_root}")
    continue()
  endif()
  set(_doc "${_root}${CPACK_PACKAGING_INSTALL_PREFIX}/share/doc/${_pkg}")
  file(MAKE_DIRECTORY "${_doc}")
  file(COPY "${CPACK_COROLINK_DEBIAN_DIR}/copyright" DESTINATION "${_doc}"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  execute_process(COMMAND ${_cl_gzip} -9n -c "${CPACK_COROLINK_DEBIAN_DIR}/changelog"
                  OUTPUT_FILE "${_doc}/changelog.Debian.gz"
                  RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "gzip of the Debian changelog failed (${_rc})")
  endif()
endforeach()
