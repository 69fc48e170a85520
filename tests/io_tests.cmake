# The I/O-bound workload and its runners; included from tests/CMakeLists.txt.
cvp_add_test(test_requests LABEL workloads
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/cpp/test_requests.cc
  LIBS cvp::requests nlohmann_json::nlohmann_json)
cvp_add_test(test_request_runner LABEL executors
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/cpp/test_request_runner.cc
  LIBS cvp::io)
