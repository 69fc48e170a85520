// The CPU-bound workload as a plug-in: dense matrix multiply over the executors.
#pragma once

#include <memory>

#include "cvp/workload.h"

namespace cvp::workloads {

std::unique_ptr<Workload> make_matmul();

}  // namespace cvp::workloads
