#include "builtin.h"

namespace cvp::workloads {

#define CVP_WORKLOAD(name) std::unique_ptr<Workload> make_##name();
#include "builtin.list"
#undef CVP_WORKLOAD

std::vector<std::unique_ptr<Workload>> builtin() {
  std::vector<std::unique_ptr<Workload>> all;
#define CVP_WORKLOAD(name) all.push_back(make_##name());
#include "builtin.list"
#undef CVP_WORKLOAD
  return all;
}

}  // namespace cvp::workloads
