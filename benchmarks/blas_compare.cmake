# cvpbench-blas-compare: our matmul kernel against OpenBLAS cblas_dgemm on one pinned core.
# Included by benchmarks/CMakeLists.txt. Built when CVP_BUILD_BLAS_COMPARE is ON and pkg-config
# finds OpenBLAS; otherwise skipped with a status message, never a configure error.
if(CVP_BUILD_BLAS_COMPARE)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(OPENBLAS QUIET IMPORTED_TARGET openblas)
  endif()
  if(OPENBLAS_FOUND)
    add_executable(cvpbench-blas-compare ${CMAKE_CURRENT_LIST_DIR}/blas_compare.cc)
    target_link_libraries(cvpbench-blas-compare
                          PRIVATE cvp::matmul PkgConfig::OPENBLAS benchmark::benchmark cvp::options)
    target_compile_definitions(cvpbench-blas-compare
                               PRIVATE CVP_OPENBLAS_VERSION="${OPENBLAS_VERSION}")
  else()
    message(STATUS "cvpbench-blas-compare: OpenBLAS not found by pkg-config; not built")
  endif()
endif()
