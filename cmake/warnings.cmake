# Project-wide compile settings, attached to targets through an INTERFACE target.
add_library(cvp_options INTERFACE)
add_library(cvp::options ALIAS cvp_options)
target_compile_options(cvp_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                             -Wno-sign-conversion)
if(CVP_NATIVE)
  target_compile_options(cvp_options INTERFACE -march=native)
endif()
if(CVP_NO_AFFINITY)
  target_compile_definitions(cvp_options INTERFACE CVP_NO_AFFINITY=1)
endif()
if(CVP_SANITIZER STREQUAL "thread")
  target_compile_options(cvp_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer -g)
  target_link_options(cvp_options INTERFACE -fsanitize=thread)
elseif(CVP_SANITIZER STREQUAL "address")
  target_compile_options(cvp_options INTERFACE -fsanitize=address,undefined
                                               -fno-sanitize-recover=undefined
                                               -fno-omit-frame-pointer -g)
  target_link_options(cvp_options INTERFACE -fsanitize=address,undefined)
elseif(CVP_SANITIZER STREQUAL "fuzzer")
  # Coverage for libFuzzer (clang only) plus ASan+UBSan; fuzz targets add -fsanitize=fuzzer.
  target_compile_options(cvp_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined
                                               -fno-sanitize-recover=undefined
                                               -fno-omit-frame-pointer -g)
  target_link_options(cvp_options INTERFACE -fsanitize=address,undefined)
elseif(NOT CVP_SANITIZER STREQUAL "")
  message(FATAL_ERROR
          "CVP_SANITIZER must be '', 'thread', 'address' or 'fuzzer', not '${CVP_SANITIZER}'")
endif()
# What the summary JSON reports as the build's flags.
string(TOUPPER "${CMAKE_BUILD_TYPE}" _cvp_bt)
set(CVP_FLAGS_STRING "${CMAKE_CXX_FLAGS} ${CMAKE_CXX_FLAGS_${_cvp_bt}}")
if(CVP_NATIVE)
  string(APPEND CVP_FLAGS_STRING " -march=native")
endif()
if(NOT CVP_SANITIZER STREQUAL "")
  string(APPEND CVP_FLAGS_STRING " -fsanitize=${CVP_SANITIZER}")
endif()
string(STRIP "${CVP_FLAGS_STRING}" CVP_FLAGS_STRING)
