// Stand-ins for the request runners in the fuzz build (see CMakeLists.txt): planning never
// calls them; a call would be a finding.
#include <cstdlib>

#include "requests/request_runner.h"

namespace cvp::io {

std::vector<std::uint64_t> reference_fingerprints(const RequestConfig&) { std::abort(); }
std::size_t count_mismatches(const std::vector<std::uint64_t>&, const std::vector<std::uint64_t>&) {
  std::abort();
}
void calibrate() { std::abort(); }
RequestRun run_requests(const RequestConfig&, exec::Backend, const std::vector<int>&,
                        exec::Sightings&) {
  std::abort();
}

}  // namespace cvp::io
