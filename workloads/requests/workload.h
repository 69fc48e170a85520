// The I/O-bound workload as a plug-in: simulated request handling, run with blocking threads
// or event loops.
#pragma once

#include <memory>

#include "cvp/workload.h"

namespace cvp::workloads {

std::unique_ptr<Workload> make_requests();

}  // namespace cvp::workloads
