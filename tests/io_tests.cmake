# The I/O-bound workload's handler and the request engine; included from tests/CMakeLists.txt.
cvp_add_test(test_requests LABEL workloads
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/cpp/test_requests.cc
  LIBS cvp::requests nlohmann_json::nlohmann_json)
# The engine is part of the cvpbench library; the test also reads its internal header
# (src/exec/requests/request_engine.h) for the event loop's timer diagnostic, runs the
# built-in handler (cvp_requests_workload) through it, and handlers of its own that wait on
# Asio timers (test_handler_waits.cc), compiled as the library compiles Asio.
cvp_add_test(test_request_runner LABEL executors
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/cpp/test_request_runner.cc
          ${CMAKE_CURRENT_LIST_DIR}/cpp/test_handler_waits.cc
  LIBS cvpbench cvp_requests_workload)
target_include_directories(test_request_runner PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_include_directories(test_request_runner SYSTEM PRIVATE ${ASIO_INCLUDE_DIR})
target_compile_definitions(test_request_runner PRIVATE ASIO_STANDALONE ASIO_NO_DEPRECATED
  $<$<STREQUAL:${CVP_SANITIZER},thread>:ASIO_DISABLE_FENCED_BLOCK>)
