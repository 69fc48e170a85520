# `cmake --install` puts the cvpbench program, the library, its public headers and a CMake
# package in place, so that find_package(cvpbench) gives the target cvpbench::cvpbench.
include(CMakePackageConfigHelpers)
install(TARGETS cvpbench EXPORT cvpbenchTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS cvpbench_program RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/cvp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_SOURCE_DIR}/benchmarks/schema/summary.schema.json
        DESTINATION ${CMAKE_INSTALL_DATADIR}/cvpbench)
set(_cvp_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/cvpbench)
install(EXPORT cvpbenchTargets NAMESPACE cvpbench:: DESTINATION ${_cvp_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/cvpbenchConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cvpbenchConfig.cmake INSTALL_DESTINATION ${_cvp_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cvpbenchConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cvpbenchConfig.cmake
              ${PROJECT_BINARY_DIR}/cvpbenchConfigVersion.cmake
        DESTINATION ${_cvp_cmake_dir})

# The cvp tools (scripts/cvp and its package cvptools) beside the schema, and bin/cvp, a
# launcher that finds them relative to itself and picks a Python that has their packages, so
# that PREFIX/bin/cvp works from any folder.
set(_cvp_tools_dir ${CMAKE_INSTALL_DATADIR}/cvpbench)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/scripts/cvp DESTINATION ${_cvp_tools_dir})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/scripts/cvptools DESTINATION ${_cvp_tools_dir}
        FILES_MATCHING PATTERN "*.py" PATTERN "__pycache__" EXCLUDE)
file(RELATIVE_PATH CVP_TOOLS_FROM_BIN ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}
     ${CMAKE_INSTALL_PREFIX}/${_cvp_tools_dir})
configure_file(${PROJECT_SOURCE_DIR}/cmake/cvp-launcher.sh.in ${PROJECT_BINARY_DIR}/cvp @ONLY)
install(PROGRAMS ${PROJECT_BINARY_DIR}/cvp DESTINATION ${CMAKE_INSTALL_BINDIR})
