// The event-loop backend in the fuzz build (CVP_SANITIZER=fuzzer): clang 14 with GCC 12's
// standard library has no coroutines, which eventloop_runner.cc needs. Nothing fuzzed runs a
// request; a call that reaches here is a bug of the fuzz build, reported as one.
#include <stdexcept>

#include "exec/requests/request_engine.h"

namespace cvp::exec::detail {

double run_eventloops(RunContext&, int, const std::vector<int>&, std::vector<Tally>&) {
  throw std::logic_error("the eventloop backend is not in the fuzz build");
}

std::vector<std::size_t> timer_wake_order(const std::vector<double>&) {
  throw std::logic_error("the eventloop backend is not in the fuzz build");
}

}  // namespace cvp::exec::detail
