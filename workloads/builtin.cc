#include "builtin.h"

#include "matmul/workload.h"
#include "requests/workload.h"

namespace cvp::workloads {

std::vector<std::unique_ptr<Workload>> builtin() {
  std::vector<std::unique_ptr<Workload>> all;
  // One line per workload.
  all.push_back(make_matmul());
  all.push_back(make_requests());
  return all;
}

}  // namespace cvp::workloads
