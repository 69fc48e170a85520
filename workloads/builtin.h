// The built-in workloads of the cvpbench program.
#pragma once

#include <memory>
#include <vector>

#include "cvp/workload.h"

namespace cvp::workloads {

// One of each built-in workload, in the order the program runs and reports them.
std::vector<std::unique_ptr<Workload>> builtin();

}  // namespace cvp::workloads
